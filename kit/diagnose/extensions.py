"""Extension rules: timeouts against their budgets, failures, stuck transitions, failed downloads.

Budgets (Microsoft's extension documentation): every extension operation gets 20 minutes, except
CustomScriptExtension, DSC and Chef, which get 90.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd

from ._util import fmt_duration, fmt_ts, frame_evidence, log_evidence, match
from .engine import Context
from .model import Evidence, Finding

DEFAULT_BUDGET = pd.Timedelta(minutes=20)
LONG_BUDGET = pd.Timedelta(minutes=90)
#: Extensions with the 90-minute budget, matched case-insensitively against Publisher.Type.
LONG_BUDGET_EXTENSIONS = re.compile(r"CustomScriptExtension|\.DSC$|ChefClient|^Chef\.", re.IGNORECASE)

#: A handler run that logged one of these finished (formats doc §3).
FINISHED = (r"Command execution finished|exited with code|execution finished with exit code"
            r"|successfully (?:installed|enabled|disabled|uninstalled|updated)|Handler successfully"
            r"|is not greater than the sequence number|Exiting\.\.\.|Exiting\.$")
#: A handler that started a script asynchronously has finished only when the script has (formats doc §3.2).
ASYNC_START = r"Awaiting completion|Asynchronously executing|execution task started"
SCRIPT_DONE = r"Command execution finished|exited with code|finished with exit code"
OPERATION = re.compile(r"(Install|Enabl|Disabl|Uninstall|Updat)ing Handler|handler command: (\w+)", re.IGNORECASE)
#: The agent or the platform saying an extension ran out of time (formats doc §3.2: CRP's wording).
TIMED_OUT = (r"has not exited on time|Timed out waiting for extension|timed out after|exceeded the maximum"
             r" (?:allowed )?(?:execution )?time")
DOWNLOAD_FAILED = (r"(?i)(?:fail\w* to download|download\w* fail\w*|could not (?:be )?download|Unable to download)"
                   r"(?! (?:the )?(?:certificate|secret))"  # a Key Vault certificate is not a package
                   r"|Fetch failed|failed to (?:get|fetch|retrieve) (?:the )?(?:plugin|extension|manifest|package)")


def budget_for(extension: str | None) -> pd.Timedelta:
    """The time budget of an extension's operations."""
    return LONG_BUDGET if extension and LONG_BUDGET_EXTENSIONS.search(extension) else DEFAULT_BUDGET


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


def handler_runs(log: pd.DataFrame) -> pd.DataFrame:
    """One row per handler invocation (a PID in ``[PID+TID]`` logs, else a file) from a ``handler_log`` frame.

    Columns: source, pid, extension, ext_version, start, last (last sign of life), finished,
    finished_at, operation, first_line, rows (the run's records).
    """
    if log.empty:
        return pd.DataFrame()
    log = log.dropna(subset=["ts"])
    runs = []
    for (source, pid), g in log.groupby(["source", log["pid"].fillna(-1)], sort=False):
        g = g.sort_values("line")
        started = match(g, ASYNC_START, "message")
        if started.empty:
            fin = match(g, FINISHED, "message")
        else:
            fin = match(g[g["line"] > started["line"].max()], SCRIPT_DONE, "message")
        runs.append({"source": source, "pid": None if pid == -1 else int(pid), "extension": g["extension"].iloc[0],
                     "ext_version": g["ext_version"].iloc[0], "start": g["ts"].iloc[0], "last": g["ts"].iloc[-1],
                     "finished": not fin.empty, "finished_at": fin["ts"].iloc[0] if not fin.empty else pd.NaT,
                     "operation": _op_name(g), "first_line": g["line"].iloc[0], "rows": g})
    return pd.DataFrame(runs)


def _op_name(g: pd.DataFrame) -> str:
    for t in g["message"]:
        m = OPERATION.search(str(t))
        if m:
            word = (m.group(1) or m.group(2)).lower()
            return {"install": "install", "enabl": "enable", "disabl": "disable", "uninstall": "uninstall",
                    "updat": "update"}.get(word, word)
    return "operation"


