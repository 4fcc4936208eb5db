"""The agent services, in every shape a services artifact takes (docs/bundle-format.md, "services").

JSON shapes read here (one object, or an array of them, UTF-8 or UTF-16 as PowerShell 5.1's ``>`` writes it):

* ``kit-json`` - the kit's own ``commands/services.json``: ``Name``, ``DisplayName``, ``Status``, ``StartType``,
  ``ProcessId``, ``PathName``, ``FileVersion``; a service that does not exist has ``"Status": "NotFound"``.
* ``get-service-json`` - ``Get-Service | ConvertTo-Json``. Windows PowerShell 5.1 writes the .NET enums as integers
  (``Status`` ServiceControllerStatus 1 Stopped .. 4 Running .. 7 Paused; ``StartType`` ServiceStartMode 0 Boot,
  1 System, 2 Automatic, 3 Manual, 4 Disabled) and the service name twice (``ServiceName`` and, last, ``Name``);
  PowerShell 7 adds ``UserName``, ``Description``, ``DelayedAutoStart``, ``BinaryPathName`` and ``StartupType``
  (ServiceStartupType: 2 Automatic, 3 Manual, 4 Disabled, 10 AutomaticDelayedStart, -1 InvalidValue) and writes
  enum names with ``-EnumsAsStrings``. Names and integers are both read.
* ``win32_service-json`` - ``Get-CimInstance Win32_Service | ConvertTo-Json`` (or ``Get-WmiObject``): ``State``
  (``Running``, ``Stopped``, ``Start Pending``, ...), ``StartMode`` (``Auto``, ``Manual``, ``Disabled``, ``Boot``,
  ``System``), ``ProcessId``, ``PathName``. Its ``Status`` is the WMI health (``OK``, ``Degraded``), not the service
  state, and is never read as one. The CIM noise (``CimClass``, ``CimInstanceProperties``,
  ``CimSystemProperties``, ``PSComputerName``) is ignored.

Text shapes are read by :mod:`kit.parse.services_text` (Format-List / Format-Table of Get-Service and
Win32_Service) and :mod:`kit.parse.sc_query` (``sc query`` / ``sc queryex`` / ``sc qc``, any language); all three
fill the same ``services`` frame (:data:`SERVICES`). A file recognised by one of the three whose content is another
shape (Format-List text saved as ``services.json``) is handed to the parser of that shape.

Values are normalised to the names the rules know (:data:`STATUSES`, :data:`START_TYPES`). A value outside those is
kept as written, with an ``unknown-value`` issue naming the file, the service and the field; a missing one stays NA
with a ``missing-field`` issue. Neither is ever guessed.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..schema import LINE, SOURCE, Col, FrameSchema
from ._jsonutil import get, to_int
from .base import ParseIssue, ParseResult
from .tcp_probes import load_objects

NAME = "services"
DESCRIPTION = "Agent services (commands/services.json: the kit's, Get-Service or Win32_Service ConvertTo-Json)."
PATTERNS = ("commands/services.json",)

#: Where each row came from (the ``shape`` column).
SHAPES = ("kit-json", "get-service-json", "win32_service-json", "get-service-list", "get-service-table",
          "win32_service-list", "win32_service-table", "sc-query", "sc-queryex", "sc-qc")

SERVICES = FrameSchema(
    "services",
    "One row per agent service (WindowsAzureGuestAgent, RdAgent, WindowsAzureTelemetryService), from any services "
    "artifact: the kit's services.json, Get-Service or Win32_Service JSON, their Format-List/Format-Table text, or "
    "sc query/queryex/qc output in any language.",
    (SOURCE, LINE, Col("name", "str", "Service name.", False), Col("display_name", "str", "Display name."),
     Col("status", "str", "Running, Stopped, StartPending, StopPending, ContinuePending, PausePending, Paused or "
         "NotFound; an unfamiliar value is kept as written (and reported as an issue); NA when the shape has none "
         "(sc qc, a Get-Service list without Status)."),
     Col("start_type", "str", "Boot, System, Automatic, Manual, Disabled; unfamiliar values kept as written; NA "
         "when the shape has none (sc query, the default Get-Service views)."),
     Col("process_id", "Int64", "Process id."),
     Col("path_name", "str", "Executable path."), Col("file_version", "str", "File version of the executable."),
     Col("exists", "bool", "The service exists on the VM (False only for an explicit NotFound / sc error 1060).",
         False),
     Col("shape", "category", "Which shape the row was read from: " + ", ".join(f"`{s}`" for s in SHAPES) +
         " (sc rows merged from several commands join theirs with `+`).", False)),
)
FRAMES = {NAME: SERVICES}

#: Status values the rules decide from (ServiceControllerStatus names, plus NotFound).
STATUSES = ("Stopped", "StartPending", "StopPending", "Running", "ContinuePending", "PausePending", "Paused",
            "NotFound")
#: Start types (ServiceStartMode names).
START_TYPES = ("Boot", "System", "Automatic", "Manual", "Disabled")

#: ServiceControllerStatus / SERVICE_STATUS.dwCurrentState codes (the same numbers sc prints).
STATUS_CODES = {1: "Stopped", 2: "StartPending", 3: "StopPending", 4: "Running", 5: "ContinuePending",
                6: "PausePending", 7: "Paused"}
#: ServiceStartMode / SERVICE_*_START codes (sc qc prints the same numbers); 10 is PowerShell 7's
#: ServiceStartupType.AutomaticDelayedStart.
START_CODES = {0: "Boot", 1: "System", 2: "Automatic", 3: "Manual", 4: "Disabled", 10: "Automatic"}

_STATUS_WORDS = {re.sub(r"[\s_]", "", s).lower(): s for s in STATUSES}
_START_WORDS = {
    "boot": "Boot", "bootstart": "Boot", "system": "System", "systemstart": "System",
    "automatic": "Automatic", "auto": "Automatic", "autostart": "Automatic", "automaticdelayedstart": "Automatic",
    "manual": "Manual", "demandstart": "Manual", "disabled": "Disabled",
}


def _word(v: str) -> str:
    return re.sub(r"[\s_]", "", v).lower()


def norm_status(value: object) -> tuple[str | None, bool]:
    """(status, known): an enum name in any spelling (``Running``, ``Start Pending``, ``START_PENDING``) or its
    ServiceControllerStatus number becomes the name; anything else is returned as written with known=False."""
    text = _text(value)
    if text is None:
        return None, True
    code = to_int(text) if re.fullmatch(r"-?\d+", text) else None
    if code is not None:
        return (STATUS_CODES[code], True) if code in STATUS_CODES else (text, False)
    hit = _STATUS_WORDS.get(_word(text))
    return (hit, True) if hit else (text, False)


def norm_start(value: object) -> tuple[str | None, bool]:
    """(start_type, known), as :func:`norm_status` for ServiceStartMode / StartMode / sc START_TYPE values."""
    text = _text(value)
    if text is None:
        return None, True
    code = to_int(text) if re.fullmatch(r"-?\d+", text) else None
    if code is not None:
        return (START_CODES[code], True) if code in START_CODES else (text, False)
    hit = _START_WORDS.get(_word(text))
    return (hit, True) if hit else (text, False)


def sniff(head: str) -> bool:
    h = head.lstrip("\ufeff \t\r\n")
    if not h.startswith(("{", "[")):
        return False
    if not re.search(r'"(?:Name|ServiceName)"\s*:', h):
        return False
    return (re.search(r'"Status"\s*:', h) is not None and re.search(r'"(?:StartType|PathName|ServiceType|'
                                                                    r'CanStop|ServiceHandle)"\s*:', h) is not None) \
        or (re.search(r'"State"\s*:', h) is not None and re.search(r'"StartMode"\s*:', h) is not None)


def _text(v: object) -> str | None:
    if v is None or isinstance(v, (dict, list)):
        return None
    if isinstance(v, bool):
        return str(v)
    s = str(v).strip()
    return s or None


def object_shape(o: dict[str, Any]) -> str:
    """Which JSON/list shape a service object (a parsed JSON object or a Format-List record) has."""
    keys = {str(k).lower() for k in o}
    if keys & {"state", "startmode", "cimclass", "ciminstanceproperties", "__class"}:
        return "win32_service"
    if keys & {"canpauseandcontinue", "canstop", "servicehandle", "servicesdependedon", "machinename",
               "servicename", "startuptype", "binarypathname", "dependentservices", "servicetype"}:
        return "get-service"
    return "kit"


def row_from_object(o: dict[str, Any], *, source: str, line: int | None, shape: str, where: str, parser: str,
                    issues: list[ParseIssue]) -> dict[str, Any] | None:
    """One frame row from a service object (JSON or a Format-List/Format-Table record), or None (with an issue)
    when it names no service. ``where`` locates the object in its file for the issues ("item 2", "line 14")."""
    name = _text(get(o, "Name")) or _text(get(o, "ServiceName"))
    if name is None:
        issues.append(ParseIssue(source, line, "unexpected-shape", f"{where}: expected a service with a Name (or "
                                 f"ServiceName); found {_show(o)}", text=_show(o, 300), parser=parser))
        return None
    kind = shape.split("-")[0]
    if kind == "win32_service":
        status_field, start_fields = "State", ("StartMode",)
    else:
        status_field, start_fields = "Status", ("StartType", "StartupType")
    raw_status = get(o, status_field)
    status, ok = norm_status(raw_status)
    if raw_status is None or _text(raw_status) is None:
        if _has(o, status_field) or shape.endswith("json"):
            issues.append(ParseIssue(source, line, "missing-field", f"{where} ({name}): expected a {status_field} "
                                     "value, found none; the service state is unknown", parser=parser))
    elif not ok:
        issues.append(ParseIssue(source, line, "unknown-value", f"{where} ({name}): expected {status_field} to be "
                                 f"one of {', '.join(STATUSES[:-1])} or its number 1-7, found {status!r}; kept as "
                                 "written", text=str(raw_status)[:300], parser=parser))
    start: str | None = None
    for field in start_fields:
        raw_start = get(o, field)
        if _text(raw_start) is None:
            continue
        start, ok = norm_start(raw_start)
        if not ok:
            issues.append(ParseIssue(source, line, "unknown-value", f"{where} ({name}): expected {field} to be one "
                                     f"of {', '.join(START_TYPES)} (or Auto, or its number), found {start!r}; kept as "
                                     "written", text=str(raw_start)[:300], parser=parser))
        break
    path = _text(get(o, "PathName")) or _text(get(o, "BinaryPathName"))
    return {"source": source, "line": line, "name": name, "display_name": _text(get(o, "DisplayName")),
            "status": status, "start_type": start, "process_id": to_int(_text(get(o, "ProcessId"))),
            "path_name": path, "file_version": _text(get(o, "FileVersion")),
            "exists": (status or "").lower() != "notfound", "shape": shape}


def _has(o: dict[str, Any], key: str) -> bool:
    low = key.lower()
    return any(isinstance(k, str) and k.lower() == low for k in o)


def _show(o: object, limit: int = 120) -> str:
    try:
        return json.dumps(o, default=str)[:limit]
    except (TypeError, ValueError):
        return str(o)[:limit]


def parse(text: str, *, source: str) -> ParseResult:
    body = text.lstrip("\ufeff \t\r\n")
    if body and not body.startswith(("{", "[")):
        other = dispatch(text, source=source, exclude=NAME)
        if other is not None:
            return other
    items, issues = load_objects(text, source=source, parser=NAME)
    rows = []
    for i, o in enumerate(items):
        if not isinstance(o, dict):
            issues.append(ParseIssue(source, None, "unexpected-shape", f"item {i}: expected a service object; "
                                     f"found {_show(o)}", text=_show(o, 300), parser=NAME))
            continue
        shape = object_shape(o) + "-json"
        row = row_from_object(o, source=source, line=None, shape=shape, where=f"item {i}", parser=NAME,
                              issues=issues)
        if row is not None:
            rows.append(row)
    return ParseResult({NAME: SERVICES.from_records(rows)}, issues)


def dispatch(text: str, *, source: str, exclude: str) -> ParseResult | None:
    """Parse ``text`` with whichever services parser recognises its content (other than ``exclude``), noting the
    hand-over as an issue-free redirect; None when none does."""
    from . import sc_query, services_text

    for mod in (sc_query, services_text):
        if exclude != mod.NAME and mod.sniff(text[:65536]):
            return mod.parse(text, source=source)
    if exclude != NAME and sniff(text[:65536]):
        return parse(text, source=source)
    return None
