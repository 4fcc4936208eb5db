"""``netsh winhttp show proxy`` (formats doc §5.7), in any display language: direct access, or a proxy with a
bypass list.

Real output (CRLF, a blank line after the header)::

    Current WinHTTP proxy settings:

        Direct access (no proxy server).

    Current WinHTTP proxy settings:

        Proxy Server(s) :  http://YOUR_CACHE_SERVER_IP:80
        Bypass List     :  <local>

The sentences and labels are translated on localized Windows (``Direkter Zugriff (kein Proxyserver).``,
``直接访问(没有代理服务器)。``, ``プロキシ サーバー:  1.2.3.4:5678``; the known ones are in
:data:`kit.parse._localized.WINHTTP_PROXY`). The decision is made by structure where it can be:

* a ``label : value`` line whose value is a proxy address (``host:port``, ``scheme://host:port``, or the per-scheme
  form ``http=host:port;https=host:port``) means a proxy is set, whatever the label's language; a line with a known
  proxy-server label counts even without a port (``netsh winhttp set proxy myproxy``);
* the bypass list is the line with a known bypass label, else the ``label : value`` line after the proxy server;
* direct access is only ever read from a known direct-access sentence.

Anything else (an untranslated sentence the tables do not know, a ``label : value`` line with no address in it) gives
``direct`` NA and an issue quoting the text: the parser never guesses "direct" or "proxy set". The per-protocol form is
kept as written in ``proxy_server``. ``Bypass List : (none)`` (and its translations) is read as no bypass list.

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
from . import _localized
from ._console import WINDOWS_PROMPT
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

_TABLE = _localized.WINHTTP_PROXY
#: normalised direct-access sentences without their final full stop; a line starting with one is direct access
_DIRECT_STARTS = tuple(sorted({_localized.norm(t).rstrip(".。") for ts in _TABLE["direct"].values() for t in ts},
                              key=len, reverse=True))
_SERVER_LABELS = _localized.index(_TABLE["proxy_server"])
_BYPASS_LABELS = _localized.index(_TABLE["bypass"])
_HEADERS = _localized.index(_TABLE["header"])
#: An indented or flush ``label : value`` line; the label holds no colon (full-width colon for zh/ja).
_VALUE = re.compile(r"^\s*(?P<label>[^:：]+?)\s*[:：]\s*(?P<value>\S.*?)\s*$")
#: The header line (any language): mentions WinHTTP and ends with a colon, nothing after it.
_HEADER = re.compile(r"winhttp.*[:：]\s*$", re.IGNORECASE)
_NO_BYPASS = {_localized.norm(t) for ts in _TABLE["no_bypass"].values() for t in ts} | {
    "(none)", "none", "(нет)", "(无)", "(aucun)", "(ninguno)", "(keine)", "(nenhum)"}
_PROMPT = WINDOWS_PROMPT
_HOSTPORT = r"(?:[A-Za-z][A-Za-z0-9+.-]*://)?(?:\[[0-9A-Fa-f:.]+\]|[^\s:;=/\[\]]+):\d{1,5}/?"
#: a proxy address as netsh prints it: host:port, scheme://host:port, or scheme=host:port;scheme=host:port
_PROXY_VALUE = re.compile(rf"^(?:[A-Za-z]+=)?{_HOSTPORT}(?:[;\s]+(?:[A-Za-z]+=)?{_HOSTPORT})*;?$")


def _is_direct(line: str) -> bool:
    return _localized.norm(line).startswith(_DIRECT_STARTS) if line.strip() else False


def _is_header(line: str) -> bool:
    return bool(_HEADER.search(line)) or _localized.norm(line) in _HEADERS


def sniff(head: str) -> bool:
    """A ``... WinHTTP ... proxy ...:`` header line (any language) or the direct-access line among the first lines."""
    first = [ln for ln in split_lines(head[:2000]) if ln.strip()][:6]
    for ln in first:
        low = ln.lower()
        if _localized.norm(ln) in _HEADERS or (
                _HEADER.search(ln) and any(w in low for w in ("proxy", "прокси", "代理", "proxi", "プロキシ"))):
            return True
        if _is_direct(ln) and len(ln.strip()) < 60:
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
    other: list[tuple[int, str]] = []  # text lines that are neither header, direct access nor label : value
    direct_line: int | None = None
    for n, line in enumerate(lines, start=1):
        if not line.strip() or _PROMPT.match(line) or _is_header(line):
            continue  # the command line and "Current WinHTTP proxy settings:" are context, not values
        if _is_direct(line):
            direct_line = direct_line or n
            continue
        m = _VALUE.match(line)
        if m:
            values.append((n, m["label"], m["value"]))
        else:
            other.append((n, line.strip()))
    row: dict[str, object]
    if direct_line is not None:
        row = {"line": direct_line, "direct": True}
        if values:
            issues.append(ParseIssue(source, values[0][0], "unexpected-line", "expected only 'Direct access (no "
                                     "proxy server).' but also found a 'label : value' line; reported as direct",
                                     text=lines[values[0][0] - 1], parser=NAME))
    elif values:
        server_at = next((v for v in values if _localized.norm(v[1]) in _SERVER_LABELS), None)
        bypass_at = next((v for v in values if _localized.norm(v[1]) in _BYPASS_LABELS), None)
        if server_at is None:  # labels in a language the table does not know: the value's shape decides
            server_at = next((v for v in values if v is not bypass_at and _PROXY_VALUE.match(v[2])), None)
        if server_at is not None and bypass_at is None:
            after = [v for v in values if v[0] > server_at[0]]
            bypass_at = after[0] if after else None
        if server_at is None and bypass_at is None:
            row = {"line": values[0][0], "direct": None}
            issues.append(ParseIssue(source, values[0][0], "unknown-label", "found 'label : value' lines but no "
                                     "known proxy-server label and no proxy address (host:port) among the values: "
                                     "cannot tell direct access from a proxy", text=lines[values[0][0] - 1],
                                     parser=NAME))
        else:
            server = server_at[2] if server_at else None
            bypass = bypass_at[2] if bypass_at else None
            if bypass is not None and _localized.norm(bypass) in _NO_BYPASS:
                bypass = None
            row = {"line": (server_at or bypass_at)[0], "direct": False, "proxy_server": server,
                   "bypass": bypass, "bypasses_wireserver": bypass_covers(bypass, WIRESERVER_IP),
                   "bypasses_imds": bypass_covers(bypass, IMDS_IP)}
            if server is None:
                issues.append(ParseIssue(source, row["line"], "unexpected-shape", "expected a 'Proxy Server(s) : "
                                         "host:port' line; found only a bypass list", parser=NAME))
    elif other:
        row = {"line": other[0][0], "direct": None}
        issues.append(ParseIssue(source, other[0][0], "unknown-label", "not a 'Direct access (no proxy server).' "
                                 "sentence in a known language (" + ", ".join(sorted(_TABLE["direct"])) + ") and "
                                 "no 'label : value' line with a proxy address: cannot tell direct access from a "
                                 "proxy", text=other[0][1], parser=NAME))
    else:
        row = {"line": None, "direct": None}
        issues.append(ParseIssue(source, None, "unexpected-shape", "expected 'Direct access (no proxy server).' or "
                                 "'Proxy Server(s) : host:port'; found neither (file cut or not netsh output?)",
                                 text=text[:200], parser=NAME))
    row.update(source=source, scope="winhttp", raw=text.strip("\ufeff\r\n"))
    return ParseResult({"proxy": PROXY.from_records([row])}, issues)
