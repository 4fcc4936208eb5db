"""Bundles: what was collected from one VM at one time, opened from a folder or a .zip.

    >>> b = open_bundle("sample_logs/healthy")
    >>> b.kind, b.collected_at
    >>> b.agent_log          # any frame by name (docs/frames.md)
    >>> b.inventory          # every file: what it was recognised as, parsed rows, issues, hashes
    >>> b.issues             # everything that could not be read cleanly
    >>> b.missing            # expected artifacts that are absent, and why they matter

**Kinds.** ``kit`` (has the kit's ``manifest.json``), ``rescue-disk-logs`` (``az vm repair``'s
win-collect-attached-disk-logs folder ``<MM-dd-yyyy_HH.mm.ss>_UTC``: when the files were copied, ``copied_at``),
``disk-inspection`` (VM Inspector's ``DiskInspection_...`` zip), ``log-collection`` (``<HOST>_LogCollection_<time>
\\device_0\\...``), ``guest-log-collector`` (paths carry the ``WindowsAzure/Logs`` / ``Packages/Plugins`` anchors,
as the agent's CollectGuestLogs zip does), ``hand-copied`` (flattened or drive-less folder names:
``WindowsAzure_Logs_Plugins``, ``<Publisher.Type>-<version>``, ``Logs\\...``), ``logs-folder`` (a copy of
``C:\\WindowsAzure\\Logs``: WaAppAgent.log, Plugins\\ or AggregateStatus\\ at its root) and ``loose`` (whatever a
customer pasted). A zip (or folder) whose only top-level entry is a folder holding a bundle is opened at that
folder. :mod:`kit.bundle.layout` maps each path onto the kit layout and says how (the inventory's ``mapped_by``);
an extension file whose path lacks its extension or version gets them from the evidence
:mod:`kit.parse._identity` reads (HandlerEnvironment.json beside it, the handler log's own folder lines), see
docs/bundle-format.md, *Other layouts*.

**Recognising files**, first match wins: (1) ``manifest`` - the kit manifest's entry for the file (its layout
path or the command in ``origin``); (2) ``path`` - a parser's ``PATTERNS`` on the canonical layout path
(:mod:`kit.bundle.layout`); (3) ``content`` - :func:`kit.parse.sniff` on the first 64 KiB; (4) ``path`` again -
any ``*.log`` under ``C/WindowsAzure/Logs/Plugins/`` that nothing else recognised is read as a handler log
(noted in the inventory).

**Provenance.** Frame rows carry ``source`` = the file's canonical layout path when it has one (so
``VMAgentLogs\\WaAppAgent.log`` in a zip is cited as ``C/WindowsAzure/Logs/WaAppAgent.log``; parsers read the
extension name and version from it), else the path as stored. :attr:`Bundle.inventory` maps one to the other.

**Limits.** A file larger than ``max_file_bytes`` (default 512 MiB) is not read whole: its head is still sniffed
(64 KiB), it is listed with status ``skipped`` and a note, a ``file-skipped`` issue is recorded, and the
artifact counts as missing. A zip is read in place, never extracted; :mod:`kit.bundle.safezip` refuses hostile
zips and caps the actual decompressed bytes (``max_total_bytes``, default 1 GiB).

**Laziness.** Opening lists the files, recognises them (reading at most 64 KiB of a file whose path says
nothing) and checks the manifest's SHA-256 of each listed file. Parsing happens on first access to a frame, only
for the parsers that fill it, and is cached; :attr:`Bundle.inventory`, :attr:`Bundle.issues` and
:meth:`Bundle.frames` parse everything. Damaged files and parser bugs never stop a bundle: they become issues.

**Decoding** goes through :func:`kit.textio.decode`. A decode note that means damage or guesswork (a legacy code
page only guessed, damaged UTF-8, a file ending mid-character) becomes an ``encoding`` issue; notes about what
Windows normally writes (NUL padding, UTF-16 LE without BOM, a confidently detected OEM/ANSI code page such as
cp850 from cmd.exe redirection) go to the inventory's ``note`` only. Console artifacts (route print, ipconfig,
netsh, sc) are decoded with ``hint="oem"``.
"""

from __future__ import annotations

import hashlib
import html
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd

from .. import parse as _parse
from .. import redact as _redact
from ..derive import DERIVED, derive
from ..errors import BundleError, SchemaError, UnsafeArchiveError
from ..parse import _identity
from ..parse.base import ISSUES, SNIFF_BYTES, ParseIssue, issues_frame
from ..schema import LOST_VALUES, Col, FrameSchema
from ..textio import decode
from .layout import EXPECTED, META_FILES, Layout, detect_layout, find_root, map_path
from .manifest import entry_kind, parse_collected_at, read_manifest
from .safezip import DEFAULT_MAX_FILE, DEFAULT_MAX_TOTAL
from .sources import FolderSource, Source, TooLarge, ZipSource