def extension_timeout(ctx: Context) -> Iterable[Finding]:
    out: list[Finding] = []
    names = _known_extensions(ctx)
    ref = ctx.time_reference
    runs = handler_runs(ctx.frame("handler_log"))
    flagged: set[str] = set()
    if not runs.empty:
        for ext, g in runs.groupby(runs["extension"].fillna("unknown extension"), sort=False):
            budget = budget_for(str(ext))
            g = g.sort_values("start")
            for i, r in enumerate(g.itertuples(index=False)):
                is_last = i == len(g) - 1
                if r.finished:
                    took = r.finished_at - r.start
                    if took <= budget:
                        continue
                    how = f"finished only after {fmt_duration(took)}"
                elif is_last and ref is not None and ref - r.start > budget:
                    took = ref - r.start
                    how = (f"had not finished after {fmt_duration(took)} (collection at {fmt_ts(ref)}); "
                           f"last sign of life {fmt_ts(r.last)}")
                elif not is_last and r.last - r.start > budget:
                    took = r.last - r.start
                    how = f"never logged completion; it was alive for {fmt_duration(took)}"
                else:
                    continue
                flagged.add(str(ext))
                rows = r.rows
                ev = log_evidence(pd.concat([rows.head(3), rows.tail(2)]).drop_duplicates(["source", "line"]),
                                  "handler_log", limit=6, first_line_only=True)
                out.append(ctx.finding(
                    "EXTENSION_TIMEOUT",
                    f"{ext} {r.ext_version if isinstance(r.ext_version, str) else ''}".strip()
                    + f": {r.operation} started {fmt_ts(r.start)} and {how}; the budget is "
                      f"{fmt_duration(budget)}.", ev))
    said = pd.concat([match(ctx.frame("agent_log"), TIMED_OUT).assign(_a="agent_log"),
                      match(ctx.frame("handler_log"), TIMED_OUT).assign(_a="handler_log")])
    if not said.empty:
        said["_ext"] = [_ext_in(str(t), names) or "an extension" for t in said["text"]]
        for ext, g in said.groupby("_ext", sort=False):
            if ext in flagged:
                continue
            ev = [e for art, ga in g.groupby("_a") for e in log_evidence(ga, str(art), limit=5)]
            out.append(ctx.finding("EXTENSION_TIMEOUT",
                                   f"{ext}: the logs say it ran out of time ({len(g)} record(s), the last at "
                                   f"{fmt_ts(g['ts'].max())}); the budget is {fmt_duration(budget_for(str(ext)))}.",
                                   ev))
    if runs.empty and said.empty and ctx.frame("ext_status").empty:
        return [ctx.not_checked("extension run times", "no extension handler logs or status files in the bundle")]
    return out


def _latest_status(ctx: Context) -> pd.DataFrame:
    st = ctx.frame("ext_status")
    if st.empty:
        return st
    st = st.sort_values(["seq", "timestamp"], na_position="first", kind="stable")
    return st.groupby(st["extension"].fillna(st["source"]), sort=False).tail(1)


def _stderr(ctx: Context, row: pd.Series) -> str | None:
    sub = ctx.frame("ext_substatus")
    if sub.empty:
        return None
    s = sub[(sub["source"] == row["source"]) & (sub["name"].str.lower() == "stderr")]
    msgs = [str(m).strip() for m in s["message"].dropna() if str(m).strip()]
    return msgs[0] if msgs else None


def extension_failed(ctx: Context) -> Iterable[Finding]:
    latest = _latest_status(ctx)
    if latest.empty:
        return []
    out = []
    for _, r in latest[latest["status"] == "error"].iterrows():
        if r["code"] == OS_NOT_SUPPORTED:
            continue  # EXTENSION_OS_UNSUPPORTED says it better
        parts = [f"{r['extension']} {r['ext_version']} (sequence {r['seq']}) reported error"]
        if not pd.isna(r["code"]):
            parts.append(f"code {int(r['code'])}")
        if not pd.isna(r["exit_code"]):
            parts.append(f"script exit code {int(r['exit_code'])}")
        msg = r["message"] if isinstance(r["message"], str) else ""
        summary = ", ".join(parts) + (f": \"{msg.strip()[:300]}\"" if msg else "")
        err = _stderr(ctx, r)
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
    for _, r in latest[latest["status"] == "transitioning"].iterrows():
        if ref is None or pd.isna(r["timestamp"]):
            continue
        age = ref - r["timestamp"]
        budget = budget_for(r["extension"] if isinstance(r["extension"], str) else None)
        if age <= budget:
            continue
        ev = frame_evidence(pd.DataFrame([r]), "ext_status",
                            ["extension", "ext_version", "seq", "operation", "status", "message"], ts="timestamp")
        out.append(ctx.finding("EXTENSION_STUCK_TRANSITIONING",
                               f"{r['extension']} {r['ext_version']} (sequence {r['seq']}) has reported "
                               f"'transitioning' since {fmt_ts(r['timestamp'])}, {fmt_duration(age)} before "
                               f"collection (budget {fmt_duration(budget)}).", ev))
    return out


