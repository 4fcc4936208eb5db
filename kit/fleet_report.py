"""The fleet HTML summary (``DIR/summary.html``): codes x VMs, onset timeline, top groups, failures.

Self-contained like :mod:`kit.report` (its CSS, inline PNG plots, no external request); every text goes through
:func:`kit.report._e` (masked, escaped).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from . import __version__
from . import fleet as _fleet
from .report import CSS, _e, _fig_png, _table

#: Bundles columns the summary groups by (top groups), in order.
GROUPS = ("agent_version", "os", "layout")


def render_summary(data: _fleet.FleetData, *, max_rows: int = 50) -> str:
    """The summary as an HTML string."""
    from . import fleet_plots

    b = data.bundles
    ok = int(b["ok"].sum()) if not b.empty else 0
    sev = {s: int(b[f"n_{s}"].gt(0).sum()) if not b.empty else 0 for s in _fleet.SEVERITIES}
    counts = _fleet.code_counts(data)
    onset = _fleet.onset(data)
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
             f"<title>guestagent-kit fleet summary</title><style>{CSS}</style></head><body>",
             "<h1>Azure VM Agent fleet summary</h1>",
             f"<p class='meta'>Output <code>{_e(data.out)}</code> &middot; generated "
             f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} by guestagent-kit {__version__}</p>",
             f"<p>{len(b)} bundle(s): {ok} read, {len(b) - ok} could not be read.</p>",
             "<p>VMs with at least one finding at: " + " ".join(
                 f"<span class='sev {s}'>{n} {s}</span>" for s, n in sev.items()) + "</p>",
             "<p><a href='#codes'>Codes</a> &middot; <a href='#onset'>Onset</a> &middot; "
             "<a href='#groups'>Top groups</a> &middot; <a href='#failures'>Failures</a></p>",
             "<h2 id='codes'>Codes by VMs hit (warning and above)</h2>"]
    parts.append(_img("Codes by VMs hit", fleet_plots.code_vms(counts)))
    show = counts.assign(share=[f"{s:.0%}" for s in counts["share"]])
    parts.append(_table(show, max_rows=max_rows))
    parts.append("<h2 id='onset'>Onset: when each code first appeared</h2>")
    parts.append(_img("Onset timeline", fleet_plots.onset_timeline(onset)))
    parts.append(_table(onset, max_rows=max_rows))
    parts.append("<h2 id='groups'>Top groups</h2>")
    for by in GROUPS:
        g = _fleet.by_group(data, by)
        if g.empty:
            continue
        top = g.sort_values(["vms", "share"], ascending=False).head(15)
        parts.append(f"<h3>by {_e(by)}</h3>" + _table(top.assign(share=[f"{s:.0%}" for s in top["share"]])))
    parts.append("<h2 id='failures'>Bundles that could not be read</h2>")
    bad = b[~b["ok"]] if not b.empty else b
    parts.append(_table(bad[["vm", "path", "error_kind", "error"]] if not bad.empty else bad, max_rows=max_rows))
    parts.append("</body></html>")
    return "\n".join(parts)


def _img(title: str, fig) -> str:
    return f"<img alt='{_e(title)}' src='{_fig_png(fig)}'>"


def write_summary(data: _fleet.FleetData, output: str | Path) -> Path:
    """Write the summary; the file appears complete or not at all."""
    out = Path(output)
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(render_summary(data), encoding="utf-8")
    tmp.replace(out)
    return out


__all__ = ["render_summary", "write_summary"]
