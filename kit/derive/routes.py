"""How Windows picks a route, and which NIC/IP is the primary one.

Windows chooses among the *active* routes whose destination prefix contains the address: the **longest
prefix** wins; among equal prefixes the **lowest total metric** (route metric + interface metric) wins.
``route print``'s Metric column already is that total. Persistent routes matter only through the active copies
Windows made of them, so rows from the persistent store are not candidates.
"""

from __future__ import annotations

import functools
import ipaddress

import numpy as np
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


def values(series: pd.Series) -> list:
    """The values of a column as a list, as ``series.iloc[i]`` gives them (NA as NaN or ``pd.NA``). The route and
    address frames have a few dozen rows: reading a column once and asking in plain Python is several times cheaper
    than one pandas filter per question (each copies every column)."""
    arr = series.array
    if isinstance(arr, pd.Categorical):  # iterating a categorical builds an object array first: map the codes
        cats = list(arr.categories)
        return [cats[c] if c >= 0 else np.nan for c in arr.codes.tolist()]
    return list(arr)


def columns(df: pd.DataFrame, names: tuple[str, ...]) -> dict[str, list]:
    """``{name: values(df[name])}`` for each of ``names`` (empty lists for an empty frame)."""
    if df.empty:
        return {c: [] for c in names}
    return {c: values(df[c]) for c in names}


def isna(value: object) -> bool:
    """A scalar of a frame's column that was not read (None, NaN, ``pd.NA``, NaT)."""
    return value is None or value is pd.NA or value != value  # NaN and NaT are not equal to themselves


class RouteTable:
    """The columns of a ``routes`` frame that the choice of a route reads, read once as lists (see :func:`values`);
    ``frame`` is the frame itself."""

    def __init__(self, routes: pd.DataFrame) -> None:
        self.frame = routes
        self.persistent: list[bool] = routes["persistent"].to_numpy(dtype=bool).tolist()
        self.origin = values(routes["origin"])
        self.family = values(routes["family"])
        self.destination = values(routes["destination"])
        self.prefix_len = values(routes["prefix_len"])
        self.metric = values(routes["metric"])
        self.route_metric = values(routes["route_metric"])

    def take(self, positions: list[int]) -> pd.DataFrame:
        """The rows at ``positions`` (in that order), as ``routes[mask]`` gives them when the order is the frame's."""
        return self.frame.take(positions)


def ranked_routes(table: RouteTable, target: str) -> tuple[list[int], list[str]]:
    """The positions (in ``table.frame``) of the active routes that match ``target``, best first, and for each ``why``
    it is ranked there (see :func:`candidate_routes`)."""
    addr = ipaddress.ip_address(target)
    active = [not p for p in table.persistent]
    origin = table.origin
    if any(a and o == "route_print" for a, o in zip(active, origin, strict=True)):
        active = [a and o == "route_print" for a, o in zip(active, origin, strict=True)]  # one source of truth
    fam = "IPv4" if addr.version == 4 else "IPv6"
    rows = [i for i, (a, f, d) in enumerate(zip(active, table.family, table.destination, strict=True))
            if a and f == fam and _contains(d, addr)]
    if not rows:
        return [], []
    plen = table.prefix_len
    if any(isna(plen[i]) for i in rows):
        # a matching route whose prefix length was not read could be the longest match: which one Windows uses is
        # unknown, so none is ranked (the rules then say they cannot tell; it raised a TypeError here before)
        return [], []
    # the total metric: Metric, else the route's own metric, else last
    metric = {i: int(table.metric[i] if not isna(table.metric[i]) else
                     table.route_metric[i] if not isna(table.route_metric[i]) else 10**9) for i in rows}
    # longest prefix first, then lowest metric; stable (ties keep the table's order)
    rows.sort(key=lambda i: (-plen[i], metric[i]))
    best_len, best_m = int(plen[rows[0]]), metric[rows[0]]
    whys = []
    for n, i in enumerate(rows):
        p, m = plen[i], metric[i]
        if n == 0:
            whys.append(f"longest prefix /{p}, lowest metric {m}" if p == best_len else "")
        elif p < best_len:
            whys.append(f"shorter prefix /{p} < /{best_len}")
        elif m > best_m:
            whys.append(f"same prefix, higher metric {m} > {best_m}")
        else:
            whys.append(f"same prefix and metric {m} (tie; Windows uses the first)")
    return rows, whys


def candidate_routes(routes: pd.DataFrame, target: str) -> pd.DataFrame:
    """All active routes that match ``target``, best first, with ``rank`` (1 = the one Windows uses) and
    ``why`` (what decided the order)."""
    if routes.empty:
        return routes.assign(rank=pd.Series(dtype="Int64"), why=pd.Series(dtype="str"))
    rows, whys = ranked_routes(RouteTable(routes), target)
    r = routes.take(rows)  # one take: the frame has ~20 columns and each filter would copy them all
    if r.empty:
        return r.assign(rank=pd.Series(dtype="Int64"), why=pd.Series(dtype="str"))
    return r.assign(rank=range(1, len(r) + 1), why=whys)