INVENTORY = FrameSchema(
    "inventory",
    "One row per file in the bundle: what it was recognised as and how reading it went (`Bundle.inventory`).",
    (
        Col("path", "str", "Path of the file inside the bundle, as stored (forward slashes).", False),
        Col("layout_path", "str", "Canonical kit-layout path the file was mapped to (docs/bundle-format.md); frame "
            "rows cite it as `source`. NA when no anchor applies (a customer's `route.txt`)."),
        Col("mapped_by", "str", "How the path was mapped onto the layout: `layout` (already a kit-layout path), "
            "`anchor` (.../WindowsAzure/Logs/..., .../Packages/Plugins/... under any prefix), `flattened` "
            "(WindowsAzure_Logs_Plugins, <Publisher.Type>-<version> folders), `drive-less` (Logs\\..., Plugins\\...), "
            "`plugin-folder` (<Publisher.Type>\\<version>\\ on its own), `logs-folder` (a copy of "
            "C:\\WindowsAzure\\Logs); `+identity from ...` when the extension and version came from a file's "
            "content or its neighbours (kit.bundle.layout, kit.parse._identity); NA when unmapped."),
        Col("artifact", "str", "Artifact kind (parser name in `kit.parse.PARSERS`) it was recognised as; NA when "
            "unrecognised."),
        Col("recognised_by", "category", "`manifest` (the kit manifest's entry), `path` (parser PATTERNS on the "
            "layout path, or a `*.log` under Plugins), `content` (sniffed from the first 64 KiB); NA when "
            "unrecognised."),
        Col("status", "category", "`parsed`, `parsed-with-issues`, `unrecognised`, `failed` (unreadable, or the "
            "parser raised), `empty` (0 bytes), `skipped` (over the per-file limit, or a link/special file that "
            "is not followed), `meta` (manifest.json, README.md, scenario.json, collect.log at the root).", False),
        Col("size", "Int64", "Size in bytes (for a zip member: actual decompressed size once read, else the "
            "size its header declares)."),
        Col("sha256", "str", "SHA-256 of the file as stored (NA for skipped files)."),
        Col("sha256_ok", "boolean", "Matches the manifest's SHA-256; NA without a manifest entry that has one."),
        Col("rows", "Int64", "Rows the file contributed to its frames."),
        Col("issues", "Int64", "Issues reported for the file (parse issues and encoding notes)."),
        Col("encoding", "str", "How the bytes were decoded (utf-8, utf-8-sig, utf-16-le, utf-16-be, or a Windows "
            "code page such as cp850, cp1252, cp866, cp932: see kit.textio; binary for .evtx); NA when not parsed."),
        Col("newline", "str", "Line endings seen: CRLF, LF, CR, mixed or none; NA when not parsed."),
        Col("note", "str", "Anything else worth knowing: the manifest's note, why it was skipped, decoding notes."),
    ),
    notes="Building the inventory parses every recognised file.",
)

MISSING = FrameSchema(
    "missing",
    "Expected artifacts that are absent (or present but unusable: empty, skipped, failed), and manifest entries "
    "the collector could not collect (`Bundle.missing`).",
    (
        Col("artifact", "str", "Artifact kind (parser name), or the manifest's path when it maps to no parser.",
            False),
        Col("expected_path", "str", "Where the kit's layout keeps it."),
        Col("why_it_matters", "str", "What checks cannot run without it."),
        Col("note", "str", "The manifest's status and reason, or why the file that is there cannot be used."),
    ),
)

#: Artifacts that stand in for an expected one (a pasted Test-NetConnection for the kit's TCP probes).
_ALTERNATIVES = {"route_print": ("get_netroute",), "tcp_probes": ("test_netconnection",),
                 "ipconfig": ("get_netipaddress",), "services": ("sc_query", "services_text")}
#: Statuses of a file whose artifact can be used.
_USABLE = ("pending", "parsed", "parsed-with-issues")
#: Decode notes that only describe what Windows normally writes (kept in the inventory note, not issues); a
#: confidently detected code page says ", detected: " (a guessed one says "guessed ...; low confidence: ").
_BENIGN_DECODE = ("NUL characters removed", "without BOM", ", detected: ")
#: Artifacts that are cmd.exe console output: legacy bytes in them are most likely the OEM code page (a decode hint).
_CONSOLE_OUTPUT = ("route_print", "ipconfig", "winhttp_proxy", "sc_query", "netsh_firewall")


@dataclass
class _File:
    path: str
    rel: str
    layout_path: str | None
    size: int
    mapped_by: str | None = None
    artifact: str | None = None
    recognised_by: str | None = None
    status: str = "pending"
    sha256: str | None = None
    sha256_ok: bool | None = None
    rows: int = 0
    issues: int = 0
    encoding: str | None = None
    newline: str | None = None
    notes: list[str] = field(default_factory=list)
    entry: dict[str, Any] | None = None
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return self.layout_path or self.path


