"""Issue 16 part 5: the report shows the route table as HTML (kit.plots.route_table), the same rows, highlights and
bold cells the routes plot draws, instead of a picture of a table."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import matplotlib
import pytest

import kit
from kit import plots, report
from tests.conftest import SAMPLE_NAMES, SAMPLES, copy_sample

matplotlib.use("Agg")


def _routes_section(html: str) -> str:
    start = html.index("<h3>Routes</h3>")
    return html[start:html.index("</table>", start)]


@pytest.mark.parametrize("sample", SAMPLE_NAMES)
def test_the_report_table_is_the_plot_table(sample: str) -> None:
    b = kit.open_bundle(SAMPLES / sample)
    table = plots.route_table(b)
    assert table is not None
    show, eff, _ = plots.route_rows(b)
    assert len(table.cells) == len(show) and sum(table.effective) == len(eff) > 0
    # the figure draws these very texts
    fig = plots.routes(b)
    cells = fig.axes[0].tables[0].get_celld()
    drawn = [[cells[i, j].get_text().get_text() for j in range(len(plots.ROUTE_COLUMNS))]
             for i in range(1, len(table.cells) + 1)]
    assert drawn == table.cells
    import matplotlib.pyplot as plt

    plt.close(fig)
    section = _routes_section(report.render_report(b))
    rows = re.findall(r"<tr( class='eff')?>(.*?)</tr>", section.split("<tbody>", 1)[1])
    assert len(rows) == len(table.cells)
    assert [bool(cls) for cls, _ in rows] == table.effective
    for (_, row), cells_, primary in zip(rows, table.cells, table.primary, strict=True):
        tds = re.findall(r"<td>(.*?)</td>", row)
        assert tds[0] == cells_[0] and (tds[2] == f"<b>{cells_[2]}</b>") == primary
    assert "highlighted" in section and "<img" not in section


def test_routes_are_no_longer_a_picture_in_the_report() -> None:
    html = report.render_report(kit.open_bundle(SAMPLES / "healthy"))
    assert "<img alt='Routes'" not in html and html.count("<img") == len(plots.REPORT_PLOTS)


def test_a_bundle_without_routes_says_so(tmp_path: Path) -> None:
    d = copy_sample("healthy", tmp_path)
    shutil.rmtree(d / "commands")
    b = kit.open_bundle(d)
    assert plots.route_table(b) is None
    html = report.render_report(b)
    assert "<h3>Routes</h3><p>No route table (route print / Get-NetRoute) in this bundle</p>" in html


def test_left_out_routes_are_counted_in_the_caption() -> None:
    b = kit.open_bundle(SAMPLES / "imds-route-secondary-nic")
    table = plots.route_table(b, max_rows=8)
    assert table is not None and len(table.cells) == 8 and "others left out" in table.title
