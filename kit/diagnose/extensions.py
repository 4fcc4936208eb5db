"""Extension rules: timeouts against their budgets, failures, stuck transitions, failed downloads, an OS the
extension does not support (error code 51), and a failed extension blocking the ones after it.

Run times, budgets and outcomes are read from the ``extension_operations`` frame (:mod:`kit.derive.operations`,
with its budget table and sources); EXTENSION_TIMEOUT is decided from that frame only.

A status file that a more specific finding already explains (a Key Vault settings error, an unsupported OS, a
failed extension that blocks others, a Key Vault initial sync) is not reported again as a generic failure or
stuck transition: the specific rules run first (see ``RULE_MODULES`` and ``RULES``).
"""

from __future__ import annotations

import re
from collections import Counter, namedtuple
from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..catalog import signature_pattern
from ..derive.operations import (
    DEFAULT_BUDGET,
    EXTENSION_OPERATIONS,
    PLUGIN_FOLDER,
    budget_for,
    known_extension,
    row_values,
    values,
)
from ..derive.operations import handler_runs as handler_runs  # re-exported (its home is kit.derive.operations)
from ..derive.operations import is_operation_row as _is_operation
from ._util import contains, fmt_duration, fmt_ts, frame_evidence, keep, log_evidence, missing_in
from .engine import Context
from .model import Evidence, Finding

DOWNLOAD_FAILED = signature_pattern("EXTENSION_DOWNLOAD_FAILED", "log")
#: Error code 51: the extension does not support this OS (VM extensions article, "Azure VM Agent": 'might emit error
#: code 51 ("Unsupported OS")'). Windows handlers report it as the status code; Linux ones as "Non-zero exit code:
#: 51" (formats doc Appendix A). A status message naming an unsupported OS counts too.
OS_UNSUPPORTED_CODE = 51
OS_UNSUPPORTED_TEXT = signature_pattern("EXTENSION_OS_UNSUPPORTED", "log")
#: The generic message of a script extension's status: it says the command ran, not that it worked (VM extensions
#: article, "View extension status": ProvisioningState/failed/-196608 with "Finished executing command").
GENERIC_FINISHED = re.compile(r"^\s*(?:Finished executing command|Command execution finished)\.?\s*$", re.IGNORECASE)


def _known_extensions(ctx: Context) -> list[str]:
    names: set[str] = set()
    for frame in ("handler_log", "ext_status", "ext_settings"):
        df = ctx.frame(frame)
        if not df.empty:
            names |= {str(x) for x in df["extension"].dropna().unique()}
    return sorted(names, key=len, reverse=True)


def _ext_in(text: str, names: list[str]) -> str | None:
    for n in names:
        if n.lower() in text.lower():
            return n
    m = re.search(r"(?:plugin|extension|handler)\s+'?([A-Z][\w]*(?:\.[\w]+){1,4})", text)
    return m.group(1) if m else None


def _records(ctx: Context, artifact: str, places: list[tuple[object, object]]) -> list[Evidence]:
    """Evidence: the records of ``artifact`` at these (source, line) places, in that order."""
    df = ctx.frame(artifact)
    out: list[Evidence] = []
    if df.empty:
        return out
    lines = df["line"].to_numpy(dtype="int64", na_value=0)
    read = df["line"].notna().to_numpy()
    for src, line in dict.fromkeys((str(s), int(n)) for s, n in places if isinstance(s, str) and not pd.isna(n)):
        # the rows with that line number (numpy), then of those the ones of that file
        cand = np.flatnonzero((lines == line) & read)
        rows = [r for r in zip(*(df[c].take(cand).tolist() for c in ("source", "line", "ts", "text")), strict=True)
                if r[0] == src]
        if rows:  # as log_evidence(rows, limit=1, first_line_only=True): the newest by (ts, line), missing first
            s, n, ts, text = max(reversed(rows), key=lambda r: (*_na_first(r[2]), *_na_first(r[1])))
            out.append(Evidence(artifact=artifact, text=str(text).split("\n", 1)[0], source=s, line=n, ts=ts))
    return out


