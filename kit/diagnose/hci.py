"""Azure Stack HCI rules: Azure VM verification (the HCI host's IMDS-style attestation) for VMs with legacy OS
support.

From the Azure Stack HCI article "Azure verification for VMs": the host's HciSvc serves attested data to VMs in two
ways. VMs with the Hyper-V **Guest Service Interface** talk to it over **VMBus** - no network involved. Older VMs
that cannot need **legacy OS support**: an internal vSwitch ``AZSHCI_HOST-IMDS_DO_NOT_MODIFY`` on the host and a
NIC ``AZSHCI_GUEST-IMDS_DO_NOT_MODIFY`` on the VM, through which the VM reaches the REST endpoint
``http://169.254.169.253:80/metadata/attested/document``. "Modifying or deleting this switch and NIC prevents Azure
VM verification from working properly."

A VM is taken for an HCI VM with legacy OS support when it has that NIC (its connection name or description, in
``ipconfig /all``, Get-NetIPAddress or the route table's interface list), or when the bundle holds an attested-data
request to 169.254.169.253. Neither the article nor the formats doc shows how the NIC looks inside the guest; the
kit matches the name wherever Windows shows it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

import pandas as pd

from ..derive import routes as routing
from ..parse.http_probe import ATTESTED_PATH
from ._util import frame_evidence
from .engine import Context
from .model import Evidence, Finding

HCI_NIC = "AZSHCI_GUEST-IMDS_DO_NOT_MODIFY"
HCI_ENDPOINT = "169.254.169.253"


def _has_nic(df: pd.DataFrame, *cols: str) -> pd.DataFrame:
    if df.empty:
        return df
    mask = pd.Series(False, index=df.index)
    for c in cols:
        mask |= df[c].fillna("").str.upper().str.contains(HCI_NIC, regex=False)
    return df[mask.to_numpy(dtype=bool)]


def hci_imds_nic(ctx: Context) -> Iterable[Finding]:
    http = ctx.frame("http_probes")
    # the attested-data requests (the path before any query); a few rows: plain Python, not pandas' str methods
    paths = routing.values(http["path"]) if not http.empty else []
    hits = [i for i, path in enumerate(paths) if isinstance(path, str) and ATTESTED_PATH.search(path.split("?")[0])]
    if not hits:
        return []
    attested = http.take(hits)
    adapters = _has_nic(ctx.frame("adapters"), "adapter", "description")
    addrs = _has_nic(ctx.frame("ip_addresses"), "adapter")
    ifaces = _has_nic(ctx.frame("interfaces"), "description")
    on_hci_endpoint = attested[attested["url"].str.contains(HCI_ENDPOINT, regex=False).to_numpy(dtype=bool)]
    if adapters.empty and addrs.empty and ifaces.empty and on_hci_endpoint.empty:
        return []  # nothing says this is an Azure Stack HCI VM: the Azure IMDS rules apply
    failed = attested[(attested["outcome"] == "connection-error").to_numpy(dtype=bool)]
    if failed.empty:
        return []
    if all(ctx.frame(f).empty for f in ("adapters", "ip_addresses", "interfaces")):
        return [ctx.not_checked("whether the VM has its Azure Stack HCI IMDS NIC",
                                "no adapter list in the bundle (commands/ipconfig_all.txt, "
                                "commands/get_netipaddress.json or commands/route_print.txt)")]
    reasons: list[str] = []
    ev: list[Evidence] = frame_evidence(failed, "http_probes", ["url", "outcome", "detail", "error"], ts="time")
    nic_ips = sorted({str(a) for a in addrs[(addrs["family"] == "IPv4").to_numpy(dtype=bool)]["address"]}) \
        if not addrs.empty else []
    if adapters.empty and addrs.empty and ifaces.empty:
        reasons.append(f"the VM has no {HCI_NIC} NIC (deleted or renamed; or the VM does not use legacy OS support - "
                       "then it reaches the host over VMBus and needs the Hyper-V Guest Service Interface instead)")
    else:
        ev += frame_evidence(adapters, "adapters", ["adapter", "description", "media_state", "dhcp_enabled"])
        ev += frame_evidence(addrs, "ip_addresses", ["adapter", "address", "prefix_len", "state"])
        disconnected = adapters[adapters["media_state"].fillna("").str.contains("disconnected", case=False)
                                .to_numpy(dtype=bool)] if not adapters.empty else adapters
        if not disconnected.empty:
            reasons.append(f"the {HCI_NIC} NIC is disconnected or disabled (Media State: "
                           f"{disconnected['media_state'].iloc[0]})")
        elif not nic_ips:
            reasons.append(f"the {HCI_NIC} NIC has no IPv4 address")
        routes = ctx.frame("routes")
        if nic_ips and not routes.empty:
            eff = routing.effective_route(routes, HCI_ENDPOINT)
            if eff is None:
                reasons.append(f"no route matches {HCI_ENDPOINT}")
            else:
                iface = eff.get("interface")
                if isinstance(iface, str) and iface not in nic_ips:
                    via = "on-link" if bool(eff["on_link"]) else f"via {eff['gateway']}"
                    reasons.append(f"traffic to {HCI_ENDPOINT} follows {eff['destination']} {via} on {iface}, not the "
                                   f"{HCI_NIC} NIC ({', '.join(nic_ips)})")
                    ev += frame_evidence(pd.DataFrame([eff]), "routes", ["destination", "gateway", "on_link",
                                                                          "interface", "metric", "persistent"])
                elif isinstance(iface, str):
                    try:
                        if ipaddress.ip_address(HCI_ENDPOINT) not in ipaddress.ip_network(str(eff["destination"]),
                                                                                          strict=False):
                            reasons.append(f"the route to {HCI_ENDPOINT} does not contain it")
                    except ValueError:
                        pass
    if not reasons:
        return []  # the NIC and its route look right: the cause is on the host (legacy OS support, sync)
    return [ctx.finding("HCI_IMDS_NIC_MISSING_OR_MODIFIED",
                        f"Azure VM verification on Azure Stack HCI failed ({len(failed)} attested-data request(s) got "
                        f"no answer): " + "; ".join(reasons) + ".", ev)]


#: What each rule decides from, {rule: {frame: columns}} (tests/test_unknown_never_bad.py makes these unknown and
#: checks that no verdict follows; it fails for a rule without an entry).
JUDGES: dict[str, dict[str, tuple[str, ...]]] = {
    "hci_imds_nic": {"http_probes": ("path", "url", "outcome"), "adapters": ("adapter", "description", "media_state"),
                     "ip_addresses": ("adapter", "family", "address"), "interfaces": ("description",),
                     "routes": ("origin", "family", "destination", "prefix_len", "on_link", "interface", "metric",
                                "persistent")},
}

RULES = [hci_imds_nic]
