"""Agent-version rules: an agent version with a public, confirmed failure on this VM's Windows version.

The table is data: kit/catalog/agent_known_bad.yaml (each entry names its public source). A version is only bad on
the Windows it was reported on, so the rule concludes only when the bundle shows the version *and* either the
Windows kernel version (KERNELBASE.dll's, which the agent's Application Error 1000 events print) matches the entry,
or the crash's own signature (the .NET Runtime 1026 exception) is there. A known-bad version on another Windows, or
with neither the kernel nor the signature read, is no finding: it works elsewhere. AGENT_VERSION_UNSUPPORTED (the
minimum version) stays in :mod:`kit.diagnose.agent`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from ..catalog import read_data
from ..derive.filters import _isna
from ._util import contains, values_at
from .engine import Context
from .events import AGENT_PROGRAMS, APP_CRASH, _evidence
from .model import Finding

_STARTING = re.compile("WindowsAzureGuestAgent starting")
_VERSION = re.compile(r"\b2\.7\.41491\.\d{3,5}\b")
#: "Faulting module name: KERNELBASE.dll, version: 6.1.7601.26909" (and the German "Version: 6.1...", WindowsVMAgent#8).
_KERNEL = re.compile(r"KERNELBASE\.dll,\s*\w+:\s*(\d+\.\d+)\.", re.IGNORECASE)


@dataclass(frozen=True)
class KnownBad:
    version: str
    windows: str
    kernels: tuple[str, ...]
    symptom: str
    signature: re.Pattern[str]
    works: str
    source: str


@cache
def known_bad() -> tuple[KnownBad, ...]:
    data = read_data("agent_known_bad.yaml")  # the YAML's compiled JSON while it matches: no PyYAML import per run
    return tuple(KnownBad(version=str(e["version"]), windows=e["windows"], kernels=tuple(map(str, e["kernels"])),
                          symptom=e["symptom"], signature=re.compile(e["signature"]), works=str(e["works"]),
                          source=e["source"]) for e in data)


def _crash_events(ctx: Context) -> pd.DataFrame:
    ev = ctx.frame("events")
    if ev.empty:
        return ev
    pairs = pd.Series([(p, i) in APP_CRASH for p, i in zip(ev["provider"].fillna(""),
                                                           ev["event_id"].fillna(-1).astype("int64"), strict=True)],
                      index=ev.index)
    prog = ev["service"].fillna("").str.strip().str.lower().str.rsplit("\\", n=1).str[-1]
    return ev[(pairs & prog.isin(AGENT_PROGRAMS)).to_numpy(dtype=bool)]


def _text(df: pd.DataFrame) -> str:
    return "\n".join(str(m) for m in df["message"].dropna())


def _versions(ctx: Context, crash_text: str) -> set[str]:
    """Agent versions the bundle shows: agent-log start lines, the services artifact, the crash events."""
    out = set(_VERSION.findall(crash_text))
    log = ctx.frame("agent_log")
    if not log.empty:
        starts = np.flatnonzero(contains(log["message"], _STARTING))  # (positions: no Series of the messages)
        out |= {m for t in values_at(log["message"], starts) for m in _VERSION.findall(str(t))}
    svc = ctx.frame("services")
    if not svc.empty:
        out |= {m for v in svc["file_version"].tolist() if not _isna(v) for m in _VERSION.findall(str(v))}
    return out


def agent_version_known_bad(ctx: Context) -> Iterable[Finding]:
    crashes = _crash_events(ctx)
    text = _text(crashes) if not crashes.empty else ""
    versions = _versions(ctx, text)
    kernels = set(_KERNEL.findall(text))
    unread = bool(not crashes.empty and crashes["message"].astype("string").str.strip().fillna("").eq("").any())
    out = []
    for kb in known_bad():
        if kb.version not in versions:
            continue
        on_os = bool(kernels & set(kb.kernels))
        signed = bool(kb.signature.search(text))
        if kernels and not on_os:
            continue  # the kernel was read and it is another Windows: the version works there
        if not on_os and (not signed or unread):
            continue  # the Windows version was not read (an unread crash event may name another one): no conclusion
        how = (f"the crash events show Windows kernel {', '.join(sorted(kernels))} ({kb.windows})" if on_os else
               "the crash events carry its signature (the Windows version was not read)")
        out.append(ctx.finding("AGENT_VERSION_KNOWN_BAD",
                               f"Agent {kb.version} is known to fail on {kb.windows} ({kb.source}): {kb.symptom}. "
                               f"Here {how}. Reported to work: {kb.works}.", _evidence(crashes),
                               explains=crashes))
    return out


#: What each rule decides from, {rule: {frame: columns}} (tests/test_unknown_never_bad.py makes these unknown and
#: checks that no verdict follows; it fails for a rule without an entry).
JUDGES: dict[str, dict[str, tuple[str, ...]]] = {
    "agent_version_known_bad": {"events": ("provider", "event_id", "service", "message"),
                                "agent_log": ("message",), "services": ("file_version",)},
}

RULES = [agent_version_known_bad]
