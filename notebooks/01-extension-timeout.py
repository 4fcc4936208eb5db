# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
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
VERIFY_HOST = ""  # the VM's address: probe it now after a fix (vmkit probe); "" = do not
VERIFY_WATCH_MINUTES = 0  # > 0: watch the VM's reachability that long while the change is made
VERIFY_AFTER = None  # a bundle collected after the fix, to compare with; None = none
USER = ""  # WinRM user for VERIFY_HOST (password: VMKIT_PASSWORD, keyring, or a prompt)

# %%
import kit
import kit.notebook
from kit import plots

BUNDLE = kit.notebook.setup(BUNDLE)  # whole text in tables; the bundle path found wherever this runs from
KEYVAULT_BUNDLE = kit.notebook.find_bundle(KEYVAULT_BUNDLE)

bundle = kit.open_bundle(BUNDLE)
findings = kit.diagnose(bundle)
kit.notebook.show(findings[findings["family"].isin(["extensions", "keyvault", "identity", "hci"])],
                  "no extension finding in this bundle", columns=["severity", "code", "summary"])

# %% [markdown]
# ## Step 1 - Which extensions are there, and what did they last report?
# `ext_status` is the newest status file of each extension: `transitioning` means it has not finished.

# %%
kit.notebook.show(bundle.ext_status, "no extension .status files in this bundle",
                  columns=["extension", "ext_version", "seq", "timestamp", "operation", "status", "code", "message"])

# %% [markdown]
# ## Step 2 - Each operation against its budget
# `extension_operations` is one row per operation, reconciled from the handler log, the status files, the
# aggregate-status snapshots and the agent's own "has not exited on time! Killing it" line: how its end is known
# (`end_basis`), its outcome, its budget, and where sources disagree. `EXTENSION_TIMEOUT` is read from this frame.
# In the plot the dotted box is the time budget; `X` marks a run the agent killed, `>` one still running at
# collection, `!` sources that disagree.

# %%
plots.extension_operations(bundle);

# %%
kit.notebook.show(bundle.extension_operations, "no extension operation in this bundle (no handler log, status "
                  "file or aggregate status)",
                  columns=["extension", "version", "operation", "seq", "start", "end", "end_basis", "outcome",
                           "elapsed_min", "budget_min", "running_at_collection", "disagreement"])

# %% [markdown]
# ## Step 3 - What was the handler doing when it went quiet?
# The last records of each handler log, exactly as written (file and line shown so you can quote them).

# %%
log = bundle.handler_log
kit.notebook.show(log.sort_values(["source", "line"]).groupby("source").tail(5), "no extension handler log in this "
                  "bundle", columns=["source", "line", "ts", "level", "message"])

# %% [markdown]
# ## Step 4 - The evidence the kit used

# %%
from kit.diagnose import evidence_frame

kit.notebook.show(evidence_frame(findings[findings["family"] == "extensions"]),
                  "no extension finding, so no evidence to show")

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

display(kit.notebook.show(catalog_frame(codes=["EXTENSION_OS_UNSUPPORTED", "EXTENSION_BLOCKED_BY_FAILED_EXTENSION"]),
                          "not in the catalog", columns=["code", "severity", "title", "remediation", "docs"], title="extensions"))
for family in ("keyvault", "identity", "hci"):
    display(kit.notebook.show(catalog_frame(family=family), "no code in this family", columns=["code", "severity", "title", "remediation", "docs"], title=family))
kit.notebook.show(findings[findings["family"].isin(["keyvault", "identity", "hci"])],
                  "no Key Vault, identity or HCI finding in this bundle", columns=["severity", "code", "summary"])

# %% [markdown]
# Key Vault extension settings on this VM (empty when it has none), as the kit read them:

# %%
settings = bundle.ext_settings
kit.notebook.show(settings[settings["extension"].str.contains("KeyVault|ManagedIdentity", na=False)]
                  if not settings.empty else None, "no Key Vault or managed identity extension settings in this bundle",
                  columns=["extension", "ext_version", "seq", "public_settings"])

# %% [markdown]
# ## Fix and verify
# * Make the script non-interactive and bounded (no prompts, no `Read-Host`, installers with their silent
#   switches, explicit timeouts on downloads); move long work into a scheduled task that the extension only
#   registers and starts.
# * Re-run with a new sequence number: `Set-AzVMCustomScriptExtension ... -ForceRerun (Get-Date).Ticks`
#   (or a new `forceUpdateTag`).
# * Verify: compare with a bundle collected after the re-run (below): the status must reach `success` within
#   the budget and `EXTENSION_TIMEOUT` must be listed as resolved.

# %% [markdown]
# ### Verify now: probe, watch, compare
# Instead of collecting again: set `VERIFY_HOST` (parameters cell) to probe the VM in seconds - with
# `VERIFY_WATCH_MINUTES` above 0 the reachability plot updates while the customer makes the change - or
# `VERIFY_AFTER` to a bundle collected after it. The kit lists the findings the change **resolved**, those it
# introduced and those still there, each with the changed fact as evidence (`kit.compare`, `vmkit diff`,
# `vmkit probe HOST --watch`; docs/live.md).

