"""The kit's ``commands/firewall_rules.json``: enabled outbound block rules with their address and port filters.

Shape (docs/bundle-format.md)::

    [{"Name": "{5c1a6b61-...}", "DisplayName": "Block WireServer plugin port", "Enabled": true,
      "Direction": "Outbound", "Action": "Block", "Profile": "Any", "PolicyStoreSource": "PersistentStore",
      "Protocol": "TCP", "RemoteAddress": ["168.63.129.16"], "RemotePort": ["32526"], "LocalPort": ["Any"],
      "Program": "Any"}]

A plain ``ConvertTo-Json`` writes the CIM enumerations as integers; they are mapped to their names here
(Enabled 1 = True, 2 = False; Direction 1 = Inbound, 2 = Outbound; Action 2 = Allow, 3 = AllowBypass,
4 = Block; Profile flags 0 = Any, 1 = Domain, 2 = Private, 4 = Public).

:func:`blocking_rules` answers "which rules block this destination?" the way Windows Defender Firewall matches
a rule's remote-address items: ``Any`` (or ``*``); a single address; a range ``a-b``; a subnet ``a/nn`` or
``a/255.255.255.0``; or a keyword. Keywords and 168.63.129.16 / 169.254.169.254:

* ``Internet`` covers any address that is not private, loopback or link-local: it covers 168.63.129.16 (a
  public address) and not 169.254.169.254 (link-local);
* ``DHCP`` covers 168.63.129.16: it is the DHCP server of every Azure VM (formats doc §5.3);
* ``DNS`` covers 168.63.129.16 by default (Azure-provided DNS, the default); pass ``keyword_addresses`` with the
  VM's real DNS servers (e.g. from ``ipconfig /all``) to be exact;
* ``LocalSubnet``, ``Intranet``, ``DefaultGateway``, ``WINS``, ``IntranetRemoteAccess``, ``PlayToDevice``,
  ``Captive portal`` addresses and any other keyword cover neither (168.63.129.16 is outside the VNet's subnets
  and is never the default gateway).

Port items: ``Any``, ``n``, ``n-m``; keywords (``RPC``, ``RPCEPMap``, ``IPHTTPS`` ...) match no platform port.
Protocol: ``Any``, ``TCP``/``UDP`` or their numbers 6/17. A rule limited to a program blocks only that program:
it counts only when the program is Any or one of ``programs`` (default: the agent's executables). All profiles
are considered (the active profile is not in the bundle). A rule with no Direction / Action / Enabled is taken
as what the file holds by construction: an enabled outbound block rule.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping

import pandas as pd

from ..net import WIRESERVER_IP
from ..schema import LINE, SOURCE, Col, FrameSchema
from ._jsonutil import as_list, get, to_bool
from .base import ParseIssue, ParseResult
from .tcp_probes import load_objects

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

#: Executables of the Windows guest agent (formats doc §1, §1.4).
AGENT_PROGRAMS: tuple[str, ...] = ("WindowsAzureGuestAgent.exe", "WaAppAgent.exe")
#: Default addresses of the keywords that can name 168.63.129.16 on an Azure VM (see module doc).
DEFAULT_KEYWORD_ADDRESSES: dict[str, tuple[str, ...]] = {"dhcp": (WIRESERVER_IP,), "dns": (WIRESERVER_IP,)}

_ENABLED = {"1": True, "2": False}
_DIRECTION = {"1": "Inbound", "2": "Outbound"}
_ACTION = {"0": "NotConfigured", "2": "Allow", "3": "AllowBypass", "4": "Block"}
_PROFILE_FLAGS = ((1, "Domain"), (2, "Private"), (4, "Public"))
_PROTO_NUM = {"tcp": "6", "udp": "17", "icmpv4": "1", "icmpv6": "58"}


def sniff(head: str) -> bool:
    return '"Direction"' in head and '"Action"' in head and '"RemoteAddress"' in head


def _join(v: object) -> str | None:
    items = [str(i).strip() for i in as_list(v) if i is not None and str(i).strip()]
    return ",".join(items) if items else None


def _enum(v: object, names: Mapping[str, str]) -> str | None:
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    s = str(v).strip()
    return names.get(s, s)


def _profile(v: object) -> str | None:
    if v is None:
        return None
    s = str(v).strip()
    if not s.isdigit():
        return s or None
    n = int(s)
    return "Any" if n == 0 else ", ".join(name for bit, name in _PROFILE_FLAGS if n & bit) or s


def parse(text: str, *, source: str) -> ParseResult:
    items, issues = load_objects(text, source=source, parser=NAME)
    rows = []
    for i, o in enumerate(items):
        if not isinstance(o, dict) or not (get(o, "Name") or get(o, "DisplayName")):
            issues.append(ParseIssue(source, None, "unexpected-shape", f"item {i}: expected a rule with Name or "
                                     f"DisplayName; found {json.dumps(o)[:120]}", text=json.dumps(o)[:300],
                                     parser=NAME))
            continue
        enabled = get(o, "Enabled")
        enabled = to_bool(enabled) if to_bool(enabled) is not None else _ENABLED.get(str(enabled))
        rows.append({"source": source, "line": None, "name": str(get(o, "Name") or get(o, "DisplayName")),
                     "display_name": get(o, "DisplayName"), "enabled": enabled,
                     "direction": _enum(get(o, "Direction"), _DIRECTION), "action": _enum(get(o, "Action"), _ACTION),
                     "profile": _profile(get(o, "Profile")), "protocol": _enum(get(o, "Protocol"), {}),
                     "remote_address": _join(get(o, "RemoteAddress")), "remote_port": _join(get(o, "RemotePort")),
                     "program": _enum(get(o, "Program"), {}),
                     "policy_store_source": _enum(get(o, "PolicyStoreSource"), {})})
    return ParseResult({NAME: FIREWALL_RULES.from_records(rows)}, issues)


def address_covers(item: str, ip: str, keyword_addresses: Mapping[str, Iterable[str]] | None = None) -> bool:
    """Whether one RemoteAddress item covers ``ip`` (rules in the module doc)."""
    it = item.strip()
    low = it.lower()
    if low in ("any", "*", ""):
        return True
    try:
        addr = ipaddress.ip_address(ip.strip())
    except ValueError:
        return False  # a host name: only Any covers it
    kw = DEFAULT_KEYWORD_ADDRESSES if keyword_addresses is None else {k.lower(): tuple(v) for k, v in
                                                                      keyword_addresses.items()}
    if low == "internet":
        return not (addr.is_private or addr.is_loopback or addr.is_link_local or addr.is_multicast)
    if low in kw:
        return ip in kw[low]
    try:
        if "-" in it:
            lo, hi = (ipaddress.ip_address(x.strip()) for x in it.split("-", 1))
            return lo.version == addr.version and lo <= addr <= hi
        net = ipaddress.ip_network(it, strict=False)
        return net.version == addr.version and addr in net
    except ValueError:
        return False  # other keywords (LocalSubnet, Intranet, DefaultGateway, ...) do not cover it


def port_covers(item: str, port: int) -> bool:
    """Whether one RemotePort item (``Any``, ``n``, ``n-m``) covers ``port``."""
    it = item.strip().lower()
    if it in ("any", "*", ""):
        return True
    if "-" in it:
        lo, hi = (x.strip() for x in it.split("-", 1))
        return lo.isdigit() and hi.isdigit() and int(lo) <= port <= int(hi)
    return it.isdigit() and int(it) == port


def _missing(v: object) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and v != v)


def _items(v: object) -> list[str]:
    return ["Any"] if _missing(v) or not str(v).strip() else [x for x in re.split(r"\s*,\s*", str(v)) if x]


def blocking_rules(rules: pd.DataFrame, ip: str, port: int, protocol: str = "TCP", *,
                   programs: Iterable[str] | None = AGENT_PROGRAMS,
                   keyword_addresses: Mapping[str, Iterable[str]] | None = None) -> pd.DataFrame:
    """The enabled outbound block rules of ``rules`` (a ``firewall_rules`` frame) that cover ``ip``:``port`` over
    ``protocol``. ``programs``: executables whose traffic matters (rules limited to another program are left out;
    ``None`` keeps every rule whatever its program). ``keyword_addresses``: addresses of the DNS/DHCP keywords
    (defaults in :data:`DEFAULT_KEYWORD_ADDRESSES`)."""
    if rules.empty:
        return rules
    proto = protocol.strip().lower()
    proto_ok = {"any", proto, _PROTO_NUM.get(proto, proto)}
    wanted = None if programs is None else {p.lower() for p in programs}

    def covers(r: pd.Series) -> bool:
        if not _missing(r["enabled"]) and not bool(r["enabled"]):
            return False
        if not _missing(r["direction"]) and str(r["direction"]).lower() not in ("outbound", "2"):
            return False
        if not _missing(r["action"]) and str(r["action"]).lower() not in ("block", "4"):
            return False
        if not _missing(r["protocol"]) and str(r["protocol"]).strip().lower() not in proto_ok:
            return False
        prog = r["program"]
        scoped = wanted is not None and not _missing(prog) and str(prog).strip().lower() not in ("any", "", "*")
        if scoped and re.split(r"[\\/]", str(prog).strip())[-1].lower() not in wanted:
            return False  # limited to another program
        return (any(address_covers(a, ip, keyword_addresses) for a in _items(r["remote_address"]))
                and any(port_covers(p, port) for p in _items(r["remote_port"])))

    mask = [covers(r) for _, r in rules.iterrows()]
    return rules[mask]
