"""Provisioning rules: settings in the VM's Resource Manager model that keep extensions from ever running.

Read from the ``vm_model`` frame (kit/parse/vm_model.py: a pasted ``az vm show``, REST GET, ``Get-AzVM`` JSON or ARM
template). IMDS does not carry these settings, so without a model there is nothing to judge and the rules say
nothing. A setting the model does not carry (older api-versions omit it) is unknown: a "cannot tell" at most.

Sources: ``allowExtensionOperations`` - "Specifies whether extension operations should be allowed on the virtual
machine. This may only be set to False when no extensions are present on the virtual machine." (Compute SDK/REST
reference, OSProfile.AllowExtensionOperations); the "disable extension support at provisioning time" snippet
``"osProfile": {"allowExtensionOperations": false}`` (MicrosoftDocs/azure-docs, Ubuntu 20.04 Python 2 article, every
localized copy). ``provisionVMAgent`` false: no agent is installed when the VM is created ("provisionVMAgent": false
in a template "works as expected in that the VM agent does not get installed", Azure/azure-powershell#5101); the
API refuses ``allowExtensionOperations`` true with it at creation (``InvalidParameter`` "The value of parameter
allowExtensionOperations is invalid.", hashicorp/terraform-provider-azurerm#8001), and after installing the agent by
hand the setting has to be turned on (``$vm.OSProfile.AllowExtensionOperations = $true; $vm | Update-AzureRmVM``,
MicrosoftDocs/azure-docs#26741).
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from ._util import frame_evidence
from .engine import Context
from .model import Finding

_EV = ["name", "text"]


def _model(ctx: Context) -> pd.DataFrame:
    return ctx.frame("vm_model")


def _is(col: pd.Series, value: bool) -> pd.Series:
    return (col == value).fillna(False).astype(bool).to_numpy(dtype=bool)


def _files(rows: pd.DataFrame) -> str:
    return ", ".join(sorted({str(s) for s in rows["source"]}))


def _agent_seen(ctx: Context) -> bool:
    """The bundle shows a guest agent: a WaAppAgent.log record or a services row for it that is running."""
    log = ctx.frame("agent_log")
    if not log.empty and (log["log"] == "WaAppAgent").fillna(False).any():
        return True
    svc = ctx.frame("services")
    if svc.empty:
        return False
    mine = svc[(svc["name"].str.lower() == "windowsazureguestagent").fillna(False).to_numpy(dtype=bool)]
    return bool((mine["status"] == "Running").fillna(False).any())


def extension_operations_disallowed(ctx: Context) -> Iterable[Finding]:
    model = _model(ctx)
    if model.empty:
        return []
    off = model[_is(model["allow_extension_operations"], False)]
    if off.empty:
        unknown = model[model["allow_extension_operations"].isna().to_numpy(dtype=bool)]
        if len(unknown) == len(model):
            return [ctx.not_checked("whether the VM model allows extension operations",
                                    f"{_files(unknown)}: osProfile.allowExtensionOperations is not in the model")]
        return []
    names = ", ".join(sorted({str(n) for n in off["name"].dropna()})) or "the VM"
    return [ctx.finding("VM_EXTENSION_OPERATIONS_DISALLOWED",
                        f"The VM model of {names} has osProfile.allowExtensionOperations = false: Azure does not "
                        "send any extension to this VM, whatever the guest agent's health.",
                        frame_evidence(off, "vm_model", _EV))]


def vm_agent_not_provisioned(ctx: Context) -> Iterable[Finding]:
    model = _model(ctx)
    if model.empty:
        return []
    off = model[_is(model["provision_vm_agent"], False)]
    if off.empty:
        unknown = model[model["provision_vm_agent"].isna().to_numpy(dtype=bool)]
        if len(unknown) == len(model):
            return [ctx.not_checked("whether the VM was created with the guest agent",
                                    f"{_files(unknown)}: osProfile.windowsConfiguration.provisionVMAgent is not in "
                                    "the model")]
        return []
    names = ", ".join(sorted({str(n) for n in off["name"].dropna()})) or "the VM"
    seen = _agent_seen(ctx)
    allowed = bool((off["allow_extension_operations"] == True).fillna(False).all())  # noqa: E712 (NA-aware)
    summary = f"The VM model of {names} has provisionVMAgent = false: the VM was created without the guest agent. "
    severity = None
    if seen and allowed:  # the documented repair is done (agent installed by hand, extensions allowed again)
        summary += ("The bundle shows an agent running and the model allows extension operations: nothing to do, "
                    "the setting only records how the VM was created.")
        severity = "info"
    elif seen:
        summary += ("The bundle shows an agent running (installed by hand later); extensions also need "
                    "osProfile.allowExtensionOperations set to true.")
    else:
        summary += "The bundle shows no agent running, so no extension can run on it."
    return [ctx.finding("VM_AGENT_NOT_PROVISIONED", summary, frame_evidence(off, "vm_model", _EV), severity=severity)]


#: What each rule decides from, {rule: {frame: columns}} (tests/test_unknown_never_bad.py makes these unknown and
#: checks that no verdict follows; it fails for a rule without an entry).
JUDGES: dict[str, dict[str, tuple[str, ...]]] = {
    "extension_operations_disallowed": {"vm_model": ("allow_extension_operations",)},
    "vm_agent_not_provisioned": {"vm_model": ("provision_vm_agent",)},
}

RULES = [extension_operations_disallowed, vm_agent_not_provisioned]
