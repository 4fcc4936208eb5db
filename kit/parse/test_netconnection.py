"""``Test-NetConnection`` text as customers paste it (formats doc §5.2) -> the shared ``tcp_probes`` frame.

Handled: the success layout (label column 16 wide, no Ping lines) and the failure layout (column 23 wide, with
``PingSucceeded`` and ``PingReplyDetails (RTT)``); both WARNING formats - newer ``TCP connect to (1.2.3.4 : 5985)
failed`` (IPv6 too: ``(::1 : 23)``) and older ``TCP connect to host:1433 failed`` - under any prefix (``WARNING:``,
``AVISO:``, ``WARNING :``, mojibake ``����:``; localized Windows translates only the prefix of Write-Warning -
``WARNUNG:``, ``AVERTISSEMENT :``, ``ADVERTENCIA:``, ``警告:``, ``ПРЕДУПРЕЖДЕНИЕ:`` in real pastes, named in
tests/shapes/test_netconnection/SOURCES.md - never the ``TCP connect to ... failed`` message after it); several
results pasted one after another (each block is one row); the ``PS > Test-NetConnection -port 1433 -computername
x`` command line as context for the next block.

A block is recognised by its property names (never translated), not by the WARNING prose: it starts at its first
property line (a new ``ComputerName``, or a property seen again, starts the next block) and ends at
``TcpTestSucceeded`` (always the last line). A WARNING is attached to the block with the same target and port, else
to the next block. A block with a ``RemotePort`` but no ``TcpTestSucceeded`` (the paste was cut) is kept with
``ok`` NA, outcome ``error`` and a ``truncated-block`` issue; a ping-only block (no port, no TCP test) is not a TCP
probe and is reported as a ``not-tcp`` issue. Test-NetConnection reports no connect time, so ``elapsed_ms`` is
NA, and it does not say why a connect failed, so a failure's outcome is ``error`` (never guessed).
"""

from __future__ import annotations

import re

from ..net import endpoint_name
from ..textio import split_lines
from ._jsonutil import to_int
from .base import ParseIssue, ParseResult
from .tcp_probes import TCP_PROBES, frame, outcome

NAME = "test_netconnection"
DESCRIPTION = "Test-NetConnection output (text)."
PATTERNS = ("commands/test_netconnection*.txt", "probes/test_netconnection*.txt")
FRAMES = {"tcp_probes": TCP_PROBES}

_KEYS = ("ComputerName", "RemoteAddress", "RemotePort", "InterfaceAlias", "SourceAddress", "PingSucceeded",
         "PingReplyDetails (RTT)", "TcpTestSucceeded")
_FIELD = re.compile(r"^\s*(?P<key>" + "|".join(re.escape(k) for k in _KEYS) + r")\s*:(?:\s+(?P<val>.*?))?\s*$")
_WARN_NEW = re.compile(r"TCP connect to \(\s*(?P<target>\S+)\s+:\s+(?P<port>\d+)\s*\)\s*failed", re.IGNORECASE)
_WARN_OLD = re.compile(r"TCP connect to (?P<target>\S+?):(?P<port>\d+)\s+failed", re.IGNORECASE)
_CMD = re.compile(r"\b(?:Test-NetConnection|tnc)\b(?P<args>.*)$", re.IGNORECASE)
_ARG_HOST = re.compile(r"-computername\s+(?P<v>\S+)", re.IGNORECASE)
_ARG_PORT = re.compile(r"-port\s+(?P<v>\d+)", re.IGNORECASE)
_ARG_FIRST = re.compile(r"^\s+(?P<v>[^-\s]\S*)")


def sniff(head: str) -> bool:
    return bool(re.search(r"(?m)^\s*TcpTestSucceeded\s*:\s*(True|False)", head)) or bool(
        re.search(r"(?m)^\s*ComputerName\s*:\s*\S+", head) and re.search(r"(?m)^\s*RemotePort\s*:", head))


