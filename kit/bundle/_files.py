"""The inventory's and missing list's schemas, a bundle file's record, and small helpers of the loader."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..parse import _identity
from ..schema import Col, FrameSchema

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
