"""The VM's model as Azure Resource Manager holds it: ``az vm show`` JSON, the REST ``GET .../virtualMachines/<vm>``
answer, ``Get-AzVM | ConvertTo-Json`` or an ARM template's ``Microsoft.Compute/virtualMachines`` resources.

What the kit reads from it is the OS profile's provisioning settings that decide whether extensions can run at all
(tests/shapes/vm_model/SOURCES.md names the real documents the fixtures follow):

* ``osProfile.allowExtensionOperations`` - "Specifies whether extension operations should be allowed on the
  virtual machine. This may only be set to False when no extensions are present on the virtual machine."
  (Compute REST API / SDK reference, OSProfile);
* ``osProfile.windowsConfiguration.provisionVMAgent`` - whether the VM agent was installed when the VM was created
  (``az vm show`` prints it ``provisionVmAgent``; keys are matched case-insensitively, so ``Get-AzVM``'s
  ``OSProfile.WindowsConfiguration.ProvisionVMAgent`` reads the same);
* ``windowsConfiguration.enableVMAgentPlatformUpdates`` - kept for people; ``false`` is what a healthy VM's real
  model shows, so no rule judges it.

IMDS does not carry these settings: its ``compute.osProfile`` has only ``adminUsername``, ``computerName`` and
``disablePasswordAuthentication`` (IMDS article), so the model must be pasted or exported.

The layouts differ only in nesting: the REST answer and templates keep the settings under ``properties``;
``az vm show`` and ``Get-AzVM`` flatten them to the top. A value that is absent (older api-versions omit it) is NA:
unknown, never ``false``.
"""

from __future__ import annotations

from typing import Any

from ..schema import LINE, SOURCE, Col, FrameSchema
from ._jsonutil import as_list, get, load, looks_like, to_bool
from .base import ParseIssue, ParseResult

NAME = "vm_model"
DESCRIPTION = "The VM's Resource Manager model (az vm show / REST GET / Get-AzVM JSON / ARM template)."
PATTERNS = ("*vm_model*.json", "*vm-model*.json", "*az_vm_show*.json", "*az-vm-show*.json", "*get-azvm*.json",
            "*get_azvm*.json")

VM_MODEL = FrameSchema(
    "vm_model",
    "One row per virtual machine in a pasted or exported VM model: its OS profile's provisioning settings.",
    (SOURCE, LINE,
     Col("name", "str", "The VM's name (`name`)."),
     Col("vm_id", "str", "`vmId` (`properties.vmId` in the REST answer)."),
     Col("shape", "category", "`rest` (settings under `properties`), `flat` (az vm show / Get-AzVM) or "
         "`template` (an ARM template resource).", False),
     Col("os_type", "str", "`storageProfile.osDisk.osType`."),
     Col("provision_vm_agent", "boolean", "`osProfile.windowsConfiguration.provisionVMAgent` (or the Linux one); "
         "NA when absent."),
     Col("allow_extension_operations", "boolean", "`osProfile.allowExtensionOperations`; NA when absent."),
     Col("enable_vm_agent_platform_updates", "boolean",
         "`osProfile.windowsConfiguration.enableVMAgentPlatformUpdates`; NA when absent."),
     Col("text", "str", "The settings as read, for evidence (`allowExtensionOperations=false, ...`).")),
)
FRAMES = {NAME: VM_MODEL}

_VM_TYPE = "microsoft.compute/virtualmachines"


def sniff(head: str) -> bool:
    if not looks_like(head, "osProfile"):
        return False
    low = head.lower()
    return '"storageprofile"' in low or '"hardwareprofile"' in low or _VM_TYPE in low


def _vms(data: Any) -> list[tuple[dict, str]]:
    """(vm object, shape) for every VM in ``data``: one object, a list of them, or a template's resources."""
    out = []
    for item in as_list(data):
        if not isinstance(item, dict):
            continue
        resources = get(item, "resources")
        if isinstance(resources, list) and get(item, "$schema") is not None:
            out += [(r, "template") for r in resources if isinstance(r, dict)
                    and str(get(r, "type", default="")).lower() == _VM_TYPE]
        elif isinstance(get(item, "properties", "osProfile"), dict):
            out.append((item, "rest"))
        elif isinstance(get(item, "osProfile"), dict):
            out.append((item, "flat"))
    return out


def _text(v: Any) -> str | None:
    return None if v is None or isinstance(v, (dict, list)) else str(v)


def _flag(os_profile: dict, *path: str) -> bool | None:
    return to_bool(get(os_profile, *path))


def parse(text: str, *, source: str) -> ParseResult:
    data, issues = load(text, source=source, parser=NAME, partial=True)
    rows = []
    for vm, shape in _vms(data):
        props = get(vm, "properties") if shape != "flat" else vm
        osp = get(props, "osProfile")
        config = get(osp, "windowsConfiguration")
        if not isinstance(config, dict):
            config = get(osp, "linuxConfiguration")
        config = config if isinstance(config, dict) else {}
        row = {
            "source": source, "line": None, "shape": shape, "name": _text(get(vm, "name")),
            "vm_id": _text(get(props, "vmId")), "os_type": _text(get(props, "storageProfile", "osDisk", "osType")),
            "provision_vm_agent": _flag(config, "provisionVMAgent"),
            "allow_extension_operations": _flag(osp, "allowExtensionOperations"),
            "enable_vm_agent_platform_updates": _flag(config, "enableVMAgentPlatformUpdates"),
        }
        row["text"] = ", ".join(f"{k}={'unknown' if row[c] is None else str(row[c]).lower()}" for k, c in (
            ("allowExtensionOperations", "allow_extension_operations"), ("provisionVMAgent", "provision_vm_agent"),
            ("enableVMAgentPlatformUpdates", "enable_vm_agent_platform_updates")))
        rows.append(row)
    if not rows and data is not None:
        issues.append(ParseIssue(source, None, "unexpected-shape", "expected a VM model (an object with osProfile, "
                                 "at the top or under properties, or a template with Microsoft.Compute/"
                                 "virtualMachines resources), found none", parser=NAME))
    return ParseResult({NAME: VM_MODEL.from_records(rows)}, issues)
