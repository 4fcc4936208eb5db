"""Pastes are evidence (issue 14 item 4): a text file that is no known artifact - a console capture, az / Azure
PowerShell / Terraform output, Portal error text - is scanned with the catalog's signatures, the ones the log rules
use, and each hit is the catalog's finding with the file and line as evidence.

Fixtures: tests/shapes/pastes/*.txt, each named with its real source in tests/shapes/pastes/SOURCES.md.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

import kit
from kit.catalog import catalog, signature_pattern, signatures
from kit.parse import get_parser, sniff
from tests.conftest import copy_sample

PASTES = Path(__file__).parent / "shapes" / "pastes"

#: fixture -> (the finding it must give, lines of the paste that must be cited as its evidence)
EXPECTED: dict[str, tuple[str, set[int]]] = {
    "imds_no_header_curl.txt": ("IMDS_REQUESTS_FAILED", {2}),
    "imds_no_header_ps51.txt": ("IMDS_REQUESTS_FAILED", {2}),
    "imds_unreachable_ps51_debug.txt": ("IMDS_UNREACHABLE", {2}),
    "imds_proxy_page_ps.txt": ("PROXY_INTERCEPTS_AGENT_TRAFFIC", {2, 17}),
    "legacy_msi_50342_ps51.txt": ("LEGACY_MSI_EXTENSION", {2}),
    "legacy_msi_50342_ps7.txt": ("LEGACY_MSI_EXTENSION", {2}),
    "legacy_msi_50342_curl.txt": ("LEGACY_MSI_EXTENSION", {2, 5}),
    "arm_cse_failed_az.txt": ("EXTENSION_FAILED", {6, 7}),
    "arm_agent_status_ps.txt": ("DEPLOYMENT_AGENT_STATUS_NOT_REPORTED", {4, 5}),
    "arm_os_provisioning_terraform.txt": ("DEPLOYMENT_OS_PROVISIONING_TIMEOUT", {1}),
    "arm_extension_timeout_portal.txt": ("EXTENSION_TIMEOUT", {1}),
}
HEALTHY = ["healthy_imds_curl.txt", "healthy_imds_ps7.txt"]


def loose(tmp_path: Path, *names: str) -> Path:
    """A customer's loose folder holding the pastes as they were given."""
    root = tmp_path / "ticket"
    root.mkdir()
    for n in names:
        shutil.copyfile(PASTES / n, root / n)
    return root


def test_every_fixture_is_sourced() -> None:
    listed = set(re.findall(r"^- `([^`]+)`", (PASTES / "SOURCES.md").read_text(encoding="utf-8"), re.M))
    assert listed == {p.name for p in PASTES.glob("*.txt")}
    assert set(EXPECTED) | set(HEALTHY) == listed


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_paste_gives_its_catalog_finding_with_line_evidence(tmp_path: Path, name: str) -> None:
    code, lines = EXPECTED[name]
    b = kit.open_bundle(loose(tmp_path, name))
    inv = b.inventory
    assert inv.loc[inv["path"].str.endswith(name), "artifact"].tolist() == ["paste"]
    assert not (b.issues["kind"] == "unrecognised-file").any()
    f = kit.diagnose(b)
    assert code in set(f["code"]), f[["severity", "code", "summary"]]
    serious = set(f.loc[f["severity"] >= "warning", "code"])
    assert serious == {code}, f[["severity", "code", "summary"]]
    ev = kit.diagnose.evidence_frame(f[f["code"] == code])
    pasted = ev[ev["artifact"] == "paste"]
    assert set(pasted["source"]) == {name}
    assert lines <= set(pasted["line"].astype(int)), pasted[["line", "text"]]
    summary = f.loc[f["code"] == code, "summary"].iloc[0]
    assert name in summary


@pytest.mark.parametrize("name", HEALTHY)
def test_healthy_session_gives_nothing_at_warning_or_above(tmp_path: Path, name: str) -> None:
    f = kit.diagnose(kit.open_bundle(loose(tmp_path, name)))
    assert f[f["severity"] >= "warning"].empty, f[["severity", "code", "summary"]]


def test_paste_next_to_the_healthy_sample_changes_nothing(tmp_path: Path) -> None:
    """Same data, other shape: the healthy sample's own IMDS answer pasted as a PowerShell session adds nothing."""
    before = kit.diagnose(kit.open_bundle(copy_sample("healthy", tmp_path / "a")))
    root = copy_sample("healthy", tmp_path / "b")
    shutil.copyfile(PASTES / "healthy_imds_ps7.txt", root / "imds_session.txt")
    after = kit.diagnose(kit.open_bundle(root))
    assert set(after.loc[after["severity"] >= "warning", "code"]) == set(
        before.loc[before["severity"] >= "warning", "code"]) == set()


