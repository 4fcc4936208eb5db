"""Bundles: what was collected from one VM at one time, opened from a folder or a .zip.

    >>> b = open_bundle("sample_logs/healthy")
    >>> b.kind, b.collected_at
    >>> b.agent_log          # any frame by name (docs/frames.md)
    >>> b.inventory          # every file: what it was recognised as, parsed rows, issues, hashes
    >>> b.issues             # everything that could not be read cleanly
    >>> b.missing            # expected artifacts that are absent, and why they matter

Files are recognised by the manifest / their path first, by content second. Parsing is lazy (on first use
of a frame) and cached. Damaged files never stop a bundle from opening: they become issues.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from .. import parse as _parse
from ..errors import BundleError, UnsafeArchiveError
from ..parse.base import SNIFF_BYTES, ParseIssue, issues_frame
from ..schema import Col, FrameSchema
from ..textio import decode
from .layout import EXPECTED, META_FILES, canonical, detect_kind
from .safezip import DEFAULT_MAX_FILE, DEFAULT_MAX_TOTAL, SafeZip

INVENTORY = FrameSchema(
    "inventory",
    "One row per file in the bundle: what it was recognised as and how reading it went.",
    (
        Col("path", "str", "Path of the file inside the bundle, as stored.", False),
        Col("layout_path", "str", "Canonical kit-layout path the file was mapped to (NA when none applies)."),
        Col("artifact", "str", "Artifact kind (parser name) it was recognised as; NA when unrecognised."),
        Col("recognised_by", "category", "`path` (name/layout), `content` (sniffed) or `fallback` (any .log "
            "under Plugins)."),
        Col("status", "category", "`parsed`, `parsed-with-issues`, `unrecognised`, `failed`, `empty`, `skipped`, "
            "`meta` (manifest, README), or `pending` before parsing.", False),
        Col("size", "Int64", "Size in bytes."),
        Col("sha256", "str", "SHA-256 of the file as stored."),
        Col("sha256_ok", "boolean", "Matches the manifest's SHA-256 (NA without a manifest entry)."),
        Col("rows", "Int64", "Rows the file contributed to its frames."),
        Col("issues", "Int64", "Parse issues reported for the file."),
        Col("encoding", "str", "How the bytes were decoded (utf-8, utf-8-sig, utf-16-le, cp1252, ...)."),
        Col("newline", "str", "Line endings seen: CRLF, LF, CR, mixed or none."),
        Col("note", "str", "Anything else worth knowing (manifest note, why skipped)."),
    ),
)

MISSING = FrameSchema(
    "missing",
    "Expected artifacts that are absent from the bundle, and manifest entries that were not collected.",
    (
        Col("artifact", "str", "Artifact kind.", False),
        Col("expected_path", "str", "Where the kit's layout keeps it."),
        Col("why_it_matters", "str", "What checks cannot run without it."),
        Col("note", "str", "The manifest's reason, when the collector recorded one."),
    ),
)


#: Artifacts that stand in for an expected one (a pasted Test-NetConnection for the kit's TCP probes).
_ALTERNATIVES = {"route_print": ("get_netroute",), "tcp_probes": ("test_netconnection",),
                 "ipconfig": ("get_netipaddress",)}


@dataclass
class _File:
    path: str
    layout_path: str | None
    size: int
    artifact: str | None = None
    recognised_by: str | None = None
    status: str = "pending"
    sha256: str | None = None
    sha256_ok: bool | None = None
    rows: int = 0
    issues: int = 0
    encoding: str | None = None
    newline: str | None = None
    note: str | None = None
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return self.layout_path or self.path


class _Folder:
    def __init__(self, root: Path) -> None:
        self.root = root

    def list(self) -> list[tuple[str, int]]:
        out = []
        for p in sorted(self.root.rglob("*")):
            if p.is_symlink():
                continue  # never follow links out of a customer's folder
            if p.is_file():
                out.append((p.relative_to(self.root).as_posix(), p.stat().st_size))
        return out

    def read(self, rel: str) -> bytes:
        return (self.root / rel).read_bytes()

    def close(self) -> None:
        pass


class _Zip:
    def __init__(self, path: Path, max_total: int, max_file: int) -> None:
        self.z = SafeZip(path, max_total_bytes=max_total, max_file_bytes=max_file)

    def list(self) -> list[tuple[str, int]]:
        return [(n, self.z.members[n].file_size) for n in self.z.names()]

    def read(self, rel: str) -> bytes:
        return self.z.read(rel)

    def close(self) -> None:
        self.z.close()


class Bundle:
    """One VM's collected artifacts, with every artifact one attribute away as a typed frame."""

    def __init__(self, path: Path, source: _Folder | _Zip, *, max_file_bytes: int) -> None:
        self.path = path
        self._src = source
        self._max_file = max_file_bytes
        self._bundle_issues: list[ParseIssue] = []
        self._frames: dict[str, pd.DataFrame] = {}
        self._parsed_kinds: set[str] = set()
        listing = source.list()
        names = [n for n, _ in listing]
        root_meta = {n.lower(): n for n in names if "/" not in n}
        self.manifest: dict | None = self._read_manifest(root_meta.get("manifest.json"))
        self.kind = detect_kind([n for n in names if n.lower() not in META_FILES], self.manifest is not None)
        logs_root = self.kind == "logs-folder"
        self._files: list[_File] = []
        for name, size in listing:
            if "/" not in name and name.lower() in META_FILES:
                self._files.append(_File(path=name, layout_path=None, size=size, status="meta"))
                continue
            lp = canonical(name)
            if lp is None and logs_root:
                lp = "C/WindowsAzure/Logs/" + name
            self._files.append(_File(path=name, layout_path=lp, size=size))
        self._classify()
        self._check_manifest()

    # -- opening -----------------------------------------------------------------------------------
    def _read_manifest(self, name: str | None) -> dict | None:
        if name is None:
            return None
        try:
            data = json.loads(decode(self._src.read(name)).text)
        except (ValueError, OSError) as exc:
            self._bundle_issues.append(ParseIssue(name, None, "bad-manifest", f"manifest.json is not valid JSON "
                                                  f"({exc}); the bundle is opened without it", parser="bundle"))
            return None
        if not isinstance(data, dict) or data.get("format") != "guestagent-kit-bundle":
            self._bundle_issues.append(ParseIssue(name, None, "bad-manifest", "manifest.json is not a guestagent-kit "
                                                  "manifest (expected \"format\": \"guestagent-kit-bundle\")",
                                                  parser="bundle"))
            return None
        return data

    def _classify(self) -> None:
        for f in self._files:
            if f.status == "meta":
                continue
            if f.size == 0:
                f.status, f.note = "empty", "file is empty"
                continue
            kind = _parse.match_path(f.source)
            if kind is not None:
                f.artifact, f.recognised_by = kind, "path"
                continue
            if f.size > self._max_file:
                f.status, f.note = "skipped", f"larger than the per-file limit ({self._max_file} bytes); not sniffed"
                continue
            try:
                head = decode(self._read_head(f)).text[:SNIFF_BYTES]
            except (OSError, UnsafeArchiveError) as exc:
                f.status, f.note = "failed", f"could not be read: {exc}"
                self._bundle_issues.append(ParseIssue(f.path, None, "unreadable-file", str(exc), parser="bundle"))
                continue
            kind = _parse.sniff(head)
            if kind is not None:
                f.artifact, f.recognised_by = kind, "content"
            elif f.source.lower().startswith("c/windowsazure/logs/plugins/") and f.source.lower().endswith(".log"):
                f.artifact, f.recognised_by = "handler_log", "fallback"
            else:
                f.status = "unrecognised"
                self._bundle_issues.append(ParseIssue(
                    f.path, None, "unrecognised-file", "no parser recognised this file by its path or its content",
                    text=head[:200] if head.isprintable() or "\n" in head else None, parser="bundle"))

    def _read_head(self, f: _File) -> bytes:
        return self._src.read(f.path)[: SNIFF_BYTES * 2]

    def _check_manifest(self) -> None:
        if not self.manifest:
            return
        by_path = {f.path: f for f in self._files}
        for a in self.manifest.get("artifacts", []) or []:
            p = str(a.get("path", ""))
            f = by_path.get(p)
            status = a.get("status")
            if f is None:
                if status in ("collected", "truncated"):
                    self._bundle_issues.append(ParseIssue(p, None, "manifest-file-missing",
                                                          "listed in manifest.json as collected but absent",
                                                          parser="bundle"))
                continue
            if a.get("note"):
                f.note = str(a["note"])
            if status == "truncated":
                f.note = (f.note + "; " if f.note else "") + "truncated by the collector (only the file's tail)"
            expected = a.get("sha256")
            if expected:
                digest = self._sha256(f)
                f.sha256_ok = digest.lower() == str(expected).lower()
                if not f.sha256_ok:
                    self._bundle_issues.append(ParseIssue(p, None, "hash-mismatch",
                                                          f"SHA-256 {digest} does not match the manifest's "
                                                          f"{expected}: the file changed after collection",
                                                          parser="bundle"))

    def _sha256(self, f: _File) -> str:
        if f.sha256 is None:
            f.sha256 = hashlib.sha256(self._src.read(f.path)).hexdigest()
        return f.sha256

    # -- parsing -----------------------------------------------------------------------------------
    def _parse_kind(self, kind: str) -> None:
        if kind in self._parsed_kinds:
            return
        self._parsed_kinds.add(kind)
        module = _parse.get_parser(kind)
        for f in self._files:
            if f.artifact != kind or f.status not in ("pending",):
                continue
            if f.size > self._max_file:
                f.status, f.note = "skipped", f"larger than the per-file limit ({self._max_file} bytes)"
                continue
            try:
                data = self._src.read(f.path)
            except (OSError, UnsafeArchiveError) as exc:
                f.status, f.note = "failed", f"could not be read: {exc}"
                self._bundle_issues.append(ParseIssue(f.path, None, "unreadable-file", str(exc), parser="bundle"))
                continue
            if f.sha256 is None:
                f.sha256 = hashlib.sha256(data).hexdigest()
            dec = decode(data)
            f.encoding, f.newline = dec.encoding, dec.newline
            issues: list[ParseIssue] = []
            for note in dec.notes:
                if "NUL" in note or "without BOM" in note:
                    f.note = (f.note + "; " if f.note else "") + note
                else:
                    issues.append(ParseIssue(f.source, None, "encoding", note, parser="bundle"))
            try:
                result = module.parse(dec.text, source=f.source)
            except Exception as exc:  # a parser bug must not stop the bundle
                f.status = "failed"
                f.issues = len(issues) + 1
                self._bundle_issues += issues
                self._bundle_issues.append(ParseIssue(f.source, None, "parser-error",
                                                      f"parser {kind} failed: {type(exc).__name__}: {exc}",
                                                      parser=kind))
                continue
            issues += [i if i.parser else ParseIssue(**{**i.__dict__, "parser": kind}) for i in result.issues]
            f.frames = result.frames
            f.rows = sum(len(df) for df in result.frames.values())
            f.issues = len(issues)
            f.status = "parsed-with-issues" if issues else "parsed"
            self._bundle_issues += issues

    @cached_property
    def _producers(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for kind in _parse.PARSERS:
            for fname in _parse.get_parser(kind).FRAMES:
                out.setdefault(fname, []).append(kind)
        return out

    def frame(self, name: str) -> pd.DataFrame:
        """The frame ``name`` (typed; empty when no file filled it)."""
        if name in self._frames:
            return self._frames[name]
        schemas = _parse.frame_schemas()
        if name not in schemas:
            raise KeyError(f"no frame named {name!r}; frames: {', '.join(sorted(schemas))}")
        if name == "parse_issues":
            return self.issues
        parts = []
        kinds = self._producers.get(name, [])
        for kind in kinds:
            self._parse_kind(kind)
        for f in self._files:
            if f.artifact in kinds and name in f.frames:
                parts.append(f.frames[name])
        schema = schemas[name]
        if not parts:
            df = schema.empty()
        else:
            combine = next((getattr(_parse.get_parser(k), "combine", None) for k in kinds
                            if hasattr(_parse.get_parser(k), "combine")), None)
            if combine is not None and len(kinds) == 1:
                df = combine(parts)
            else:
                df = pd.concat([p for p in parts if not p.empty] or parts[:1], ignore_index=True)
            df = schema.coerce(df)
        self._frames[name] = df
        return df

    def __getattr__(self, name: str) -> pd.DataFrame:
        if name.startswith("_"):
            raise AttributeError(name)
        schemas = _parse.frame_schemas()
        if name in schemas:
            return self.frame(name)
        raise AttributeError(f"Bundle has no attribute or frame {name!r}; frames: {', '.join(sorted(schemas))}")

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(_parse.frame_schemas()))

    def parse_all(self) -> None:
        for kind in sorted({f.artifact for f in self._files if f.artifact}):
            self._parse_kind(kind)

    def frames(self) -> dict[str, pd.DataFrame]:
        """Every non-empty frame, by name."""
        self.parse_all()
        out = {}
        for name in _parse.frame_schemas():
            if name == "parse_issues":
                continue
            df = self.frame(name)
            if not df.empty:
                out[name] = df
        return out

    def has(self, artifact: str) -> bool:
        """Whether the bundle holds a file recognised as ``artifact`` (a parser name)."""
        return any(f.artifact == artifact for f in self._files)

    # -- reports -------------------------------------------------------------------------------------
    @property
    def issues(self) -> pd.DataFrame:
        """All parse issues so far (parses everything first)."""
        self.parse_all()
        return issues_frame(self._bundle_issues)

    @property
    def inventory(self) -> pd.DataFrame:
        self.parse_all()
        recs = []
        for f in self._files:
            recs.append({"path": f.path, "layout_path": f.layout_path, "artifact": f.artifact,
                         "recognised_by": f.recognised_by, "status": f.status, "size": f.size,
                         "sha256": f.sha256, "sha256_ok": f.sha256_ok, "rows": f.rows, "issues": f.issues,
                         "encoding": f.encoding, "newline": f.newline, "note": f.note})
        return INVENTORY.from_records(recs)

    @property
    def missing(self) -> pd.DataFrame:
        recs = []
        for kind, where, why in EXPECTED:
            present = self.has(kind) or any(self.has(a) for a in _ALTERNATIVES.get(kind, ()))
            if kind == "http_probe":
                present = any(f.artifact == "http_probe" and "imds" in f.source.lower() for f in self._files)
            if not present:
                recs.append({"artifact": kind, "expected_path": where, "why_it_matters": why, "note": None})
        for a in (self.manifest or {}).get("artifacts", []) or []:
            if a.get("status") in ("missing", "error", "skipped"):
                recs.append({"artifact": str(a.get("path")), "expected_path": a.get("origin"),
                             "why_it_matters": None, "note": f"{a.get('status')}: {a.get('note') or ''}".strip()})
        return MISSING.from_records(recs)

    @property
    def collected_at(self) -> pd.Timestamp | None:
        """When the bundle was collected (UTC), from the manifest; None when unknown."""
        ts = (self.manifest or {}).get("collected_at")
        if not ts:
            return None
        try:
            return pd.Timestamp(ts).tz_convert("UTC") if pd.Timestamp(ts).tzinfo else pd.Timestamp(ts, tz="UTC")
        except (ValueError, TypeError):
            return None

    @property
    def time_reference(self) -> pd.Timestamp | None:
        """Collection time, else the newest agent-log time stamp; see :attr:`time_reference_basis`."""
        if self.collected_at is not None:
            return self.collected_at
        log = self.frame("agent_log")
        return None if log.empty or log["ts"].isna().all() else log["ts"].max()

    @property
    def time_reference_basis(self) -> str:
        if self.collected_at is not None:
            return "collected_at from manifest.json"
        return "newest agent-log record (no collection time known)" if self.time_reference is not None else "none"

    @property
    def vm_name(self) -> str:
        vm = (self.manifest or {}).get("vm") or {}
        return str(vm.get("computer_name") or vm.get("host") or self.path.stem)

    def summary(self) -> str:
        inv = self.inventory
        counts = inv["status"].astype(str).value_counts()
        when = (self.collected_at.strftime("%Y-%m-%d %H:%M:%S UTC") if self.collected_at is not None
                else "at an unknown time")
        lines = [f"Bundle {self.path} ({self.kind}) - VM {self.vm_name}, collected {when}",
                 f"Files: {len(inv)} - " + ", ".join(f"{v} {k}" for k, v in counts.items())]
        frames = self.frames()
        lines.append("Frames: " + (", ".join(f"{k} ({len(v)})" for k, v in frames.items()) or "none"))
        miss = self.missing
        if not miss.empty:
            lines.append("Missing: " + ", ".join(f"{r.artifact}" for r in miss.itertuples()))
        iss = self.issues
        if not iss.empty:
            lines.append(f"Issues: {len(iss)} - " + ", ".join(f"{v} {k}" for k, v in
                                                             iss["kind"].astype(str).value_counts().items()))
            for r in iss.head(5).itertuples():
                where = r.source + (f":{r.line}" if not pd.isna(r.line) else "")
                lines.append(f"  {where}: {r.message}")
        unrec = inv[inv["status"] == "unrecognised"]["path"].tolist()
        if unrec:
            lines.append("Unrecognised: " + ", ".join(unrec[:10]) + (" ..." if len(unrec) > 10 else ""))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Bundle {self.path.name!s} kind={self.kind} files={len(self._files)}>"

    def _repr_html_(self) -> str:
        return "<pre>" + html.escape(self.summary()) + "</pre>"

    def close(self) -> None:
        self._src.close()

    def __iter__(self) -> Iterator[str]:  # pragma: no cover - convenience
        return iter(self.frames())


def open_bundle(path: str | Path, *, max_total_bytes: int = DEFAULT_MAX_TOTAL,
                max_file_bytes: int = DEFAULT_MAX_FILE) -> Bundle:
    """Open a bundle from a folder or a ``.zip``. Raises :class:`~kit.errors.BundleError` when it cannot be read
    at all (path missing, not a folder or zip, unsafe zip)."""
    p = Path(path)
    if p.is_dir():
        src: _Folder | _Zip = _Folder(p)
    elif p.is_file() and p.suffix.lower() == ".zip":
        src = _Zip(p, max_total_bytes, max_file_bytes)
    elif p.is_file():
        raise BundleError(f"{p}: not a folder or a .zip; to parse one file use `vmkit parse {p}`")
    else:
        raise BundleError(f"{p}: no such folder or file")
    return Bundle(p, src, max_file_bytes=max_file_bytes)


__all__ = ["INVENTORY", "MISSING", "Bundle", "open_bundle"]
