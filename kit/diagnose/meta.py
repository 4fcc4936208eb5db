"""Meta rules, run last: unexplained errors, known noise, damaged input."""

from __future__ import annotations

from collections.abc import Iterable

from ..catalog import noise
from ._util import contains_any, keep, log_evidence
from .engine import Context
from .model import Evidence, Finding


def _error_records(ctx: Context):
    log = ctx.frame("agent_log")
    if log.empty:
        return log
    return keep(log, log["level"].isin(["ERROR", "FATAL"]).to_numpy(dtype=bool))


def known_noise(ctx: Context) -> Iterable[Finding]:
    log = ctx.frame("agent_log")
    if log.empty:
        return []
    # The rows some noise pattern matches, found column-wise (no Python string per record); each is then named by
    # its first matching pattern as Context.noise_id does.
    hits = keep(log, contains_any(log["message"], [n.pattern for n in noise()]))
    if hits.empty:
        return []
    ids = hits["message"].map(lambda m: ctx.noise_id(str(m)) if isinstance(m, str) else None)
    counts = ids.dropna().value_counts()
    what = ", ".join(f"{k} ({v}x)" for k, v in counts.items())
    return [ctx.finding("KNOWN_HARMLESS_NOISE", f"Ignored known-harmless agent log lines: {what}.",
                        log_evidence(hits, "agent_log", limit=5, first_line_only=True))]


def unexplained_errors(ctx: Context) -> Iterable[Finding]:
    errs = _error_records(ctx)
    if errs.empty:
        return []
    cited = ctx.cited()
    keep = [(s, int(ln)) not in cited and ctx.noise_id(str(m)) is None
            for s, ln, m in zip(errs["source"], errs["line"], errs["message"], strict=True)]
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
