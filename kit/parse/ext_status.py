"""Extension status files: ``C/Packages/Plugins/<ext>/<ver>/Status/<n>.status`` (formats doc §6.1).

A top-level JSON array; each element has ``version``, ``timestampUTC`` (7 fractional digits) and ``status``
{name, operation, status (transitioning|error|success|warning), code, formattedMessage{lang,message},
substatus[...]}. Some handlers write ``message{id, params}`` instead of ``formattedMessage``.
"""

from __future__ import annotations

import re

from ..schema import LINE, SOURCE, Col, FrameSchema
from ._jsonutil import as_list, get, load, plugin_from_path, to_int, to_utc
from .base import ParseIssue, ParseResult

NAME = "ext_status"
DESCRIPTION = "Extension handler status files (Status/<n>.status)."
PATTERNS = ("c/packages/plugins/*/*/status/*.status",)

#: Exit codes in status messages: Windows CSE (formats doc §6.1), RunCommand (§3.1 "Command exited with code: 0",
#: "finished with exit code: 0"), Linux handlers ("Non-zero exit code: 14", "exit status=50").
_EXIT = re.compile(r"non-zero exit code of: '(-?\d+)'|exited with code:? (-?\d+)|exit code:? (-?\d+)"
                   r"|exit status[= ](-?\d+)", re.IGNORECASE)
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
    """A top-level array whose first object has ``timestampUTC`` and ``status`` (a lone object too: PowerShell
    writes one for a one-element array). Aggregate status and runtime settings are excluded by their keys."""
    h = head.lstrip("\ufeff \t\r\n")
    if h.startswith("["):
        h = h[1:].lstrip(" \t\r\n")
    if not h.startswith("{"):
        return False
    low = h[:4096].lower()
    if any(k in low for k in ('"aggregatestatus"', '"runtimesettings"', '"handleraggregatestatus"')):
        return False
    return '"timestamputc"' in low and re.search(r'"status"\s*:\s*\{', low) is not None


def _message(obj: dict) -> str | None:
    """formattedMessage.message; else the localisable ``message{id, params}`` form rendered as text."""
    m = get(obj, "formattedMessage", "message")
    if m is not None:
        return str(m)
    msg = get(obj, "message")
    if isinstance(msg, dict):
        ident = get(msg, "id")
        params = [str(p) for p in as_list(get(msg, "params"))]
        if ident is None:
            return ", ".join(params) or None
        ident = str(ident)
        if params and "{0}" in ident:
            try:
                return ident.format(*params)
            except (IndexError, KeyError, ValueError):
                pass
        return f"{ident}: {', '.join(params)}" if params else ident
    return str(msg) if msg is not None else None


def _exit_code(msg: str | None) -> int | None:
    if not msg:
        return None
    m = _EXIT.search(msg)
    return int(next(g for g in m.groups() if g is not None)) if m else None


def parse_code(value: object) -> tuple[int | None, bool]:
    """A status code as written: 0, "1", "-2147024891", "0x80070005". ``(code or None, ok)``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, True
    n = to_int(value)
    if n is not None:
        return n, True
    if isinstance(value, str):
        try:
            return int(value.strip(), 16 if value.strip().lower().startswith("0x") else 10), True
        except ValueError:
            pass
    return None, False


def parse(text: str, *, source: str) -> ParseResult:
    ext, ver, seq = plugin_from_path(source)
    data, issues = load(text, source=source, parser=NAME, partial=True)
    base = {"source": source, "line": None, "extension": ext, "ext_version": ver, "seq": seq}
    file_damage = [i.message for i in issues]
    rows, subs = [], []
    entries = [e for e in as_list(data) if isinstance(e, dict)]
    for entry in entries:
        damage = list(file_damage)
        st = get(entry, "status")
        st = st if isinstance(st, dict) else {}
        if not st:
            damage.append("the entry has no status object")
            if not file_damage:
                issues.append(ParseIssue(source, None, "unexpected-shape", "expected each entry to hold a status "
                                         "object ({\"status\": {\"status\": ..., \"code\": ...}}), found keys "
                                         + (", ".join(str(k) for k in list(entry)[:10]) or "none"), parser=NAME))
        msg = _message(st)
        sub = [s for s in as_list(get(st, "substatus")) if isinstance(s, dict)]
        status = get(st, "status")
        version = get(entry, "version")
        row = {**base, "status_version": None if version is None else str(version), "name": get(st, "name"),
               "operation": get(st, "operation"), "status": str(status).strip().lower() if status else None,
               "message": msg, "substatus_count": len(sub), "exit_code": _exit_code(msg)}
        for col, key, holder in (("timestamp", "timestampUTC", entry),
                                 ("configuration_applied_time", "configurationAppliedTime", st)):
            raw = get(holder, key)
            row[col], ok = to_utc(raw)
            if not ok:
                what = f"{key} {str(raw)[:60]!r} is not a time stamp"
                damage.append(what)
                issues.append(ParseIssue(source, None, "bad-timestamp", f"expected an ISO 8601 time stamp "
                                         f"(2021-01-02T23:56:55.6741325Z) in {key}, found {str(raw)[:60]!r}",
                                         text=str(raw), parser=NAME))
        row["code"], ok = parse_code(get(st, "code"))
        if not ok:
            issues.append(ParseIssue(source, None, "bad-value", f"expected an integer status.code, found "
                                     f"{str(get(st, 'code'))[:60]!r}", text=str(get(st, "code")), parser=NAME))
        rows.append({**row, "damaged": bool(damage), "damage": "; ".join(damage) if damage else None})
        for s in sub:
            code, _ = parse_code(get(s, "code"))
            sst = get(s, "status")
            subs.append({**base, "parent_name": get(st, "name"), "name": get(s, "name"),
                         "status": str(sst).strip().lower() if sst else None, "code": code, "message": _message(s)})
    if not rows:
        if not issues:
            found = ("an empty array" if data == [] else f"a JSON {type(data).__name__}" if data is not None
                     else "nothing")
            issues.append(ParseIssue(source, None, "unexpected-shape",
                                     f"expected a JSON array of status entries ({{\"version\", \"timestampUTC\", "
                                     f"\"status\"}}), found {found}", parser=NAME))
        rows.append({**base, "damaged": True, "damage": "; ".join(i.message for i in issues)})
    return ParseResult({"ext_status": EXT_STATUS.from_records(rows), "ext_substatus": EXT_SUBSTATUS.from_records(subs)},
                       issues)
