"""``netsh winhttp show proxy`` (formats doc §5.7): direct access, or a proxy with a bypass list.

Labels are translated on localized Windows, so the values are found by shape: the first value line after the
header is the proxy server, the second the bypass list. Bypass matching follows WinHTTP: entries are separated by
``;`` (or spaces), ``*`` is a wildcard, ``<local>`` covers only host names without a dot - never an IP literal such as
168.63.129.16.
"""

from __future__ import annotations

import fnmatch
import re

from ..net import IMDS_IP, WIRESERVER_IP
from ..schema import LINE, SOURCE, Col, FrameSchema
from ..textio import split_lines
from .base import ParseIssue, ParseResult

NAME = "winhttp_proxy"
DESCRIPTION = "Output of `netsh winhttp show proxy`."
PATTERNS = ("commands/netsh_winhttp_proxy.txt",)

PROXY = FrameSchema(
    "proxy",
    "Proxy settings the agent's traffic may go through (one row per source).",
    (SOURCE, LINE,
     Col("scope", "category", "Where the setting comes from: winhttp.", False),
     Col("direct", "boolean", "Direct access (no proxy)."),
     Col("proxy_server", "str", "Proxy server(s) as written (host:port, or per-scheme list)."),
     Col("bypass", "str", "Bypass list as written."),
     Col("bypasses_wireserver", "boolean", "The bypass list covers 168.63.129.16."),
     Col("bypasses_imds", "boolean", "The bypass list covers 169.254.169.254."),
     Col("raw", "str", "The whole output, for evidence.", False)),
)
FRAMES = {"proxy": PROXY}

_DIRECT = re.compile(r"direct access|直接访问|прямой доступ|accès direct|acceso directo|direkter zugriff|acesso direto",
                     re.IGNORECASE)
_VALUE = re.compile(r"^\s+[^:：]+[:：]\s*(\S.*)$")


def sniff(head: str) -> bool:
    h = head[:2000]
    return ("WinHTTP" in h and ("proxy" in h.lower() or "прокси" in h.lower())) or bool(_DIRECT.search(h[:300]))


def bypass_covers(bypass: str | None, ip: str) -> bool:
    """Whether a WinHTTP bypass list covers the IP literal ``ip``."""
    if not bypass:
        return False
    for entry in re.split(r"[;\s,]+", bypass.strip()):
        e = entry.strip().lower()
        if not e or e == "<local>":
            continue
        e = re.sub(r"^\w+://", "", e)
        if fnmatch.fnmatchcase(ip, e):
            return True
    return False


def parse(text: str, *, source: str) -> ParseResult:
    lines = split_lines(text)
    values = []
    direct_line = None
    for n, line in enumerate(lines, start=1):
        if _DIRECT.search(line):
            direct_line = n
        m = _VALUE.match(line)
        if m:
            values.append((n, m.group(1).strip()))
    issues: list[ParseIssue] = []
    if direct_line is not None:
        row = {"line": direct_line, "direct": True}
    elif values:
        server = values[0][1]
        bypass = values[1][1] if len(values) > 1 else None
        row = {"line": values[0][0], "direct": False, "proxy_server": server, "bypass": bypass,
               "bypasses_wireserver": bypass_covers(bypass, WIRESERVER_IP), "bypasses_imds": bypass_covers(bypass,
                                                                                                       IMDS_IP)}
    else:
        row = {"line": None, "direct": None}
        issues.append(ParseIssue(source, None, "unexpected-shape", "neither 'Direct access (no proxy server).' nor "
                                 "'Proxy Server(s) : host:port' lines were found", text=text[:200], parser=NAME))
    row.update(source=source, scope="winhttp", raw=text.strip())
    return ParseResult({"proxy": PROXY.from_records([row])}, issues)
