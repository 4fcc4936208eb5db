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
# # Postmortem across many VMs
#
# Point `BUNDLES` at a folder holding one bundle per VM (folders or `.zip` files: a scale set, a cluster, the
# VMs of one incident). The kit diagnoses each one; a bundle it cannot read is listed with the reason and does
# not stop the others.

# %% tags=["parameters"]
BUNDLES = "../sample_logs"

# %%
import kit.notebook
from kit import fleet

BUNDLES = kit.notebook.setup(BUNDLES)  # whole text in tables; the folder found wherever this runs from

result = fleet.diagnose_many(BUNDLES)
result.bundles

# %%
result.failures

# %% [markdown]
# ## One findings table across VMs (warning and above)

# %%
f = result.findings
f[f["severity"] >= "warning"][["vm", "severity", "code", "summary"]]

# %% [markdown]
# ## Which failure modes, on how many VMs

# %%
counts = result.counts()
counts

# %%
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(10, 0.4 + 0.35 * max(len(counts), 1)))
if not counts.empty:
    (counts > 0).sum(axis=1).sort_values().plot.barh(ax=ax, color="#0078d4")
ax.set_xlabel("VMs with the finding")
ax.set_title("Findings at warning or above, by number of VMs");

# %% [markdown]
# ## Timeline of the evidence across VMs
# Every timestamped evidence row of the warning-or-worse findings, in time order: did the VMs fail together
# (a change pushed to all of them) or one by one?

# %%
timeline = fleet.evidence_timeline(result)
timeline.head(30)

# %%
fig, ax = plt.subplots(figsize=(12, 0.6 + 0.4 * max(timeline["vm"].nunique(), 1)))
for i, (vm, g) in enumerate(timeline.groupby("vm")):
    ax.scatter(g["ts"], [i] * len(g), s=18, label=vm)
ax.set_yticks(range(timeline["vm"].nunique()))
ax.set_yticklabels(sorted(timeline["vm"].unique()))
ax.set_xlabel("time (UTC)")
ax.set_title("Evidence of warning-or-worse findings over time, per VM");