def extension_download(ctx: Context) -> Iterable[Finding]:
    names = _known_extensions(ctx)
    hits = pd.concat([match(ctx.frame("agent_log"), DOWNLOAD_FAILED, "message").assign(_a="agent_log"),
                      match(ctx.frame("handler_log"), DOWNLOAD_FAILED, "message").assign(_a="handler_log")])
    if hits.empty:
        return []
    exts = sorted({_ext_in(str(t), names) or "an extension" for t in hits["text"]})
    ev: list[Evidence] = []
    for art, g in hits.groupby("_a"):
        ev += log_evidence(g.drop(columns="_a"), str(art), limit=6)
    return [ctx.finding("EXTENSION_DOWNLOAD_FAILED",
                        f"Downloads failed for {', '.join(exts)}: {len(hits)} log records, from "
                        f"{fmt_ts(hits['ts'].min())} to {fmt_ts(hits['ts'].max())}.", ev)]


#: Extension error code 51: the handler does not support this operating system.
OS_NOT_SUPPORTED = 51


def extension_os_unsupported(ctx: Context) -> Iterable[Finding]:
    latest = _latest_status(ctx)
    if latest.empty:
        return []
    hit = latest[(latest["code"] == OS_NOT_SUPPORTED).fillna(False).to_numpy(dtype=bool)
                 & (latest["status"] != "success").fillna(True).to_numpy(dtype=bool)]
    out = []
    for _, r in hit.iterrows():
        msg = r["message"] if isinstance(r["message"], str) else ""
        ev = frame_evidence(pd.DataFrame([r]), "ext_status",
                            ["extension", "ext_version", "seq", "operation", "status", "code", "message"],
                            ts="timestamp")
        out.append(ctx.finding("EXTENSION_OS_UNSUPPORTED",
                               f"{r['extension']} {r['ext_version']} reported error code 51 (OS not supported)"
                               + (f": \"{msg.strip()[:300]}\"" if msg.strip() else "") + ".", ev))
    return out


def extension_blocked(ctx: Context) -> Iterable[Finding]:
    """A failed extension, and extensions that have settings but never reported any status."""
    latest = _latest_status(ctx)
    settings = ctx.frame("ext_settings")
    if latest.empty or settings.empty:
        return []
    failed = latest[(latest["status"] == "error").fillna(False).to_numpy(dtype=bool)]
    if failed.empty:
        return []
    reported = set(ctx.frame("ext_status")["extension"].dropna().str.lower())
    waiting = settings[~settings["extension"].str.lower().isin(reported).fillna(False).to_numpy(dtype=bool)
                       & settings["extension"].notna().to_numpy(dtype=bool)]
    if waiting.empty:
        return []
    names = list(dict.fromkeys(waiting["extension"]))
    bad = ", ".join(f"{r['extension']} {r['ext_version']}" for _, r in failed.iterrows())
    ev = frame_evidence(failed, "ext_status", ["extension", "ext_version", "seq", "status", "code", "message"],
                        ts="timestamp")
    ev += frame_evidence(waiting.drop_duplicates("extension"), "ext_settings", ["extension", "ext_version", "seq"])
    return [ctx.finding("EXTENSION_BLOCKED_BY_FAILED_EXTENSION",
                        f"{bad} is in a failed state and {', '.join(names)} {'has' if len(names) == 1 else 'have'} "
                        "settings on the VM but never reported a status: new extensions do not start while one "
                        "is failed.", ev)]


RULES = [extension_timeout, extension_failed, extension_stuck, extension_download, extension_os_unsupported,
         extension_blocked]
