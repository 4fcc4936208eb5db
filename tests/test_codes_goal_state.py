"""The extension goal state (ExtensionsConfig XML) against what ran (kit/parse/extensions_config.py,
kit/diagnose/goal_state.py). Fixtures: tests/shapes/extensions_config/SOURCES.md."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

import kit
from kit.diagnose.goal_state import compatible
from kit.parse import extensions_config as parser
from kit.parse import parse_bytes
from tests.test_events import _bundle_with

SHAPES = Path(__file__).parent / "shapes" / "extensions_config"
REL = "C/WindowsAzure/Config/WireServerRoleExtensionsConfig_3c1f9b2e.xml"
CODE = "EXTENSION_GOAL_STATE_NOT_APPLIED"
SIG = "hfRh7gzUE7sUtYwke78IOlZOrTRCYvkec4hGZ9zZzXo"


def _text(name: str) -> str:
    return (SHAPES / f"{name}.ExtensionsConfig.xml").read_text(encoding="utf-8")


def _diagnose(tmp_path: Path, name: str, rel: str = REL, base: str = "healthy") -> pd.DataFrame:
    return kit.diagnose(_bundle_with(tmp_path, {rel: SHAPES / f"{name}.ExtensionsConfig.xml"}, base=base))


@pytest.mark.parametrize(("name", "words"), [
    ("asked-never-ran", "Microsoft.Compute.VMAccessAgent 2.4 was asked for but the VM has no folder"),
    ("other-version-ran", "BGInfo 2.1 was asked for (autoUpgrade false) but the VM has only 2.2.5"),
    ("newer-settings-not-applied", "asked to run settings 1 but the newest on the VM is 0.settings"),
])
def test_goal_state_not_applied(tmp_path: Path, name: str, words: str) -> None:
    df = _diagnose(tmp_path, name)
    hit = df[df["code"] == CODE]
    assert len(hit) == 1 and hit["severity"].iloc[0] == "error"
    assert words in hit["summary"].iloc[0]


@pytest.mark.parametrize("name", ["healthy", "just-arrived"])
def test_near_miss_what_ran_or_is_still_in_time(tmp_path: Path, name: str) -> None:
    """The healthy VM's own goal state, and one that arrived 4 minutes before collection (VMAccess not run yet)."""
    base = set(kit.diagnose(Path(__file__).parent.parent / "sample_logs" / "healthy")["code"])
    assert set(_diagnose(tmp_path, name)["code"]) == base


def test_found_by_content_under_any_name(tmp_path: Path) -> None:
    df = _diagnose(tmp_path, "asked-never-ran", rel="pasted/goalstate.txt")
    assert CODE in set(df["code"])


def test_no_creation_time_or_no_extension_folders_is_cannot_tell(tmp_path: Path) -> None:
    text = re.sub(r' createdOnTicks="\d+"', "", _text("asked-never-ran"))
    (tmp_path / "x.xml").write_text(text, encoding="utf-8")
    df = kit.diagnose(_bundle_with(tmp_path / "a", {REL: tmp_path / "x.xml"}))
    assert CODE not in set(df["code"])
    assert df[df["code"] == "CHECK_NOT_POSSIBLE"]["summary"].str.contains("createdOnTicks unknown").any()


def test_same_goal_state_in_utf16_gives_the_same_rows() -> None:
    text = _text("asked-never-ran")
    utf8 = parser.parse(text, source="x").df
    utf16 = parse_bytes(b"\xff\xfe" + text.encode("utf-16-le"), source="x").frames["goal_state_extensions"]
    pd.testing.assert_frame_equal(utf8, utf16)


def test_secrets_never_reach_a_frame_or_a_finding(tmp_path: Path) -> None:
    df = parser.parse(_text("asked-never-ran"), source="x").df
    assert not df.astype(str).apply(lambda c: c.str.contains(SIG) | c.str.contains("protectedSettings")).any().any()
    findings = _diagnose(tmp_path, "asked-never-ran")
    assert SIG not in findings.to_string() and "MIIB4AYJ" not in findings.to_string()


def test_damaged_document_keeps_the_complete_plugin_tags() -> None:
    text = _text("asked-never-ran")
    cut = text[: text.index("<PluginSettings>") + 40]
    result = parser.parse(cut, source="x.xml")
    assert result.issues[0].kind == "bad-xml" and result.issues[0].line is not None
    assert list(result.df["extension"])[-1] == "Microsoft.Compute.VMAccessAgent" and result.df["damaged"].all()
    assert result.df["seq"].isna().all()  # the settings part was cut: their numbers are unknown, not 0
    hostile = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><Extensions><Plugins/></Extensions>'
    assert parser.parse(hostile, source="h.xml").issues[0].kind == "refused"


def test_version_compatibility() -> None:
    assert compatible("1.10.15", False, "1.10.15") and compatible("1.9", False, "1.9.5")
    assert compatible("1.9", True, "1.10.15") and not compatible("1.9", False, "1.10.15")
    assert not compatible("2.1", True, "1.10") and not compatible("2.1", None, "2.2.5")
