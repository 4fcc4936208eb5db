"""Performance properties that do not depend on the machine: work done once, copies not made.

Timings are in benchmarks/ (README.md there); these tests count draws and check results, never seconds.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from kit import plots, report
from kit.bundle import open_bundle
from kit.diagnose import diagnose

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def draws(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    count = [0]
    original = Figure.draw

    def counting(self, *a, **k):  # type: ignore[no-untyped-def]
        count[0] += 1
        return original(self, *a, **k)

    monkeypatch.setattr(Figure, "draw", counting)
    return count


def _png(uri: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGBA"))


@pytest.mark.parametrize("sample", ["healthy", "imds-route-secondary-nic"])
def test_report_draws_each_figure_once_and_shows_what_savefig_tight_shows(sample: str, draws: list[int]) -> None:
    b = open_bundle(ROOT / "sample_logs" / sample)
    findings = diagnose(b)
    for title, fn in plots.REPORT_PLOTS:
        draws[0] = 0
        uri = report._fig_png(fn(b, findings=findings))
        assert draws[0] == 1, f"{title}: drawn {draws[0]} times"
        buf = io.BytesIO()
        fn(b, findings=findings).savefig(buf, format="png", dpi=100, bbox_inches="tight")
        old, new = np.asarray(Image.open(buf).convert("RGBA")), _png(uri)
        # the same picture, cropped to the same box give or take the rounding of its edges to whole pixels
        assert abs(old.shape[0] - new.shape[0]) <= 2 and abs(old.shape[1] - new.shape[1]) <= 2, title
        h, w = min(old.shape[0], new.shape[0]), min(old.shape[1], new.shape[1])
        assert (old[:h, :w] != 255).any() and (new[:h, :w] != 255).any(), title


def test_a_figure_reaching_past_its_edges_is_not_cut(draws: list[int]) -> None:
    fig = Figure(figsize=(2, 1))
    ax = fig.add_subplot()
    ax.text(1.5, 0.5, "text far to the right of the figure", transform=ax.transAxes)
    draws[0] = 0
    tight = _png(report._fig_png(fig))
    assert tight.shape[1] > 2 * 100 + 20  # wider than the 2-inch figure: savefig's tight box was used
    assert draws[0] >= 2
