"""Issue 6 in depth: extension lifecycle, the Key Vault extension, managed identity and IMDS rules, attested data
and Azure Stack HCI - each variant the rules distinguish, and what they must leave alone.

Every scenario is the healthy sample with one change (tests/test_diagnose_scenarios.py's ``Vm``); the HCI ones are
small bundles of their own (an HCI VM has no Azure agent, WireServer or Azure IMDS).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

import kit
from kit.derive.history import extension_history
from kit.derive.keyvault import keyvault_certificates, keyvault_url_problem
from kit.diagnose.keyvault import cause_of
from tests import attest_helpers as ah
from tests import scenario_helpers as sh
from tests.conftest import copy_sample, make_bundle
from tests.test_diagnose_scenarios import CSE_LOG, LOG, T0, Vm, findings_for, t

UTC = dt.UTC
IMDS_TAGS = "http://169.254.169.254/metadata/instance/compute/tags?api-version=2021-02-01&format=text"
IMDS_TOKEN = ("http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource="
              "https%3A%2F%2Fvault.azure.net")


def codes(f: pd.DataFrame, min_severity: str = "warning") -> set[str]:
    return set(f[f["severity"] >= min_severity]["code"])


def row(f: pd.DataFrame, code: str) -> pd.Series:
    assert code in set(f["code"]), f[["severity", "code", "summary"]]
    return f[f["code"] == code].iloc[0]


# ------------------------------------------------------------------------------------------- extension lifecycle
def test_generic_finished_message_is_a_failure_and_stderr_is_shown(tmp_path: Path) -> None:
    # the VM extensions article's "View extension status" example: ProvisioningState/failed/-196608 with the message
    # "Finished executing command", StdOut/StdErr substatuses "succeeded", the error in StdErr
    stderr = ("The argument 'cseTest%20Scriptparam1.ps1' to the -File parameter does not exist. Provide the path to an "
              "existing '.ps1' file as an argument to the\n\n-File parameter.")
    f = findings_for(tmp_path, lambda vm: sh.cse_substatus(
        vm, stdout="Windows PowerShell \nCopyright (C) Microsoft Corporation. All rights reserved.\n", stderr=stderr,
        status="error", code=-196608, message="Finished executing command"))
    r = row(f, "EXTENSION_FAILED")
    assert "ProvisioningState/failed/-196608" in r["summary"]
    assert "only says the command ran" in r["summary"] and "cseTest%20Scriptparam1.ps1" in r["summary"]
    assert codes(f) == {"EXTENSION_FAILED"}


@pytest.mark.parametrize(("code", "message", "expected"), [
    (51, "Unsupported OS", "EXTENSION_OS_UNSUPPORTED"),
    # Linux-style handlers put it in the message (formats doc Appendix A)
    (1, "[ExtensionOperationError] Non-zero exit code: 51, /var/lib/waagent/x/handler.sh install",
     "EXTENSION_OS_UNSUPPORTED"),
    # formats doc §6.1 (LinuxAsm): the message names the unsupported OS
    (1, "Enable ASM failed: OS is not supported. Error: Failed to locate a release file.", "EXTENSION_OS_UNSUPPORTED"),
    # near misses: other codes that contain 51, and a plain failure
    (510, "Install failed", "EXTENSION_FAILED"),
    (1, "Non-zero exit code: 151", "EXTENSION_FAILED"),
])
def test_os_unsupported_is_code_51_only(tmp_path: Path, code: int, message: str, expected: str) -> None:
    f = findings_for(tmp_path, lambda vm: sh.add_extension(
        vm, "Microsoft.Azure.ActiveDirectory.AADLoginForWindows", "2.1.0.0", {},
        status=sh.status_doc(T0, "error", message, code=code, operation="Install")))
    assert codes(f) == {expected}


def test_failed_extension_that_blocks_nothing_is_just_failed(tmp_path: Path) -> None:
    def fault(vm: Vm) -> None:
        sh.cse_substatus(vm, status="error", code=1, message="Command execution finished, but failed because it "
                         "returned a non-zero exit code of: '1'")
        # the other extension started (it has a status): not blocked
        sh.add_extension(vm, "Microsoft.Azure.Monitor.AzureMonitorWindowsAgent", "1.22.0.0", {},
                         status=sh.status_doc(T0, "success", "Enable succeeded"))

    assert codes(findings_for(tmp_path, fault)) == {"EXTENSION_FAILED"}


def test_extension_looked_up_before_the_failure_is_not_blocked_by_it(tmp_path: Path) -> None:
    def fault(vm: Vm) -> None:
        sh.cse_substatus(vm, status="error", code=1, message="failed")
        sh.add_extension(vm, "Microsoft.Azure.Monitor.AzureMonitorWindowsAgent", "1.22.0.0", {})
        vm.replace(LOG, "[00000020] 2024-03-08T04:15:51.312Z", "[00000018] 2024-03-08T04:15:51.000Z [INFO]  Getting "
                   "plugin locations for plugin 'Microsoft.Azure.Monitor.AzureMonitorWindowsAgent'. Current Version: "
                   "'1.21', Requested Version: '1.22'\r\n[00000020] 2024-03-08T04:15:51.312Z", 1)

    f = findings_for(tmp_path, fault)
    assert "EXTENSION_BLOCKED_BY_FAILED_EXTENSION" not in codes(f) and "EXTENSION_FAILED" in codes(f)


def test_certificate_error_says_which_protected_settings_cannot_be_decrypted(tmp_path: Path) -> None:
    f = findings_for(tmp_path, lambda vm: vm.agent(
        # formats doc §1.1, the PFXImportCertStore scenario, verbatim
        f"[00000003] {t(12)} [WARN]  Could not get transport certificate from agent runtime for subject name: "
        "12345678-dae3-4c2f-be57-55c0ab7a44e5. Installing certificates in the LocalMachine store failed.",
        f"[00000003] {t(12)} [ERROR] Installing certificates in the LocalMachine store failed with exception: "
        "Microsoft.WindowsAzure.GuestAgent.CertificateManager.CryptographyNative+PInvokeException: PInvoke "
        "PFXImportCertStore failed and null handle is returned. Error Code: 86."))
    r = row(f, "AGENT_CERTIFICATE_ERROR")
    assert "Windows Azure CRP Certificate Generator" in r["summary"]
    assert "Microsoft.Compute.BGInfo" in r["summary"] and "Microsoft.Compute.CustomScriptExtension" in r["summary"]
    assert codes(f) == {"AGENT_CERTIFICATE_ERROR"}  # the ERROR record is explained, not an unexplained error


def test_handler_that_cannot_decrypt_its_settings(tmp_path: Path) -> None:
    # formats doc §3.2 (CSS signature): the handler's side of a missing or unusable CRP certificate key
    f = findings_for(tmp_path, lambda vm: vm.write(CSE_LOG, vm.text(CSE_LOG) + "[5124+00000001] [03/08/2024 04:29:03.20]"
                                                   " [ERROR] Failed to decode, decrypt, and deserialize the protected "
                                                   "settings string. Error Message: Keyset does not exist\r\n"))
    r = row(f, "AGENT_CERTIFICATE_ERROR")
    assert "Microsoft.Compute.CustomScriptExtension could not decrypt its protected settings" in r["summary"]


def test_extension_history_from_the_agent_log(tmp_path: Path) -> None:
    def upgrade(vm: Vm) -> None:
        vm.agent(  # formats doc §1.3, verbatim
            f"[00000018] {t(2)} [INFO]  Getting plugin locations for plugin 'Microsoft.Compute.CustomScriptExtension'. "
            "Current Version: '1.8', Requested Version: '1.9'",
            f"[00000018] {t(2)} [INFO]  Auto-Upgrade mode. Highest public version for plugin "
            "'Microsoft.Compute.CustomScriptExtension' with requested version: '1.9', is: '1.9'",
            f"[00000018] {t(3)} [INFO]  Auto-Upgrade mode. Highest public version for plugin 'Microsoft.Compute.BGInfo' "
            "with requested version: '2.2', is: '2.2.5'")

    vm = Vm(copy_sample("healthy", tmp_path))
    upgrade(vm)
    vm.seal()
    h = extension_history(kit.open_bundle(vm.root).agent_log)
    assert kit.derive.history.EXTENSION_HISTORY.check_dtypes(h) == []
    got = h[["extension", "from_version", "to_version", "auto_upgrade", "change"]].astype(object).fillna("nan").astype(str).values.tolist()
    assert got == [["Microsoft.Compute.BGInfo", "2.2.5", "2.2.5", "True", "none"],
                   ["Microsoft.Compute.CustomScriptExtension", "1.10.15", "1.10.15", "True", "none"],
                   ["Microsoft.Compute.CustomScriptExtension", "1.8", "1.9", "True", "upgrade"],
                   ["Microsoft.Compute.BGInfo", "nan", "2.2.5", "True", "unknown"]]
    assert h["line"].iloc[2] > h["line"].iloc[1] and "\n" in h["text"].iloc[2]


def test_key_vault_service_log_is_not_an_extension_run(tmp_path: Path) -> None:
    # the service logs for hours; the timeout rule and the timeline read only extension operations
    from kit.diagnose.extensions import handler_runs

    def fault(vm: Vm) -> None:
        sh.keyvault(vm, sh.kv_settings(), status=sh.kv_status(T0),
                    log=[*sh.kv_start(T0),
                         *sh.kv_refresh(T0 + dt.timedelta(hours=5), f"https://{sh.VAULT}.vault.azure.net/secrets/web-tls")])

    f = findings_for(tmp_path, fault)
    assert codes(f) == set()
    b = kit.open_bundle(tmp_path / "healthy")
    assert "akvvm" in set(b.handler_log["layout"].astype(str))
    assert set(handler_runs(b.handler_log)["extension"]) == {"Microsoft.Compute.BGInfo",
                                                             "Microsoft.Compute.CustomScriptExtension"}


# ------------------------------------------------------------------------------------------- Key Vault
def test_key_vault_certificates_frame_reads_both_schemas() -> None:
    ext = pd.DataFrame({
        "source": ["C/Packages/Plugins/Microsoft.Azure.KeyVault.KeyVaultForWindows/1.0.1114.10/RuntimeSettings/0.settings",
                   "C/Packages/Plugins/Microsoft.Azure.KeyVault.KeyVaultForWindows/3.1.2195.61/RuntimeSettings/0.settings",
                   "C/Packages/Plugins/Microsoft.Compute.BGInfo/2.2.5/RuntimeSettings/0.settings"],
        "line": [None, None, None],
        "extension": [sh.KV, sh.KV, "Microsoft.Compute.BGInfo"], "ext_version": ["1.0.1114.10", "3.1.2195.61", "2.2.5"],
        "seq": [0, 0, 0],
        "public_settings": [
            # azure-docs#43099: the 1.x schema (global store, URL list) with authenticationSettings
            json.dumps({"secretsManagementSettings": {"pollingIntervalInS": "14400", "certificateStoreName": "MY",
                                                      "linkOnRenewal": True, "certificateStoreLocation": "LocalMachine",
                                                      "requireInitialSync": True,
                                                      "observedCertificates": ["https://kvwebprod01.vault.azure.net/"
                                                                               "secrets/web1",
                                                                               "https://kvwebprod01.vault.azure.net/"
                                                                               "certificates/web2"]},
                        "authenticationSettings": {"msiEndpoint": "http://169.254.169.254/metadata/identity",
                                                   "msiClientId": "c7373ae5-91c2-4165-8ab6-7381d6e75619"}}),
            json.dumps(sh.kv_settings(location="localMachine")), "{}"],
        "public_settings_keys": ["secretsManagementSettings,authenticationSettings", "secretsManagementSettings", ""]})
    kv = keyvault_certificates(ext)
    assert kit.derive.keyvault.KEYVAULT_CERTIFICATES.check_dtypes(kv) == []
    assert kv["schema"].astype(str).tolist() == ["list", "list", "objects"]
    assert kv["url_problem"].isna().tolist() == [True, False, True]
    assert kv["certificate_store_location"].tolist() == ["LocalMachine", "LocalMachine", "localMachine"]
    assert kv["require_initial_sync"].tolist()[:2] == [True, True] and pd.isna(kv["require_initial_sync"].iloc[2])
    assert kv["msi_client_id"].iloc[0] == "c7373ae5-91c2-4165-8ab6-7381d6e75619"


@pytest.mark.parametrize(("url", "problem"), [
    ("https://kvwebprod01.vault.azure.net/secrets/web-tls", None),
    ("https://kvwebprod01.vault.azure.net:443/secrets/web-tls", None),  # the form azure-docs#75214 used
    ("https://kvwebprod01.vault.azure.net/secrets/web-tls/0123456789abcdef0123456789abcdef", None),
    ("https://myvaul.vault.azure.net/secrets/mysecret/", None),  # trailing slash, as the extension logs it
    ("https://kvwebprod01.vault.azure.cn/secrets/web-tls", None),
    ("https://kvwebprod01.vault.usgovcloudapi.net/secrets/web-tls", None),
    ("https://kvwebprod01.vault.azure.net/certificates/web-tls", "without its private key"),
    ("https://kvwebprod01.vault.azure.net/keys/web-tls", "a key, not a certificate"),
    ("http://kvwebprod01.vault.azure.net/secrets/web-tls", "scheme http"),
    ("https://kvwebprod01.managedhsm.azure.net/secrets/web-tls", "is not a Key Vault"),
    ("https://kvwebprod01.vault.azure.net:8443/secrets/web-tls", "port 8443"),
    ("https://kvwebprod01.vault.azure.net/secrets/", "not /secrets/<name>"),
    ("kvwebprod01/web-tls", "scheme missing"),
])
def test_key_vault_url_rule(url: str, problem: str | None) -> None:
    got = keyvault_url_problem(url)
    assert (got is None) if problem is None else (problem in got)


@pytest.mark.parametrize(("auth", "location", "log", "expected"), [
    ({"msiClientId": "5b4a3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"}, "LocalMachine", [], "without msiEndpoint"),
    # azure-docs#109667: a third slash, no host
    ({"msiEndpoint": "http:///169.254.169.254/metadata/identity/oauth2/token", "msiClientId": "x"}, "LocalMachine",
     [], "has no host name"),
    ({"msiEndpoint": "http://10.0.1.20/metadata/identity/oauth2/token"}, "LocalMachine", [], "not IMDS"),
    (None, "localmachine", [], "only in case or spaces"),
    (None, "Machine", [], "neither LocalMachine nor CurrentUser"),
    # IMDS's real answer when several user-assigned identities exist and none is named (Hexadite/acs-keyvault-agent#43)
    (None, "LocalMachine", ['{"error":"invalid_request","error_description":"Multiple user assigned identities exist, '
                            'please specify the clientId / resourceId of the identity in the token request"}'],
     "several user-assigned identities"),
])
def test_key_vault_identity_and_store_settings(tmp_path: Path, auth, location, log, expected) -> None:
    url = f"https://{sh.VAULT}.vault.azure.net/secrets/web-tls"
    lines = [*sh.kv_start(T0), *sh.kv_refresh(T0, url, log[0] if log else None)]
    f = findings_for(tmp_path, lambda vm: sh.keyvault(vm, sh.kv_settings(location=location, auth=auth),
                                                      status=sh.kv_status(T0), log=lines))
    assert expected in row(f, "KEYVAULT_MSI_SETTINGS_INVALID")["summary"]


def test_key_vault_wrong_value_type(tmp_path: Path) -> None:
    # azure-docs#75214: "Failed to parse the configuration settings with: 'not a string''"
    def fault(vm: Vm) -> None:
        s = sh.kv_settings()
        s["secretsManagementSettings"]["pollingIntervalInS"] = 3600
        sh.keyvault(vm, s, status=sh.kv_status(T0, "error", "Failed to parse the configuration settings with: "
                                                "'not a string'", "Service start - Settings Load."))

    r = row(findings_for(tmp_path, fault), "KEYVAULT_SETTINGS_MALFORMED")
    assert "wrong type" in r["summary"]


@pytest.mark.parametrize(("error", "cause"), [
    (sh.KV_403, "access"),
    ('{"error":"invalid_request","error_description":"Identity not found"}', "identity"),
    ("The remote name could not be resolved: 'kv-web-prod-weu.vault.azure.net'", "network"),
    ("URI must contain a hostname.", "settings"),
    ("Something else went wrong", "other"),
])
def test_key_vault_download_failure_causes(tmp_path: Path, error: str, cause: str) -> None:
    assert cause_of(error) == cause
    url = f"https://{sh.VAULT}.vault.azure.net/secrets/web-tls"
    f = findings_for(tmp_path, lambda vm: sh.keyvault(vm, sh.kv_settings(), status=sh.kv_status(T0),
                                                      log=[*sh.kv_start(T0), *sh.kv_refresh(T0, url, error)]))
    r = row(f, "KEYVAULT_CERT_DOWNLOAD_FAILED")
    assert r["evidence"][0]["source"] == sh.KV_LOG and url in r["summary"]


def test_initial_sync_with_a_user_assigned_identity_names_no_deadlock(tmp_path: Path) -> None:
    url = f"https://{sh.VAULT}.vault.azure.net/secrets/web-tls"

    def fault(vm: Vm) -> None:
        sh.keyvault(vm, sh.kv_settings(initial_sync=True, auth={
            "msiEndpoint": "http://169.254.169.254/metadata/identity/oauth2/token",
            "msiClientId": "5b4a3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"}),
            status=sh.kv_status(T0, "transitioning", "Installing certificates."),
            log=[*sh.kv_start(T0), *sh.kv_refresh(T0, url, sh.KV_403)])
        sh.add_extension(vm, "Microsoft.Azure.Monitor.AzureMonitorWindowsAgent", "1.22.0.0", {})

    f = findings_for(tmp_path, fault)
    r = row(f, "KEYVAULT_INITIAL_SYNC_BLOCKING")
    assert "deadlock" not in r["summary"] and "Microsoft.Azure.Monitor.AzureMonitorWindowsAgent" in r["summary"]
    # the stuck status and the download failure are its story: not reported again
    assert not {"EXTENSION_STUCK_TRANSITIONING", "KEYVAULT_CERT_DOWNLOAD_FAILED"} & codes(f)


def test_initial_sync_false_stuck_is_the_generic_finding(tmp_path: Path) -> None:
    f = findings_for(tmp_path, lambda vm: sh.keyvault(vm, sh.kv_settings(initial_sync=False),
                                                      status=sh.kv_status(T0, "transitioning", "Installing"),
                                                      log=sh.kv_start(T0)))
    assert codes(f) == {"EXTENSION_STUCK_TRANSITIONING"}


# ------------------------------------------------------------------------------------------- identity
def test_key_vault_pointed_at_the_legacy_endpoint(tmp_path: Path) -> None:
    f = findings_for(tmp_path, lambda vm: sh.keyvault(
        vm, sh.kv_settings(auth={"msiEndpoint": "http://localhost:50342/oauth2/token", "msiClientId": "x"}),
        status=sh.kv_status(T0), log=sh.kv_start(T0)))
    assert codes(f) == {"LEGACY_MSI_EXTENSION"}
    r = row(f, "LEGACY_MSI_EXTENSION")
    assert "msiEndpoint is http://localhost:50342/oauth2/token" in r["summary"] and r["severity"] == "warning"


def test_proxy_intercepting_the_legacy_endpoint_is_an_error(tmp_path: Path) -> None:
    # a client proxy's 502 'cannotconnect' (formats doc §1.4) on a call to the legacy endpoint
    f = findings_for(tmp_path, lambda vm: sh.cse_substatus(
        vm, stderr="Invoke-RestMethod : Response status code does not indicate success: 502 (cannotconnect). "
                   "http://localhost:50342/oauth2/token?resource=https://vault.azure.net\r\n"))
    r = row(f, "LEGACY_MSI_EXTENSION")
    assert r["severity"] == "error" and "a proxy intercepts 127.0.0.1:50342" in r["summary"]


def test_agent_log_names_the_legacy_extension(tmp_path: Path) -> None:
    f = findings_for(tmp_path, lambda vm: vm.agent(
        f"[00000018] {t(2)} [INFO]  Getting plugin locations for plugin "
        "'Microsoft.ManagedIdentity.ManagedIdentityExtensionForWindows'. Current Version: '1.0.0.16', Requested "
        "Version: '1.0.0.16'"))
    assert "ManagedIdentityExtensionForWindows 1.0.0.16" in row(f, "LEGACY_MSI_EXTENSION")["summary"]


@pytest.mark.parametrize(("stderr", "explained"), [
    (sh.ps_error('{"error":"Bad request. Required metadata header not specified"}', IMDS_TAGS), "`Metadata: true`"),
    # formats doc §5.8: the missing api-version body
    (sh.ps_error('{"error": "Bad request. api-version was not specified in the request. For more information refer '
                 'to aka.ms/azureimds", "newest-versions": ["2020-10-01", "2020-09-01", "2020-07-15"]}',
                 "http://169.254.169.254/metadata/instance"), "api-version"),
    (sh.ps_error("The remote server returned an error: (429) Too Many Requests.", IMDS_TOKEN), "20 per second"),
    (sh.ps_error("The remote server returned an error: (410) Gone.", IMDS_TOKEN), "70 seconds"),
    (sh.ps_error("The remote server returned an error: (500) Internal Server Error.", IMDS_TOKEN), "at least one second"),
    # IMDS rejects X-Forwarded-For (IMDS article); what it answers then is not documented: the rule keys on the header
    # name next to an IMDS address
    ("GET http://169.254.169.254/metadata/instance?api-version=2021-02-01 with X-Forwarded-For: 10.0.1.4 -> 400 Bad "
     "Request\r\n", "X-Forwarded-For"),
    # a Zscaler page instead of IMDS's JSON (formats doc §5.8: proxies answering IMDS)
    (sh.ps_error("<html><head><title>Zscaler</title></head><body>504 Gateway Timeout</body></html>", IMDS_TAGS),
     "a proxy answered"),
])
def test_each_imds_rule_is_explained(tmp_path: Path, stderr: str, explained: str) -> None:
    f = findings_for(tmp_path, lambda vm: sh.cse_substatus(vm, stderr=stderr))
    assert codes(f) == {"IMDS_REQUESTS_FAILED"}
    assert explained in row(f, "IMDS_REQUESTS_FAILED")["summary"]


def test_imds_rule_seen_in_a_handler_log(tmp_path: Path) -> None:
    url = f"https://{sh.VAULT}.vault.azure.net/secrets/web-tls"
    f = findings_for(tmp_path, lambda vm: sh.keyvault(vm, sh.kv_settings(), status=sh.kv_status(T0), log=[
        *sh.kv_start(T0), *sh.kv_refresh(T0 + dt.timedelta(hours=5), url, "Token request to "
                                         "http://169.254.169.254/metadata/identity/oauth2/token failed: (429) Too Many "
                                         "Requests")]))
    assert {"IMDS_REQUESTS_FAILED", "KEYVAULT_CERT_DOWNLOAD_FAILED"} <= codes(f)
    assert row(f, "IMDS_REQUESTS_FAILED")["evidence"][0]["artifact"] == "handler_log"


# ------------------------------------------------------------------------------------------- attested data
FETCH = dt.datetime(2024, 3, 8, 10, 14, 50, tzinfo=UTC)
MADE = FETCH - dt.timedelta(seconds=1)


@pytest.mark.parametrize(("change", "problem"), [
    ({}, None),
    ({"nonce_sent": None}, None),  # no nonce sent: nothing to compare
    ({"nonce_signed": "5550001111"}, "is not the nonce sent"),
    ({"lifetime": dt.timedelta(seconds=45), "fetched": FETCH + dt.timedelta(minutes=2)}, "expired"),
    ({"names": ("imds.attacker.example",)}, "is not metadata.azure.com"),
    ({"names": ("eastus.metadata.azure.us",)}, None),  # Azure Government
    ({"tamper": True}, "does not verify"),
    ({"vm_id": "0f6e1d2c-3b4a-4958-a7b6-c5d4e3f2a1b0"}, "is not this VM's"),
])
def test_attested_document_verdicts(tmp_path: Path, change: dict, problem: str | None) -> None:
    args = {"nonce_sent": "7319450281", "nonce_signed": "7319450281", "created": MADE, "fetched": FETCH, **change}
    if "nonce_sent" in change and change["nonce_sent"] is None:
        args["nonce_signed"] = "20240308-101449"  # IMDS's default nonce (a time stamp) when none was sent
    f = findings_for(tmp_path, lambda vm: sh.attested(vm, **args))
    b = kit.open_bundle(tmp_path / "healthy")
    att = b.imds_attestation
    assert len(att) == 1 and att["vm_id"].iloc[0] == args.get("vm_id", sh.HEALTHY_VM_ID)
    if problem is None:
        assert codes(f) == set(), f[["code", "summary"]]
    else:
        assert codes(f) == {"IMDS_ATTESTATION_INVALID"}
        assert problem in row(f, "IMDS_ATTESTATION_INVALID")["summary"]


def test_attested_document_without_probe_time_is_judged_at_collection(tmp_path: Path) -> None:
    def fault(vm: Vm) -> None:
        sh.attested(vm, nonce_sent="1", nonce_signed="1", created=MADE - dt.timedelta(hours=7), fetched=FETCH)
        env = vm.json("probes/imds_attested.json")
        del env["time"]
        vm.write_json("probes/imds_attested.json", env)

    r = row(findings_for(tmp_path, fault), "IMDS_ATTESTATION_INVALID")
    assert "the bundle's collection time" in r["summary"] and "expired" in r["summary"]


# ------------------------------------------------------------------------------------------- Azure Stack HCI
def _hci_files(*, media: str | None = None, route_via_other: bool = False, attested_ok: bool = False) -> dict:
    """An Azure Stack HCI VM with legacy OS support: its LAN NIC and the AZSHCI guest NIC. The HCI article does not
    show the guest side; the NIC is modelled with an APIPA address and its on-link 169.254.0.0/16 route, in the
    formats doc's ipconfig (§5.3) and route print (§5.3) layouts."""
    hci_block = ["", "Ethernet adapter AZSHCI_GUEST-IMDS_DO_NOT_MODIFY:", ""]
    if media:
        hci_block += [f"   Media State . . . . . . . . . . . : {media}",
                      "   Connection-specific DNS Suffix  . :",
                      "   Description . . . . . . . . . . . : Microsoft Hyper-V Network Adapter #2",
                      "   Physical Address. . . . . . . . . : 00-15-5D-0A-1B-07",
                      "   DHCP Enabled. . . . . . . . . . . : Yes",
                      "   Autoconfiguration Enabled . . . . : Yes"]
    else:
        hci_block += ["   Connection-specific DNS Suffix  . :",
                      "   Description . . . . . . . . . . . : Microsoft Hyper-V Network Adapter #2",
                      "   Physical Address. . . . . . . . . : 00-15-5D-0A-1B-07",
                      "   DHCP Enabled. . . . . . . . . . . : Yes",
                      "   Autoconfiguration Enabled . . . . : Yes",
                      "   Autoconfiguration IPv4 Address. . : 169.254.21.140(Preferred)",
                      "   Subnet Mask . . . . . . . . . . . : 255.255.0.0",
                      "   Default Gateway . . . . . . . . . :",
                      "   NetBIOS over Tcpip. . . . . . . . : Enabled"]
    ipconfig = "\r\n".join(["", "Windows IP Configuration", "", "   Host Name . . . . . . . . . . . . : esu-sql-01", "",
                            "Ethernet adapter Ethernet:", "", "   Connection-specific DNS Suffix  . : corp.contoso.com",
                            "   Description . . . . . . . . . . . : Microsoft Hyper-V Network Adapter",
                            "   Physical Address. . . . . . . . . : 00-15-5D-0A-1B-05",
                            "   DHCP Enabled. . . . . . . . . . . : No",
                            "   IPv4 Address. . . . . . . . . . . : 192.168.20.41(Preferred)",
                            "   Subnet Mask . . . . . . . . . . . : 255.255.255.0",
                            "   Default Gateway . . . . . . . . . : 192.168.20.1",
                            *hci_block]) + "\r\n"

    def rp(d, m, g, i, metric):
        return f"{d:>17}{m:>17}{g:>17}{i:>17}{metric:>7}"

    routes = [rp("0.0.0.0", "0.0.0.0", "192.168.20.1", "192.168.20.41", 271),
              rp("192.168.20.0", "255.255.255.0", "On-link", "192.168.20.41", 271)]
    if not media:
        routes.append(rp("169.254.0.0", "255.255.0.0", "On-link", "169.254.21.140", 261))
    if route_via_other:
        routes.append(rp("169.254.169.253", "255.255.255.255", "192.168.20.1", "192.168.20.41", 6))
    route = "\r\n".join(["===========================================================================", "Interface List",
                         "  5...00 15 5d 0a 1b 05 ......Microsoft Hyper-V Network Adapter",
                         "  9...00 15 5d 0a 1b 07 ......Microsoft Hyper-V Network Adapter #2",
                         "  1...........................Software Loopback Interface 1",
                         "===========================================================================", "",
                         "IPv4 Route Table", "===========================================================================",
                         "Active Routes:", "Network Destination        Netmask          Gateway       Interface  Metric",
                         *routes, "===========================================================================",
                         "Persistent Routes:", "  None", ""]) + "\r\n"
    files = {"commands/ipconfig_all.txt": ipconfig, "commands/route_print.txt": route}
    if attested_ok:
        der = ah.sign(ah.document("7319450281", MADE))
        files["probes/imds_attested.json"] = json.dumps(ah.envelope(der, nonce="7319450281", time=FETCH,
                                                                    host="169.254.169.253"))
    else:
        sh.attested_failed(_Files(files))
    return files


