"""Issue 19: the routes plot shows the routes that decide whatever the table's size (the effective route for
WireServer and IMDS is always drawn and highlighted), one row per route however many sources list it, and says
how many it left out; and no plot imports a rule module for it."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pytest

import kit
from kit import plots
from kit.derive import routes as routing
from kit.net import IMDS_IP, WIRESERVER_IP

matplotlib.use("Agg")
ROOT = Path(__file__).parent.parent / "sample_logs"
SAMPLES = sorted(p.name for p in ROOT.iterdir() if (p / "manifest.json").exists())


@pytest.mark.parametrize("sample", SAMPLES)
@pytest.mark.parametrize("max_rows", [30, 6])
def test_effective_routes_are_drawn_and_highlighted(sample: str, max_rows: int) -> None:
    b = kit.open_bundle(Path(__file__).parent.parent / "sample_logs" / sample)
    table = b.frame("routes")
    table = table[table["family"] == "IPv4"]
    expected = {t for t, ip in (("WireServer", WIRESERVER_IP), ("IMDS", IMDS_IP))
                if routing.effective_route(table, ip) is not None}
    show, eff, left_out = plots.route_rows(b, max_rows)
    assert len(show) <= max_rows
    assert {t for ts in eff.values() for t in ts} == expected
    assert set(eff) <= set(show.index)
    fig = plots.routes(b, max_rows=max_rows)
    ax = fig.axes[0]
    table_artist = ax.tables[0]
    highlighted = {row for (row, col), cell in table_artist.get_celld().items()
                   if row > 0 and col == 0 and cell.get_facecolor()[:3] != (1.0, 1.0, 1.0)}
    assert len(highlighted) == len(eff)
    if left_out:
        assert f"{left_out} others left out" in ax.get_title()
    import matplotlib.pyplot as plt

    plt.close(fig)
    keys = list(zip(show["destination"], show["gateway"].astype(str), show["interface"].astype(str), strict=True))
    assert len(keys) == len(set(keys))  # one row per route, not one per source


def test_the_secondary_nic_sample_draws_its_imds_route_even_when_cut_short() -> None:
    """Training exercise 4 reads these rows; the old plot kept the first 30 of 40 rows and lost them."""
    b = kit.open_bundle(Path(__file__).parent.parent / "sample_logs" / "imds-route-secondary-nic")
    show, eff, left_out = plots.route_rows(b, 8)
    imds = [i for i, ts in eff.items() if "IMDS" in ts]
    assert imds and show.loc[imds[0], "destination"] == "169.254.169.254/32" and left_out > 0


def test_routes_plot_imports_no_rule_module() -> None:
    src = Path(plots.__file__).read_text()
    start, end = src.index("def route_rows("), src.index("def findings_overview(")
    assert "diagnose" not in src[start:end]


def test_count_axes_are_integers() -> None:
    b = kit.open_bundle(ROOT / "firewall-blocks-32526")
    fig = plots.findings_overview(b, findings=kit.diagnose(b))
    fig.canvas.draw()
    ticks = fig.axes[0].get_xticks()
    assert all(float(t).is_integer() for t in ticks)
