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
# VMs of one incident). `kit.fleet.run` diagnoses them on every core (or on a Dask cluster: set `SCHEDULER`) and
# writes Parquet to `OUT` as results arrive; run it again on the same `OUT` and bundles already there are skipped.
# The same run from a shell: `vmkit fleet BUNDLES --out OUT`. Everything below reads the Parquet output, so it works
# the same on 8 bundles or 10,000; counts are in long form (one row per code, or per code and group), never one
# column per VM.

# %% tags=["parameters"]
BUNDLES = "../sample_logs"
OUT = None        # folder for the Parquet output; None: a new temporary folder
WORKERS = None    # worker processes; None: every core
SCHEDULER = None  # a Dask scheduler address (tcp://host:8786) to run on a cluster instead

# %%
import tempfile

import kit.notebook
from kit import fleet, fleet_plots

BUNDLES = kit.notebook.setup(BUNDLES)  # whole text in tables; the folder found wherever this runs from
OUT = OUT or tempfile.mkdtemp(prefix="vmkit-fleet-")

run = fleet.run([BUNDLES], OUT, workers=WORKERS, scheduler=SCHEDULER)
print(run)
data = fleet.load(OUT)
data.bundles[["vm", "layout", "os", "agent_version", "collected_at", "ok", "error_kind", "n_critical", "n_error",
              "n_warning"]]

# %% [markdown]
# ## Bundles that could not be read
# One row each, with the kind of failure (`fleet.ERROR_KINDS`) and the message; they did not stop the others.

# %%
data.bundles.loc[~data.bundles["ok"], ["vm", "path", "error_kind", "error"]]

# %% [markdown]
# ## Which codes hit how many VMs (warning and above)

# %%
counts = fleet.code_counts(data)
counts

# %%
fleet_plots.code_vms(counts);

# %% [markdown]
# ## Onset: when each code first appeared across the fleet
# The earliest evidence time of each code on any VM. Codes that appear together across many VMs point to a change
# pushed to all of them (an extension or agent update, a policy, a route); one by one points to the VMs themselves.

# %%
onset = fleet.onset(data)
onset

# %%
fleet_plots.onset_timeline(onset);

# %% [markdown]
# ## Code x group heat maps
# VMs hit per code and agent version, OS, and extension handler version. A code concentrated in one group (one
# agent version, one extension version) is the first thing to compare against the healthy VMs of the other groups.

# %%
by_agent = fleet.by_group(data, "agent_version")
fleet_plots.heatmap(by_agent);

# %%
by_os = fleet.by_group(data, "os")
fleet_plots.heatmap(by_os);

# %%
by_ext = fleet.by_group(data, "ext_version")
fleet_plots.heatmap(by_ext, value="share");
by_ext.sort_values("vms", ascending=False).head(20)

# %% [markdown]
# ## Outliers
# What only a few VMs show: codes on at most 5% of the bundles read (or a single VM), and the VMs they are on.

# %%
fleet.outliers(data)

# %% [markdown]
# ## The fleet frames
# Routes, probes, services, agent and extension status of every VM, with `vm` and `bundle_hash` to join on the
# findings: e.g. the effective routes to WireServer of the VMs with a route finding.

# %%
routes = data.frame("routes")
hit = data.findings.loc[data.findings["family"] == "routes", "bundle_hash"].unique()
routes[routes["bundle_hash"].isin(hit) & routes["destination"].str.startswith("168.63.129.16")][
    ["vm", "destination", "gateway", "interface", "metric", "persistent"]]

# %% [markdown]
# The same summary as a self-contained HTML page (for a case or a mail) is in `OUT/summary.html`.

# %%
print(run.html)
