"""The kit's ``commands/firewall_rules.json``: enabled outbound block rules with their address and port filters.

:func:`blocking_rules` answers "which rules block this destination?" the way Windows Defender Firewall matches:
remote address items ``Any``, an address, a range ``a-b``, a subnet ``a/nn`` or ``a/255.255.255.0``, or a keyword.
Of the keywords, ``Internet`` covers 168.63.129.16 (a public address) and ``Intranet``/``LocalSubnet``/
``DNS``/``DHCP``/``DefaultGateway``/``WINS``/``Intranetremoteaccess``/``PlayToDevice`` do not.
"""

from __future__ import annotations

import ipaddress

import pandas as pd

from ..schema import LINE, SOURCE, Col, FrameSchema
from ._jsonutil import as_list, get, load, to_bool
from .base import ParseResult

NAME = "firewall_rules"
DESCRIPTION = "Outbound block rules of Windows Defender Firewall (commands/firewall_rules.json)."
PATTERNS = ("commands/firewall_rules.json",)

FIREWALL_RULES = FrameSchema(
    "firewall_rules",
    "One row per enabled outbound block rule, with its filters (lists joined with commas).",
    (SOURCE, LINE, Col("name", "str", "Rule name (often a GUID).", False), Col("display_name", "str", "Display name."),
     Col("enabled", "boolean", "Enabled."), Col("direction", "str", "Outbound / Inbound."),
     Col("action", "str", "Block / Allow."), Col("profile", "str", "Any, Domain, Private, Public."),
     Col("protocol", "str", "TCP, UDP, Any or a number."), Col("remote_address", "str", "Remote address items."),
     Col("remote_port", "str", "Remote port items."), Col("program", "str", "Program path or Any."),
     Col("policy_store_source", "str", "Where the rule comes from (PersistentStore, GroupPolicy ...).")),
)
FRAMES = {NAME: FIREWALL_RULES}
_INTERNET_KEYWORDS = {"internet"}


def sniff(head: str) -> bool:
    return '"Direction"' in head and '"Action"' in head and '"RemoteAddress"' in head


def _join(v: object) -> str | None:
    items = as_list(v)
    return ",".join(str(i) for i in items) if items else None


def parse(text: str, *, source: str) -> ParseResult:
    data, issues = load(text, source=source, parser=NAME)
    rows = []
    for o in as_list(data):
        if not get(o, "Name") and not get(o, "DisplayName"):
            continue
        rows.append({"source": source, "line": None, "name": get(o, "Name") or get(o, "DisplayName"),
                     "display_name": get(o, "DisplayName"), "enabled": to_bool(get(o, "Enabled")),
                     "direction": get(o, "Direction"), "action": get(o, "Action"),
                     "profile": None if get(o, "Profile") is None else str(get(o, "Profile")),
                     "protocol": None if get(o, "Protocol") is None else str(get(o, "Protocol")),
                     "remote_address": _join(get(o, "RemoteAddress")), "remote_port": _join(get(o, "RemotePort")),
                     "program": get(o, "Program"), "policy_store_source": get(o, "PolicyStoreSource")})
    return ParseResult({NAME: FIREWALL_RULES.from_records(rows)}, issues)


def address_covers(item: str, ip: str) -> bool:
    """Whether one RemoteAddress item covers ``ip``."""
    it = item.strip()
    low = it.lower()
    if low in ("any", "*", ""):
        return True
    if low in _INTERNET_KEYWORDS:
        return not ipaddress.ip_address(ip).is_private and not ipaddress.ip_address(ip).is_link_local
    addr = ipaddress.ip_address(ip)
    try:
        if "-" in it:
            lo, hi = (ipaddress.ip_address(x.strip()) for x in it.split("-", 1))
            return lo <= addr <= hi
        return addr in ipaddress.ip_network(it, strict=False)
    except ValueError:
        return False  # other keywords (LocalSubnet, DNS, ...) do not cover the platform addresses


def port_covers(item: str, port: int) -> bool:
    it = item.strip().lower()
    if it in ("any", "*", ""):
        return True
    if "-" in it:
        lo, hi = it.split("-", 1)
        return lo.strip().isdigit() and hi.strip().isdigit() and int(lo) <= port <= int(hi)
    return it.isdigit() and int(it) == port


def blocking_rules(rules: pd.DataFrame, ip: str, port: int, protocol: str = "TCP") -> pd.DataFrame:
    """Enabled outbound block rules that cover ``ip``:``port`` over ``protocol``."""
    if rules.empty:
        return rules

    def covers(r: pd.Series) -> bool:
        if r["enabled"] is False or (isinstance(r["enabled"], bool) and not r["enabled"]):
            return False
        if str(r["direction"]).lower() not in ("outbound", "2", "nan", "none") or str(r["action"]).lower() not in (
                "block", "4", "nan", "none"):
            return False
        proto = str(r["protocol"]).lower() if isinstance(r["protocol"], str) else "any"
        if proto not in ("any", protocol.lower(), "6" if protocol.upper() == "TCP" else "17"):
            return False
        addrs = str(r["remote_address"]).split(",") if isinstance(r["remote_address"], str) else ["Any"]
        ports = str(r["remote_port"]).split(",") if isinstance(r["remote_port"], str) else ["Any"]
        return any(address_covers(a, ip) for a in addrs) and any(port_covers(p, port) for p in ports)

    mask = rules.apply(covers, axis=1)
    return rules[mask.to_numpy(dtype=bool)]
