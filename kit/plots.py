"""Plots over a bundle's frames (matplotlib). Each function returns the Figure so a notebook can adjust it.

Every plot copes with a bundle that lacks the artifact it needs: it says what is missing on the figure
instead of failing, and stays readable with thousands of records (records are binned, not drawn one by one).

    >>> from kit import plots
    >>> fig = plots.agent_timeline(bundle)
"""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING, NamedTuple

import matplotlib

if matplotlib.get_backend().lower() not in ("module://matplotlib_inline.backend_inline", "inline", "nbagg",
                                             "widget", "ipympl", "qtagg", "tkagg", "macosx"):
    matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .net import HOSTGAPLUGIN_PORT, IMDS_IP, WIRESERVER_IP, WIRESERVER_PORT

if TYPE_CHECKING:  # pragma: no cover
    from .bundle import Bundle

LEVEL_COLORS = {"FATAL": "#6b0000", "ERROR": "#c50f1f", "WARN": "#f7a40c", "HEART": "#8cbd18", "INFO": "#0078d4",
                "VERBOSE": "#9e9e9e", "TRACE": "#bdbdbd", "DEBUG": "#bdbdbd", "UNKNOWN": "#616161"}
SEV_COLORS = {"critical": "#6b0000", "error": "#c50f1f", "warning": "#bc4b09", "info": "#5c5c5c"}
OK, FAIL = "#107c10", "#c50f1f"


def _missing(ax, what: str) -> None:
    ax.text(0.5, 0.5, what, ha="center", va="center", fontsize=11, color="#555", wrap=True,
            transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _collection_line(ax, bundle: Bundle) -> None:
    ref = bundle.collected_at
    if ref is not None:
        ax.axvline(ref, color="black", linestyle="--", linewidth=1)
        ax.annotate("collected", (ref, 1), xycoords=("data", "axes fraction"), xytext=(2, -10),
                    textcoords="offset points", fontsize=8)


def _time_axis(ax) -> None:
    loc = mdates.AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
    ax.set_xlabel("time (UTC)")


def _naive(s: pd.Series) -> pd.Series:
    """matplotlib plots tz-aware timestamps fine, but bins are simpler on naive UTC."""
    return s.dt.tz_convert("UTC").dt.tz_localize(None)


def agent_timeline(bundle: Bundle, *, findings: pd.DataFrame | None = None, bins: int = 120) -> Figure:
    """Agent log records over time by level (binned), with agent starts/stops, goal-state changes, heartbeat
    gaps and the collection time marked."""
    fig, ax = plt.subplots(figsize=(12, 4.2))
    log = bundle.frame("agent_log")
    log = log[log["log"] == "WaAppAgent"].dropna(subset=["ts"]) if not log.empty else log
    if log.empty:
        _missing(ax, "No WaAppAgent.log records with timestamps in this bundle")
        ax.set_title("Agent timeline")
        return fig
    ts = _naive(log["ts"])
    edges = pd.date_range(ts.min(), ts.max() + pd.Timedelta(seconds=1), periods=bins + 1)
    bottom = np.zeros(bins)
    for level in ["HEART", "INFO", "WARN", "ERROR", "FATAL", "TRACE", "VERBOSE", "UNKNOWN"]:
        sel = ts[(log["level"] == level).to_numpy(dtype=bool)]
        if sel.empty:
            continue
        counts, _ = np.histogram(sel.astype("int64"), bins=edges.astype("int64"))
        # a stacked histogram drawn as one filled step area per level: `bar` made one Rectangle per bin and level
        # (up to ~960 artists to build, lay out and draw); `stairs` is one artist too, but slower to add here
        top = bottom + counts
        area = ax.fill_between(edges, np.append(top, top[-1]), np.append(bottom, bottom[-1]), step="post",
                               linewidth=0, color=LEVEL_COLORS[level], label=f"{level} ({len(sel)})")
        area.sticky_edges.y.append(0)  # the count axis starts at 0 with no margin below, as `bar` had it
        bottom += counts
    msgs = log["message"].astype(str)
    for pattern, color, label in (("WindowsAzureGuestAgent starting", OK, "agent start"),
                                  ("WindowsAzureGuestAgent stopping", "#444", "agent stop")):
        hits = ts[msgs.str.contains(pattern, regex=False).to_numpy(dtype=bool)]
        for i, t in enumerate(hits):
            ax.axvline(t, color=color, linewidth=1.2, label=label if i == 0 else None)
    gs = ts[msgs.str.contains(r"[Gg]oal ?[Ss]tate|[Ii]ncarnation", regex=True).to_numpy(dtype=bool)]
    if not gs.empty:
        ax.plot(gs, np.full(len(gs), max(bottom.max(), 1) * 1.02), "v", color="#5c2d91", markersize=5,
                label=f"goal state ({len(gs)})")
    hb = ts[(log["level"] == "HEART").to_numpy(dtype=bool)].sort_values()
    if len(hb) > 3:
        gaps = hb.diff()
        limit = max(gaps.median() * 3, pd.Timedelta(minutes=5))
        first = True
        for end, gap in gaps[gaps > limit].items():
            start = hb.loc[end] - gap
            ax.axvspan(start, hb.loc[end], color="#c50f1f", alpha=0.12,
                       label="heartbeat gap" if first else None)
            first = False
    _collection_line(ax, bundle)
    _time_axis(ax)
    ax.set_ylabel("records per bin")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"Agent timeline - {len(log)} WaAppAgent.log records")
    ax.legend(loc="upper left", fontsize=8, ncol=4, framealpha=0.9)
    fig.tight_layout()
    return fig


