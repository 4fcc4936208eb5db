"""Windows events exported as XML: ``wevtutil qe <log> /f:xml`` (``<Event>`` elements one after another, no
root), Event Viewer's "Save All Events As... XML" (an ``<Events>`` root, UTF-16) and ``Get-WinEvent | % ToXml()``.

The XML is the event schema Windows renders for every record (``http://schemas.microsoft.com/win/2004/08/events/
event``): ``System`` (Provider Name / EventSourceName, EventID with Qualifiers, Level, TimeCreated SystemTime in
UTC, EventRecordID, Channel, Computer) and ``EventData`` (``<Data Name="param1">``, unnamed ``<Data>``,
``<Binary>``) or ``UserData``. A ``RenderingInfo`` part, when the exporter added one, gives the rendered message.
Rows are built by :func:`kit.parse._events.row`, as for ``.evtx`` files, so both shapes give the same rows.

A document type or entity declaration is refused (no event export has one; it is how XML bombs work). One
malformed ``<Event>`` costs that event: the others are still read.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from ._events import EVENTS, level_name, row, utc
from .base import ParseIssue, ParseResult

NAME = "event_xml"
DESCRIPTION = "Windows events exported as XML (wevtutil /f:xml, Event Viewer, Get-WinEvent ToXml)."
FRAMES = {"events": EVENTS}
PATTERNS = ("commands/events*.xml", "*/winevt/*.xml")
_NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"
_EVENT = re.compile(r"<Event[\s>].*?</Event>", re.DOTALL)
_HOSTILE = re.compile(r"<!DOCTYPE|<!ENTITY", re.IGNORECASE)


def sniff(head: str) -> bool:
    return "schemas.microsoft.com/win/2004/08/events/event" in head and "<Event" in head


def parse(text: str, *, source: str) -> ParseResult:
    issues: list[ParseIssue] = []
    if _HOSTILE.search(text[:4096]):
        issues.append(ParseIssue(source, 1, "refused", "expected plain event XML, found a document type or entity "
                                 "declaration: not read", parser=NAME))
        return ParseResult({"events": EVENTS.empty()}, issues)
    rows: list[dict[str, Any]] = []
    for m in _EVENT.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        try:
            el = ET.fromstring(m.group(0))
        except ET.ParseError as exc:
            issues.append(ParseIssue(source, line, "bad-xml", f"expected a well-formed <Event> element: {exc}",
                                     text=m.group(0)[:300], parser=NAME))
            continue
        rows.append(_row(el, source, line))
    if not rows and not issues:
        issues.append(ParseIssue(source, None, "no-events", "expected <Event> elements, found none", parser=NAME))
    return ParseResult({"events": EVENTS.from_records(rows)}, issues)


def _find(el: ET.Element | None, name: str) -> ET.Element | None:
    if el is None:
        return None
    found = el.find(_NS + name)
    return found if found is not None else el.find(name)


def _text(el: ET.Element | None) -> str | None:
    return None if el is None or el.text is None else el.text.strip()


def _row(ev: ET.Element, source: str, line: int) -> dict[str, Any]:
    sysd = _find(ev, "System")
    prov = _find(sysd, "Provider")
    provider = None if prov is None else (prov.get("EventSourceName") or prov.get("Name"))
    created = _find(sysd, "TimeCreated")
    raw_ts = None if created is None else created.get("SystemTime")
    data = _data(ev)
    rendering = _find(ev, "RenderingInfo")
    message = _text(_find(rendering, "Message"))
    return row(source=source, line=line, ts=utc(raw_ts), ts_raw=raw_ts, assumed_utc=False,
               record_id=_int(_text(_find(sysd, "EventRecordID"))), channel=_text(_find(sysd, "Channel")),
               provider=provider, event_id=_int(_text(_find(sysd, "EventID"))),
               level=level_name(_text(_find(sysd, "Level"))), computer=_text(_find(sysd, "Computer")),
               data=data, message=message)


def _data(ev: ET.Element) -> dict[str, Any]:
    part = _find(ev, "EventData")
    if part is None:
        user = _find(ev, "UserData")
        part = user[0] if user is not None and len(user) == 1 else user
    if part is None:
        return {}
    out: dict[str, Any] = {}
    unnamed = 0
    for child in part:
        tag = child.tag.split("}", 1)[-1]
        text = child.text or ""  # an element that is there but empty is an empty value, as .evtx gives it
        if tag == "Data" and child.get("Name"):
            out[child.get("Name")] = text
        elif tag == "Data":
            unnamed += 1
            out[f"Data{unnamed}"] = text
        elif child.attrib and not text.strip() and not len(child):
            out[tag] = {"#attributes": dict(child.attrib)}  # as the .evtx JSON rendering gives an attribute-only one
        else:
            out[tag] = text
    return out


def _int(v: str | None) -> int | None:
    try:
        n = int(str(v).strip())
    except (TypeError, ValueError):
        return None
    return n if -(2**63) <= n < 2**63 else None
