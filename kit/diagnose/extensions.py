"""Extension rules: timeouts against their budgets, failures, stuck transitions, failed downloads, an OS the
extension does not support (error code 51), and a failed extension blocking the ones after it.

Budgets (Microsoft's extension documentation): every extension operation gets 20 minutes, except
CustomScriptExtension, DSC and Chef, which get 90.

A status file that a more specific finding already explains (a Key Vault settings error, an unsupported OS, a
failed extension that blocks others, a Key Vault initial sync) is not reported again as a generic failure or
stuck transition: the specific rules run first (see ``RULE_MODULES`` and ``RULES``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..catalog import signature_pattern
from ._util import contains, fmt_duration, fmt_ts, frame_evidence, is_unknown, log_evidence, match, missing_in
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
#: The agent or the platform saying an extension ran out of time (formats doc §3.2: CRP's wording), and failed
#: downloads: signatures in kit/catalog/findings.yaml, shared with the paste scan.
TIMED_OUT = signature_pattern("EXTENSION_TIMEOUT", "log")
DOWNLOAD_FAILED = signature_pattern("EXTENSION_DOWNLOAD_FAILED", "log")
#: Handler-log layouts that are a long-running service's log, not extension operations (the Key Vault extension's
#: akvvm_service log runs for days): no run, budget or package download is read from them.
SERVICE_LAYOUTS = ("akvvm",)
#: Error code 51: the extension does not support this OS (VM extensions article, "Azure VM Agent": 'might emit error
#: code 51 ("Unsupported OS")'). Windows handlers report it as the status code; Linux ones as "Non-zero exit code:
#: 51" (formats doc Appendix A). A status message naming an unsupported OS counts too.
OS_UNSUPPORTED_CODE = 51
OS_UNSUPPORTED_TEXT = signature_pattern("EXTENSION_OS_UNSUPPORTED", "log")
#: The generic message of a script extension's status: it says the command ran, not that it worked (VM extensions
#: article, "View extension status": ProvisioningState/failed/-196608 with "Finished executing command").
GENERIC_FINISHED = re.compile(r"^\s*(?:Finished executing command|Command execution finished)\.?\s*$", re.IGNORECASE)


#: The layouts handler_log writes (its schema); a row of another or no layout is not known to be an operation's.
LAYOUTS = ("bracketed", "dsc", "agent", "akvvm", "plain")


def known_extension(name: object) -> bool:
    """Whether ``name`` reads as an extension's Publisher.Type (a value not read, or a word in its place, does not)."""
    return isinstance(name, str) and re.fullmatch(r"[\w-]+(?:\.[\w-]+)+", name.strip(), re.ASCII) is not None


