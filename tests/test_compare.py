"""kit.compare / `vmkit diff`: which findings a change resolved or introduced, with the changed facts as evidence."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

import kit
from kit.cli import main

SAMPLES = Path(__file__).resolve().parent.parent / "sample_logs"
HEALTHY = SAMPLES / "healthy"
FIREWALL = SAMPLES / "firewall-blocks-32526"
ALL = sorted(p for p in SAMPLES.iterdir() if (p / "manifest.json").is_file())


def test_fixing_the_firewall_resolves_its_findings_with_the_removed_rule_as_evidence() -> None:
    c = kit.compare(FIREWALL, HEALTHY)
    f = c.findings.set_index("code")
    for code in ("GUEST_FIREWALL_BLOCKS_WIRESERVER", "HOSTGAPLUGIN_UNREACHABLE"):
        assert f.loc[code, "status"] == "resolved"
        assert f.loc[code, "severity_before"] == "error" and str(f.loc[code, "severity_after"]) == "nan"
    because = f.loc["GUEST_FIREWALL_BLOCKS_WIRESERVER", "related_changes"]
    assert "firewall rule 'Block Azure host plugin (hardening)' removed" in because
    assert "[before: commands/firewall_rules.json]" in because
    probe = c.changes[(c.changes["frame"] == "tcp_probes") & (c.changes["field"] == "result")]
    assert probe[["item", "before", "after"]].values.tolist() == [["TCP 168.63.129.16:32526", "0/3 ok", "3/3 ok"]]
    assert c.counts()["new"] == 0


def test_the_reverse_lists_them_as_new(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", str(HEALTHY), str(FIREWALL)]) == 1  # a new finding at error or above
    out = capsys.readouterr().out
    new = out[out.index("New (2):"):out.index("Still there")]
    assert "GUEST_FIREWALL_BLOCKS_WIRESERVER" in new and "HOSTGAPLUGIN_UNREACHABLE" in new
    assert "firewall rule 'Block Azure host plugin (hardening)' added" in new
    assert "Resolved: none" in out


def test_cli_fixed_direction_exits_0_and_json_is_complete(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", str(FIREWALL), str(HEALTHY), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["counts"] == {"resolved": 2, "new": 0, "remains": 1}
    assert {f["code"] for f in doc["findings"] if f["status"] == "resolved"} == {
        "GUEST_FIREWALL_BLOCKS_WIRESERVER", "HOSTGAPLUGIN_UNREACHABLE"}
    assert any("different VMs" in n for n in doc["notes"])


@pytest.fixture(scope="module")
def healthy_findings():
    return kit.diagnose(kit.open_bundle(HEALTHY))


@pytest.mark.parametrize("sample", ALL, ids=lambda p: p.name)
def test_every_sample_against_healthy_accounts_for_every_finding(sample: Path, healthy_findings) -> None:
    before = kit.diagnose(kit.open_bundle(sample))
    after = healthy_findings
    c = kit.compare(sample, HEALTHY, findings_before=before, findings_after=after)
    # every finding of either side is listed exactly once per occurrence
    assert (c.findings["status"] != "new").sum() == len(before)
    assert (c.findings["status"] != "resolved").sum() == len(after)
    expected = set(json.loads((sample / "scenario.json").read_text())["expected_codes"])
    listed = set(c.findings.loc[c.findings["status"] == "resolved", "code"])
    assert expected - {"KNOWN_HARMLESS_NOISE"} <= listed | set(after["code"])


def test_a_bundle_compared_with_itself_in_another_shape_changes_nothing(tmp_path: Path) -> None:
    z = tmp_path / "healthy.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in sorted(HEALTHY.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(HEALTHY).as_posix())
    c = kit.compare(HEALTHY, z)
    assert set(c.findings["status"]) <= {"remains"}
    assert c.changes.empty


def test_a_frame_one_bundle_did_not_read_is_not_compared_never_all_removed(tmp_path: Path) -> None:
    after = tmp_path / "after"
    shutil.copytree(FIREWALL, after)
    (after / "commands" / "firewall_rules.json").unlink()
    m = json.loads((after / "manifest.json").read_text())
    m["files"] = [e for e in m.get("files", []) if not str(e.get("path", "")).endswith("firewall_rules.json")]
    (after / "manifest.json").write_text(json.dumps(m))
    c = kit.compare(FIREWALL, after)
    fw = c.changes[c.changes["frame"] == "firewall_rules"]
    assert fw["change"].tolist() == ["not-compared"]
    assert "after bundle has no readable file" in fw["note"].iloc[0]
    assert not (c.changes["change"] == "removed").any()


def test_an_empty_but_read_rule_list_means_the_rule_is_gone() -> None:
    """healthy's commands/firewall_rules.json is `[]`: read, and holding no rule."""
    c = kit.compare(FIREWALL, HEALTHY)
    fw = c.changes[c.changes["frame"] == "firewall_rules"]
    assert fw["change"].tolist() == ["removed"]


def test_unreadable_bundle_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", str(tmp_path / "nope"), str(HEALTHY)]) == 2
    assert "cannot read bundle" in capsys.readouterr().err
