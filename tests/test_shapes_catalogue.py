"""Every shape fixture folder names its sources, and docs/shapes.md lists every folder (issue 14: every shape is
documented and sourced)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
SHAPES = Path(__file__).parent / "shapes"
FOLDERS = sorted(p for p in SHAPES.iterdir() if p.is_dir())


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_each_fixture_folder_names_its_sources(folder: Path) -> None:
    sources = folder / "SOURCES.md"
    assert sources.is_file(), f"{folder} has no SOURCES.md"
    text = sources.read_text(encoding="utf-8")
    assert len(text) > 300 and ("http" in text or "/" in text), f"{sources} names no source"


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_docs_shapes_lists_each_folder(folder: Path) -> None:
    assert f"tests/shapes/{folder.name}/SOURCES.md" in (ROOT / "docs" / "shapes.md").read_text(encoding="utf-8")
