"""Extension status files: ``C/Packages/Plugins/<ext>/<ver>/Status/<n>.status`` (formats doc §6.1).

A top-level JSON array; each element has ``version``, ``timestampUTC`` (7 fractional digits) and ``status``
{name, operation, status (transitioning|error|success|warning), code, formattedMessage{lang,message},
substatus[...]}. Some handlers write ``message{id, params}`` instead of ``formattedMessage``.
"""

from __future__ import annotations

import re

import pandas as pd

from ..schema import LINE, SOURCE, Col, FrameSchema
from ._jsonutil import as_list, get, load, looks_like, plugin_from_path, to_int
from .base import ParseResult

NAME = "ext_status"
DESCRIPTION = "Extension handler status files (Status/<n>.status)."
PATTERNS = ("c/packages/plugins/*/*/status/*.status",)

_EXIT = re.compile(r"non-zero exit code of: '(-?\d+)'|exited with code:? (-?\d+)|exit code:? (-?\d+)", re.IGNORECASE)
_EXT = (Col("extension", "str", "Publisher.Type from the path."),
        Col("ext_version", "str", "Handler version from the path."),
        Col("seq", "Int64", "Sequence number from the file name."))

EXT_STATUS = FrameSchema(
    "ext_status",
    "One row per status entry of each extension status file.",
    (SOURCE, LINE, *_EXT,
     Col("status_version", "str", "The entry's `version` as written (\"1\", 1, 1.0)."),
     Col("timestamp", "datetime", "timestampUTC."),
     Col("name", "str", "status.name (e.g. SecureCommand_2)."),
     Col("operation", "str", "status.operation (e.g. Command Execution Finished, Enable)."),
     Col("status", "category", "transitioning, error, success or warning (lower-cased as written)."),
     Col("code", "Int64", "status.code."),
     Col("message", "str", "formattedMessage.message (or message.id with params)."),
     Col("configuration_applied_time", "datetime", "status.configurationAppliedTime, when present."),
     Col("substatus_count", "Int64", "Number of substatus entries."),
     Col("exit_code", "Int64", "Script exit code found in the message, when there is one."),
     Col("damaged", "bool", "The file could not be read cleanly.", False),
     Col("damage", "str", "Why.")),
)
EXT_SUBSTATUS = FrameSchema(
    "ext_substatus",
    "One row per substatus (StdOut, StdErr, ...) of each status entry.",
    (SOURCE, LINE, *_EXT,
     Col("parent_name", "str", "status.name of the entry."),
     Col("name", "str", "Substatus name (StdOut, StdErr, ...)."),
     Col("status", "category", "Substatus status."),
     Col("code", "Int64", "Substatus code."),
     Col("message", "str", "formattedMessage.message (StdErr/StdOut text for script extensions).")),
)
FRAMES = {"ext_status": EXT_STATUS, "ext_substatus": EXT_SUBSTATUS}


def sniff(head: str) -> bool:
    return looks_like(head, "timestampUTC", "status") and '"runtimesettings"' not in head.lower()


def _message(obj: dict) -> str | None:
    m = get(obj, "formattedMessage", "message")
    if m is not None:
        return str(m)
    msg = get(obj, "message")
    if isinstance(msg, dict):
        ident = get(msg, "id")
        params = get(msg, "params")
        return f"{ident} {params}" if params else (str(ident) if ident is not None else None)
    return str(msg) if msg is not None else None


def _exit_code(msg: str | None) -> int | None:
    if not msg:
        return None
    m = _EXIT.search(msg)
    return int(next(g for g in m.groups() if g is not None)) if m else None


def parse(text: str, *, source: str) -> ParseResult:
    ext, ver, seq = plugin_from_path(source)
    data, issues = load(text, source=source, parser=NAME)
    base = {"source": source, "line": None, "extension": ext, "ext_version": ver, "seq": seq}
    rows, subs = [], []
    damaged = bool(issues)
    for entry in as_list(data):
        if not isinstance(entry, dict):
            continue
        st = get(entry, "status") or {}
        msg = _message(st)
        sub = as_list(get(st, "substatus"))
        status = get(st, "status")
        rows.append({**base, "status_version": None if get(entry, "version") is None else str(get(entry, "version")),
                     "timestamp": get(entry, "timestampUTC"), "name": get(st, "name"),
                     "operation": get(st, "operation"), "status": str(status).lower() if status else None,
                     "code": to_int(get(st, "code")), "message": msg,
                     "configuration_applied_time": get(st, "configurationAppliedTime"),
                     "substatus_count": len(sub), "exit_code": _exit_code(msg),
                     "damaged": damaged, "damage": issues[0].message if damaged else None})
        for s in sub:
            if isinstance(s, dict):
                subs.append({**base, "parent_name": get(st, "name"), "name": get(s, "name"),
                             "status": str(get(s, "status")).lower() if get(s, "status") else None,
                             "code": to_int(get(s, "code")), "message": _message(s)})
    if not rows and damaged:
        rows.append({**base, "damaged": True, "damage": issues[0].message})
    for r in rows:
        for k in ("timestamp", "configuration_applied_time"):
            r[k] = pd.to_datetime(r.get(k), utc=True, errors="coerce") if r.get(k) else None
    return ParseResult({"ext_status": EXT_STATUS.from_records(rows), "ext_substatus": EXT_SUBSTATUS.from_records(subs)},
                       issues)
