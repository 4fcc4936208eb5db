"""Hostile zips are refused with a clear reason and leave nothing behind."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from kit.bundle.safezip import SafeZip, extract_zip
from kit.errors import UnsafeArchiveError


def make_zip(path: Path, members: dict[str, bytes], *, symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, "/etc/passwd")
    return path


@pytest.mark.parametrize(("name", "reason"), [
    ("../../evil.txt", "escapes"),
    ("C/../../evil.txt", "escapes"),
    ("..\\..\\evil.txt", "escapes"),
    ("/etc/evil.txt", "absolute"),
    ("C:\\Windows\\evil.txt", "absolute"),
    ("\\\\server\\share\\evil.txt", "absolute"),
])
def test_traversal_and_absolute_paths_are_refused(tmp_path: Path, name: str, reason: str) -> None:
    z = make_zip(tmp_path / "bad.zip", {"ok.txt": b"x", name: b"evil"})
    dest = tmp_path / "out"
    with pytest.raises(UnsafeArchiveError, match=reason):
        extract_zip(z, dest)
    assert not dest.exists()
    assert not (tmp_path / "evil.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.zip"]  # no temp folder left behind


def test_symlink_member_is_refused(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "link.zip", {"a.txt": b"x"}, symlink="C/WindowsAzure/Logs/WaAppAgent.log")
    with pytest.raises(UnsafeArchiveError, match="link"):
        extract_zip(z, tmp_path / "out")


def test_zip_bomb_is_stopped_by_actual_bytes(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "bomb.zip", {"big.log": b"\0" * (64 * 1024 * 1024)})
    assert z.stat().st_size < 1024 * 1024  # compresses to well under a MiB
    with pytest.raises(UnsafeArchiveError, match="per-file limit"):
        extract_zip(z, tmp_path / "out", max_file_bytes=8 * 1024 * 1024)
    with pytest.raises(UnsafeArchiveError, match="total limit"):
        extract_zip(z, tmp_path / "out2", max_total_bytes=16 * 1024 * 1024, max_file_bytes=1 << 30)
    assert not (tmp_path / "out").exists() and not (tmp_path / "out2").exists()


def test_lying_header_does_not_bypass_the_cap(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "liar.zip", {"a.log": b"A" * (4 * 1024 * 1024)})
    # Rewrite the central directory's uncompressed size to claim 10 bytes.
    data = bytearray(z.read_bytes())
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24: cd + 28] = (10).to_bytes(4, "little")
    lh = data.find(b"PK\x03\x04")
    data[lh + 22: lh + 26] = (10).to_bytes(4, "little")
    z.write_bytes(bytes(data))
    with SafeZip(z, max_file_bytes=1024 * 1024) as sz, pytest.raises(UnsafeArchiveError):
        sz.read("a.log")


def test_duplicate_names_and_member_count(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "dup.zip", {"C/a.log": b"1", "c/A.log": b"2"})
    with pytest.raises(UnsafeArchiveError, match="same name"):
        extract_zip(z, tmp_path / "out")
    z = make_zip(tmp_path / "many.zip", {f"f{i}.txt": b"x" for i in range(50)})
    with pytest.raises(UnsafeArchiveError, match="more than the limit"):
        extract_zip(z, tmp_path / "out", max_members=10)


def test_good_zip_extracts(tmp_path: Path) -> None:
    members = {"C/WindowsAzure/Logs/WaAppAgent.log": b"line\r\n", "commands\\route.txt": b"r"}
    z = make_zip(tmp_path / "good.zip", members)
    names = extract_zip(z, tmp_path / "out")
    assert names == ["C/WindowsAzure/Logs/WaAppAgent.log", "commands/route.txt"]
    assert (tmp_path / "out/commands/route.txt").read_bytes() == b"r"
