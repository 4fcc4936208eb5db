"""The healthy sample plus one injected fault per finding code: the code is found, and no other code at error or
above appears. Then the near-misses that must not fire."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

import kit
from kit.catalog import catalog
from tests import scenario_helpers as sh
from tests.conftest import copy_sample

LOG = "C/WindowsAzure/Logs/WaAppAgent.log"
CSE = "Microsoft.Compute.CustomScriptExtension/1.10.15"
CSE_LOG = f"C/WindowsAzure/Logs/Plugins/{CSE}/CustomScriptHandler.log"
CSE_STATUS = f"C/Packages/Plugins/{CSE}/Status/0.status"
AGG = "C/WindowsAzure/Logs/AggregateStatus/aggregatestatus.json"


class Vm:
    """A copy of the healthy sample to break, with helpers that keep the manifest's hashes right."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def text(self, rel: str) -> str:
        return (self.root / rel).read_bytes().decode("utf-8")

    def write(self, rel: str, text: str) -> None:
        (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
        (self.root / rel).write_bytes(text.encode("utf-8"))

    def json(self, rel: str):
        return json.loads(self.text(rel))

    def write_json(self, rel: str, obj) -> None:
        self.write(rel, json.dumps(obj, indent=4).replace("\n", "\r\n") + "\r\n")

    def agent(self, *lines: str) -> None:
        self.write(LOG, self.text(LOG) + "".join(line + "\r\n" for line in lines))

    def replace(self, rel: str, old: str, new: str, count: int = -1) -> None:
        t = self.text(rel)
        assert old in t, f"{old!r} not in {rel}"
        self.write(rel, t.replace(old, new, count))

    def probe(self, port: int, target: str = "168.63.129.16", error: str = "A connection attempt failed because the "
              "connected party did not properly respond after a period of time") -> None:
        items = self.json("probes/tcp.json")
        for it in items:
            if it["target"] == target and it["port"] == port:
                it.update(ok=False, error=f"{error} {target}:{port}")
        self.write_json("probes/tcp.json", items)

    def seal(self) -> None:
        """Update the manifest: sizes and hashes of listed files, and new files listed as collected."""
        m = json.loads((self.root / "manifest.json").read_text())
        listed = {a["path"] for a in m["artifacts"]}
        for p in sorted(self.root.rglob("*")):
            rel = p.relative_to(self.root).as_posix()
            if p.is_file() and rel not in listed and rel not in ("manifest.json", "README.md", "scenario.json"):
                m["artifacts"].append({"path": rel, "origin": rel, "status": "collected", "note": None})
        for a in m["artifacts"]:
            data = (self.root / a["path"]).read_bytes()
            a.update(size=len(data), original_size=len(data), sha256=hashlib.sha256(data).hexdigest())
        (self.root / "manifest.json").write_text(json.dumps(m))


def _paste(name: str) -> str:
    return (Path(__file__).parent / "shapes" / "pastes" / name).read_bytes().decode("utf-8")


def t(minute: int, second: int = 0) -> str:
    return f"2024-03-08T10:{minute:02d}:{second:02d}.120Z"


def rp_row(dest: str, mask: str, gw: str, iface: str, metric: int) -> str:
    return f"{dest:>17}{mask:>17}{gw:>17}{iface:>17}{metric:>7}"


ROUTE = "commands/route_print.txt"
IMDS_HOST = rp_row("169.254.169.254", "255.255.255.255", "10.0.1.1", "10.0.1.4", 11)
WS_HOST = rp_row("168.63.129.16", "255.255.255.255", "10.0.1.1", "10.0.1.4", 11)
DEFAULT = rp_row("0.0.0.0", "0.0.0.0", "10.0.1.1", "10.0.1.4", 11)


def _imds_down(vm: Vm) -> None:
    for rel in ("probes/imds_instance.json", "probes/imds_versions.json"):
        env = vm.json(rel)
        env.update(status=None, body="", headers={}, error="Unable to connect to the remote server")
        vm.write_json(rel, env)
    vm.probe(80, "169.254.169.254")


def _imds_400(vm: Vm) -> None:
    env = vm.json("probes/imds_instance.json")
    env.update(status=400, body='{"error":"Bad request. Required metadata header not specified"}')
    vm.write_json("probes/imds_instance.json", env)


def _status(vm: Vm, **change) -> None:
    doc = vm.json(CSE_STATUS)
    doc[0]["status"].update(change)
    if "timestampUTC" in change:
        doc[0]["timestampUTC"] = change.pop("timestampUTC")
    vm.write_json(CSE_STATUS, doc)


def _cse_never_finished(vm: Vm) -> None:
    """The CSE script never finished: no finish record in its log, and its status file and the agent's aggregate
    status still say transitioning (a success in any of them closes the run: kit.derive.operations)."""
    vm.write(CSE_LOG, "".join(line + "\r\n" for line in vm.text(CSE_LOG).splitlines()
                              if "Command execution finished" not in line))
    _status(vm, status="transitioning", timestampUTC="2024-03-08T04:29:10.1100000Z")
    agg = vm.text(AGG)
    at = agg.index('"status": "success"', agg.index('"handlerName": "Microsoft.Compute.CustomScriptExtension"'))
    vm.write(AGG, agg[:at] + '"status": "transitioning"' + agg[at + len('"status": "success"'):])


def _multi_ip(vm: Vm, skip: bool = False) -> None:
    ips = vm.json("commands/get_netipaddress.json")
    ips.insert(0, {**ips[0], "IPAddress": "10.0.1.5", "SkipAsSource": skip})
    vm.write_json("commands/get_netipaddress.json", ips)


T0 = dt.datetime(2024, 3, 8, 4, 20, 11, tzinfo=dt.UTC)  # the Key Vault service starts on the healthy VM
KV_URL = f"https://{sh.VAULT}.vault.azure.net/secrets/web-tls"


def _os_unsupported(vm: Vm) -> None:
    # error code 51 as the status code; "Unsupported OS" is the VM extensions article's own name for it
    sh.add_extension(vm, "Microsoft.Azure.ActiveDirectory.AADLoginForWindows", "2.1.0.0", {},
                     status=sh.status_doc(T0, "error", "Unsupported OS", code=51, operation="Install"))


def _blocked(vm: Vm) -> None:
    _status(vm, status="error", code=1, formattedMessage={
        "lang": "en-US", "message": "Command execution finished, but failed because it returned a non-zero exit code "
                                    "of: '1'"})
    # a new extension reached the VM (its runtime settings are there) but never started: no handler log, no status
    sh.add_extension(vm, "Microsoft.Azure.Monitor.AzureMonitorWindowsAgent", "1.22.0.0", {})


def _kv_malformed(vm: Vm) -> None:
    # azure-docs#49224: the RuntimeSettings and the status of a KV extension deployed with a string from PowerShell
    text = ('{"secretsManagementSettings":{ "pollingIntervalInS": "3600", "certificateStoreName": "MY", '
            f'"certificateStoreLocation": "LocalMachine", "observedCertificates": ["{KV_URL}"] }} }}')
    sh.keyvault(vm, text, status=[{"status": {"code": 0, "formattedMessage": {
        "lang": "en", "message": "Failed to parse the configuration settings with: 'not an object'"},
        "operation": "Service start - Settings Load.", "status": "error"}, "timestampUTC": "2024-03-08T04:20:12Z",
        "version": "1.0"}],
        # the key vault article's quote: "[CertificateManagementConfiguration] Failed to parse the configuration
        # settings with:not an object."
        log=[*sh.kv_start(T0)[:2], sh.kv_line(T0, "error", "CertificateManagementConfiguration",
                                              "Failed to parse the configuration settings with:not an object.")])


def _kv_bad_url(vm: Vm) -> None:
    url = f"https://{sh.VAULT}.vault.azure.net/certificates/web-tls"
    sh.keyvault(vm, sh.kv_settings([url]), status=sh.kv_status(T0), log=[*sh.kv_start(T0), *sh.kv_refresh(T0, url)])


def _kv_msi(vm: Vm) -> None:
    sh.keyvault(vm, sh.kv_settings(auth={"msiClientId": "5b4a3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"}),
                status=sh.kv_status(T0), log=[*sh.kv_start(T0), *sh.kv_refresh(T0, KV_URL)])


def _kv_initial_sync(vm: Vm) -> None:
    log = sh.kv_start(T0)
    for i in range(4):
        log += sh.kv_refresh(T0 + dt.timedelta(minutes=2 ** i), KV_URL, sh.KV_403)
    sh.keyvault(vm, sh.kv_settings(initial_sync=True),
                status=sh.kv_status(T0, "transitioning", "Installing certificates.", "Service start."), log=log)


def _kv_download(vm: Vm) -> None:
    sh.keyvault(vm, sh.kv_settings(), status=sh.kv_status(T0),
                log=[*sh.kv_start(T0), *sh.kv_refresh(T0 + dt.timedelta(hours=5, minutes=40), KV_URL, sh.KV_403)])


def _legacy_msi(vm: Vm) -> None:
    # settings from the managed identity articles ({"port": 50342}); the extension's version folder and status
    # wording are not documented anywhere we found
    sh.add_extension(vm, "Microsoft.ManagedIdentity.ManagedIdentityExtensionForWindows", "1.0.0.16", {"port": 50342},
                     status=sh.status_doc(T0, "success", "Enable succeeded"))


def _imds_header(vm: Vm) -> None:
    url = "http://169.254.169.254/metadata/instance/compute/tags?api-version=2021-02-01&format=text"
    sh.cse_substatus(vm, stdout="Tagging.\r\n",
                     stderr=sh.ps_error('{"error":"Bad request. Required metadata header not specified"}', url))


def _attestation_bad(vm: Vm) -> None:
    sh.attested(vm, nonce_sent="7319450281", nonce_signed="1102938475", created=dt.datetime(2024, 3, 8, 10, 14, 49,
                tzinfo=dt.UTC), fetched=dt.datetime(2024, 3, 8, 10, 14, 50, tzinfo=dt.UTC))


EVENTS = Path(__file__).parent / "shapes" / "events"


def _events(vm: Vm, fixture: str, dest: str = "commands/events.xml", keep: str | None = None) -> None:
    """Add an event export; with ``keep``, only the Event Viewer text blocks that mention it."""
    text = (EVENTS / fixture).read_bytes().decode("utf-8")
    if keep is not None:
        blocks = ["Log Name:" + b for b in text.split("Log Name:")[1:]]
        text = "".join(b for b in blocks if keep in b)
    vm.write(dest, text)


FAULTS: dict[str, Callable[[Vm], None]] = {
    "EXTENSION_OS_UNSUPPORTED": _os_unsupported,
    "EXTENSION_BLOCKED_BY_FAILED_EXTENSION": _blocked,
    "KEYVAULT_SETTINGS_MALFORMED": _kv_malformed,
    "KEYVAULT_CERT_URL_INVALID": _kv_bad_url,
    "KEYVAULT_MSI_SETTINGS_INVALID": _kv_msi,
    "KEYVAULT_INITIAL_SYNC_BLOCKING": _kv_initial_sync,
    "KEYVAULT_CERT_DOWNLOAD_FAILED": _kv_download,
    "LEGACY_MSI_EXTENSION": _legacy_msi,
    "IMDS_REQUESTS_FAILED": _imds_header,
    "IMDS_ATTESTATION_INVALID": _attestation_bad,
    "HCI_IMDS_NIC_MISSING_OR_MODIFIED": sh.attested_failed,
    "WIRESERVER_UNREACHABLE": lambda vm: vm.probe(80),
    "HOSTGAPLUGIN_UNREACHABLE": lambda vm: vm.probe(32526),
    "GUEST_FIREWALL_BLOCKS_WIRESERVER": lambda vm: vm.write_json("commands/firewall_rules.json", [
        {"Name": "{1}", "DisplayName": "Block all HTTP", "Enabled": True, "Direction": "Outbound", "Action": "Block",
         "Protocol": "TCP", "RemoteAddress": ["Any"], "RemotePort": ["80"], "Program": "Any"}]),
    "PROXY_INTERCEPTS_AGENT_TRAFFIC": lambda vm: (
        vm.write("commands/netsh_winhttp_proxy.txt", "\r\nCurrent WinHTTP proxy settings:\r\n\r\n    Proxy Server(s) :"
                 "  http://10.20.0.5:8080\r\n    Bypass List     :  <local>\r\n"),
        vm.agent(f"[00000006] {t(15)} [ERROR] GetVersions() failed with exception: System.Net.Http."
                 "HttpRequestException: Response status code does not indicate success: 502 (cannotconnect).")),
    "IMDS_UNREACHABLE": _imds_down,
    "IMDS_ERROR": _imds_400,
    "WIRESERVER_SERVICE_ERROR": lambda vm: vm.agent(
        f"[00000006] {t(15)} [ERROR] GetVersions() failed with exception: Microsoft.ServiceModel.Web."
        "WebProtocolException: Server Error: Service Unavailable (ServiceUnavailable) --->",
        "System.Net.WebException: The remote server returned an error: (503) Server Unavailable."),
    "FABRIC_ADDRESS_NOT_DISCOVERED": lambda vm: vm.agent(
        f"[00000006] {t(15)} [INFO]  Attempting to discover fabric address on interface Npcap Loopback Adapter",
        f"[00000024] {t(15)} [WARN]  Empty DHCP option data returned",
        f"[00000006] {t(15)} [ERROR] Did not discover fabric address on interface Npcap Loopback Adapter"),
    "IMDS_ROUTE_WRONG_INTERFACE": lambda vm: vm.replace(
        ROUTE, IMDS_HOST, rp_row("169.254.169.254", "255.255.255.255", "10.0.9.1", "10.0.9.4", 11)),
    "WIRESERVER_ROUTE_WRONG_INTERFACE": lambda vm: vm.replace(
        ROUTE, WS_HOST, rp_row("168.63.129.16", "255.255.255.255", "10.0.9.1", "10.0.9.4", 11)),
    "IMDS_ROUTE_CAPTURED_BY_LINK_LOCAL": lambda vm: vm.replace(
        ROUTE, IMDS_HOST, rp_row("169.254.0.0", "255.255.0.0", "On-link", "169.254.1.23", 261)),
    "NO_ROUTE_TO_PLATFORM": lambda vm: (vm.replace(ROUTE, DEFAULT + "\r\n", ""), vm.replace(ROUTE, WS_HOST + "\r\n", ""),
                                        vm.replace(ROUTE, IMDS_HOST + "\r\n", "")),
    "PERSISTENT_ROUTE_OVERRIDE": lambda vm: (
        vm.replace(ROUTE, WS_HOST + "\r\n", ""), vm.replace(ROUTE, IMDS_HOST + "\r\n", ""),
        vm.replace(ROUTE, "Persistent Routes:\r\n  None", "Persistent Routes:\r\n  Network Address          Netmask  "
                   "Gateway Address  Metric\r\n          0.0.0.0          0.0.0.0         10.0.1.1  Default", 1)),
    "MULTI_IP_PRIMARY_MISMATCH": _multi_ip,
    "EXTENSION_TIMEOUT": lambda vm: _cse_never_finished(vm),
    "EXTENSION_FAILED": lambda vm: _status(vm, status="error", code=1, formattedMessage={
        "lang": "en-US", "message": "Command execution finished, but failed because it returned a non-zero exit code "
                                    "of: '1'"}),
    "EXTENSION_STUCK_TRANSITIONING": lambda vm: _status(vm, status="transitioning",
                                                        timestampUTC="2024-03-08T06:00:00.0000000Z"),
    "EXTENSION_DOWNLOAD_FAILED": lambda vm: vm.write(CSE_LOG, vm.text(CSE_LOG) + "[5200+00000001] [03/08/2024 "
                                                     "10:05:00.00] [FATAL] Failed to download all specified files. "
                                                     "Exiting. Exception: Microsoft.WindowsAzure.Storage.StorageException"
                                                     ": The remote server returned an error: (403) Forbidden.\r\n"),
    "AGENT_NOT_RUNNING": lambda vm: vm.replace("commands/services.json", '"Status": "Running"', '"Status": "Stopped"',
                                               1),
    "AGENT_VERSION_UNSUPPORTED": lambda vm: vm.replace(LOG, "Version 2.7.41491.1102", "Version 2.7.41491.949"),
    "AGENT_CRASH_LOOP": lambda vm: vm.agent(*(f"[00000006] {t(m)} [INFO]  WindowsAzureGuestAgent starting. Version "
                                              "2.7.41491.1102" for m in (1, 4, 7))),
    "AGENT_STOPPING_STUCK": lambda vm: vm.agent(
        f"[00000007] {t(14, 40)} [WARN]  WindowsAzureGuestAgent stopping.",
        f"[00000004] {t(14, 41)} [WARN]  WindowsAzureGuestAgent could not be stopped. Exception: System."
        "NullReferenceException: Object reference not set to an instance of an object.",
        "   at Microsoft.WindowsAzure.GuestAgent.AgentCore.AgentService.DoStopService()"),
    "AGENT_CERTIFICATE_ERROR": lambda vm: vm.agent(
        f"[00000004] {t(12)} [ERROR] RdCrypt Initialization failed. Error Code: -2147023143.",
        f"[00000004] {t(12)} [ERROR] Failed to get TransportCertificate. Error: System.AccessViolationException"),
    "AGENT_BAD_IMAGE_FORMAT": lambda vm: vm.agent(
        f"[00000010] {t(13)} [ERROR] InstallPlugins() failed with exception: System.AggregateException: One or more "
        "errors occurred. ---> System.BadImageFormatException: An attempt was made to load a program with an "
        "incorrect format. (Exception from HRESULT: 0x8007000B)"),
    # Windows event logs (tests/shapes/events/SOURCES.md names each fixture's real source)
    "AGENT_SERVICE_TERMINATED": lambda vm: _events(vm, "agent-crash-loop.wevtutil.xml"),
    "AGENT_SERVICE_START_FAILED": lambda vm: _events(vm, "agent-start-failed.wevtutil.xml"),
    "AGENT_PROCESS_CRASHED": lambda vm: _events(vm, "agent-crash.eventviewer.txt", "commands/events.txt",
                                                keep=".NET Runtime"),
    "APP_CONTROL_BLOCKS_AGENT": lambda vm: _events(vm, "applocker-blocks-cse.wevtutil.xml"),
    # deployment errors reach the kit as pasted text next to the VM's files (tests/shapes/pastes/SOURCES.md)
    "DEPLOYMENT_AGENT_STATUS_NOT_REPORTED": lambda vm: vm.write("ticket/new-azvm.txt", _paste("arm_agent_status_ps.txt")),
    "DEPLOYMENT_OS_PROVISIONING_TIMEOUT": lambda vm: vm.write("ticket/terraform.txt",
                                                              _paste("arm_os_provisioning_terraform.txt")),
    "DEPLOYMENT_EXTENSION_FAILED": lambda vm: vm.write("ticket/tf.txt", _paste("arm_cse_user_failure_terraform.txt")),
    "DEPLOYMENT_EXTENSION_HANDLER_FAILED": lambda vm: vm.write("ticket/tf.txt",
                                                               _paste("arm_handler_nontransient_terraform.txt")),
    "DEPLOYMENT_EXTENSION_TIMEOUT": lambda vm: vm.write("ticket/arm.json.txt", _paste("arm_extension_timeout_json.txt")),
    "DEPLOYMENT_REQUEST_REJECTED": lambda vm: vm.write("ticket/portal.txt", _paste("arm_quota_portal.txt")),
    "DEPLOYMENT_CLIENT_GAVE_UP": lambda vm: vm.write("ticket/apply.txt", _paste("terraform_cse_client_timeout.txt")),
    # branch codes (issue 15 part 3): each fixture's source is in its tests/shapes/<folder>/SOURCES.md
    "VM_EXTENSION_OPERATIONS_DISALLOWED": lambda vm: vm.write("ticket/az-vm-show.json",
                                                              _shape("vm_model/extensions-disallowed.az-vm-show.json")),
    "VM_AGENT_NOT_PROVISIONED": lambda vm: vm.write("ticket/vm.json", _shape("vm_model/agent-installed-by-hand.rest.json")),
    "EXTENSION_GOAL_STATE_NOT_APPLIED": lambda vm: vm.write(
        "C/WindowsAzure/Config/WireServerRoleExtensionsConfig_3c1f9b2e.xml",
        _shape("extensions_config/asked-never-ran.ExtensionsConfig.xml")),
    "TIME_SERVICE_NOT_SYNCHRONIZED": lambda vm: vm.write("commands/events.xml",
                                                         _shape("time_service/time-unsynchronized.wevtutil.xml")),
    "GUEST_PROXY_AGENT_FAILING": lambda vm: vm.write("C/WindowsAzure/ProxyAgent/Logs/status.json",
                                                     _shape("proxy_agent/ebpf-failed-enforce.status.json")),
    "RUN_COMMAND_STILL_RUNNING": lambda vm: vm.write("ticket/run-command.txt", _shape("run_command/conflict.az-cli.txt")),
    "RUN_COMMAND_SCRIPT_FAILED": lambda vm: vm.write(
        "C/WindowsAzure/Logs/Plugins/Microsoft.CPlat.Core.RunCommandWindows/1.1.8/RunCommandExtension.log",
        _shape("run_command/v1-exit-1.RunCommandExtension.log")),
    "AGENT_VERSION_KNOWN_BAD": lambda vm: vm.write("commands/events.txt",
                                                   _shape("agent_versions/agent-1193-crash-2008r2.eventviewer.txt")),
}


def _shape(rel: str) -> str:
    return (Path(__file__).parent / "shapes" / rel).read_bytes().decode("utf-8")


def findings_for(tmp_path: Path, fault: Callable[[Vm], None]):
    vm = Vm(copy_sample("healthy", tmp_path))
    fault(vm)
    vm.seal()
    return kit.diagnose(kit.open_bundle(vm.root))


def test_every_rule_code_has_a_fault_scenario() -> None:
    rule_codes = {c for c, e in catalog().items() if e.family != "meta"}
    assert rule_codes == set(FAULTS)


@pytest.mark.parametrize("code", sorted(FAULTS))
def test_injected_fault_is_found_alone(tmp_path: Path, code: str) -> None:
    f = findings_for(tmp_path, FAULTS[code])
    assert code in set(f["code"]), f[["severity", "code", "summary"]]
    others = f[(f["code"] != code) & (f["severity"] >= "error")]
    assert others.empty, others[["severity", "code", "summary"]]
    row = f[f["code"] == code].iloc[0]
    assert row["evidence_count"] > 0 and row["summary"]


NEAR_MISSES: dict[str, tuple[str, Callable[[Vm], None]]] = {
    "firewall rule for another IP, inbound, disabled": ("GUEST_FIREWALL_BLOCKS_WIRESERVER", lambda vm: vm.write_json(
        "commands/firewall_rules.json", [
            {"Name": "a", "Enabled": True, "Direction": "Outbound", "Action": "Block", "Protocol": "TCP",
             "RemoteAddress": ["168.63.129.17"], "RemotePort": ["Any"]},
            {"Name": "b", "Enabled": True, "Direction": "Inbound", "Action": "Block", "Protocol": "TCP",
             "RemoteAddress": ["168.63.129.16"], "RemotePort": ["Any"]},
            {"Name": "c", "Enabled": False, "Direction": "Outbound", "Action": "Block", "Protocol": "TCP",
             "RemoteAddress": ["168.63.129.16"], "RemotePort": ["Any"]}])),
    "proxy that bypasses both platform addresses": ("PROXY_INTERCEPTS_AGENT_TRAFFIC", lambda vm: vm.write(
        "commands/netsh_winhttp_proxy.txt", "Current WinHTTP proxy settings:\r\n\r\n    Proxy Server(s) :  10.2.0.5:8080"
        "\r\n    Bypass List     :  <local>;168.63.129.16;169.254.169.254\r\n")),
    "fabric discovery fails on Npcap then succeeds": ("FABRIC_ADDRESS_NOT_DISCOVERED", lambda vm: vm.agent(
        f"[00000006] {t(15)} [ERROR] Did not discover fabric address on interface Npcap Loopback Adapter",
        f"[00000006] {t(15, 5)} [INFO]  Discovered fabric address on interface Ethernet.")),
    "CSE that took 85 minutes (budget 90)": ("EXTENSION_TIMEOUT", lambda vm: vm.replace(
        CSE_LOG, "[03/08/2024 04:29:47.89] [INFO] Command execution finished",
        "[03/08/2024 05:54:00.00] [INFO] Command execution finished")),
    "agent at exactly the minimum version": ("AGENT_VERSION_UNSUPPORTED", lambda vm: vm.replace(
        LOG, "Version 2.7.41491.1102", "Version 2.7.41491.1010")),
    "restarts with clean stops between them": ("AGENT_CRASH_LOOP", lambda vm: vm.agent(*[
        line for m in (1, 4, 7) for line in (f"[00000007] {t(m)} [WARN]  WindowsAzureGuestAgent stopping.",
                                             f"[00000006] {t(m, 30)} [INFO]  WindowsAzureGuestAgent starting. "
                                             "Version 2.7.41491.1102")])),
    "secondary IP marked SkipAsSource": ("MULTI_IP_PRIMARY_MISMATCH", lambda vm: _multi_ip(vm, skip=True)),
    "Key Vault settings that are right (port 443, a version, CurrentUser, IMDS msiEndpoint)": (
        "KEYVAULT_MSI_SETTINGS_INVALID", lambda vm: sh.keyvault(
            vm, sh.kv_settings([f"https://{sh.VAULT}.vault.azure.net:443/secrets/web-tls/4f1d2c3b5a6e7d8c9b0a1f2e3d4c5b6a"],
                               location="CurrentUser", initial_sync=True,
                               auth={"msiEndpoint": "http://169.254.169.254/metadata/identity/oauth2/token",
                                     "msiClientId": "5b4a3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"}),
            status=sh.kv_status(T0), log=[*sh.kv_start(T0), *sh.kv_refresh(T0, KV_URL)])),
    "Key Vault download failed once, then a refresh went through": ("KEYVAULT_CERT_DOWNLOAD_FAILED", lambda vm: sh.keyvault(
        vm, sh.kv_settings(), status=sh.kv_status(T0),
        log=[*sh.kv_start(T0), *sh.kv_refresh(T0, KV_URL, sh.KV_403),
             *sh.kv_refresh(T0 + dt.timedelta(hours=1), KV_URL)])),
    "requireInitialSync, transitioning for 5 minutes": ("KEYVAULT_INITIAL_SYNC_BLOCKING", lambda vm: sh.keyvault(
        vm, sh.kv_settings(initial_sync=True),
        status=sh.kv_status(dt.datetime(2024, 3, 8, 10, 10, 0, tzinfo=dt.UTC), "transitioning", "Installing "
                            "certificates."), log=sh.kv_start(T0))),
    "Custom Script settings passed as a string (not Key Vault)": ("KEYVAULT_SETTINGS_MALFORMED", lambda vm: vm.replace(
        f"C/Packages/Plugins/{CSE}/RuntimeSettings/0.settings", '"publicSettings": {',
        '"publicSettings": "{\\"commandToExecute\\": \\"hostname\\"}", "unused": {')),
    "a script that gets tokens from IMDS, and a handler PID 50342": ("LEGACY_MSI_EXTENSION", lambda vm: (
        sh.cse_substatus(vm, stdout="GET http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01"
                                    "&resource=https%3A%2F%2Fvault.azure.net -> 200\r\n"),
        vm.write(CSE_LOG, vm.text(CSE_LOG) + "[50342+00000001] [03/08/2024 10:05:00.00] [INFO] Starting CustomScript "
                                             "Extension\r\n"))),
    "a 429 from storage, not from IMDS": ("IMDS_REQUESTS_FAILED", lambda vm: sh.cse_substatus(
        vm, stderr="Invoke-WebRequest : The remote server returned an error: (429) Too Many Requests. "
                   "https://stsupportlab01.blob.core.windows.net/scripts/tool.zip\r\n")),
    "attested document valid when fetched, long expired now": ("IMDS_ATTESTATION_INVALID", lambda vm: sh.attested(
        vm, nonce_sent="7319450281", nonce_signed="7319450281", lifetime=dt.timedelta(seconds=45),
        created=dt.datetime(2024, 3, 8, 10, 14, 49, tzinfo=dt.UTC),
        fetched=dt.datetime(2024, 3, 8, 10, 14, 50, tzinfo=dt.UTC))),
    "attested request to Azure IMDS fails on an Azure VM (no HCI signs)": ("HCI_IMDS_NIC_MISSING_OR_MODIFIED",
                                                                          lambda vm: sh.attested_failed(
                                                                              vm, host="169.254.169.254")),
    "another service's crash loop in the System log": ("AGENT_SERVICE_TERMINATED", lambda vm: _events(
        vm, "other-service-crash-loop.wevtutil.xml")),
    "real System and Application logs of a Windows 10 machine": ("AGENT_SERVICE_TERMINATED", lambda vm: (
        vm.write("C/Windows/System32/winevt/Logs/System.evtx", ""),
        (vm.root / "C/Windows/System32/winevt/Logs/System.evtx").write_bytes(
            (EVENTS / "real-System-2-vss_7.evtx").read_bytes()))),
    "AppLocker blocks a file outside the agent's folders, allows the handler": ("APP_CONTROL_BLOCKS_AGENT",
                                                                               lambda vm: _events(
                                                                                   vm, "applocker-other-file"
                                                                                   ".wevtutil.xml")),
    # deployment pastes (issue 15): the code's words typed at a prompt, a success, or a tool's deadline elsewhere
    "a CustomScriptExtension's success text pasted": ("DEPLOYMENT_EXTENSION_FAILED", lambda vm: vm.write(
        "ticket/status.txt", "Command execution finished\r\n")),
    "the error code searched for at a prompt, nothing found": ("DEPLOYMENT_EXTENSION_HANDLER_FAILED", lambda vm: vm.write(
        "ticket/search.txt", "PS C:\\> Select-String -Path .\\deploy.log -Pattern VMExtensionHandlerNonTransientError\r\n"
                             "PS C:\\>\r\n")),
    "Terraform gave up on a 20-minute extension (not an Azure timeout)": ("DEPLOYMENT_EXTENSION_TIMEOUT", lambda vm: vm.write(
        "ticket/apply.txt", _paste("terraform_backup_client_timeout.txt"))),
    "az vm list-skus typed, no refusal": ("DEPLOYMENT_REQUEST_REJECTED", lambda vm: vm.write(
        "ticket/skus.txt", "PS C:\\> az vm list-skus --location eastus --size Standard_D --all --output table\r\n")),
    "Terraform deadline on a VM, not an extension": ("DEPLOYMENT_CLIENT_GAVE_UP", lambda vm: vm.write(
        "ticket/apply.txt", '│ Error: creating Windows Virtual Machine (Resource Group Name: "rg"): polling after '
                            "CreateOrUpdate: context deadline exceeded\r\n")),
}


@pytest.mark.parametrize("case", sorted(NEAR_MISSES))
def test_near_miss_does_not_fire(tmp_path: Path, case: str) -> None:
    code, fault = NEAR_MISSES[case]
    f = findings_for(tmp_path, fault)
    assert code not in set(f["code"]), f[["severity", "code", "summary"]]
    assert f[f["severity"] >= "warning"].empty, f[["severity", "code", "summary"]]


def test_intermittent_probe_is_a_warning_not_an_error(tmp_path: Path) -> None:
    def one_of_three(vm: Vm) -> None:
        items = vm.json("probes/tcp.json")
        first = next(it for it in items if it["port"] == 32526)
        first.update(ok=False, error="A connection attempt failed because the connected party did not properly respond")
        vm.write_json("probes/tcp.json", items)

    f = findings_for(tmp_path, one_of_three)
    row = f[f["code"] == "HOSTGAPLUGIN_UNREACHABLE"].iloc[0]
    assert row["severity"] == "warning" and "intermittent" in row["summary"]


def test_extension_with_the_default_budget_times_out_at_20_minutes(tmp_path: Path) -> None:
    def slow_bginfo(vm: Vm) -> None:
        rel = "C/WindowsAzure/Logs/Plugins/Microsoft.Compute.BGInfo/2.2.5/BGInfo.log"
        vm.replace(rel, "[03/08/2024 04:17:11.82] [INFO] Handler successfully enabled",
                   "[03/08/2024 04:42:11.82] [INFO] Handler successfully enabled")

    f = findings_for(tmp_path, slow_bginfo)
    row = f[f["code"] == "EXTENSION_TIMEOUT"].iloc[0]
    assert "Microsoft.Compute.BGInfo" in row["summary"] and "budget is 20 min" in row["summary"]


def test_known_noise_stays_info(tmp_path: Path) -> None:
    f = findings_for(tmp_path, lambda vm: vm.agent(*(f"[00000009] {t(m)} [ERROR] Error SetCPUNotification: 87"
                                                     for m in range(1, 10))))
    assert set(f["code"]) == {"KNOWN_HARMLESS_NOISE"}


def test_missing_data_says_not_checked(tmp_path: Path) -> None:
    def strip(vm: Vm) -> None:
        for rel in ("commands/route_print.txt", "commands/get_netroute.json", "commands/firewall_rules.json",
                    "commands/netsh_winhttp_proxy.txt"):
            (vm.root / rel).unlink()
        m = json.loads((vm.root / "manifest.json").read_text())
        m["artifacts"] = [a for a in m["artifacts"] if (vm.root / a["path"]).exists()]
        (vm.root / "manifest.json").write_text(json.dumps(m))

    f = findings_for(tmp_path, strip)
    notes = f[f["code"] == "CHECK_NOT_POSSIBLE"]["summary"].tolist()
    assert any("route" in n for n in notes) and any("firewall" in n for n in notes) and any("proxy" in n for n in notes)
    assert f[f["severity"] >= "warning"].empty


@pytest.mark.parametrize("row_by_row_max", [0, 10_000])
def test_contains_is_the_same_row_by_row_and_vectorised(monkeypatch: pytest.MonkeyPatch, row_by_row_max: int) -> None:
    """Rules and derived frames filter with kit.derive.filters.contains: Python's re row by row on small frames, pandas'
    vectorised search on large ones; both give re.search semantics, NA never matches, a compiled pattern keeps its
    flags."""
    import re

    import numpy as np
    import pandas as pd

    from kit.derive import filters as _util

    monkeypatch.setattr(_util, "ROW_BY_ROW_MAX", row_by_row_max)
    s = pd.Series(["Connecting to 168.63.129.16:32526", None, "managedidentityextensionforwindows 1.0",
                   "Ärger: café \u00a0 naïve", "x"], dtype="str")
    assert _util.contains(s, r"168\.63\.129\.16:(80|32526)\b").tolist() == [True, False, False, False, False]
    legacy = re.compile(r"ManagedIdentityExtensionFor(?:Windows|Linux)", re.IGNORECASE)
    assert _util.contains(s, legacy).tolist() == [False, False, True, False, False]
    assert _util.contains(s, r"\bcaf\w\s+naïve").tolist() == [False, False, False, True, False]
    assert _util.contains(s.astype("category"), r"^x$").tolist() == [False, False, False, False, True]
    assert _util.contains(s.iloc[:0], "x").dtype == np.dtype(bool)
    df = pd.DataFrame({"text": s, "n": range(5)})
    assert _util.match(df, "^x$")["n"].tolist() == [4]
    assert _util.match(df, "nothing").empty and list(_util.match(df, "nothing").columns) == ["text", "n"]