#: Bar colours of the extension Gantt plot by outcome (kit.derive.operations.OUTCOMES).
OUTCOME_COLORS = {"success": OK, "failed": FAIL, "timeout-killed": "#6b0000", "still-running": "#f7a40c",
                  "unknown": "#9e9e9e"}


def _utc(ts: object) -> pd.Timestamp | None:
    return None if ts is None or pd.isna(ts) else pd.Timestamp(ts).tz_convert("UTC").tz_localize(None)


def extension_operations(bundle: Bundle, *, findings: pd.DataFrame | None = None) -> Figure:
    """The ``extension_operations`` frame (:mod:`kit.derive.operations`) as a Gantt chart: one bar per operation
    from its start to its end (to the collection time when still running, to its last sign of life when that is all
    that is known), coloured by outcome; its time budget as a dotted box; an X where the agent killed it, an arrow
    where it was still running at collection, a "!" where sources disagree (the frame's ``disagreement``); version
    changes from the agent log (auto-upgrades, :func:`kit.derive.history.extension_history`) as triangles."""
    ops = bundle.frame("extension_operations")
    hist = bundle.frame("extension_history")
    changes = hist[hist["change"].isin(["upgrade", "downgrade", "install"]).to_numpy(dtype=bool)].dropna(subset=["ts"])
    ops = ops[ops["start"].notna().to_numpy(dtype=bool) | ops["end"].notna().to_numpy(dtype=bool)]
    ops = ops.assign(_at=ops["start"].fillna(ops["end"])).sort_values("_at", kind="stable").reset_index(drop=True)
    shown = {str(e).lower() for e in ops["extension"].dropna()}
    # extensions whose version changed but that have no operation here (a service such as Key Vault's): own rows
    extra_rows = list(dict.fromkeys(str(e) for e in changes["extension"] if str(e).lower() not in shown))
    n = max(len(ops) + len(extra_rows), 1)
    fig, ax = plt.subplots(figsize=(12, 1.4 + 0.45 * n))
    logs = bundle.frame("handler_log")
    if ops.empty:
        _missing(ax, "No extension handler logs with timestamps in this bundle" if logs.empty else
                 "No extension operation with a time read in this bundle")
        ax.set_title("Extension operations")
        return fig
    ref = _utc(bundle.time_reference)
    labels = []
    marks = {"killed": False, "running": False, "disagree": False}
    for i, r in ops.iterrows():
        start, end = _utc(r["start"]), _utc(r["end"])
        if end is None and r["outcome"] == "still-running" and ref is not None:
            end = ref  # still running at collection time, as far as the sources tell
        elif end is None:
            end = _utc(r["last_seen"])
        budget = pd.Timedelta(minutes=float(r["budget_min"])) if not pd.isna(r["budget_min"]) else None
        over = not pd.isna(r["over_budget"]) and bool(r["over_budget"])
        color = OUTCOME_COLORS.get(str(r["outcome"]), "#9e9e9e")
        if start is not None and end is not None:
            ax.barh(i, end - start, left=start, height=0.55, color=color, alpha=0.85,
                    edgecolor=FAIL if over else color, linewidth=2 if over else 0.5)
        if start is not None and budget is not None:
            ax.barh(i, budget, left=start, height=0.8, fill=False, edgecolor="#444", linestyle=":", linewidth=1)
        if r["outcome"] == "timeout-killed" and end is not None:
            ax.plot(end, i, "X", color="black", markersize=9)
            marks["killed"] = True
        if r["outcome"] == "still-running" and end is not None:
            ax.plot(end, i, ">", color="black", markersize=8)
            marks["running"] = True
        if isinstance(r["disagreement"], str) and end is not None:
            ax.annotate("!", (end, i), xytext=(6, -4), textcoords="offset points", fontsize=12, weight="bold",
                        color="#5c2d91")
            marks["disagree"] = True
        if start is not None and end is not None:
            mins = f"{int((end - start).total_seconds() // 60)} min"
            ax.annotate(f"{mins} / budget {int(budget.total_seconds() // 60)}" if budget is not None else mins,
                        (end, i), xytext=(14, -3), textcoords="offset points", fontsize=8)
        ver = r["version"] if isinstance(r["version"], str) else ""
        name = str(r["extension"]).split(".")[-1] if isinstance(r["extension"], str) else "extension not read"
        labels.append(f"{name} {ver} {r['operation']} ({r['outcome']})")
    rows_of = {str(e).lower(): i for i, e in reversed(list(enumerate(ops["extension"])))}
    for j, ext in enumerate(extra_rows):
        rows_of[ext.lower()] = len(ops) + j
        labels.append(f"{ext.split('.')[-1]} (version change)")
    first = True
    for r in changes.itertuples(index=False):
        y = rows_of[str(r.extension).lower()]
        t = _utc(r.ts)
        ax.plot(t, y, marker="^", color="#5c2d91", markersize=9, linestyle="none",
                label=f"version change ({len(changes)})" if first else None)
        ax.annotate(f"{r.from_version or 'new'} -> {r.to_version}", (t, y), xytext=(0, 8),
                    textcoords="offset points", ha="center", fontsize=7, color="#5c2d91")
        first = False
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    _collection_line(ax, bundle)
    _time_axis(ax)
    if not first:
        ax.legend(loc="lower right", fontsize=8)
    if logs.empty:
        ax.text(0.01, 0.02, "No extension handler logs in this bundle: operations from status files only",
                transform=ax.transAxes, fontsize=8, color="#555")
    keys = ["bar = operation (colour: outcome)", "dotted box = time budget"]
    keys += [k for k, on in (("X = killed by the agent", marks["killed"]),
                             ("> = still running at collection", marks["running"]),
                             ("! = sources disagree", marks["disagree"])) if on]
    if changes is not None and not changes.empty:
        keys.append("triangle = version change")
    ax.set_title("Extension operations\n" + ", ".join(keys), fontsize=9)
    fig.tight_layout()
    return fig