class Bundle:
    """One VM's collected artifacts, with every artifact one attribute away as a typed frame.

    Use :func:`open_bundle` to make one. See the module documentation for how files are recognised.
    """

    def __init__(self, path: Path, source: Source, *, max_file_bytes: int = DEFAULT_MAX_FILE) -> None:
        self.path = path
        self._src = source
        self._max_file = max_file_bytes
        self._bundle_issues: list[ParseIssue] = []
        self._frames: dict[str, pd.DataFrame] = {}
        self._parsed_kinds: set[str] = set()
        self._modules: dict[str, ModuleType] = {}
        self._broken: set[str] = set()

        listing = source.list()
        self.root = find_root([e.path for e in listing])
        rels = {e.path: e.path[len(self.root):] for e in listing}
        root_files = {rels[e.path].lower(): e.path for e in listing if "/" not in rels[e.path]}
        self.manifest: dict[str, Any] | None = None
        if "manifest.json" in root_files:
            self.manifest = self._load_manifest(root_files["manifest.json"])
        content = [r for r in rels.values() if r.lower() not in META_FILES]
        self.layout: Layout = Layout("kit") if self.manifest is not None else detect_layout(content, path.name)
        self.kind: str = self.layout.kind
        self.collected_at: pd.Timestamp | None = None
        if self.manifest is not None:
            self.collected_at = parse_collected_at(self.manifest.get("collected_at"))
            if self.collected_at is None:
                self._issue(root_files["manifest.json"], "bad-manifest",
                            f"expected \"collected_at\" to be an ISO 8601 UTC time, found "
                            f"{self.manifest.get('collected_at')!r}; the collection time is unknown")
        #: When a collector says it copied the files from a copy of the VM's disk (not when the VM's state was
        #: captured: see :class:`~kit.bundle.layout.Layout`); None when none says.
        self.copied_at: pd.Timestamp | None = self.layout.copied_at
        self._mtimes = {e.path: e.mtime for e in listing if e.mtime is not None}
        entries = {str(a["path"]).replace("\\", "/").lower(): a
                   for a in (self.manifest or {}).get("artifacts", [])}

        self._files: list[_File] = []
        self._used_layout: dict[str, str] = {}
        for e in listing:
            rel = rels[e.path]
            if "/" not in rel and rel.lower() in META_FILES:
                self._files.append(_File(e.path, rel, None, e.size, status="meta", notes=["describes the bundle"]))
                continue
            if rel in self.layout.meta:
                self._files.append(_File(e.path, rel, None, e.size, status="meta", notes=[self.layout.meta[rel]]))
                continue
            mapped = map_path(rel)
            lp, how = mapped.layout_path, mapped.mapped_by
            if self.kind == "logs-folder" and how not in ("layout", "anchor"):
                lp, how = "C/WindowsAzure/Logs/" + rel, "logs-folder"
            f = _File(e.path, rel, lp, e.size, mapped_by=how, entry=entries.get(rel.lower()))
            if lp is not None:
                key = lp.lower()
                if key in self._used_layout:
                    f.notes.append(f"maps to the same layout path as {self._used_layout[key]}; cited by its own "
                                   "path")
                    f.layout_path = None
                else:
                    self._used_layout[key] = e.path
            self._files.append(f)
        for rel_path, reason in source.refused:
            f = _File(rel_path, rel_path[len(self.root):], None, 0, status="skipped", notes=[reason])
            self._files.append(f)
            self._issue(rel_path, "refused-file", f"expected a regular file, found {reason}")
        self._files.sort(key=lambda f: f.path)
        self._classify()
        self._assign_identity()
        self._check_manifest(entries, root_files.get("manifest.json", "manifest.json"))

    # -- helpers -----------------------------------------------------------------------------------
    def _issue(self, source: str, kind: str, message: str, *, line: int | None = None, text: str | None = None,
               parser: str = "bundle") -> None:
        self._bundle_issues.append(ParseIssue(source, line, kind, message, text=text, parser=parser))

    def _module(self, kind: str) -> ModuleType | None:
        """The parser module, or None when it cannot be imported (recorded once as a `parser-error`)."""
        if kind in self._modules:
            return self._modules[kind]
        if kind in self._broken:
            return None
        try:
            mod = _parse.get_parser(kind)
        except Exception as exc:  # a parser module that does not import must not stop the bundle
            self._broken.add(kind)
            self._issue(_parse.PARSERS.get(kind, kind), "parser-error",
                        f"parser module {kind} could not be imported: {type(exc).__name__}: {exc}", parser=kind)
            return None
        self._modules[kind] = mod
        return mod

    def _schemas(self) -> dict[str, FrameSchema]:
        out: dict[str, FrameSchema] = {ISSUES.name: ISSUES}
        for kind in _parse.PARSERS:
            mod = self._module(kind)
            if mod is not None:
                out.update(mod.FRAMES)
        return out

    def _match_path(self, path: str) -> str | None:
        import fnmatch

        low = path.lower()
        for kind in _parse.PARSERS:
            mod = self._module(kind)
            if mod is not None and any(fnmatch.fnmatchcase(low, p.lower()) for p in mod.PATTERNS):
                return kind
        return None

    def _sniff(self, head: str, source: str) -> str | None:
        """The text format whose content sniffer accepts ``head`` (in SNIFF_ORDER), or None."""
        return self._first_sniffer(_parse.SNIFF_ORDER, "sniff", head, source)

    def _sniff_bytes(self, head: bytes, source: str) -> str | None:
        """The binary format (a parser with ``BINARY``) whose magic ``head`` starts with, or None."""
        binary = [k for k in _parse.PARSERS if getattr(self._module(k), "BINARY", False)]
        return self._first_sniffer(binary, "sniff_bytes", head, source)

    def _first_sniffer(self, kinds, method: str, head: str | bytes, source: str) -> str | None:
        for kind in kinds:
            mod = self._module(kind)
            if mod is None:
                continue
            try:
                if getattr(mod, method)(head):
                    return kind
            except Exception as exc:  # a sniffer bug: record it, try the others
                self._issue(source, "parser-error", f"sniffer of {kind} failed: {type(exc).__name__}: {exc}",
                            parser=kind)
        return None

    # -- opening -----------------------------------------------------------------------------------
    def _load_manifest(self, name: str) -> dict[str, Any] | None:
        try:
            data = self._src.read(name, self._max_file)
        except (OSError, UnsafeArchiveError, TooLarge) as exc:
            self._issue(name, "bad-manifest", f"manifest.json could not be read ({exc}); opened without it")
            return None
        manifest, issues = read_manifest(data, name)
        self._bundle_issues += issues
        return manifest

    def _classify(self) -> None:
        for f in self._files:
            if f.status != "pending":
                continue
            if f.entry is not None:
                kind = entry_kind(f.entry)
                if kind is not None:
                    f.artifact, f.recognised_by = kind, "manifest"
            if f.artifact is None:
                kind = self._match_path(f.source)
                if kind is not None:
                    f.artifact, f.recognised_by = kind, "path"
            if f.size == 0:
                f.status = "empty"
                f.notes.append("file is empty (0 bytes)")
                continue
            if f.artifact is None:
                self._recognise_by_content(f)
            if f.artifact is not None and f.size > self._max_file:
                self._skip(f)

    def _recognise_by_content(self, f: _File) -> None:
        try:
            raw = self._src.read_head(f.path, SNIFF_BYTES * 2)  # UTF-16 takes two bytes a character
        except (OSError, UnsafeArchiveError) as exc:
            f.status = "failed"
            f.notes.append(f"could not be read: {exc}")
            self._issue(f.source, "unreadable-file", f"expected a readable file, found an error: {exc}")
            return
        if raw.startswith((b"PK\x03\x04", b"PK\x05\x06")) and f.path.lower().endswith(".zip"):
            # a zip inside the bundle: named, not opened (an Office file is a zip too: left to the general case)
            f.status = "unrecognised"
            f.notes.append("a zip inside the bundle: not opened")
            self._issue(f.source, "nested-zip", "expected an artifact, found a zip archive inside the bundle: it is "
                        f"not opened; open it on its own (vmkit inspect {f.path.rsplit('/', 1)[-1]}) or unpack it "
                        "into the bundle")
            return
        kind = self._sniff_bytes(raw, f.source)
        if kind is not None:
            f.artifact, f.recognised_by = kind, "content"
            return
        head = decode(raw).text[:SNIFF_BYTES]
        kind = self._sniff(head, f.source)
        if kind is not None:
            f.artifact, f.recognised_by = kind, "content"
            return
        low = f.source.lower()
        if low.startswith("c/windowsazure/logs/plugins/") and low.endswith(".log"):
            f.artifact, f.recognised_by = "handler_log", "path"
            f.notes.append("a .log under Plugins that no parser recognised: read as a plain handler log")
            return
        f.status = "unrecognised"
        printable = head[:200].replace("\r", "").replace("\n", "").replace("\t", "").isprintable()
        self._issue(f.source, "unrecognised-file", "expected a file some parser recognises by its path or "
                    "content, found none that does", text=head[:200] if printable else None)

    def _assign_identity(self) -> None:
        """Give extension files whose path lacks the extension or its version a canonical layout path that names
        both, from the evidence :mod:`kit.parse._identity` reads (HandlerEnvironment.json beside the file, the
        handler log's own lines, the only version of that extension in the bundle), so the parsers fill
        ``extension`` / ``ext_version`` from ``source`` as for any kit bundle."""
        kinds = ("handler_log", "ext_status", "ext_settings", "handler_env", "handler_manifest")
        files = [f for f in self._files if f.artifact in kinds and f.status == "pending"]
        if all(None not in _identity.from_path(f.source) for f in files):
            return  # every path names both (a kit bundle): nothing to read
        folder_ids: dict[str, tuple[str, str | None]] = {}
        for f in files:
            if f.artifact == "handler_env" or f.path.lower().endswith("handlerenvironment.json"):
                text = self._head_text(f)
                ext, ver = _identity.from_handler_environment(text) if text else (None, None)
                if ext is not None:
                    folder_ids[f.path.rsplit("/", 1)[0] if "/" in f.path else ""] = (ext, ver)
        versions: dict[str, set[str]] = {}
        for f in files:
            ext, ver = _identity.from_path(f.source)
            if ext is not None and ver is not None:
                versions.setdefault(ext.lower(), set()).add(ver)
        for ext, ver in folder_ids.values():
            if ver is not None:
                versions.setdefault(ext.lower(), set()).add(ver)
        for f in files:
            ext, ver = _identity.from_path(f.source)
            how: list[str] = []
            if ext is None or ver is None:
                folder = f.path.rsplit("/", 1)[0] if "/" in f.path else ""
                while True:  # HandlerEnvironment.json in this folder or one above (Status/, RuntimeSettings/)
                    if folder in folder_ids:
                        e2, v2 = folder_ids[folder]
                        if ext is None or e2.lower() == ext.lower():
                            ext, ver = e2, ver or v2
                            how.append("HandlerEnvironment.json beside it")
                        break
                    if not folder:
                        break
                    folder = folder.rsplit("/", 1)[0] if "/" in folder else ""
            if (ext is None or ver is None) and f.artifact == "handler_log":
                text = self._head_text(f)
                e2, v2 = _identity.from_log_text(text) if text else (None, None)
                if e2 is not None and (ext is None or e2.lower() == ext.lower()):
                    ext, ver = e2, ver or v2
                    how.append("the log's own folder lines")
            if ext is not None and ver is None and len(versions.get(ext.lower(), ())) == 1:
                ver = next(iter(versions[ext.lower()]))
                how.append(f"the only version of {ext} in the bundle")
            target = _identity_path(f, ext, ver)
            if target is None or target.lower() == (f.layout_path or "").lower():
                continue
            key = target.lower()
            if key in self._used_layout and self._used_layout[key] != f.path:
                f.notes.append(f"its extension identity points at {target}, already used by {self._used_layout[key]}")
                continue
            if f.layout_path is not None:
                self._used_layout.pop(f.layout_path.lower(), None)
            self._used_layout[key] = f.path
            f.layout_path = target
            if how:
                f.mapped_by = f"{f.mapped_by or 'content'}+identity from {' and '.join(how)}"
                f.notes.append(f"extension {ext} {ver} from {' and '.join(how)}")
            if target.rsplit("/", 1)[-1] != f.path.rsplit("/", 1)[-1]:
                f.notes.append(f"cited as {target.rsplit('/', 1)[-1]}, the name its sequence number gives")

    def _head_text(self, f: _File) -> str | None:
        try:
            return decode(self._src.read_head(f.path, SNIFF_BYTES * 2)).text[:SNIFF_BYTES]
        except (OSError, UnsafeArchiveError):
            return None

    def _skip(self, f: _File) -> None:
        f.status = "skipped"
        f.notes.append(f"larger than the per-file limit of {_human(self._max_file)}: not read "
                       "(open_bundle(max_file_bytes=...) to raise it)")
        self._issue(f.source, "file-skipped", f"expected a file of at most {_human(self._max_file)}, found "
                    f"{_human(f.size)}; it was not read, so its {f.artifact} rows are absent")

    def _check_manifest(self, entries: dict[str, dict[str, Any]], manifest_name: str) -> None:
        if self.manifest is None:
            return
        present = {f.rel.lower() for f in self._files}
        for key, a in entries.items():
            if key not in present and a.get("status") in ("collected", "truncated"):
                self._issue(str(a["path"]), "manifest-file-missing", f"expected the file manifest.json lists as "
                            f"{a.get('status')}, found no such file in the bundle")
        for f in self._files:
            if f.status == "meta":
                continue
            a = f.entry
            if a is None:
                if f.status != "skipped" or f.size:
                    self._issue(f.source, "unlisted-file", "expected every file to be listed in manifest.json, "
                                "found one that is not (added after collection?)")
                continue
            if a.get("note"):
                f.notes.append(str(a["note"]))
            if a.get("status") == "truncated":
                f.notes.append("truncated by the collector: only the file's tail was kept")
            expected = a.get("sha256")
            if not expected or f.status == "skipped":
                continue
            try:
                f.sha256, f.size = self._src.sha256(f.path, self._max_file)
            except TooLarge:
                self._skip(f)
                continue
            except (OSError, UnsafeArchiveError) as exc:
                f.status = "failed"
                f.notes.append(f"could not be read: {exc}")
                self._issue(f.source, "unreadable-file", f"expected a readable file, found an error: {exc}")
                continue
            f.sha256_ok = f.sha256.lower() == str(expected).lower()
            if not f.sha256_ok:
                self._issue(f.source, "hash-mismatch", f"expected SHA-256 {expected} (manifest.json), found "
                            f"{f.sha256}: the file changed after collection")

    # -- parsing -----------------------------------------------------------------------------------
    def _parse_kind(self, kind: str) -> None:
        if kind in self._parsed_kinds:
            return
        self._parsed_kinds.add(kind)
        module = self._module(kind)
        for f in self._files:
            if f.artifact != kind or f.status != "pending":
                continue
            if module is None:
                f.status = "failed"
                f.notes.append(f"parser {kind} could not be imported")
                continue
            self._parse_file(f, kind, module)

    def _parse_file(self, f: _File, kind: str, module: ModuleType) -> None:
        try:
            data = self._src.read(f.path, self._max_file)
        except TooLarge:
            self._skip(f)
            return
        except (OSError, UnsafeArchiveError) as exc:
            f.status = "failed"
            f.notes.append(f"could not be read: {exc}")
            self._issue(f.source, "unreadable-file", f"expected a readable file, found an error: {exc}")
            return
        f.size = len(data)
        if f.sha256 is None:
            f.sha256 = hashlib.sha256(data).hexdigest()
        if getattr(module, "BINARY", False):  # .evtx: the parser takes the bytes as they are
            f.encoding = "binary"
            self._run_parser(f, kind, module, [], lambda: module.parse_bytes(data, source=f.source))
            return
        dec = decode(data, hint="oem" if kind in _CONSOLE_OUTPUT else None)
        f.encoding, f.newline = dec.encoding, dec.newline
        issues: list[ParseIssue] = []
        for note in dec.notes:
            f.notes.append(note)
            if not any(b in note for b in _BENIGN_DECODE):
                issues.append(ParseIssue(f.source, None, "encoding", f"expected UTF-8 or UTF-16 text, found: {note}",
                                         parser="bundle"))
        self._run_parser(f, kind, module, issues, lambda: module.parse(dec.text, source=f.source))

    def _run_parser(self, f: _File, kind: str, module: ModuleType, issues: list[ParseIssue],
                    run: Callable[[], Any]) -> None:
        try:
            result = run()
        except Exception as exc:  # a parser bug must not stop the bundle
            f.status = "failed"
            f.issues = len(issues) + 1
            self._bundle_issues += issues
            self._issue(f.source, "parser-error", f"parser {kind} raised {type(exc).__name__}: {exc}", parser=kind)
            return
        frames: dict[str, pd.DataFrame] = {}
        for fname, df in result.frames.items():
            issues += [ParseIssue(f.source, None, "bad-value", note, parser=kind)
                       for note in df.attrs.pop(LOST_VALUES, [])]
            schema = module.FRAMES.get(fname)
            if schema is None:
                issues.append(ParseIssue(f.source, None, "parser-error", f"parser {kind} filled frame {fname!r}, "
                                         f"which its FRAMES does not declare; ignored", parser=kind))
                continue
            if schema.check_dtypes(df):
                try:
                    df, lost = schema.coerce_lenient(df)
                except SchemaError as exc:
                    issues.append(ParseIssue(f.source, None, "parser-error", f"parser {kind} returned a {fname} "
                                             f"frame that does not match its schema: {exc}", parser=kind))
                    continue
                issues += [ParseIssue(f.source, None, "bad-value", note, parser=kind) for note in lost]
            frames[fname] = df
        issues += [i if i.parser else ParseIssue(i.source, i.line, i.kind, i.message, i.text, kind)
                   for i in result.issues]
        f.frames = frames
        f.rows = sum(len(df) for df in frames.values())
        f.issues = len(issues)
        f.status = "parsed-with-issues" if issues else "parsed"
        self._bundle_issues += issues

    def _producers(self, frame: str) -> list[str]:
        return [k for k in _parse.PARSERS if (m := self._module(k)) is not None and frame in m.FRAMES]

    #: Whether frames and issues are returned with secrets masked (:mod:`kit.redact`); ``open_bundle(redact=False)``.
    redacted: bool = True

    def frame(self, name: str, *, raw: bool = False) -> pd.DataFrame:
        """The frame ``name``, typed per its schema; the schema's empty frame when no file filled it. Secrets in its
        text columns are masked (:mod:`kit.redact`) unless ``raw`` or the bundle was opened with ``redact=False``."""
        df = self._frame(name)
        return df if raw or not self.redacted else _redact.redacted_frame(self, name, df)

    def _frame(self, name: str) -> pd.DataFrame:
        if name in self._frames:
            return self._frames[name]
        schemas = self._schemas()
        if name not in schemas:
            if name in DERIVED:  # computed once per bundle from the raw frames; frame() masks it like the others
                self._frames[name] = df = derive(name, self._frame)
                return df
            raise KeyError(f"no frame named {name!r}; frames: {', '.join(sorted([*schemas, *DERIVED]))}")
        if name == ISSUES.name:
            return self.issues
        kinds = self._producers(name)
        for kind in kinds:
            self._parse_kind(kind)
        parts = [f.frames[name] for f in self._files if f.artifact in kinds and name in f.frames]
        schema = schemas[name]
        df = schema.empty() if not parts else self._combine(name, schema, kinds, parts)
        self._frames[name] = df
        return df

    def _combine(self, name: str, schema: FrameSchema, kinds: list[str], parts: list[pd.DataFrame]) -> pd.DataFrame:
        combine = getattr(self._modules[kinds[0]], "combine", None) if len(kinds) == 1 else None
        if combine is not None:
            try:
                return _typed(schema, combine(parts))
            except Exception as exc:  # fall back to path order, and say so
                self._issue(str(parts[0]["source"].iloc[0]) if len(parts[0]) else name, "parser-error",
                            f"{kinds[0]}.combine failed ({type(exc).__name__}: {exc}); {name} rows are in path "
                            "order instead", parser=kinds[0])
        nonempty = [p for p in parts if not p.empty]
        if not nonempty:
            return schema.empty()
        if len(nonempty) == 1:
            return nonempty[0].reset_index(drop=True)
        return _typed(schema, pd.concat(nonempty, ignore_index=True))  # categories may differ between files

    def __getattr__(self, name: str) -> pd.DataFrame:
        if name.startswith("_"):
            raise AttributeError(name)
        schemas = self._schemas()
        if name in schemas or name in DERIVED:
            return self.frame(name)
        raise AttributeError(f"Bundle has no attribute or frame {name!r}; frames: "
                             f"{', '.join(sorted([*schemas, *DERIVED]))}")

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._schemas()) | set(DERIVED))

    def parse_all(self) -> None:
        """Parse every recognised file now (frames are otherwise parsed on first access)."""
        for kind in sorted({f.artifact for f in self._files if f.artifact}):
            self._parse_kind(kind)

    def frames(self) -> dict[str, pd.DataFrame]:
        """Every non-empty frame, by name (parses everything)."""
        self.parse_all()
        out = {}
        for name in self._schemas():
            if name == ISSUES.name:
                continue
            df = self.frame(name)
            if not df.empty:
                out[name] = df
        return out

    def has(self, artifact: str) -> bool:
        """Whether the bundle holds a usable file recognised as ``artifact`` (a parser name): not empty, not
        skipped, not failed (a failure is known once the file has been parsed)."""
        return any(f.artifact == artifact and f.status in _USABLE for f in self._files)

    # -- reports -------------------------------------------------------------------------------------
    @property
    def issues(self) -> pd.DataFrame:
        """The ``parse_issues`` frame: every parser's issues plus the bundle's own (parses everything)."""
        self.parse_all()
        for name in self._schemas():  # combine() failures are only known once frames are built
            if name != ISSUES.name:
                self.frame(name)
        iss = issues_frame(self._bundle_issues)
        return _redact.redact_frame(iss) if self.redacted else iss

    @property
    def inventory(self) -> pd.DataFrame:
        """One row per file (see :data:`INVENTORY`); parses everything."""
        self.parse_all()
        recs = []
        for f in self._files:
            if f.sha256 is None and f.status not in ("skipped", "failed"):
                try:
                    f.sha256, _ = self._src.sha256(f.path, self._max_file)
                except (OSError, UnsafeArchiveError, TooLarge) as exc:
                    f.notes.append(f"could not be hashed: {exc}")
            recs.append({"path": f.path, "layout_path": f.layout_path, "mapped_by": f.mapped_by, "artifact": f.artifact,
                         "recognised_by": f.recognised_by, "status": f.status, "size": f.size,
                         "sha256": f.sha256, "sha256_ok": f.sha256_ok, "rows": f.rows, "issues": f.issues,
                         "encoding": f.encoding, "newline": f.newline, "note": "; ".join(f.notes) or None})
        return INVENTORY.from_records(recs)

    @property
    def missing(self) -> pd.DataFrame:
        """Expected artifacts that are absent or unusable, with why each matters (see :data:`MISSING`)."""
        entries = [a for a in (self.manifest or {}).get("artifacts", [])
                   if a.get("status") in ("missing", "error", "skipped")]
        by_kind = {k: a for a in entries if (k := entry_kind(a)) is not None}
        recs = []
        for kind, where, why in EXPECTED:
            if kind == "http_probe":
                present = any(f.artifact == kind and f.status in _USABLE and "imds_instance" in f.source.lower()
                              for f in self._files)
            else:
                present = self.has(kind) or any(self.has(a) for a in _ALTERNATIVES.get(kind, ()))
            if present:
                continue
            a = by_kind.get(kind)
            if a is not None and kind != "http_probe":
                note = _entry_note(a)
                entries.remove(a)
            else:
                unusable = [f for f in self._files if f.artifact == kind]
                note = "; ".join(f"{f.path} is {f.status}" + (f" ({f.notes[-1]})" if f.notes else "")
                                 for f in unusable) or None
                if note is None:
                    note = self._not_found().get(kind)
            recs.append({"artifact": kind, "expected_path": where, "why_it_matters": why, "note": note})
        why_by_kind = {k: w for k, _, w in EXPECTED}
        for a in entries:
            kind = entry_kind(a)
            recs.append({"artifact": kind or str(a["path"]), "expected_path": str(a["path"]),
                         "why_it_matters": why_by_kind.get(kind or "", "listed by the collector, not collected"),
                         "note": _entry_note(a)})
        return MISSING.from_records(recs)

    def _not_found(self) -> dict[str, str]:
        """Artifact kind -> what a collector's own list says it did not find on the disk (the repair script's
        ``failedLogFiles.log``: ``NOT FOUND: F:/WindowsAzure/Logs/WaAppAgent.log``, a manifest path with the drive
        of the attached disk)."""
        if "_nf" in self.__dict__:
            return self.__dict__["_nf"]
        out: dict[str, str] = {}
        for f in self._files:
            if f.status != "meta" or not f.rel.lower().endswith("failedlogfiles.log"):
                continue
            try:
                text = decode(self._src.read(f.path, self._max_file)).text
            except (OSError, UnsafeArchiveError, TooLarge):
                continue
            for line in text.splitlines():
                m = _NOT_FOUND.match(line.strip())
                lp = map_path(m.group(1)).layout_path if m else None
                kind = _parse.match_path(lp) if lp else None
                if kind is not None and kind not in out:
                    out[kind] = f"not on the disk: {f.rel} says {line.strip()!r}"
        self.__dict__["_nf"] = out
        return out

    @property
    def time_reference(self) -> pd.Timestamp | None:
        """The time the bundle's state is judged at: ``collected_at`` (the kit manifest) when known, else an
        assumption: the newest agent-log time stamp, else the time a collector says it copied the files from a copy
        of the disk (:attr:`copied_at`), else the newest file time a zip records. None when nothing gives one.
        :attr:`time_reference_basis` says which, and that an assumed one is an assumption. No time stamp is
        shifted: a zip's times carry no zone and are read as UTC."""
        if self.collected_at is not None:
            return self.collected_at
        return self._assumed_time()[0]

    @property
    def time_reference_basis(self) -> str:
        """Where :attr:`time_reference` comes from: ``collected_at from manifest.json``, ``newest agent-log record
        (an assumption: ...)``, ``the repair script's folder ... (an assumption: ...)``, ``newest file time in the
        zip (...; an assumption: ...)`` or ``none``."""
        if self.collected_at is not None:
            return "collected_at from manifest.json"
        ref, basis = self._assumed_time()
        return basis if ref is not None else "none"

    def _assumed_time(self) -> tuple[pd.Timestamp | None, str]:
        if "_assumed" in self.__dict__:
            return self.__dict__["_assumed"]
        out: tuple[pd.Timestamp | None, str] = (None, "none")
        copied = f"; {self.layout.copied_basis}" if self.copied_at is not None else ""
        log = self.frame("agent_log") if "agent_log" in self._schemas() else pd.DataFrame()
        if not log.empty and "ts" in log and not log["ts"].isna().all():
            out = (log["ts"].max(), f"newest agent-log record (an assumption: no collection time known{copied})")
        elif self.copied_at is not None:
            out = (self.copied_at, f"when the files were copied (an assumption: no collection time and no "
                                   f"agent-log record known{copied})")
        elif self._mtimes:
            newest = max(self._mtimes.items(), key=lambda kv: kv[1])
            try:
                ts = pd.Timestamp(*newest[1], tz="UTC")
            except (ValueError, TypeError):
                ts = None
            if ts is not None:
                out = (ts, f"newest file time in the zip ({newest[0]}; an assumption: zip times carry no zone, read "
                           "as UTC; no collection time and no agent-log record known)")
        self.__dict__["_assumed"] = out
        return out

    @property
    def vm_name(self) -> str:
        """The VM's computer name from the manifest, else the bundle's file or folder name."""
        vm = (self.manifest or {}).get("vm") or {}
        name = vm.get("computer_name") or vm.get("host") if isinstance(vm, dict) else None
        return str(name or self.layout.vm_name or self.path.stem)

    def _overview(self) -> dict[str, Any]:
        inv = self.inventory
        counts = inv["status"].astype(str).value_counts()
        recognised = int(inv["artifact"].notna().sum())
        iss = self.issues
        when = (self.collected_at.strftime("%Y-%m-%d %H:%M:%S UTC") if self.collected_at is not None
                else "unknown (no manifest)")
        if self.collected_at is None and self.copied_at is not None:
            when = (f"unknown; files copied {self.copied_at.strftime('%Y-%m-%d %H:%M:%S UTC')} "
                    f"({self.layout.copied_basis})")
        ref = self.time_reference
        return {
            "when": when,
            "ref": None if self.collected_at is not None or ref is None
            else f"{ref.strftime('%Y-%m-%d %H:%M:%S UTC')} ({self.time_reference_basis})",
            "files": len(inv), "recognised": recognised,
            "unrecognised": int(counts.get("unrecognised", 0)), "failed": int(counts.get("failed", 0)),
            "skipped": int(counts.get("skipped", 0)), "empty": int(counts.get("empty", 0)),
            "frames": {k: len(v) for k, v in self.frames().items()},
            "missing": self.missing,
            "issue_kinds": iss["kind"].astype(str).value_counts(),
            "issues": iss,
            "unrec_paths": inv.loc[inv["status"] == "unrecognised", "path"].tolist(),
        }

    def summary(self, top: int = 5) -> str:
        """A readable multi-line overview: kind, VM, collection time, files, frames, missing artifacts, top issues."""
        o = self._overview()
        lines = [f"Bundle {self.path} ({self.kind})", f"VM: {self.vm_name}", f"Collected: {o['when']}"]
        if o["ref"]:
            lines.append(f"Time reference: {o['ref']}")
        lines.append(f"Files: {o['files']} - {o['recognised']} recognised, {o['unrecognised']} unrecognised, "
                     f"{o['failed']} failed, {o['skipped']} skipped, {o['empty']} empty")
        lines.append("Frames: " + (", ".join(f"{k} ({n})" for k, n in o["frames"].items()) or "none"))
        miss = o["missing"]
        lines.append("Missing: " + (", ".join(miss["artifact"]) if not miss.empty else "nothing expected is missing"))
        iss = o["issues"]
        if iss.empty:
            lines.append("Issues: none")
        else:
            lines.append(f"Issues: {len(iss)} - " + ", ".join(f"{v} {k}" for k, v in o["issue_kinds"].items()))
            for r in iss.head(top).itertuples():
                lines.append(f"  {_where(r.source, r.line)}: [{r.kind}] {r.message}")
            if len(iss) > top:
                lines.append(f"  ... {len(iss) - top} more in .issues")
        if o["unrec_paths"]:
            lines.append("Unrecognised: " + ", ".join(o["unrec_paths"][:10])
                         + (" ..." if len(o["unrec_paths"]) > 10 else ""))
        return "\n".join(lines)

    def __repr__(self) -> str:
        when = self.collected_at.isoformat() if self.collected_at is not None else "unknown"
        return (f"<Bundle {self.path.name!r} kind={self.kind} vm={self.vm_name!r} files={len(self._files)} "
                f"collected_at={when}>")

    def _repr_html_(self) -> str:
        o = self._overview()
        e = html.escape
        rows = [("Kind", self.kind), ("VM", self.vm_name), ("Collected", o["when"])]
        if o["ref"]:
            rows.append(("Time reference", o["ref"]))
        rows.append(("Files", f"{o['files']}: {o['recognised']} recognised, {o['unrecognised']} unrecognised, "
                              f"{o['failed']} failed, {o['skipped']} skipped, {o['empty']} empty"))
        rows.append(("Frames", ", ".join(f"{k} ({n})" for k, n in o["frames"].items()) or "none"))
        miss = o["missing"]
        rows.append(("Missing", ", ".join(miss["artifact"]) if not miss.empty else "none"))
        rows.append(("Issues", ", ".join(f"{v} {k}" for k, v in o["issue_kinds"].items()) or "none"))
        out = [f"<div class='kit-bundle'><b>Bundle</b> <code>{e(str(self.path))}</code>",
               "<table>" + "".join(f"<tr><th style='text-align:left'>{e(k)}</th><td style='text-align:left'>"
                                   f"{e(str(v))}</td></tr>" for k, v in rows) + "</table>"]
        iss = o["issues"]
        if not iss.empty:
            out.append("<ul>" + "".join(f"<li><code>{e(_where(r.source, r.line))}</code> [{e(str(r.kind))}] "
                                        f"{e(str(r.message))}</li>" for r in iss.head(5).itertuples()) + "</ul>")
        out.append("</div>")
        return "".join(out)

    def close(self) -> None:
        """Close the zip (if any). Frames already built stay available."""
        self._src.close()

    def __enter__(self) -> Bundle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_HOMES = {"handler_log": "C/WindowsAzure/Logs/Plugins/{e}/{v}/{name}",
          "ext_status": "C/Packages/Plugins/{e}/{v}/Status/{name}",
          "ext_settings": "C/Packages/Plugins/{e}/{v}/RuntimeSettings/{name}",
          "handler_env": "C/Packages/Plugins/{e}/{v}/HandlerEnvironment.json",
          "handler_manifest": "C/Packages/Plugins/{e}/{v}/HandlerManifest.json"}
