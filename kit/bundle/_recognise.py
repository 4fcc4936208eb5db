"""How a bundle recognises its files: the manifest, layout paths, content sniffing, extension identity,
and the manifest's checksums (a mixin of :class:`kit.bundle.Bundle`)."""

from __future__ import annotations

from typing import Any

from .. import parse as _parse
from ..errors import UnsafeArchiveError
from ..parse import _identity
from ..parse.base import SNIFF_BYTES
from ..textio import decode
from ._files import (
    _File,
    _human,
    _identity_path,
)
from .manifest import entry_kind, read_failure, read_manifest, size_or_hash_mismatch
from .sources import TooLarge


class _Recognition:
    """Recognising files (see :mod:`kit.bundle`, *Recognising files*)."""

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
            self._unreadable(f, exc)
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
        ambiguous: set[str] = set()
        for f in files:
            if f.artifact == "handler_env" or f.path.lower().endswith("handlerenvironment.json"):
                text = self._head_text(f)
                ext, ver = _identity.from_handler_environment(text) if text else (None, None)
                if ext is not None:
                    folder = f.path.rsplit("/", 1)[0] if "/" in f.path else ""
                    seen = folder_ids.setdefault(folder, (ext, ver))
                    if (seen[0].lower(), seen[1]) != (ext.lower(), ver):
                        ambiguous.add(folder)  # two extensions' HandlerEnvironment.json in one folder (a copy
                        # renamed "HandlerEnvironment - Copy.json"): it says nothing about the other files there
        for folder in ambiguous:
            del folder_ids[folder]
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

    def _unreadable(self, f: _File, exc: BaseException) -> None:
        f.status = "failed"
        f.notes.append(f"could not be read: {exc}")
        self._issue(f.source, *read_failure(f.source, exc, f.size))  # a damaged zip entry is worded as such

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
                self._unreadable(f, exc)
                continue
            f.sha256_ok = f.sha256.lower() == str(expected).lower()
            if not f.sha256_ok:
                self._issue(f.source, *size_or_hash_mismatch(a, f.sha256, f.size))
