"""Which notebook walks an engineer through which finding."""

from __future__ import annotations

import pandas as pd

NOTEBOOKS = {
    "01-extension-timeout": "Extension timeouts, failures, blocked extensions, Key Vault and managed identity",
    "02-network-wireserver-imds": "WireServer, HostGAPlugin and IMDS connectivity (firewall, proxy, platform)",
    "03-route-misconfiguration": "Routes to 168.63.129.16 and 169.254.169.254 (wrong NIC, cluster adapter, static)",
}

_BY_FAMILY = {"extensions": "01-extension-timeout", "identity": "01-extension-timeout",
              "keyvault": "01-extension-timeout", "hci": "01-extension-timeout",
              "network": "02-network-wireserver-imds", "routes": "03-route-misconfiguration"}


def notebook_for(code: str, family: str | None = None) -> str | None:
    """The walkthrough notebook (file stem) for a finding code, or None when none fits."""
    from .catalog import catalog

    fam = family or (catalog()[code].family if code in catalog() else None)
    return _BY_FAMILY.get(fam or "")


def with_walkthroughs(findings: pd.DataFrame) -> pd.DataFrame:
    """The findings frame's key columns plus a `walkthrough` column naming the notebook to open."""
    out = findings[["severity", "code", "summary"]].copy()
    out["walkthrough"] = [
        (f"{nb}.ipynb" if (nb := notebook_for(c, str(f))) else "")
        for c, f in zip(findings["code"], findings["family"], strict=True)
    ]
    return out


def walkthrough_links(findings: pd.DataFrame, min_severity: str = "warning") -> str:
    """Markdown bullet list: each finding at or above ``min_severity`` with a link to its walkthrough."""
    f = findings[findings["severity"] >= min_severity]
    if f.empty:
        return "No finding at warning or above: nothing to walk through. See the info findings above."
    lines = []
    for r in f.itertuples(index=False):
        nb = notebook_for(r.code, str(r.family))
        link = f" → [{nb}]({nb}.ipynb): {NOTEBOOKS[nb]}" if nb else ""
        lines.append(f"- **{r.code}** ({r.severity}){link}")
    return "\n".join(lines)
