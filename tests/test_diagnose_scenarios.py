"""The healthy sample plus one injected fault per finding code: the code is found, and no other code at error or
above appears. Then the near-misses that must not fire."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

import kit
from kit.catalog import catalog
from tests.conftest import copy_sample

LOG = "C/WindowsAzure/Logs/WaAppAgent.log"
CSE = "Microsoft.Compute.CustomScriptExtension/1.10.15"
CSE_LOG = f"C/WindowsAzure/Logs/Plugins/{CSE}/CustomScriptHandler.log"
CSE_STATUS = f"C/Packages/Plugins/{CSE}/Status/0.status"


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
        m = json.loads((self.root / "manifest.json").read_text())
        listed = {a["path"] for a in m["artifacts"]}
        for p in sorted(self.root.rglob("*")):  # files a fault added are listed like the collector would
            rel = p.relative_to(self.root).as_posix()
            if p.is_file() and rel not in listed and rel not in ("manifest.json", "README.md", "scenario.json"):
                m["artifacts"].append({"path": rel, "origin": "C:\\" + rel[2:].replace("/", "\\"),
                                       "status": "collected", "note": None})
        for a in m["artifacts"]:
            data = (self.root / a["path"]).read_bytes()
            a.update(size=len(data), original_size=len(data), sha256=hashlib.sha256(data).hexdigest())
        (self.root / "manifest.json").write_text(json.dumps(m))

    def extension(self, name: str, version: str, public: object, status: dict | None = None,
                  log: list[str] | None = None) -> None:
        """Install an extension on the VM: settings (public settings as given), optional status and handler log."""
        pk = f"C/Packages/Plugins/{name}/{version}"
        self.write_json(f"{pk}/RuntimeSettings/0.settings", {"runtimeSettings": [{"handlerSettings": {
            "protectedSettingsCertThumbprint": None, "protectedSettings": None, "publicSettings": public}}]})
        if status is not None:
            self.write_json(f"{pk}/Status/0.status", [{"version": "1", "timestampUTC": "2024-03-08T10:05:00.0000000Z",
                                                        "status": {"name": name, "operation": "Enable",
                                                                   "code": 0, **status}}])
        if log:
            # The Key Vault extension's log layout is not in the formats reference; its lines are written in the
            # bracketed handler layout of its nearest documented relative (CustomScriptHandler.log).
            self.write(f"C/WindowsAzure/Logs/Plugins/{name}/{version}/akvvm_service.log",
                       "".join(line + "\r\n" for line in log))


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


def _multi_ip(vm: Vm, skip: bool = False) -> None:
    ips = vm.json("commands/get_netipaddress.json")
    ips.insert(0, {**ips[0], "IPAddress": "10.0.1.5", "SkipAsSource": skip})
    vm.write_json("commands/get_netipaddress.json", ips)


KV = "Microsoft.Azure.KeyVault.KeyVaultForWindows"
KV_VER = "3.1.0.2"
KV_OK = {"secretsManagementSettings": {"pollingIntervalInS": "3600", "certificateStoreName": "MY",
                                       "certificateStoreLocation": "LocalMachine", "requireInitialSync": False,
                                       "linkOnRenewal": False,
                                       "observedCertificates": ["https://contoso-kv.vault.azure.net/secrets/web-tls"]},
         "authenticationSettings": {"msiEndpoint": "http://169.254.169.254/metadata/identity/oauth2/token",
                                    "msiClientId": "6f1c3b0e-2a4d-4c51-9f0e-1d2b3c4d5e6f"}}


def kv(**change) -> dict:
    doc = json.loads(json.dumps(KV_OK))
    for k, v in change.items():
        (doc["authenticationSettings"] if k.startswith("msi") else doc["secretsManagementSettings"])[k] = v
    return doc


def kv_log(*messages: str) -> list[str]:
    return [f"[3120+00000001] [03/08/2024 10:0{i}:00.00] [{lvl}] {m}" for i, (lvl, m) in
            enumerate(m.split(" ", 1) for m in messages)]


def attested(cn: str = "metadata.azure.com", nonce: str = "4242424242", doc_nonce: str | None = None,
             expires: str = "03/08/24 16:00:00 -0000") -> Callable[[Vm], None]:
    """probes/imds_attested.json with a real PKCS#7 signature made here (throwaway key, never committed)."""
    def fault(vm: Vm) -> None:
        import base64
        import datetime as dt

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.hazmat.primitives.serialization import pkcs7
        from cryptography.x509.oid import NameOID

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
                .not_valid_after(dt.datetime(2025, 1, 1, tzinfo=dt.UTC)).sign(key, hashes.SHA256()))
        doc = {"nonce": doc_nonce or nonce, "plan": {"name": "", "product": "", "publisher": ""},
               "timeStamp": {"createdOn": "03/08/24 10:00:00 -0000", "expiresOn": expires},
               "vmId": "b5c6a1f2-0d3e-4f7a-9b8c-1d2e3f4a5b6c", "licenseType": "", "subscriptionId":
                   "2f1e0d9c-8b7a-4654-3210-fedcba987654", "sku": "2022-datacenter-azure-edition"}
        der = (pkcs7.PKCS7SignatureBuilder().set_data(json.dumps(doc, separators=(",", ":")).encode())
               .add_signer(cert, key, hashes.SHA256()).sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary]))
        env = vm.json("probes/imds_instance.json")
        env.update(url=f"http://169.254.169.254/metadata/attested/document?api-version=2020-09-01&nonce={nonce}",
                   status=200, body=json.dumps({"encoding": "pkcs7", "signature": base64.b64encode(der).decode()}),
                   nonce=nonce)
        vm.write_json("probes/imds_attested.json", env)
    return fault