def _status_evidence(ctx: Context, sources: Iterable[object], ext: str | None, *, status: bool) -> list[Evidence]:
    """The aggregate-status rows of these files about ``ext``, and with ``status`` their status-file rows (citing a
    status file as ext_status evidence explains it: EXTENSION_STUCK_TRANSITIONING then leaves it alone)."""
    srcs = {str(s) for s in sources if isinstance(s, str)}
    ev: list[Evidence] = []
    st = ctx.frame("ext_status")
    if status and not st.empty:
        ev += frame_evidence(st[st["source"].isin(srcs).to_numpy(dtype=bool)], "ext_status",
                             ["extension", "ext_version", "seq", "operation", "status", "message"], ts="timestamp",
                             limit=2)
    hs = ctx.frame("handler_status")
    if not hs.empty:
        mine = hs["source"].isin(srcs).to_numpy(dtype=bool) & (hs["handler_name"] == ext).fillna(False).to_numpy(bool)
        ev += frame_evidence(hs[mine], "handler_status",
                             ["handler_name", "handler_version", "seq", "settings_operation", "settings_status"],
                             ts="snapshot_time", limit=3)
    return ev


_EPS = pd.Timedelta(microseconds=1)
#: A row of extension_operations (its columns by name).
_Operation = namedtuple("_Operation", EXTENSION_OPERATIONS.names)  # type: ignore[misc]


def _true(v: object) -> bool:
    """A nullable boolean that is known and true."""
    return not pd.isna(v) and bool(v)  # type: ignore[arg-type]


def extension_timeout(ctx: Context) -> Iterable[Finding]:
    """From the ``extension_operations`` frame only (:mod:`kit.derive.operations`): an operation the agent killed,
    one that finished after its budget, one still running past it at collection, and one whose own records
    (handler log, or successive status snapshots) show it running longer than its budget. One that other sources
    say succeeded is not a time-out; one whose end may be in a record that was not read is "cannot tell"."""
    ops = ctx.derived("extension_operations")
    ref = ctx.time_reference
    out: list[Finding] = []
    unknown: list[str] = []
    explained = explained_status_sources(ctx)
    if ops.empty:
        if ctx.frame("ext_status").empty:
            return [ctx.not_checked("extension run times", "no extension handler logs or status files in the bundle")]
        return []
    # one object array of the frame's values (a few rows): a fraction of itertuples' cost, same values
    rows = ops.to_numpy(dtype=object).tolist() if tuple(ops.columns) == _Operation._fields else \
        row_values(ops, *_Operation._fields)
    for r in map(_Operation._make, rows):
        ext = r.extension if isinstance(r.extension, str) else None
        notes = str(r.unread) if isinstance(r.unread, str) else ""
        budget = pd.Timedelta(minutes=r.budget_min) if not pd.isna(r.budget_min) else None
        if (ext is None or budget is None) and r.outcome != "timeout-killed" and r.outcome != "success":
            unknown.append(notes or f"{r.source}: extension unknown")  # its budget is not known
            continue
        status_only = "handler_log" not in str(r.sources).split(", ") and r.end_basis != "agent_log"
        if status_only and {r.source, r.last_seen_source} & explained:
            continue  # a more specific finding (Key Vault's initial sync) already explains these statuses
        label = f"{ext or 'an extension'} {r.version if isinstance(r.version, str) else ''}".strip()
        start = f"{r.operation} started {fmt_ts(r.start)}" if not pd.isna(r.start) else str(r.operation)
        tail = f"; the budget is {fmt_duration(budget)}." if budget is not None else "."
        if isinstance(r.disagreement, str):
            tail += f" Sources disagree: {r.disagreement}."
        if r.outcome == "timeout-killed" and pd.isna(r.start):
            how = f"{label}: the logs say it ran out of time ({r.end_text.split(';')[0]}, the last at {fmt_ts(r.end)})"
        elif r.outcome == "timeout-killed":
            how = (f"{label}: {start} and was killed by the agent at {fmt_ts(r.end)}, after "
                   f"{fmt_duration(r.end - r.start)}, for not exiting on time; last sign of life "
                   f"{fmt_ts(r.last_seen)}")
        elif r.outcome == "success" and not pd.isna(r.killed_at):  # the agent's own line is read evidence too
            how = (f"{label}: {start} and was killed by the agent at {fmt_ts(r.killed_at)} for not exiting on time; "
                   f"{r.end_basis} says success at {fmt_ts(r.end)}")
        elif r.outcome == "success" or r.outcome == "failed" or (r.outcome == "unknown" and not pd.isna(r.end)):
            if not _true(r.over_budget):
                continue
            how = f"{label}: {start} and finished only after {fmt_duration(r.end - r.start)}"
        elif notes and (pd.isna(r.end)):
            unknown.append(notes)  # whether (or when) it finished is in a record that was not read
            continue
        elif status_only and budget is not None and not pd.isna(r.seen_min) and r.seen_min > r.budget_min:
            how = (f"{label}: reported 'transitioning' from {fmt_ts(r.start)} to {fmt_ts(r.last_seen)} across "
                   f"{int(r.snapshots)} status snapshot(s), {fmt_duration(r.last_seen - r.start)}")
        elif status_only:
            continue  # one stale status is EXTENSION_STUCK_TRANSITIONING's to judge
        elif r.outcome == "still-running" and _true(r.over_budget):
            how = (f"{label}: {start} and had not finished after {fmt_duration(ref - r.start)} (collection at "
                   f"{fmt_ts(ref)}); last sign of life {fmt_ts(r.last_seen)}")
        elif budget is not None and not pd.isna(r.seen_min) and r.seen_min > r.budget_min:
            how = (f"{label}: {start} and never logged completion; it was alive for "
                   f"{fmt_duration(r.last_seen - r.start)}")
        else:
            continue
        ev: list[Evidence] = []
        if r.end_basis in ("agent_log", "handler_log") and r.outcome == "timeout-killed":
            ev += _records(ctx, str(r.end_basis), [(r.end_source, r.end_line)])  # the agent's own kill line first
        ev += _records(ctx, "handler_log", [(r.source, r.line), (r.last_seen_source, r.last_seen_line),
                                            (r.end_source, r.end_line)])
        # an operation known from its statuses only is the stuck transition too: cited here, not reported twice
        ev += _status_evidence(ctx, [r.source, r.last_seen_source, r.end_source], ext, status=status_only)
        out.append(ctx.finding("EXTENSION_TIMEOUT", how + tail, ev))
    if unknown:
        out.append(ctx.not_checked("extension run times", "; ".join(dict.fromkeys(unknown))))
    return out


