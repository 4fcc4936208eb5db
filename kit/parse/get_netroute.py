"""``Get-NetRoute`` as JSON (docs/bundle-format.md) or as the Format-Table text customers paste (formats doc §5.6)."""

from __future__ import annotations

import ipaddress
import json
import re

from ..textio import split_lines
from ._jsonutil import as_list, get, load, to_int
from .base import ParseIssue, ParseResult
from .route_print import ROUTES

NAME = "get_netroute"
DESCRIPTION = "Get-NetRoute output (JSON or table)."
PATTERNS = ("commands/get_netroute.json", "commands/get_netroute.txt")
FRAMES = {"routes": ROUTES}

_FAMILY = {"2": "IPv4", "23": "IPv6", "ipv4": "IPv4", "ipv6": "IPv6"}
_STORE = {"0": "PersistentStore", "1": "ActiveStore", "persistentstore": "PersistentStore",
          "activestore": "ActiveStore"}
_HEADER = re.compile(r"^\s*ifIndex\s+DestinationPrefix\s+NextHop\s+RouteMetric", re.IGNORECASE)


def sniff(head: str) -> bool:
    return ('"DestinationPrefix"' in head and '"NextHop"' in head) or bool(_HEADER.search(head))


def _row(source: str, line: int | None, origin: str, dest: str, nexthop: str | None, route_metric: int | None,
         if_metric: int | None, if_index: int | None, store: str | None, **extra: object) -> dict:
    try:
        net = ipaddress.ip_network(dest, strict=False)
        family = "IPv4" if net.version == 4 else "IPv6"
        cidr, plen = str(net), net.prefixlen
    except ValueError:
        family, cidr, plen = ("IPv6" if ":" in dest else "IPv4"), dest, None
    on_link = nexthop in (None, "", "0.0.0.0", "::")
    total = route_metric + if_metric if route_metric is not None and if_metric is not None else None
    persistent = store == "PersistentStore"
    return {"source": source, "line": line, "origin": origin, "family": family, "destination": cidr,
            "prefix_len": plen, "gateway": None if on_link else nexthop, "on_link": on_link, "if_index": if_index,
            "metric": total, "route_metric": route_metric, "if_metric": if_metric, "persistent": persistent,
            "metric_default": False, "store": store, **extra}


def parse(text: str, *, source: str) -> ParseResult:
    if text.lstrip("\ufeff \r\n\t").startswith(("[", "{")):
        return _parse_json(text, source)
    return _parse_table(text, source)


def _parse_json(text: str, source: str) -> ParseResult:
    data, issues = load(text, source=source, parser=NAME)
    rows = []
    for i, o in enumerate(as_list(data)):
        dest = get(o, "DestinationPrefix")
        if not dest:
            issues.append(ParseIssue(source, None, "unexpected-shape", f"item {i} has no DestinationPrefix",
                                     text=json.dumps(o)[:200], parser=NAME))
            continue
        store = _STORE.get(str(get(o, "Store", default="")).lower(), get(o, "Store"))
        rows.append(_row(source, None, "get_netroute_json", str(dest), get(o, "NextHop"),
                         to_int(get(o, "RouteMetric")), to_int(get(o, "InterfaceMetric")), to_int(get(o, "ifIndex")),
                         store, protocol=None if get(o, "Protocol") is None else str(get(o, "Protocol")),
                         state=None if get(o, "State") is None else str(get(o, "State")),
                         family_hint=_FAMILY.get(str(get(o, "AddressFamily", default="")).lower())))
    for r in rows:
        hint = r.pop("family_hint")
        if hint and r["prefix_len"] is None:
            r["family"] = hint
    return ParseResult({"routes": ROUTES.from_records(rows)}, issues)


def _parse_table(text: str, source: str) -> ParseResult:
    rows, issues, in_table = [], [], False
    for n, raw in enumerate(split_lines(text), start=1):
        s = raw.strip()
        if _HEADER.match(raw):
            in_table = True
            continue
        if not s or set(s) <= {"-", " "}:
            continue
        parts = s.split()
        if not in_table or len(parts) < 4 or not parts[0].isdigit():
            issues.append(ParseIssue(source, n, "unexpected-line", "not a Get-NetRoute table row "
                                     "(ifIndex DestinationPrefix NextHop RouteMetric ifMetric PolicyStore)",
                                     text=s, parser=NAME))
            continue
        idx, dest, hop, rmetric = parts[:4]
        rest = parts[4:]
        if_metric = to_int(rest[0]) if rest and rest[0].isdigit() else None
        store_word = rest[-1] if rest and not rest[-1].isdigit() else None
        store = None
        if store_word:
            store = "PersistentStore" if store_word.lower().startswith("persist") else (
                "ActiveStore" if store_word.lower().startswith("active") else None)
        rows.append(_row(source, n, "get_netroute_table", dest, hop, to_int(rmetric), if_metric, int(idx), store))
    return ParseResult({"routes": ROUTES.from_records(rows)}, issues)
