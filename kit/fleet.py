"""Many bundles at once: for postmortems across VMs (a folder of bundles, e.g. one per scale-set instance).

    >>> from kit import fleet
    >>> result = fleet.diagnose_many("cases/12345/")
    >>> result.findings.pivot_table(index="code", columns="vm", values="severity", aggfunc="count")
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .errors import KitError


def find_bundles(folder: str | Path) -> list[Path]:
    """Bundles directly under ``folder``: sub-folders and ``.zip`` files, sorted by name.

    A folder that is itself a bundle (has a manifest.json) is returned alone.
    """
    root = Path(folder)
    if not root.is_dir():
        raise KitError(f"{root}: not a folder")
    if (root / "manifest.json").is_file():
        return [root]
    return sorted(p for p in root.iterdir()
                  if (p.is_dir() and not p.name.startswith((".", "_"))) or p.suffix.lower() == ".zip")


@dataclass
class FleetResult:
    """Findings of every bundle that could be read, and why the others could not."""

    findings: pd.DataFrame   # the findings frame plus `vm` and `bundle` columns
    bundles: pd.DataFrame    # one row per bundle: vm, bundle, kind, collected_at, ok, error, counts by severity
    failures: pd.DataFrame   # bundle, error

    def counts(self) -> pd.DataFrame:
        """Findings per code (rows) and VM (columns), at warning or above."""
        f = self.findings[self.findings["severity"] >= "warning"]
        if f.empty:
            return pd.DataFrame()
        return f.pivot_table(index="code", columns="vm", values="severity", aggfunc="count", fill_value=0,
                             observed=True)


def _vm_name(bundle, path: Path) -> str:
    vm = (bundle.manifest or {}).get("vm", {}) if getattr(bundle, "manifest", None) else {}
    return str(vm.get("computer_name") or vm.get("host") or path.stem)


def diagnose_many(folder: str | Path | list[str | Path], *, min_severity: str | None = None) -> FleetResult:
    """Open and diagnose every bundle; one unreadable bundle does not stop the others."""
    from .bundle import open_bundle
    from .diagnose import FINDINGS, diagnose

    paths = [Path(p) for p in folder] if isinstance(folder, list) else find_bundles(folder)
    frames, rows, failures = [], [], []
    for p in paths:
        try:
            b = open_bundle(p)
            f = diagnose(b, min_severity=min_severity)
        except (KitError, OSError) as exc:
            failures.append({"bundle": str(p), "error": str(exc)})
            rows.append({"vm": p.stem, "bundle": str(p), "kind": None, "collected_at": pd.NaT, "ok": False,
                         "error": str(exc)})
            continue
        vm = _vm_name(b, p)
        frames.append(f.assign(vm=vm, bundle=str(p)))
        counts = f["severity"].value_counts()
        rows.append({"vm": vm, "bundle": str(p), "kind": b.kind, "collected_at": b.collected_at, "ok": True,
                     "error": None, **{s: int(counts.get(s, 0)) for s in ("critical", "error", "warning", "info")}})
    findings = pd.concat(frames, ignore_index=True) if frames else FINDINGS.empty().assign(vm=[], bundle=[])
    if frames:
        sev = frames[0]["severity"].dtype
        findings["severity"] = findings["severity"].astype(str).astype(sev)
    bundles = pd.DataFrame(rows)
    if not bundles.empty:
        bundles["collected_at"] = pd.to_datetime(bundles["collected_at"], utc=True)
    return FleetResult(findings=findings, bundles=bundles,
                       failures=pd.DataFrame(failures, columns=["bundle", "error"]))


def evidence_timeline(result: FleetResult, min_severity: str = "warning") -> pd.DataFrame:
    """Every timestamped evidence row of findings at or above ``min_severity``, across VMs, in time order."""
    from .diagnose import evidence_frame

    out = []
    f = result.findings[result.findings["severity"] >= min_severity]
    for vm, g in f.groupby("vm", sort=False):
        ev = evidence_frame(g)
        out.append(ev.assign(vm=vm))
    if not out:
        return pd.DataFrame(columns=["vm", "ts", "code", "source", "line", "text"])
    ev = pd.concat(out, ignore_index=True).dropna(subset=["ts"])
    return ev[["vm", "ts", "code", "source", "line", "text"]].sort_values("ts").reset_index(drop=True)