class _Files:
    """Just enough of a Vm for the helpers that write JSON."""

    def __init__(self, files: dict) -> None:
        self.files = files

    def write_json(self, rel: str, obj) -> None:
        self.files[rel] = json.dumps(obj)


@pytest.mark.parametrize(("kw", "reason"), [
    ({"media": "Media disconnected"}, "is disconnected or disabled"),
    ({"route_via_other": True}, "follows 169.254.169.253/32 via 192.168.20.1 on 192.168.20.41"),
    ({}, None),  # the NIC and its route are right: the cause is on the host, not this NIC
    ({"attested_ok": True}, None),
])
def test_hci_guest_nic(tmp_path: Path, kw: dict, reason: str | None) -> None:
    b = kit.open_bundle(make_bundle(tmp_path / "hci", _hci_files(**kw), manifest=True,
                                    collected_at="2024-03-08T10:15:04.512Z"))
    assert set(b.adapters["adapter"]) == {"Ethernet", "AZSHCI_GUEST-IMDS_DO_NOT_MODIFY"}
    f = kit.diagnose(b)
    got = f[f["code"] == "HCI_IMDS_NIC_MISSING_OR_MODIFIED"]
    if reason is None:
        assert got.empty, got["summary"].tolist()
    else:
        assert len(got) == 1 and reason in got["summary"].iloc[0]
        assert "IMDS_ATTESTATION_INVALID" not in set(f["code"])


def test_extension_timeline_marks_version_changes() -> None:
    from kit import plots

    b = kit.open_bundle(Path(kit.__file__).parents[1] / "sample_logs" / "keyvault-legacy-msi")
    fig = plots.extension_operations(b)
    ax = fig.axes[0]
    marks = [ln for ln in ax.get_lines() if ln.get_marker() == "^"]
    assert len(marks) == 1  # the Key Vault auto-upgrade 3.0.2161.37 -> 3.1.2195.61
    # on the Key Vault extension's operation row (extension_operations: known from its status files)
    assert any("KeyVaultForWindows" in lbl.get_text() for lbl in ax.get_yticklabels())
    assert any("3.0.2161.37 -> 3.1.2195.61" in a.get_text() for a in ax.texts)
