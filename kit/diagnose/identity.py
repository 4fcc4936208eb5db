"""Key Vault VM extension and managed-identity rules.

Key Vault extension (Microsoft.Azure.KeyVault.KeyVaultForWindows) public settings, per Microsoft's "Key Vault
virtual machine extension for Windows" article::

    {"secretsManagementSettings": {"pollingIntervalInS": "3600", "certificateStoreName": "MY",
       "certificateStoreLocation": "LocalMachine", "requireInitialSync": true, "linkOnRenewal": false,
       "observedCertificates": ["https://myvault.vault.azure.net/secrets/mycert"]},
     "authenticationSettings": {"msiEndpoint": "http://169.254.169.254/metadata/identity/oauth2/token",
       "msiClientId": "<client id of a user-assigned identity>"}}

Version 3 of the extension also accepts observedCertificates as objects with a ``url`` (and per-certificate store
settings); both shapes are read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

import pandas as pd

from ._util import frame_evidence, log_evidence, match
from .engine import Context
from .model import Evidence, Finding

KEYVAULT = "Microsoft.Azure.KeyVault.KeyVaultForWindows"
LEGACY_MSI = "Microsoft.ManagedIdentity.ManagedIdentityExtensionForWindows"
#: Secret URLs in the public and sovereign clouds: https://<vault>.vault.<suffix>/secrets/<name>[/<version>]
SECRET_URL = re.compile(r"^https://[A-Za-z0-9-]{3,24}\.vault\.(azure\.net|azure\.cn|usgovcloudapi\.net|"
                        r"microsoftazure\.de)(:443)?/secrets/[A-Za-z0-9-]{1,127}(/[0-9a-fA-F]{32})?/?$")
NOT_AN_OBJECT = r"Failed to parse the configuration settings with\s*:\s*not an object"
CERT_DOWNLOAD_FAILED = (r"(?i)(failed|unable|error)[^\n]{0,80}(download|retriev|get)[^\n]{0,40}(certificate|secret)"
                        r"|(?i)(Forbidden|Unauthorized|AccessDenied|does not have secrets get permission)")
LOCALHOST_50342 = r"(?i)(localhost|127\.0\.0\.1):50342"
STORE_LOCATIONS = ("LocalMachine", "CurrentUser")


def _settings(ctx: Context, extension: str) -> pd.DataFrame:
    s = ctx.frame("ext_settings")
    if s.empty:
        return s
    s = s[(s["extension"].str.lower() == extension.lower()).fillna(False).to_numpy(dtype=bool)]
    return s.sort_values(["seq"], na_position="first", kind="stable")


def _doc(row: pd.Series) -> tuple[object, bool]:
    """(publicSettings as Python, passed as an escaped string?)."""
    text = row["public_settings"]
    if not isinstance(text, str):
        return None, False
    try:
        doc = json.loads(text)
    except ValueError:
        return text, True
    escaped = pd.isna(row["public_settings_keys"]) and not isinstance(doc, list)
    return doc, escaped


def _settings_evidence(rows: pd.DataFrame, why: str) -> list[Evidence]:
    out = []
    for _, r in rows.iterrows():
        out.append(Evidence(artifact="ext_settings", text=f"{why}: {str(r['public_settings'])[:400]}",
                            source=r["source"], line=r["line"] if not pd.isna(r["line"]) else None))
    return out


def _kv_logs(ctx: Context) -> pd.DataFrame:
    log = ctx.frame("handler_log")
    if log.empty:
        return log
    return log[(log["extension"].str.lower() == KEYVAULT.lower()).fillna(False).to_numpy(dtype=bool)]


def _latest(ctx: Context, extension: str) -> pd.Series | None:
    st = ctx.frame("ext_status")
    if st.empty:
        return None
    st = st[(st["extension"].str.lower() == extension.lower()).fillna(False).to_numpy(dtype=bool)]
    if st.empty:
        return None
    return st.sort_values(["seq", "timestamp"], na_position="first", kind="stable").iloc[-1]


def keyvault_settings_malformed(ctx: Context) -> Iterable[Finding]:
    rows = _settings(ctx, KEYVAULT)
    escaped = rows[[_doc(r)[1] for _, r in rows.iterrows()]] if not rows.empty else rows
    hits = match(_kv_logs(ctx), NOT_AN_OBJECT)
    if escaped.empty and hits.empty:
        return []
    how = []
    if not escaped.empty:
        how.append("its publicSettings are a JSON string, not an object")
    if not hits.empty:
        how.append(f"its log says \"Failed to parse the configuration settings with:not an object\" "
                   f"({len(hits)}x)")
    return [ctx.finding("KEYVAULT_SETTINGS_MALFORMED", f"The Key Vault extension cannot read its settings: "
                        f"{'; '.join(how)}.",
                        _settings_evidence(escaped.tail(1), "settings passed as a string")
                        + log_evidence(hits, "handler_log", limit=4), explains=hits)]


def _observed(doc: object) -> list[str]:
    if not isinstance(doc, dict):
        return []
    sms = doc.get("secretsManagementSettings")
    if not isinstance(sms, dict):
        return []
    obs = sms.get("observedCertificates") or []
    if isinstance(obs, str):
        obs = [obs]
    urls = []
    for o in obs if isinstance(obs, list) else []:
        if isinstance(o, str):
            urls.append(o)
        elif isinstance(o, dict) and isinstance(o.get("url"), str):
            urls.append(o["url"])
    return urls


def keyvault_cert_url(ctx: Context) -> Iterable[Finding]:
    rows = _settings(ctx, KEYVAULT)
    if rows.empty:
        return []
    last = rows.iloc[-1]
    doc, _ = _doc(last)
    if isinstance(doc, str):  # escaped settings: read what they hold
        try:
            doc = json.loads(doc)
        except ValueError:
            doc = None
    bad = [u for u in _observed(doc) if not SECRET_URL.match(u.strip())]
    if not bad:
        return []
    kinds = ["a /certificates/ URL (no private key)" if "/certificates/" in u else "not a vault secret URL"
             for u in bad]
    summary = "; ".join(f"'{u}' is {k}" for u, k in zip(bad, kinds, strict=True))
    return [ctx.finding("KEYVAULT_CERT_URL_INVALID", f"Key Vault extension observedCertificates: {summary}.",
                        _settings_evidence(rows.tail(1), "observedCertificates"))]


def keyvault_msi_settings(ctx: Context) -> Iterable[Finding]:
    rows = _settings(ctx, KEYVAULT)
    if rows.empty:
        return []
    doc, _ = _doc(rows.iloc[-1])
    if isinstance(doc, str):
        try:
            doc = json.loads(doc)
        except ValueError:
            doc = None
    if not isinstance(doc, dict):
        return []
    problems = []
    auth = doc.get("authenticationSettings")
    if isinstance(auth, dict) and auth.get("msiClientId") and not auth.get("msiEndpoint"):
        problems.append("authenticationSettings has msiClientId but no msiEndpoint")
    sms = doc.get("secretsManagementSettings")
    locations = []
    if isinstance(sms, dict):
        locations.append(sms.get("certificateStoreLocation"))
        for o in sms.get("observedCertificates") or []:
            if isinstance(o, dict):
                locations.append(o.get("certificateStoreLocation"))
    for loc in locations:
        if loc is not None and loc not in STORE_LOCATIONS:
            problems.append(f"certificateStoreLocation is '{loc}', expected exactly LocalMachine or CurrentUser")
    if not problems:
        return []
    return [ctx.finding("KEYVAULT_MSI_SETTINGS_INVALID", "Key Vault extension settings: " + "; ".join(
        dict.fromkeys(problems)) + ".", _settings_evidence(rows.tail(1), "settings"))]


def keyvault_initial_sync(ctx: Context) -> Iterable[Finding]:
    rows = _settings(ctx, KEYVAULT)
    if rows.empty:
        return []
    doc, _ = _doc(rows.iloc[-1])
    sms = doc.get("secretsManagementSettings") if isinstance(doc, dict) else None
    if not isinstance(sms, dict) or sms.get("requireInitialSync") not in (True, "true", "True"):
        return []
    latest = _latest(ctx, KEYVAULT)
    if latest is None or latest["status"] != "transitioning":
        return []
    failures = match(_kv_logs(ctx), CERT_DOWNLOAD_FAILED)
    ev = frame_evidence(pd.DataFrame([latest]), "ext_status", ["extension", "ext_version", "seq", "status",
                                                               "message"], ts="timestamp")
    ev += log_evidence(failures, "handler_log", limit=6)
    why = (f"; its log shows {len(failures)} certificate download failures (access policy, identity or network)"
           if not failures.empty else "")
    return [ctx.finding("KEYVAULT_INITIAL_SYNC_BLOCKING",
                        "The Key Vault extension has requireInitialSync true and is still transitioning: it has not "
                        f"downloaded every observed certificate, and extensions sequenced after it wait{why}.", ev,
                        explains=failures)]


def legacy_msi(ctx: Context) -> Iterable[Finding]:
    ev: list[Evidence] = []
    for name in ("ext_settings", "ext_status", "handler_manifest"):
        df = ctx.frame(name)
        if df.empty or "extension" not in df:
            continue
        hit = df[(df["extension"].str.lower() == LEGACY_MSI.lower()).fillna(False).to_numpy(dtype=bool)]
        if not hit.empty:
            ev += frame_evidence(hit.tail(1), name, ["extension", "ext_version"])
    calls = pd.concat([match(ctx.frame("agent_log"), LOCALHOST_50342).assign(_a="agent_log"),
                       match(ctx.frame("handler_log"), LOCALHOST_50342).assign(_a="handler_log")])
    if not ev and calls.empty:
        return []
    proxy_note = ""
    px = ctx.frame("proxy")
    if not px.empty:
        for _, r in px.iterrows():
            server, bypass = r.get("proxy_server"), r.get("bypass")
            if isinstance(server, str) and server.strip() and not (
                    isinstance(bypass, str) and re.search(r"<local>|127\.0\.0\.1|localhost", bypass, re.I)):
                proxy_note = (f" The WinHTTP proxy {server.strip()} has no bypass for 127.0.0.1/localhost, so token "
                              "requests to 127.0.0.1:50342 go to the proxy.")
                ev += frame_evidence(pd.DataFrame([r]), "proxy", ["proxy_server", "bypass"])
                break
    for a, g in calls.groupby("_a", sort=False):
        ev += log_evidence(g, str(a), limit=4)
    installed = any(e.artifact in ("ext_settings", "ext_status", "handler_manifest") for e in ev)
    what = ("ManagedIdentityExtensionForWindows is installed" if installed
            else "something on the VM still calls the legacy extension's token endpoint")
    seen = f"; {len(calls)} calls to localhost:50342 in the logs" if not calls.empty else ""
    return [ctx.finding("LEGACY_MSI_EXTENSION", f"{what} (deprecated{seen}).{proxy_note}", ev, explains=calls)]


def _attested_rows(ctx: Context) -> pd.DataFrame:
    http = ctx.frame("http_probes")
    if http.empty:
        return http
    return http[http["path"].str.contains("/metadata/attested/", case=False, na=False).to_numpy(dtype=bool)]


def imds_attestation(ctx: Context) -> Iterable[Finding]:
    """Decode the attested document offline and check signature, signer, nonce and expiry (kit.attestation)."""
    from urllib.parse import parse_qs, urlsplit

    from ..attestation import check

    rows = _attested_rows(ctx)
    ok = rows[(rows["status"] == 200).fillna(False).to_numpy(dtype=bool)] if not rows.empty else rows
    out = []
    ref = ctx.time_reference
    for _, r in ok.iterrows():
        nonce = parse_qs(urlsplit(str(r["url"])).query).get("nonce", [None])[0]
        res = check(str(r["body"]), nonce=nonce, at=ref.to_pydatetime() if ref is not None else None)
        if res.ok:
            continue
        doc = res.document or {}
        shown = ", ".join(f"{k}={doc[k]}" for k in ("vmId", "sku", "subscriptionId") if doc.get(k))
        ev = frame_evidence(pd.DataFrame([r]), "http_probes", ["url", "status"], ts="time")
        ev.append(Evidence(artifact="attestation", text=f"signed: {shown or 'nothing readable'}; signer: "
                           f"{res.signer_subject}; problems: {'; '.join(res.problems)}", source=r["source"]))
        out.append(ctx.finding("IMDS_ATTESTATION_INVALID", "The IMDS attested document does not hold: "
                               + "; ".join(res.problems) + ".", ev))
    return out


HCI_ADAPTER = "AZSHCI_GUEST-IMDS_DO_NOT_MODIFY"
HCI_MARKER = r"(?i)AZSHCI|Azure Stack HCI|AzureStackHCI"


def hci_imds_nic(ctx: Context) -> Iterable[Finding]:
    """Azure Stack HCI VMs with legacy OS support reach IMDS through the AZSHCI_GUEST-IMDS_DO_NOT_MODIFY NIC."""
    from ..routing import effective_route

    adapters = ctx.frame("adapters")
    nic = adapters[(adapters["adapter"].str.upper().str.contains(HCI_ADAPTER, regex=False, na=False)
                    | adapters["description"].str.upper().str.contains(HCI_ADAPTER, regex=False, na=False)
                    ).to_numpy(dtype=bool)] if not adapters.empty else adapters
    logs = pd.concat([ctx.frame("agent_log"), ctx.frame("handler_log")])
    marker = match(logs, HCI_MARKER) if not logs.empty else logs
    if nic.empty and marker.empty:
        return []  # not recognisably an Azure Stack HCI VM
    att = _attested_rows(ctx)
    failed = att[~(att["status"] == 200).fillna(False).to_numpy(dtype=bool)] if not att.empty else att
    imds_rows = ctx.frame("http_probes")
    imds_rows = imds_rows[(imds_rows["endpoint"] == "imds").to_numpy(dtype=bool)] if not imds_rows.empty else imds_rows
    imds_down = not imds_rows.empty and not (imds_rows["status"] == 200).fillna(False).any()
    if failed.empty and not imds_down:
        return []
    problems: list[str] = []
    ev: list[Evidence] = []
    if nic.empty:
        problems.append(f"the {HCI_ADAPTER} adapter is absent or disabled (not in ipconfig /all)")
        ev += log_evidence(marker, "log", limit=2)
    else:
        row = nic.iloc[0]
        ev += frame_evidence(nic.head(1), "adapters", ["adapter", "description", "media_state", "ipv4_count"])
        if isinstance(row["media_state"], str) and "disconnected" in row["media_state"].lower():
            problems.append(f"the {HCI_ADAPTER} adapter is disconnected")
        ips = ctx.frame("ip_addresses")
        mine = set(ips[(ips["adapter"] == row["adapter"]).fillna(False).to_numpy(dtype=bool)]["address"]) \
            if not ips.empty else set()
        route = effective_route(ctx.frame("routes"), "169.254.169.254")
        if route is None:
            problems.append("there is no route to 169.254.169.254")
        elif mine and route["interface"] not in mine:
            problems.append(f"the route to 169.254.169.254 leaves through {route['interface']}, not through the "
                            f"{HCI_ADAPTER} adapter ({', '.join(sorted(mine))})")
            ev += frame_evidence(pd.DataFrame([route]), "routes", ["destination", "gateway", "interface", "metric"])
    if not problems:
        return []
    ev += frame_evidence(failed, "http_probes", ["url", "status", "error"], ts="time")
    return [ctx.finding("HCI_IMDS_NIC_MISSING_OR_MODIFIED", "Azure Stack HCI VM: attested IMDS requests fail and "
                        + "; ".join(problems) + ".", ev)]


RULES = [keyvault_settings_malformed, keyvault_cert_url, keyvault_msi_settings, keyvault_initial_sync, legacy_msi,
         imds_attestation, hci_imds_nic]
