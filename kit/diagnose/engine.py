"""Run the rules over a bundle and collect findings."""

from __future__ import annotations

import importlib
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ..catalog import SEVERITIES, noise
from .model import Evidence, Finding, findings_frame

if TYPE_CHECKING:  # pragma: no cover
    from ..bundle import Bundle

#: Rule families, one module each. Each module has ``RULES``: a list of functions ``rule(ctx) -> Iterable[Finding]``,
#: and ``JUDGES``: for each rule, the frame columns it decides from (tests/test_unknown_never_bad.py makes them unknown
#: and checks that no verdict follows; it fails for a rule without an entry).
RULE_MODULES: tuple[str, ...] = (
    "kit.diagnose.network",
    "kit.diagnose.proxy_agent",  # the MSP proxy that gates WireServer/IMDS traffic (branch codes)
    "kit.diagnose.routes",
    "kit.diagnose.hci",
    "kit.diagnose.keyvault",  # before extensions: a status it explains is not reported again as a generic failure
    "kit.diagnose.identity",
    "kit.diagnose.provisioning",  # before extensions: a model that forbids them explains why none ran (branch codes)
    "kit.diagnose.goal_state",  # before extensions: an extension asked for that never ran (branch codes)
    "kit.diagnose.run_command",  # before extensions (branch codes)
    "kit.diagnose.extensions",
    "kit.diagnose.agent",
    # before events: a crash it matches to a known agent/Windows issue is not reported again as a generic crash
    "kit.diagnose.agent_versions",  # (branch codes)
    "kit.diagnose.events",
    "kit.diagnose.timesync",  # after agent: names AGENT_CERTIFICATE_ERROR when it was raised (branch codes)
    "kit.diagnose.paste",  # after the families that read the VM's own files: joins the findings they raised
    "kit.diagnose.meta",  # last: reads what the other rules explained
)

Rule = Callable[["Context"], Iterable[Finding]]


@dataclass
class Context:
    """What a rule sees: the bundle, helpers to build findings, and what earlier rules cited."""

    bundle: Bundle
    findings: list[Finding] = field(default_factory=list)
    #: Frames that replace the bundle's for this run (see :func:`diagnose`'s ``frames``).
    frames: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    _memo: dict[str, object] = field(default_factory=dict, repr=False)

    def frame(self, name: str) -> pd.DataFrame:
        if name in self.frames:
            return self.frames[name]
        return self.bundle.frame(name)

    def derived(self, name: str) -> pd.DataFrame:
        """A derived frame (:mod:`kit.derive`): the bundle's own, computed once per bundle, unless this run replaces
        one of the frames it is derived from; then it is built from those, once per run."""
        from ..derive import DERIVED, derive

        d = DERIVED[name]
        if not any(i in self.frames for i in d.inputs):
            df = self.bundle.frame(name)
            # a frame judged at the collection time is the bundle's only when this run's time reference is the same
            if d.build_at is None or _same_time(df.attrs.get("time_reference"), self.time_reference):
                return df
        key = "derived:" + name
        if key not in self._memo:
            self._memo[key] = derive(name, self.frame, time_reference=self.time_reference) \
                if d.build_at is not None else derive(name, self.frame)
        return self._memo[key]  # type: ignore[return-value]

    def memo(self, key: str, build: Callable[[], object]) -> object:
        """``build()`` once per run, shared by the rules that need the same intermediate result."""
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]

    def has(self, artifact: str) -> bool:
        return self.bundle.has(artifact)

    @property
    def time_reference(self) -> pd.Timestamp | None:
        """The bundle's :attr:`~kit.bundle.Bundle.time_reference` (collection time, else an assumed one), taken from
        a replaced ``agent_log`` when that is where the bundle's comes from."""
        if "agent_log" not in self.frames or self.bundle.collected_at is not None:
            return self.bundle.time_reference
        ts = self.frames["agent_log"]["ts"].dropna()
        if not ts.empty:
            return ts.max()
        ref = self.bundle.time_reference  # the next assumption (copy time, zip times), unless it is the bundle's log
        return None if ref is None or self.bundle.time_reference_basis.startswith("newest agent-log") else ref

    def finding(self, code: str, summary: str, evidence: Iterable[Evidence] = (),
                severity: str | None = None, explains: pd.DataFrame | None = None) -> Finding:
        """A finding; ``explains`` is a frame of every record it accounts for (source, line)."""
        ex = [] if explains is None or explains.empty else [
            (s, int(n)) for s, n in zip(explains["source"], explains["line"], strict=True) if not pd.isna(n)]
        return Finding(code=code, summary=summary, evidence=list(evidence), severity=severity, explains=ex)

    def not_checked(self, check: str, missing: str) -> Finding:
        """The info finding a rule returns when the data it needs is absent or unknown: ``missing`` names the file
        (or frame) and what it lacks, e.g. ``"probes/tcp.json: ok unknown in 2 row(s)"``."""
        return Finding(code="CHECK_NOT_POSSIBLE", summary=f"Not checked: {check} - {missing}.")

    def cited(self) -> set[tuple[str, int]]:
        """(source, line) pairs already used as evidence by earlier findings."""
        out = {(e.source, int(e.line)) for f in self.findings for e in f.evidence
               if e.source is not None and e.line is not None and not pd.isna(e.line)}
        return out | {x for f in self.findings for x in f.explains}

    @staticmethod
    def noise_id(message: str) -> str | None:
        """The id of the known-noise pattern that matches ``message``, or None."""
        for n in noise():
            if n.pattern.search(message):
                return n.id
        return None