def test_deployment_error_is_not_blamed_on_the_vm(tmp_path: Path) -> None:
    f = kit.diagnose(kit.open_bundle(loose(tmp_path, "arm_os_provisioning_terraform.txt")))
    row = f[f["code"] == "DEPLOYMENT_OS_PROVISIONING_TIMEOUT"].iloc[0]
    assert row["family"] == "deployment" and row["severity"] == "warning"
    assert not f["family"].isin(["agent", "extensions"]).any()


# ---------------------------------------------------------------------------------------------- the paste frame
def _frame(text: str, source: str = "p.txt") -> pd.DataFrame:
    return get_parser("paste").parse(text, source=source).frames["paste_lines"]


def test_prompts_are_recognised_and_give_the_command() -> None:
    df = _frame((PASTES / "healthy_imds_ps7.txt").read_text(encoding="utf-8"))
    first = df.iloc[0]
    assert bool(first["prompt"]) and first["command"].startswith("Invoke-RestMethod -Headers")
    out = df.iloc[1]
    assert not bool(out["prompt"]) and out["command"] == first["command"]
    for line, cmd in (("C:\\Users\\x>curl -s http://169.254.169.254/", "curl -s http://169.254.169.254/"),
                      ("azureuser@myvm:~$ curl -s x", "curl -s x"), ("[root@host ~]# curl y", "curl y"),
                      ("$ curl z", "curl z"), (">>> import requests", "import requests"),
                      ("PS /home/azureuser> Get-Date", "Get-Date")):
        row = _frame(line + "\nsome output\n").iloc[0]
        assert bool(row["prompt"]) and row["command"] == cmd, line
    assert not _frame('{"error": "Bad request"}\n').iloc[0]["prompt"]


def test_secrets_in_pasted_lines_are_masked() -> None:
    text = ('{"access_token":"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwcyJ9.c2lnbmF0dXJl",'
            '"token_type":"Bearer"}\n'
            "Authorization: Bearer eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwcyJ9.c2lnbmF0dXJl\n"
            "Failed to download https://st.blob.core.windows.net/s/a.ps1?sv=2021-08-06&se=2024&sp=r&sig=Ab%2Fcd12EF%3D\n"
            "net use z: \\\\srv\\share /user:admin password=Hunter2!\n")
    df = _frame(text)
    joined = "\n".join(df["text"])
    for secret in ("c2lnbmF0dXJl", "Ab%2Fcd12EF%3D", "Hunter2!"):
        assert secret not in joined
    assert "sig=<redacted>" in joined and '"access_token":"<redacted>"' in joined and "Bearer <redacted>" in joined


def test_signature_hits_are_listed_per_line() -> None:
    df = _frame((PASTES / "legacy_msi_50342_curl.txt").read_text(encoding="utf-8"))
    hit = df[df["line"] == 2].iloc[0]
    assert "LEGACY_MSI_EXTENSION" in hit["codes"]
    assert pd.isna(df.loc[df["line"] == 3, "codes"].iloc[0])  # the empty line between the two commands
    assert df.loc[df["line"] == 2, "signatures"].iloc[0] == ("LEGACY_MSI_EXTENSION/legacy-endpoint-curl,"
                                                             "LEGACY_MSI_EXTENSION/legacy-endpoint-refused")


def test_damaged_paste_text_costs_nothing_else() -> None:
    text = "\x00\x00garbage \ufffd\ufffd\n" + "x" * 100_000 + "\nVMAgentStatusCommunicationError\n\r\n"
    df = _frame(text)
    assert len(df) == 4 and df.loc[df["line"] == 3, "codes"].iloc[0] == "DEPLOYMENT_AGENT_STATUS_NOT_REPORTED"


def test_sniff_takes_a_paste_only_when_a_signature_hits() -> None:
    assert sniff((PASTES / "arm_cse_failed_az.txt").read_text(encoding="utf-8")) == "paste"
    assert sniff((PASTES / "healthy_imds_curl.txt").read_text(encoding="utf-8")) is None
    assert sniff("just some words\nand more\n") is None


def test_a_typed_command_alone_is_not_evidence(tmp_path: Path) -> None:
    root = tmp_path / "t"
    root.mkdir()
    (root / "cmd.txt").write_text('PS C:\\> Invoke-WebRequest -Uri http://localhost:50342/oauth2/token\nPS C:\\>\n',
                                  encoding="utf-8")
    f = kit.diagnose(kit.open_bundle(root))
    assert "LEGACY_MSI_EXTENSION" not in set(f["code"])