def _is_operation(log: pd.DataFrame) -> np.ndarray:
    """Mask of handler_log rows of extension operations: not a service's log, and of a layout that was read."""
    return ~(log["layout"].astype(str).isin(SERVICE_LAYOUTS).to_numpy(dtype=bool) | is_unknown(log["layout"], LAYOUTS))


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
    finished_at, operation, first_line, rows (the run's records), unread (notes on the run's records whose time or
    message, PID or layout was not read: a record that was not read may be the one that says the run finished).
    Files of a service layout are left out.
    """
    if log.empty:
        return pd.DataFrame()
    # The layout is the file's: a file with a record of a service layout is a service's log.
    service = log["source"][log["layout"].astype(str).isin(SERVICE_LAYOUTS).to_numpy(dtype=bool)].unique()
    log = log[~log["source"].isin(service).to_numpy(dtype=bool)]
    if log.empty or log["ts"].isna().all():
        return pd.DataFrame()
    # The patterns are matched once over the whole log and the runs grouped in Python: a pandas groupby with a sort
    # and two filters per run cost milliseconds per run.
    msg = log["message"]
    is_async, is_fin, is_done = (contains(msg, p) for p in (ASYNC_START, FINISHED, SCRIPT_DONE))
    lines = log["line"].to_numpy(dtype="int64", na_value=0)
    ts = log["ts"].array
    no_ts = log["ts"].isna().to_numpy()
    no_msg = is_unknown(msg)
    # In a file whose records carry a PID, a record without one belongs to a run that is not known.
    has_pid = log["pid"].notna()
    pids = has_pid.groupby(log["source"].to_numpy()).transform("any").to_numpy() & ~has_pid.to_numpy()
    no_pid: dict[str, list[str]] = {}  # any run of such a file may be missing its records
    for what, mask in (("pid", pids), ("layout", is_unknown(log["layout"], LAYOUTS))):
        for src, n in log["source"][mask].value_counts(sort=False).items():
            no_pid.setdefault(str(src), []).append(f"{src}: {what} unknown in {n} row(s)")
    messages = msg.tolist()
    groups: dict[tuple[str, int], list[int]] = {}  # in order of first appearance, like groupby(sort=False)
    for i, key in enumerate(zip(log["source"].tolist(), log["pid"].fillna(-1).tolist(), strict=True)):
        groups.setdefault(key, []).append(i)
    exts, vers = log["extension"].tolist(), log["ext_version"].tolist()
    runs = []
    for (source, pid), pos in groups.items():
        pos.sort(key=lines.__getitem__)
        unread = [f"{source}: {what} unknown in {n} row(s)" for what, mask in (("ts", no_ts), ("message", no_msg))
                  if (n := sum(bool(mask[p]) for p in pos))] + no_pid.get(source, [])
        timed = [p for p in pos if not no_ts[p]]
        if not timed:
            continue  # no time read: extension_timeout names it
        started = [p for p in pos if is_async[p]]
        if not started:
            fin = [p for p in pos if is_fin[p]]
        else:
            after = max(lines[p] for p in started)
            fin = [p for p in pos if lines[p] > after and is_done[p]]
        fin_timed = [p for p in fin if not no_ts[p]]
        runs.append({"source": source, "pid": None if pid == -1 else int(pid), "extension": exts[pos[0]],
                     "ext_version": vers[pos[0]], "start": ts[timed[0]], "last": ts[timed[-1]],
                     "finished": bool(fin), "finished_at": ts[fin_timed[0]] if fin_timed else pd.NaT,
                     "operation": _op_name(messages[p] for p in pos), "first_line": int(lines[pos[0]]),
                     "rows": log.iloc[pos], "unread": unread})
    return pd.DataFrame(runs)


def _op_name(messages: Iterable[object]) -> str:
    for t in messages:
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
    # What the agent or handler said about an operation running out of time ("Enable command of <ext> has not
    # exited on time! Killing it..."): the end of that run when it falls inside it, else a finding of its own.
    said = pd.concat([match(ctx.frame("agent_log"), TIMED_OUT).assign(_a="agent_log"),
                      match(ctx.frame("handler_log"), TIMED_OUT).assign(_a="handler_log")])
    if not said.empty:
        said["_ext"] = [_ext_in(str(t), names) or "an extension" for t in said["text"]]
    used: set[tuple[str, int]] = set()
    flagged: set[str] = set()
    ops = _operation_logs(ctx)
    untimed = ops[ops["ts"].isna().to_numpy(dtype=bool)] if not ops.empty else ops
    if not untimed.empty:  # runs of which no time was read are not in runs at all
        ran = set(runs["source"]) if not runs.empty else set()
        unknown: list[str] = missing_in(untimed[~untimed["source"].isin(ran).to_numpy(dtype=bool)], "ts")
    else:
        unknown = []
    if not runs.empty:
        known = [known_extension(e) for e in runs["extension"]]
        unknown += missing_in(runs[[not k for k in known]], "extension")  # its budget is not known
        runs = runs[known]
    if not runs.empty:
        for ext, g in runs.groupby(runs["extension"].fillna("unknown extension"), sort=False):
            budget = budget_for(str(ext))
            g = g.sort_values("start")
            for i, r in enumerate(g.itertuples(index=False)):
                is_last = i == len(g) - 1
                until = g["start"].iloc[i + 1] if not is_last else None
                kills = _kills(said, str(ext), r.start, until)
                if r.unread and (pd.isna(r.finished_at) if r.finished else kills.empty):
                    unknown += r.unread  # whether (or when) it finished is in a record that was not read
                    continue
                if r.finished:
                    took = r.finished_at - r.start
                    if took <= budget:
                        continue
                    how = f"finished only after {fmt_duration(took)}"
                elif not kills.empty and not pd.isna(kills["ts"].iloc[0]):
                    killed = kills["ts"].iloc[0]
                    took = killed - r.start
                    how = (f"was killed by the agent at {fmt_ts(killed)}, after {fmt_duration(took)}, for not "
                           f"exiting on time; last sign of life from the handler {fmt_ts(r.last)}")
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
                killed_ev = []  # the agent's own kill line is the strongest evidence: shown first
                for art, ga in kills.groupby("_a"):
                    killed_ev += log_evidence(ga, str(art), limit=3)
                    used |= {(str(a), int(b)) for a, b in zip(ga["source"], ga["line"], strict=True)}
                ev = killed_ev + ev
                out.append(ctx.finding(
                    "EXTENSION_TIMEOUT",
                    f"{ext} {r.ext_version if isinstance(r.ext_version, str) else ''}".strip()
                    + f": {r.operation} started {fmt_ts(r.start)} and {how}; the budget is "
                      f"{fmt_duration(budget)}.", ev))
    if not said.empty:
        for ext, g in said.groupby("_ext", sort=False):
            rest = g[[(str(a), int(b)) not in used for a, b in zip(g["source"], g["line"], strict=True)]]
            if ext in flagged or rest.empty:
                continue
            ev = [e for art, ga in rest.groupby("_a") for e in log_evidence(ga, str(art), limit=5)]
            out.append(ctx.finding("EXTENSION_TIMEOUT",
                                   f"{ext}: the logs say it ran out of time ({len(rest)} record(s), the last at "
                                   f"{fmt_ts(rest['ts'].max())}); the budget is "
                                   f"{fmt_duration(budget_for(str(ext)))}.", ev))
    if runs.empty and said.empty and ctx.frame("ext_status").empty and not unknown:
        return [ctx.not_checked("extension run times", "no extension handler logs or status files in the bundle")]
    if unknown:
        out.append(ctx.not_checked("extension run times", "; ".join(dict.fromkeys(unknown))))
    return out


def _kills(said: pd.DataFrame, ext: str, start: pd.Timestamp, until: pd.Timestamp | None) -> pd.DataFrame:
    """The time-out records about ``ext`` between a run's start and the next run's start, oldest first."""
    if said.empty:
        return said
    rows = said[(said["_ext"] == ext).to_numpy(dtype=bool)]
    rows = rows[rows["ts"].notna().to_numpy(dtype=bool)]
    rows = rows[(rows["ts"] >= start).to_numpy(dtype=bool)]
    if until is not None and not pd.isna(until):
        rows = rows[(rows["ts"] < until).to_numpy(dtype=bool)]
    return rows.sort_values(["ts", "line"])


def _latest_status(ctx: Context) -> pd.DataFrame:
    """The newest status row of each extension (by sequence number, then time); built once per run."""
    return ctx.memo("latest_status", lambda: _build_latest_status(ctx))  # type: ignore[return-value]


def _build_latest_status(ctx: Context) -> pd.DataFrame:
    st = ctx.frame("ext_status")
    if st.empty:
        return st
    st = st.sort_values(["seq", "timestamp"], na_position="first", kind="stable")
    # An extension whose name was not read is the one of its plugin folder (C/Packages/Plugins/<ext>/<version>/...).
    folder = st["source"].astype(str).str.extract(r"Plugins/([^/]+)/", expand=False)
    key = st["extension"].where([known_extension(e) for e in st["extension"]], folder).fillna(st["source"])
    # Of several status files of one extension, the newest is not known when one's sequence number was not read.
    no_seq = st["seq"].isna().groupby(key.to_numpy()).transform("any").to_numpy() & \
        (key.groupby(key.to_numpy()).transform("size").to_numpy() > 1)
    ctx.memo("latest_status_unread", lambda: missing_in(st[no_seq & st["seq"].isna().to_numpy()], "seq"))
    st, key = st[~no_seq], key[~no_seq]
    return st.groupby(key.to_numpy(), sort=False).tail(1)


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
    if latest.empty:
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
    for _, r in latest[latest["status"] == "transitioning"].iterrows():
        if ref is None or pd.isna(r["timestamp"]) or str(r["source"]) in explained:
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


def _operation_logs(ctx: Context) -> pd.DataFrame:
    """handler_log rows of extension operations (service logs such as akvvm_service left out)."""
    log = ctx.frame("handler_log")
    if log.empty:
        return log
    return log[_is_operation(log)]


def extension_download(ctx: Context) -> Iterable[Finding]:
    names = _known_extensions(ctx)
    hits = pd.concat([match(ctx.frame("agent_log"), DOWNLOAD_FAILED, "message").assign(_a="agent_log"),
                      match(_operation_logs(ctx), DOWNLOAD_FAILED, "message").assign(_a="handler_log")])
    if hits.empty:
        return []
    exts = sorted({_ext_in(str(t), names) or "an extension" for t in hits["text"]})
    ev: list[Evidence] = []
    for art, g in hits.groupby("_a"):
        ev += log_evidence(g.drop(columns="_a"), str(art), limit=6)
    return [ctx.finding("EXTENSION_DOWNLOAD_FAILED",
                        f"Downloads failed for {', '.join(exts)}: {len(hits)} log records, from "
                        f"{fmt_ts(hits['ts'].min())} to {fmt_ts(hits['ts'].max())}.", ev)]


def extension_os_unsupported(ctx: Context) -> Iterable[Finding]:
    latest = _latest_status(ctx)
    if latest.empty:
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
    if latest.empty:
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
    "extension_timeout": {"handler_log": ("extension", "layout", "pid", "ts", "message", "text"),
                          "agent_log": ("text",)},
    "extension_failed": {"ext_status": (*_STATUS_JUDGED, "code", "exit_code", "message"),
                         "ext_substatus": ("name", "message")},
    "extension_stuck": {"ext_status": _STATUS_JUDGED},
    "extension_download": {"agent_log": ("message",), "handler_log": ("layout", "message")},
}

RULES = [extension_os_unsupported, extension_blocked, extension_timeout, extension_failed, extension_stuck,
         extension_download]
