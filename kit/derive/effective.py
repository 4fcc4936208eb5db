"""``effective_routes``: the route Windows uses for each platform address (WireServer 168.63.129.16, IMDS
169.254.169.254), whether it leaves through the primary NIC, and what could not be read to decide it.

    >>> bundle.frame("effective_routes")            # computed once per bundle (kit.derive)
    >>> from kit.derive.effective import effective_routes
    >>> effective_routes(bundle.frame)

The choice is Windows' (:mod:`kit.derive.routes`: longest prefix, then lowest metric, among active routes); the
primary NIC is :func:`kit.derive.routes.primary_nic`'s. The route rules (:mod:`kit.diagnose.routes`) and the routes
plot read this frame; a row whose ``unread`` is set is one the rules do not judge (an unread route row may be the one
Windows picks).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from ..net import IMDS_IP, WIRESERVER_IP
from ..schema import Col, FrameSchema
from . import routes as routing
from .filters import is_unknown, missing_in

#: The platform addresses, by the name the rules use.
TARGETS = {"imds": IMDS_IP, "wireserver": WIRESERVER_IP}
#: The words the route parsers write in ``origin`` and ``family``.
ORIGINS = ("route_print", "get_netroute_json", "get_netroute_table")
FAMILIES = ("IPv4", "IPv6")

EFFECTIVE_ROUTES = FrameSchema(
    "effective_routes",
    "One row per platform address (WireServer 168.63.129.16, IMDS 169.254.169.254): the route Windows uses for it "
    "(longest prefix, then lowest metric, among active routes; derived from `routes` and the primary NIC by "
    "`kit.derive.effective.effective_routes`), and whether it leaves through the primary NIC. The route rules and "
    "the routes plot read this frame.",
    (Col("target_name", "str", "imds or wireserver.", False),
     Col("target", "str", "The address.", False),
     Col("route_row", "Int64", "Row (index) of the effective route in the `routes` frame (NA: no route matches, or "
         "`unread` is set)."),
     Col("source", "str", "File of the effective route."),
     Col("line", "Int64", "Line of the effective route."),
     Col("destination", "str", "Its destination prefix."),
     Col("gateway", "str", "Its gateway (NA on-link)."),
     Col("on_link", "boolean", "On-link."),
     Col("interface", "str", "Its interface address."),
     Col("if_index", "Int64", "Its interface index."),
     Col("metric", "Int64", "Its metric."),
     Col("persistent", "boolean", "A persistent route."),
     Col("candidates", "Int64", "How many active routes match the address (0 when `unread` is set)."),
     Col("unread", "str", "Route rows that could be the one Windows picks but whose destination, family, origin, "
         "prefix length or metric was not read (`; `-joined, one note per file and column): the choice is not known."),
     Col("primary_ip", "str", "The primary NIC's IP (NA when not read)."),
     Col("primary_adapter", "str", "The primary NIC's adapter."),
     Col("primary_if_index", "Int64", "The primary NIC's interface index."),
     Col("primary_basis", "str", "How the primary NIC was chosen (IMDS, ipconfig)."),
     Col("leaves_primary", "boolean", "The effective route uses the primary NIC (NA when the route row or the "
         "primary NIC does not say which interface).")),
)


@functools.lru_cache(maxsize=4096)
def _network(destination: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(destination.strip(), strict=False)
    except ValueError:
        return None


def unread_routes(routes: pd.DataFrame, target: str) -> list[str]:
    """What the choice of route to ``target`` cannot be made without: active rows whose destination, family or
    origin was not read (any of them may be the route), or, among the routes containing ``target``, whose prefix
    length or metric was not read. One note per file and column."""
    return _unread(routing.RouteTable(routes), target)


def _unread(table: routing.RouteTable, target: str) -> list[str]:
    # plain Python over the table's few dozen rows (routing.values()); a frame of the rows is taken only for a note
    active = [i for i, p in enumerate(table.persistent) if not p]
    if not active:
        return []
    addr = ipaddress.ip_address(target)
    nets = {i: _network(table.destination[i]) if isinstance(table.destination[i], str) else None for i in active}
    notes = _notes(table, [i for i in active if nets[i] is None], "destination")
    for column, words in (("family", FAMILIES), ("origin", ORIGINS)):
        if not set(getattr(table, column)) <= set(words):  # else every value is a known word: none is unread
            unknown = is_unknown(table.frame[column], words)
            notes += _notes(table, [i for i in active if unknown[i]], column)
    contains = [i for i in active if nets[i] is not None and nets[i].version == addr.version and addr in nets[i]]
    if contains:
        notes += _notes(table, [i for i in contains if routing.isna(table.prefix_len[i])], "prefix_len")
        notes += _notes(table, [i for i in contains if routing.isna(table.metric[i])
                                and routing.isna(table.route_metric[i])], "metric")
    return notes


def _notes(table: routing.RouteTable, rows: list[int], column: str) -> list[str]:
    return missing_in(table.take(rows), column) if rows else []


def leaves_primary(route: pd.Series | dict, primary: dict) -> bool | None:
    """True/False when decidable, None when the route row (a row of ``routes``, or a dict of its values) does not say
    which interface it uses."""
    if routing.as_ip(route.get("interface")) and primary.get("ip"):
        return ipaddress.ip_address(route["interface"].strip()) == ipaddress.ip_address(primary["ip"].strip())
    if not pd.isna(route.get("if_index")) and primary.get("if_index") is not None:
        return int(route["if_index"]) == int(primary["if_index"])
    return None


def _v(x: object) -> object:
    """A cell as a plain Python value (None when not read), which from_records types without pandas' inference."""
    if x is None or (not isinstance(x, str) and pd.isna(x)):  # type: ignore[arg-type]
        return None
    return x.item() if isinstance(x, np.generic) else x


