"""The :class:`Bundle` (one VM's artifacts as typed frames) and :func:`open_bundle`; see :mod:`kit.bundle`."""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd

from .. import parse as _parse
from .. import redact as _redact
from ..derive import DERIVED, derive
from ..errors import BundleError, SchemaError, UnsafeArchiveError
from ..parse.base import ISSUES, ParseIssue
from ..schema import LOST_VALUES, FrameSchema
from ..textio import decode
from ._files import (
    _BENIGN_DECODE,
    _CONSOLE_OUTPUT,
    _USABLE,
    _File,
    _typed,
)
from ._recognise import _Recognition
from ._views import _Views
from .layout import META_FILES, Layout, detect_layout, find_root, map_path
from .manifest import collection_state, decode_recorded, parse_collected_at
from .safezip import DEFAULT_MAX_FILE, DEFAULT_MAX_TOTAL
from .sources import FolderSource, Source, TooLarge, ZipSource


class Bundle(_Recognition, _Views):
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
        self._schemas_cache: dict[str, FrameSchema] | None = None

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
        for where, what in getattr(source, "damage", []):  # a zip cut short: what was recovered, what was not
            self._issue(where, "zip-damaged", what)
        self._files.sort(key=lambda f: f.path)
        self._classify()
        self._assign_identity()
        self._check_manifest(entries, root_files.get("manifest.json", "manifest.json"))
        # issue 18: a collection the manifest says is partial, or whose steps failed or hung
        self._collection = collection_state(self.manifest, root_files.get("manifest.json", "manifest.json"),
                                            present={f.rel.lower() for f in self._files})
        #: True when the kit manifest says the collection did not finish (see Bundle.issues for what is missing)
        self.partial: bool = self._collection.partial
        #: One line on a collection that did not finish or whose steps failed ("partial collection: 9 step(s) never
        #: ran: ..."), from the kit manifest; None for a complete one or a bundle without a kit manifest.
        self.collection_summary: str | None = self._collection.summary
        self._bundle_issues += self._collection.issues
        for f in self._files:
            if self._collection.summary and f.status == "meta" and f.rel.lower() == "manifest.json":
                f.notes.append(self._collection.summary)

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
        if getattr(self, "_schemas_cache", None) is None:  # every parser is imported (or known broken) after one call
            out: dict[str, FrameSchema] = {ISSUES.name: ISSUES}
            for kind in _parse.PARSERS:
                mod = self._module(kind)
                if mod is not None:
                    out.update(mod.FRAMES)
            self._schemas_cache = out
        return dict(self._schemas_cache)

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
            self._unreadable(f, exc)
            return
        f.size = len(data)
        if f.sha256 is None:
            f.sha256 = hashlib.sha256(data).hexdigest()
        if getattr(module, "BINARY", False):  # .evtx: the parser takes the bytes as they are
            f.encoding = "binary"
            self._run_parser(f, kind, module, [], lambda d=data: module.parse_bytes(d, source=f.source))
            return
        dec = decode_recorded(data, f.entry) or decode(data, hint="oem" if kind in _CONSOLE_OUTPUT else None)
        del data  # the text is all the parser needs: a big log is not held twice while it is parsed
        if "recorded by the collector" in dec.how:  # issue 18: the console code page from manifest.json
            f.notes.append(dec.how)
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
        return schema.concat(nonempty)  # categories may differ between files

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

    def close(self) -> None:
        """Close the zip (if any). Frames already built stay available."""
        self._src.close()

    def __enter__(self) -> Bundle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