def _latest_status(ctx: Context) -> pd.DataFrame:
    """The newest status row of each extension (by sequence number, then time); built once per run."""
    return ctx.memo("latest_status", lambda: _build_latest_status(ctx))  # type: ignore[return-value]


def _build_latest_status(ctx: Context) -> pd.DataFrame:
    # In Python over the columns' values: a few rows, where sort_values, groupby and transform cost most of the time.
    st = ctx.frame("ext_status")
    if st.empty:
        return st
    seq, stamp, ext, source = (st[c].tolist() for c in ("seq", "timestamp", "extension", "source"))
    # by sequence number, then time, a missing one first (sort_values(na_position="first"), stable)
    order = sorted(range(len(st)), key=lambda i: (*_na_first(seq[i]), *_na_first(stamp[i])))
    # An extension whose name was not read is the one of its plugin folder (C/Packages/Plugins/<ext>/<version>/...).
    key = [ext[i] if known_extension(ext[i]) else (m.group(1) if (m := PLUGIN_FOLDER.search(str(source[i])))
                                                   else source[i]) for i in range(len(st))]
    # Of several status files of one extension, the newest is not known when one's sequence number was not read.
    size = Counter(key)
    no_seq = {key[i] for i in order if pd.isna(seq[i]) and size[key[i]] > 1}
    unread = [i for i in order if key[i] in no_seq and pd.isna(seq[i])]
    ctx.memo("latest_status_unread", lambda: missing_in(st.iloc[unread], "seq") if unread else [])
    newest = {key[i]: i for i in order if key[i] not in no_seq}  # the last of each extension's rows in that order
    return st.iloc[[i for i in order if newest.get(key[i]) == i]]


