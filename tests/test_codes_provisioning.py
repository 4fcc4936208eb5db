"""Provisioning settings in the VM model that forbid extensions (kit/parse/vm_model.py, kit/diagnose/provisioning.py).

Fixtures: tests/shapes/vm_model/SOURCES.md names the real documents they follow."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import kit
from kit.parse import parse_text, sniff
from kit.parse import vm_model as parser
from tests.test_events import _bundle_with

SHAPES = Path(__file__).parent / "shapes" / "vm_model"
COLS = ["name", "vm_id", "os_type", "provision_vm_agent", "allow_extension_operations",
        "enable_vm_agent_platform_updates", "text"]


def _findings(tmp_path: Path, fixture: str, rel: str = "commands/vm_model.json") -> pd.DataFrame:
    return kit.diagnose(_bundle_with(tmp_path, {rel: SHAPES / fixture}))


@pytest.mark.parametrize("shape", ["rest", "az-vm-show"])
def test_same_model_other_shape_same_frame(shape: str) -> None:
    """The REST answer (settings under properties) and az vm show (flattened) give the same row."""
    rest = parser.parse((SHAPES / "healthy.rest.json").read_text(), source="x").df
    other = parser.parse((SHAPES / f"healthy.{shape}.json").read_text(), source="x").df
    pd.testing.assert_frame_equal(rest[COLS], other[COLS])
    assert rest["allow_extension_operations"].iloc[0] is True or bool(rest["allow_extension_operations"].iloc[0])


def test_every_fixture_is_sniffed_by_content_and_nothing_else_takes_it() -> None:
    for f in SHAPES.glob("*.json"):
        assert sniff(f.read_text()[:65536]) == "vm_model", f.name
    assert not parser.sniff('{"compute": {"osProfile": {"adminUsername": "a"}}}')  # IMDS compute: no model


def test_extensions_disallowed_is_found_from_a_pasted_model_with_any_name(tmp_path: Path) -> None:
    df = _findings(tmp_path, "extensions-disallowed.az-vm-show.json", rel="pasted/from-customer.txt")
    hit = df[df["code"] == "VM_EXTENSION_OPERATIONS_DISALLOWED"]
    assert len(hit) == 1 and hit["severity"].iloc[0] == "error"
    assert "web-01" in hit["summary"].iloc[0] and "VM_AGENT_NOT_PROVISIONED" not in set(df["code"])


@pytest.mark.parametrize("fixture", ["healthy.rest.json", "healthy.az-vm-show.json"])
def test_near_miss_healthy_model_raises_nothing_new(tmp_path: Path, fixture: str) -> None:
    base = set(kit.diagnose(Path(__file__).parent.parent / "sample_logs" / "healthy")["code"])
    df = _findings(tmp_path, fixture)
    assert set(df["code"]) == base  # enableVMAgentPlatformUpdates false is what a healthy VM shows: not judged


def test_agent_not_provisioned_says_whether_an_agent_runs_anyway(tmp_path: Path) -> None:
    df = _findings(tmp_path, "agent-not-provisioned.rest.json")
    codes = set(df["code"])
    assert {"VM_AGENT_NOT_PROVISIONED", "VM_EXTENSION_OPERATIONS_DISALLOWED"} <= codes
    summary = df[df["code"] == "VM_AGENT_NOT_PROVISIONED"]["summary"].iloc[0]
    assert "installed by hand" in summary  # the healthy sample's agent log shows the agent running


def test_settings_the_model_does_not_carry_are_unknown_not_false(tmp_path: Path) -> None:
    df = _findings(tmp_path, "older-api.rest.json")
    assert not {"VM_AGENT_NOT_PROVISIONED", "VM_EXTENSION_OPERATIONS_DISALLOWED"} & set(df["code"])
    cannot = df[df["code"] == "CHECK_NOT_POSSIBLE"]["summary"]
    assert cannot.str.contains("allowExtensionOperations is not in the model").any()
    assert cannot.str.contains("vm_model.json").any()


def test_damaged_model_is_a_located_issue_not_an_exception() -> None:
    text = (SHAPES / "extensions-disallowed.rest.json").read_text()
    cut = text[: text.index('"allowExtensionOperations"') + 20]
    result = parse_text(cut, source="m.json", format="vm_model")
    assert result.issues and result.issues[0].kind == "bad-json"
    assert result.df["allow_extension_operations"].isna().all()  # the cut value is not read as false
    assert parser.parse("[1, 2]", source="m.json").issues[0].kind == "unexpected-shape"


def test_agent_installed_by_hand_and_extensions_allowed_is_info_only(tmp_path: Path) -> None:
    df = _findings(tmp_path, "agent-installed-by-hand.rest.json")
    hit = df[df["code"] == "VM_AGENT_NOT_PROVISIONED"]
    assert len(hit) == 1 and hit["severity"].iloc[0] == "info" and "nothing to do" in hit["summary"].iloc[0]
    assert "VM_EXTENSION_OPERATIONS_DISALLOWED" not in set(df["code"])
