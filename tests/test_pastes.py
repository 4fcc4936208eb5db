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
    "arm_cse_failed_az.txt": ("DEPLOYMENT_EXTENSION_FAILED", {6, 7}),
    "arm_agent_status_ps.txt": ("DEPLOYMENT_AGENT_STATUS_NOT_REPORTED", {4, 5}),
    "arm_os_provisioning_terraform.txt": ("DEPLOYMENT_OS_PROVISIONING_TIMEOUT", {1}),
    "arm_extension_timeout_portal.txt": ("DEPLOYMENT_EXTENSION_TIMEOUT", {1}),
    "arm_extension_timeout_json.txt": ("DEPLOYMENT_EXTENSION_TIMEOUT", {8, 9}),
    "arm_cse_user_failure_terraform.txt": ("DEPLOYMENT_EXTENSION_FAILED", {6, 8}),
    "arm_handler_nontransient_terraform.txt": ("DEPLOYMENT_EXTENSION_HANDLER_FAILED", {7}),
    "terraform_cse_client_timeout.txt": ("DEPLOYMENT_CLIENT_GAVE_UP", {31}),
}
#: fixture -> (the info-level finding it must give, lines): deployment-side errors and judgements that blame nothing
INFO_ONLY: dict[str, tuple[str, set[int]]] = {
    "arm_sku_not_available_ps.txt": ("DEPLOYMENT_REQUEST_REJECTED", {3}),
    "arm_quota_portal.txt": ("DEPLOYMENT_REQUEST_REJECTED", {1}),
    "arm_authorization_failed_sdk.txt": ("DEPLOYMENT_REQUEST_REJECTED", {4}),
    "terraform_backup_client_timeout.txt": ("DEPLOYMENT_CLIENT_GAVE_UP", {14}),
    "arm_invalid_password_terraform.txt": ("DEPLOYMENT_REQUEST_REJECTED", {1}),
    "arm_conflict_vm_not_running_portal.txt": ("DEPLOYMENT_REQUEST_REJECTED", {4}),
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
    assert set(EXPECTED) | set(INFO_ONLY) | set(HEALTHY) == listed


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


# ---------------------------------------------------------------------------------------------- ARM/CRP (issue 15)
@pytest.mark.parametrize("name", sorted(INFO_ONLY))
def test_deployment_side_pastes_give_info_and_blame_no_vm(tmp_path: Path, name: str) -> None:
    code, lines = INFO_ONLY[name]
    f = kit.diagnose(kit.open_bundle(loose(tmp_path, name)))
    row = f[f["code"] == code]
    assert len(row) == 1 and row["severity"].iloc[0] == "info", f[["severity", "code", "summary"]]
    assert f[f["severity"] >= "warning"].empty, f[["severity", "code", "summary"]]
    assert not f["family"].isin(["agent", "extensions", "network"]).any()
    ev = kit.diagnose.evidence_frame(row)
    assert lines <= set(ev.loc[ev["artifact"] == "paste", "line"].astype(int))


@pytest.mark.parametrize(("name", "says"), [
    ("arm_cse_failed_az.txt", ["extension 'CustomScriptExtension1'", 'its own message "Finished executing command"']),
    ("arm_cse_user_failure_terraform.txt",
     ["extension 'vmx-sand-dev-jumpwin1-CustomScriptExtension' (Microsoft.Compute.CustomScriptExtension)",
      "its error code '3'", "its own message \"Command execution finished, but failed because it returned a "
      "non-zero exit code of: '1'. Command execution may have been interrupted by a VM restart\""]),
    ("arm_handler_nontransient_terraform.txt",
     ["extension 'saet-ausc-01-ns-vm' (Microsoft.Azure.Extensions.CustomScript)", "its error code '1007'",
      "not a valid application for this OS platform"]),
    ("arm_extension_timeout_json.txt", ["extension 'InstallLinuxSrvTierAddons.sh'", '"Plugin enabled"']),
    ("arm_extension_timeout_portal.txt", ["extension 'Add-ADUsers'"]),
])
def test_arm_extension_errors_surface_the_inner_error(tmp_path: Path, name: str, says: list[str]) -> None:
    code = EXPECTED[name][0]
    f = kit.diagnose(kit.open_bundle(loose(tmp_path, name)))
    summary = f.loc[f["code"] == code, "summary"].iloc[0]
    for s in says:
        assert s in summary, summary
    assert "EXTENSION_FAILED" not in set(f["code"])  # the extension's status text inside the ARM error is one fact


def test_arm_details_read_only_what_the_line_says() -> None:
    from kit.diagnose.paste import arm_details

    assert arm_details("VMExtensionProvisioningError") == {}
    assert arm_details("VM has reported a failure when processing extension 'cse0'") == {"extension": "cse0"}


def test_client_timeout_against_the_budget_table() -> None:
    """The same Terraform deadline is a warning for a 90-minute extension, info for a 20-minute one, info when the
    type is not named (cannot tell), and no finding when it is not about a VM extension."""
    from kit.diagnose.paste import client_gave_up

    text = (PASTES / "terraform_cse_client_timeout.txt").read_text(encoding="utf-8")
    sev, why = client_gave_up(text)
    assert sev == "warning" and "about 30 min" in why and "90 min" in why
    sev, why = client_gave_up(text.replace('"CustomScriptExtension"', '"BGInfo"'))
    assert sev == "info" and "20 min" in why and "did not give up early" in why
    sev, why = client_gave_up(text.replace('"CustomScriptExtension"', '"DSC"').replace("Microsoft.Compute",
                                                                                      "Microsoft.Powershell"))
    assert sev == "warning"
    with_timeout = text.replace("SETTINGS\n}", 'SETTINGS\n  timeouts {\n    create = "2h"\n  }\n}')
    sev, why = client_gave_up(with_timeout)
    assert sev == "info" and "2h" in why  # the tool waited 120 min: longer than the budget
    no_type = "\n".join(ln for ln in text.splitlines() if "type " not in ln)
    sev, why = client_gave_up(no_type)
    assert sev == "info" and "Cannot tell" in why and "type is not named" in why
    assert client_gave_up("Error: context deadline exceeded\n")[0] is None


def test_client_timeout_not_about_an_extension_gives_nothing(tmp_path: Path) -> None:
    root = tmp_path / "t"
    root.mkdir()
    (root / "tf.txt").write_text('│ Error: creating Linux Virtual Machine (Resource Group Name: "rg"): polling after '
                                 "CreateOrUpdate: context deadline exceeded\n", encoding="utf-8")
    f = kit.diagnose(kit.open_bundle(root))
    assert "DEPLOYMENT_CLIENT_GAVE_UP" not in set(f["code"])


def test_client_timeout_paste_next_to_the_healthy_sample_is_only_a_warning(tmp_path: Path) -> None:
    root = copy_sample("healthy", tmp_path)
    shutil.copyfile(PASTES / "terraform_cse_client_timeout.txt", root / "apply.txt")
    f = kit.diagnose(kit.open_bundle(root))
    assert set(f.loc[f["severity"] >= "warning", "code"]) == {"DEPLOYMENT_CLIENT_GAVE_UP"}
    assert set(f.loc[f["severity"] >= "error", "code"]) == set()


def test_same_arm_error_in_another_shape_gives_the_same_finding(tmp_path: Path) -> None:
    """Same data, other shape: the error JSON of arm_cse_failed_az.txt, as az CLI prints it compact on one line and
    as Azure PowerShell's `Code=...; Message=...` form, gives the same code and the same inner error."""
    import json

    doc = json.loads((PASTES / "arm_cse_failed_az.txt").read_text(encoding="utf-8"))
    detail = doc["details"][0]
    shapes = {"compact.txt": json.dumps(doc, separators=(",", ":")) + "\n",
              "ps.txt": f"New-AzResourceGroupDeployment: 5:45:11 PM - Error: Code={detail['code']}; "
                        f"Message={detail['message']}\n"}
    summaries = []
    for name, text in shapes.items():
        root = tmp_path / name.split(".")[0]
        root.mkdir()
        (root / name).write_text(text, encoding="utf-8")
        f = kit.diagnose(kit.open_bundle(root))
        assert set(f.loc[f["severity"] >= "warning", "code"]) == {"DEPLOYMENT_EXTENSION_FAILED"}
        summaries.append(f.loc[f["code"] == "DEPLOYMENT_EXTENSION_FAILED", "summary"].iloc[0])
    for s in summaries:
        assert "extension 'CustomScriptExtension1', its own message \"Finished executing command\"" in s, s


def test_inner_error_read_from_json_nested_in_a_json_string() -> None:
    """Same data, other shape: the ARM error of arm_cse_failed_az.txt one level deeper (a JSON document inside a JSON
    string, as ARM nests an operation's error in a wrapper's message) gives the same extension and inner message."""
    import json

    from kit.diagnose.paste import arm_details

    doc = json.loads((PASTES / "arm_cse_failed_az.txt").read_text(encoding="utf-8"))
    once = json.dumps(doc, separators=(",", ":"))
    twice = json.dumps({"code": "Conflict", "message": once})
    for text in (once, twice):
        assert arm_details(text) == {"extension": "CustomScriptExtension1",
                                     "inner_message": "Finished executing command"}, text
    path = 'Error message: "Failed to run C:\\\\Packages\\\\nssm.exe".'
    assert arm_details("VM has reported a failure when processing extension 'x'. " + path)["inner_message"] == (
        "Failed to run C:\\\\Packages\\\\nssm.exe")


def test_authorization_failure_lines_hit_the_rejected_code() -> None:
    df = _frame((PASTES / "arm_authorization_failed_sdk.txt").read_text(encoding="utf-8"))
    hit = df[df["codes"].notna()]
    assert set(hit["line"]) == {4, 8, 9} and set(hit["codes"]) == {"DEPLOYMENT_REQUEST_REJECTED"}


def test_authorization_failure_paste_is_read_as_a_paste(tmp_path: Path) -> None:
    """netsh_firewall's sniffer once took the SDK's 'ERROR CODE: AuthorizationFailed' above a rule of dashes for a
    localized netsh rule block; it now wants the next label's value in the same column."""
    f = kit.diagnose(kit.open_bundle(loose(tmp_path, "arm_authorization_failed_sdk.txt")))
    assert "DEPLOYMENT_REQUEST_REJECTED" in set(f["code"])


def test_pipeline_job_limit_against_the_budget_table() -> None:
    """An Azure Pipelines job cut off at its limit (the line verbatim from Azure/ResourceModules#879, with 60 minutes as
    on a hosted agent, Azure/mlops-v2#78) while it ran `az vm extension set` (the command form of Learn's Custom
    Script Extension article): the limit is read from the line and set against the extension's budget."""
    from kit.diagnose.paste import client_gave_up
    from kit.parse.paste import hits

    cmd = ("az vm extension set --resource-group myResourceGroup --vm-name myVM --name CustomScriptExtension "
           "--publisher Microsoft.Compute --settings ./script-config.json\n")
    cut = "##[error]The job running on agent Azure Pipelines 2 ran longer than the maximum time of {} minutes.\n"
    assert "DEPLOYMENT_CLIENT_GAVE_UP" in {s.code for s in hits(cut.format(60))}
    sev, why = client_gave_up(cmd + cut.format(60))
    assert sev == "warning" and "limit of 60 minutes" in why and "90 min" in why
    sev, why = client_gave_up(cmd + cut.format(120))
    assert sev == "info" and "did not give up early" in why
    sev, _ = client_gave_up(cmd.replace("CustomScriptExtension", "BGInfo") + cut.format(60))
    assert sev == "info"
    sev, _ = client_gave_up("Set-AzVMCustomScriptExtension -ResourceGroupName rg -VMName vm -Name cse\n"
                            + cut.format(60))
    assert sev == "warning"
    assert client_gave_up("npm test\n" + cut.format(60))[0] is None  # a job about something else: no finding


def test_deployment_error_names_the_guest_side_the_vm_files_show(tmp_path: Path) -> None:
    """The pasted VMAgentStatusCommunicationError next to a bundle whose agent service is stopped: the deployment
    finding points at the VM's own AGENT_NOT_RUNNING; next to the healthy sample it names none."""
    from tests.test_diagnose_scenarios import FAULTS, Vm

    vm = Vm(copy_sample("healthy", tmp_path / "a"))
    FAULTS["AGENT_NOT_RUNNING"](vm)
    vm.write("ticket/new-azvm.txt", (PASTES / "arm_agent_status_ps.txt").read_text(encoding="utf-8"))
    vm.seal()
    f = kit.diagnose(kit.open_bundle(vm.root))
    summary = f.loc[f["code"] == "DEPLOYMENT_AGENT_STATUS_NOT_REPORTED", "summary"].iloc[0]
    assert "The VM's own files show the guest side: AGENT_NOT_RUNNING (see that finding)" in summary
    root = copy_sample("healthy", tmp_path / "b")
    shutil.copyfile(PASTES / "arm_agent_status_ps.txt", root / "new-azvm.txt")
    f = kit.diagnose(kit.open_bundle(root))
    assert "guest side" not in f.loc[f["code"] == "DEPLOYMENT_AGENT_STATUS_NOT_REPORTED", "summary"].iloc[0]
