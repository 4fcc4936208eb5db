"""Agent versions known to fail on a Windows version (kit/catalog/agent_known_bad.yaml, kit/diagnose/agent_versions.py).
Fixtures: tests/shapes/agent_versions/SOURCES.md."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import kit
from kit.diagnose.agent_versions import known_bad
from kit.diagnose.engine import diagnose
from tests.test_events import _bundle_with

SHAPES = Path(__file__).parent / "shapes" / "agent_versions"
REL = "commands/events_application.txt"
CODE = "AGENT_VERSION_KNOWN_BAD"


def _bundle(tmp_path: Path, name: str) -> kit.Bundle:
    return kit.open_bundle(_bundle_with(tmp_path, {REL: SHAPES / f"{name}.eventviewer.txt"}))


def test_every_entry_names_a_public_source_and_a_working_version() -> None:
    entries = known_bad()
    assert {e.version for e in entries} == {"2.7.41491.1018", "2.7.41491.1193"}
    for e in entries:
        assert e.source.startswith("https://github.com/Azure/WindowsVMAgent/issues/") and e.works and e.kernels


def test_1193_crash_on_2008_r2_is_the_known_issue(tmp_path: Path) -> None:
    df = kit.diagnose(_bundle(tmp_path, "agent-1193-crash-2008r2"))
    hit = df[df["code"] == CODE]
    assert len(hit) == 1 and hit["severity"].iloc[0] == "error"
    s = hit["summary"].iloc[0]
    assert "2.7.41491.1193" in s and "issues/20" in s and "kernel 6.1" in s and "2.7.41491.1183" in s
    assert "AGENT_PROCESS_CRASHED" not in set(df["code"])  # the crashes it explains are not reported twice


def test_near_miss_same_version_crashing_on_another_windows(tmp_path: Path) -> None:
    df = kit.diagnose(_bundle(tmp_path, "agent-1193-crash-2022"))
    assert CODE not in set(df["code"]) and "AGENT_PROCESS_CRASHED" in set(df["code"])


def test_near_miss_the_healthy_agent_version(tmp_path: Path) -> None:
    df = kit.diagnose(Path(__file__).parent.parent / "sample_logs" / "healthy")
    assert CODE not in set(df["code"])


def test_signature_alone_concludes_only_when_every_crash_event_was_read(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, "agent-1193-crash-2008r2")
    ev = bundle.frame("events").copy()
    ev.loc[ev["event_id"] == 1000, "message"] = ev.loc[ev["event_id"] == 1000, "message"].str.replace(
        "6.1.7601.26909", "10.0.20348.2340")
    assert CODE not in set(diagnose(bundle, frames={"events": ev})["code"])  # kernel read: another Windows
    ev.loc[ev["event_id"] == 1000, "message"] = None
    assert CODE not in set(diagnose(bundle, frames={"events": ev})["code"])  # the event that names it unread
    orig = bundle.frame("events")
    ev.loc[ev["event_id"] == 1000, "message"] = orig.loc[orig["event_id"] == 1000, "message"].str.replace(
        r"Faulting module name: KERNELBASE[^\n]*\n", "", regex=True)  # version read, Windows version not
    hit = diagnose(bundle, frames={"events": ev})
    assert "its signature" in hit[hit["code"] == CODE]["summary"].iloc[0]
    assert isinstance(hit, pd.DataFrame)


def test_german_application_error_text_of_1018_on_2008_r2(tmp_path: Path) -> None:
    """Azure/WindowsVMAgent#8: the 1000 text as a German Windows renders it (formats doc §1.5), version 1018."""
    bundle = _bundle(tmp_path, "agent-1193-crash-2022")
    ev = bundle.frame("events").copy()
    ev["service"] = "WaAppAgent.exe"
    ev["message"] = ("Name der fehlerhaften Anwendung: WaAppAgent.exe, Version: 2.7.41491.1018, "
                     "Zeitstempel: 0x60f1fdae\n"
                     "Name des fehlerhaften Moduls: KERNELBASE.dll, Version: 6.1.7601.24499, Zeitstempel: 0x5d0115f1\n"
                     "Ausnahmecode: 0xe0434352")
    hit = diagnose(bundle, frames={"events": ev})
    assert "issues/8" in hit[hit["code"] == CODE]["summary"].iloc[0]
