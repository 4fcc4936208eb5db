"""Windows event logs: .evtx (real files), XML exports and Event Viewer text give one events frame, and the event
rules judge only the agent's own services and files (tests/shapes/events/SOURCES.md names every fixture's source)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import evtx
import pandas as pd
import pytest

import kit
from kit.parse import event_text, event_xml, parse_bytes, sniff_bytes
from kit.parse import evtx as evtx_parser

SHAPES = Path(__file__).parent / "shapes" / "events"
SAMPLES = Path(__file__).parent.parent / "sample_logs"
REAL = ["real-System-2-vss_7.evtx", "real-Application-no_crc32.evtx"]


@pytest.mark.parametrize("name", REAL)
def test_real_evtx_parses_completely(name: str) -> None:
    data = (SHAPES / name).read_bytes()
    expected = sum(1 for _ in evtx.PyEvtxParser(str(SHAPES / name)).records())
    result = evtx_parser.parse_bytes(data, source=name)
    df = result.frames["events"]
    assert len(df) == expected and result.issues == []
    assert df["ts"].notna().all() and df["provider"].notna().all() and df["event_id"].notna().all()
    assert str(df["ts"].dtype) == "datetime64[ns, UTC]"


@pytest.mark.parametrize("name", REAL)
def test_xml_export_gives_the_same_rows_as_the_evtx(name: str) -> None:
    """Same data, other shape: the records rendered as XML (as an export writes them) give identical rows."""
    binary = evtx_parser.parse_bytes((SHAPES / name).read_bytes(), source=name).frames["events"]
    xml = "".join(r["data"].split("\n", 1)[1] for r in evtx.PyEvtxParser(str(SHAPES / name)).records())
    assert event_xml.sniff(xml[:65536])
    exported = event_xml.parse(xml, source=name).frames["events"]
    cols = [c for c in binary.columns if c != "line"]
    pd.testing.assert_frame_equal(binary[cols], exported[cols])


def test_damaged_evtx_costs_only_the_damaged_records() -> None:
    data = bytearray((SHAPES / REAL[0]).read_bytes())
    for off in range(0x1000 + 70000, 0x1000 + 90000, 7):
        data[off] ^= 0xFF
    whole = len(evtx_parser.parse_bytes(bytes((SHAPES / REAL[0]).read_bytes()), source="x").frames["events"])
    result = evtx_parser.parse_bytes(bytes(data), source="x")
    rows = len(result.frames["events"])
    assert 0 < rows < whole
    assert any(i.kind == "bad-record" for i in result.issues)


def test_not_an_evtx_is_a_located_issue_not_an_exception() -> None:
    result = evtx_parser.parse_bytes(b"MZ\x90\x00garbage", source="x.evtx")
    assert result.frames["events"].empty and result.issues[0].kind == "bad-header"
    assert sniff_bytes(b"ElfFile\x00" + b"\x00" * 100) == "evtx" and sniff_bytes(b"{}") is None


def _bundle_with(tmp_path: Path, files: dict[str, Path], base: str = "healthy") -> Path:
    """A copy of a sample with ``files`` added, each listed in its manifest as the collector would list it."""
    root = tmp_path / base
    shutil.copytree(SAMPLES / base, root)
    manifest = json.loads((root / "manifest.json").read_text())
    for rel, src in files.items():
        dst = root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        data = dst.read_bytes()
        manifest["artifacts"].append({"path": rel, "origin": "C:\\" + rel.replace("/", "\\"), "status": "collected",
                                      "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "note": None})
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return root


def _codes(path: Path) -> set[str]:
    return set(kit.diagnose(path)["code"])


def _serious(path: Path) -> set[str]:
    df = kit.diagnose(path)
    return set(df.loc[df["severity"] >= "warning", "code"])


def test_real_event_logs_raise_nothing_about_the_agent(tmp_path: Path) -> None:
    """Real System/Application logs full of other services' events add no finding to a healthy bundle."""
    baseline = _codes(SAMPLES / "healthy")
    root = _bundle_with(tmp_path, {"C/Windows/System32/winevt/Logs/System.evtx": SHAPES / REAL[0],
                                   "C/Windows/System32/winevt/Logs/Application.evtx": SHAPES / REAL[1]})
    b = kit.open_bundle(root)
    inv = b.inventory.set_index("path")
    assert inv.loc["C/Windows/System32/winevt/Logs/System.evtx", "artifact"] == "evtx"
    assert len(b.events) == 1160 + 17
    assert _codes(root) == baseline


@pytest.mark.parametrize("shape", ["agent-crash-loop.wevtutil.xml", "agent-crash-loop.eventviewer.xml",
                                   "agent-crash.eventviewer.txt"])
def test_agent_crash_loop_in_every_shape(tmp_path: Path, shape: str) -> None:
    root = _bundle_with(tmp_path, {f"commands/events_{shape}": SHAPES / shape})
    df = kit.diagnose(root)
    hit = df[df["code"] == "AGENT_SERVICE_TERMINATED"]
    assert len(hit) == 1
    summary = hit["summary"].iloc[0]
    assert "Windows Azure Guest Agent" in summary and "3 unexpected end(s)" in summary and "crash loop" in summary
    assert "between 2024-03-07 10:05:12 UTC and 2024-03-07 10:38:03 UTC" in summary
    ev = hit["evidence"].iloc[0]
    assert len(ev) == 3 and all(e["source"].endswith(shape) for e in ev)


