"""``ipconfig /all`` (formats doc §5.3): host block and one block per adapter.

Repeated ``IPv4 Address``/``Subnet Mask`` pairs become several addresses; multi-line values (DNS servers,
several gateways) are collected; an empty ``Default Gateway . . . :`` is kept empty; leases in the year
2157-2161 (Azure DHCP) parse (datetime64[ns] reaches 2262). Lease times are wall-clock times of the VM with no
zone: read as UTC unchanged, like every zone-less stamp (raw text kept). Unknown (localized) labels are kept
out of the columns but never stop the parse; IPv4 addresses under unknown labels are still collected.
"""

from __future__ import annotations

import ipaddress
import re

import pandas as pd

from ..schema import LINE, SOURCE, Col, FrameSchema
from ..textio import split_lines
from .base import ParseIssue, ParseResult

NAME = "ipconfig"
DESCRIPTION = "Output of `ipconfig /all`."
PATTERNS = ("commands/ipconfig_all.txt",)

ADAPTERS = FrameSchema(
    "adapters",
    "One row per adapter in `ipconfig /all`, in the order Windows lists them.",
    (SOURCE, LINE,
     Col("host_name", "str", "Host Name from the header block."),
     Col("adapter", "str", "Adapter (connection) name, e.g. `Ethernet 2`.", False),
     Col("adapter_kind", "str", "Kind from the header, e.g. `Ethernet adapter`, `Tunnel adapter`."),
     Col("description", "str", "Description (e.g. Microsoft Hyper-V Network Adapter #2)."),
     Col("mac", "str", "Physical Address, lower-case with dashes."),
     Col("dhcp_enabled", "boolean", "DHCP Enabled."),
     Col("media_state", "str", "Media State (e.g. Media disconnected), when shown."),
     Col("default_gateways", "str", "Default Gateway(s), comma-separated in order; NA when empty."),
     Col("dhcp_server", "str", "DHCP Server (absent when DHCP is off)."),
     Col("dns_servers", "str", "DNS Servers, comma-separated."),
     Col("lease_obtained", "datetime", "Lease Obtained (wall clock as written, read as UTC)."),
     Col("lease_expires", "datetime", "Lease Expires (Azure: years 2157-2161)."),
     Col("lease_obtained_raw", "str", "Lease Obtained as written."),
     Col("lease_expires_raw", "str", "Lease Expires as written."),
     Col("ipv4_count", "Int64", "Number of IPv4 addresses on the adapter.")),
)
IP_ADDRESSES = FrameSchema(
    "ip_addresses",
    "One row per IP address per adapter, from `ipconfig /all` and/or `Get-NetIPAddress`.",
    (SOURCE, LINE,
     Col("origin", "category", "ipconfig or get_netipaddress.", False),
     Col("adapter", "str", "Adapter name (ipconfig) or InterfaceAlias."),
     Col("if_index", "Int64", "Interface index (Get-NetIPAddress; ipconfig's %zone for link-local IPv6)."),
     Col("family", "category", "IPv4 or IPv6.", False),
     Col("address", "str", "The address, without %zone or (Preferred).", False),
     Col("prefix_len", "Int64", "Prefix length (from the subnet mask for ipconfig)."),
     Col("subnet_mask", "str", "Subnet mask as written (IPv4, ipconfig)."),
     Col("state", "str", "Preferred, Deprecated, Tentative, Duplicate ... (ipconfig suffix or AddressState)."),
     Col("skip_as_source", "boolean", "SkipAsSource (Get-NetIPAddress only)."),
     Col("prefix_origin", "str", "PrefixOrigin: Dhcp, Manual, WellKnown ... (Get-NetIPAddress only)."),
     Col("order", "Int64", "0-based position of the address within its adapter, as listed.")),
)
FRAMES = {"adapters": ADAPTERS, "ip_addresses": IP_ADDRESSES}

_HEADER = re.compile(r"^(\S.*?)\s*:\s*$")
_LABEL = re.compile(r"^\s{1,12}(?P<label>\S.*?)(?:\s*\.)*\s*:\s?(?P<value>.*)$")
_V4 = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){3})(?:\((\w+)\))?$")
_V6 = re.compile(r"^([0-9A-Fa-f:]+:[0-9A-Fa-f:.]*)(?:%(\d+))?(?:\((\w+)\))?$")
_MAC = re.compile(r"^[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5,7}$")
_LEASE_FMT = "%A, %B %d, %Y %I:%M:%S %p"


def sniff(head: str) -> bool:
    return "Windows IP Configuration" in head or bool(
        re.search(r"(?m)^\s+(Physical Address|IPv4 Address|Subnet Mask)(?:\s*\.)+\s*:", head))


def _lease(raw: str | None) -> pd.Timestamp | None:
    if not raw:
        return None
    return pd.to_datetime(raw, format=_LEASE_FMT, errors="coerce", utc=True)