def _same_time(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(pd.Timestamp(a) == pd.Timestamp(b))  # type: ignore[arg-type]


def rows_as_evidence(df: pd.DataFrame, artifact: str, *, text: str = "text", limit: int = 20,
                     ts: str | None = "ts") -> list[Evidence]:
    """Evidence from frame rows (first ``limit`` rows): source, line, ts and a text column."""
    out = []
    for r in df.head(limit).itertuples(index=False):
        d = r._asdict()
        t = d.get(text)
        out.append(Evidence(artifact=artifact, text="" if t is None or pd.isna(t) else str(t),
                            source=d.get("source"), line=d.get("line"),
                            ts=d.get(ts) if ts else None))
    return out


def _rules() -> list[tuple[str, Rule]]:
    out = []
    for mod in RULE_MODULES:
        m = importlib.import_module(mod)
        out += [(f"{mod.rsplit('.', 1)[-1]}.{r.__name__}", r) for r in m.RULES]
    return out


def diagnose(bundle: Bundle | str | Path, *, min_severity: str | None = None,
             frames: Mapping[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """Run every rule over ``bundle`` (a Bundle or a path) and return the findings frame.

    ``frames``: frames (typed per their schema) that replace the bundle's of the same name for this run, e.g. to
    ask what the rules conclude when some values are unknown (tests/test_unknown_never_bad.py). The time reference
    follows a replaced ``agent_log`` when the bundle has no collection time.

    A rule that raises does not stop the others: it becomes a ``RULE_FAILED`` finding.
    """
    if not hasattr(bundle, "frame"):
        from ..bundle import open_bundle

        bundle = open_bundle(bundle)
    ctx = Context(bundle=bundle, frames=dict(frames or {}))  # type: ignore[arg-type]
    for name, rule in _rules():
        try:
            ctx.findings.extend(rule(ctx))
        except Exception as exc:  # a bug in one rule must not hide the others' findings
            tb = traceback.extract_tb(exc.__traceback__)[-1]
            ctx.findings.append(Finding(
                code="RULE_FAILED",
                summary=f"Rule {name} failed with {type(exc).__name__}: {exc} "
                        f"(at {Path(tb.filename).name}:{tb.lineno}).",
            ))
    df = findings_frame(ctx.findings)
    if min_severity is not None:
        if min_severity not in SEVERITIES:
            raise ValueError(f"min_severity must be one of {SEVERITIES}, not {min_severity!r}")
        df = df[df["severity"] >= min_severity].reset_index(drop=True)
    return df
