"""``route print`` (formats doc §5.3-5.5), in any display language: Interface List, IPv4 and IPv6 route tables,
active and persistent.

Rows are read by their STRUCTURE, never by a label, so localized output parses like English:

* an IPv4 active row is ``destination netmask gateway interface metric`` where destination, netmask and interface
  are dotted quads and metric a number; whatever stands in the gateway column is either an address or the
  localized "On-link" word(s) (``On-link``, ``Auf Verbindung``, ``En vínculo``, ``在链路上``, ``リンク上`` ...): one or
  more words in any script, without digits, means on-link;
* an IPv4 row with four columns (``destination netmask gateway metric``) is a persistent route: route print shows
  persistent routes without an interface column; a metric that is a word (``Default``, ``Standard`` ...) is the
  persistent store's default metric;
* an IPv6 row is ``If Metric prefix/len gateway``, the gateway (an address or on-link words) possibly wrapped onto
  the next, indented line when the destination is long;
* interface rows are ``N...mac ......description``.

Only two things need a label: active versus persistent for IPv6 rows (both blocks have the same columns; the block
label is looked up in :data:`kit.parse._localized.ROUTE_PRINT`, any label line ending in a colon that is not known
makes the block unknown: those rows get ``store`` NA and an issue says so, nothing is guessed), and recognising
header lines so that they are not reported. ``route -4 print`` output without IPv6, ``None`` sections in any
language and pasted fragments without headers are handled.
"""

from __future__ import annotations

import ipaddress
import re

from ..schema import LINE, SOURCE, Col, FrameSchema
from ..textio import split_lines
from . import _localized
from ._console import WINDOWS_PROMPT
from .base import ParseIssue, ParseResult

NAME = "route_print"
DESCRIPTION = "Output of `route print`."
PATTERNS = ("commands/route_print.txt",)

ROUTES = FrameSchema(
    "routes",
    "One row per route, from `route print` and/or `Get-NetRoute`. Use kit.derive.routes.effective_route() to get the "
    "route Windows picks for an address (longest prefix, then lowest metric).",
    (SOURCE, LINE,
     Col("origin", "category", "route_print, get_netroute_json or get_netroute_table.", False),
     Col("family", "category", "IPv4 or IPv6.", False),
     Col("destination", "str", "Destination as CIDR (10.1.0.0/24, 168.63.129.16/32, fe80::/64).", False),
     Col("prefix_len", "Int64", "Prefix length."),
     Col("netmask", "str", "IPv4 netmask as written (NA for IPv6)."),
     Col("gateway", "str", "Next hop address; NA when the route is on-link."),
     Col("on_link", "bool", "Directly connected (route print `On-link`, Get-NetRoute next hop 0.0.0.0 or ::).",
         False),
     Col("interface", "str", "Local interface address (route print's IPv4 Interface column)."),
     Col("if_index", "Int64", "Interface index (route print IPv6 rows, Get-NetRoute)."),
     Col("metric", "Int64", "Total metric as Windows compares it (route print's Metric; RouteMetric + "
         "InterfaceMetric for Get-NetRoute when both are known)."),
     Col("route_metric", "Int64", "Route metric alone (Get-NetRoute; persistent route print rows)."),
     Col("if_metric", "Int64", "Interface metric (Get-NetRoute)."),
     Col("persistent", "bool", "From the persistent store (route add -p / static configuration).", False),
     Col("metric_default", "bool", "Persistent route whose metric is shown as `Default`.", False),
     Col("store", "category", "ActiveStore or PersistentStore."),
     Col("protocol", "str", "How the route was installed (Get-NetRoute: Dhcp, NetMgmt, Local, ...)."),
     Col("state", "str", "Get-NetRoute State (Alive, ...).")),
)
INTERFACES = FrameSchema(
    "interfaces",
    "The Interface List of `route print`.",
    (SOURCE, LINE,
     Col("if_index", "Int64", "Interface index.", False),
     Col("mac", "str", "MAC address, lower-case with dashes (NA for loopback/tunnels without one)."),
     Col("description", "str", "Adapter description.")),
)
FRAMES = {"routes": ROUTES, "interfaces": INTERFACES}

