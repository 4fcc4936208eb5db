"""The kit's ``probes/tcp.json``: TCP connects made from the VM (docs/bundle-format.md)."""

from __future__ import annotations

import pandas as pd

from ..net import endpoint_name
from ..schema import LINE, SOURCE, Col, FrameSchema
from ._jsonutil import as_list, get, load, to_bool, to_int
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


def outcome(ok: bool | None, error: str | None) -> str:
    if ok:
        return "ok"
    e = (error or "").lower()
    if "forbidden by its access permissions" in e or "wsaeacces" in e or "10013" in e:
        return "forbidden"
    if "actively refused" in e or "refused" in e:
        return "refused"
    if "did not properly respond" in e or "timed out" in e or "timeout" in e:
        return "timeout"
    return "error"


def sniff(head: str) -> bool:
    low = head.lower()
    return '"target"' in low and '"port"' in low and '"ok"' in low


def parse(text: str, *, source: str) -> ParseResult:
    data, issues = load(text, source=source, parser=NAME)
    rows = []
    for i, o in enumerate(as_list(data)):
        target, port = get(o, "target"), to_int(get(o, "port"))
        if not target:
            issues.append(ParseIssue(source, None, "unexpected-shape", f"item {i} has no target", parser=NAME))
            continue
        ok = to_bool(get(o, "ok"))
        err = get(o, "error")
        rows.append({"source": source, "line": None, "origin": "tcp_json", "target": str(target), "port": port,
                     "endpoint": endpoint_name(str(target), port), "ok": ok,
                     "elapsed_ms": pd.to_numeric(get(o, "elapsed_ms"), errors="coerce"), "error": err,
                     "attempt": to_int(get(o, "attempt")),
                     "time": pd.to_datetime(get(o, "time"), utc=True, errors="coerce") if get(o, "time") else None,
                     "outcome": outcome(ok, err)})
    return ParseResult({"tcp_probes": TCP_PROBES.from_records(rows)}, issues)