_NOT_FOUND = re.compile(r"^NOT FOUND: [A-Za-z]:(/.+)$")  # win-collect-attached-disk-logs.ps1's failedLogFiles.log
_SEQ_NAME = re.compile(r"^(\d+)\.(status|settings)\b", re.IGNORECASE)


def _identity_path(f: _File, ext: str | None, ver: str | None) -> str | None:
    """The canonical path of an extension file once its extension and version are known (None when not both).
    A renamed ``0.status.txt`` / ``0.settings.json`` gets back its ``<n>.status`` / ``<n>.settings`` name."""
    if ext is None or ver is None or f.artifact not in _HOMES:
        return None
    name = f.path.rsplit("/", 1)[-1]
    m = _SEQ_NAME.match(name)
    if m and f.artifact in ("ext_status", "ext_settings"):
        name = f"{m.group(1)}.{m.group(2).lower()}"
    if f.layout_path is not None and f.artifact == "handler_log":
        pe, pv = _identity.from_path(f.layout_path)
        if pe is not None and pv is not None and pe.lower() == ext.lower() and pv == ver:
            return None  # already names both (a log nested below the version folder stays where it is)
    return _HOMES[f.artifact].format(e=ext, v=ver, name=name)


def _typed(schema: FrameSchema, df: pd.DataFrame) -> pd.DataFrame:
    return df.reset_index(drop=True) if not schema.check_dtypes(df) else schema.coerce(df)