_IF = re.compile(r"^\s*(\d+)\s*\.\.\.((?:[0-9a-fA-F]{2} ){6,8})?\s*\.*\s*(.*?)\s*$")
_V4 = r"\d{1,3}(?:\.\d{1,3}){3}"
#: destination, netmask, gateway-or-words, interface, metric
_ACTIVE4 = re.compile(rf"^\s*({_V4})\s+({_V4})\s+(\S.*?)\s+({_V4})\s+(\d+)\s*$")
#: destination, netmask, gateway, metric-or-word (persistent routes have no interface column)
_PERSIST4 = re.compile(rf"^\s*({_V4})\s+({_V4})\s+({_V4})\s+(\d+|[^\d\s.:][^\d.:]*?)\s*$")
#: If, metric, prefix, gateway-or-words (absent when wrapped onto the next line)
_V6 = re.compile(r"^\s*(\d+)\s+(\d+)\s+([0-9A-Fa-f:.%]+/\d+)(?:\s+(\S.*?))?\s*$")
_V6_WRAP = re.compile(r"^\s{10,}(\S.*?)\s*$")
#: the start of a (possibly damaged) route row: a dotted quad or "If Metric x:"
_ROWISH = re.compile(rf"^\s*({_V4}\b|\d+\s+\d+\s+[0-9A-Fa-f]*:)")
_RULER = re.compile(r"^\s*={20,}\s*$")
_FAMILY = re.compile(r"(?<![0-9A-Za-z])IPv([46])(?![0-9])", re.IGNORECASE)
_PROMPT = re.compile(rf"{WINDOWS_PROMPT.pattern}|^\s*route(\.exe)?\s+(-\d\s+)?print\b", re.IGNORECASE)
#: an on-link word: at most four words, no digits and no address punctuation
_WORDS = re.compile(r"^[^\d:./\\]+(?:\s[^\d:./\\]+){0,3}$")

_LABELS = {key: _localized.index(table) for key, table in _localized.ROUTE_PRINT.items()}
_HEADER_STARTS = tuple(sorted(_LABELS["column_header"], key=len, reverse=True))


def sniff(head: str) -> bool:
    """English labels, or (any language) ``=====`` rulers around rows of dotted quads or IPv6 route rows."""
    if ("Network Destination" in head and "Netmask" in head) or (
            "Interface List" in head and ("Route Table" in head or "Active Routes" in head)):
        return True
    if re.search(rf"(?m)^\s*0\.0\.0\.0\s+0\.0\.0\.0\s+\S+\s+{_V4}\s+\d+\s*$", head):
        return True
    lines = split_lines(head)
    if not any(_RULER.match(ln) for ln in lines):
        return False
    rows = sum(1 for ln in lines if _ACTIVE4.match(ln) or _PERSIST4.match(ln) or _V6.match(ln))
    return rows >= 2


def _prefix(dest: str, mask: str) -> tuple[str, int] | None:
    """``(cidr, prefix_len)``, or None when the address or the netmask is not valid (300.1.2.3, 255.0.255.0)."""
    try:
        net = ipaddress.ip_network(f"{dest}/{mask}", strict=False)
    except ValueError:
        return None
    return f"{net.network_address}/{net.prefixlen}", net.prefixlen


def _is_v4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _is_v6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text.split("%")[0])
    except ValueError:
        return False
    return True


def _bad_address(source: str, n: int, text: str) -> ParseIssue:
    return ParseIssue(source, n, "unexpected-line", "route row whose destination or netmask is not a valid IPv4 "
                      "address / contiguous netmask; row skipped", text=text, parser=NAME)


def _label(kind: str, text: str) -> bool:
    return _localized.norm(text) in _LABELS[kind]


class _State:
    """Where in route print's fixed layout the parser is."""

    def __init__(self) -> None:
        self.block: str | None = None  # "active", "persistent", "unknown" (a label no table knows) or None
        self.unknown_labels: list[tuple[int, str]] = []
        self.unknown_text: list[tuple[int, str]] = []
        self.unknown_words: dict[str, int] = {}
        self.v6_unknown: list[int] = []


