"""Meta rules, run last: unexplained errors, known noise, damaged input."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..catalog import noise
from ._util import contains, contains_any, isin, log_evidence, values_at
from .engine import Context
from .model import Evidence, Finding


def _error_records(log: pd.DataFrame) -> np.ndarray:
    """Positions of ``log``'s ERROR and FATAL records."""
    if log.empty:
        return np.empty(0, dtype=np.intp)
    return np.flatnonzero(isin(log["level"], ("ERROR", "FATAL")))


#: At start-up the agent asks each adapter's DHCP for the fabric address; an adapter without the Azure option (a
#: failover cluster's virtual adapter, a loopback adapter) logs "Did not discover fabric address on interface X"
#: at ERROR. That is harmless when the same log then says the agent discovered it on another interface (sample
#: failover-cluster-imds-captured documents it as noise); without such a later line it is left to the other rules.
FABRIC_MISS = re.compile(r"Did not discover fabric address on interface")
FABRIC_FOUND = re.compile(r"Discovered fabric address on interface|Using fabric address \S+ from DHCP")
FABRIC_NOISE_ID = "fabric-address-found-on-another-interface"


def _fabric_misses_resolved(log: pd.DataFrame) -> np.ndarray:
    """Mask of the rows of ``log`` that are a fabric-address miss followed, later in the same file, by a discovery."""
    miss = contains(log["message"], FABRIC_MISS)  # NA never matches (no Python string per record on a big log)
    found = contains(log["message"], FABRIC_FOUND)
    out = np.zeros(len(log), dtype=bool)
    if not miss.any() or not found.any():
        return out
    lines = pd.to_numeric(log["line"], errors="coerce")
    last_found = lines[found].groupby(log["source"][found]).max()
    for pos, i in zip(np.flatnonzero(miss), log.index[miss], strict=True):
        later = last_found.get(log.at[i, "source"])
        out[pos] = bool(pd.notna(later) and pd.notna(lines.at[i]) and later > lines.at[i])
    return out


def _noise_ids(ctx: Context) -> np.ndarray:
    """The known-noise id of each agent-log record (None: none), once per run (two rules read them). The rows some
    noise pattern matches are found column-wise (no Python string per record); only those are named, by their first
    matching pattern as Context.noise_id does."""
    def build() -> np.ndarray:
        log = ctx.frame("agent_log")
        ids = np.full(len(log), None, dtype=object)
        if log.empty:
            return ids
        noisy = contains_any(log["message"], [n.pattern for n in noise()])
        if noisy.any():
            msgs = values_at(log["message"], np.flatnonzero(noisy))
            ids[noisy] = [ctx.noise_id(str(m)) if isinstance(m, str) else None for m in msgs]
        ids[_fabric_misses_resolved(log)] = FABRIC_NOISE_ID
        return ids

    return ctx.memo("meta:noise_ids", build)  # type: ignore[return-value]


def known_noise(ctx: Context) -> Iterable[Finding]:
    log = ctx.frame("agent_log")
    if log.empty:
        return []
    ids = _noise_ids(ctx)
    hits = np.flatnonzero(pd.notna(ids))
    if not len(hits):
        return []
    # each id with its count, most frequent first, ties in order of appearance (as Series.value_counts)
    counts = sorted(Counter(ids[hits].tolist()).items(), key=lambda kv: -kv[1])
    what = ", ".join(f"{k} ({v}x)" for k, v in counts)
    return [ctx.finding("KNOWN_HARMLESS_NOISE", f"Ignored known-harmless agent log lines: {what}.",
                        log_evidence(log, "agent_log", limit=5, first_line_only=True, rows=hits))]


def unexplained_errors(ctx: Context) -> Iterable[Finding]:
    log = ctx.frame("agent_log")
    errs = _error_records(log)
    if not len(errs):
        return []
    cited = ctx.cited()
    noise = _noise_ids(ctx)
    rest = [i for i, s, ln in zip(errs.tolist(), values_at(log["source"], errs), values_at(log["line"], errs),
                                  strict=True)
            if (s, int(ln)) not in cited and noise[i] is None]
    if not rest:
        return []
    return [ctx.finding("AGENT_LOG_ERRORS",
                        f"{len(rest)} ERROR/FATAL agent log records are not explained by any finding above.",
                        log_evidence(log, "agent_log", limit=10, first_line_only=True, rows=np.array(rest)))]


def damaged_input(ctx: Context) -> Iterable[Finding]:
    issues = ctx.bundle.issues
    if issues.empty:
        return []
    by_kind = issues["kind"].astype(str).value_counts()
    files = issues["source"].nunique()
    ev = [Evidence(artifact="parse_issues", text=f"{r.kind}: {r.message}", source=r.source, line=r.line)
          for r in issues.head(10).itertuples(index=False)]
    return [ctx.finding("INPUT_DAMAGED",
                        f"{len(issues)} problems in {files} file(s) while reading the bundle: "
                        + ", ".join(f"{v} {k}" for k, v in by_kind.items()) + ".", ev)]


#: What each rule decides from, {rule: {frame: columns}} (tests/test_unknown_never_bad.py makes these unknown and
#: checks that no verdict follows; it fails for a rule without an entry).
JUDGES: dict[str, dict[str, tuple[str, ...]]] = {
    "known_noise": {"agent_log": ("message",)},
    "unexplained_errors": {"agent_log": ("level", "message")},
    "damaged_input": {},  # the bundle's parse issues, not a frame
}

RULES = [known_noise, unexplained_errors, damaged_input]