# %%
comparison = kit.notebook.verify(bundle, host=VERIFY_HOST, after=VERIFY_AFTER, watch_minutes=VERIFY_WATCH_MINUTES,
                                 user=USER or None)

# %% [markdown]
# ## Step 6 - A closer look: version history, the Key Vault extension's own files, attested data
# Step 5 lists the codes; these complete it, each with its fix and article:
#
# * **`EXTENSION_FAILED` with "Finished executing command"** - for Custom Script that message only says the command
#   ran; `ProvisioningState/failed/<code>` is the verdict even when the StdOut/StdErr substatuses say "succeeded".
#   The kit shows the StdErr text: that is the error to fix.
#   [Troubleshoot extensions](https://learn.microsoft.com/en-us/azure/virtual-machines/extensions/troubleshoot)
# * **`AGENT_CERTIFICATE_ERROR` and protected settings** - protected settings are encrypted to the "Windows Azure CRP
#   Certificate Generator" certificate the agent installs in LocalMachine\My; when the agent cannot get or install
#   it, the finding names the extensions whose protected settings cannot be decrypted. Restore the crypto services
#   and the MachineKeys ACLs, restart the agent.
#   [Troubleshoot the agent](https://learn.microsoft.com/en-us/troubleshoot/azure/virtual-machines/windows/windows-azure-guest-agent)
# * **`KEYVAULT_CERT_DOWNLOAD_FAILED`** - the Key Vault extension's log shows certificate refreshes that keep failing,
#   sorted into access (403: grant the Key Vault Secrets User role or a get/list secrets policy), identity (no token:
#   set msiClientId, reach IMDS) and network (name resolution, timeouts: open HTTPS to the vault).
#   [Key Vault VM extension](https://learn.microsoft.com/en-us/azure/virtual-machines/extensions/key-vault-windows)
# * **`IMDS_REQUESTS_FAILED`** - a log, a status or a script's StdErr quotes IMDS rejecting a request: no
#   `Metadata: true` (400), no api-version (400 with newest-versions), too many requests (429: 5 per second; tokens 20
#   per second and 5 at once), 410 (retry up to 70 s), 500 (retry after at least 1 s), `X-Forwarded-For`, a proxy.
#   [IMDS](https://learn.microsoft.com/en-us/azure/virtual-machines/instance-metadata-service)
#
# **Auto-upgrades** are in WaAppAgent.log (`Getting plugin locations for plugin '...'. Current Version: 'x', Requested
# Version: 'y'`, then `Auto-Upgrade mode. Highest public version ...`); `kit.derive.history.extension_history` turns them into
# rows and the timeline marks them with triangles.

# %%
from kit.derive.history import extension_history
from kit.derive.keyvault import keyvault_certificates

kb = kit.open_bundle(KEYVAULT_BUNDLE)
kit.notebook.show(extension_history(kb.agent_log), "the agent log records no extension version change",
                  columns=["ts", "extension", "from_version", "to_version", "auto_upgrade", "change"])

# %%
plots.extension_operations(kb);

# %% [markdown]
# The Key Vault extension's public settings, one row per observed certificate (`url_problem` says why a URL cannot
# work), and its service log (`akvvm_service_*.log`, layout `akvvm` in `handler_log`):

# %%
kit.notebook.show(keyvault_certificates(kb.ext_settings), "no Key Vault extension settings in this bundle",
                  columns=["extension", "ext_version", "cert_index", "url", "url_problem",
                           "certificate_store_location", "require_initial_sync", "msi_endpoint"])

# %%
kvlog = kb.handler_log
kit.notebook.show(kvlog[(kvlog["layout"] == "akvvm") & (kvlog["level"] >= "WARN")].tail(5) if not kvlog.empty
                  else None, "no warning or error in the Key Vault service log (or no such log in this bundle)",
                  columns=["line", "ts", "level", "message"])

# %%
kf = kit.diagnose(kb)
kit.notebook.show(kf[kf["family"].isin(["extensions", "keyvault", "identity"])],
                  "no extension, Key Vault or identity finding in this bundle", columns=["severity", "code", "summary"])

# %% [markdown]
# What an attested document holds, decoded offline - the IMDS article's own example, a real IMDS signature. In a
# bundle with `probes/imds_attested.json` the same columns are in `bundle.imds_attestation`, and
# `IMDS_ATTESTATION_INVALID` says what does not hold (signature, signer, nonce, VM id, expiry at collection time).

# %%
from kit.parse import attestation

example = attestation.decode(attestation.IMDS_ARTICLE_EXAMPLE)
{"signed": example.document, "signature_valid": example.signature_valid, "signer": example.signer_names,
 "signer_domain": example.signer_domain, "chain": example.chain}