def test_same_events_other_shape_same_rows() -> None:
    xml = event_xml.parse((SHAPES / "agent-crash-loop.wevtutil.xml").read_text(), source="x").frames["events"]
    dec = (SHAPES / "agent-crash-loop.eventviewer.xml").read_bytes().decode("utf-16")
    viewer = event_xml.parse(dec, source="x").frames["events"]
    cols = [c for c in xml.columns if c != "line"]
    pd.testing.assert_frame_equal(xml[cols], viewer[cols])
    text = event_text.parse((SHAPES / "agent-crash.eventviewer.txt").read_text(), source="x").frames["events"]
    scm = text[text["event_id"] == 7031].reset_index(drop=True)
    for c in ("provider", "event_id", "level", "computer", "service", "channel"):
        assert scm[c].tolist() == xml[c].tolist(), c
    # the text form shows seconds only, as local time read as UTC and flagged
    assert (scm["ts"] == xml["ts"].dt.floor("s")).all() and scm["ts_assumed_utc"].all()


def test_other_service_crash_loop_is_context_not_a_finding(tmp_path: Path) -> None:
    root = _bundle_with(tmp_path, {"commands/events.xml": SHAPES / "other-service-crash-loop.wevtutil.xml"})
    assert _codes(root) == _codes(SAMPLES / "healthy")


def test_agent_start_failed(tmp_path: Path) -> None:
    root = _bundle_with(tmp_path, {"commands/events.xml": SHAPES / "agent-start-failed.wevtutil.xml"})
    df = kit.diagnose(root)
    hit = df[df["code"] == "AGENT_SERVICE_START_FAILED"]
    assert len(hit) == 1 and "Windows Azure Guest Agent" in hit["summary"].iloc[0]
    assert "7000/7009" in hit["summary"].iloc[0]
    events = kit.open_bundle(root).events
    assert set(events["service"]) == {"Windows Azure Guest Agent"}  # 7009 names it in %2, not %1 (the timeout)


def test_agent_process_crash_from_event_viewer_text(tmp_path: Path) -> None:
    root = _bundle_with(tmp_path, {"commands/events.txt": SHAPES / "agent-crash.eventviewer.txt"})
    df = kit.diagnose(root)
    hit = df[df["code"] == "AGENT_PROCESS_CRASHED"]
    assert len(hit) == 1 and "WindowsAzureGuestAgent.exe" in hit["summary"].iloc[0]
    assert hit["evidence"].iloc[0][0]["line"] == 34  # the fourth block starts there


def test_applocker_block_of_an_extension_handler(tmp_path: Path) -> None:
    root = _bundle_with(tmp_path, {"commands/events.xml": SHAPES / "applocker-blocks-cse.wevtutil.xml"})
    hit = kit.diagnose(root).query("code == 'APP_CONTROL_BLOCKS_AGENT'")
    assert len(hit) == 1 and "CUSTOMSCRIPTHANDLER.EXE" in hit["summary"].iloc[0]


def test_applocker_near_misses(tmp_path: Path) -> None:
    """A block outside the agent's folders, and an *allowed* run of the handler (8002), are not findings."""
    root = _bundle_with(tmp_path, {"commands/events.xml": SHAPES / "applocker-other-file.wevtutil.xml"})
    assert "APP_CONTROL_BLOCKS_AGENT" not in _codes(root)


def test_hostile_xml_is_refused() -> None:
    text = '<!DOCTYPE e [<!ENTITY x "y">]><Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"/>'
    result = event_xml.parse(text, source="x.xml")
    assert result.frames["events"].empty and result.issues[0].kind == "refused"


def test_one_malformed_event_costs_that_event() -> None:
    good = (SHAPES / "agent-crash-loop.wevtutil.xml").read_text()
    broken = good.replace("</Channel>", "</Chanel>", 1)
    result = event_xml.parse(broken, source="x.xml")
    assert len(result.frames["events"]) == 2 and result.issues[0].kind == "bad-xml" and result.issues[0].line == 1


def test_ambiguous_event_viewer_date_is_unknown_not_guessed() -> None:
    text = (SHAPES / "agent-crash.eventviewer.txt").read_text().replace("3/7/2024 10:05:12 AM", "3/7/2024 10:05:12")
    result = event_text.parse(text, source="x.txt")
    assert pd.isna(result.frames["events"]["ts"].iloc[0])
    assert any(i.kind == "ambiguous-date" and i.line == 1 for i in result.issues)


def test_vmkit_parse_reads_an_evtx(capsys: pytest.CaptureFixture[str]) -> None:
    from kit.cli import main

    assert main(["parse", str(SHAPES / REAL[1])]) == 0
    assert "== events: 17 row(s)" in capsys.readouterr().out
    assert len(parse_bytes((SHAPES / REAL[1]).read_bytes(), source="a").frames["events"]) == 17