ENDPOINTS = [("wireserver", f"WireServer {WIRESERVER_IP}:{WIRESERVER_PORT}"),
             ("hostgaplugin", f"HostGAPlugin {WIRESERVER_IP}:{HOSTGAPLUGIN_PORT}"),
             ("imds", f"IMDS {IMDS_IP}:80")]


def connectivity(bundle: Bundle, *, findings: pd.DataFrame | None = None) -> Figure:
    """Left: the TCP probes from the VM (pass/fail and latency per attempt). Right: the agent's connection
    errors over time, by endpoint."""
    from .derive.connectivity import LOG_FAILURES
    from .derive.filters import match

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 3.6), gridspec_kw={"width_ratios": [1, 1.6]})
    tcp = bundle.frame("tcp_probes")
    if tcp.empty:
        _missing(ax1, "No TCP probes (probes/tcp.json) in this bundle")
    else:
        # the attempts' markers go into one scatter per outcome, not one per attempt (each scatter call builds a
        # collection and updates the limits); the rows are read as plain lists, not with iterrows
        marks: dict[bool, tuple[list[int], list[int]]] = {True: ([], []), False: ([], [])}
        for y, (ep, _label) in enumerate(ENDPOINTS):
            sel = (tcp["endpoint"] == ep).to_numpy(dtype=bool)
            if not sel.any():
                ax1.text(0.6, y, "not probed", va="center", fontsize=8, color="#555")
            attempts = zip(tcp["ok"][sel].tolist(), tcp["elapsed_ms"][sel].tolist(), tcp["outcome"][sel].tolist(),
                           strict=True)
            for j, (ok_read, elapsed, outcome) in enumerate(attempts, start=1):
                ok = bool(ok_read) if not pd.isna(ok_read) else False
                marks[ok][0].append(j)
                marks[ok][1].append(y)
                txt = f"{elapsed:.0f} ms" if not pd.isna(elapsed) else ""
                if not ok and isinstance(outcome, str):
                    txt = outcome
                ax1.annotate(txt, (j, y), xytext=(0, 9), textcoords="offset points", ha="center", fontsize=7)
        for ok, (xs, ys) in marks.items():
            if xs:
                ax1.scatter(xs, ys, s=160, color=OK if ok else FAIL, marker="o" if ok else "X")
        ax1.set_yticks(range(len(ENDPOINTS)))
        ax1.set_yticklabels([lbl for _, lbl in ENDPOINTS], fontsize=8)
        ax1.set_ylim(-0.6, len(ENDPOINTS) - 0.4)
        ax1.set_xlim(0.4, max(3, int(tcp.groupby("endpoint", observed=True).size().max())) + 0.6)
        ax1.set_xlabel("attempt")
        ax1.invert_yaxis()
    ax1.set_title("TCP probes from the VM", fontsize=10)
    log = bundle.frame("agent_log").dropna(subset=["ts"])
    plotted = False
    if not log.empty:
        for ep, label in ENDPOINTS[:2]:
            hits = match(log, LOG_FAILURES[ep])
            if hits.empty:
                continue
            t = _naive(hits["ts"]).sort_values()
            ax2.step(t, np.arange(1, len(t) + 1), where="post", label=f"{label} ({len(t)})",
                     color=FAIL if ep == "hostgaplugin" else "#bc4b09")
            plotted = True
    if plotted:
        _time_axis(ax2)
        _collection_line(ax2, bundle)
        ax2.set_ylabel("cumulative errors")
        ax2.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax2.legend(fontsize=8, loc="upper left")
    else:
        _missing(ax2, "No agent connection errors in the logs" if not log.empty else "No agent log in this bundle")
    ax2.set_title("Agent connection errors over time", fontsize=10)
    fig.tight_layout()
    return fig


