"""``Get-NetIPAddress`` as JSON (docs/bundle-format.md)."""

from __future__ import annotations

from ._jsonutil import as_list, get, load, to_bool, to_int
from .base import ParseResult
from .ipconfig import IP_ADDRESSES

NAME = "get_netipaddress"
DESCRIPTION = "Get-NetIPAddress output (JSON)."
PATTERNS = ("commands/get_netipaddress.json",)
FRAMES = {"ip_addresses": IP_ADDRESSES}
_FAMILY = {"2": "IPv4", "23": "IPv6", "ipv4": "IPv4", "ipv6": "IPv6"}


def sniff(head: str) -> bool:
    return '"IPAddress"' in head and '"PrefixLength"' in head


def parse(text: str, *, source: str) -> ParseResult:
    data, issues = load(text, source=source, parser=NAME)
    rows = []
    order: dict[object, int] = {}
    for o in as_list(data):
        addr = get(o, "IPAddress")
        if not addr:
            continue
        alias = get(o, "InterfaceAlias")
        fam = _FAMILY.get(str(get(o, "AddressFamily", default="")).lower()) or ("IPv6" if ":" in addr else "IPv4")
        key = (alias, fam)
        order[key] = order.get(key, -1) + 1
        rows.append({"source": source, "line": None, "origin": "get_netipaddress", "adapter": alias,
                     "if_index": to_int(get(o, "InterfaceIndex")), "family": fam, "address": str(addr).split("%")[0],
                     "prefix_len": to_int(get(o, "PrefixLength")),
                     "state": None if get(o, "AddressState") is None else str(get(o, "AddressState")),
                     "skip_as_source": to_bool(get(o, "SkipAsSource")),
                     "prefix_origin": None if get(o, "PrefixOrigin") is None else str(get(o, "PrefixOrigin")),
                     "order": order[key]})
    return ParseResult({"ip_addresses": IP_ADDRESSES.from_records(rows)}, issues)
