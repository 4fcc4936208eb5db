"""Symptom first (issue 15 part 4): "agent Not Ready" with its causes ranked from the findings of the bundle; a cause
is ranked only from a finding at warning or above, none is invented, and missing data says "cannot tell"."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

import kit
from kit.diagnose.symptoms import NOT_READY_CAUSES, SYMPTOM_CAUSES, format_symptoms, symptoms
from tests.conftest import copy_sample
from tests.test_diagnose_scenarios import FAULTS, Vm

SAMPLES = Path(__file__).parent.parent / "sample_logs"
PASTES = Path(__file__).parent / "shapes" / "pastes"
CAUSE_OF = {code: c for c in NOT_READY_CAUSES for code in c.codes}


def _symptoms(root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    b = kit.open_bundle(root)
    f = kit.diagnose(b)
    return symptoms(f, b), f


def _broken(tmp_path: Path, *codes: str) -> Path:
    vm = Vm(copy_sample("healthy", tmp_path))
    for code in codes:
        FAULTS[code](vm)
    vm.seal()
    return vm.root


def test_healthy_bundle_invents_no_cause(tmp_path: Path) -> None:
    df, _ = _symptoms(copy_sample("healthy", tmp_path))
    assert list(df.columns) == list(SYMPTOM_CAUSES.names)
    assert df["rank"].isna().all() and df["code"].isna().all()
    assert "no cause found in this bundle" in df["why"].iloc[0]
    assert "last status in this bundle is Ready" in df["symptom"].iloc[0] and "as reported" in df["symptom"].iloc[0]
    clock = df[df["cause"].str.contains("clock")]
    assert len(clock) == 1 and clock["why"].iloc[0].startswith("cannot tell")


@pytest.mark.parametrize("code", sorted(set(CAUSE_OF) & set(FAULTS)))
def test_each_cause_is_ranked_from_its_finding(tmp_path: Path, code: str) -> None:
    df, f = _symptoms(_broken(tmp_path, code))
    ranked = df[df["rank"].notna()]
    row = ranked[ranked["cause"] == CAUSE_OF[code].label]
    assert len(row) == 1, df[["rank", "cause", "code", "why"]]
    assert row["code"].iloc[0] in CAUSE_OF[code].codes
    assert row["code"].iloc[0] in set(f.loc[f["severity"] >= "warning", "code"])
    assert isinstance(row["evidence"].iloc[0], str) and isinstance(row["fix"].iloc[0], str)
    # every ranked row comes from a finding at warning or above of this bundle
    assert set(ranked["code"]) <= set(f.loc[f["severity"] >= "warning", "code"])


def test_critical_cause_outranks_an_error(tmp_path: Path) -> None:
    df, _ = _symptoms(_broken(tmp_path, "PROXY_INTERCEPTS_AGENT_TRAFFIC", "AGENT_NOT_RUNNING"))
    ranked = df[df["rank"].notna()].sort_values("rank")
    assert list(ranked["code"])[:2] == ["AGENT_NOT_RUNNING", "PROXY_INTERCEPTS_AGENT_TRAFFIC"]
    assert list(ranked["rank"])[:2] == [1, 2]
    assert "Stopped" in ranked["why"].iloc[0] or "stopped" in ranked["why"].iloc[0]


def test_the_symptom_itself_is_not_a_cause(tmp_path: Path) -> None:
    """A pasted VMAgentStatusCommunicationError is the symptom (an error finding), not a cause of it."""
    root = copy_sample("healthy", tmp_path)
    shutil.copyfile(PASTES / "arm_agent_status_ps.txt", root / "new-azvm.txt")
    df, f = _symptoms(root)
    assert "DEPLOYMENT_AGENT_STATUS_NOT_REPORTED" in set(f["code"])
    assert df["rank"].isna().all()
    assert df["symptom"].iloc[0].endswith("a deployment error in the bundle reports it: "
                                          "VMAgentStatusCommunicationError)")


def test_missing_data_says_cannot_tell(tmp_path: Path) -> None:
    """A ticket folder with only a paste holds no service list, log, probe or event: every cause says what is
    missing, and the symptom says no agent status confirms it."""
    root = tmp_path / "ticket"
    root.mkdir()
    shutil.copyfile(PASTES / "arm_agent_status_ps.txt", root / "error.txt")
    df, _ = _symptoms(root)
    assert df["rank"].isna().all()
    assert "no agent status" in df["symptom"].iloc[0]
    told = df[df["why"].str.startswith("cannot tell")]
    assert len(told) == len(NOT_READY_CAUSES)
    svc = told[told["cause"] == NOT_READY_CAUSES[0].label]["why"].iloc[0]
    assert "services.json" in svc and "missing from this bundle" in svc


def test_an_info_finding_ranks_nothing(tmp_path: Path) -> None:
    """Next to the healthy sample, whose probes reached WireServer, a pasted refused connection to it is reported at
    info (an undated paste): the symptom ranks no cause from it."""
    root = copy_sample("healthy", tmp_path)
    (root / "session.txt").write_text("Invoke-WebRequest : Unable to connect to the remote server "
                                      "168.63.129.16:80\n", encoding="utf-8")
    df, f = _symptoms(root)
    row = f[f["code"] == "WIRESERVER_UNREACHABLE"]
    assert len(row) == 1 and row["severity"].iloc[0] == "info", f[["severity", "code", "summary"]]
    assert df["rank"].isna().all()


def test_format_leads_with_the_symptom(tmp_path: Path) -> None:
    df, _ = _symptoms(SAMPLES / "proxy-intercepts-agent")
    text = format_symptoms(df)
    assert text.startswith("Symptom: agent Not Ready")
    assert "1. a proxy intercepts the agent's traffic [PROXY_INTERCEPTS_AGENT_TRAFFIC]" in text


def test_unknown_symptom_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown symptom"):
        symptoms(pd.DataFrame(), None, symptom="slow disk")


def test_start_notebook_leads_with_the_symptom() -> None:
    src = (Path(__file__).parent.parent / "notebooks" / "00-start-here.py").read_text(encoding="utf-8")
    assert src.index("## Symptom: the agent shows \"Not Ready\"") < src.index("## What the bundle holds")
    assert "symptoms(kit.diagnose(bundle), bundle)" in src


def test_app_control_is_judged_only_from_app_control_logs(tmp_path: Path) -> None:
    """A System log alone says nothing about AppLocker: "cannot tell" stays; an AppLocker log without a block is read
    (no "cannot tell", no rank)."""
    from tests.test_diagnose_scenarios import EVENTS

    label = next(c.label for c in NOT_READY_CAUSES if c.key == "app-control")
    root = _broken(tmp_path / "a", "AGENT_SERVICE_TERMINATED")
    df, _ = _symptoms(root)
    assert df.loc[df["cause"] == label, "why"].iloc[0].startswith("cannot tell")
    vm = Vm(copy_sample("healthy", tmp_path / "b"))
    vm.write("commands/applocker.xml", (EVENTS / "applocker-other-file.wevtutil.xml").read_bytes().decode("utf-8"))
    vm.seal()
    df, _ = _symptoms(vm.root)
    assert label not in set(df["cause"]), df[["rank", "cause", "why"]]
    assert df["rank"].isna().all()