def _na_first(v: object) -> tuple[int, object]:
    """Sort key of a value that may be missing: missing values first (``sort_values(na_position="first")``)."""
    return (0, 0) if pd.isna(v) else (1, v)  # type: ignore[arg-type]


def explained_status_sources(ctx: Context) -> set[str]:
    """Status files (``source``) that findings so far already cite as ext_status evidence."""
    return {str(e.source) for f in ctx.findings for e in f.evidence if e.artifact == "ext_status" and e.source}


def _stderr(ctx: Context, row: pd.Series) -> str | None:
    sub = ctx.frame("ext_substatus")
    if sub.empty:
        return None
    s = sub[(sub["source"] == row["source"]) & (sub["name"].str.lower() == "stderr")]
    msgs = [str(m).strip() for m in s["message"].dropna() if str(m).strip()]
    return msgs[0] if msgs else None


def extension_failed(ctx: Context) -> Iterable[Finding]:
    latest = _latest_status(ctx)
    unread: list[str] = ctx.memo("latest_status_unread", list)  # type: ignore[assignment]
    out = [ctx.not_checked("the newest status of each extension", "; ".join(unread))] if unread else []
    if latest.empty or "error" not in values(latest["status"]):
        return out
    explained = explained_status_sources(ctx)
    for _, r in latest[latest["status"] == "error"].iterrows():
        if str(r["source"]) in explained:
            continue
        parts = [f"{r['extension']} {r['ext_version']} (sequence {r['seq']}) reported error"]
        if not pd.isna(r["code"]):
            parts.append(f"code {int(r['code'])} (the portal shows ProvisioningState/failed/{int(r['code'])})")
        if not pd.isna(r["exit_code"]):
            parts.append(f"script exit code {int(r['exit_code'])}")
        msg = r["message"] if isinstance(r["message"], str) else ""
        summary = ", ".join(parts) + (f": \"{msg.strip()[:300]}\"" if msg else "")
        err = _stderr(ctx, r)
        if GENERIC_FINISHED.match(msg):
            summary += (". That message only says the command ran; the status is a failure, whatever the StdOut/StdErr "
                        "substatuses say")
        if err:
            summary += f". StdErr: \"{err[:300]}\""
        ev = frame_evidence(pd.DataFrame([r]), "ext_status",
                            ["extension", "ext_version", "seq", "operation", "status", "code", "message"],
                            ts="timestamp")
        out.append(ctx.finding("EXTENSION_FAILED", summary + ".", ev))
    return out


def extension_stuck(ctx: Context) -> Iterable[Finding]:
    latest = _latest_status(ctx)
    ref = ctx.time_reference
    if latest.empty:
        return []
    out = []
    unknown: list[str] = []
    explained = explained_status_sources(ctx)
    # an operation another source says succeeded (the handler log's success record, a newer snapshot) is not stuck:
    # extension_operations names the disagreement
    ops = ctx.derived("extension_operations")
    if "transitioning" not in values(latest["status"]):
        return []
    # a status written after that success (its time stamp is the handler's own) is a later state, still judged
    done = {(str(e).lower(), int(q)): t for e, q, o, t in zip(ops["extension"], ops["seq"], ops["outcome"], ops["end"],
                                                             strict=True)
            if isinstance(e, str) and not pd.isna(q) and o == "success" and not pd.isna(t)}
    for _, r in latest[latest["status"] == "transitioning"].iterrows():
        if ref is None or pd.isna(r["timestamp"]) or str(r["source"]) in explained:
            continue
        named = isinstance(r["extension"], str) and not pd.isna(r["seq"])
        if named and r["timestamp"] <= done.get((r["extension"].lower(), int(r["seq"])), r["timestamp"] - _EPS):
            continue
        age = ref - r["timestamp"]
        if not known_extension(r["extension"]) and age > DEFAULT_BUDGET:
            unknown += missing_in(pd.DataFrame([r]), "extension")  # its budget is not known
            continue
        budget = budget_for(r["extension"])
        if age <= budget:
            continue
        ev = frame_evidence(pd.DataFrame([r]), "ext_status",
                            ["extension", "ext_version", "seq", "operation", "status", "message"], ts="timestamp")
        out.append(ctx.finding("EXTENSION_STUCK_TRANSITIONING",
                               f"{r['extension']} {r['ext_version']} (sequence {r['seq']}) has reported "
                               f"'transitioning' since {fmt_ts(r['timestamp'])}, {fmt_duration(age)} before "
                               f"collection (budget {fmt_duration(budget)}).", ev))
    if unknown:
        out.append(ctx.not_checked("whether an extension is stuck transitioning", "; ".join(unknown)))
    return out


