"""Issue 19, part 6, the report's words on every sample: a summary's numbers and addresses come from the values it
cites, a summary never ends a quoted value mid-word, documented noise is never an "unexplained" error, and a pasted
console prompt is a prompt, not damaged input.

What the number check cannot see (and so does not claim): small counts ("23 WSAEACCES errors") are counted over the
whole log while a finding cites a few rows, so numbers under 100 that are not addresses or durations are left out.
"""

from __future__ import annotations

import re
import shutil
from functools import cache
from pathlib import Path

import pandas as pd
import pytest

import kit
from kit.diagnose import diagnose

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted(p.name for p in (ROOT / "sample_logs").iterdir() if (p / "manifest.json").exists())
#: The platform's own addresses: a rule names them as what it checks, not as a value it read.
PLATFORM = {"168.63.129.16", "169.254.169.254"}
IPV4 = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d{1,3}){3})(?:/\d{1,2}|:\d{1,5})?(?![\w.])")
TIME = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?: ?UTC|Z)?")
MINUTES = re.compile(r"(?<![\w.])(?:(\d+) ?h )?(\d+) ?min\b")
NUMBER = re.compile(r"(?<![\w.:/-])(\d{3,})(?![\w.:/-])")


@cache
def _findings(sample: str) -> tuple[kit.Bundle, pd.DataFrame]:  # type: ignore[name-defined]
    bundle = kit.open_bundle(ROOT / "sample_logs" / sample)
    return bundle, diagnose(bundle)


def _evidence_text(evidence: list[dict]) -> str:
    return "\n".join(f"{e.get('source') or ''} {e.get('text') or ''}" for e in evidence)


def _times(text: str, evidence: list[dict], bundle) -> list[pd.Timestamp]:
    out = [pd.Timestamp(e["ts"]) for e in evidence if e.get("ts")]
    for m in TIME.finditer(text):
        try:
            out.append(pd.Timestamp(m.group(0).replace(" UTC", "").replace("UTC", ""), tz="UTC"))
        except ValueError:
            continue
    if bundle.time_reference is not None:
        out.append(bundle.time_reference)
    return [t.tz_localize("UTC") if t.tzinfo is None else t for t in out]