HCI_NIC = ("\r\nEthernet adapter AZSHCI_GUEST-IMDS_DO_NOT_MODIFY:\r\n\r\n"
           "   Media State . . . . . . . . . . . : Media disconnected\r\n"
           "   Connection-specific DNS Suffix  . : \r\n"
           "   Description . . . . . . . . . . . : Microsoft Hyper-V Network Adapter #2\r\n"
           "   Physical Address. . . . . . . . . : 00-15-5D-01-02-03\r\n"
           "   DHCP Enabled. . . . . . . . . . . : Yes\r\n"
           "   Autoconfiguration Enabled . . . . : Yes\r\n")


def _attested_fails(vm: Vm) -> None:
    env = vm.json("probes/imds_instance.json")
    env.update(url="http://169.254.169.254/metadata/attested/document?api-version=2020-09-01&nonce=4242424242",
               status=None, body="", headers={}, error="Unable to connect to the remote server", nonce="4242424242")
    vm.write_json("probes/imds_attested.json", env)


#: Codes that come with another by definition: a blocked extension implies a failed one.
ALSO: dict[str, set[str]] = {"EXTENSION_BLOCKED_BY_FAILED_EXTENSION": {"EXTENSION_FAILED"}}


FAULTS: dict[str, Callable[[Vm], None]] = {
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
    "EXTENSION_TIMEOUT": lambda vm: vm.write(CSE_LOG, "".join(
        line + "\r\n" for line in vm.text(CSE_LOG).splitlines() if "Command execution finished" not in line)),
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
    "EXTENSION_OS_UNSUPPORTED": lambda vm: _status(vm, status="error", code=51, formattedMessage={
        "lang": "en-US", "message": "OS not supported"}),
    "EXTENSION_BLOCKED_BY_FAILED_EXTENSION": lambda vm: (
        _status(vm, status="error", code=1, formattedMessage={"lang": "en-US", "message": "Finished executing command"}),
        vm.extension("Microsoft.Azure.Monitor.AzureMonitorWindowsAgent", "1.22.0.0", {})),
    "KEYVAULT_SETTINGS_MALFORMED": lambda vm: vm.extension(
        KV, KV_VER, json.dumps(KV_OK), log=kv_log("INFO Starting the Key Vault VM extension",
                                                  "ERROR Failed to parse the configuration settings with:not an "
                                                  "object")),
    "KEYVAULT_CERT_URL_INVALID": lambda vm: vm.extension(KV, KV_VER, kv(observedCertificates=[
        "https://contoso-kv.vault.azure.net/certificates/web-tls"])),
    "KEYVAULT_MSI_SETTINGS_INVALID": lambda vm: vm.extension(KV, KV_VER, {
        **KV_OK, "authenticationSettings": {"msiClientId": "6f1c3b0e-2a4d-4c51-9f0e-1d2b3c4d5e6f"}}),
    "KEYVAULT_INITIAL_SYNC_BLOCKING": lambda vm: vm.extension(
        KV, KV_VER, kv(requireInitialSync=True), status={"status": "transitioning", "formattedMessage": {
            "lang": "en-US", "message": "Initial synchronization of certificates in progress"}},
        log=kv_log("INFO Waiting for the initial synchronization of observed certificates",
                   "ERROR Failed to download certificate https://contoso-kv.vault.azure.net/secrets/web-tls: "
                   "(403) Forbidden")),
    "LEGACY_MSI_EXTENSION": lambda vm: vm.extension(
        "Microsoft.ManagedIdentity.ManagedIdentityExtensionForWindows", "1.0.0.10", {"port": 50342}),
    "IMDS_ATTESTATION_INVALID": attested(cn="imds.contoso-proxy.local"),
    "HCI_IMDS_NIC_MISSING_OR_MODIFIED": lambda vm: (
        vm.write("commands/ipconfig_all.txt", vm.text("commands/ipconfig_all.txt") + HCI_NIC), _attested_fails(vm)),
    "AGENT_BAD_IMAGE_FORMAT": lambda vm: vm.agent(
        f"[00000010] {t(13)} [ERROR] InstallPlugins() failed with exception: System.AggregateException: One or more "
        "errors occurred. ---> System.BadImageFormatException: An attempt was made to load a program with an "
        "incorrect format. (Exception from HRESULT: 0x8007000B)"),
}


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
    others = f[(~f["code"].isin({code} | ALSO.get(code, set()))) & (f["severity"] >= "error")]
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
    "Key Vault settings as an object with versioned secret URLs": ("KEYVAULT_CERT_URL_INVALID", lambda vm: vm.extension(
        KV, KV_VER, kv(observedCertificates=[
            "https://contoso-kv.vault.azure.net/secrets/web-tls/0123456789abcdef0123456789abcdef",
            {"url": "https://contoso-kv.vault.usgovcloudapi.net/secrets/api-tls",
             "certificateStoreLocation": "CurrentUser"}]), status={"status": "success"})),
    "Key Vault with a system-assigned identity (no msiClientId)": ("KEYVAULT_MSI_SETTINGS_INVALID", lambda vm: (
        vm.extension(KV, KV_VER, {**KV_OK, "authenticationSettings": {}}, status={"status": "success"}))),
    "Key Vault with requireInitialSync that finished": ("KEYVAULT_INITIAL_SYNC_BLOCKING", lambda vm: vm.extension(
        KV, KV_VER, kv(requireInitialSync=True), status={"status": "success"})),
    "Key Vault settings object, log without the parse error": ("KEYVAULT_SETTINGS_MALFORMED", lambda vm: vm.extension(
        KV, KV_VER, KV_OK, status={"status": "success"}, log=kv_log("INFO Starting the Key Vault VM extension"))),
    "tokens from IMDS, not from the legacy endpoint": ("LEGACY_MSI_EXTENSION", lambda vm: vm.agent(
        f"[00000006] {t(15)} [INFO]  Requesting token from http://169.254.169.254/metadata/identity/oauth2/token")),
    "attested document signed by metadata.azure.com, nonce and expiry right": ("IMDS_ATTESTATION_INVALID",
                                                                               attested()),
    "HCI adapter disconnected but attested data answered": ("HCI_IMDS_NIC_MISSING_OR_MODIFIED", lambda vm: (
        vm.write("commands/ipconfig_all.txt", vm.text("commands/ipconfig_all.txt") + HCI_NIC), attested()(vm))),
    "every extension with settings has reported a status": ("EXTENSION_BLOCKED_BY_FAILED_EXTENSION", lambda vm: (
        vm.extension("Microsoft.Azure.Monitor.AzureMonitorWindowsAgent", "1.22.0.0", {},
                     status={"status": "success"}))),
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


