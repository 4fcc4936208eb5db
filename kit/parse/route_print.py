"""``route print`` (formats doc §5.3-5.5): Interface List, IPv4 and IPv6 route tables, active and persistent.

Handles wrapped IPv6 rows (a long destination puts its gateway on the next line, indented), persistent routes
whose metric is the word ``Default``, ``None`` sections, and ``route -4 print`` output without IPv6. Rows are
recognised by their shape (addresses and numbers), so localized headers do not stop the parse; the English
section headers only decide active versus persistent.
"""

from __future__ import annotations

import ipaddress
import re

from ..schema import LINE, SOURCE, Col, FrameSchema
from ..textio import split_lines
from .base import ParseIssue, ParseResult

NAME = "route_print"
DESCRIPTION = "Output of `route print`."
PATTERNS = ("commands/route_print.txt",)

ROUTES = FrameSchema(
    "routes",
    "One row per route, from `route print` and/or `Get-NetRoute`. Use kit.routing.effective_route() to get the "
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
_ACTIVE4 = re.compile(rf"^\s*({_V4})\s+({_V4})\s+({_V4}|\S+)\s+({_V4})\s+(\d+)\s*$")
_PERSIST4 = re.compile(rf"^\s*({_V4})\s+({_V4})\s+({_V4})\s+(\d+|\S+)\s*$")
_V6 = re.compile(r"^\s*(\d+)\s+(\d+)\s+([0-9A-Fa-f:.%]+/\d+)\s*(\S+)?\s*$")
_V6_WRAP = re.compile(r"^\s{10,}(\S+)\s*$")


def sniff(head: str) -> bool:
    return ("Network Destination" in head and "Netmask" in head) or (
        "Interface List" in head and ("Route Table" in head or "Active Routes" in head)) or bool(
        re.search(rf"(?m)^\s*0\.0\.0\.0\s+0\.0\.0\.0\s+\S+\s+{_V4}\s+\d+\s*$", head))


def _prefix(dest: str, mask: str) -> tuple[str, int]:
    net = ipaddress.ip_network(f"{dest}/{mask}", strict=False)
    return f"{net.network_address}/{net.prefixlen}", net.prefixlen


def parse(text: str, *, source: str) -> ParseResult:
    routes, ifaces, issues = [], [], []
    section, persistent = None, False
    pending_v6: dict | None = None
    for n, raw in enumerate(split_lines(text), start=1):
        line = raw.rstrip()
        s = line.strip()
        if pending_v6 is not None:
            w = _V6_WRAP.match(line)
            if w and not _V6.match(line):
                gw = w.group(1)
                pending_v6["on_link"] = gw.lower() == "on-link"
                pending_v6["gateway"] = None if pending_v6["on_link"] else gw
                routes.append(pending_v6)
                pending_v6 = None
                continue
            routes.append(pending_v6)  # a v6 row whose gateway never came: keep it, gateway unknown
            issues.append(ParseIssue(source, pending_v6["line"], "unexpected-line", "IPv6 route without a gateway "
                                     "(expected it at the end of the row or indented on the next line)",
                                     text=s, parser=NAME))
            pending_v6 = None
        if not s or set(s) <= {"="}:
            continue
        low = s.lower()
        if low.startswith("interface list"):
            section = "interfaces"
            continue
        if "ipv4 route table" in low:
            section, persistent = "routes", False
            continue
        if "ipv6 route table" in low:
            section, persistent = "routes", False
            continue
        if low.startswith("active routes"):
            section, persistent = "routes", False
            continue
        if low.startswith("persistent routes"):
            section, persistent = "routes", True
            continue
        if low in ("none",) or low.startswith(("network destination", "network address", "if metric",
                                               "route print")):
            continue
        if section == "interfaces":
            m = _IF.match(line)
            if m:
                mac = m.group(2).strip().replace(" ", "-").lower() if m.group(2) else None
                if mac and set(mac.replace("-", "")) == {"0"}:
                    mac = None if len(mac.split("-")) != 6 else mac
                ifaces.append({"source": source, "line": n, "if_index": int(m.group(1)), "mac": mac,
                               "description": m.group(3) or None})
                continue
        m4 = _ACTIVE4.match(line)
        if m4:
            dest, mask, gw, iface, metric = m4.groups()
            cidr, plen = _prefix(dest, mask)
            on_link = gw.lower() == "on-link" or not re.fullmatch(_V4, gw)
            routes.append({"source": source, "line": n, "origin": "route_print", "family": "IPv4",
                           "destination": cidr, "prefix_len": plen, "netmask": mask,
                           "gateway": None if on_link else gw, "on_link": on_link, "interface": iface,
                           "metric": int(metric), "persistent": False, "metric_default": False,
                           "store": "ActiveStore"})
            continue
        mp = _PERSIST4.match(line)
        if mp and (persistent or section is None):
            dest, mask, gw, metric = mp.groups()
            cidr, plen = _prefix(dest, mask)
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
                   "if_index": int(idx), "metric": int(metric), "persistent": persistent, "metric_default": False,
                   "store": "PersistentStore" if persistent else "ActiveStore"}
            if gw is None:
                pending_v6 = row
            else:
                row["on_link"] = gw.lower() == "on-link"
                row["gateway"] = None if row["on_link"] else gw
                routes.append(row)
            continue
        issues.append(ParseIssue(source, n, "unexpected-line", "line is not a route row, an interface row or a "
                                 "section header of `route print`", text=s, parser=NAME))
    if pending_v6 is not None:
        routes.append(pending_v6)
    for r in routes:
        r.setdefault("on_link", False)
    return ParseResult({"routes": ROUTES.from_records(routes), "interfaces": INTERFACES.from_records(ifaces)}, issues)
