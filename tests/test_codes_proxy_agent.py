"""Guest Proxy Agent status (kit/parse/proxy_agent_status.py, kit/diagnose/proxy_agent.py). Fixtures:
tests/shapes/proxy_agent/SOURCES.md (built from Azure/GuestProxyAgent's own serializer; no customer file is public)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import kit
from kit.parse import proxy_agent_status as parser
from kit.parse import sniff
from tests.test_events import _bundle_with

SHAPES = Path(__file__).parent / "shapes" / "proxy_agent"
REL = "C/WindowsAzure/ProxyAgent/Logs/status.json"
CODE = "GUEST_PROXY_AGENT_FAILING"


def _hits(tmp_path: Path, name: str, rel: str = REL) -> pd.DataFrame:
    df = kit.diagnose(_bundle_with(tmp_path, {rel: SHAPES / f"{name}.status.json"}))
    return df[df["code"] == CODE]


def test_ebpf_failure_in_enforce_mode_is_an_error(tmp_path: Path) -> None:
    hit = _hits(tmp_path, "ebpf-failed-enforce")
    assert len(hit) == 1 and hit["severity"].iloc[0] == "error"
    assert "bpf_link_create failed" in hit["summary"].iloc[0] and "refused" in hit["summary"].iloc[0]


def test_near_miss_same_failure_with_the_protocol_disabled_is_info(tmp_path: Path) -> None:
    hit = _hits(tmp_path, "ebpf-failed-disabled")
    assert len(hit) == 1 and hit["severity"].iloc[0] == "info" and "gates nothing" in hit["summary"].iloc[0]


def test_near_miss_healthy_status_raises_nothing(tmp_path: Path) -> None:
    assert _hits(tmp_path, "healthy").empty


def test_an_old_status_file_is_a_warning_not_an_error(tmp_path: Path) -> None:
    hit = _hits(tmp_path, "stale-healthy")
    assert len(hit) == 1 and hit["severity"].iloc[0] == "warning" and "13 h 12 min" in hit["summary"].iloc[0]


def test_found_by_content_elsewhere(tmp_path: Path) -> None:
    assert sniff((SHAPES / "healthy.status.json").read_text()) == "proxy_agent_status"
    assert len(_hits(tmp_path, "ebpf-failed-enforce", rel="pasted/gpa.json")) == 1


@pytest.mark.parametrize("state", [None, "Unknown", ""])
def test_unread_secure_channel_state_never_raises_severity(tmp_path: Path, state: str | None) -> None:
    doc = json.loads((SHAPES / "ebpf-failed-disabled.status.json").read_text())
    doc["proxyAgentStatus"]["keyLatchStatus"]["states"]["secureChannelState"] = state
    f = tmp_path / "s.json"
    f.write_text(json.dumps(doc, indent=2))
    df = kit.diagnose(_bundle_with(tmp_path / "b", {REL: f}))
    assert df[df["code"] == CODE]["severity"].iloc[0] == "info"


def test_cut_file_keeps_what_was_written_and_says_where() -> None:
    text = (SHAPES / "ebpf-failed-enforce.status.json").read_text()
    result = parser.parse(text[: text.index('"proxyListenerStatus"')], source="s.json")
    assert result.issues and result.issues[0].kind == "bad-json"
    assert "ebpfProgramStatus" in set(result.df["module"]) and "proxyListenerStatus" not in set(result.df["module"])