_SOURCE_NAMES = {"route_print": "route print", "get_netroute": "Get-NetRoute", "get_netroute_json": "Get-NetRoute",
                 "get_netroute_txt": "Get-NetRoute"}


def route_rows(bundle: Bundle, max_rows: int = 30) -> tuple[pd.DataFrame, dict, int]:
    """The IPv4 routes to draw: one row per route (a route that both ``route print`` and Get-NetRoute list is one
    row, its sources joined in ``origin``), and, when there are more than ``max_rows``, the ones that decide first:
    the effective route for WireServer and IMDS, default routes, routes whose destination covers either address,
    persistent routes; then the others in table order. Returns (rows in table order, {row label: [targets it is
    effective for]}, how many were left out)."""
    from .derive import routes as routing

    table = bundle.frame("routes")
    table = table[(table["family"] == "IPv4").to_numpy(dtype=bool)] if not table.empty else table
    if table.empty:
        return table, {}, 0
    # route print names the interface by its IP, Get-NetRoute by ifIndex: the NIC's IPv4 address joins the two
    addrs = bundle.frame("ip_addresses")
    by_index = {} if addrs.empty else {int(i): str(a) for i, a, f in zip(addrs["if_index"], addrs["address"],
                                                                            addrs["family"], strict=True)
                                       if not pd.isna(i) and f == "IPv4" and isinstance(a, str)}
    iface = [x if isinstance(x, str) else by_index.get(int(i)) if not pd.isna(i) else None
             for x, i in zip(table["interface"], table["if_index"], strict=True)]
    via = ["on-link" if bool(o) else str(g) for o, g in zip(table["on_link"].fillna(False), table["gateway"],
                                                            strict=True)]
    keys = [f"{d}|{v}|{n}" for d, v, n in zip(table["destination"], via, iface, strict=True)]
    merged = table.assign(_k=keys, interface=iface)
    first_of = merged.reset_index().drop_duplicates("_k").set_index("_k")["index"]  # key -> the row kept
    eff: dict = {}
    effective = bundle.frame("effective_routes")  # the route Windows uses for each (kit.derive.effective)
    for name, target in (("WireServer", WIRESERVER_IP), ("IMDS", IMDS_IP)):
        rows = effective["route_row"][(effective["target"] == target).to_numpy(dtype=bool)].dropna()
        if not rows.empty and int(rows.iloc[0]) in merged.index:
            eff.setdefault(first_of[merged.loc[int(rows.iloc[0]), "_k"]], []).append(name)
    origins = merged.groupby("_k", sort=False)["origin"].agg(lambda s: "+".join(sorted({str(x) for x in s.dropna()})))
    table = merged.drop_duplicates("_k").assign(origin=lambda d: d["_k"].map(origins)).drop(columns="_k")
    if len(table) <= max_rows:
        return table, eff, 0
    dest = table["destination"].astype(str)
    covers = pd.Series([any(routing.candidate_routes(table.loc[[i]], t).shape[0] for t in (WIRESERVER_IP, IMDS_IP))
                        for i in table.index], index=table.index)
    rank = pd.Series(3, index=table.index)
    rank[table["persistent"].fillna(False).astype(bool)] = 2
    rank[covers.to_numpy(dtype=bool) | dest.str.startswith("0.0.0.0").to_numpy(dtype=bool)] = 1
    rank[table.index.isin(list(eff))] = 0
    keep = rank.sort_values(kind="stable").index[:max_rows]
    return table.loc[table.index.isin(keep)], eff, len(table) - len(keep)


