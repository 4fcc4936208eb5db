"""Shared fixtures: the sample bundles and a helper to copy one for editing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_logs"
FORMATS = ROOT.parent / "shared" / "formats" / "windows-agent-formats.md"
SAMPLE_NAMES = sorted(p.parent.name for p in SAMPLES.glob("*/manifest.json"))


@pytest.fixture(params=SAMPLE_NAMES)
def sample(request) -> Path:
    return SAMPLES / request.param


def expected_codes(bundle_dir: Path) -> list[str]:
    return json.loads((bundle_dir / "scenario.json").read_text(encoding="utf-8"))["expected_codes"]


def copy_sample(name: str, dest: Path) -> Path:
    out = dest / name
    shutil.copytree(SAMPLES / name, out)
    return out
