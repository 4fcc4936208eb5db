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
KEYVAULT_BUNDLE = "../sample_logs/keyvault-legacy-msi"

# %%
import kit
from kit import plots
from kit.diagnose.extensions import budget_for, handler_runs

bundle = kit.open_bundle(BUNDLE)
findings = kit.diagnose(bundle)
findings[findings["family"] == "extensions"][["severity", "code", "summary"]]

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
# ## Fix and verify
# * Make the script non-interactive and bounded (no prompts, no `Read-Host`, installers with their silent
#   switches, explicit timeouts on downloads); move long work into a scheduled task that the extension only
#   registers and starts.
# * Re-run with a new sequence number: `Set-AzVMCustomScriptExtension ... -ForceRerun (Get-Date).Ticks`
#   (or a new `forceUpdateTag`).
# * Verify: collect a new bundle; the status must reach `success` within the budget and this notebook must show
#   no `EXTENSION_TIMEOUT`.

# %% [markdown]
# ## Extension lifecycle: what else fails, and how to read it
# Each code in a few lines, with its fix (the finding's `remediation` column has the full text).
#
# * **`EXTENSION_OS_UNSUPPORTED`** - the handler reported **error code 51**: this extension (or the version the VM
#   got) does not support this OS. Retrying does not help: pin a `typeHandlerVersion` that supports the OS (Key Vault
#   4.0 does not install on Windows Server 2019 or older) or move the workload, then remove the failed extension.
#   [VM extensions on Windows](https://learn.microsoft.com/en-us/azure/virtual-machines/extensions/features-windows)
# * **`EXTENSION_BLOCKED_BY_FAILED_EXTENSION`** - "if there's an existing extension with a failed provisioning
#   state, any other new extension fails to install": the kit sees a failed status and, after it, extensions that
#   reached the VM but never ran. Fix or `Remove-AzVMExtension` the failed one first, then re-run the others.
#   [VM extensions on Windows](https://learn.microsoft.com/en-us/azure/virtual-machines/extensions/features-windows)
# * **`EXTENSION_FAILED` with "Finished executing command"** - for Custom Script that message only says the command
#   ran; `ProvisioningState/failed/<code>` is the verdict even when the StdOut/StdErr substatuses say "succeeded".
#   The kit shows the StdErr text: that is the error to fix.
#   [Troubleshoot extensions](https://learn.microsoft.com/en-us/azure/virtual-machines/extensions/troubleshoot)
# * **`AGENT_CERTIFICATE_ERROR` and protected settings** - protected settings are encrypted to the "Windows Azure CRP
#   Certificate Generator" certificate the agent installs in LocalMachine\My; when the agent cannot get or install
#   it, the finding names the extensions whose protected settings cannot be decrypted. Restore the crypto services
#   and the MachineKeys ACLs, restart the agent.
#   [Troubleshoot the agent](https://learn.microsoft.com/en-us/troubleshoot/azure/virtual-machines/windows/windows-azure-guest-agent)
#
# **Auto-upgrades** are in WaAppAgent.log (`Getting plugin locations for plugin '...'. Current Version: 'x', Requested
# Version: 'y'`, then `Auto-Upgrade mode. Highest public version ...`); `kit.derived.extension_history` turns them into
# rows and the timeline marks them with triangles.

# %%
from kit.derived import extension_history, keyvault_certificates

kb = kit.open_bundle(KEYVAULT_BUNDLE)
extension_history(kb.agent_log)[["ts", "extension", "from_version", "to_version", "auto_upgrade", "change"]]

# %%
plots.extension_operations(kb);

# %% [markdown]
# ## The Key Vault VM extension
# `Microsoft.Azure.KeyVault.KeyVaultForWindows` installs certificates from Key Vault and keeps them fresh. Its public
# settings are read into `keyvault_certificates` (one row per observed certificate); its service log,
# `C:\WindowsAzure\Logs\Plugins\Microsoft.Azure.KeyVault.KeyVaultForWindows\<version>\akvvm_service_*.log`, is in
# `handler_log` (layout `akvvm`). All five codes link to the
# [Key Vault VM extension for Windows](https://learn.microsoft.com/en-us/azure/virtual-machines/extensions/key-vault-windows)
# article.
#
# * **`KEYVAULT_SETTINGS_MALFORMED`** - "Failed to parse the configuration settings with:not an object": the settings
#   arrived as an escaped JSON string (PowerShell passed a string). Build them as a hashtable and pass `-Settings`.
# * **`KEYVAULT_CERT_URL_INVALID`** - observed certificates must be `https://<vault>.vault.azure.net/secrets/<name>`;
#   `/certificates/` returns the certificate without its private key. Use the secret identifier.
# * **`KEYVAULT_MSI_SETTINGS_INVALID`** - `msiClientId` needs `msiEndpoint`; a VM with user-assigned identities needs
#   `msiClientId`; `certificateStoreLocation` is exactly `LocalMachine` or `CurrentUser` (case-sensitive).
# * **`KEYVAULT_INITIAL_SYNC_BLOCKING`** - with `requireInitialSync` the extension stays transitioning until every
#   certificate is installed and the extensions after it wait; with a system-assigned identity granted vault access
#   in the same template this is a deadlock. Use a pre-authorised user-assigned identity.
# * **`KEYVAULT_CERT_DOWNLOAD_FAILED`** - the log's failures, sorted into access (403: role or access policy),
#   identity (no token), network (name resolution, timeouts) - each with its fix.

# %%
keyvault_certificates(kb.ext_settings)[["extension", "ext_version", "cert_index", "url", "url_problem",
                                        "certificate_store_location", "require_initial_sync", "msi_endpoint"]]

# %%
kf = kit.diagnose(kb)
kf[kf["family"].isin(["extensions", "keyvault", "identity"])][["severity", "code", "summary"]]

# %%
kvlog = kb.handler_log
kvlog[(kvlog["layout"] == "akvvm") & (kvlog["level"] >= "WARN")][["line", "ts", "level", "message"]].tail(5)