def test_paste_line_joins_the_finding_the_vm_logs_raise(tmp_path: Path) -> None:
    """The keyvault-legacy-msi sample raises LEGACY_MSI_EXTENSION from its own files: a paste of a refused call to
    localhost:50342 is attached to that finding as extra evidence, not reported a second time."""
    root = copy_sample("keyvault-legacy-msi", tmp_path)
    before = kit.diagnose(kit.open_bundle(root))
    shutil.copyfile(PASTES / "legacy_msi_50342_curl.txt", root / "curl.txt")
    after = kit.diagnose(kit.open_bundle(root))
    assert (after["code"] == "LEGACY_MSI_EXTENSION").sum() == (before["code"] == "LEGACY_MSI_EXTENSION").sum() == 1
    ev = kit.diagnose.evidence_frame(after[after["code"] == "LEGACY_MSI_EXTENSION"])
    assert {("curl.txt", 2), ("curl.txt", 5)} <= set(zip(ev["source"], ev["line"].astype("Int64"), strict=True))
    assert set(after["code"]) - {"INPUT_DAMAGED"} == set(before["code"]) - {"INPUT_DAMAGED"}
    assert "Pasted text shows it too (curl.txt lines 2, 5)" in after.loc[after["code"] == "LEGACY_MSI_EXTENSION",
                                                                          "summary"].iloc[0]


def test_pasted_failure_the_bundle_probes_contradict_is_info(tmp_path: Path) -> None:
    """Probes are current, a paste is undated: next to the healthy sample, whose probes reached IMDS, a pasted
    "Unable to connect" to IMDS is reported but not as an error."""
    root = copy_sample("healthy", tmp_path)
    shutil.copyfile(PASTES / "imds_unreachable_ps51_debug.txt", root / "session.txt")
    f = kit.diagnose(kit.open_bundle(root))
    row = f[f["code"] == "IMDS_UNREACHABLE"].iloc[0]
    assert row["severity"] == "info" and "probes reached imds" in row["summary"]
    assert f[f["severity"] >= "warning"].empty, f[["severity", "code", "summary"]]


# ---------------------------------------------------------------------------------------------- signatures as data
def test_every_signature_is_sourced_and_compiles() -> None:
    sigs = signatures()
    assert sigs, "no signatures in the catalog"
    for s in sigs:
        assert s.code in catalog()
        assert len(s.source) > 10, s
        re.compile(s.pattern)


def test_log_rules_read_their_patterns_from_the_catalog() -> None:
    from kit.diagnose import agent, identity, network

    pairs = [(agent.CERT_ERRORS, ("AGENT_CERTIFICATE_ERROR", "agent_log")),
             (agent.DECRYPT_ERRORS, ("AGENT_CERTIFICATE_ERROR", "handler_log")),
             (identity.LEGACY_ENDPOINT, ("LEGACY_MSI_EXTENSION", "log")),
             (network.LOG_FAILURES["wireserver"], ("WIRESERVER_UNREACHABLE", "agent_log"))]
    for constant, (code, where) in pairs:
        assert constant == signature_pattern(code, where)
    assert [k for k, *_ in identity.IMDS_RULES][:2] == ["metadata-header", "api-version"]


def test_a_plain_log_under_plugins_stays_a_handler_log(tmp_path: Path) -> None:
    """A .log under Plugins that no sniffer takes is read as a plain handler log, as before pastes existed - even when
    a line of it matches a paste signature (the handler-log rules must still see it)."""
    root = tmp_path / "logs"
    log = root / "C/WindowsAzure/Logs/Plugins/Microsoft.Compute.CustomScriptExtension/1.10.15/CustomScriptHandler.log"
    log.parent.mkdir(parents=True)
    log.write_text("Failed to decode, decrypt, and deserialize the protected settings string. Error Message: Keyset "
                   "does not exist\n", encoding="utf-8")
    b = kit.open_bundle(root)
    assert b.inventory["artifact"].tolist() == ["handler_log"]
    assert len(b.frame("handler_log")) == 1 and b.frame("paste_lines").empty
    assert "AGENT_CERTIFICATE_ERROR" in set(kit.diagnose(b)["code"])


def test_a_proxy_page_for_another_site_is_not_about_agent_traffic(tmp_path: Path) -> None:
    text = (PASTES / "imds_proxy_page_ps.txt").read_text(encoding="utf-8")
    other = text.replace("169.254.169.254", "intranet.contoso.com").replace("/metadata/identity/oauth2/token", "/")
    root = tmp_path / "t"
    root.mkdir()
    (root / "proxy.txt").write_text(other, encoding="utf-8")
    f = kit.diagnose(kit.open_bundle(root))
    assert "PROXY_INTERCEPTS_AGENT_TRAFFIC" not in set(f["code"])


@pytest.mark.parametrize(("line", "code"), [
    ("System.Net.Http.HttpRequestException: Connection refused (127.0.0.1:50342)", "LEGACY_MSI_EXTENSION"),
    ("curl: (7) Failed to connect to 127.0.0.1 port 50342: Connection refused", "LEGACY_MSI_EXTENSION"),
    ('"code": "OSProvisioningTimedOut",', "DEPLOYMENT_OS_PROVISIONING_TIMEOUT"),
    ("[00000006] [06/20/2019 07:44:28.93] [ERROR] Did not discover fabric address on interface Npcap Loopback Adapter",
     "FABRIC_ADDRESS_NOT_DISCOVERED"),
])
def test_single_lines_hit_their_code(line: str, code: str) -> None:
    from kit.parse.paste import hits

    assert code in {s.code for s in hits(line)}
