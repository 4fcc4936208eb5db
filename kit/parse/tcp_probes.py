"""The kit's ``probes/tcp.json``: TCP connects made from the VM (docs/bundle-format.md).

Shape (a list, or a lone object as PowerShell writes a one-element list)::

    [{"target": "168.63.129.16", "port": 80, "ok": true, "elapsed_ms": 1.4, "error": null,
      "attempt": 1, "time": "2024-03-08T10:15:02.114Z"}]

The ``tcp_probes`` frame defined here is shared with :mod:`kit.parse.test_netconnection`. A half-written file
keeps every complete object (scanned with ``json.JSONDecoder.raw_decode``) and reports a ``bad-json`` issue
with the line where the document breaks. :func:`outcome` sorts the .NET socket error text into ``refused``,
``timeout``, ``forbidden`` (WSAEACCES 10013, "forbidden by its access permissions": a local firewall / WFP
filter) or ``error``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pandas as pd

from ..net import ENDPOINT_NAMES, endpoint_name
from ..schema import LINE, SOURCE, Col, FrameSchema
from ._jsonutil import deep_issue, get, iso_timestamp, loads, to_bool, to_int
from .base import ParseIssue, ParseResult

NAME = "tcp_probes"
DESCRIPTION = "TCP connect probes from the VM (probes/tcp.json)."
PATTERNS = ("probes/tcp.json",)

TCP_PROBES = FrameSchema(
    "tcp_probes",
    "One row per TCP connect attempt from the VM (the kit's probes, or a pasted Test-NetConnection).",
    (SOURCE, LINE,
     Col("origin", "category", "tcp_json or test_netconnection.", False),
     Col("target", "str", "Address or name connected to.", False),
     Col("port", "Int64", "TCP port."),
     Col("endpoint", "category", "wireserver (168.63.129.16:80), hostgaplugin (:32526), imds (169.254.169.254:80) "
         "or other.", False),
     Col("ok", "boolean", "The connect succeeded."),
     Col("elapsed_ms", "float64", "Connect time in ms (NA for Test-NetConnection)."),
     Col("error", "str", "Error text when it failed."),
     Col("attempt", "Int64", "1-based attempt number."),
     Col("time", "datetime", "When the attempt was made (UTC)."),
     Col("source_address", "str", "Local address used (Test-NetConnection SourceAddress)."),
     Col("interface_alias", "str", "Interface used (Test-NetConnection InterfaceAlias)."),
     Col("outcome", "category", "ok, refused, timeout, forbidden (WSAEACCES: a local firewall), or error.", False)),
)
FRAMES = {"tcp_probes": TCP_PROBES}

#: .NET / Winsock messages and codes (formats doc §1.4, §5.8, §12).
_FORBIDDEN = re.compile(r"forbidden by its access permissions|WSAEACCES|\b10013\b", re.IGNORECASE)
_REFUSED = re.compile(r"actively refused|connection refused|WSAECONNREFUSED|\b10061\b", re.IGNORECASE)
_TIMEOUT = re.compile(r"did not properly respond|timed out|timeout|WSAETIMEDOUT|\b10060\b", re.IGNORECASE)


def outcome(ok: bool | None, error: str | None) -> str:
    """``ok``, ``forbidden``, ``refused``, ``timeout`` or ``error`` for one connect attempt."""
    if ok:
        return "ok"
    e = error or ""
    if _FORBIDDEN.search(e):
        return "forbidden"
    if _REFUSED.search(e):
        return "refused"
    if _TIMEOUT.search(e):
        return "timeout"
    return "error"


def load_objects(text: str, *, source: str, parser: str) -> tuple[list[Any], list[ParseIssue]]:
    """The top-level values of a JSON document (a list's items, or the lone object), never raising.

    A document that is not valid JSON (cut mid-write, NUL padding, two documents pasted together) is scanned
    with ``raw_decode`` for every complete top-level ``{...}`` object; the break is reported as ``bad-json``
    with its line and column and what was found there.
    """
    body = text.lstrip("\ufeff")
    if not body.strip():
        return [], [ParseIssue(source, None, "empty", "expected a JSON list or object; the file is empty or blank",
                               parser=parser)]
    try:
        data, deep = loads(body)
    except RecursionError:  # deep and damaged: nothing can be read
        return [], [ParseIssue(source, None, "too-deep", "expected JSON nested at most 200 levels, found a damaged "
                               "document nested deeper than can be read; nothing was recovered", parser=parser)]
    except json.JSONDecodeError as exc:
        found = exc.doc[exc.pos:exc.pos + 40] if exc.pos < len(exc.doc) else "the end of the file"
        issue = ParseIssue(source, exc.lineno, "bad-json", f"expected valid JSON; at line {exc.lineno} column "
                           f"{exc.colno} found {found!r} ({exc.msg}): the file looks half-written or cut; "
                           "every complete object before and after the break is kept", text=found, parser=parser)
        return _scan_objects(body), [issue]
    issues = [deep_issue(source, deep, parser)] if deep else []
    if data is None:
        return [], issues
    return (data if isinstance(data, list) else [data]), issues


def _scan_objects(body: str) -> list[Any]:
    dec = json.JSONDecoder()
    out: list[Any] = []
    i = body.find("{")
    while i != -1:
        try:
            val, end = dec.raw_decode(body, i)
        except (json.JSONDecodeError, RecursionError):
            i = body.find("{", i + 1)  # an object cut short, or a '{' inside text: try the next one
            continue
        if isinstance(val, dict):
            out.append(val)
        i = body.find("{", end)
    return out


def parse_times(values: list[Any], *, source: str, parser: str, issues: list[ParseIssue]) -> pd.Series:
    """ISO 8601 times as UTC, column at once. A zone-less value is read as UTC unchanged (docs/bundle-format.md);
    an unreadable one becomes NaT and a ``bad-timestamp`` issue."""
    raw = pd.Series([None if v is None or not str(v).strip() else str(v).strip() for v in values], dtype=object)
    ts = pd.to_datetime(raw, utc=True, errors="coerce", format="ISO8601")
    for i in raw.index[ts.isna() & raw.notna()]:  # not ISO 8601: one more, lenient try each
        one = pd.to_datetime(raw[i], utc=True, errors="coerce")
        if pd.isna(one):
            issues.append(ParseIssue(source, None, "bad-timestamp", f"expected an ISO 8601 time; found {raw[i]!r}",
                                     text=raw[i], parser=parser))
        else:
            ts[i] = one
    return ts


def _plain_times(values: list[Any]) -> list[pd.Timestamp | None] | None:
    """What :func:`parse_times` gives when every value is missing, blank or a plain ISO 8601 text (else None), one
    value at a time through :func:`iso_timestamp`: ``to_datetime`` on a column of a few values costs ~0.3 ms."""
    out = []
    for v in values:
        if v is None or (isinstance(v, str) and not v.strip()):
            out.append(None)
        elif isinstance(v, str) and (ts := iso_timestamp(v.strip())) is not None:
            out.append(ts)
        else:
            return None
    return out


def parse_time(value: Any, *, source: str, parser: str, issues: list[ParseIssue]) -> pd.Timestamp | None:
    """One value through :func:`parse_times` (a plain ISO 8601 text straight through :func:`iso_timestamp`)."""
    fast = _plain_times([value])
    if fast is not None:
        return fast[0]
    ts = parse_times([value], source=source, parser=parser, issues=issues).iloc[0]
    return None if pd.isna(ts) else ts


def to_float(v: Any) -> float:
    """A number, or NaN for anything else (bools included)."""
    if v is None or isinstance(v, bool):
        return float("nan")
    try:
        return float(str(v).strip().replace(",", "."))
    except ValueError:
        return float("nan")


def sniff(head: str) -> bool:
    low = head.lower()
    return '"target"' in low and '"port"' in low and '"ok"' in low


def parse(text: str, *, source: str) -> ParseResult:
    items, issues = load_objects(text, source=source, parser=NAME)
    rows = []
    for i, o in enumerate(items):
        if not isinstance(o, dict):
            issues.append(ParseIssue(source, None, "unexpected-shape", f"item {i}: expected an object with target "
                                     f"and port; found {type(o).__name__}", text=str(o)[:200], parser=NAME))
            continue
        target, port = get(o, "target"), to_int(get(o, "port"))
        if target is None or not str(target).strip():
            issues.append(ParseIssue(source, None, "unexpected-shape", f"item {i}: expected a 'target'; found keys "
                                     f"{sorted(o)}", text=json.dumps(o)[:300], parser=NAME))
            continue
        ok = to_bool(get(o, "ok"))
        err = get(o, "error")
        err = None if err is None or not str(err).strip() else str(err)
        rows.append({"source": source, "line": None, "origin": "tcp_json", "target": str(target).strip(),
                     "port": port, "endpoint": endpoint_name(str(target), port), "ok": ok,
                     "elapsed_ms": to_float(get(o, "elapsed_ms")), "error": err, "attempt": to_int(get(o, "attempt")),
                     "time": get(o, "time"), "outcome": outcome(ok, err)})
    times = _plain_times([r["time"] for r in rows])
    if times is None:
        times = parse_times([r["time"] for r in rows], source=source, parser=NAME, issues=issues)
    for r, ts in zip(rows, times, strict=True):
        r["time"] = None if pd.isna(ts) else ts
    return ParseResult({"tcp_probes": frame(rows)}, issues)


ORIGINS = ("tcp_json", "test_netconnection")
OUTCOMES = ("ok", "refused", "timeout", "forbidden", "error")


def frame(rows: list[dict]) -> pd.DataFrame:
    """The typed ``tcp_probes`` frame, with every category of origin, endpoint and outcome declared."""
    return TCP_PROBES.from_records(rows, categories={"origin": ORIGINS, "endpoint": ENDPOINT_NAMES,
                                                     "outcome": OUTCOMES})