def _imds_answer(status: int, body: str, headers: dict | None = None) -> Callable[[Vm], None]:
    def fault(vm: Vm) -> None:
        env = vm.json("probes/imds_instance.json")
        env.update(status=status, body=body, headers=headers or {"Content-Type": "application/json; charset=utf-8"})
        vm.write_json("probes/imds_instance.json", env)
    return fault


IMDS_CASES = {
    "missing Metadata header": (_imds_answer(400, '{"error":"Bad request. Required metadata header not specified"}'),
                                "lacked the `Metadata: true` header"),
    "missing api-version": (_imds_answer(400, json.dumps({
        "error": "Bad request. api-version was not specified in the request. For more information refer to "
                 "aka.ms/azureimds", "newest-versions": ["2020-10-01", "2020-09-01", "2020-07-15"]})),
        "`newest-versions`"),
    "throttled": (_imds_answer(429, '{"error":"Too many requests"}'), "5 requests per second"),
    "gone while starting": (_imds_answer(410, ""), "up to 70 seconds"),
    "X-Forwarded-For rejected": (_imds_answer(400, '{"error":"Bad request. X-Forwarded-For header present"}'),
                                 "X-Forwarded-For"),
    "throttling seen only in a handler log": (lambda vm: vm.write(CSE_LOG, vm.text(CSE_LOG) + (
        "[5200+00000001] [03/08/2024 10:05:00.00] [ERROR] GET http://169.254.169.254/metadata/identity/oauth2/"
        "token failed: The remote server returned an error: (429) Too Many Requests.\r\n")), "5 requests per second"),
}


