"""Plots over a fleet run's Parquet output (:func:`kit.fleet.load`), in :mod:`kit.plots`' style. Each function takes
the long-form frames of :mod:`kit.fleet` and returns the Figure; none imports a rule module.

    >>> from kit import fleet, fleet_plots
    >>> data = fleet.load("out/")
    >>> fleet_plots.code_vms(fleet.code_counts(data))
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .plots import SEV_COLORS, _missing, _naive, _time_axis

#: Most codes or groups a plot draws (the rest are counted in the title).
MAX_ROWS = 30


def code_vms(counts: pd.DataFrame, *, max_rows: int = MAX_ROWS) -> Figure:
    """Horizontal bars: VMs hit per code (:func:`kit.fleet.code_counts`), coloured by severity."""
    fig, ax = plt.subplots(figsize=(9, 0.8 + 0.32 * max(min(len(counts), max_rows), 1)))
    if counts.empty:
        _missing(ax, "No finding at warning or above on any VM")
        return fig
    shown = counts.head(max_rows).iloc[::-1]
    ax.barh(shown["code"], shown["vms"], color=[SEV_COLORS.get(s, "#5c5c5c") for s in shown["severity"]])
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("VMs with the finding")
    more = f" ({len(counts) - max_rows} more not shown)" if len(counts) > max_rows else ""
    ax.set_title(f"Codes by number of VMs hit{more}", fontsize=10)
    fig.tight_layout()
    return fig


def onset_timeline(onset: pd.DataFrame, *, max_rows: int = MAX_ROWS) -> Figure:
    """One marker per code at its first appearance across the fleet (:func:`kit.fleet.onset`); marker size grows
    with the VMs it reached; hollow when the time is the bundle's, not an evidence row's."""
    fig, ax = plt.subplots(figsize=(10, 0.8 + 0.32 * max(min(len(onset), max_rows), 1)))
    if onset.empty:
        _missing(ax, "No timed finding at warning or above")
        return fig
    shown = onset.head(max_rows)
    y = np.arange(len(shown))[::-1]
    x = _naive(shown["first_seen"])
    size = 30 + 170 * shown["vms"] / max(int(shown["vms"].max()), 1)
    ev = shown["from_evidence"].to_numpy()
    ax.scatter(x[ev], y[ev], s=size[ev], color="#0078d4", label="first evidence row")
    ax.scatter(x[~ev], y[~ev], s=size[~ev], facecolors="none", edgecolors="#0078d4", label="bundle time")
    ax.set_yticks(y)
    ax.set_yticklabels(shown["code"])
    _time_axis(ax)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: never over a marker
    ax.set_title("When each code first appeared across the fleet (marker size: VMs reached)", fontsize=10)
    fig.tight_layout()
    return fig


def heatmap(groups: pd.DataFrame, *, value: str = "vms", max_rows: int = MAX_ROWS, max_cols: int = 20) -> Figure:
    """Code x group heat map of :func:`kit.fleet.by_group` (``vms`` or ``share``), numbers in the cells."""
    codes = groups.groupby("code")["vms"].sum().sort_values(ascending=False).head(max_rows).index
    cols = groups.groupby("group")["group_vms"].max().sort_values(ascending=False).head(max_cols).index
    grid = groups.pivot_table(index="code", columns="group", values=value, aggfunc="sum", fill_value=0)
    grid = grid.reindex(index=codes, columns=cols, fill_value=0)
    fig, ax = plt.subplots(figsize=(2.5 + 0.9 * max(len(cols), 1), 0.9 + 0.35 * max(len(codes), 1)))
    if grid.empty:
        _missing(ax, "No finding at warning or above on any VM")
        return fig
    data = grid.to_numpy(dtype=float)
    ax.imshow(data, cmap="Blues", aspect="auto", vmin=0, vmax=max(float(data.max()), 1e-9))
    top = data.max() or 1
    for (i, j), v in np.ndenumerate(data):
        text = f"{v:.0%}" if value == "share" else f"{int(v)}"
        ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if v > 0.6 * top else "#1b1b1b")
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels(cols, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(codes)))
    ax.set_yticklabels(codes, fontsize=8)
    ax.set_title("VMs hit, by code and group" if value == "vms" else "Share of the group's VMs hit", fontsize=10)
    fig.tight_layout()
    return fig


__all__ = ["code_vms", "heatmap", "onset_timeline"]
