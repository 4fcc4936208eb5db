"""The ``events`` frame: Windows event-log records from any shape (``.evtx``, XML export, Event Viewer text), and
the one function that turns an event's fields into a row, so that every shape gives the same row.

An event's fields come from the record's ``System`` part (provider, event id, level, time created, record id,
channel, computer) and its ``EventData``/``UserData`` (named or positional values). The binary ``.evtx`` file and
the XML export hold no rendered message (Windows renders it on the reading machine from the provider's message
DLL), so the kit reads the *data* values, which are the same in every Windows language: a Service Control Manager
event names the service by its display name in ``param1`` and by its key name in ``Binary`` (UTF-16 LE hex).
Event Viewer's text form has the rendered message instead, in the VM's language; the kit reads the service or
application name from it only with the English message formats (formats doc §1.4, the CSS "Guest Agent Event Logs
Reference Guide" table) and says so.

``service`` is the service or program the event is about, when the event names one: the SCM's service (display
name), the faulting application of Application Error 1000 / .NET Runtime 1026, the file AppLocker or Code
Integrity blocked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ..schema import LINE, SOURCE, Col, FrameSchema

EVENTS = FrameSchema(
    "events",
    "One row per Windows event-log record, from `.evtx` files, XML exports (wevtutil qe /f:xml, Event Viewer "
    "\"Save as XML\", Get-WinEvent ToXml) and Event Viewer's text form. Rules read `provider`, `event_id` and "
    "the data values, which do not depend on the VM's language.",
    (
        SOURCE, LINE,
        Col("ts", "datetime", "TimeCreated. `.evtx` and XML carry UTC (SystemTime); Event Viewer text shows the "
            "VM's local time without a zone: read as written and flagged `ts_assumed_utc` (README, Time stamps)."),
        Col("ts_raw", "str", "The time exactly as written in the file."),
        Col("ts_assumed_utc", "bool", "The time had no zone and was read as UTC, unchanged.", False),
        Col("record_id", "Int64", "EventRecordID (per channel)."),
        Col("channel", "str", "Log name: System, Application, Windows Azure, Microsoft-Windows-AppLocker/EXE and "
            "DLL, ..."),
        Col("provider", "str", "Provider (event source): Service Control Manager, Application Error, .NET Runtime, "
            "Microsoft-Windows-AppLocker, ..."),
        Col("event_id", "Int64", "Event ID (without the qualifier bits)."),
        Col("level", "category", "Critical, Error, Warning, Information, Verbose (from the numeric level 1-5; "
            "0 is LogAlways, shown as Information as Event Viewer does)."),
        Col("computer", "str", "Computer name recorded with the event."),
        Col("service", "str", "The service or program the event is about, when it names one (SCM param1 or the "
            "key name in Binary; the faulting application; the blocked file)."),
        Col("service_key", "str", "The service's key name (e.g. WindowsAzureGuestAgent) for Service Control Manager "
            "events, decoded from the UTF-16 `Binary` data."),
        Col("message", "str", "The rendered message (Event Viewer text) or, for .evtx/XML, the data values as "
            "`name=value` pairs."),
        Col("data", "str", "EventData/UserData values as JSON (names as in the record; positional values as "
            "`Data1`, `Data2`, ...)."),
        Col("damaged", "bool", "The record could not be read whole; what could be read is kept.", False),
    ),
)

#: Numeric event levels (winmeta.xml): 0 LogAlways, 1 Critical, 2 Error, 3 Warning, 4 Informational, 5 Verbose.
LEVEL_NAMES = {0: "Information", 1: "Critical", 2: "Error", 3: "Warning", 4: "Information", 5: "Verbose"}
_LEVEL_WORDS = {"critical": "Critical", "error": "Error", "warning": "Warning", "information": "Information",
                "informational": "Information", "verbose": "Verbose"}

#: Providers whose data names the service a record is about, by how it is named.
SCM = "Service Control Manager"
_APP_NAME = re.compile(r"(?:^|\n)\s*Application:\s*(\S[^\r\n]*)")
_FAULTING_APP = re.compile(r"Faulting application name:\s*([^,\r\n]+)")
_SCM_MESSAGE_SERVICE = re.compile(
    r"^(?:The|A timeout was reached \(\d+ milliseconds\) while waiting for the) (.+?) service "
    r"(?:terminated|failed|entered|is marked|to connect|was)")


def level_name(v: object) -> str | None:
    """The level's name from a number (``2``) or a word (``Error``); None when unknown."""
    if v is None:
        return None
    s = str(v).strip()
    if s.isdigit():
        return LEVEL_NAMES.get(int(s))
    return _LEVEL_WORDS.get(s.lower())