#: The columns of the route table (:func:`route_table`), as the routes plot and the report show them.
ROUTE_COLUMNS = ["destination", "gateway", "interface", "metric", "persistent", "from", "effective for"]
EFFECTIVE_FILL = "#fff4ce"  # background of a route that is the effective one for WireServer or IMDS


class RouteTable(NamedTuple):
    """The route table as shown (:func:`route_table`): ``cells`` holds one row of texts per route in
    :data:`ROUTE_COLUMNS` order; ``effective[i]``: row i is the effective route for WireServer or IMDS
    (highlighted); ``primary[i]``: row i's interface is the primary NIC's IP (in bold); ``title`` says so, and how
    many routes were left out."""

    title: str
    cells: list[list[str]]
    effective: list[bool]
    primary: list[bool]


def route_table(bundle: Bundle, max_rows: int = 30) -> RouteTable | None:
    """The texts of the routes plot (:func:`routes`) and of the report's route table, from :func:`route_rows`;
    None when the bundle has no IPv4 route table."""
    from .derive import routes as routing

    show, eff, left_out = route_rows(bundle, max_rows)
    if show.empty:
        return None
    primary = routing.primary_nic(bundle.frame)
    cells, effective, bold = [], [], []
    for idx, r in show.iterrows():
        gw = "On-link" if bool(r["on_link"]) else str(r["gateway"])
        iface = r["interface"] if isinstance(r["interface"], str) else (
            f"if {int(r['if_index'])}" if not pd.isna(r["if_index"]) else "")
        metric = "" if pd.isna(r["metric"]) else str(int(r["metric"]))
        cells.append([str(r["destination"]), gw, iface, metric, "yes" if bool(r["persistent"]) else "",
                      " + ".join(dict.fromkeys(_SOURCE_NAMES.get(o, o) for o in str(r["origin"]).split("+"))),
                      ", ".join(eff.get(idx, []))])
        effective.append(idx in eff)
        bold.append(bool(primary.get("ip")) and r["interface"] == primary["ip"])
    title = "Routes: effective route for WireServer/IMDS highlighted"
    if primary.get("ip"):
        title += f"; primary NIC IP {primary['ip']} in bold ({primary.get('basis', '')})"
    if left_out:
        title += f"\n{len(show)} of {len(show) + left_out} routes shown: the deciding ones; {left_out} others left out"
    return RouteTable(title, cells, effective, bold)


