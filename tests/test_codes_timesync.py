"""Windows Time events that say the clock is not synchronized (kit/diagnose/timesync.py). Fixtures:
tests/shapes/time_service/SOURCES.md; the real System log is tests/shapes/events' (omerbenamram/evtx sample)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import kit
from kit.diagnose.engine import diagnose
from tests.test_events import _bundle_with

SHAPES = Path(__file__).parent / "shapes"
CODE = "TIME_SERVICE_NOT_SYNCHRONIZED"
XML = "commands/events_system.xml"


def _hits(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["code"] == CODE]


def test_unsynchronized_clock_is_reported_from_event_identity(tmp_path: Path) -> None:
    df = kit.diagnose(_bundle_with(tmp_path, {XML: SHAPES / "time_service" / "time-unsynchronized.wevtutil.xml"}))
    hit = _hits(df)
    assert len(hit) == 1 and hit["severity"].iloc[0] == "warning"
    assert "29/36/50" in hit["summary"].iloc[0] and "2024-03-08 09:50:12" in hit["summary"].iloc[0]


def test_near_miss_resynchronized_after_the_failures(tmp_path: Path) -> None:
    df = kit.diagnose(_bundle_with(tmp_path, {XML: SHAPES / "time_service" / "time-resynced.wevtutil.xml"}))
    assert _hits(df).empty


def test_near_miss_a_real_system_log_with_only_healthy_time_events(tmp_path: Path) -> None:
    real = SHAPES / "events" / "real-System-2-vss_7.evtx"
    bundle = kit.open_bundle(_bundle_with(tmp_path, {"C/Windows/System32/winevt/Logs/System.evtx": real}))
    ev = bundle.frame("events")
    assert set(ev[ev["provider"] == "Microsoft-Windows-Time-Service"]["event_id"]) == {35, 37}
    assert _hits(kit.diagnose(bundle)).empty


def test_same_events_saved_by_event_viewer_in_utf16_same_answer(tmp_path: Path) -> None:
    text = (SHAPES / "time_service" / "time-unsynchronized.wevtutil.xml").read_text(encoding="utf-8")
    saved = tmp_path / "saved.xml"
    saved.write_bytes(b"\xff\xfe" + ('<?xml version="1.0" encoding="UTF-16"?>\r\n<Events>' + text + "</Events>")
                      .encode("utf-16-le"))
    a = _hits(kit.diagnose(_bundle_with(tmp_path / "a", {XML: SHAPES / "time_service" /
                                                          "time-unsynchronized.wevtutil.xml"})))
    b = _hits(kit.diagnose(_bundle_with(tmp_path / "b", {"pasted/eventviewer.xml": saved})))
    assert list(a["summary"]) == list(b["summary"]) and len(a) == 1


def test_agent_certificate_errors_raise_it_to_error(tmp_path: Path) -> None:
    bundle = kit.open_bundle(_bundle_with(tmp_path, {XML: SHAPES / "time_service" /
                                                     "time-unsynchronized.wevtutil.xml"}))
    log = bundle.frame("agent_log")
    extra = log.tail(1).copy()
    text = "[00000006] 2024-03-08T10:05:00.000Z [ERROR] PInvoke PFXImportCertStore failed. Error Code: 86."
    extra["message"], extra["text"] = text.split("[ERROR] ")[1], text
    extra["level"], extra["line"] = "ERROR", int(log["line"].max()) + 1
    df = diagnose(bundle, frames={"agent_log": pd.concat([log, extra], ignore_index=True)})
    assert "AGENT_CERTIFICATE_ERROR" in set(df["code"])
    hit = _hits(df)
    assert hit["severity"].iloc[0] == "error" and "certificate errors above" in hit["summary"].iloc[0]


def test_an_unread_event_after_the_failures_makes_it_cannot_tell(tmp_path: Path) -> None:
    bundle = kit.open_bundle(_bundle_with(tmp_path, {XML: SHAPES / "time_service" / "time-resynced.wevtutil.xml"}))
    ev = bundle.frame("events").copy()
    ev.loc[ev["event_id"] == 35, "event_id"] = pd.NA
    ev.loc[ev["event_id"] == 37, "provider"] = None
    df = diagnose(bundle, frames={"events": ev})
    assert _hits(df).empty
    assert df[df["code"] == "CHECK_NOT_POSSIBLE"]["summary"].str.contains("after the last Time-Service").any()
