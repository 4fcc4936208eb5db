"""Issue 19: notebooks show text whole, and find a bundle path written for notebooks/ from anywhere."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

import kit.notebook
from kit.errors import BundleError

ROOT = Path(__file__).parent.parent


def test_setup_shows_text_whole_and_resolves_from_the_repository_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    with pd.option_context("display.max_colwidth", 50):
        found = kit.notebook.setup("../sample_logs/healthy")
        assert pd.get_option("display.max_colwidth") is None
    assert found == (ROOT / "sample_logs" / "healthy").resolve()
    monkeypatch.chdir(ROOT / "notebooks")
    assert kit.notebook.find_bundle("../sample_logs/healthy").resolve() == (ROOT / "sample_logs" / "healthy").resolve()


def test_a_missing_bundle_says_where_it_looked(tmp_path: Path) -> None:
    os.chdir(tmp_path)
    with pytest.raises(BundleError) as exc:
        kit.notebook.find_bundle("../sample_logs/no-such-bundle")
    msg = str(exc.value)
    assert "no-such-bundle" in msg and "looked in:" in msg and str(ROOT / "sample_logs") in msg


def test_show_says_why_a_table_is_empty() -> None:
    empty = pd.DataFrame({"code": pd.Series([], dtype="str")})
    shown = kit.notebook.show(empty, "no network finding: every probe reached its endpoint")
    assert "no network finding: every probe reached its endpoint" in shown._repr_html_()
    assert "(0 rows)" in repr(shown) and "<table" not in shown._repr_html_()
    assert "no route" in repr(kit.notebook.show(None, "no route table in this bundle"))


def test_show_prints_counts_as_integers_and_text_whole() -> None:
    long = "x" * 300 + " the end"
    df = pd.DataFrame({"line": [12.0, None, 279.0], "ms": [0.8, 1.5, 2.0], "text": [long, "b", "c"]})
    shown = kit.notebook.show(df, "unused", columns=["line", "ms", "text", "no_such_column"])
    page = shown._repr_html_()
    assert "<td>12</td>" in page and "12.0" not in page and "<td></td>" in page
    assert "<td>0.8</td>" in page  # a measurement keeps its decimals
    assert "NaN" not in page and "<NA>" not in repr(shown)
    with pd.option_context("display.max_colwidth", 50):  # pandas' default cut every summary to "..."
        assert "the end" in repr(shown) and "the end" in shown._repr_html_()
    assert "not in this bundle&#x27;s frame: no_such_column" in page
    assert "<table" in page and "overflow-x:auto" in page


def test_show_caps_rows_and_says_how_many_it_left_out() -> None:
    shown = kit.notebook.show(pd.DataFrame({"n": range(30)}), "unused", max_rows=10)
    assert len(shown) == 10 and "20 more rows not shown" in shown._repr_html_()


def test_show_writes_utc_times_plainly() -> None:
    ts = pd.to_datetime(["2024-05-14T05:58:24.090Z", None, "2024-05-14T06:00:00.000Z"], utc=True)
    page = kit.notebook.show(pd.DataFrame({"ts": ts}), "unused")._repr_html_()
    assert "<td>2024-05-14 05:58:24.090 UTC</td>" in page and "<td>2024-05-14 06:00:00 UTC</td>" in page
    assert "+00:00" not in page and "NaT" not in page


def test_show_writes_durations_as_people_say_them_and_lets_paths_break_after_a_slash() -> None:
    df = pd.DataFrame({"budget": pd.to_timedelta(["90min", "20min", "45s", None]),
                       "source": ["C/WindowsAzure/Logs/Plugins/Microsoft.Compute.CustomScriptExtension/1.10.15/x.log",
                                  "a", "b", "c"]})
    shown = kit.notebook.show(df, "unused")
    page = shown._repr_html_()
    for text in ("<td>1 h 30 min</td>", "<td>20 min</td>", "<td>45 s</td>"):
        assert text in page
    assert "days" not in page
    assert "C/<wbr>WindowsAzure/<wbr>Logs/<wbr>" in page and "</td>" in page and "<wbr>td" not in page
    assert "C/WindowsAzure/Logs/Plugins" in repr(shown)  # the text itself is unchanged
