"""Run Command rules: a script that never finished (and blocks every later Run Command), and a script that failed.

Read from the Run Command handlers' logs in the ``handler_log`` frame: action Run Command (v1,
``Microsoft.CPlat.Core.RunCommandWindows``, RunCommandExtension.log) and managed Run Command (v2,
``Microsoft.CPlat.Core.RunCommandHandlerWindows``, RunCommandHandler.log). Their lines (formats doc §3.1, CSS "Run
Command Workflow" TSG): v1 "Command execution task started. Awaiting completion..." then "Command execution finished.
Command exited with code: 0"; v2 "RunCommand script execution task started." then "RunCommand script execution
finished with exit code: 0".

"The maximum time a script can run is 90 minutes" (Run Command article, quoted in MicrosoftDocs/azure-docs#43356);
until a script ends, every new Run Command is refused with "Conflict: Run command extension execution is in progress.
Please wait for completion before invoking a run command." (azure-docs#43356, #10409 - a script waiting on
``Read-Host`` -, Azure/azure-cli#19137, #32305). A script still running at collection but younger than 90 minutes is
not judged: it may be the collection's own Run Command.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ._util import fmt_duration, fmt_ts, keep, log_evidence
from .engine import Context
from .model import Finding

HANDLERS = ("microsoft.cplat.core.runcommandwindows", "microsoft.cplat.core.runcommandhandlerwindows")
STARTED = re.compile(r"^(?:Command execution task started|RunCommand script execution task started)")
FINISHED = re.compile(r"^(?:Command execution finished\. Command exited with code|RunCommand script execution "
                      r"finished with exit code):\s*(-?\d+)")
LIMIT = pd.Timedelta(minutes=90)
_CHECK = "whether a Run Command script is still running"


def _runs(ctx: Context) -> pd.DataFrame:
    """The Run Command handlers' records (once per run: both rules read them)."""
    return ctx.memo("run_command_runs", lambda: _build_runs(ctx))  # type: ignore[return-value]


def _build_runs(ctx: Context) -> pd.DataFrame:
    log = ctx.frame("handler_log")
    if log.empty:
        return log
    return keep(log, is_handler(log["extension"]))


def is_handler(extension: pd.Series) -> np.ndarray:
    """Mask of the values that name a Run Command handler, compared lower-cased (as ``str.lower`` of pandas' string
    dtype does it: Arrow's ``utf8_lower``, called directly when the column is Arrow-backed - ten times cheaper)."""
    arr = getattr(extension.array, "_pa_array", None)
    if arr is None or (not pa.types.is_large_string(arr.type) and not pa.types.is_string(arr.type)):
        return extension.astype("string").str.lower().isin(HANDLERS).fillna(False).to_numpy(dtype=bool)
    hit = pc.is_in(pc.utf8_lower(arr), value_set=pa.array(HANDLERS, type=arr.type))
    return pc.fill_null(hit, False).to_numpy(zero_copy_only=False)


def _is(df: pd.DataFrame, pattern: re.Pattern[str]) -> pd.Series:
    return df["message"].map(lambda m: isinstance(m, str) and bool(pattern.match(m))).astype(bool)


def run_command_still_running(ctx: Context) -> Iterable[Finding]:
    log = _runs(ctx)
    if log.empty:
        return []
    out, unknown = [], []
    ref = ctx.bundle.collected_at
    for src, g in log.groupby("source", sort=False):
        g = g.sort_values("line")
        starts = g[_is(g, STARTED).to_numpy()]
        if starts.empty:
            continue
        last = starts.tail(1)
        after = g[(g["line"] > last["line"].iloc[0]).to_numpy(dtype=bool)]
        if _is(after, FINISHED).any():
            continue
        unread = after[after["message"].isna().to_numpy(dtype=bool)
                       | after["message"].astype("string").str.strip().eq("").fillna(True).to_numpy(dtype=bool)]
        if not unread.empty:  # an unread record after the start may be its end
            unknown.append(f"{src}: message unknown in {len(unread)} record(s) after the script started")
            continue
        start = last["ts"].iloc[0]
        if pd.isna(start) or ref is None:
            unknown.append(f"{src}: {'ts of the script start' if pd.isna(start) else 'the collection time'} unknown")
            continue
        if ref - start > LIMIT:
            out.append((src, last, ref - start))
    if not out:
        return [ctx.not_checked(_CHECK, "; ".join(unknown))] if unknown else []
    src, last, age = max(out, key=lambda x: x[2])
    ext = str(last["extension"].iloc[0])
    return [ctx.finding("RUN_COMMAND_STILL_RUNNING",
                        f"A Run Command script ({ext}) started at {fmt_ts(last['ts'].iloc[0])} and had not finished "
                        f"{fmt_duration(age)} later, at collection: past the 90-minute limit. Until it ends, every new "
                        "Run Command is refused with 'Run command extension execution is in progress' (Conflict).",
                        log_evidence(last, "handler_log"))]


def run_command_script_failed(ctx: Context) -> Iterable[Finding]:
    log = _runs(ctx)
    if log.empty:
        return []
    ends = log[_is(log, FINISHED).to_numpy()]
    if ends.empty:
        return []
    failed, unknown = [], []
    for ext, g in ends.groupby("extension", sort=False):
        mine = log[(log["extension"] == ext).to_numpy(dtype=bool)]
        unread = mine[mine["ts"].isna().to_numpy(dtype=bool) | mine["message"].isna().to_numpy(dtype=bool)]
        if not unread.empty:  # an unread record may be a later run's end
            unknown += [f"{s}: ts or message unknown in {n} record(s)"
                        for s, n in unread["source"].value_counts().items()]
            continue
        last = g.sort_values(["ts", "line"]).tail(1)  # an older failure is history
        code = int(FINISHED.match(str(last["message"].iloc[0])).group(1))
        if code != 0:
            failed.append((last, code))
    if not failed:
        return [ctx.not_checked("whether the last Run Command script succeeded", "; ".join(unknown))] if unknown else []
    parts = [f"{r['extension'].iloc[0]} at {fmt_ts(r['ts'].iloc[0])}: exit code {c}" for r, c in failed]
    return [ctx.finding("RUN_COMMAND_SCRIPT_FAILED",
                        "Run Command ran the script, and the script itself failed (" + "; ".join(parts) + "). The "
                        "platform and the agent did their part: the cause is in the script and its output.",
                        [e for r, _ in failed for e in log_evidence(r, "handler_log")])]


#: What each rule decides from, {rule: {frame: columns}} (tests/test_unknown_never_bad.py makes these unknown and
#: checks that no verdict follows; it fails for a rule without an entry).
JUDGES: dict[str, dict[str, tuple[str, ...]]] = {
    "run_command_still_running": {"handler_log": ("extension", "message", "ts")},
    "run_command_script_failed": {"handler_log": ("extension", "message", "ts")},
}

RULES = [run_command_still_running, run_command_script_failed]