def routes(bundle: Bundle, *, findings: pd.DataFrame | None = None, max_rows: int = 30) -> Figure:
    """The IPv4 route table with the effective route for 168.63.129.16 and 169.254.169.254 highlighted and the
    primary NIC's IP marked; with more than ``max_rows`` routes, the deciding ones are kept (:func:`route_rows`).
    The HTML report shows the same table as HTML (:func:`route_table`)."""
    table = route_table(bundle, max_rows)
    n = len(table.cells) if table is not None else 0
    fig, ax = plt.subplots(figsize=(12, 0.8 + 0.28 * min(max(n, 3), max_rows)))
    ax.axis("off")
    if table is None:
        _missing(ax, "No route table (route print / Get-NetRoute) in this bundle")
        ax.set_title("Routes")
        return fig
    tbl = ax.table(cellText=table.cells, colLabels=ROUTE_COLUMNS, loc="upper center", cellLoc="left",
                   colWidths=[0.15, 0.12, 0.13, 0.07, 0.08, 0.25, 0.2])
    tbl.auto_set_font_size(False)
    tbl.set_fontsize(8)
    tbl.scale(1, 1.15)
    for i, (effective, primary) in enumerate(zip(table.effective, table.primary, strict=True), start=1):
        if effective:
            for j in range(len(ROUTE_COLUMNS)):
                tbl[i, j].set_facecolor(EFFECTIVE_FILL)
        if primary:
            tbl[i, 2].set_text_props(weight="bold")
    ax.set_title(table.title, fontsize=10)
    fig.tight_layout()
    return fig


def findings_overview(bundle: Bundle, *, findings: pd.DataFrame | None = None) -> Figure:
    """Counts of ``findings`` (``kit.diagnose(bundle)``, which the report and the notebooks pass) by family and
    severity. The plot runs no rule itself."""
    fig, ax = plt.subplots(figsize=(7, 2.8))
    if findings is None:
        _missing(ax, "No findings given: pass findings=kit.diagnose(bundle)")
        return fig
    f = findings
    if f.empty:
        _missing(ax, "No findings")
        return fig
    pivot = f.pivot_table(index="family", columns="severity", values="code", aggfunc="count", observed=True,
                          fill_value=0)
    left = np.zeros(len(pivot))
    for sev in ["critical", "error", "warning", "info"]:
        if sev in pivot.columns:
            ax.barh(pivot.index.astype(str), pivot[sev], left=left, color=SEV_COLORS[sev], label=sev)
            left += pivot[sev].to_numpy()
    ax.legend(fontsize=8)
    ax.set_xlabel("findings")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no 0.25 steps
    ax.set_title("Findings by family and severity", fontsize=10)
    fig.tight_layout()
    return fig


#: The plots the HTML report embeds, in order. The report shows the routes (:func:`routes`) as an HTML table after
#: them (:func:`route_table`): text to select and search, readable on a phone, and no 100 texts to draw.
REPORT_PLOTS = [("Findings", findings_overview), ("Agent timeline", agent_timeline),
                ("Extension operations", extension_operations), ("Connectivity", connectivity)]


WATCH_COLORS = {"reachable": OK, "answers-with-error": "#bc4b09", "unreachable": FAIL, "cannot-tell": "#9e9e9e",
                "no-answer": "#5c5c5c"}


def watch(rows: pd.DataFrame, *, title: str = "Reachability from the VM") -> Figure:
    """A live watch (:meth:`kit.live.LiveSession.watch`'s ``rows``): one lane per endpoint, each probe a coloured
    segment until the next probe, so the moment a verdict changes is where the colour changes."""
    fig, ax = plt.subplots(figsize=(11, 2.8))
    if rows.empty:
        _missing(ax, "No probe yet")
        ax.set_title(title, fontsize=10)
        return fig
    lanes = list(dict.fromkeys(rows["endpoint"]))
    t = _naive(rows["probed_at"])
    times = sorted(set(t))
    step = (times[-1] - times[-2]) if len(times) > 1 else pd.Timedelta(seconds=10)
    nxt = dict(pairwise(times))
    seen: set[str] = set()
    for (endpoint, verdict), when in zip(zip(rows["endpoint"], rows["verdict"], strict=True), t, strict=True):
        y = lanes.index(endpoint)
        end = nxt.get(when, when + step)
        v = str(verdict)
        ax.barh(y, end - when, left=when, height=0.6, color=WATCH_COLORS.get(v, "#9e9e9e"),
                hatch="//" if v in ("no-answer", "cannot-tell") else None, edgecolor="white", linewidth=0.5,
                label=v if v not in seen else None)
        seen.add(v)
    ax.set_yticks(range(len(lanes)))
    ax.set_yticklabels(lanes, fontsize=9)
    ax.invert_yaxis()
    _time_axis(ax)
    ax.set_xlabel("time (UTC, the engineer's clock)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
