"""A zip cut short (a download or copy that stopped: no central directory at its end) still opens: its members are
found from their local headers (PKWARE APPNOTE.TXT 4.3.7 and 4.3.9), every complete one reads exactly as from the
whole zip, the one the file ends inside is read as far as it goes, and the bundle says so, located.

Fixtures: zips of the shipped healthy sample written by Python's ``zipfile`` (deflated, with sizes in the local
header; and written to a stream that cannot seek, so with data descriptors after each member, as streaming zip
writers do), then cut at chosen offsets."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from kit.bundle import open_bundle
from kit.bundle.safezip import SafeZip
from kit.diagnose import diagnose
from kit.errors import UnsafeArchiveError

from .conftest import SAMPLES

HEALTHY = SAMPLES / "healthy"


class _NoSeek(io.RawIOBase):
    """A write-only stream without seek/tell: ``zipfile`` then writes each member's sizes after its data."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[override]
        self.buf += bytes(b)
        return len(b)


def _zip_bytes(*, streamed: bool, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    files = [(f.relative_to(HEALTHY).as_posix(), f.read_bytes()) for f in sorted(HEALTHY.rglob("*")) if f.is_file()]
    sink: io.RawIOBase | io.BytesIO = _NoSeek() if streamed else io.BytesIO()
    with zipfile.ZipFile(sink, "w", method) as z:
        for name, data in files:
            z.writestr(name, data)
    return bytes(sink.buf) if isinstance(sink, _NoSeek) else sink.getvalue()


def _members(path: Path) -> dict[str, bytes]:
    with SafeZip(path) as z:
        return {n: z.read(n) for n in z.names()}


@pytest.mark.parametrize("streamed", [False, True], ids=["sizes-in-header", "data-descriptors"])
@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED], ids=["deflated", "stored"])
def test_zip_without_its_directory_reads_every_member_as_the_whole_zip(tmp_path: Path, streamed: bool,
                                                                      method: int) -> None:
    data = _zip_bytes(streamed=streamed, method=method)
    whole = tmp_path / "whole.zip"
    whole.write_bytes(data)
    cut = tmp_path / "cut.zip"
    cut.write_bytes(data[: data.find(b"PK\x01\x02")])  # everything but the central directory
    if streamed and method == zipfile.ZIP_STORED:
        # sizes after stored data: the end of a member cannot be found without the directory; nothing is guessed
        with SafeZip(cut) as z:
            assert any("cannot be found" in what for _, what in z.damage)
        return
    assert _members(cut) == _members(whole)
    b, w = open_bundle(cut), open_bundle(whole)
    issues = b.issues
    zip_level = issues[issues["kind"] == "zip-damaged"]
    assert list(zip_level["source"]) == ["cut.zip"]
    message = zip_level["message"].iloc[0]
    assert "central directory" in message and "28 file(s) recovered" in message
    assert list(diagnose(b)["code"]) == [*diagnose(w)["code"], "INPUT_DAMAGED"]
    for name in ("agent_log", "routes", "services", "ext_status"):
        assert b.frame(name).equals(w.frame(name)), name


def test_the_member_the_file_ends_inside_is_read_as_far_as_it_goes(tmp_path: Path) -> None:
    data = _zip_bytes(streamed=False)
    whole = tmp_path / "whole.zip"
    whole.write_bytes(data)
    full = _members(whole)
    with zipfile.ZipFile(whole) as z:
        info = z.getinfo("C/WindowsAzure/Logs/WaAppAgent.log")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    cut = tmp_path / "cut.zip"
    cut.write_bytes(data[: start + info.compress_size // 2])
    got = _members(cut)
    log = got["C/WindowsAzure/Logs/WaAppAgent.log"]
    assert 0 < len(log) < info.file_size and full["C/WindowsAzure/Logs/WaAppAgent.log"].startswith(log)
    # the members before it are whole; those after it are gone
    names = sorted(full)
    before = [n for n in names if zipfile.ZipFile(whole).getinfo(n).header_offset < info.header_offset]
    assert all(got[n] == full[n] for n in before)
    b = open_bundle(cut)
    issues = b.issues
    cut_rows = issues[(issues["kind"] == "zip-damaged") & (issues["source"] == "C/WindowsAzure/Logs/WaAppAgent.log")]
    assert len(cut_rows) == 1 and "cut short; only what is there is read" in cut_rows["message"].iloc[0]
    # the records that are there are parsed; nothing after the cut is invented
    assert 0 < len(b.frame("agent_log")) < len(open_bundle(whole).frame("agent_log"))
    findings = diagnose(b)
    assert not (findings["severity"].astype(str).isin(["critical", "error"])).any()


def test_a_corrupt_member_costs_that_member_only(tmp_path: Path) -> None:
    data = bytearray(_zip_bytes(streamed=True))
    data = data[: data.find(b"PK\x01\x02")]
    with zipfile.ZipFile(io.BytesIO(_zip_bytes(streamed=False))) as z:
        info = z.getinfo("commands/route_print.txt")
    at = bytes(data).find(b"commands/route_print.txt") + len("commands/route_print.txt") + 5
    data[at] ^= 0xFF  # damage the deflated data of one member
    cut = tmp_path / "cut.zip"
    cut.write_bytes(bytes(data))
    b = open_bundle(cut)
    lost = b.issues[(b.issues["kind"] == "zip-damaged") & (b.issues["source"] == "commands/route_print.txt")]
    assert len(lost) == 1 and "this file is lost" in lost["message"].iloc[0]
    assert "commands/route_print.txt" not in set(b.frame("routes")["source"])  # its rows are lost, not guessed
    assert len(b.frame("services")) > 0 and len(b.frame("agent_log")) > 0  # the others are read
    assert info.file_size > 0


def test_hostile_names_are_refused_in_a_cut_zip_too(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("ok.txt", b"fine")
        z.writestr("../../evil.txt", b"x")
    data = buf.getvalue()
    cut = tmp_path / "cut.zip"
    cut.write_bytes(data[: data.find(b"PK\x01\x02")])
    with pytest.raises(UnsafeArchiveError, match="escapes the bundle folder"):
        SafeZip(cut)


@pytest.mark.parametrize("keep", [0, 10, 29, 40])
def test_a_file_cut_inside_its_first_header_is_still_refused_clearly(tmp_path: Path, keep: int) -> None:
    data = _zip_bytes(streamed=False)
    cut = tmp_path / "cut.zip"
    cut.write_bytes(data[:keep])
    with pytest.raises(UnsafeArchiveError, match=r"cut\.zip: not a readable zip file"):
        SafeZip(cut)
