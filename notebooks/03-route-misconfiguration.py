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
# # Routes to 168.63.129.16 and 169.254.169.254
#
# **How it works.** Azure's DHCP gives the primary NIC a default route **and** two host routes, both via the
# subnet gateway (the first address of the subnet, e.g. 10.1.0.1): `168.63.129.16/32` and `169.254.169.254/32`.
# Windows picks a route by **longest prefix**, then **lowest metric** (route metric + interface metric).
#
# Things that break it:
# * a route that sends 169.254.169.254 or 168.63.129.16 through a **secondary NIC** - IMDS answers only the
#   primary NIC's primary IP;
# * a **failover cluster** (or any APIPA) adapter with an on-link `169.254.0.0/16` route, which beats the
#   default route when the /32 host route is missing;
# * a **static IP** or **persistent default route** (e.g. to a network appliance) that replaced DHCP's host routes;
# * several IPs on the primary NIC where Windows picks a **secondary one as source**.

# %% tags=["parameters"]
BUNDLE = "../sample_logs/imds-route-secondary-nic"
VERIFY_HOST = ""  # the VM's address: probe it now after a fix (vmkit probe); "" = do not
VERIFY_WATCH_MINUTES = 0  # > 0: watch the VM's reachability that long while the change is made
VERIFY_AFTER = "../sample_logs/healthy"  # a bundle collected after the fix, to compare with; None = none
USER = ""  # WinRM user for VERIFY_HOST (password: VMKIT_PASSWORD, keyring, or a prompt)

# %%
import kit
import kit.notebook
from kit import plots
from kit.derive import routes as routing

BUNDLE = kit.notebook.setup(BUNDLE)  # whole text in tables; the bundle path found wherever this runs from

bundle = kit.open_bundle(BUNDLE)
findings = kit.diagnose(bundle)
kit.notebook.show(findings[findings["family"] == "routes"], "no route finding in this bundle (00-start-here's "
                  "info notes say what could not be checked)", columns=["severity", "code", "summary"])

# %% [markdown]
# ## Step 1 - The NICs and the primary IP
# The primary NIC is the one IMDS names first (when IMDS answered); otherwise the kit decides from
# `ipconfig /all` and says how.

# %%
kit.notebook.show(bundle.adapters, "no adapter list in this bundle (`ipconfig /all` was not collected)",
                  columns=["adapter", "description", "mac", "dhcp_enabled", "default_gateways", "ipv4_count"])

# %% [markdown]
# ## Step 2 - The route table, with the effective routes highlighted

# %%
plots.routes(bundle);

# %% [markdown]
# ## Step 3 - Why that route wins
# All routes that match each address, ranked the way Windows ranks them.

# %%
from IPython.display import display

for target in ("168.63.129.16", "169.254.169.254"):
    display(kit.notebook.show(
        routing.candidate_routes(bundle.routes, target) if not bundle.routes.empty else None,
        "no route in the table covers it" if not bundle.routes.empty else "no route table in this bundle",
        columns=["rank", "why", "destination", "gateway", "interface", "metric", "persistent"], title=target))

# %% [markdown]
# ## Fix and verify
# * Delete the wrong route: `route delete 169.254.169.254` (add `-p` routes are listed under *Persistent Routes*).
# * Add a host route via the **primary** NIC's gateway if one is needed:
#   `route add 169.254.169.254 mask 255.255.255.255 <primary gateway> metric 0 -p`
#   (same for 168.63.129.16); on a DHCP NIC, `ipconfig /renew` reinstalls the host routes.
# * Secondary IPs on the primary NIC: `Set-NetIPAddress -IPAddress <secondary> -SkipAsSource $true`.
# * Verify with `route print` (the /32 host routes via the primary gateway) and an IMDS request.

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
