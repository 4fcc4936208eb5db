"""Issue 17: a path in which no file is an agent artifact is not a bundle: vmkit exits non-zero and says what it
looked for; one recognised file is enough to be a (loose) bundle."""

from __future__ import annotations

from pathlib import Path

import pytest

from kit.cli import main

SAMPLES = Path(__file__).parent.parent / "sample_logs"


@pytest.mark.parametrize("command", ["diagnose", "report", "inspect"])
def test_empty_folder_is_not_a_bundle(tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    args = [command, str(empty)] + (["-o", str(tmp_path / "r.html")] if command == "report" else [])
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "not a bundle: no files at all" in err and "WaAppAgent.log" in err and "route_print" in err
    assert not (tmp_path / "r.html").exists()


def test_folder_with_only_notes_is_not_a_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "README.md").write_text("# my notes\n")
    (tmp_path / "todo.txt").write_text("ask the customer for the logs\n")
    assert main(["diagnose", str(tmp_path)]) == 2
    assert "2 file(s), none of them recognised" in capsys.readouterr().err


def test_one_recognised_file_is_a_loose_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "route.txt").write_bytes((SAMPLES / "healthy" / "commands" / "route_print.txt").read_bytes())
    (tmp_path / "todo.txt").write_text("ask the customer for the logs\n")
    assert main(["diagnose", str(tmp_path)]) in (0, 1)
    assert "not a bundle" not in capsys.readouterr().err