def extension_download(ctx: Context) -> Iterable[Finding]:
    agent_log = ctx.frame("agent_log")
    in_agent = contains(agent_log["message"], DOWNLOAD_FAILED)
    log = ctx.frame("handler_log")  # of it, records of extension operations (service logs such as akvvm left out)
    in_log = _is_operation(log) & contains(log["message"], DOWNLOAD_FAILED)
    if not (in_agent.any() or in_log.any()):
        return []
    agent = keep(agent_log, in_agent) if not agent_log.empty else agent_log
    handler = keep(log, in_log) if not log.empty else log
    names = _known_extensions(ctx)
    hits = pd.concat([agent.assign(_a="agent_log"), handler.assign(_a="handler_log")])
    exts = sorted({_ext_in(str(t), names) or "an extension" for t in hits["text"]})
    ev: list[Evidence] = []
    for art, g in hits.groupby("_a"):
        ev += log_evidence(g.drop(columns="_a"), str(art), limit=6)
    return [ctx.finding("EXTENSION_DOWNLOAD_FAILED",
                        f"Downloads failed for {', '.join(exts)}: {len(hits)} log records, from "
                        f"{fmt_ts(hits['ts'].min())} to {fmt_ts(hits['ts'].max())}.", ev)]


def extension_os_unsupported(ctx: Context) -> Iterable[Finding]:
    latest = _latest_status(ctx)
    if latest.empty or "error" not in values(latest["status"]):
        return []
    err = latest[(latest["status"] == "error").to_numpy(dtype=bool)]
    code51 = ((err["code"] == OS_UNSUPPORTED_CODE).fillna(False)
              | (err["exit_code"] == OS_UNSUPPORTED_CODE).fillna(False)).to_numpy(dtype=bool)
    text = contains(err["message"], OS_UNSUPPORTED_TEXT)
    out = []
    for (_, r), by_code in zip(err[code51 | text].iterrows(), code51[code51 | text], strict=True):
        how = f"error code {OS_UNSUPPORTED_CODE}" if by_code else "its status message"
        msg = r["message"] if isinstance(r["message"], str) else ""
        out.append(ctx.finding(
            "EXTENSION_OS_UNSUPPORTED",
            f"{r['extension']} {r['ext_version']} does not support this operating system ({how}, reported "
            f"{fmt_ts(r['timestamp'])})" + (f": \"{msg.strip()[:300]}\"" if msg else "") + ". Retrying will not help.",
            frame_evidence(pd.DataFrame([r]), "ext_status", ["extension", "ext_version", "seq", "operation", "status",
                                                             "code", "message"], ts="timestamp")))
    return out


