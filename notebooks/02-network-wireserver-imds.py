# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # WireServer, HostGAPlugin and IMDS connectivity
#
# **How it works.** The agent talks to the platform through one virtual IP, **168.63.129.16**:
# * port **80** - *WireServer*: goal state, certificates, extension configuration, health;
# * port **32526** - *HostGAPlugin*: extension packages, vmSettings, status and log upload.
#
# Workloads and extensions (Key Vault, managed identity tokens) use **IMDS** at **169.254.169.254:80**, reachable
# only from the primary NIC's primary IP, with the header `Metadata: true` and never through a proxy.
#
# 168.63.129.16 is a host-node address: NSGs and user-defined routes do not block it. When the agent cannot reach
# it, the cause is almost always **inside the guest**: a firewall rule, a proxy, endpoint protection, a route.

# %% tags=["parameters"]
BUNDLE = "../sample_logs/firewall-blocks-32526"
IDENTITY_BUNDLE = "../sample_logs/keyvault-legacy-msi"

# %%
import kit
from kit import plots
from kit.parse.firewall_rules import blocking_rules

bundle = kit.open_bundle(BUNDLE)
findings = kit.diagnose(bundle)
findings[findings["family"] == "network"][["severity", "code", "summary"]]

# %% [markdown]
# ## Step 1 - What the VM could reach when the bundle was collected
# The collector connects from the VM itself, several attempts per endpoint. `forbidden` (WSAEACCES, "An attempt
# was made to access a socket in a way forbidden by its access permissions") is the local Windows Filtering
# Platform refusing the connect - a guest firewall; `timeout` is a drop somewhere on the path.

# %%
plots.connectivity(bundle);

# %%
bundle.tcp_probes[["target", "port", "endpoint", "attempt", "ok", "elapsed_ms", "outcome", "error"]]

# %% [markdown]
# ## Step 2 - What the agent itself saw
# The agent's own connection failures, newest last.

# %%
from kit.diagnose._util import match
from kit.diagnose.network import LOG_FAILURES

agent = bundle.agent_log
fails = match(agent, LOG_FAILURES["hostgaplugin"] + "|" + LOG_FAILURES["wireserver"])
fails[["source", "line", "ts", "level", "message"]].tail(10)

# %% [markdown]
# ## Step 3 - Guest firewall rules that cover 168.63.129.16

# %%
rules = bundle.firewall_rules
{port: blocking_rules(rules, "168.63.129.16", port)[["display_name", "remote_address", "remote_port", "program"]]
 for port in (80, 32526)}

# %% [markdown]
# ## Step 4 - Proxy settings and what IMDS answered
# A WinHTTP proxy must bypass 168.63.129.16 and 169.254.169.254; an answer with a proxy's HTML page or a
# `502 (cannotconnect)` reason phrase comes from a proxy, not from the platform.

# %%
bundle.proxy[["scope", "direct", "proxy_server", "bypass", "bypasses_wireserver", "bypasses_imds"]]

# %%
bundle.http_probes[["endpoint", "url", "status", "outcome", "detail", "error"]]

# %% [markdown]
# ## Fix and verify
# * **Firewall**: remove or narrow the outbound block rule so it no longer covers 168.63.129.16 ports 80 and
#   32526 (check the GPO or security baseline that pushes it), then
#   `Test-NetConnection 168.63.129.16 -Port 32526` must show `TcpTestSucceeded : True`.
# * **Proxy**: `netsh winhttp set proxy proxy-server="host:port" bypass-list="<local>;168.63.129.16;169.254.169.254"`
#   or `netsh winhttp reset proxy`; also check machine.config `<defaultProxy>` and client proxies.
# * **IMDS**: `Invoke-RestMethod -Headers @{Metadata="true"} -NoProxy -Uri "http://169.254.169.254/metadata/instance?api-version=2021-02-01"`.
# * Restart the agent (`Restart-Service WindowsAzureGuestAgent`), collect again, and check this notebook shows
#   no network finding.

# %% [markdown]
# ## Managed identity, IMDS's rules, attested data, Azure Stack HCI
# Each code in a few lines, with its fix.
#
# * **`LEGACY_MSI_EXTENSION`** - the Managed Identity VM extension (`ManagedIdentityExtensionForWindows`, tokens from
#   `http://localhost:50342/oauth2/token`) is deprecated. Point every client - including a Key Vault extension's
#   `msiEndpoint` - at IMDS, `http://169.254.169.254/metadata/identity/oauth2/token` with `Metadata: true` and no
#   proxy, then remove the extension. A proxy that answers calls to 127.0.0.1:50342 makes it an error.
#   [Acquire a token on a VM](https://learn.microsoft.com/en-us/entra/identity/managed-identities-azure-resources/how-to-use-vm-token)
# * **`IMDS_REQUESTS_FAILED`** - software on the VM broke one of IMDS's rules, shown when a log, a status or a script's
#   StdErr quotes IMDS's answer: no `Metadata: true` (400), no api-version (400 listing newest-versions), too many
#   requests (429: 5 per second; tokens 20 per second and 5 at once - back off), 410 (retry up to 70 s), 500 (retry
#   after at least 1 s), an `X-Forwarded-For` header (rejected), a proxy that was not bypassed.
#   [IMDS](https://learn.microsoft.com/en-us/azure/virtual-machines/instance-metadata-service)
# * **`IMDS_ATTESTATION_INVALID`** - the collector fetches `/metadata/attested/document` with a nonce; the kit decodes
#   the PKCS#7 signature offline and checks the signature, that the signer is `metadata.azure.com` or a subdomain
#   (`metadata.azure.us`, `.cn`, `microsoftazure.de` in sovereign clouds), the nonce, the VM id and the expiry - at
#   the time the bundle was collected. A foreign signer or a bad signature means something other than IMDS answered.
#   [Attested data](https://learn.microsoft.com/en-us/azure/virtual-machines/instance-metadata-service#attested-data)
# * **`HCI_IMDS_NIC_MISSING_OR_MODIFIED`** - on Azure Stack HCI, VMs with legacy OS support reach the host's
#   attestation endpoint (169.254.169.253) through the NIC `AZSHCI_GUEST-IMDS_DO_NOT_MODIFY`; the kit reports it
#   missing, disconnected, or bypassed by a route. Turn legacy OS support off and on (a Generation 1 VM must be off to
#   get the NIC back). VMs without legacy OS support use VMBus instead and need the Hyper-V Guest Service Interface.
#   [Azure verification for VMs](https://learn.microsoft.com/en-us/azure-stack/hci/deploy/azure-verification)

# %%
ib = kit.open_bundle(IDENTITY_BUNDLE)
idf = kit.diagnose(ib)
idf[idf["family"].isin(["identity", "hci"])][["severity", "code", "summary"]]

# %% [markdown]
# What an attested document holds, decoded offline: the IMDS article's own example (a real IMDS signature). In a
# bundle with `probes/imds_attested.json` the same columns are in `bundle.imds_attestation`.

# %%
from kit import attestation

example = attestation.decode(attestation.IMDS_ARTICLE_EXAMPLE)
{"signed": example.document, "signature_valid": example.signature_valid, "signer": example.signer_names,
 "signer_domain": example.signer_domain, "chain": example.chain}

# %%
ib.imds_attestation[["url", "nonce_sent", "nonce_signed", "vm_id", "expires_on", "signature_valid", "signer_domain",
                     "problems"]]

