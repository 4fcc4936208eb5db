"""Route rules: which route does Windows pick for 168.63.129.16 and 169.254.169.254, and does it leave
through the primary NIC's primary IP?

The effective route is computed as Windows does (:mod:`kit.derive.routes`): the longest matching prefix, then the
lowest total metric. The primary NIC/IP comes from IMDS (first NIC's first private IP) when IMDS answered,
else from ``ipconfig /all`` (see :func:`kit.derive.routes.primary_interface`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

import pandas as pd

from ..derive import routes as routing
from ..derive.effective import FAMILIES, TARGETS, unread_routes
from ..net import IMDS_IP, WIRESERVER_IP
from ._util import frame_evidence, is_unknown, missing_in
from .engine import Context
from .model import Evidence, Finding

ROUTE_COLS = ["destination", "gateway", "on_link", "interface", "if_index", "metric", "persistent", "origin"]
WRONG_IF = {"imds": "IMDS_ROUTE_WRONG_INTERFACE", "wireserver": "WIRESERVER_ROUTE_WRONG_INTERFACE"}
LINK_LOCAL = ipaddress.ip_network("169.254.0.0/16")
#: The words the address parsers write in ``ip_addresses.origin``.
ADDRESS_ORIGINS = ("ipconfig", "get_netipaddress")


_ip = routing.as_ip  # ``value`` when it is an IP address, else None (not read, or a word in its place)


_unread_routes = unread_routes  # what the choice of a route cannot be made without (kit.derive.effective)


def _routes(ctx: Context) -> pd.DataFrame:
    return ctx.frame("routes")


def _primary(ctx: Context) -> dict:
    return routing.primary_nic(ctx.frame)


def _describe(route: pd.Series) -> str:
    via = "on-link" if bool(route["on_link"]) else f"via {route['gateway']}"
    out = f"{route['destination']} {via}"
    if isinstance(route.get("interface"), str):
        out += f" on interface {route['interface']}"
    elif not pd.isna(route.get("if_index")):
        out += f" on ifIndex {int(route['if_index'])}"
    if not pd.isna(route.get("metric")):
        out += f", metric {int(route['metric'])}"
    if bool(route.get("persistent")):
        out += " (persistent)"
    return out


def _routes_ev(rows: pd.DataFrame, whys: list[str]) -> list[Evidence]:
    """Rows of ``routes`` as evidence, each with ``why`` it is cited (one frame_evidence call over the rows' own
    frame: the same text as a frame built of each row, without building it)."""
    return [_why(ev, why) for ev, why in zip(frame_evidence(rows, "routes", ROUTE_COLS, limit=len(rows)), whys,
                                              strict=True)]


def _why(ev: Evidence, why: str) -> Evidence:
    return Evidence(artifact="routes", text=(why + ": " if why else "") + ev.text, source=ev.source, line=ev.line)


def _effective(ctx: Context) -> dict[str, dict]:
    """The ``effective_routes`` frame (kit.derive.effective) by target name, with the route row itself; built once
    per run (two rules read it)."""
    return ctx.memo("routes.effective", lambda: _build_effective(ctx))  # type: ignore[return-value]


_EFFECTIVE_READ = ("target_name", "route_row", "unread", "primary_ip", "primary_adapter", "primary_basis",
                   "leaves_primary")


def _build_effective(ctx: Context) -> dict[str, dict]:
    routes = _routes(ctx)
    eff = ctx.derived("effective_routes")
    # the columns the rules read, as to_dict("records") gives them, without its cost per cell (two rows)
    cols = routing.columns(eff, _EFFECTIVE_READ)
    out = {}
    for i in range(len(eff)):
        r = {c: cols[c][i] for c in _EFFECTIVE_READ}
        r["route"] = None if pd.isna(r["route_row"]) else routes.loc[int(r["route_row"])]
        out[str(r["target_name"])] = r
    return out


def effective_routes(ctx: Context) -> Iterable[Finding]:
    routes = _routes(ctx)
    if routes.empty:
        return [ctx.not_checked("routes to 168.63.129.16 and 169.254.169.254",
                                "no route table (commands/route_print.txt or commands/get_netroute.json)")]
    effective = _effective(ctx)
    out: list[Finding] = []
    missing = []
    for name, target in TARGETS.items():
        row = effective[name]
        primary = {"ip": row["primary_ip"] if isinstance(row["primary_ip"], str) else None,
                   "adapter": row["primary_adapter"] if isinstance(row["primary_adapter"], str) else None,
                   "basis": row["primary_basis"]}
        if isinstance(row["unread"], str):  # an unread row may be the route Windows picks
            out.append(ctx.not_checked(f"the route to {target}", row["unread"]))
            continue
        eff = row["route"]
        if eff is None:
            missing.append(target)
            continue
        dest = ipaddress.ip_network(str(eff["destination"]), strict=False)
        if name == "imds" and bool(eff["on_link"]) and dest.prefixlen < 32 and dest.subnet_of(LINK_LOCAL):
            out.append(ctx.finding(
                "IMDS_ROUTE_CAPTURED_BY_LINK_LOCAL",
                f"Packets to {IMDS_IP} match the on-link route {_describe(eff)}, which beats the default route by "
                f"longest prefix, so they never reach the gateway"
                + (f"; the primary NIC is {primary['adapter']} ({primary['ip']})" if primary.get("ip") else "")
                + ".",
                [_effective_ev(routes, row, "effective route"), *_ranked_ev(routes, target)]))
            continue
        if not pd.isna(row["leaves_primary"]) and not row["leaves_primary"]:  # decided, and another NIC
            out.append(ctx.finding(
                WRONG_IF[name],
                f"The effective route to {target} is {_describe(eff)}, not the primary NIC "
                f"{primary.get('adapter') or ''} ({primary.get('ip')}; {primary.get('basis')}).",
                [_effective_ev(routes, row, "effective route"), *_ranked_ev(routes, target)]))
    if missing:
        out.append(ctx.finding(
            "NO_ROUTE_TO_PLATFORM",
            f"No route (not even a default route) matches {' or '.join(missing)} in the active route table.",
            frame_evidence(routes[routes["family"] == "IPv4"], "routes", ROUTE_COLS, limit=10)))
    return out


def _ranked_ev(routes: pd.DataFrame, target: str, limit: int = 4) -> list[Evidence]:
    rows, whys = routing.ranked_routes(routing.RouteTable(routes), target)  # candidate_routes' order, rank and why
    return _routes_ev(routes.take(rows[:limit]),
                      [f"candidate #{rank} ({why})" for rank, why in enumerate(whys[:limit], start=1)])


def _effective_ev(routes: pd.DataFrame, row: dict, why: str) -> Evidence:
    """The effective route of an ``effective_routes`` row (see :func:`_effective`) as evidence."""
    return _routes_ev(routes.loc[[int(row["route_row"])]], [why])[0]


def persistent_override(ctx: Context) -> Iterable[Finding]:
    routes = _routes(ctx)
    if routes.empty:
        return []
    is_persistent = routes["persistent"].fillna(False).astype(bool).to_numpy().tolist()
    if not any(is_persistent):
        return []
    # the table's few dozen rows read as lists (kit.derive.routes.values); frames only of the rows cited
    destination, gateway = routing.values(routes["destination"]), routing.values(routes["gateway"])
    persistent = [i for i, p in enumerate(is_persistent) if p]
    reasons, ev = [], []
    effective = _effective(ctx)
    for name, target in TARGETS.items():
        eff = effective[name]["route"] if not isinstance(effective[name]["unread"], str) else None
        if eff is None:
            continue
        eff_gateway = eff["gateway"] if isinstance(eff["gateway"], str) else ""
        same = [i for i in persistent if destination[i] == eff["destination"]
                and (gateway[i] if isinstance(gateway[i], str) else "") == eff_gateway]
        if same:
            kind = "default route" if str(eff["destination"]).endswith("/0") else "route"
            reasons.append(f"traffic to {target} follows the persistent {kind} {_describe(eff)}")
            ev += [_effective_ev(routes, effective[name], f"effective route to {target}")]
            ev += frame_evidence(routes.take(same[:2]), "routes", ROUTE_COLS, limit=2)
    host = (f"{WIRESERVER_IP}/32", f"{IMDS_IP}/32")
    has_host_routes = any(d in host and not p for d, p in zip(destination, is_persistent, strict=True))
    if reasons and not has_host_routes:
        reasons.append("the DHCP host routes for 168.63.129.16/32 and 169.254.169.254/32 are absent")
    if not reasons:
        return []
    return [ctx.finding("PERSISTENT_ROUTE_OVERRIDE", "A persistent route overrides the platform routes: "
                        + "; ".join(reasons) + ".", ev)]


def multi_ip_primary(ctx: Context) -> Iterable[Finding]:
    addrs = ctx.frame("ip_addresses")
    if addrs.empty:
        return []
    primary = _primary(ctx)
    if not primary.get("ip") or primary.get("adapter") is None:
        return []
    choice = routing.source_address_for(addrs, primary)
    if choice is None or choice.get("matches_primary", True):
        return []
    # Every address of the primary adapter takes part in the choice: one whose adapter, family, address, origin,
    # order or SkipAsSource was not read may be the one Windows picks.
    unread = missing_in(addrs[is_unknown(addrs["adapter"])], "adapter")
    unread += missing_in(addrs[is_unknown(addrs["family"], FAMILIES)], "family")
    mine = addrs[((addrs["adapter"] == primary["adapter"]) & (addrs["family"] == "IPv4")).fillna(False)
                 .to_numpy(dtype=bool)]
    if len(mine) > 1:
        unread += missing_in(mine[[_ip(a) is None for a in mine["address"]]], "address")
        unread += missing_in(mine[is_unknown(mine["origin"], ADDRESS_ORIGINS)], "origin")
        unread += missing_in(mine[mine["order"].isna().to_numpy()], "order")
        netip = mine[(mine["origin"] == "get_netipaddress").to_numpy(dtype=bool)]
        unread += missing_in(netip[netip["skip_as_source"].isna().to_numpy()], "skip_as_source")
    if unread:
        return [ctx.not_checked(f"which address {primary['adapter']} uses as source", "; ".join(unread))]
    rows = addrs[(addrs["adapter"] == primary["adapter"]) & (addrs["family"] == "IPv4")]
    return [ctx.finding("MULTI_IP_PRIMARY_MISMATCH",
                        f"{primary['adapter']} has {len(rows)} IPv4 addresses and Windows would pick "
                        f"{choice['address']} as source, not the primary {primary['ip']} ({choice.get('why', '')}).",
                        frame_evidence(rows, "ip_addresses", ["adapter", "address", "prefix_len", "state",
                                                              "skip_as_source", "order"]))]


_ROUTE_JUDGED = ("origin", "family", "destination", "prefix_len", "gateway", "on_link", "interface", "if_index",
                 "metric", "route_metric", "persistent")
_PRIMARY_JUDGED: dict[str, tuple[str, ...]] = {
    "imds_network": ("nic_index", "ip_index", "private_ip"), "adapters": ("adapter", "default_gateways"),
    "ip_addresses": ("adapter", "family", "address", "if_index", "order")}
#: What each rule decides from, {rule: {frame: columns}} (tests/test_unknown_never_bad.py makes these unknown and
#: checks that no verdict follows; it fails for a rule without an entry).
JUDGES: dict[str, dict[str, tuple[str, ...]]] = {
    "effective_routes": {"routes": _ROUTE_JUDGED, **_PRIMARY_JUDGED},
    "persistent_override": {"routes": _ROUTE_JUDGED},
    "multi_ip_primary": {**_PRIMARY_JUDGED, "ip_addresses": ("adapter", "family", "address", "if_index", "order",
                                                             "origin", "skip_as_source")},
}

RULES = [effective_routes, persistent_override, multi_ip_primary]