def _budgets() -> set[int]:
    from kit.diagnose.extensions import budget_for

    names = ["Microsoft.Compute.CustomScriptExtension", "Microsoft.Compute.BGInfo",
             "Microsoft.Azure.KeyVault.KeyVaultForWindows",
             "Microsoft.ManagedIdentity.ManagedIdentityExtensionForWindows"]
    return {int(pd.Timedelta(budget_for(n)).total_seconds() // 60) for n in names}


def summary_problems(sample: str) -> list[str]:
    bundle, findings = _findings(sample)
    problems = []
    for r in findings.itertuples(index=False):
        summary, evidence = str(r.summary), list(r.evidence)
        ev = _evidence_text(evidence)
        for m in IPV4.finditer(summary):
            if m.group(1) not in ev and m.group(1) not in PLATFORM:
                problems.append(f"{r.code}: address {m.group(1)} is in no evidence row")
        times = _times(summary, evidence, bundle)
        spans = {round(abs((a - b).total_seconds()) / 60) for a in times for b in times}
        spans |= {s + d for s in spans for d in (-1, 1)}
        for m in MINUTES.finditer(summary):
            if int(m.group(1) or 0) * 60 + int(m.group(2)) not in spans | _budgets():
                problems.append(f"{r.code}: {m.group(0)} is no span between the times it cites, nor a budget")
        bare = TIME.sub(" ", IPV4.sub(" ", MINUTES.sub(" ", summary)))
        for m in NUMBER.finditer(bare):
            if m.group(1) not in ev:
                problems.append(f"{r.code}: {m.group(1)} is in no evidence row")
        words = set(re.findall(r"\w+", ev + " " + str(r.title) + " " + str(r.remediation)))
        for m in re.finditer(r"(\w{2,})(?:\)|…|\.\.\.|')", summary):
            w = m.group(1)
            if w not in words and re.search(rf"\b{re.escape(w)}\w", ev):
                problems.append(f"{r.code}: {w!r} looks cut from a longer word of the evidence: {summary!r}")
    return problems


@pytest.mark.parametrize("sample", SAMPLES)
def test_summaries_cite_their_own_values(sample: str) -> None:
    assert summary_problems(sample) == []


def test_the_summary_check_can_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    bundle, findings = _findings("firewall-blocks-32526")
    bad = findings.copy()
    bad.loc[0, "summary"] = ("Traffic to 10.9.8.7 port 44321 has failed for 999 min (rule 'Block Azure host pl'; "
                             "An attempt was made to acc).")
    monkeypatch.setattr(
        "tests.test_report_words._findings", lambda s: (bundle, bad))
    problems = summary_problems("firewall-blocks-32526")
    assert any("10.9.8.7" in p for p in problems)
    assert any("44321" in p for p in problems)
    assert any("999 min" in p for p in problems)
    assert any("'pl'" in p for p in problems) and any("'acc'" in p for p in problems)


def _documented_noise(sample: str) -> list[str]:
    """Backticked text in the sample README's paragraphs or bullets that call it noise."""
    text = (ROOT / "sample_logs" / sample / "README.md").read_text(encoding="utf-8")
    text = re.sub(r"\s*\n\s*(?![*\-] )", " ", text)  # join wrapped lines (a bullet starts a new block)
    out = []
    for block in re.split(r"\n", text):
        if re.search(r"\bnoise\b", block, re.I):
            out += [q for q in re.findall(r"`([^`]+)`", block) if len(q) > 12]
    return out


@pytest.mark.parametrize("sample", SAMPLES)
def test_documented_noise_is_never_unexplained(sample: str) -> None:
    _, findings = _findings(sample)
    unexplained = findings[findings["code"] == "AGENT_LOG_ERRORS"]
    texts = [str(e.get("text")) for ev in unexplained["evidence"] for e in ev]
    for quote in _documented_noise(sample):
        assert not any(quote in t for t in texts), f"{sample}: documented noise {quote!r} listed as unexplained"


def test_failover_fabric_address_miss_is_noise_only_when_found_later(tmp_path: Path) -> None:
    assert "[ERROR] Did not discover fabric address on interface Local Area Connection* 12" in \
        _documented_noise("failover-cluster-imds-captured")
    _, findings = _findings("failover-cluster-imds-captured")
    assert "AGENT_LOG_ERRORS" not in set(findings["code"])
    noise = findings[findings["code"] == "KNOWN_HARMLESS_NOISE"]["summary"].iloc[0]
    assert "fabric-address-found-on-another-interface (1x)" in noise
    # the same log without the later discovery: the miss is no longer noise, and the rule for it speaks
    copy = tmp_path / "b"
    shutil.copytree(ROOT / "sample_logs" / "failover-cluster-imds-captured", copy)
    (copy / "manifest.json").unlink()
    log = copy / "C/WindowsAzure/Logs/WaAppAgent.log"
    raw = log.read_bytes()
    kept = [ln for ln in raw.split(b"\n")
            if b"Discovered fabric address" not in ln and b"Using fabric address" not in ln]
    log.write_bytes(b"\n".join(kept))
    f2 = diagnose(kit.open_bundle(copy))
    assert "FABRIC_ADDRESS_NOT_DISCOVERED" in set(f2["code"])
    assert "fabric-address" not in f2[f2["code"] == "KNOWN_HARMLESS_NOISE"]["summary"].iloc[0]


def test_pasted_console_prompts_are_prompts(tmp_path: Path) -> None:
    """The healthy sample's command output pasted from a console, prompt lines and all: same frames, same findings,
    no parse issue."""
    copy = tmp_path / "pasted"
    shutil.copytree(ROOT / "sample_logs" / "healthy", copy)
    (copy / "manifest.json").unlink()
    commands = {"route_print.txt": "route print", "ipconfig_all.txt": "ipconfig /all",
                "netsh_winhttp_proxy.txt": "netsh winhttp show proxy"}
    for name, command in commands.items():
        p = copy / "commands" / name
        p.write_bytes(f"C:\\Users\\azureuser>{command}\r\n".encode() + p.read_bytes()
                      + b"\r\nPS C:\\Users\\azureuser> \r\n")
    original, pasted = kit.open_bundle(ROOT / "sample_logs" / "healthy"), kit.open_bundle(copy)
    for frame in ("routes", "adapters", "proxy"):
        a, b = original.frame(frame), pasted.frame(frame)
        cols = [c for c in a.columns if c not in ("source", "line", "raw")]  # raw: the file's text as pasted
        pd.testing.assert_frame_equal(a[cols].reset_index(drop=True), b[cols].reset_index(drop=True))
    assert pasted.issues.empty, pasted.issues.to_string()
    assert sorted(diagnose(original)["code"]) == sorted(diagnose(pasted)["code"])


def test_clip_cuts_between_words() -> None:
    from kit.diagnose._util import clip

    text = "Unable to connect to the remote server ---> A connection attempt failed because the connected party"
    assert clip(text, 200) == text
    out = clip(text, 45)
    assert out == "Unable to connect to the remote server …"
    assert clip("x" * 50, 10) == "x" * 10 + " …"
