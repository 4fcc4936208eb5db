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
# # Training: find the root cause
#
# Each exercise gives you a sample bundle. Use the frames and plots (not `kit.diagnose` - that would be
# cheating!) to work out the answer, type it into the cell, and run it: the check tells you if you are right
# and explains why. Stuck? `hint("ex1", 1)`, then 2 and 3. The answers are not written anywhere in this notebook.
#
# Finding codes you may need: see `docs/findings.md` or run `list(catalog())` below.

# %% tags=["parameters"]
SAMPLES = "../sample_logs"
ANSWERS = {}  # for automated runs: {"ex1": "...", ...}; leave empty when you train

# %%
import kit.notebook
from kit import open_bundle, plots
from kit.catalog import catalog
from kit.training import check, exercises

SAMPLES = kit.notebook.setup(SAMPLES)  # whole text in tables; the samples found wherever this runs from

sorted(catalog())

# %% [markdown]
# ## Exercise 1
# %%
ex = exercises()["ex1"]
print(ex.question)
b1 = open_bundle(f"{SAMPLES}/{ex.bundle}")
plots.connectivity(b1);

# %%
answer = ANSWERS.get("ex1", "")  # type your answer here, e.g. answer = "80"
check("ex1", answer)

# %% [markdown]
# ## Exercise 2
# %%
ex = exercises()["ex2"]
print(ex.question)
b2 = open_bundle(f"{SAMPLES}/{ex.bundle}")
kit.notebook.show(b2.proxy, "no proxy settings in this bundle")

# %%
answer = ANSWERS.get("ex2", "")  # a finding code
check("ex2", answer)

# %% [markdown]
# ## Exercise 3
# %%
ex = exercises()["ex3"]
print(ex.question)
b3 = open_bundle(f"{SAMPLES}/{ex.bundle}")
plots.extension_operations(b3);

# %%
answer = ANSWERS.get("ex3", "")  # a number of minutes
check("ex3", answer)

# %% [markdown]
# ## Exercise 4
# %%
ex = exercises()["ex4"]
print(ex.question)
b4 = open_bundle(f"{SAMPLES}/{ex.bundle}")
plots.routes(b4);

# %%
answer = ANSWERS.get("ex4", "")  # an IP address
check("ex4", answer)

# %% [markdown]
# ## Exercise 5
# %%
ex = exercises()["ex5"]
print(ex.question)
b5 = open_bundle(f"{SAMPLES}/{ex.bundle}")
kit.notebook.show(b5.routes[b5.routes["family"] == "IPv4"], "no IPv4 route in this bundle",
                  columns=["destination", "gateway", "on_link", "interface", "metric"])

# %%
answer = ANSWERS.get("ex5", "")  # a finding code
check("ex5", answer)

# %% [markdown]
# ## Exercises 6-23 and Run Command: deployment errors, Windows events, VM settings and more
#
# Most of these bundles are ticket folders the kit ships: pasted deployment output (az, Azure PowerShell, Terraform,
# the portal), an event-log export, a pasted VM model, a status file or a handler log. Open one and read
# `b.paste_lines` (the pasted lines, with the catalog codes their text matches), `b.events`, or the frame the hints
# name (`b.frame("vm_model")`, `b.frame("goal_state_extensions")`, `b.frame("proxy_agent_status")`,
# `b.frame("handler_log")`). Type your answers into `mine`, then run the cell: each answer is checked.

# %%
from kit.training import exercise_bundle

b = open_bundle(exercise_bundle("ex6", SAMPLES))  # open any of them like this
b.paste_lines[["line", "text", "codes"]]

# %%
mine = {ex_id: ANSWERS.get(ex_id, "") for ex_id in exercises() if ex_id not in ("ex1", "ex2", "ex3", "ex4", "ex5")}
# mine["ex6"] = "..."  # type your answers here
for ex_id, answer in mine.items():
    print(f"{ex_id} ({exercises()[ex_id].bundle}): {exercises()[ex_id].question}")
    display(check(ex_id, answer))
