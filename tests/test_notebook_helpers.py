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