def extension_blocked(ctx: Context) -> Iterable[Finding]:
    """A failed extension and, after it, extensions that reached the VM (runtime settings written, or the agent
    looked up their package) but never started: no handler log, no status. The VM extensions article: "if there's
    an existing extension with a failed provisioning state, any other new extension fails to install"."""
    latest = _latest_status(ctx)
    if latest.empty or "error" not in values(latest["status"]):
        return []
    failed = latest[(latest["status"] == "error").to_numpy(dtype=bool)]
    if failed.empty:
        return []
    settings = ctx.frame("ext_settings")
    logs = ctx.frame("handler_log")
    started = {str(x).lower() for x in pd.concat([latest["extension"], logs["extension"] if not logs.empty else
                                                  pd.Series(dtype="str")]).dropna()}
    # An extension whose name was not read in its status or log is the one of its plugin folder.
    started |= {str(x).lower() for x in pd.concat([latest["source"], logs["source"] if not logs.empty else
                                                  pd.Series(dtype="str")]).astype(str)
                .str.extract(r"Plugins/([^/]+)/", expand=False).dropna()}
    hist = ctx.derived("extension_history")
    first_seen: dict[str, pd.Timestamp] = {}
    for r in hist.dropna(subset=["ts"]).itertuples(index=False):
        first_seen.setdefault(str(r.extension).lower(), r.ts)
    candidates: dict[str, list[Evidence]] = {}
    for r in settings.dropna(subset=["extension"]).itertuples(index=False):
        if str(r.extension).lower() not in started:
            candidates.setdefault(str(r.extension), []).append(
                Evidence(artifact="ext_settings", text=f"{r.extension} {r.ext_version}: runtime settings (sequence "
                         f"{r.seq}) but no handler log and no status file", source=r.source))
    fail_at = failed["timestamp"].min()
    for r in hist.itertuples(index=False):
        ext = str(r.extension)
        if ext.lower() in started or (not pd.isna(fail_at) and not pd.isna(r.ts) and r.ts < fail_at):
            continue
        candidates.setdefault(ext, []).append(Evidence(artifact="agent_log", text=str(r.text).split("\n", 1)[0],
                                                       source=r.source, line=r.line, ts=r.ts))
    # an extension the agent looked up before the failure and that then never started is not "blocked" by it
    blocked = {e: ev for e, ev in candidates.items()
               if not (e.lower() in first_seen and not pd.isna(fail_at) and first_seen[e.lower()] < fail_at)}
    if not blocked:
        return []
    ev = frame_evidence(failed, "ext_status", ["extension", "ext_version", "seq", "operation", "status", "code",
                                               "message"], ts="timestamp")
    for items in blocked.values():
        ev += items[:3]
    names = ", ".join(f"{e} {v}" for e, v in zip(failed["extension"], failed["ext_version"], strict=True))
    return [ctx.finding(
        "EXTENSION_BLOCKED_BY_FAILED_EXTENSION",
        f"{names} is in a failed state (since {fmt_ts(fail_at)}) and {len(blocked)} extension(s) after it never "
        f"started: {', '.join(sorted(blocked))}. While one extension is failed, new ones fail to install.", ev)]


_STATUS_JUDGED = ("extension", "seq", "timestamp", "status")
#: What each rule decides from, {rule: {frame: columns}} (tests/test_unknown_never_bad.py makes these unknown and
#: checks that no verdict follows; it fails for a rule without an entry).
JUDGES: dict[str, dict[str, tuple[str, ...]]] = {
    "extension_os_unsupported": {"ext_status": (*_STATUS_JUDGED, "code", "exit_code", "message")},
    "extension_blocked": {"ext_status": _STATUS_JUDGED, "ext_settings": ("extension",),
                          "handler_log": ("extension",), "agent_log": ("message", "ts")},
    # through the extension_operations frame (kit.derive.operations): the columns it reads
    "extension_timeout": {"handler_log": ("extension", "layout", "pid", "ts", "message", "text"),
                          "agent_log": ("text", "ts"),
                          "ext_status": ("extension", "seq", "timestamp", "status", "operation"),
                          "handler_status": ("handler_name", "seq", "settings_status", "settings_time",
                                             "snapshot_time", "settings_operation")},
    "extension_failed": {"ext_status": (*_STATUS_JUDGED, "code", "exit_code", "message"),
                         "ext_substatus": ("name", "message")},
    "extension_stuck": {"ext_status": _STATUS_JUDGED, "handler_log": ("ts", "message"),
                        "handler_status": ("handler_name", "seq", "settings_status", "settings_time")},
    "extension_download": {"agent_log": ("message",), "handler_log": ("layout", "message")},
}

RULES = [extension_os_unsupported, extension_blocked, extension_timeout, extension_failed, extension_stuck,
         extension_download]
