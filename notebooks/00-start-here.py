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
# # Start here: what is wrong with this VM's agent?
#
# This notebook loads a **bundle** (what was collected from one VM), checks the Azure Windows VM Agent's
# health, lists the **findings** with their evidence, and points you to the walkthrough that fits each one.
#
# 1. Set `BUNDLE` in the next cell to a bundle folder or `.zip` (the kit's own, a guest-agent log-collector
#    zip, a copy of `C:\WindowsAzure\Logs`, or a folder of whatever the customer pasted), **or** set `HOST`
#    to collect one live over WinRM. By default it opens a shipped sample.
# 2. Run all cells (Run ▸ Run All Cells).
#
# Credentials for a live collection never go in this notebook: the kit reads `VMKIT_USER`/`VMKIT_PASSWORD`
# from the environment, then the keyring, then asks you in a password prompt.

# %% tags=["parameters"]
BUNDLE = "../sample_logs/firewall-blocks-32526"  # folder or .zip of a bundle
HOST = ""  # e.g. "10.1.0.4" to collect a bundle live over WinRM instead (HTTPS 5986 by default)
USER = ""  # WinRM user for a live collection (password: env var VMKIT_PASSWORD, keyring, or a prompt)
OUT = "collected"  # where a live collection writes its bundle
TRANSPORT = "ntlm"  # WinRM authentication: ntlm, kerberos, credssp, certificate or basic (HTTPS only)
PORT = None  # WinRM port; None = 5986 (HTTPS)
CA_FILE = None  # PEM of the VM's certificate or its CA when it is not in the system trust store
REPORT = "report.html"  # where the HTML report is written
EARLIER = None  # an earlier bundle of the same VM (folder or .zip), to see what changed since; None = none

# %%
from IPython.display import Markdown, display

import kit
import kit.notebook
from kit import plots
from kit.walkthroughs import walkthrough_links, with_walkthroughs

BUNDLE = kit.notebook.setup(None if HOST else BUNDLE) or BUNDLE  # whole text in tables; the path found

if HOST:
    from kit.collect import collect

    result = collect(HOST, user=USER or None, out=OUT, transport=TRANSPORT, port=PORT, ca_file=CA_FILE)
    print(result)  # where the bundle went, its size, how long it took; never the password
    BUNDLE = result.bundle

bundle = kit.open_bundle(BUNDLE)
bundle

# %% [markdown]
# ## Symptom: the agent shows "Not Ready"
# Start from what the customer sees. The possible causes of an agent that is **Not Ready** (service stopped or
# disabled, crash loop, WireServer blocked, proxy, certificates, clock skew, app control, agent too old) are ranked
# from this bundle's findings: rank 1 is the best supported, each with the finding code, the evidence line and the
# fix. A cause with nothing pointing at it is not listed; a cause whose data is missing says "cannot tell" and why.

# %%
from kit.diagnose.symptoms import symptoms

symptoms(kit.diagnose(bundle), bundle)

# %% [markdown]
# ## What the bundle holds
# Every file the kit recognised (by path or by content), every frame it built, and anything it could not read.
# Damaged lines are never dropped: they are flagged and listed in `bundle.issues`.

# %%
print(bundle.summary())

# %% [markdown]
# ## Health summary and findings
# Each finding has a stable **code**, a **severity**, a one-sentence **summary** with this VM's specifics, the
# **evidence** rows that prove it, and a **remediation**. Known-harmless noise never goes above `info`.

# %%
findings = kit.diagnose(bundle)
with_walkthroughs(findings)

# %%
plots.findings_overview(bundle, findings=findings);

# %% [markdown]
# ## Where to go next

# %%
display(Markdown(walkthrough_links(findings)))

# %% [markdown]
# ## The evidence behind each finding
# `kit.diagnose.evidence_frame` flattens the evidence: file, line, time and the text as written in the file
# (time stamps are shown in UTC exactly as the agent wrote them - see docs/frames.md).

# %%
from kit.diagnose import evidence_frame

kit.notebook.show(evidence_frame(findings[findings["severity"] >= "warning"]),
                  "no finding at warning or above, so there is no evidence to show")

# %% [markdown]
# ## The agent's life on one page
# Records by level over time, agent starts and stops, goal-state changes, heartbeat gaps, and the moment the
# bundle was collected.

# %%
plots.agent_timeline(bundle);

# %% [markdown]
# ## Write the report for the case
# One self-contained HTML file (plots embedded) that you can attach to the case: `vmkit report` does the same.

# %%
from kit.report import write_report

report_path = write_report(bundle, REPORT, findings=findings)
print(f"Report written to {report_path}")

# %% [markdown]
# ## Compare with an earlier bundle
# A case often has two bundles of the same VM: the first upload and one after a change. Set `EARLIER` (parameters
# cell) to the older one: the kit lists the findings resolved since then, the new ones and those still there, with
# what changed in routes, proxy, firewall rules, services, probes and versions as evidence (`kit.compare`,
# `vmkit diff EARLIER BUNDLE`). On a live call, `vmkit probe HOST --watch` shows a fix land in seconds
# (docs/live.md).

# %%
kit.notebook.compare_earlier(EARLIER, bundle)
