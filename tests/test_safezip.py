"""Untrusted zips: every hostile shape is refused with the member and the reason, caps count the bytes actually
decompressed, and a refused extraction leaves nothing behind."""

from __future__ import annotations

import re
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

import kit
from kit.bundle.safezip import SafeZip, extract_zip, safe_member_name
from kit.errors import BundleError, UnsafeArchiveError

MiB = 1024 * 1024


def make_zip(path: Path, members: dict[str, bytes], *, modes: dict[str, int] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if modes and name in modes:
                info.external_attr = modes[name] << 16
            z.writestr(info, data)
    return path


def zeros_zip(path: Path, name: str, mib: int, *, declared: int | None = None) -> Path:
    """A zip with one deflated member of ``mib`` MiB of zeros, written by hand so that building a 1 GiB member
    costs a second, not a minute. ``declared`` is the uncompressed size its headers claim (default: the truth)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(bytes(MiB)) + c.flush(zlib.Z_FULL_FLUSH)  # byte-aligned, dictionary reset: repeatable
    body = block * mib + c.flush(zlib.Z_FINISH)
    crc = 0
    zero = bytes(MiB)
    for _ in range(mib):
        crc = zlib.crc32(zero, crc)
    size = mib * MiB if declared is None else declared
    n = name.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(body), size, len(n), 0) + n
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, len(body), size, len(n),
                          0, 0, 0, 0, 0, 0) + n
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local) + len(body), 0)
    path.write_bytes(local + body + central + end)
    return path


def only(tmp_path: Path, *names: str) -> None:
    """Nothing but ``names`` is left in tmp_path (no destination, no temporary folder)."""
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)


@pytest.fixture(scope="module")
def gigabyte_of_zeros(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return zeros_zip(tmp_path_factory.mktemp("bomb") / "bomb.zip", "C/WindowsAzure/Logs/WaAppAgent.log", 1024)


# -- names ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../../x", "a/../../x", "C/WindowsAzure/../../../x", "..\\..\\x",
                                  "Logs\\..\\..\\x", "./../x", "a/b/c/../../../../x"])
def test_traversal_is_refused(tmp_path: Path, name: str) -> None:
    z = make_zip(tmp_path / "bad.zip", {"ok.txt": b"x", name: b"evil"})
    with pytest.raises(UnsafeArchiveError) as exc:
        extract_zip(z, tmp_path / "out")
    assert str(exc.value).startswith(f"member {name!r} escapes the bundle folder")
    only(tmp_path, "bad.zip")


@pytest.mark.parametrize("name", ["/etc/x", "C:\\Windows\\x", "C:/Windows/x", "c:x", "\\\\server\\share\\x",
                                  "//server/share/x", "\\x"])
def test_absolute_paths_are_refused(tmp_path: Path, name: str) -> None:
    z = make_zip(tmp_path / "bad.zip", {"ok.txt": b"x", name: b"evil"})
    with pytest.raises(UnsafeArchiveError, match="has an absolute path") as exc:
        extract_zip(z, tmp_path / "out")
    assert repr(name) in str(exc.value)
    only(tmp_path, "bad.zip")


@pytest.mark.parametrize(("name", "reason"), [
    ("logs/WaAppAgent.log:hidden", "':' in its name"),
    ("commands/CON.txt", "Windows cannot store"),
    ("commands/nul", "Windows cannot store"),
    ("commands/route.txt.", "Windows cannot store"),
])
def test_names_windows_would_misread_are_refused(tmp_path: Path, name: str, reason: str) -> None:
    z = make_zip(tmp_path / "bad.zip", {"ok.txt": b"x", name: b"evil"})
    with pytest.raises(UnsafeArchiveError, match=reason):
        extract_zip(z, tmp_path / "out")
    only(tmp_path, "bad.zip")


def test_nul_in_a_name_is_refused() -> None:
    with pytest.raises(UnsafeArchiveError, match="NUL character"):
        safe_member_name("a\x00b.txt")


def test_safe_names_are_normalised() -> None:
    assert safe_member_name("VMAgentLogs\\WindowsAzure\\Logs\\WaAppAgent.log") == \
        "VMAgentLogs/WindowsAzure/Logs/WaAppAgent.log"
    assert safe_member_name("./commands//route_print.txt") == "commands/route_print.txt"
    assert safe_member_name("commands/") is None  # a folder entry
    assert safe_member_name("a..b/c..txt") == "a..b/c..txt"  # dots inside a name are fine


@pytest.mark.parametrize("mode", [stat.S_IFLNK | 0o777, stat.S_IFIFO | 0o644, stat.S_IFCHR | 0o644,
                                  stat.S_IFSOCK | 0o644])
def test_links_and_special_entries_are_refused(tmp_path: Path, mode: int) -> None:
    name = "C/WindowsAzure/Logs/WaAppAgent.log"
    z = make_zip(tmp_path / "link.zip", {"a.txt": b"x", name: b"/etc/passwd"}, modes={name: mode})
    with pytest.raises(UnsafeArchiveError, match=re.escape(f"member '{name}' is a link or special file")):
        extract_zip(z, tmp_path / "out")
    only(tmp_path, "link.zip")


def test_regular_file_modes_are_accepted(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "ok.zip", {"a.txt": b"x", "b.txt": b"y"}, modes={"a.txt": stat.S_IFREG | 0o644})
    assert extract_zip(z, tmp_path / "out") == ["a.txt", "b.txt"]


@pytest.mark.parametrize("pair", [("C/a.log", "c/A.log"), ("commands\\route.txt", "commands/route.txt"),
                                  ("x/./y.txt", "x/y.txt")])
def test_duplicates_after_normalisation_are_refused(tmp_path: Path, pair: tuple[str, str]) -> None:
    z = make_zip(tmp_path / "dup.zip", {pair[0]: b"1", pair[1]: b"2"})
    with pytest.raises(UnsafeArchiveError, match=re.escape(f"member {pair[1]!r} has the same name as {pair[0]!r}")):
        extract_zip(z, tmp_path / "out")
    only(tmp_path, "dup.zip")


def test_a_file_that_is_also_a_folder_is_refused(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "clash.zip", {"commands": b"1", "commands/route.txt": b"2"})
    with pytest.raises(UnsafeArchiveError, match="member 'commands' is a file and also a folder"):
        extract_zip(z, tmp_path / "out")
    only(tmp_path, "clash.zip")


def test_too_many_members(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "many.zip", {f"f{i}.txt": b"x" for i in range(101)})
    with pytest.raises(UnsafeArchiveError, match=re.escape("many.zip: 101 members, more than the limit of 100")):
        extract_zip(z, tmp_path / "out", max_members=100)
    assert len(extract_zip(z, tmp_path / "out", max_members=101)) == 101


def test_encrypted_member_is_refused(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "enc.zip", {"a.txt": b"x"})
    data = bytearray(z.read_bytes())  # zipfile cannot write encrypted members: set the flag bit in both headers
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        pos = data.find(sig)
        data[pos + off] |= 0x1
    z.write_bytes(bytes(data))
    with pytest.raises(UnsafeArchiveError, match=re.escape("member 'a.txt' is encrypted")):
        SafeZip(z)


def test_not_a_zip(tmp_path: Path) -> None:
    p = tmp_path / "fake.zip"
    p.write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(UnsafeArchiveError, match="not a readable zip file"):
        extract_zip(p, tmp_path / "out")
    with pytest.raises(BundleError):
        kit.open_bundle(p)


# -- sizes ---------------------------------------------------------------------------------------------------
def test_gigabyte_of_zeros_stops_at_the_per_file_limit(gigabyte_of_zeros: Path, tmp_path: Path) -> None:
    assert gigabyte_of_zeros.stat().st_size < 2 * MiB  # ~1 MB on disk
    with zipfile.ZipFile(gigabyte_of_zeros) as zf:
        assert zf.infolist()[0].file_size == 1024 * MiB  # an honest header: the cap is still counted, not read
    with pytest.raises(UnsafeArchiveError) as exc:
        extract_zip(gigabyte_of_zeros, tmp_path / "out", max_file_bytes=8 * MiB)
    assert str(exc.value).startswith("member 'C/WindowsAzure/Logs/WaAppAgent.log' expands past the per-file "
                                     "limit of 8 MiB")
    only(tmp_path)
    with pytest.raises(UnsafeArchiveError, match="contents expand past the total limit of 16 MiB"):
        extract_zip(gigabyte_of_zeros, tmp_path / "out", max_total_bytes=16 * MiB)
    only(tmp_path)


def test_defaults_stop_a_gigabyte_member(gigabyte_of_zeros: Path) -> None:
    """With the default caps the stream stops at 512 MiB: counted chunk by chunk, never held in memory."""
    seen = 0
    with SafeZip(gigabyte_of_zeros) as z, pytest.raises(
            UnsafeArchiveError, match="expands past the per-file limit of 512 MiB"):
        for chunk in z.iter_chunks("C/WindowsAzure/Logs/WaAppAgent.log"):
            seen += len(chunk)
    assert seen == 512 * MiB  # every byte up to the cap was delivered, none after


def test_head_of_a_bomb_is_cheap(gigabyte_of_zeros: Path) -> None:
    with SafeZip(gigabyte_of_zeros, max_file_bytes=4 * MiB) as z:
        assert z.read_head("C/WindowsAzure/Logs/WaAppAgent.log", 64 * 1024) == bytes(64 * 1024)


def test_bundle_with_a_bomb_member_opens_and_skips_it(gigabyte_of_zeros: Path) -> None:
    b = kit.open_bundle(gigabyte_of_zeros)
    inv = b.inventory
    assert inv["status"].tolist() == ["skipped"]
    assert "per-file limit of 512 MiB" in inv["note"].iloc[0]
    assert b.agent_log.empty and not b.has("agent_log")


def test_lying_header_is_not_trusted(tmp_path: Path) -> None:
    z = zeros_zip(tmp_path / "liar.zip", "a.log", 64, declared=10)
    with zipfile.ZipFile(z) as zf:
        assert zf.infolist()[0].file_size == 10
    with SafeZip(z, max_file_bytes=MiB) as sz, pytest.raises(UnsafeArchiveError, match=re.escape("member 'a.log'")):
        sz.read("a.log")  # zipfile stops at the declared size and the CRC check fails: refused, not truncated
    with pytest.raises(UnsafeArchiveError):
        extract_zip(z, tmp_path / "out")
    only(tmp_path, "liar.zip")


def test_total_cap_counts_actual_bytes_across_members(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "two.zip", {"a.log": b"A" * (600 * 1024), "b.log": b"B" * (600 * 1024)})
    with pytest.raises(UnsafeArchiveError, match="total limit of 1 MiB"):
        extract_zip(z, tmp_path / "out", max_total_bytes=MiB)
    only(tmp_path, "two.zip")


def test_rereading_a_member_does_not_count_twice(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "one.zip", {"a.log": b"A" * (600 * 1024)})
    with SafeZip(z, max_total_bytes=MiB) as sz:
        assert sz.read_head("a.log", 100) == b"A" * 100
        for _ in range(3):
            assert len(sz.read("a.log")) == 600 * 1024


# -- success -------------------------------------------------------------------------------------------------
def test_good_zip_extracts_atomically(tmp_path: Path) -> None:
    members = {"C/WindowsAzure/Logs/WaAppAgent.log": b"[00000006] [06/20/2019 07:44:28.93] [INFO] x\r\n",
               "commands\\route_print.txt": b"r", "probes/": b""}
    z = make_zip(tmp_path / "good.zip", members)
    names = extract_zip(z, tmp_path / "out")
    assert names == ["C/WindowsAzure/Logs/WaAppAgent.log", "commands/route_print.txt"]
    assert (tmp_path / "out/commands/route_print.txt").read_bytes() == b"r"
    assert (tmp_path / "out/C/WindowsAzure/Logs/WaAppAgent.log").read_bytes().endswith(b"\r\n")
    only(tmp_path, "good.zip", "out")
    with pytest.raises(UnsafeArchiveError, match="exists and is not an empty folder"):
        extract_zip(z, tmp_path / "out")
    (tmp_path / "empty").mkdir()
    assert extract_zip(z, tmp_path / "empty") == names