@pytest.mark.parametrize("case", sorted(IMDS_CASES))
def test_imds_errors_are_explained(tmp_path: Path, case: str) -> None:
    fault, expect = IMDS_CASES[case]
    f = findings_for(tmp_path, fault)
    rows = f[f["code"] == "IMDS_ERROR"]
    assert not rows.empty, f[["severity", "code", "summary"]]
    assert expect in rows.iloc[0]["summary"], rows.iloc[0]["summary"]


def test_imds_answer_from_a_proxy_is_the_proxy_finding(tmp_path: Path) -> None:
    f = findings_for(tmp_path, _imds_answer(504, "<html><body>This Page Cannot Be Displayed GATEWAY_TIMEOUT</body>"
                                            "</html>", {"Content-Type": "text/html", "Via": "1.1 proxy"}))
    assert "PROXY_INTERCEPTS_AGENT_TRAFFIC" in set(f["code"]) and "IMDS_ERROR" not in set(f["code"])


@pytest.mark.parametrize(("change", "expect"), [
    ({"doc_nonce": "1111111111"}, "nonce"),
    ({"expires": "03/08/24 10:10:00 -0000"}, "expired"),
])
def test_attestation_problems(tmp_path: Path, change: dict, expect: str) -> None:
    f = findings_for(tmp_path, attested(**change))
    row = f[f["code"] == "IMDS_ATTESTATION_INVALID"]
    assert not row.empty and expect in row.iloc[0]["summary"], f[["code", "summary"]]


