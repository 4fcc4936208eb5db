"""The kit's ``commands/services.json``: the agent services (docs/bundle-format.md)."""

from __future__ import annotations

from ..schema import LINE, SOURCE, Col, FrameSchema
from ._jsonutil import as_list, get, load, to_int
from .base import ParseResult

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


def parse(text: str, *, source: str) -> ParseResult:
    data, issues = load(text, source=source, parser=NAME)
    rows = []
    for o in as_list(data):
        if not get(o, "Name"):
            continue
        status = get(o, "Status")
        status = _STATUS.get(str(status), status)
        start = get(o, "StartType")
        start = _START.get(str(start), start)
        rows.append({"source": source, "line": None, "name": get(o, "Name"), "display_name": get(o, "DisplayName"),
                     "status": None if status is None else str(status),
                     "start_type": None if start is None else str(start), "process_id": to_int(get(o, "ProcessId")),
                     "path_name": get(o, "PathName"), "file_version": get(o, "FileVersion"),
                     "exists": str(status) != "NotFound"})
    return ParseResult({NAME: SERVICES.from_records(rows)}, issues)