def parse(text: str, *, source: str) -> ParseResult:
    adapters: list[dict] = []
    addrs: list[dict] = []
    issues: list[ParseIssue] = []
    host = None
    cur: dict | None = None
    last_label: str | None = None
    pending_v4: dict | None = None

    def add_addr(value: str, n: int, label: str) -> None:
        nonlocal pending_v4
        if cur is None:
            return
        m4 = _V4.match(value)
        m6 = _V6.match(value)
        order = sum(1 for a in addrs if a["adapter"] == cur["adapter"] and a["source"] == source)
        if m4:
            row = {"source": source, "line": n, "origin": "ipconfig", "adapter": cur["adapter"], "family": "IPv4",
                   "address": m4.group(1), "state": m4.group(2) or ("Autoconfiguration" if "auto" in label else None),
                   "order": order}
            addrs.append(row)
            pending_v4 = row
        elif m6:
            addrs.append({"source": source, "line": n, "origin": "ipconfig", "adapter": cur["adapter"],
                          "family": "IPv6", "address": m6.group(1),
                          "if_index": int(m6.group(2)) if m6.group(2) else None, "state": m6.group(3), "order": order})

    for n, raw in enumerate(split_lines(text), start=1):
        if not raw.strip():
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        if indent == 0:
            m = _HEADER.match(raw)
            if m and "windows ip configuration" not in raw.lower():
                title = m.group(1)
                kind, _, name = title.partition(" adapter ")
                cur = {"source": source, "line": n, "host_name": host, "adapter": name or title,
                       "adapter_kind": (kind + " adapter") if name else None, "_gw": [], "_dns": []}
                adapters.append(cur)
                last_label, pending_v4 = None, None
            continue
        if indent >= 20 and last_label is not None:  # continuation of a multi-line value
            value = raw.strip()
            if cur is not None and last_label == "default gateway":
                cur["_gw"].append(value)
            elif cur is not None and last_label == "dns servers":
                cur["_dns"].append(value)
            continue
        m = _LABEL.match(raw)
        if not m:
            issues.append(ParseIssue(source, n, "unexpected-line", "expected `   Label . . . . : value`",
                                     text=raw.strip(), parser=NAME))
            continue
        label, value = m.group("label").strip().lower(), m.group("value").strip()
        last_label = label
        if cur is None:
            if label == "host name":
                host = value
            continue
        if label == "description":
            cur["description"] = value
        elif label == "physical address":
            cur["mac"] = value.lower() if _MAC.match(value) else value or None
        elif label == "dhcp enabled":
            cur["dhcp_enabled"] = {"yes": True, "no": False}.get(value.lower())
        elif label == "media state":
            cur["media_state"] = value
        elif label == "default gateway":
            if value:
                cur["_gw"].append(value)
        elif label == "dhcp server":
            cur["dhcp_server"] = value
        elif label == "dns servers":
            if value:
                cur["_dns"].append(value)
        elif label == "lease obtained":
            cur["lease_obtained_raw"] = value
        elif label == "lease expires":
            cur["lease_expires_raw"] = value
        elif label == "subnet mask" and pending_v4 is not None:
            pending_v4["subnet_mask"] = value
            try:
                pending_v4["prefix_len"] = ipaddress.ip_network(f"0.0.0.0/{value}").prefixlen
            except ValueError:
                issues.append(ParseIssue(source, n, "bad-value", f"subnet mask {value!r} is not a valid mask",
                                         parser=NAME))
            pending_v4 = None
        elif "address" in label and "physical" not in label:
            add_addr(value, n, label)
        elif _V4.match(value) and label not in ("subnet mask",):
            add_addr(value, n, label)  # localized label holding an address

    for a in adapters:
        a["default_gateways"] = ", ".join(g.split("%")[0] if ":" not in g else g for g in a.pop("_gw")) or None
        a["dns_servers"] = ", ".join(a.pop("_dns")) or None
        a["lease_obtained"] = _lease(a.get("lease_obtained_raw"))
        a["lease_expires"] = _lease(a.get("lease_expires_raw"))
        a["ipv4_count"] = sum(1 for x in addrs if x["adapter"] == a["adapter"] and x["family"] == "IPv4")
        for k in ("lease_obtained", "lease_expires"):
            if a.get(k + "_raw") and (a[k] is None or pd.isna(a[k])):
                issues.append(ParseIssue(source, a["line"], "bad-timestamp", f"{k.replace('_', ' ')} "
                                         f"{a[k + '_raw']!r} is not like 'Sunday, July 19, 2161 5:43:51 PM'",
                                         parser=NAME))
    return ParseResult({"adapters": ADAPTERS.from_records(adapters), "ip_addresses": IP_ADDRESSES.from_records(addrs)},
                       issues)
