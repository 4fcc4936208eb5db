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
# # Extension timeouts, failures and stuck extensions
#
# **How it works.** The guest agent runs each extension's handler (install, enable, ...) as a process and
# waits for it to report a terminal status in `C:\Packages\Plugins\<Publisher.Type>\<version>\Status\<n>.status`.
# Every operation has a **time budget**: **20 minutes**, or **90 minutes** for CustomScriptExtension, DSC and
# Chef. A handler that has not finished by then is failed by the platform ("Timed out waiting for extension ...
# to reach a terminal state") and the deployment that waits on it fails too.
#
# The handler's own log (`C:\WindowsAzure\Logs\Plugins\<Publisher.Type>\<version>\*.log`, lines like
# `[PID+TID] [MM/DD/YYYY HH:MM:SS.ff] [LEVEL] message`) tells when it started and what it was last doing.

# %% tags=["parameters"]
BUNDLE = "../sample_logs/cse-timeout-90min"

# %%
import kit
from kit import plots
from kit.diagnose.extensions import budget_for, handler_runs

bundle = kit.open_bundle(BUNDLE)
findings = kit.diagnose(bundle)
findings[findings["family"].isin(["extensions", "keyvault", "identity", "hci"])][["severity", "code", "summary"]]

# %% [markdown]
# ## Step 1 - Which extensions are there, and what did they last report?
# `ext_status` is the newest status file of each extension: `transitioning` means it has not finished.

# %%
bundle.ext_status[["extension", "ext_version", "seq", "timestamp", "operation", "status", "code", "message"]]

# %% [markdown]
# ## Step 2 - Each handler run against its budget
# One bar per handler process (a PID in the handler log). The dotted box is the time budget; a bar that runs
# past it is a timeout; `x` marks the last sign of life of a run that never logged completion.

# %%
plots.extension_operations(bundle);

# %%
runs = handler_runs(bundle.handler_log)
runs.assign(budget=[budget_for(e) for e in runs["extension"]])[
    ["extension", "ext_version", "operation", "start", "last", "finished", "finished_at", "budget"]]

# %% [markdown]
# ## Step 3 - What was the handler doing when it went quiet?
# The last records of each handler log, exactly as written (file and line shown so you can quote them).

# %%
log = bundle.handler_log
log.sort_values(["source", "line"]).groupby("source").tail(5)[["source", "line", "ts", "level", "message"]]

# %% [markdown]
# ## Step 4 - The evidence the kit used

# %%
from kit.diagnose import evidence_frame

evidence_frame(findings[findings["family"] == "extensions"])

# %% [markdown]
# ## Step 5 - Key Vault, managed identity and the extension lifecycle
# The same bundle answers the questions engineers meet daily around extensions that carry identities:
#
# * `EXTENSION_OS_UNSUPPORTED` - status code **51**: the handler refuses this OS. Pick a handler version that
#   supports it, and remove the failed extension.
# * `EXTENSION_BLOCKED_BY_FAILED_EXTENSION` - one extension is failed and others have settings but never reported
#   a status: new installs do not start while one is failed. Fix or remove the failed one first.
# * `KEYVAULT_SETTINGS_MALFORMED` - "Failed to parse the configuration settings with:not an object": the settings
#   arrived as an escaped JSON string. Pass a hashtable (`-Settings @{...}`) or a JSON object.
# * `KEYVAULT_CERT_URL_INVALID` - observed certificates must be `https://<vault>.vault.azure.net/secrets/<name>`;
#   a `/certificates/` URL has no private key.
# * `KEYVAULT_MSI_SETTINGS_INVALID` - `msiClientId` needs `msiEndpoint`; `certificateStoreLocation` must be exactly
#   `LocalMachine` or `CurrentUser`.
# * `KEYVAULT_INITIAL_SYNC_BLOCKING` - `requireInitialSync: true` and the extension still transitioning: later
#   extensions wait (the deadlock with a system-assigned identity created in the same template).
# * `LEGACY_MSI_EXTENSION` - the deprecated Managed Identity extension (`localhost:50342`): get tokens from IMDS
#   `/metadata/identity/oauth2/token` instead.
# * `IMDS_ATTESTATION_INVALID` - the attested document (`/metadata/attested/document`, collected with a nonce) is
#   checked offline: PKCS#7 signature, signer `metadata.azure.com` (or the sovereign-cloud names), nonce, expiry.
#   A foreign signer means something other than IMDS answered.
# * `HCI_IMDS_NIC_MISSING_OR_MODIFIED` - on Azure Stack HCI with legacy OS support, IMDS is reached through the
#   `AZSHCI_GUEST-IMDS_DO_NOT_MODIFY` adapter: re-enable legacy OS support to restore it (Gen 1 VMs: turned off).
#
# The catalog holds each one's fix and Microsoft's article:

# %%
from IPython.display import display

from kit.catalog import catalog_frame

display(catalog_frame(codes=["EXTENSION_OS_UNSUPPORTED", "EXTENSION_BLOCKED_BY_FAILED_EXTENSION"]))
for family in ("keyvault", "identity", "hci"):
    display(catalog_frame(family=family))
findings[findings["family"].isin(["keyvault", "identity", "hci"])][["severity", "code", "summary"]]

# %% [markdown]
# Key Vault extension settings on this VM (empty when it has none), as the kit read them:

# %%
settings = bundle.ext_settings
settings[settings["extension"].str.contains("KeyVault|ManagedIdentity", na=False)][
    ["extension", "ext_version", "seq", "public_settings"]]

# %% [markdown]
# ## Fix and verify
# * Make the script non-interactive and bounded (no prompts, no `Read-Host`, installers with their silent
#   switches, explicit timeouts on downloads); move long work into a scheduled task that the extension only
#   registers and starts.
# * Re-run with a new sequence number: `Set-AzVMCustomScriptExtension ... -ForceRerun (Get-Date).Ticks`
#   (or a new `forceUpdateTag`).
# * Verify: collect a new bundle; the status must reach `success` within the budget and this notebook must show
#   no `EXTENSION_TIMEOUT`.
