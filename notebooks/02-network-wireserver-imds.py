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
VERIFY_HOST = ""  # the VM's address: probe it now after a fix (vmkit probe); "" = do not
VERIFY_WATCH_MINUTES = 0  # > 0: watch the VM's reachability that long while the change is made
VERIFY_AFTER = "../sample_logs/healthy"  # a bundle collected after the fix, to compare with; None = none
USER = ""  # WinRM user for VERIFY_HOST (password: VMKIT_PASSWORD, keyring, or a prompt)

# %%
import kit
import kit.notebook
from kit import plots

BUNDLE = kit.notebook.setup(BUNDLE)  # whole text in tables; the bundle path found wherever this runs from
from kit.parse.firewall_rules import blocking_rules

bundle = kit.open_bundle(BUNDLE)
findings = kit.diagnose(bundle)
kit.notebook.show(findings[findings["family"] == "network"], "no network finding in this bundle (00-start-here's "
                  "info notes say what could not be checked)", columns=["severity", "code", "summary"])

# %% [markdown]
# ## Step 1 - What the VM could reach when the bundle was collected
# The collector connects from the VM itself, several attempts per endpoint. `forbidden` (WSAEACCES, "An attempt
# was made to access a socket in a way forbidden by its access permissions") is the local Windows Filtering
# Platform refusing the connect - a guest firewall; `timeout` is a drop somewhere on the path.

# %%
plots.connectivity(bundle);

# %%
kit.notebook.show(bundle.tcp_probes, "no TCP probes in this bundle: `vmkit collect` runs them from the VM; a "
                  "log-only bundle has none",
                  columns=["target", "port", "endpoint", "attempt", "ok", "elapsed_ms", "outcome", "error"])

# %% [markdown]
# ## Step 2 - What the agent itself saw
# The agent's own connection failures, newest last.

# %%
from kit.diagnose._util import match
from kit.diagnose.network import LOG_FAILURES

agent = bundle.agent_log
fails = match(agent, LOG_FAILURES["hostgaplugin"] + "|" + LOG_FAILURES["wireserver"])
kit.notebook.show(fails.tail(10), "no agent log in this bundle" if agent.empty else
                  f"none of the agent log's {len(agent)} records is a WireServer or HostGAPlugin connection failure",
                  columns=["source", "line", "ts", "level", "message"])

# %% [markdown]
# ## Step 3 - Guest firewall rules that cover 168.63.129.16

# %%
from IPython.display import display

rules = bundle.firewall_rules
if not rules.empty:
    why = (f"none of the bundle's {len(rules)} firewall rules covers it" if len(rules) > 1
           else "the bundle's only firewall rule does not cover it")
elif bundle.has("firewall_rules"):
    why = "the bundle's list of enabled outbound block rules is empty"
else:
    why = "no firewall rules were collected, so this cannot be checked here"
for port in (80, 32526):
    display(kit.notebook.show(blocking_rules(rules, "168.63.129.16", port), why, title=f"168.63.129.16 port {port}",
                              columns=["display_name", "remote_address", "remote_port", "program"]))

# %% [markdown]
# ## Step 4 - Proxy settings and what IMDS answered
# A WinHTTP proxy must bypass 168.63.129.16 and 169.254.169.254; an answer with a proxy's HTML page or a
# `502 (cannotconnect)` reason phrase comes from a proxy, not from the platform.

# %%
kit.notebook.show(bundle.proxy, "no proxy settings in this bundle (`netsh winhttp show proxy` was not collected)",
                  columns=["scope", "direct", "proxy_server", "bypass", "bypasses_wireserver", "bypasses_imds"])

# %%
kit.notebook.show(bundle.http_probes, "no HTTP probes in this bundle: `vmkit collect` runs them from the VM",
                  columns=["endpoint", "url", "status", "outcome", "detail", "error"])

# %% [markdown]
# ## Fix and verify
# * **Firewall**: remove or narrow the outbound block rule so it no longer covers 168.63.129.16 ports 80 and
#   32526 (check the GPO or security baseline that pushes it), then
#   `Test-NetConnection 168.63.129.16 -Port 32526` must show `TcpTestSucceeded : True`.
# * **Proxy**: `netsh winhttp set proxy proxy-server="host:port" bypass-list="<local>;168.63.129.16;169.254.169.254"`
#   or `netsh winhttp reset proxy`; also check machine.config `<defaultProxy>` and client proxies.
# * **IMDS**: `Invoke-RestMethod -Headers @{Metadata="true"} -NoProxy -Uri "http://169.254.169.254/metadata/instance?api-version=2021-02-01"`.
# * Restart the agent (`Restart-Service WindowsAzureGuestAgent`), then verify below: probe the VM now, or
#   compare with a later bundle; the network findings must be listed as resolved.

# %% [markdown]
# ### Verify now: probe, watch, compare
# Instead of collecting again: set `VERIFY_HOST` (parameters cell) to probe the VM in seconds - with
# `VERIFY_WATCH_MINUTES` above 0 the reachability plot updates while the customer makes the change - or
# `VERIFY_AFTER` to a bundle collected after it. The kit lists the findings the change **resolved**, those it
# introduced and those still there, each with the changed fact as evidence (`kit.compare`, `vmkit diff`,
# `vmkit probe HOST --watch`; docs/live.md).
# Here, as a demonstration, the after side is the healthy sample.

# %%
comparison = kit.notebook.verify(bundle, host=VERIFY_HOST, after=VERIFY_AFTER, watch_minutes=VERIFY_WATCH_MINUTES,
                                 user=USER or None)
