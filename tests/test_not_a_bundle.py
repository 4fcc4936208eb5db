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


def test_a_folder_holding_only_a_zip_says_open_the_zip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    shutil.make_archive(str(tmp_path / "VMAgentLogs"), "zip", SAMPLES / "healthy")
    folder = tmp_path / "upload"
    folder.mkdir()
    (tmp_path / "VMAgentLogs.zip").rename(folder / "VMAgentLogs.zip")
    assert main(["diagnose", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "holds 1 zip archive(s) (VMAgentLogs.zip): open that instead" in err
    import kit

    issues = kit.open_bundle(folder).issues
    assert list(issues["kind"]) == ["nested-zip"] and "vmkit inspect VMAgentLogs.zip" in issues["message"].iloc[0]
    assert main(["diagnose", str(folder / "VMAgentLogs.zip")]) in (0, 1)


def test_control_characters_in_zip_member_names_are_refused(tmp_path: Path) -> None:
    import zipfile

    from kit.bundle import open_bundle
    from kit.errors import UnsafeArchiveError

    # zipfile cuts a name at NUL when *writing*, so the NUL is patched into the written bytes (both headers)
    for bad in ("C/WindowsAzure/Logs/WaAppAgent.log\x00.exe", "commands/route\x1b[2Jprint.txt"):
        path = tmp_path / "bad.zip"
        stand_in = bad.replace("\x00", "~")
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("commands/route_print.txt", (SAMPLES / "healthy/commands/route_print.txt").read_bytes())
            z.writestr(stand_in, b"x")
        data = path.read_bytes()
        assert data.count(stand_in.encode()) == 2
        path.write_bytes(data.replace(stand_in.encode(), bad.encode()))
        assert any("\x00" in i.orig_filename or "\x1b" in i.orig_filename for i in zipfile.ZipFile(path).infolist())
        with pytest.raises(UnsafeArchiveError) as exc:
            open_bundle(path)
        msg = str(exc.value)
        assert "control character" in msg and "\x00" not in msg and "\x1b" not in msg
