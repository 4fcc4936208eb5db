"""Meta rules, run last: unexplained errors, known noise, damaged input."""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd

from ..catalog import noise
from ._util import contains, contains_any, keep, log_evidence
from .engine import Context
from .model import Evidence, Finding


def _error_records(ctx: Context):
    log = ctx.frame("agent_log")
    if log.empty:
        return log
    return keep(log, log["level"].isin(["ERROR", "FATAL"]).to_numpy(dtype=bool))


#: At start-up the agent asks each adapter's DHCP for the fabric address; an adapter without the Azure option (a
#: failover cluster's virtual adapter, a loopback adapter) logs "Did not discover fabric address on interface X"
#: at ERROR. That is harmless when the same log then says the agent discovered it on another interface (sample
#: failover-cluster-imds-captured documents it as noise); without such a later line it is left to the other rules.
FABRIC_MISS = re.compile(r"Did not discover fabric address on interface")
FABRIC_FOUND = re.compile(r"Discovered fabric address on interface|Using fabric address \S+ from DHCP")
FABRIC_NOISE_ID = "fabric-address-found-on-another-interface"


def _fabric_misses_resolved(log: pd.DataFrame) -> pd.Series:
    """Rows of ``log`` that are a fabric-address miss followed, later in the same file, by a discovery."""
    miss = contains(log["message"], FABRIC_MISS)  # NA never matches (no Python string per record on a big log)
    found = contains(log["message"], FABRIC_FOUND)
    out = pd.Series(False, index=log.index)
    if not miss.any() or not found.any():
        return out
    lines = pd.to_numeric(log["line"], errors="coerce")
    last_found = lines[found].groupby(log["source"][found]).max()
    for i in log.index[miss]:
        later = last_found.get(log.at[i, "source"])
        out.at[i] = bool(pd.notna(later) and pd.notna(lines.at[i]) and later > lines.at[i])
    return out


def _noise_ids(ctx: Context, log: pd.DataFrame) -> pd.Series:
    """The known-noise id of each record (None: none). The rows some noise pattern matches are found column-wise
    (no Python string per record); only those are named, by their first matching pattern as Context.noise_id does."""
    ids = pd.Series(None, index=log.index, dtype=object)
    noisy = contains_any(log["message"], [n.pattern for n in noise()])
    if noisy.any():
        msgs = keep(log[["message"]], noisy)["message"]
        ids[noisy] = [ctx.noise_id(str(m)) if isinstance(m, str) else None for m in msgs]
    return ids.where(~_fabric_misses_resolved(log), FABRIC_NOISE_ID)


def known_noise(ctx: Context) -> Iterable[Finding]:
    log = ctx.frame("agent_log")
    if log.empty:
        return []
    ids = _noise_ids(ctx, log)
    hits = keep(log, ids.notna().to_numpy(dtype=bool))
    if hits.empty:
        return []
    counts = ids.dropna().value_counts()
    what = ", ".join(f"{k} ({v}x)" for k, v in counts.items())
    return [ctx.finding("KNOWN_HARMLESS_NOISE", f"Ignored known-harmless agent log lines: {what}.",
                        log_evidence(hits, "agent_log", limit=5, first_line_only=True))]


def unexplained_errors(ctx: Context) -> Iterable[Finding]:
    errs = _error_records(ctx)
    if errs.empty:
        return []
    cited = ctx.cited()
    noise = _noise_ids(ctx, ctx.frame("agent_log")).reindex(errs.index)
    keep = [(s, int(ln)) not in cited and n is None
            for s, ln, n in zip(errs["source"], errs["line"], noise.astype(object).where(noise.notna(), None),
                                strict=True)]
    rest = errs[keep]
    if rest.empty:
        return []
    return [ctx.finding("AGENT_LOG_ERRORS",
                        f"{len(rest)} ERROR/FATAL agent log records are not explained by any finding above.",
                        log_evidence(rest, "agent_log", limit=10, first_line_only=True))]


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