def test_attestation_tampered_content(tmp_path: Path) -> None:
    def tamper(vm: Vm) -> None:
        import base64

        attested()(vm)
        env = vm.json("probes/imds_attested.json")
        der = base64.b64decode(json.loads(env["body"])["signature"])
        der = der.replace(b"2022-datacenter-azure-edition", b"2019-datacenter-azure-edition")
        env["body"] = json.dumps({"encoding": "pkcs7", "signature": base64.b64encode(der).decode()})
        vm.write_json("probes/imds_attested.json", env)

    f = findings_for(tmp_path, tamper)
    row = f[f["code"] == "IMDS_ATTESTATION_INVALID"]
    assert not row.empty and "tampered" in row.iloc[0]["summary"]


def test_crp_certificate_failure_says_protected_settings_cannot_be_decrypted(tmp_path: Path) -> None:
    def fault(vm: Vm) -> None:
        vm.agent(f"[00000004] {t(12)} [ERROR] Failed to install the certificate with subject 'DC=Windows Azure CRP "
                 "Certificate Generator' in LocalMachine\\My. Error: Keyset does not exist")
        vm.write(CSE_LOG, vm.text(CSE_LOG) + "[5200+00000001] [03/08/2024 10:05:00.00] [ERROR] Failed to decrypt "
                 "protectedSettings with certificate E3A4037E9FDBB8F7B7CF1F75AD3B22D508C12843\r\n")

    f = findings_for(tmp_path, fault)
    row = f[f["code"] == "AGENT_CERTIFICATE_ERROR"].iloc[0]
    assert "cannot be decrypted" in row["summary"] and "CustomScriptExtension" in row["summary"]
    assert any("decrypt" in e["text"] for e in row["evidence"])


def test_failed_status_with_generic_message_is_a_failure_with_its_stderr(tmp_path: Path) -> None:
    def fault(vm: Vm) -> None:
        doc = vm.json(CSE_STATUS)
        doc[0]["status"].update(status="error", code=1, formattedMessage={"lang": "en-US", "message":
                                                                          "Finished executing command"})
        doc[0]["status"]["substatus"][1]["formattedMessage"]["message"] = (
            "Install-Module : No match was found for the specified search criteria and module name 'Az.Accounts'.")
        vm.write_json(CSE_STATUS, doc)

    f = findings_for(tmp_path, fault)
    row = f[f["code"] == "EXTENSION_FAILED"].iloc[0]
    assert "Finished executing command" in row["summary"] and "StdErr" in row["summary"]
    assert "No match was found" in row["summary"]


def test_code_51_only_counts_as_a_failure_code(tmp_path: Path) -> None:
    f = findings_for(tmp_path, lambda vm: _status(vm, code=51, formattedMessage={
        "lang": "en-US", "message": "Installed 51 updates"}))
    assert "EXTENSION_OS_UNSUPPORTED" not in set(f["code"])


def test_attestation_without_signed_attributes_verifies() -> None:
    """IMDS signs the content itself (no signed attributes)."""
    import base64
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs7
    from cryptography.x509.oid import NameOID

    from kit.attestation import check

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "eastus.metadata.azure.com")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(7).not_valid_before(dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
            .not_valid_after(dt.datetime(2025, 1, 1, tzinfo=dt.UTC)).sign(key, hashes.SHA256()))
    doc = {"nonce": "0123456789", "timeStamp": {"createdOn": "03/08/24 10:00:00 -0000",
                                                "expiresOn": "03/08/24 16:00:00 -0000"}, "vmId": "x"}
    der = (pkcs7.PKCS7SignatureBuilder().set_data(json.dumps(doc).encode()).add_signer(cert, key, hashes.SHA256())
           .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary, pkcs7.PKCS7Options.NoAttributes]))
    body = json.dumps({"encoding": "pkcs7", "signature": base64.b64encode(der).decode()})
    res = check(body, nonce="0123456789", at=dt.datetime(2024, 3, 8, 12, tzinfo=dt.UTC))
    assert res.ok and res.signature_valid, res.problems
