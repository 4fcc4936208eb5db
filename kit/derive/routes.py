"""How Windows picks a route, and which NIC/IP is the primary one.

Windows chooses among the *active* routes whose destination prefix contains the address: the **longest
prefix** wins; among equal prefixes the **lowest total metric** (route metric + interface metric) wins.
``route print``'s Metric column already is that total. Persistent routes matter only through the active copies
Windows made of them, so rows from the persistent store are not candidates.
"""

from __future__ import annotations

import functools
import ipaddress

import pandas as pd


@functools.lru_cache(maxsize=4096)
def _network(destination: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """The destination prefix, parsed once per run and value (every rule asks about the same route table)."""
    try:
        return ipaddress.ip_network(destination, strict=False)
    except ValueError:
        return None


def _contains(destination: str, target: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    net = _network(destination) if isinstance(destination, str) else None
    return net is not None and net.version == target.version and target in net


def candidate_routes(routes: pd.DataFrame, target: str) -> pd.DataFrame:
    """All active routes that match ``target``, best first, with ``rank`` (1 = the one Windows uses) and
    ``why`` (what decided the order)."""
    addr = ipaddress.ip_address(target)
    if routes.empty:
        return routes.assign(rank=pd.Series(dtype="Int64"), why=pd.Series(dtype="str"))
    # One combined mask, one take: the frame has ~20 columns and each filter would copy them all.
    active = ~routes["persistent"].to_numpy(dtype=bool)
    origin = routes["origin"].to_numpy(dtype=object)
    if (active & (origin == "route_print")).any():
        active &= origin == "route_print"  # one source of truth when both were collected
    fam = "IPv4" if addr.version == 4 else "IPv6"
    active &= routes["family"].to_numpy(dtype=object) == fam
    dest = routes["destination"].to_numpy(dtype=object)
    active &= [bool(ok) and _contains(d, addr) for ok, d in zip(active, dest, strict=True)]
    r = routes[active]
    if r.empty:
        return r.assign(rank=pd.Series(dtype="Int64"), why=pd.Series(dtype="str"))
    metric = r["metric"].fillna(r["route_metric"]).fillna(10**9)
    r = r.assign(_m=metric.astype("int64")).sort_values(["prefix_len", "_m"], ascending=[False, True],
                                                         kind="stable")
    best_len, best_m = int(r["prefix_len"].iloc[0]), int(r["_m"].iloc[0])
    whys = []
    for i, (plen, m) in enumerate(zip(r["prefix_len"], r["_m"], strict=True)):
        if i == 0:
            whys.append(f"longest prefix /{plen}, lowest metric {m}" if plen == best_len else "")
        elif plen < best_len:
            whys.append(f"shorter prefix /{plen} < /{best_len}")
        elif m > best_m:
            whys.append(f"same prefix, higher metric {m} > {best_m}")
        else:
            whys.append(f"same prefix and metric {m} (tie; Windows uses the first)")
    return r.drop(columns="_m").assign(rank=range(1, len(r) + 1), why=whys)


def effective_route(routes: pd.DataFrame, target: str) -> pd.Series | None:
    """The route Windows uses for ``target`` (a row of ``routes``, with its index as ``.name``), or None."""
    cand = candidate_routes(routes, target)
    if cand.empty:
        return None
    return cand.drop(columns=["rank", "why"]).iloc[0]


def primary_interface(adapters: pd.DataFrame, ip_addresses: pd.DataFrame,
                      imds_private_ip: str | None = None) -> dict:
    """The primary NIC: ``{"ip", "adapter", "if_index", "basis"}`` (values None when unknown).

    IMDS's first NIC's first private IP decides when known (it is what Azure calls primary); otherwise the first
    adapter with a default gateway in ``ipconfig /all`` order (Azure lists the primary NIC first).
    """
    out: dict = {"ip": None, "adapter": None, "if_index": None, "basis": "unknown (no IMDS answer, no ipconfig)"}
    v4 = ip_addresses[ip_addresses["family"] == "IPv4"] if not ip_addresses.empty else ip_addresses
    if imds_private_ip:
        out.update(ip=imds_private_ip, basis="IMDS: first NIC's first private IP")
        hit = v4[v4["address"] == imds_private_ip] if not v4.empty else v4
        if not hit.empty:
            out["adapter"] = hit["adapter"].iloc[0]
            out["if_index"] = None if pd.isna(hit["if_index"].iloc[0]) else int(hit["if_index"].iloc[0])
        return out
    if adapters.empty:
        return out
    with_gw = adapters[adapters["default_gateways"].notna()]
    pick = with_gw.iloc[0] if not with_gw.empty else adapters.iloc[0]
    addrs = v4[v4["adapter"] == pick["adapter"]].sort_values("order") if not v4.empty else v4
    out.update(adapter=pick["adapter"], ip=None if addrs.empty else addrs["address"].iloc[0],
               basis="ipconfig: first adapter with a default gateway" if not with_gw.empty
               else "ipconfig: first adapter (none has a gateway)")
    if not addrs.empty and not pd.isna(addrs["if_index"].iloc[0]):
        out["if_index"] = int(addrs["if_index"].iloc[0])
    return out


def source_address_for(ip_addresses: pd.DataFrame, primary: dict) -> dict | None:
    """The IPv4 source address Windows would use on the primary adapter: the first address (in listed order)
    not marked SkipAsSource. Returns ``{"address", "matches_primary", "why"}``, or None when unknown.

    This is a documented simplification of Windows' source-address selection (RFC 6724 rules on the primary
    NIC); it is what makes a secondary IP win when it is listed first and SkipAsSource is not set.
    """
    if ip_addresses.empty or not primary.get("adapter"):
        return None
    rows = ip_addresses[(ip_addresses["adapter"] == primary["adapter"]) & (ip_addresses["family"] == "IPv4")]
    if (rows["origin"] == "get_netipaddress").any():  # one source: Get-NetIPAddress knows SkipAsSource
        rows = rows[rows["origin"] == "get_netipaddress"]
    if len(rows) < 2:
        return None
    rows = rows.sort_values("order")
    eligible = rows[~rows["skip_as_source"].fillna(False).astype(bool).to_numpy()]
    if eligible.empty:
        return None
    chosen = eligible["address"].iloc[0]
    skipped = len(rows) - len(eligible)
    why = f"first of {len(eligible)} addresses without SkipAsSource" + (f" ({skipped} skipped)" if skipped else "")
    return {"address": chosen, "matches_primary": chosen == primary.get("ip"), "why": why}


def as_ip(value: object) -> str | None:
    """``value`` when it is an IP address, else None (not read, or a word in its place)."""
    if not isinstance(value, str):
        return None
    try:
        ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    return value


def primary_nic(frame) -> dict:
    """The primary NIC (``{"ip", "if_index", "basis", ...}``, see :func:`primary_interface`) from a bundle's frames;
    ``frame`` is ``bundle.frame`` or a rule context's ``frame``. IMDS's first NIC/IP decides when it was read; an
    address that was not read is no primary IP (``ip`` None). Rules, plots and notebooks all use this one."""
    imds = frame("imds_network")
    ip = None
    if not imds.empty:
        first = imds.sort_values(["nic_index", "ip_index"]).head(1)
        ip = as_ip(first["private_ip"].iloc[0])
        if len(imds) > 1 and first[["nic_index", "ip_index"]].isna().any(axis=None):
            ip = None  # which NIC and IP come first is not known
    primary = primary_interface(frame("adapters"), frame("ip_addresses"), imds_private_ip=ip)
    if primary.get("ip") is not None and as_ip(primary["ip"]) is None:
        primary["ip"] = None  # an address that was not read is no primary IP to compare with
    return primary