def effective_route(routes: pd.DataFrame, target: str) -> pd.Series | None:
    """The route Windows uses for ``target`` (a row of ``routes``, with its index as ``.name``), or None."""
    if routes.empty:
        return None
    rows, _ = ranked_routes(RouteTable(routes), target)
    return routes.iloc[rows[0]] if rows else None


def primary_interface(adapters: pd.DataFrame, ip_addresses: pd.DataFrame,
                      imds_private_ip: str | None = None) -> dict:
    """The primary NIC: ``{"ip", "adapter", "if_index", "basis"}`` (values None when unknown).

    IMDS's first NIC's first private IP decides when known (it is what Azure calls primary); otherwise the first
    adapter with a default gateway in ``ipconfig /all`` order (Azure lists the primary NIC first).
    """
    out: dict = {"ip": None, "adapter": None, "if_index": None, "basis": "unknown (no IMDS answer, no ipconfig)"}
    # plain Python over the few rows (see values()); the same picks as pandas' filters and sort_values
    a = columns(ip_addresses, ("family", "address", "adapter", "if_index", "order"))
    v4 = [i for i, f in enumerate(a["family"]) if f == "IPv4"]
    if imds_private_ip:
        out.update(ip=imds_private_ip, basis="IMDS: first NIC's first private IP")
        hit = [i for i in v4 if a["address"][i] == imds_private_ip]
        if hit:
            out["adapter"] = a["adapter"][hit[0]]
            out["if_index"] = None if isna(a["if_index"][hit[0]]) else int(a["if_index"][hit[0]])
        return out
    if adapters.empty:
        return out
    names = values(adapters["adapter"])
    with_gw = [i for i, g in enumerate(values(adapters["default_gateways"])) if not isna(g)]
    pick = names[with_gw[0] if with_gw else 0]
    mine = by_order([i for i in v4 if a["adapter"][i] == pick], a["order"])
    out.update(adapter=pick, ip=a["address"][mine[0]] if mine else None,
               basis="ipconfig: first adapter with a default gateway" if with_gw
               else "ipconfig: first adapter (none has a gateway)")
    if mine and not isna(a["if_index"][mine[0]]):
        out["if_index"] = int(a["if_index"][mine[0]])
    return out


def by_order(positions: list[int], order: list) -> list[int]:
    """``positions`` sorted by ``order`` (stable; an order not read last), as ``sort_values("order")`` sorts them."""
    return sorted(positions, key=lambda i: (isna(order[i]), 0 if isna(order[i]) else order[i]))


def source_address_for(ip_addresses: pd.DataFrame, primary: dict) -> dict | None:
    """The IPv4 source address Windows would use on the primary adapter: the first address (in listed order)
    not marked SkipAsSource. Returns ``{"address", "matches_primary", "why"}``, or None when unknown.

    This is a documented simplification of Windows' source-address selection (RFC 6724 rules on the primary
    NIC); it is what makes a secondary IP win when it is listed first and SkipAsSource is not set.
    """
    if ip_addresses.empty or not primary.get("adapter"):
        return None
    # plain Python over the few rows (see values()); the same picks as pandas' filters and sort_values
    a = columns(ip_addresses, ("adapter", "family", "origin", "order", "skip_as_source", "address"))
    rows = [i for i, (ad, f) in enumerate(zip(a["adapter"], a["family"], strict=True))
            if ad == primary["adapter"] and f == "IPv4"]
    if any(a["origin"][i] == "get_netipaddress" for i in rows):  # one source: Get-NetIPAddress knows SkipAsSource
        rows = [i for i in rows if a["origin"][i] == "get_netipaddress"]
    if len(rows) < 2:
        return None
    rows = by_order(rows, a["order"])
    eligible = [i for i in rows if isna(a["skip_as_source"][i]) or not a["skip_as_source"][i]]
    if not eligible:
        return None
    chosen = a["address"][eligible[0]]
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
        c = columns(imds, ("nic_index", "ip_index", "private_ip"))
        nic, idx = c["nic_index"], c["ip_index"]
        # the first row by (nic_index, ip_index), an index not read last: sort_values(...).head(1), in plain Python
        first = min(range(len(imds)), key=lambda i: (isna(nic[i]), 0 if isna(nic[i]) else nic[i],
                                                     isna(idx[i]), 0 if isna(idx[i]) else idx[i]))
        ip = as_ip(c["private_ip"][first])
        if len(imds) > 1 and (isna(nic[first]) or isna(idx[first])):
            ip = None  # which NIC and IP come first is not known
    primary = primary_interface(frame("adapters"), frame("ip_addresses"), imds_private_ip=ip)
    if primary.get("ip") is not None and as_ip(primary["ip"]) is None:
        primary["ip"] = None  # an address that was not read is no primary IP to compare with
    return primary