#: The effective route's own columns copied into the frame.
_ROUTE_COLS = ("source", "line", "destination", "gateway", "on_link", "interface", "if_index", "metric", "persistent")


def effective_routes(get: Callable[[str], pd.DataFrame]) -> pd.DataFrame:
    """The ``effective_routes`` frame (see :data:`EFFECTIVE_ROUTES`) from the frames ``get`` returns."""
    routes = get("routes")
    if routes.empty:
        return EFFECTIVE_ROUTES.empty()
    primary = routing.primary_nic(get)
    table = routing.RouteTable(routes)  # the route table's columns, read once for both targets
    cells: dict[str, Any] = {}  # the effective routes' own columns, read once when a route is found
    rows: list[dict[str, Any]] = []
    for name, target in TARGETS.items():
        unread = _unread(table, target)
        # with a row not read the choice is not known (and a prefix length not read cannot be ranked)
        cand = routing.ranked_routes(table, target)[0] if not unread else []
        row: dict[str, Any] = {"target_name": name, "target": target, "candidates": len(cand),
                               "unread": "; ".join(unread) or None, "primary_ip": primary.get("ip"),
                               "primary_adapter": primary.get("adapter"), "primary_if_index": primary.get("if_index"),
                               "primary_basis": primary.get("basis")}
        if cand:
            cells = cells or {c: routes[c].array for c in _ROUTE_COLS}
            eff = {c: cells[c][cand[0]] for c in _ROUTE_COLS}  # the row's cells, as .iloc's row holds them
            row.update(route_row=int(routes.index[cand[0]]), leaves_primary=leaves_primary(eff, primary),
                       **{c: _v(eff[c]) for c in _ROUTE_COLS})
        rows.append(row)
    return EFFECTIVE_ROUTES.from_records(rows)


__all__ = ["EFFECTIVE_ROUTES", "TARGETS", "effective_routes", "leaves_primary", "unread_routes"]
