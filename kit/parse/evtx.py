"""Windows event-log files (``.evtx``: System, Application, Windows Azure, AppLocker, CodeIntegrity, ...).

Read with the ``evtx`` package (pyevtx-rs, Rust-backed bindings of omerbenamram/evtx): it parses a 1 MiB log of
~2,000 records in ~15 ms here, where the pure-Python python-evtx takes seconds, and it keeps going past damaged
chunks. Each record comes as the JSON rendering of its XML (``Event.System`` and ``Event.EventData``), from which
:func:`kit.parse._events.row` builds the row, exactly as for an XML export.

This is the kit's one binary artifact: the module declares ``BINARY = True`` and the bundle hands it the file's
bytes (``parse_bytes``) instead of decoded text. A record the library cannot read costs that record: it becomes a
``bad-record`` issue and the file's other records are kept.
"""

from __future__ import annotations

import io
import json
from typing import Any

from ._events import EVENTS, level_name, row, utc
from .base import ParseIssue, ParseResult

NAME = "evtx"
DESCRIPTION = "Windows event log (.evtx), read with the evtx package."
FRAMES = {"events": EVENTS}
#: Event logs anywhere in a bundle: the disk-inspection manifests copy them from C:\Windows\System32\winevt\Logs
#: (formats doc §2.1, "Event logs collected by same manifest"), customers attach them loose.
PATTERNS = ("*.evtx",)
BINARY = True
#: The file header's signature (libyal's EVTX format documentation: "ElfFile\0").
MAGIC = b"ElfFile\x00"


def sniff(head: str) -> bool:
    return False  # binary: see sniff_bytes


def sniff_bytes(head: bytes) -> bool:
    return head.startswith(MAGIC)


def parse(text: str, *, source: str) -> ParseResult:
    """An .evtx file that reached the text path (e.g. ``vmkit parse`` of a decoded file) cannot be read."""
    return ParseResult({"events": EVENTS.empty()}, [ParseIssue(
        source, None, "binary-file", "expected the raw bytes of an .evtx file; it was handed decoded text",
        parser=NAME)])


def parse_bytes(data: bytes, *, source: str) -> ParseResult:
    issues: list[ParseIssue] = []
    if not data.startswith(MAGIC):
        issues.append(ParseIssue(source, None, "bad-header", f"expected the .evtx signature 'ElfFile', found "
                                 f"{data[:8]!r}", parser=NAME))
        return ParseResult({"events": EVENTS.empty()}, issues)
    try:
        import evtx as _evtx
    except ImportError:  # pragma: no cover - a declared dependency
        issues.append(ParseIssue(source, None, "parser-error", "the evtx package is not installed "
                                 "(pip install evtx)", parser=NAME))
        return ParseResult({"events": EVENTS.empty()}, issues)
    try:
        parser = _evtx.PyEvtxParser(io.BytesIO(data), number_of_threads=1)
        records = parser.records_json()
    except Exception as exc:  # the library refuses the file as a whole (damaged header)
        issues.append(ParseIssue(source, None, "bad-file", f"expected a readable .evtx file, the evtx library "
                                 f"refused it: {exc}", parser=NAME))
        return ParseResult({"events": EVENTS.empty()}, issues)
    rows: list[dict[str, Any]] = []
    it = iter(records)
    failures = 0
    while True:
        try:
            rec = next(it)
        except StopIteration:
            break
        except Exception as exc:  # one damaged record or chunk: keep going
            failures += 1
            issues.append(ParseIssue(source, None, "bad-record", f"expected an event record, the evtx library "
                                     f"could not read one: {str(exc)[:200]}", parser=NAME))
            if failures > 1000:
                issues.append(ParseIssue(source, None, "bad-file", "more than 1,000 unreadable records: stopped",
                                         parser=NAME))
                break
            continue
        try:
            rows.append(_row(rec, source))
        except Exception as exc:  # unexpected JSON shape for one record
            issues.append(ParseIssue(source, None, "bad-record", f"record {rec.get('event_record_id')}: expected "
                                     f"an Event with a System part, found {type(exc).__name__}: {exc}",
                                     parser=NAME))
    return ParseResult({"events": EVENTS.from_records(rows)}, issues)


def _row(rec: dict[str, Any], source: str) -> dict[str, Any]:
    doc = json.loads(rec["data"])
    ev = doc.get("Event", doc)
    sysd = ev.get("System") or {}
    prov = sysd.get("Provider") or {}
    prov_attrs = prov.get("#attributes", {}) if isinstance(prov, dict) else {}
    provider = prov_attrs.get("EventSourceName") or prov_attrs.get("Name")
    eid = sysd.get("EventID")
    if isinstance(eid, dict):
        eid = eid.get("#text")
    created = sysd.get("TimeCreated") or {}
    raw_ts = created.get("#attributes", {}).get("SystemTime") if isinstance(created, dict) else None
    data = event_data(ev)
    return row(source=source, line=None, ts=utc(raw_ts), ts_raw=raw_ts, assumed_utc=False,
               record_id=_int(sysd.get("EventRecordID", rec.get("event_record_id"))),
               channel=sysd.get("Channel"), provider=provider, event_id=_int(eid),
               level=level_name(sysd.get("Level")), computer=sysd.get("Computer"), data=data, message=None)


def event_data(ev: dict[str, Any]) -> dict[str, Any]:
    """Named values of EventData or UserData (one level of UserData nesting), ``#attributes`` left out."""
    part = ev.get("EventData")
    if part is None and isinstance(ev.get("UserData"), dict):
        inner = [v for k, v in ev["UserData"].items() if k != "#attributes"]
        part = inner[0] if len(inner) == 1 else ev["UserData"]
    if part is None:
        return {}
    if not isinstance(part, dict):
        return {"Data1": part}
    out: dict[str, Any] = {}
    for k, v in part.items():
        if k == "#attributes":
            continue
        if k == "Data":  # unnamed <Data> elements: one, or a list
            values: list[Any] = []
            for x in v if isinstance(v, list) else [v]:
                x = x.get("#text") if isinstance(x, dict) else x
                values += x if isinstance(x, list) else [x]  # several unnamed <Data>: one "#text" list
            for i, x in enumerate(values, 1):
                out[f"Data{i}"] = x
        else:
            out[k] = v.get("#text") if isinstance(v, dict) and "#text" in v else v
    return out


def _int(v: object) -> int | None:
    try:
        n = int(str(v).strip())
    except (TypeError, ValueError):
        return None
    return n if -(2**63) <= n < 2**63 else None
