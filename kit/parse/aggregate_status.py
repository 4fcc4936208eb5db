"""C:\\WindowsAzure\\Logs\\AggregateStatus\\aggregatestatus*.json: the agent's status report (formats doc §6.3).

Field paths as vmassist.ps1 reads them: ``aggregateStatus.guestAgentStatus.{version,status,formattedMessage}``
and ``aggregateStatus.handlerAggregateStatus[]``. Key casing varies (``handlerName`` / ``handlername``); the
file may be NUL-padded (removed when decoding). Snapshots are named ``aggregatestatus_yyyyMMddHHmmssfff.json``.
"""

from __future__ import annotations

import re

import pandas as pd

from ..schema import LINE, SOURCE, Col, FrameSchema
from ._jsonutil import as_list, get, load, looks_like, to_int
from .base import ParseResult

NAME = "aggregate_status"
DESCRIPTION = "The guest agent's aggregate status JSON."
PATTERNS = ("c/windowsazure/logs/aggregatestatus/aggregatestatus*.json",)
_SNAP = re.compile(r"aggregatestatus_(\d{17})\.json$", re.IGNORECASE)

_SNAPSHOT = (Col("snapshot_time", "datetime", "From the file name (aggregatestatus_yyyyMMddHHmmssfff.json), else the "
                 "document's timestampUTC."),)
AGENT_STATUS = FrameSchema(
    "agent_status",
    "One row per aggregate status file: the guest agent's own status.",
    (SOURCE, LINE, *_SNAPSHOT,
     Col("file_time_from_name", "bool", "snapshot_time came from the file name.", False),
     Col("agent_version", "str", "guestAgentStatus.version."),
     Col("agent_status", "str", "guestAgentStatus.status (Ready, NotReady)."),
     Col("agent_message", "str", "guestAgentStatus.formattedMessage.message."),
     Col("upload_method", "str", "guestAgentStatus.lastStatusUploadMethod."),
     Col("last_upload_time", "datetime", "guestAgentStatus.lastStatusUploadTime.")),
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
     Col("settings_time", "datetime", "...settingsStatus.timestampUTC.")),
)
FRAMES = {"agent_status": AGENT_STATUS, "handler_status": HANDLER_STATUS}


def sniff(head: str) -> bool:
    return looks_like(head, "aggregateStatus")


def _ts(v: object) -> pd.Timestamp | None:
    return pd.to_datetime(v, utc=True, errors="coerce") if v else None


def parse(text: str, *, source: str) -> ParseResult:
    data, issues = load(text, source=source, parser=NAME)
    m = _SNAP.search(source)
    from_name = m is not None
    snap = pd.to_datetime(m.group(1)[:14], format="%Y%m%d%H%M%S", utc=True) + pd.Timedelta(
        milliseconds=int(m.group(1)[14:])) if m else _ts(get(data, "timestampUTC"))
    agg = get(data, "aggregateStatus") or {}
    ga = get(agg, "guestAgentStatus") or {}
    agents = [{"source": source, "line": None, "snapshot_time": snap, "file_time_from_name": from_name,
               "agent_version": get(ga, "version"), "agent_status": get(ga, "status"),
               "agent_message": get(ga, "formattedMessage", "message"),
               "upload_method": get(ga, "lastStatusUploadMethod"),
               "last_upload_time": _ts(get(ga, "lastStatusUploadTime"))}] if isinstance(data, dict) else []
    handlers = []
    for h in as_list(get(agg, "handlerAggregateStatus")):
        if not isinstance(h, dict):
            continue
        rs = get(h, "runtimeSettingsStatus") or {}
        ss = get(rs, "settingsStatus") or {}
        st = get(ss, "status") or {}
        sst = get(st, "status")
        handlers.append({"source": source, "line": None, "snapshot_time": snap, "handler_name": get(h, "handlerName"),
                         "handler_version": get(h, "handlerVersion"), "handler_status": get(h, "status"),
                         "handler_code": to_int(get(h, "code")),
                         "handler_message": get(h, "formattedMessage", "message"),
                         "seq": to_int(get(rs, "sequenceNumber")),
                         "settings_status": str(sst).lower() if sst else None,
                         "settings_operation": get(st, "operation"), "settings_code": to_int(get(st, "code")),
                         "settings_message": get(st, "formattedMessage", "message"),
                         "settings_time": _ts(get(ss, "timestampUTC"))})
    return ParseResult({"agent_status": AGENT_STATUS.from_records(agents),
                        "handler_status": HANDLER_STATUS.from_records(handlers)}, issues)
