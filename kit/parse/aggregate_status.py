"""C:\\WindowsAzure\\Logs\\AggregateStatus\\aggregatestatus*.json: the agent's status report (formats doc §6.3).

Field paths as vmassist.ps1 reads them: ``aggregateStatus.guestAgentStatus.{version,status,formattedMessage}``
and ``aggregateStatus.handlerAggregateStatus[]``. Key casing varies (``handlerName`` / ``handlername``); the
file may be NUL-padded (removed when decoding). Snapshots are named ``aggregatestatus_yyyyMMddHHmmssfff.json``.
"""

from __future__ import annotations

import re

import pandas as pd

from ..schema import LINE, SOURCE, Col, FrameSchema
from ._jsonutil import as_list, get, load, looks_like, to_int, to_utc
from .base import ParseIssue, ParseResult

NAME = "aggregate_status"
DESCRIPTION = "The guest agent's aggregate status JSON."
PATTERNS = ("c/windowsazure/logs/aggregatestatus/aggregatestatus*.json",)
_SNAP = re.compile(r"aggregatestatus_(\d{17})\.json$", re.IGNORECASE)

_SNAPSHOT = (Col("snapshot_time", "datetime", "From the file name (aggregatestatus_yyyyMMddHHmmssfff.json, read "
                 "as UTC like every zone-less agent time stamp), else the document's timestampUTC."),)
AGENT_STATUS = FrameSchema(
    "agent_status",
    "One row per aggregate status file: the guest agent's own status.",
    (SOURCE, LINE, *_SNAPSHOT,
     Col("file_time_from_name", "bool", "snapshot_time came from the file name.", False),
     Col("agent_version", "str", "guestAgentStatus.version."),
     Col("agent_status", "str", "guestAgentStatus.status (Ready, NotReady)."),
     Col("agent_message", "str", "guestAgentStatus.formattedMessage.message."),
     Col("upload_method", "str", "guestAgentStatus.lastStatusUploadMethod."),
     Col("last_upload_time", "datetime", "guestAgentStatus.lastStatusUploadTime."),
     Col("damaged", "bool", "The file could not be read cleanly (half-written JSON, no aggregateStatus).", False),
     Col("damage", "str", "Why.")),
)
HANDLER_STATUS = FrameSchema(
    "handler_status",
    "One row per handler in each aggregate status file.",
    (SOURCE, LINE, *_SNAPSHOT,
     Col("handler_name", "str", "handlerName."),
     Col("handler_version", "str", "handlerVersion."),
     Col("handler_status", "str", "status (Ready, NotReady, ...)."),
     Col("handler_code", "Int64", "code."),
     Col("handler_message", "str", "formattedMessage.message."),
     Col("seq", "Int64", "runtimeSettingsStatus.sequenceNumber."),
     Col("settings_status", "category", "runtimeSettingsStatus.settingsStatus.status.status."),
     Col("settings_operation", "str", "...status.operation."),
     Col("settings_code", "Int64", "...status.code."),
     Col("settings_message", "str", "...status.formattedMessage.message."),
     Col("settings_time", "datetime", "...settingsStatus.timestampUTC."),
     Col("damaged", "bool", "The file could not be read cleanly (the row may lack fields written after a cut).",
         False),
     Col("damage", "str", "Why.")),
)
FRAMES = {"agent_status": AGENT_STATUS, "handler_status": HANDLER_STATUS}


def sniff(head: str) -> bool:
    return looks_like(head, "aggregateStatus")


def _snapshot_from_name(source: str) -> pd.Timestamp | None:
    m = _SNAP.search(source)
    if m is None:
        return None
    try:
        return pd.to_datetime(m.group(1)[:14], format="%Y%m%d%H%M%S", utc=True) + pd.Timedelta(
            milliseconds=int(m.group(1)[14:]))
    except (ValueError, OverflowError):
        return None


def _text(v: object) -> str | None:
    return None if v is None else str(v)


def _message(obj: object) -> str | None:
    """formattedMessage.message; Linux HandlerStatus writes a plain ``message`` string instead (formats doc §6.1)."""
    m = get(obj, "formattedMessage", "message")
    if m is None and isinstance(get(obj, "message"), str):
        m = get(obj, "message")
    return _text(m)


def parse(text: str, *, source: str) -> ParseResult:
    data, issues = load(text, source=source, parser=NAME, partial=True)
    damage = [i.message for i in issues]

    def ts(value: object, field: str) -> pd.Timestamp | None:
        out, ok = to_utc(value)
        if not ok:
            issues.append(ParseIssue(source, None, "bad-timestamp", f"expected an ISO 8601 time stamp in {field}, "
                                     f"found {str(value)[:60]!r}", text=str(value), parser=NAME))
        return out

    snap = _snapshot_from_name(source)
    from_name = snap is not None
    if snap is None:
        snap = ts(get(data, "timestampUTC"), "timestampUTC")
    agg = get(data, "aggregateStatus")
    if not isinstance(agg, dict):
        if not issues:
            issues.append(ParseIssue(source, None, "unexpected-shape", "expected {\"aggregateStatus\": "
                                     "{\"guestAgentStatus\": ..., \"handlerAggregateStatus\": [...]}}, found "
                                     + ("no aggregateStatus object" if isinstance(data, dict)
                                        else f"a JSON {type(data).__name__}" if data is not None else "nothing"),
                                     parser=NAME))
            damage = [issues[-1].message]
        agg = {}
    ga = get(agg, "guestAgentStatus")
    ga = ga if isinstance(ga, dict) else {}
    common = {"source": source, "line": None, "snapshot_time": snap,
              "damaged": bool(damage), "damage": "; ".join(damage) or None}
    agents = [{**common, "file_time_from_name": from_name, "agent_version": _text(get(ga, "version")),
               "agent_status": _text(get(ga, "status")), "agent_message": _message(ga),
               "upload_method": _text(get(ga, "lastStatusUploadMethod")),
               "last_upload_time": ts(get(ga, "lastStatusUploadTime"), "guestAgentStatus.lastStatusUploadTime")}]
    handlers = []
    for h in as_list(get(agg, "handlerAggregateStatus")):
        if not isinstance(h, dict):
            continue
        rs = get(h, "runtimeSettingsStatus") or {}
        ss = get(rs, "settingsStatus") or {}
        st = get(ss, "status") or {}
        sst = get(st, "status")
        handlers.append({**common, "handler_name": _text(get(h, "handlerName")),
                         "handler_version": _text(get(h, "handlerVersion")), "handler_status": _text(get(h, "status")),
                         "handler_code": to_int(get(h, "code")), "handler_message": _message(h),
                         "seq": to_int(get(rs, "sequenceNumber")),
                         "settings_status": str(sst).strip().lower() if sst else None,
                         "settings_operation": _text(get(st, "operation")), "settings_code": to_int(get(st, "code")),
                         "settings_message": _message(st),
                         "settings_time": ts(get(ss, "timestampUTC"),
                                             "runtimeSettingsStatus.settingsStatus.timestampUTC")})
    return ParseResult({"agent_status": AGENT_STATUS.from_records(agents),
                        "handler_status": HANDLER_STATUS.from_records(handlers)}, issues)