def decode_binary_name(hexdata: object) -> str | None:
    """The UTF-16 LE text in an SCM event's ``Binary`` data (the service key name), or None."""
    if not isinstance(hexdata, str) or not hexdata or len(hexdata) % 4:
        return None
    try:
        text = bytes.fromhex(hexdata).decode("utf-16-le")
    except ValueError:
        return None
    text = text.rstrip("\x00")
    return text if text and text.isprintable() else None


def subject(provider: str | None, event_id: int | None, data: Mapping[str, Any], message: str | None
            ) -> tuple[str | None, str | None]:
    """(service, service_key): what the event is about, read from its data (or its English message)."""
    prov = (provider or "").strip()
    if prov == SCM:
        key = decode_binary_name(data.get("Binary"))
        # 7009/7011 put the timeout first ("A timeout was reached (%1 milliseconds) while waiting for the %2 service
        # to connect"); the other SCM events name the service in %1 (technet Event ID 7009, 7031 pages).
        param = "param2" if event_id in (7009, 7011) else "param1"
        name = data.get(param) or data.get("ServiceName") or data.get("Data1")
        if name is None and message:
            m = _SCM_MESSAGE_SERVICE.match(message.strip())
            name = m.group(1) if m else None
        return (_str(name), key)
    if prov == "Application Error":  # param1 / AppName: the faulting application's file name
        name = data.get("AppName") or data.get("param1") or data.get("Data1")
        if name is None and message:
            m = _FAULTING_APP.search(message)
            name = m.group(1) if m else None
        return (_str(name), None)
    if prov == ".NET Runtime":  # one positional string: "Application: X.exe\nFramework Version: ..."
        blob = "\n".join(str(v) for v in data.values() if v is not None) or (message or "")
        m = _APP_NAME.search(blob)
        return (m.group(1).strip() if m else None, None)
    if prov in ("Microsoft-Windows-AppLocker", "Microsoft-Windows-CodeIntegrity"):
        name = data.get("FilePath") or data.get("File Name") or data.get("FileName")
        return (_str(name), None)
    return (None, None)


def _str(v: object) -> str | None:
    if v is None:
        return None
    s = str(v).strip()
    return s or None


def _value_text(v: object) -> str:
    """A data value as the XML export writes it: text (the .evtx JSON rendering types numbers and booleans)."""
    if v is None:  # an element present but empty (.evtx JSON gives null, XML an empty text)
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False, default=str)
    s = str(v).replace("\r\n", "\n")  # an XML parser reads CRLF as LF: both shapes give LF
    return s if s.strip() else ""  # an empty element, however the exporter indented it


def render_data(data: Mapping[str, Any]) -> str:
    """``name=value; ...`` for the message column of records without a rendered message (Binary left out)."""
    return "; ".join(f"{k}={_one_line(v)}" for k, v in data.items() if k != "Binary" and v not in (None, ""))


def _one_line(v: object) -> str:
    s = str(v).strip()
    return re.sub(r"\s*[\r\n]+\s*", " | ", s)


def row(*, source: str, line: int | None, ts: pd.Timestamp | None, ts_raw: str | None, assumed_utc: bool,
        record_id: int | None, channel: str | None, provider: str | None, event_id: int | None,
        level: str | None, computer: str | None, data: Mapping[str, Any], message: str | None,
        damaged: bool = False) -> dict[str, Any]:
    data = {str(k): _value_text(v) for k, v in data.items()}
    service, key = subject(provider, event_id, data, message)
    return {
        "source": source, "line": line, "ts": ts, "ts_raw": ts_raw, "ts_assumed_utc": assumed_utc,
        "record_id": record_id, "channel": _str(channel), "provider": _str(provider), "event_id": event_id,
        "level": level, "computer": _str(computer), "service": service, "service_key": key,
        "message": message if message is not None else (render_data(data) or None),
        "data": json.dumps(dict(data), ensure_ascii=False, default=str) if data else None,
        "damaged": damaged,
    }


def utc(text: str | None) -> pd.Timestamp | None:
    """An ISO 8601 SystemTime (``2018-07-06T18:38:41.014372Z``, 7 fraction digits too) as UTC; None if unreadable
    or outside pandas' range."""
    if not text:
        return None
    t = text.strip()
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$", t)
    if not m:
        return None
    frac = (m.group(2) or "")[:9]
    try:
        ts = pd.Timestamp(m.group(1) + (f".{frac}" if frac else ""))
    except (ValueError, OverflowError, pd.errors.OutOfBoundsDatetime):
        return None
    zone = m.group(3)
    if zone and zone != "Z":
        return ts.tz_localize(_offset(zone)).tz_convert("UTC")
    return ts.tz_localize("UTC")


def _offset(zone: str):
    import datetime as dt

    sign = 1 if zone[0] == "+" else -1
    hh, mm = int(zone[1:3]), int(zone[4:6])
    return dt.timezone(sign * dt.timedelta(hours=hh, minutes=mm))