def _warning(line: str) -> tuple[str, int, str] | None:
    m = _WARN_NEW.search(line) or _WARN_OLD.search(line)
    if not m:
        return None
    return m["target"], int(m["port"]), line[m.start():].strip()


def _command(line: str) -> dict | None:
    m = _CMD.search(line)
    if not m or _FIELD.match(line):
        return None
    args = m["args"]
    host = _ARG_HOST.search(args) or _ARG_FIRST.match(args)
    port = _ARG_PORT.search(args)
    return {"host": host["v"] if host else None, "port": int(port["v"]) if port else None}


def parse(text: str, *, source: str) -> ParseResult:
    rows: list[dict] = []
    issues: list[ParseIssue] = []
    warnings: list[tuple[str, int, str]] = []
    cmd: dict | None = None
    cur: dict | None = None

    def flush() -> None:
        nonlocal cur, cmd
        if cur is None:
            return
        block, cur = cur, None
        port = to_int(block.get("RemotePort")) if "RemotePort" in block else None
        if port is None and cmd:
            port = cmd.get("port")
        target = block.get("RemoteAddress") or block.get("ComputerName") or (cmd or {}).get("host")
        cmd = None
        tcp = block.get("TcpTestSucceeded")
        if tcp is None and "RemotePort" not in block:
            issues.append(ParseIssue(source, block["_line"], "not-tcp", "expected a TCP test (RemotePort and "
                                     "TcpTestSucceeded); found a result without them (ping-only Test-NetConnection "
                                     "or a fragment); not a TCP probe", parser=NAME))
            return
        if not target:
            issues.append(ParseIssue(source, block["_line"], "unexpected-shape", "expected ComputerName or "
                                     "RemoteAddress in a Test-NetConnection result; found neither", parser=NAME))
            return
        ok = None if tcp is None else tcp.strip().lower() == "true"
        names = {str(block.get("ComputerName") or "").lower(), str(block.get("RemoteAddress") or "").lower()}
        mine = [w for w in warnings if w[0].lower() in names and (port is None or w[1] == port)]
        if ok is False:
            # warnings print before their own result, so pending ones are this block's: the same port (a name that
            # resolved to IPv6 and IPv4 gets one warning per address), else all of them
            mine = [w for w in warnings if w in mine or w[1] == port] or list(warnings)
        for w in mine:
            warnings.remove(w)
        error = "; ".join(w[2] for w in mine) or None
        if ok is None:
            error = error or "result cut: no TcpTestSucceeded line"
            issues.append(ParseIssue(source, block["_line"], "truncated-block", "expected a 'TcpTestSucceeded : "
                                     "True|False' line to end the result; the text ends (or the next result starts) "
                                     "before it", parser=NAME))
        rows.append({"source": source, "line": block["_line"], "origin": "test_netconnection", "target": target,
                     "port": port, "endpoint": endpoint_name(target, port), "ok": ok,
                     "error": error if ok is not True else None, "source_address": block.get("SourceAddress"),
                     "interface_alias": block.get("InterfaceAlias"),
                     "outcome": outcome(ok, error) if ok is not None else "error"})

    for n, line in enumerate(split_lines(text), start=1):
        w = _warning(line)
        if w:
            warnings.append(w)
            continue
        m = _FIELD.match(line)
        if not m:
            c = _command(line)
            if c:
                flush()
                cmd = c
            continue
        key, val = m["key"], (m["val"] or "").strip() or None
        if cur is not None and (key == "ComputerName" or key in cur):
            flush()  # a new result starts without the previous one having ended
        if cur is None:
            cur = {"_line": n}
        cur[key] = val
        if key == "TcpTestSucceeded":
            flush()
    flush()
    for t, p, txt in warnings:
        issues.append(ParseIssue(source, None, "unexpected-line", f"expected a Test-NetConnection result for the "
                                 f"warning about {t}:{p}; found none", text=txt, parser=NAME))
    return ParseResult({"tcp_probes": frame(rows)}, issues)
