"""Builders for the issue-6 fault scenarios injected into a copy of the healthy sample (see
tests/test_diagnose_scenarios.py): extra extensions, the Key Vault extension with its service log, CSE
substatuses, attested-data probes.

Formats: state files as in formats doc §6.1/§6.2 (the Key Vault status shape is the one quoted in
MicrosoftDocs/azure-docs#49224); the Key Vault service log as quoted in azure-docs#66632/#109667 (handler_log's
``akvvm`` layout). Where a wording is not documented anywhere we found, the helper says so next to it.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from tests import attest_helpers as ah

KV = "Microsoft.Azure.KeyVault.KeyVaultForWindows"
KV_VER = "3.1.2195.61"  # a real version string (azure-docs#109667)
KV_LOG = f"C/WindowsAzure/Logs/Plugins/{KV}/{KV_VER}/akvvm_service_2024-03-08_04-20-11.1.log"
CSE = "Microsoft.Compute.CustomScriptExtension/1.10.15"
CSE_STATUS = f"C/Packages/Plugins/{CSE}/Status/0.status"
HEALTHY_VM_ID = "e88b7591-31db-4e32-98dc-b35f94c662cd"
VAULT = "kv-web-prod-weu"
#: Key Vault's own 403 wording (quoted in MicrosoftDocs/azure-docs#64580 and ansible-collections/azure#635); how the
#: extension wraps it after "failed with exception:" is not documented - modelled on azure-docs#109667.
KV_403 = ("The user, group or application 'appid=3c2a7f10-5b8e-4d6a-9f21-0e4b7c8d9a12;oid=7d1e4b2c-9a0f-4c3e-8b5d-"
          "2f6a1c0e9b47;iss=https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/' does not have secrets get "
          "permission on key vault 'kv-web-prod-weu;location=westeurope'. For help resolving this issue, please see "
          "https://go.microsoft.com/fwlink/?linkid=2125287")


def stamp7(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}0Z"


def status_doc(t: dt.datetime, status: str, message: str, *, code: int = 0, operation: str = "Enable",
               substatus: list[dict] | None = None, version: str = "1") -> list:
    body: dict[str, Any] = {"name": "", "operation": operation, "status": status, "code": code,
                            "formattedMessage": {"lang": "en-US", "message": message}}
    if substatus is not None:
        body["substatus"] = substatus
    return [{"version": version, "timestampUTC": stamp7(t), "status": body}]


def add_extension(vm, ext: str, ver: str, public: Any, *, status: list | None = None,
                  log: tuple[str, list[str]] | None = None, protected: bool = False) -> None:
    """An extension folder (RuntimeSettings/0.settings, Status/0.status when given, HandlerEnvironment.json) and,
    optionally, one log file (name, lines) under C/WindowsAzure/Logs/Plugins."""
    root = f"C/Packages/Plugins/{ext}/{ver}/"
    hs: dict[str, Any] = {"protectedSettingsCertThumbprint": "4B2D3A8E0C1F97A6B5D4E3F2A1908C7B6D5E4F3A" if protected
                          else None, "protectedSettings": None, "publicSettings": public}
    vm.write_json(root + "RuntimeSettings/0.settings", {"runtimeSettings": [{"handlerSettings": hs}]})
    folder = f"C:\\Packages\\Plugins\\{ext}\\{ver}"
    vm.write_json(root + "HandlerEnvironment.json", [{"version": 1.0, "name": ext, "handlerEnvironment": {
        "logFolder": f"C:\\WindowsAzure\\Logs\\Plugins\\{ext}\\{ver}", "configFolder": f"{folder}\\RuntimeSettings",
        "statusFolder": f"{folder}\\Status", "heartbeatFile": f"{folder}\\Status\\HeartBeat.Json"}}])
    if status is not None:
        vm.write_json(root + "Status/0.status", status)
    if log is not None:
        name, lines = log
        vm.write(f"C/WindowsAzure/Logs/Plugins/{ext}/{ver}/{name}", "".join(line + "\r\n" for line in lines))


def kv_line(t: dt.datetime, level: str, component: str, message: str) -> str:
    """akvvm_service log line (azure-docs#66632/#109667 layout)."""
    return f"{t:%Y-%m-%d %H:%M:%S}: <{level}> [{component}]\t{message}"


def kv_start(t: dt.datetime) -> list[str]:
    """The service start-up lines, verbatim from azure-docs#66632 / #109667 (version and paths ours)."""
    return [kv_line(t, "info", "Global", "Initializing file-based logging, sending file logs to "
                    f"C:\\WindowsAzure\\Logs\\Plugins\\{KV}\\{KV_VER}"),
            kv_line(t, "info", "VMExtension", "Starting extension"),
            kv_line(t, "debug", "CertificateManagementConfiguration", "Found v3.x configuration with ACL"),
            kv_line(t, "info", "KVWinService", "Service Starting..."),
            kv_line(t, "info", "CertificateManager", "Entering worker loop.."),
            kv_line(t, "info", "CertificateManager", "Starting refreshing observed certificates...")]


def kv_refresh(t: dt.datetime, url: str, error: str | None = None) -> list[str]:
    """One refresh: `Beginning refresh for:` (azure-docs#66632) and, on failure, `Refreshing '<url>' failed with
    exception: ...` (azure-docs#109667). A successful refresh's own wording is not documented: none is written."""
    out = [kv_line(t, "info", "CertificateManager", f"Beginning refresh for: {url}"),
           kv_line(t, "info", "WindowsCertificateStore", "attempting to open store 'LocalMachine\\MY'")]
    if error:
        out.append(kv_line(t + dt.timedelta(seconds=1), "error", "CertificateManager",
                           f"Refreshing '{url}/' failed with exception: {error}"))
    return out


def kv_settings(urls: list[str] | None = None, *, location: str = "LocalMachine", initial_sync: bool | None = None,
                auth: dict | None = None) -> dict:
    """3.x schema (Key Vault extension article)."""
    sms: dict[str, Any] = {"pollingIntervalInS": "3600", "linkOnRenewal": True}
    if initial_sync is not None:
        sms["requireInitialSync"] = initial_sync
    sms["observedCertificates"] = [{"url": u, "certificateStoreName": "MY", "certificateStoreLocation": location,
                                    "accounts": ["Network Service"]}
                                   for u in (urls or [f"https://{VAULT}.vault.azure.net/secrets/web-tls"])]
    out: dict[str, Any] = {"secretsManagementSettings": sms}
    if auth is not None:
        out["authenticationSettings"] = auth
    return out


#: The KV status shape of azure-docs#49224 (version "1.0", lang "en"); the success wording is not documented.
def kv_status(t: dt.datetime, status: str = "success", message: str = "Successfully started the service.",
              operation: str = "Service start.") -> list:
    return [{"status": {"code": 0, "formattedMessage": {"lang": "en", "message": message}, "operation": operation,
                        "status": status}, "timestampUTC": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "version": "1.0"}]


def keyvault(vm, public: Any, *, status: list | None = None, log: list[str] | None = None) -> None:
    add_extension(vm, KV, KV_VER, public, status=status,
                  log=(KV_LOG.rsplit("/", 1)[1], log) if log is not None else None)


def cse_substatus(vm, *, stdout: str = "", stderr: str = "", status: str | None = None, code: int | None = None,
                  message: str | None = None) -> None:
    doc = vm.json(CSE_STATUS)
    st = doc[0]["status"]
    for sub in st["substatus"]:
        if sub["name"] == "StdOut":
            sub["formattedMessage"]["message"] = stdout
        if sub["name"] == "StdErr":
            sub["formattedMessage"]["message"] = stderr
    if status is not None:
        st["status"] = status
    if code is not None:
        st["code"] = code
    if message is not None:
        st["formattedMessage"]["message"] = message
    vm.write_json(CSE_STATUS, doc)


def ps_error(body: str, url: str) -> str:
    """How Windows PowerShell 5.1 writes an Invoke-RestMethod error (formats doc §11 layout), with IMDS's body as
    the message."""
    return (f"Invoke-RestMethod : {body}\r\n"
            "At C:\\Packages\\Plugins\\Microsoft.Compute.CustomScriptExtension\\1.10.15\\Downloads\\0\\get-tags.ps1:3 "
            "char:9\r\n"
            f"+ $tags = Invoke-RestMethod -Uri \"{url[:70]} ...\r\n"
            "+         ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\r\n"
            "    + CategoryInfo          : InvalidOperation: (System.Net.HttpWebRequest:HttpWebRequest) "
            "[Invoke-RestMethod], WebExc \r\n"
            "   eption\r\n"
            "    + FullyQualifiedErrorId : WebCmdletWebResponseException,"
            "Microsoft.PowerShell.Commands.InvokeRestMethodCommand\r\n")


def attested(vm, *, nonce_sent: str | None, nonce_signed: str, created: dt.datetime, fetched: dt.datetime,
             lifetime: dt.timedelta = dt.timedelta(hours=6), names: tuple[str, ...] | None = None,
             vm_id: str = HEALTHY_VM_ID, tamper: bool = False, host: str = "169.254.169.254") -> None:
    doc = ah.document(nonce_signed, created, lifetime=lifetime, vm_id=vm_id)
    der = ah.sign(doc, ah.cert(names) if names else None)
    if tamper:
        der = ah.tamper(der, b'"sku":"2022-datacenter-azure-edition"', b'"sku":"2022-datacenter-azure-editiom"')
    vm.write_json("probes/imds_attested.json", ah.envelope(der, nonce=nonce_sent, time=fetched, host=host))


def attested_failed(vm, host: str = "169.254.169.253") -> None:
    env = {"url": f"http://{host}/metadata/attested/document?api-version=2020-09-01&nonce=7319450281",
           "status": None, "headers": {}, "body": "",
           "error": "Unable to connect to the remote server ---> A connection attempt failed because the connected "
                    f"party did not properly respond after a period of time, or established connection failed because "
                    f"connected host has failed to respond {host}:80",
           "elapsed_ms": 21004.7, "time": "2024-03-08T10:14:50.312Z", "nonce": "7319450281"}
    vm.write_json("probes/imds_attested.json", env)


def signature_of(vm) -> str:
    return json.loads(vm.json("probes/imds_attested.json")["body"])["signature"]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
