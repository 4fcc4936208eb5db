"""Windows events as Event Viewer shows them in text: "Copy > Copy details as text" and "Save ... as Text", the
block a customer pastes into a ticket::

    Log Name:      Application
    Source:        .NET Runtime
    Date:          3/07/2023 10:25:59 AM
    Event ID:      1026
    Task Category: None
    Level:         Error
    Keywords:      Classic
    User:          N/A
    Computer:      vm372437823
    Description:
    Application: WindowsAzureGuestAgent.exe
    ...

(formats doc §1.4, the CSS "AGEX" TSG; the same layout, followed by an "Event Xml:" part, in the Azure support
blog post "Windows Azure remote access stops working", 2012). Blocks follow one another, each starting at
"Log Name:". The message runs from the line after "Description:" to the next block or to "Event Xml:".

**Time.** ``Date`` is the VM's local time in its display culture, with no zone. The kit reads it as written and
flags it ``ts_assumed_utc`` (README, Time stamps); it never shifts it. ``M/D/YYYY h:mm:ss AM/PM`` (en-US, the only
culture the sources show) is read month first; ``D.M.YYYY HH:MM:SS`` day first; a slash date without AM/PM is
read only when one part is over 12 (else the time is left unknown, with an ``ambiguous-date`` issue).

Only the English labels are known from a real source; a localized block is not recognised (sources are silent on
the localized labels), so it is left to the other readers rather than guessed.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from ..textio import split_lines
from ._events import EVENTS, level_name, row
from .base import ParseIssue, ParseResult

NAME = "event_text"
DESCRIPTION = "Windows events as Event Viewer's text (Log Name:, Source:, Event ID:, Description:)."
FRAMES = {"events": EVENTS}
PATTERNS = ("commands/events*.txt",)

_LABEL = re.compile(r"^(Log Name|Source|Date|Event ID|Task Category|Level|Keywords|User|Computer|OpCode|"
                    r"Description):\s*(.*)$")
_DATE_US = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d\d):(\d\d)(?:\s*([AP]M))?$", re.IGNORECASE)
_DATE_DOT = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4}) (\d{1,2}):(\d\d):(\d\d)$")
_DATE_ISO = re.compile(r"^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.\d+)?$")


def sniff(head: str) -> bool:
    lines = head.lstrip("\ufeff").splitlines()[:400]
    for i, ln in enumerate(lines):
        if ln.startswith("Log Name:") and any(x.startswith("Event ID:") for x in lines[i + 1:i + 6]):
            return True
    return False


def parse(text: str, *, source: str) -> ParseResult:
    lines = split_lines(text.lstrip("\ufeff"))
    issues: list[ParseIssue] = []
    rows: list[dict[str, Any]] = []
    starts = [i for i, ln in enumerate(lines) if ln.startswith("Log Name:")]
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        try:
            rows.append(_block(lines[start:end], start + 1, source, issues))
        except Exception as exc:  # one damaged block costs that block
            issues.append(ParseIssue(source, start + 1, "bad-event", f"expected an Event Viewer event block: "
                                     f"{type(exc).__name__}: {exc}", text=lines[start][:300], parser=NAME))
    if not starts:
        issues.append(ParseIssue(source, None, "no-events", "expected blocks starting with 'Log Name:', found none",
                                 parser=NAME))
    return ParseResult({"events": EVENTS.from_records(rows)}, issues)


def _block(block: list[str], first_line: int, source: str, issues: list[ParseIssue]) -> dict[str, Any]:
    fields: dict[str, str] = {}
    message: list[str] = []
    in_desc = False
    for ln in block:
        if in_desc:
            if ln.startswith("Event Xml:"):
                break
            message.append(ln)
            continue
        m = _LABEL.match(ln)
        if m:
            fields[m.group(1)] = m.group(2).strip()
            if m.group(1) == "Description":
                in_desc = True
                if m.group(2).strip():
                    message.append(m.group(2).strip())
    raw = fields.get("Date")
    ts = _local_time(raw, source, first_line, issues)
    eid = fields.get("Event ID", "")
    event_id = int(eid) if eid.isdigit() else None
    if event_id is None:
        issues.append(ParseIssue(source, first_line, "bad-value", f"expected a number after 'Event ID:', found "
                                 f"{eid!r}", parser=NAME))
    msg = "\n".join(message).strip() or None
    data: dict[str, Any] = {}
    return row(source=source, line=first_line, ts=ts, ts_raw=raw, assumed_utc=ts is not None, record_id=None,
               channel=fields.get("Log Name"), provider=fields.get("Source"), event_id=event_id,
               level=level_name(fields.get("Level")), computer=fields.get("Computer"), data=data, message=msg)


def _local_time(raw: str | None, source: str, line: int, issues: list[ParseIssue]) -> pd.Timestamp | None:
    if not raw:
        return None
    s = raw.strip()
    parts: tuple[int, ...] | None = None
    if m := _DATE_ISO.match(s):
        parts = tuple(int(x) for x in m.groups())
    elif m := _DATE_DOT.match(s):
        d, mo, y, h, mi, se = (int(x) for x in m.groups())
        parts = (y, mo, d, h, mi, se)
    elif m := _DATE_US.match(s):
        a, b, y, h, mi, se = (int(x) for x in m.groups()[:6])
        ampm = (m.group(7) or "").upper()
        if ampm:
            h = h % 12 + (12 if ampm == "PM" else 0)
            mo, d = a, b  # en-US: month first
        elif a > 12 >= b:
            d, mo = a, b
        elif b > 12 >= a:
            mo, d = a, b
        else:
            issues.append(ParseIssue(source, line, "ambiguous-date", f"expected a date whose day and month can be "
                                     f"told apart, found {s!r} (no AM/PM, both parts 12 or less): time left unknown",
                                     parser=NAME))
            return None
        parts = (y, mo, d, h, mi, se)
    if parts is None:
        issues.append(ParseIssue(source, line, "bad-timestamp", f"expected a date such as '3/07/2023 10:25:59 AM', "
                                 f"found {s!r}", parser=NAME))
        return None
    try:
        return pd.Timestamp(*parts, tz="UTC")
    except (ValueError, OverflowError):
        issues.append(ParseIssue(source, line, "bad-timestamp", f"expected a real date, found {s!r}", parser=NAME))
        return None