def parse(text: str, *, source: str) -> ParseResult:
    routes: list[dict] = []
    ifaces: list[dict] = []
    issues: list[ParseIssue] = []
    st = _State()
    pending_v6: dict | None = None

    def note_word(word: str, n: int) -> None:
        if not _label("on_link", word):
            st.unknown_words.setdefault(word, n)

    def v6_gateway(row: dict, gw: str, n: int, raw: str) -> None:
        if _is_v6(gw):
            row["on_link"], row["gateway"] = False, gw
        elif _WORDS.match(gw):
            row["on_link"], row["gateway"] = True, None
            note_word(gw, n)
        else:
            issues.append(ParseIssue(source, n, "unexpected-line", "IPv6 route whose gateway is neither an address "
                                     "nor the on-link word(s); row kept with the gateway unknown",
                                     text=raw.strip(), parser=NAME))
            row["on_link"], row["gateway"] = False, None

    def v6_block(row: dict) -> None:
        if st.block == "persistent":
            row.update(persistent=True, store="PersistentStore")
        elif st.block == "unknown":
            row.update(persistent=False, store=None)
            st.v6_unknown.append(row["line"])
        else:
            row.update(persistent=False, store="ActiveStore")

    for n, raw in enumerate(split_lines(text), start=1):
        line = raw.rstrip()
        s = line.strip()
        if pending_v6 is not None:
            w = _V6_WRAP.match(line)
            if w and not _V6.match(line) and not _ROWISH.match(line):
                v6_gateway(pending_v6, w.group(1), n, line)
                routes.append(pending_v6)
                pending_v6 = None
                continue
            routes.append(pending_v6)  # a v6 row whose gateway never came: keep it, gateway unknown
            issues.append(ParseIssue(source, pending_v6["line"], "unexpected-line", "IPv6 route without a gateway "
                                     "(expected it at the end of the row or indented on the next line)",
                                     text=s, parser=NAME))
            pending_v6 = None
        if not s or _RULER.match(line):
            continue
        m = _IF.match(line)
        if m and not _ROWISH.match(line):
            mac = m.group(2).strip().replace(" ", "-").lower() if m.group(2) else None
            if mac and set(mac.replace("-", "")) == {"0"}:
                mac = None if len(mac.split("-")) != 6 else mac
            ifaces.append({"source": source, "line": n, "if_index": int(m.group(1)), "mac": mac,
                           "description": m.group(3) or None})
            continue
        m4 = _ACTIVE4.match(line)
        if m4:
            dest, mask, gw, iface, metric = m4.groups()
            if _is_v4(gw):
                on_link = False
            elif _WORDS.match(gw):
                on_link = True
                note_word(gw, n)
            else:
                issues.append(ParseIssue(source, n, "unexpected-line", "IPv4 route row whose gateway column is "
                                         "neither an address nor the on-link word(s)", text=s, parser=NAME))
                continue
            pfx = _prefix(dest, mask)
            if pfx is None:
                issues.append(_bad_address(source, n, s))
                continue
            cidr, plen = pfx
            routes.append({"source": source, "line": n, "origin": "route_print", "family": "IPv4",
                           "destination": cidr, "prefix_len": plen, "netmask": mask,
                           "gateway": None if on_link else gw, "on_link": on_link, "interface": iface,
                           "metric": int(metric), "persistent": False, "metric_default": False,
                           "store": "ActiveStore"})
            continue
        mp = _PERSIST4.match(line)
        if mp:
            dest, mask, gw, metric = mp.groups()
            pfx = _prefix(dest, mask)
            if pfx is None:
                issues.append(_bad_address(source, n, s))
                continue
            cidr, plen = pfx
            is_default = not metric.isdigit()
            routes.append({"source": source, "line": n, "origin": "route_print", "family": "IPv4",
                           "destination": cidr, "prefix_len": plen, "netmask": mask, "gateway": gw,
                           "on_link": False, "route_metric": None if is_default else int(metric),
                           "persistent": True, "metric_default": is_default, "store": "PersistentStore"})
            continue
        m6 = _V6.match(line)
        if m6:
            idx, metric, dest, gw = m6.groups()
            try:
                net = ipaddress.ip_network(dest.split("%")[0], strict=False)
            except ValueError:
                net = None
            row = {"source": source, "line": n, "origin": "route_print", "family": "IPv6",
                   "destination": str(net) if net else dest, "prefix_len": net.prefixlen if net else None,
                   "if_index": int(idx), "metric": int(metric), "metric_default": False}
            v6_block(row)
            if gw is None:
                pending_v6 = row
            else:
                v6_gateway(row, gw, n, line)
                routes.append(row)
            continue
        if _ROWISH.match(line):
            issues.append(ParseIssue(source, n, "unexpected-line", "looks like a route row but is not one of route "
                                     "print's row shapes (destination netmask gateway interface metric; "
                                     "destination netmask gateway metric; If metric prefix gateway)",
                                     text=s, parser=NAME))
            continue
        # a text line: a section label, a table title, a column header, a "None" word, the command line
        if _label("active", s):
            st.block = "active"
        elif _label("persistent", s):
            st.block = "persistent"
        elif _FAMILY.search(s) and len(s) < 60:
            st.block = None  # a new route table starts (its title names IPv4/IPv6 in every language)
        elif (_label("interface_list", s) or _label("none", s) or _localized.norm(s).startswith(_HEADER_STARTS)
              or _PROMPT.match(s)):
            pass
        elif re.search(r"[:：]$", s) and len(s) < 60:
            st.block = "unknown"  # a block label in a language the tables do not know
            st.unknown_labels.append((n, s))
        else:
            st.unknown_text.append((n, s))
    if pending_v6 is not None:
        routes.append(pending_v6)
    for r in routes:
        r.setdefault("on_link", False)
    if st.unknown_labels or st.unknown_text or st.unknown_words:
        first = min([x[0] for x in st.unknown_labels + st.unknown_text] + list(st.unknown_words.values()))
        seen = [t for _, t in (st.unknown_labels + st.unknown_text)[:4]] + list(st.unknown_words)[:2]
        issues.append(ParseIssue(source, first, "unknown-label", "route print labels not in the known languages "
                                 f"({', '.join(sorted(_localized.ROUTE_PRINT['active']))}): "
                                 f"{'; '.join(repr(t) for t in seen)}; routes were read by the shape of their rows "
                                 "(a word in the gateway column is taken as on-link)", parser=NAME))
    if st.v6_unknown:
        issues.append(ParseIssue(source, st.v6_unknown[0], "unknown-section", f"{len(st.v6_unknown)} IPv6 route(s) "
                                 "under a block label no table knows: cannot tell active from persistent, so their "
                                 "store is left empty (their persistent column says False only because it cannot "
                                 "be empty)", parser=NAME))
    return ParseResult({"routes": ROUTES.from_records(routes), "interfaces": INTERFACES.from_records(ifaces)}, issues)
