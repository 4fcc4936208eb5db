"""``netsh winhttp show proxy`` (formats doc §5.7): direct access, or a proxy with a bypass list.

Real output (CRLF, a blank line after the header)::

    Current WinHTTP proxy settings:

        Direct access (no proxy server).

    Current WinHTTP proxy settings:

        Proxy Server(s) :  http://YOUR_CACHE_SERVER_IP:80
        Bypass List     :  <local>

Labels are translated on localized Windows (RU ``Прокси-сервер:  10.10.0.5:3128``, zh ``直接访问。``), so when the
English labels ``Proxy Server(s)`` / ``Bypass List`` are not there the values are taken by position: the first
``label : value`` line after the header is the proxy server, the second the bypass list. The per-protocol form
(``http=host:port;https=host:port``) is kept as written in ``proxy_server``. ``Bypass List : (none)`` - what
netsh prints when a proxy has no bypass list (the formats doc is silent on it) - is read as no bypass list.

Bypass matching (:func:`bypass_covers`) follows WinHTTP's rules for a request to an IP literal such as
168.63.129.16: entries are separated by ``;`` (WinHTTP also accepts spaces); a leading ``scheme://`` and a
trailing ``:port`` are ignored; ``*`` matches any run of characters and ``?`` one character (so ``168.63.*``
and ``*`` cover 168.63.129.16); the comparison is case-insensitive. ``<local>`` covers only host names without
a dot, never an IP literal (WinHTTP documents it as "all local intranet names", i.e. dot-less names), so
``<local>`` alone does NOT bypass 168.63.129.16 or 169.254.169.254. CIDR notation is not a WinHTTP bypass
syntax and matches nothing.
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

#: "Direct access (no proxy server)." in the languages seen or likely (en both capitalisations, zh-CN, ru, fr, es,
#: de, pt). The en and zh forms are quoted in the formats doc; the others are the Windows translations of the same
#: message and only widen the match.
_DIRECT = re.compile(r"direct access|直接访问|прямой доступ|accès direct|acceso directo|direkter zugriff|"
                     r"acesso direto", re.IGNORECASE)
#: An indented or flush ``label : value`` line; the label holds no colon (full-width colon for zh/ja).
_VALUE = re.compile(r"^\s*(?P<label>[^:：]+?)\s*[:：]\s*(?P<value>\S.*?)\s*$")
_SERVER_LABEL = re.compile(r"proxy server", re.IGNORECASE)
_BYPASS_LABEL = re.compile(r"bypass", re.IGNORECASE)
#: The header line (any language): mentions WinHTTP and ends with a colon, nothing after it.
_HEADER = re.compile(r"winhttp.*[:：]\s*$", re.IGNORECASE)
_NO_BYPASS = {"(none)", "none", "(нет)", "(无)", "(aucun)", "(ninguno)", "(keine)", "(nenhum)"}
_PROMPT = re.compile(r"^\s*(PS\b[^>]*>|[A-Z]:\\[^>]*>)")


def sniff(head: str) -> bool:
    """A ``... WinHTTP ... proxy ...:`` header line (any language) or the direct-access line among the first lines."""
    first = [ln for ln in split_lines(head[:2000]) if ln.strip()][:6]
    for ln in first:
        low = ln.lower()
        if _HEADER.search(ln) and any(w in low for w in ("proxy", "прокси", "代理", "proxi")):
            return True
        if _DIRECT.search(ln) and len(ln.strip()) < 60:
            return True
    return False


def bypass_covers(bypass: str | None, ip: str) -> bool:
    """Whether a WinHTTP bypass list covers a request to the IP literal ``ip`` (rules in the module doc)."""
    if not bypass or bypass.strip().lower() in _NO_BYPASS:
        return False
    for entry in re.split(r"[;\s]+", bypass.strip()):
        e = entry.strip().lower()
        if not e or e == "<local>":
            continue  # <local> = dot-less intranet names; an IP literal always has dots
        e = re.sub(r"^[a-z][a-z0-9+.-]*://", "", e)
        e = re.sub(r":\d+$", "", e)
        if fnmatch.fnmatchcase(ip, e.replace("[", "[[]")):
            return True
    return False


def parse(text: str, *, source: str) -> ParseResult:
    lines = split_lines(text)
    issues: list[ParseIssue] = []
    values: list[tuple[int, str, str]] = []  # (line, label, value)
    direct_line: int | None = None
    for n, line in enumerate(lines, start=1):
        if _PROMPT.match(line) or _HEADER.search(line):
            continue  # the command line and "Current WinHTTP proxy settings:" are context, not values
        if _DIRECT.search(line):
            direct_line = direct_line or n
            continue
        m = _VALUE.match(line)
        if m:
            values.append((n, m["label"], m["value"]))
    row: dict[str, object]
    if direct_line is not None:
        row = {"line": direct_line, "direct": True}
        if values:
            issues.append(ParseIssue(source, values[0][0], "unexpected-line", "expected only 'Direct access (no "
                                     "proxy server).' but also found a 'label : value' line; reported as direct",
                                     text=lines[values[0][0] - 1], parser=NAME))
    elif values:
        server_at = next((v for v in values if _SERVER_LABEL.search(v[1])), None)
        bypass_at = next((v for v in values if _BYPASS_LABEL.search(v[1])), None)
        if server_at is None and bypass_at is None:  # translated labels: by position
            server_at = values[0]
            bypass_at = values[1] if len(values) > 1 else None
        server = server_at[2] if server_at else None
        bypass = bypass_at[2] if bypass_at else None
        if bypass is not None and bypass.strip().lower() in _NO_BYPASS:
            bypass = None
        row = {"line": (server_at or bypass_at or values[0])[0], "direct": False, "proxy_server": server,
               "bypass": bypass, "bypasses_wireserver": bypass_covers(bypass, WIRESERVER_IP),
               "bypasses_imds": bypass_covers(bypass, IMDS_IP)}
        if server is None:
            issues.append(ParseIssue(source, row["line"], "unexpected-shape", "expected a 'Proxy Server(s) : "
                                     "host:port' line; found only a bypass list", parser=NAME))
    else:
        row = {"line": None, "direct": None}
        issues.append(ParseIssue(source, None, "unexpected-shape", "expected 'Direct access (no proxy server).' or "
                                 "'Proxy Server(s) : host:port'; found neither (file cut or not netsh output?)",
                                 text=text[:200], parser=NAME))
    row.update(source=source, scope="winhttp", raw=text.strip("\ufeff\r\n"))
    return ParseResult({"proxy": PROXY.from_records([row])}, issues)
