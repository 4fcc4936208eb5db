"""``Test-NetConnection`` text as customers paste it (formats doc §5.2): both label widths, both WARNING
formats, localized prefixes; several results one after another. Matched on ``TcpTestSucceeded`` and
``RemotePort``, never on the word WARNING."""

from __future__ import annotations

import re

from ..net import endpoint_name
from ..textio import split_lines
from .base import ParseResult
from .tcp_probes import TCP_PROBES

NAME = "test_netconnection"
DESCRIPTION = "Test-NetConnection output (text)."
PATTERNS = ("commands/test_netconnection*.txt", "probes/test_netconnection*.txt")
FRAMES = {"tcp_probes": TCP_PROBES}

_FIELD = re.compile(r"^\s*(ComputerName|RemoteAddress|RemotePort|InterfaceAlias|SourceAddress|PingSucceeded|"
                    r"TcpTestSucceeded)\s*:\s*(.*?)\s*$")
_WARN = re.compile(r"TCP connect to \(?\s*([^\s:()]+(?:[^\s()]*[^\s:()])?)\s*:?\s*(\d+)?\s*\)? failed", re.IGNORECASE)


def sniff(head: str) -> bool:
    return bool(re.search(r"(?m)^\s*TcpTestSucceeded\s*:\s*(True|False)", head)) or bool(
        re.search(r"(?m)^\s*ComputerName\s+:\s+\S+", head) and "RemoteAddress" in head)


def parse(text: str, *, source: str) -> ParseResult:
    rows, cur, warn = [], None, None

    def flush() -> None:
        nonlocal cur, warn
        if cur and ("tcp" in cur or "port" in cur):
            target = cur.get("remote") or cur.get("computer") or ""
            port = cur.get("port")
            ok = cur.get("tcp")
            err = warn if ok is False else None
            from .tcp_probes import outcome

            rows.append({"source": source, "line": cur["line"], "origin": "test_netconnection", "target": target,
                         "port": port, "endpoint": endpoint_name(target, port), "ok": ok, "error": err,
                         "source_address": cur.get("src"), "interface_alias": cur.get("alias"),
                         "outcome": outcome(ok, err) if ok is not None else "error"})
        cur, warn = None, None

    for n, line in enumerate(split_lines(text), start=1):
        w = _WARN.search(line)
        if w:
            if cur and "tcp" in cur:
                flush()
            warn = line.split(":", 1)[-1].strip() if ":" in line.split("TCP", 1)[0] else line.strip()
            continue
        m = _FIELD.match(line)
        if not m:
            continue
        key, value = m.groups()
        if key == "ComputerName":
            if cur and "tcp" in cur:
                flush()
            keep_warn = warn
            cur = {"line": n, "computer": value}
            warn = keep_warn
        if cur is None:
            cur = {"line": n}
        if key == "RemoteAddress":
            cur["remote"] = value
        elif key == "RemotePort":
            cur["port"] = int(value) if value.isdigit() else None
        elif key == "InterfaceAlias":
            cur["alias"] = value
        elif key == "SourceAddress":
            cur["src"] = value
        elif key == "TcpTestSucceeded":
            cur["tcp"] = value.lower() == "true"
    flush()
    return ParseResult({"tcp_probes": TCP_PROBES.from_records(rows)}, [])