def _where(source: object, line: object) -> str:
    return str(source) + (f":{line}" if not pd.isna(line) else "")


def _entry_note(a: dict[str, Any]) -> str:
    note = f"{a.get('status')} in manifest.json"
    if a.get("note"):
        note += f": {a['note']}"
    if a.get("origin"):
        note += f" (origin {a['origin']})"
    return note


def _human(n: int) -> str:
    mib = 1024 * 1024
    return f"{n / mib:.0f} MiB" if n >= mib else f"{n} bytes"


def open_bundle(path: str | Path, *, max_total_bytes: int = DEFAULT_MAX_TOTAL,
                max_file_bytes: int = DEFAULT_MAX_FILE, redact: bool = True) -> Bundle:
    """Open a bundle from a folder or a zip (any file that is a zip, whatever its extension).

    ``max_file_bytes`` caps how much of one file is read (larger files are listed as ``skipped``);
    ``max_total_bytes`` caps the decompressed bytes read from a zip. Raises :class:`~kit.errors.BundleError`
    when the bundle cannot be opened at all (path missing, not a folder or zip) and
    :class:`~kit.errors.UnsafeArchiveError` for a zip refused by :mod:`kit.bundle.safezip`. With ``redact=False``
    frames and issues hold secrets as the files do (see :mod:`kit.redact`).
    """
    p = Path(path)
    if p.is_dir():
        src: Source = FolderSource(p)
    elif p.is_file() and (p.suffix.lower() == ".zip" or zipfile.is_zipfile(p)):
        src = ZipSource(p, max_total_bytes=max_total_bytes, max_file_bytes=max_file_bytes)
    elif p.is_file():
        raise BundleError(f"{p}: not a folder or a .zip; to parse one file use `vmkit parse {p}`")
    else:
        raise BundleError(f"{p}: no such folder or file")
    try:
        bundle = Bundle(p, src, max_file_bytes=max_file_bytes)
        bundle.redacted = redact
        return bundle
    except BaseException:
        src.close()
        raise


__all__ = ["INVENTORY", "MISSING", "Bundle", "open_bundle"]
