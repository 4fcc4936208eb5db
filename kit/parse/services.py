"""The kit's ``commands/services.json``: the agent services (docs/bundle-format.md).

One object per service (``WindowsAzureGuestAgent``, ``RdAgent``, ``WindowsAzureTelemetryService``), or a lone object.
``Status`` / ``StartType`` are enumeration names; the integers a plain ``ConvertTo-Json`` writes
(ServiceControllerStatus 1-7, ServiceStartMode 0-4) are mapped to the same names. A service that does not exist
has ``"Status": "NotFound"`` and nulls elsewhere (``exists`` False).
"""

from __future__ import annotations

import json

from ..schema import LINE, SOURCE, Col, FrameSchema
from ._jsonutil import get, to_int
from .base import ParseIssue, ParseResult
from .tcp_probes import load_objects

NAME = "services"
DESCRIPTION = "Agent services (commands/services.json)."
PATTERNS = ("commands/services.json",)

SERVICES = FrameSchema(
    "services",
    "One row per agent service (WindowsAzureGuestAgent, RdAgent, WindowsAzureTelemetryService).",
    (SOURCE, LINE, Col("name", "str", "Service name.", False), Col("display_name", "str", "Display name."),
     Col("status", "str", "Running, Stopped, StartPending, StopPending, ... or NotFound."),
     Col("start_type", "str", "Automatic, Manual, Disabled."), Col("process_id", "Int64", "Process id."),
     Col("path_name", "str", "Executable path."), Col("file_version", "str", "File version of the executable."),
     Col("exists", "bool", "The service exists on the VM.", False)),
)
FRAMES = {NAME: SERVICES}

_STATUS = {"1": "Stopped", "2": "StartPending", "3": "StopPending", "4": "Running", "5": "ContinuePending",
           "6": "PausePending", "7": "Paused"}
_START = {"0": "Boot", "1": "System", "2": "Automatic", "3": "Manual", "4": "Disabled"}


def sniff(head: str) -> bool:
    return '"Name"' in head and '"Status"' in head and ('"StartType"' in head or '"PathName"' in head)


def _text(v: object) -> str | None:
    return None if v is None or (isinstance(v, str) and not v.strip()) else str(v)


def parse(text: str, *, source: str) -> ParseResult:
    items, issues = load_objects(text, source=source, parser=NAME)
    rows = []
    for i, o in enumerate(items):
        name = _text(get(o, "Name")) if isinstance(o, dict) else None
        if name is None:
            issues.append(ParseIssue(source, None, "unexpected-shape", f"item {i}: expected a service object with a "
                                     f"Name; found {json.dumps(o)[:120]}", text=json.dumps(o)[:300], parser=NAME))
            continue
        status = _text(get(o, "Status"))
        status = _STATUS.get(status, status) if status is not None else None
        start = _text(get(o, "StartType"))
        start = _START.get(start, start) if start is not None else None
        rows.append({"source": source, "line": None, "name": name, "display_name": _text(get(o, "DisplayName")),
                     "status": status, "start_type": start, "process_id": to_int(get(o, "ProcessId")),
                     "path_name": _text(get(o, "PathName")), "file_version": _text(get(o, "FileVersion")),
                     "exists": (status or "").lower() != "notfound"})
    return ParseResult({NAME: SERVICES.from_records(rows)}, issues)
