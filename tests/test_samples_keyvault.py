"""The Key Vault / managed identity samples are faithful to the formats they model, checked without the kit's
parsers: the Key Vault service log's layout (MicrosoftDocs/azure-docs #66632, #109667), the settings schema of the Key
Vault extension article, the status shape of azure-docs #49224, the agent's auto-upgrade lines (formats doc §1.3),
and each scenario's own signature."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_logs"
KV = "Microsoft.Azure.KeyVault.KeyVaultForWindows"
SCENARIOS = {"keyvault-initial-sync-deadlock": ["KEYVAULT_INITIAL_SYNC_BLOCKING"],
             "keyvault-legacy-msi": ["LEGACY_MSI_EXTENSION", "KEYVAULT_CERT_URL_INVALID",
                                     "KEYVAULT_CERT_DOWNLOAD_FAILED"]}
AKVVM = re.compile(r"^(?P<ts>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}): <(?P<lvl>debug|info|warning|error)> "
                   r"\[(?P<comp>[A-Za-z]+)\]\t(?P<msg>\S.*)$")
KV_403 = re.compile(r"^Refreshing '(?P<url>https://[^']+)/' failed with exception: The user, group or application "
                    r"'appid=[0-9a-f-]{36};oid=[0-9a-f-]{36};iss=https://sts\.windows\.net/[0-9a-f-]{36}/' "
                    r"does not have secrets get permission on key vault '(?P<vault>[a-z0-9-]+);location=[a-z]+'\. "
                    r"For help resolving this issue, please see https://go\.microsoft\.com/fwlink/\?linkid=2125287$")


def lines(p: Path) -> list[str]:
    text = p.read_bytes().decode("utf-8")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", ""), f"{p}: not CRLF"
    return text.split("\r\n")[:-1]


def jload(p: Path):
    data = p.read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf")
    return json.loads(data)


@pytest.fixture(params=sorted(SCENARIOS))
def bundle(request) -> Path:
    return SAMPLES / request.param


def test_scenario_files_agree(bundle: Path) -> None:
    scenario = json.loads((bundle / "scenario.json").read_text(encoding="utf-8"))
    assert scenario["expected_codes"] == SCENARIOS[bundle.name]
    findings = (bundle / "README.md").read_text(encoding="utf-8").split("## Findings", 1)[1]
    assert all(f"`{c}`" in findings for c in SCENARIOS[bundle.name])
    assert f"[{bundle.name}]({bundle.name}/README.md)" in (SAMPLES / "README.md").read_text(encoding="utf-8")


def test_key_vault_service_log(bundle: Path) -> None:
    logs = list(bundle.glob(f"C/WindowsAzure/Logs/Plugins/{KV}/*/akvvm_service_*.log"))
    assert len(logs) == 1
    ver = logs[0].parent.name
    recs = [AKVVM.match(x) for x in lines(logs[0])]
    assert all(recs), [x for x, m in zip(lines(logs[0]), recs, strict=True) if not m]
    stamps = [m["ts"] for m in recs]
    assert stamps == sorted(stamps)
    # the start-up sequence of azure-docs #109667 / #66632
    assert [m["msg"] for m in recs[:2]] == [f"Initializing file-based logging, sending file logs to "
                                            f"C:\\WindowsAzure\\Logs\\Plugins\\{KV}\\{ver}", "Starting extension"]
    assert logs[0].name == f"akvvm_service_{recs[0]['ts'].replace(' ', '_').replace(':', '-')}.1.log"
    for m in recs:
        if m["lvl"] == "error":
            assert KV_403.match(m["msg"]), m["msg"]


def test_key_vault_state_files(bundle: Path) -> None:
    (folder,) = bundle.glob(f"C/Packages/Plugins/{KV}/*")
    settings = jload(folder / "RuntimeSettings/0.settings")["runtimeSettings"][0]["handlerSettings"]
    assert settings["protectedSettings"] is None  # "All settings are considered public information"
    sms = settings["publicSettings"]["secretsManagementSettings"]
    assert isinstance(sms["pollingIntervalInS"], str)  # a string in the documented schema
    for c in sms["observedCertificates"]:
        assert set(c) == {"url", "certificateStoreName", "certificateStoreLocation", "accounts"}
        assert c["certificateStoreLocation"] in ("LocalMachine", "CurrentUser")
    (status,) = jload(folder / "Status/0.status")
    assert set(status) == {"status", "timestampUTC", "version"} and status["version"] == "1.0"  # azure-docs #49224
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", status["timestampUTC"])
    assert set(status["status"]) == {"code", "formattedMessage", "operation", "status"}


def test_initial_sync_deadlock_signature() -> None:
    b = SAMPLES / "keyvault-initial-sync-deadlock"
    (folder,) = b.glob(f"C/Packages/Plugins/{KV}/*")
    public = jload(folder / "RuntimeSettings/0.settings")["runtimeSettings"][0]["handlerSettings"]["publicSettings"]
    assert public["secretsManagementSettings"]["requireInitialSync"] is True
    assert "authenticationSettings" not in public  # the system-assigned identity
    assert jload(folder / "Status/0.status")[0]["status"]["status"] == "transitioning"
    (log,) = b.glob(f"C/WindowsAzure/Logs/Plugins/{KV}/*/akvvm_service_*.log")
    refreshes = [x for x in lines(log) if "Beginning refresh for:" in x]
    failures = [x for x in lines(log) if "<error>" in x]
    assert len(refreshes) == len(failures) >= 8  # every attempt fails, with a growing back-off
    agent = lines(b / "C/WindowsAzure/Logs/WaAppAgent.log")
    assert any(f"Getting plugin locations for plugin '{KV}'" in x for x in agent)
    assert not any(f"plugin (name: {KV}," in x for x in agent)  # never enabled
    assert not list(b.glob("C/Packages/Plugins/Microsoft.Compute.CustomScriptExtension*"))


def test_legacy_msi_signature() -> None:
    b = SAMPLES / "keyvault-legacy-msi"
    (msi,) = b.glob("C/Packages/Plugins/Microsoft.ManagedIdentity.ManagedIdentityExtensionForWindows/*")
    assert jload(msi / "RuntimeSettings/0.settings")["runtimeSettings"][0]["handlerSettings"]["publicSettings"] == \
        {"port": 50342}
    (folder,) = b.glob(f"C/Packages/Plugins/{KV}/*")
    public = jload(folder / "RuntimeSettings/0.settings")["runtimeSettings"][0]["handlerSettings"]["publicSettings"]
    assert public["authenticationSettings"]["msiEndpoint"] == "http://localhost:50342/oauth2/token"
    urls = [c["url"] for c in public["secretsManagementSettings"]["observedCertificates"]]
    assert sum("/certificates/" in u for u in urls) == 1 and sum("/secrets/" in u for u in urls) == 2
    agent = lines(b / "C/WindowsAzure/Logs/WaAppAgent.log")
    upgrade = [x for x in agent if f"Getting plugin locations for plugin '{KV}'" in x]
    assert len(upgrade) == 1 and re.search(r"Current Version: '3\.0\.[\d.]+', Requested Version: '3\.1\.[\d.]+'$",
                                           upgrade[0])
    assert any(x.endswith(f"Highest public version for plugin '{KV}' with requested version: '{folder.name}', is: "
                          f"'{folder.name}'") for x in agent)
