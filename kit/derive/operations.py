"""``extension_operations``: one reconciled row per extension operation (install, enable, update, disable,
uninstall; per sequence number), from every source that tells when it started and ended.

    >>> bundle.frame("extension_operations")          # computed once per bundle (kit.derive)
    >>> from kit.derive.operations import extension_operations
    >>> extension_operations(bundle.frame, time_reference=bundle.time_reference)

Sources, and what each can say about an operation:

* ``handler_log`` (the handler's own log): when a run started (its first record), its last sign of life, and the
  record that says it finished (:data:`FINISHED`, :data:`SUCCEEDED`); a handler that started a script
  asynchronously has finished only when the script has (formats doc §3.2);
* ``ext_status`` (``<seq>.status``): the status the handler wrote (``transitioning``, ``success``, ``error``) and
  when (``timestampUTC``);
* ``handler_status`` (the aggregate status the agent reports, one row per handler per snapshot
  ``aggregatestatus_<time>.json``): the same status as the agent saw it at each snapshot;
* ``agent_log``: the agent's own time-out line (``Enable command of <ext> has not exited on time! Killing it...``,
  the EXTENSION_TIMEOUT ``log`` signatures of kit/catalog/findings.yaml).

Reconciliation (one row per operation):

* a success end in any trustworthy source closes the operation (the earliest success after its start): the
  handler log's success record, a status file's ``success`` and its time stamp, an aggregate-status snapshot that
  shows ``success`` (at its status time stamp, else the snapshot's time);
* else the agent's kill line closes it as ``timeout-killed``; else an ``error`` status closes it as ``failed``;
* else it has no end: successive status or aggregate-status snapshots that keep showing ``transitioning`` extend
  what was seen of it (``seen_min``); at the collection time it was ``still-running``; with no collection time its
  outcome is ``unknown`` (never a time-out on that alone);
* sources that say otherwise after the end (a snapshot still ``transitioning`` after the log's success) are named in
  ``disagreement``, not hidden.

Budgets (:data:`BUDGETS`, each with its source): 20 minutes for an extension operation, 90 for the Custom Script
Extension (Microsoft Learn: "The script is allowed 90 minutes to run"), DSC, Chef and Run Command; the agent's own
line "<op> command of <ext> has not exited on time! Killing it..." ends such a run whatever the table says. A name
not in the table gets 20 with that basis stated; a name that was not read gets no budget (unknown is never bad).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from itertools import pairwise
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ..catalog import signature_pattern
from ..schema import Col, FrameSchema, categorical
from .filters import contains, keep

# -------------------------------------------------------------------------------------------------- budgets
DEFAULT_BUDGET = pd.Timedelta(minutes=20)
LONG_BUDGET = pd.Timedelta(minutes=90)
#: Per-extension budgets: (pattern matched case-insensitively against Publisher.Type, minutes, source).
BUDGETS: tuple[tuple[re.Pattern[str], int, str], ...] = (
    (re.compile(r"CustomScriptExtension", re.IGNORECASE), 90,
     'Microsoft Learn, Custom Script Extension for Windows (azure-docs articles/virtual-machines/extensions/'
     'custom-script-windows.md): "The script is allowed 90 minutes to run. Anything longer results in a failed '
     'provision of the extension."'),
    (re.compile(r"\.DSC$", re.IGNORECASE), 90,
     "the kit's budget table (EXTENSION_TIMEOUT remediation in kit/catalog/findings.yaml): DSC gets the 90 minutes "
     "of the Custom Script Extension; no public text found that states DSC's own budget"),
    (re.compile(r"ChefClient|^Chef\.", re.IGNORECASE), 90,
     "the kit's budget table (EXTENSION_TIMEOUT remediation in kit/catalog/findings.yaml): Chef gets the 90 "
     "minutes of the Custom Script Extension; no public text found that states Chef's own budget"),
    (re.compile(r"RunCommand(?:Handler)?Windows", re.IGNORECASE), 90,
     'Microsoft Learn, Run Command on Windows VMs: "The maximum time a script can run is 90 minutes" (quoted in '
     "MicrosoftDocs/azure-docs#43356; RUN_COMMAND_STILL_RUNNING judges the script past it)"),
)
#: Extensions with the 90-minute budget (kept for callers of the old name).
LONG_BUDGET_EXTENSIONS = re.compile("|".join(p.pattern for p, _, _ in BUDGETS), re.IGNORECASE)
#: Where the 20 minutes come from. Note: Microsoft's support article on VM start/redeploy delays says "VM extensions
#: have a 90-minute provisioning timeout" (MicrosoftDocs/SupportArticles-docs); the 20 minutes are the kit's rule.
DEFAULT_BASIS = ("the kit's budget table (EXTENSION_TIMEOUT remediation in kit/catalog/findings.yaml): 20 minutes for "
                 "an extension operation")


def known_extension(name: object) -> bool:
    """Whether ``name`` reads as an extension's Publisher.Type (a value not read, or a word in its place, does not)."""
    return isinstance(name, str) and re.fullmatch(r"[\w-]+(?:\.[\w-]+)+", name.strip(), re.ASCII) is not None


def budget_basis(extension: str | None) -> tuple[pd.Timedelta | None, str]:
    """(budget, where it comes from) for ``extension``; (None, why) when its name was not read."""
    if not known_extension(extension):
        return None, "extension name not read: budget unknown"
    for pat, minutes, source in BUDGETS:
        if pat.search(str(extension)):
            return pd.Timedelta(minutes=minutes), source
    return DEFAULT_BUDGET, DEFAULT_BASIS + f" ({extension} is not in the table of longer budgets)"


def budget_for(extension: str | None) -> pd.Timedelta:
    """The time budget of an extension's operations (20 minutes when the name is not known)."""
    return LONG_BUDGET if extension and LONG_BUDGET_EXTENSIONS.search(extension) else DEFAULT_BUDGET


# -------------------------------------------------------------------------------------------------- handler runs
#: A handler run that logged one of these finished (formats doc §3). The DSC extension's own lines
#: ("DSC configuration completed." then "Settings handler status to 'success'") are quoted in a public AVD
#: provisioning run book (tests/shapes/operations/SOURCES.md).
FINISHED = (r"Command execution finished|exited with code|execution finished with exit code"
            r"|successfully (?:installed|enabled|disabled|uninstalled|updated)|Handler successfully"
            r"|is not greater than the sequence number|Exiting\.\.\.|Exiting\.$"
            r"|Settings handler status to '(?:success|error)'|DSC configuration completed")
#: Of the finish records, the ones that say it worked.
SUCCEEDED = re.compile(r"successfully (?:installed|enabled|disabled|uninstalled|updated)|Handler successfully"
                       r"|Settings handler status to 'success'|exit(?:ed with)? code:? 0\b|with exit code 0\b",
                       re.IGNORECASE)
#: Of the finish records, the ones that say it failed.
FAILED = re.compile(r"Settings handler status to 'error'|exit(?:ed with)? code:? [1-9]|with exit code [1-9]",
                    re.IGNORECASE)
#: A handler that started a script asynchronously has finished only when the script has (formats doc §3.2).
ASYNC_START = r"Awaiting completion|Asynchronously executing|execution task started"
SCRIPT_DONE = r"Command execution finished|exited with code|finished with exit code"
OPERATION = re.compile(r"(Install|Enabl|Disabl|Uninstall|Updat)ing Handler|handler command: (\w+)"
                       r"|(Install|Enabl|Disabl|Uninstall|Updat)ing the DSC Extension", re.IGNORECASE)
SEQUENCE = re.compile(r"sequence number (\d+)", re.IGNORECASE)
#: Handler-log layouts that are a long-running service's log, not extension operations (the Key Vault extension's
#: akvvm_service log runs for days).
SERVICE_LAYOUTS = ("akvvm",)
#: The layouts handler_log writes (its schema); a row of another or no layout is not known to be an operation's.
LAYOUTS = ("bracketed", "dsc", "agent", "akvvm", "plain")
#: The agent or the platform saying an extension ran out of time: signatures in kit/catalog/findings.yaml.
TIMED_OUT = signature_pattern("EXTENSION_TIMEOUT", "log")

_OPS = {"install": "install", "enabl": "enable", "enable": "enable", "disabl": "disable", "disable": "disable",
        "uninstall": "uninstall", "updat": "update", "update": "update"}


def is_operation_row(log: pd.DataFrame) -> np.ndarray:
    """Mask of handler_log rows of extension operations: not a service's log, and of a layout that was read."""
    # a layout that was read is one of LAYOUTS (blank or missing is not): one set test per row, no pandas call
    return np.fromiter((v in _OPERATION_LAYOUTS for v in values(log["layout"])), dtype=bool, count=len(log))


_LAYOUTS = frozenset(LAYOUTS)
_OPERATION_LAYOUTS = _LAYOUTS - frozenset(SERVICE_LAYOUTS)


def _op_name(messages: Iterable[object]) -> str:
    for t in messages:
        m = OPERATION.search(str(t))
        if m:
            word = next(g for g in m.groups() if g).lower()
            return _OPS.get(word, word)
    return "operation"


def status_operation(text: object) -> str:
    """An operation name from a status file's ``operation`` ("Enable"; the Custom Script Extension writes "Command
    Execution" for its enable, as in the cse-timeout sample), else ``unknown``."""
    if not isinstance(text, str) or not text.strip():
        return "unknown"
    t = text.strip().lower()
    if t.startswith("command"):
        return "enable"
    for k, v in _OPS.items():
        if t.startswith(k):
            return v
    return "unknown"


def handler_runs(log: pd.DataFrame) -> pd.DataFrame:
    """One row per handler invocation (a PID in ``[PID+TID]`` logs, else a file) from a ``handler_log`` frame.

    Columns: source, pid, extension, ext_version, start, last (last sign of life), finished, finished_at,
    finish_line, finish_text, operation, seq, first_line, last_line, rows (the run's records), unread (notes on the
    run's records whose time or message, PID or layout was not read: a record that was not read may be the one that
    says the run finished). Files of a service layout are left out.
    """
    return pd.DataFrame(_handler_runs(log, with_rows=True))


def _handler_runs(log: pd.DataFrame, *, with_rows: bool = False) -> list[dict[str, Any]]:
    """:func:`handler_runs` as a list of dicts (``rows`` only ``with_rows``): the frames here have a few dozen rows,
    where pandas' cost per call (groupby, value_counts, a frame of the runs) was most of the time."""
    if log.empty:
        return []
    # The layout is the file's: a file with a record of a service layout is a service's log.
    sources, layouts = log["source"].tolist(), values(log["layout"])
    service = {s for s, lay in zip(sources, layouts, strict=True) if lay in SERVICE_LAYOUTS}
    if service:
        log = log[~log["source"].isin(service).to_numpy(dtype=bool)]
        sources, layouts = log["source"].tolist(), values(log["layout"])
    ts = log["ts"].array
    no_ts = ts.isna()
    if log.empty or no_ts.all():
        return []
    msg = log["message"]
    is_async, is_fin, is_done = (contains(msg, p) for p in (ASYNC_START, FINISHED, SCRIPT_DONE))
    lines = log["line"].to_numpy(dtype="int64", na_value=0)
    messages = msg.tolist()
    no_msg = [not (isinstance(m, str) and m.strip()) for m in messages]  # missing or blank (filters.is_unknown)
    pid_values = log["pid"].tolist()
    has_pid = [not pd.isna(p) for p in pid_values]
    # In a file whose records carry a PID, a record without one belongs to a run that is not known.
    with_pid = {s for s, h in zip(sources, has_pid, strict=True) if h}
    no_pid: dict[str, list[str]] = {}  # any run of such a file may be missing its records
    for what, mask in (("pid", [not h and s in with_pid for s, h in zip(sources, has_pid, strict=True)]),
                       ("layout", [lay not in _LAYOUTS for lay in layouts])):  # missing, blank or another word
        for src, n in _per_file(sources, mask).items():
            no_pid.setdefault(str(src), []).append(f"{src}: {what} unknown in {n} row(s)")
    groups: dict[tuple[str, int], list[int]] = {}  # in order of first appearance, like groupby(sort=False)
    keys = zip(sources, [p if h else -1 for p, h in zip(pid_values, has_pid, strict=True)], strict=True)
    for i, key in enumerate(keys):
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
        seqs = [m.group(1) for p in pos if (m := SEQUENCE.search(str(messages[p])))]
        # the record that says how it ended ("Settings handler status to 'success'") over one that only says it
        # did ("DSC configuration completed.")
        said = [p for p in fin_timed if SUCCEEDED.search(str(messages[p])) or FAILED.search(str(messages[p]))]
        first_fin = said[0] if said else fin_timed[0] if fin_timed else None
        run = {"source": source, "pid": None if pid == -1 else int(pid), "extension": exts[pos[0]],
               "ext_version": vers[pos[0]], "start": ts[timed[0]], "last": ts[timed[-1]],
               "finished": bool(fin), "finished_at": ts[first_fin] if first_fin is not None else pd.NaT,
               "finish_line": int(lines[first_fin]) if first_fin is not None else None,
               "finish_text": str(messages[first_fin]) if first_fin is not None else None,
               "operation": _op_name(messages[p] for p in pos), "seq": int(seqs[-1]) if seqs else None,
               "first_line": int(lines[pos[0]]), "last_line": int(lines[timed[-1]]),
               "rows": log.iloc[pos] if with_rows else None, "unread": unread}
        if not with_rows:
            del run["rows"]
        runs.append(run)
    return runs


# -------------------------------------------------------------------------------------------------- the frame
OUTCOMES = ("success", "failed", "timeout-killed", "still-running", "unknown")
END_BASES = ("handler_log", "ext_status", "aggregate_status", "agent_log", "next_operation", "event")
OPERATIONS = ("install", "enable", "update", "disable", "uninstall", "operation", "unknown")
_CATEGORIES = {col: pd.CategoricalDtype(pd.Index(list(cats), dtype="str"))
               for col, cats in (("operation", OPERATIONS), ("outcome", OUTCOMES), ("end_basis", END_BASES))}

EXTENSION_OPERATIONS = FrameSchema(
    "extension_operations",
    "One row per extension operation (install, enable, update, disable, uninstall; per sequence number), reconciled "
    "from the handler log, the .status files, the aggregate-status snapshots and the agent log's time-out lines "
    "(derived by `kit.derive.operations.extension_operations`). A success end in any of them closes the "
    "operation; snapshots that keep showing `transitioning` extend it; sources that disagree are named in "
    "`disagreement`. EXTENSION_TIMEOUT, the extension Gantt plot and the report read this frame.",
    (Col("source", "str", "File of the operation's start evidence (the handler log, else the status file or "
         "snapshot that first showed it).", False),
     Col("line", "Int64", "Line of the start evidence in `source` (NA for JSON documents)."),
     Col("extension", "str", "Publisher.Type (NA when it was not read)."),
     Col("version", "str", "Handler version."),
     Col("operation", "category", "install, enable, update, disable, uninstall; `operation` when the handler log "
         "names none, `unknown` when no source names one.", False),
     Col("seq", "Int64", "Sequence number (from the handler log's `sequence number N`, else the status file's or "
         "snapshot's)."),
     Col("start", "datetime", "When it started: the handler run's first record, else the first status time stamp "
         "or snapshot that showed it."),
     Col("end", "datetime", "When it ended, per `end_basis` (NaT: no end seen)."),
     Col("end_basis", "category", "How the end is known: handler_log (the handler's finish record), ext_status "
         "(.status time stamp and status), aggregate_status (a snapshot), agent_log (the agent's kill line), "
         "next_operation (the handler process of this extension's next operation started: the agent runs an "
         "extension's commands one after another, so this one had ended by then; its outcome stays unknown); "
         "`event` is reserved: no Windows event is mapped to an operation yet."),
     Col("outcome", "category", "success, failed, timeout-killed (the agent killed it), still-running (no end at "
         "the collection time), unknown (no end and no collection time, or the record that could end it was not "
         "read).", False),
     Col("budget_min", "float64", "Time budget in minutes (NaN when the extension's name was not read)."),
     Col("budget_basis", "str", "Where the budget comes from (the table in kit/derive/operations.py)."),
     Col("elapsed_min", "float64", "Minutes from start to end, or to the collection time when still running (NaN "
         "when neither is known). With `end_basis` aggregate_status an upper bound: the snapshot tells it had ended "
         "by then."),
     Col("seen_min", "float64", "Minutes from start to the last record that showed it running (handler log record, "
         "`transitioning` status or snapshot): a lower bound read from the sources, known even without a collection "
         "time."),
     Col("last_seen", "datetime", "The last record that showed it running."),
     Col("last_seen_source", "str", "File of that record."),
     Col("last_seen_line", "Int64", "Line of that record."),
     Col("over_budget", "boolean", "elapsed (or, with no end and no collection time, what was seen) exceeds the "
         "budget; NA when the budget or the times are not known, or a record that could end it was not read."),
     Col("running_at_collection", "boolean", "No end seen and a collection time known: still running then. NA "
         "when there is no collection time."),
     Col("killed_at", "datetime", "When the agent (or handler) wrote that it ran out of time (`has not exited on "
         "time! Killing it...`), also when another source later says success (NaT: no such line)."),
     Col("end_source", "str", "File of the end evidence."),
     Col("end_line", "Int64", "Line of the end evidence."),
     Col("end_text", "str", "The end record as written (or the status and its time stamp)."),
     Col("sources", "str", "The sources that contributed, comma-separated (handler_log, ext_status, "
         "aggregate_status, agent_log)."),
     Col("snapshots", "Int64", "How many status or aggregate-status observations showed it transitioning."),
     Col("disagreement", "str", "Which sources disagree and how, e.g. `handler_log says success at T; "
         "aggregate_status still transitioning at T2` (NA when they agree)."),
     Col("unread", "str", "Records of this operation whose time, message, PID or layout was not read (`; `-joined): "
         "one of them may be the end, so the outcome stays unknown when no end was read.")),
)

#: Tolerance when matching a status time stamp to the run that wrote it (a status written just before the run's
#: first log record, as BGInfo's in the samples).
_SKEW = pd.Timedelta(seconds=60)


def _minutes(td: object) -> float:
    return float("nan") if td is None or pd.isna(td) else pd.Timedelta(td).total_seconds() / 60  # type: ignore[arg-type]


def _fmt(ts: object) -> str:
    return "an unknown time" if ts is None or pd.isna(ts) else pd.Timestamp(ts).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ext_in(text: str, names: list[str]) -> str | None:
    for n in names:
        if n.lower() in text.lower():
            return n
    m = re.search(r"(?:plugin|extension|handler|of)\s+'?([A-Z][\w]*(?:\.[\w]+){1,4})", text)
    return m.group(1) if m else None


def row_values(df: pd.DataFrame, *names: str) -> Iterator[tuple[Any, ...]]:
    """The values of ``df``'s columns ``names``, one tuple per row (missing values as the column holds them: NaN,
    NA, NaT): on frames of a few dozen rows one ``tolist`` per column costs a fraction of ``itertuples`` or
    ``iterrows``, which build a Series per column or per row."""
    return zip(*(values(df[c]) for c in names), strict=True)


def values(column: pd.Series) -> list[Any]:
    """``column.tolist()``; a categorical's read through its codes (its ``tolist`` costs some thirty times more)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        cats, nan = column.array.categories.tolist(), float("nan")
        return [cats[c] if c >= 0 else nan for c in column.array.codes.tolist()]
    return column.tolist()


#: The plugin folder in a status file's path (C/Packages/Plugins/<ext>/<version>/...).
PLUGIN_FOLDER = re.compile(r"Plugins/([^/]+)/")


def _observations(ext_status: pd.DataFrame, handler_status: pd.DataFrame) -> list[dict[str, Any]]:
    """Status observations: what a .status file or an aggregate-status snapshot said, when, about which (ext, seq)."""
    obs: list[dict[str, Any]] = []
    if not ext_status.empty:
        for source, line, name, version, seq, status, stamp, operation in row_values(
                ext_status, "source", "line", "extension", "ext_version", "seq", "status", "timestamp", "operation"):
            read = known_extension(name)
            # an extension whose name was not read is the one of its plugin folder
            fold = None if read else PLUGIN_FOLDER.search(str(source))
            ext = name if read else fold.group(1) if fold else None
            state = str(status) if isinstance(status, str) else None
            obs.append({"artifact": "ext_status", "ext": ext, "read": read,
                        "version": version, "seq": seq,
                        "state": state, "at": stamp, "status_time": stamp, "source": source,
                        "line": line, "op": status_operation(operation)})
    if not handler_status.empty:
        for source, line, name, version, seq, status, operation, snapshot_time, settings_time in row_values(
                handler_status, "source", "line", "handler_name", "handler_version", "seq", "settings_status",
                "settings_operation", "snapshot_time", "settings_time"):
            ext = name if known_extension(name) else None
            state = str(status) if isinstance(status, str) else None
            at = snapshot_time if not pd.isna(snapshot_time) else settings_time
            obs.append({"artifact": "aggregate_status", "ext": ext, "read": ext is not None,
                        "version": version, "seq": seq,
                        "state": state, "at": at, "status_time": settings_time, "source": source,
                        "line": line, "op": status_operation(operation)})
    return obs


def _per_file(sources: Iterable[object], mask: Iterable[bool]) -> dict[object, int]:
    """How many rows of each file ``mask`` selects, files in order of first appearance (``value_counts(sort=False)``
    of the selected rows' ``source``)."""
    counts: dict[object, int] = {}
    for src, m in zip(sources, mask, strict=True):
        if m:
            counts[src] = counts.get(src, 0) + 1
    return counts


class _Said(NamedTuple):
    """A time-out line (agent or handler log) that says an extension ran out of time."""

    source: str
    line: object
    ts: pd.Timestamp
    text: str
    art: str


def _same_seq(a: object, b: object) -> bool:
    return a is None or b is None or pd.isna(a) or pd.isna(b) or int(a) == int(b)  # type: ignore[arg-type]


def extension_operations(get: Callable[[str], pd.DataFrame], *,
                         time_reference: pd.Timestamp | None = None) -> pd.DataFrame:
    """The ``extension_operations`` frame (see :data:`EXTENSION_OPERATIONS`) from the frames ``get`` returns
    (``bundle.frame``), judged at ``time_reference`` (the collection time; None: not known)."""
    log = get("handler_log")
    ext_status, handler_status, agent_log = get("ext_status"), get("handler_status"), get("agent_log")
    runs = sorted(_handler_runs(log), key=lambda r: r["start"])  # every run has a start (a record with a time)
    ops: list[dict[str, Any]] = []
    for r in runs:
        ops.append({"ext": r["extension"] if known_extension(r["extension"]) else None, "version": r["ext_version"],
                    "operation": r["operation"], "seq": r["seq"], "start": r["start"], "source": r["source"],
                    "line": r["first_line"], "last_seen": r["last"],
                    "seen_src": ("handler_log", r["source"], r["last_line"]), "run": r, "obs": [], "kills": [],
                    "sources": ["handler_log"], "unread": list(r["unread"]),
                    "ext_read": known_extension(r["extension"])})
    # runs of which no time was read are not in runs at all: their files are named as unread
    if not log.empty:
        ran = {r["source"] for r in runs}
        untimed = is_operation_row(log) & log["ts"].isna().to_numpy()
        sources = log["source"].tolist()
        orphans = _per_file(sources, [u and s not in ran for s, u in zip(sources, untimed, strict=True)])
        orphan_unread = [f"{src}: ts unknown in {n} row(s)" for src, n in orphans.items()]
    else:
        orphan_unread = []
    # a run with no finish record whose extension's next operation started in another handler process had ended by
    # then (the agent runs one command of an extension at a time): an upper bound of its end, like a snapshot's
    by_ext: dict[str, list[dict[str, Any]]] = {}
    for op in ops:
        if op["ext"] is not None:
            by_ext.setdefault(op["ext"].lower(), []).append(op)
    # Two runs without a PID (each its own file) count as different processes only when some run of the bundle has a
    # PID: how the frame of runs this loop used to read compared them (its pid column then held NaN, NaN != NaN).
    no_pids_differ = any(r["pid"] is not None for r in runs)
    for same in by_ext.values():
        for op, nxt in pairwise(same):
            run, nrun = op["run"], nxt["run"]
            other = nrun["pid"] != run["pid"] if run["pid"] is not None or nrun["pid"] is not None else no_pids_differ
            if not run["finished"] and other and not pd.isna(nxt["start"]) \
                    and (pd.isna(op["last_seen"]) or nxt["start"] >= op["last_seen"]):
                op["next_start"] = (nxt["start"], nxt["source"], nxt["line"], nxt["operation"])
    no_name = [f"{op['source']}: extension unknown" for op in ops if not op["ext_read"]]
    # status observations go to the run of their extension (and operation, and sequence number) they fall in
    for o in _observations(ext_status, handler_status):
        if o["ext"] is None:
            continue  # an extension not read: its status is not any operation's (the rules name it)
        cands = [op for op in ops if op["ext"] is not None and op["ext"].lower() == str(o["ext"]).lower()
                 and "run" in op and _same_seq(op["seq"], o["seq"])
                 and (o["op"] == "unknown" or op["operation"] in (o["op"], "operation"))]
        t = o["status_time"] if not pd.isna(o["status_time"]) else o["at"]
        target = None
        if cands:
            before = [op for op in cands if pd.isna(t) or op["start"] <= t + _SKEW]
            target = before[-1] if before else cands[0]
        else:  # no handler run: an operation known from its statuses alone, one per (extension, seq, operation)
            for op in ops:
                if "run" not in op and op["ext"].lower() == str(o["ext"]).lower() and _same_seq(op["seq"], o["seq"]) \
                        and ("unknown" in (op["operation"], o["op"]) or op["operation"] == o["op"]):
                    target = op
                    if target["operation"] == "unknown":
                        target["operation"] = o["op"]
            if target is None:
                target = {"ext": o["ext"], "version": o["version"], "operation": o["op"], "seq": o["seq"],
                          "start": pd.NaT, "source": o["source"], "line": o["line"], "last_seen": pd.NaT,
                          "seen_src": None, "obs": [], "kills": [], "sources": [],
                          # a handler run whose extension was not read may be this operation
                          "unread": list(no_name), "ext_read": True}
                ops.append(target)
        if not o["read"]:
            target["ext_read"] = False  # the name is its plugin folder's: the budget is not known
        target["obs"].append(o)
        if target["seq"] is None or pd.isna(target["seq"]):
            target["seq"] = o["seq"]
        if not isinstance(target["version"], str) and isinstance(o["version"], str):
            target["version"] = o["version"]
    # the agent's (or handler's) own time-out lines: the run of that extension alive at that time
    names = sorted({op["ext"] for op in ops if op["ext"]}, key=len, reverse=True)
    said: list[_Said] = []
    for art, df in (("agent_log", agent_log), ("handler_log", log)):
        hit = contains(df["text"], TIMED_OUT) if not df.empty else None
        if hit is not None and hit.any():  # (most bundles have none: no selection, not even an empty one)
            said += [_Said(*v, art) for v in row_values(keep(df, hit), "source", "line", "ts", "text")]
    untimed_kills: set[tuple[object, object]] = set()
    for k in said:
        ext = _ext_in(str(k.text), names)
        if ext is not None and pd.isna(k.ts):
            # a time-out line whose time was not read: it may end any of this extension's runs, so the latest one's
            # end is not known (unknown is never bad); it is not a time-out of its own either
            mine = [op for op in ops if op["ext"] == ext]
            if mine:
                mine[-1]["unread"].append(f"{k.source}:{k.line}: the time-out line for {ext}, its time not read")
                untimed_kills.add((k.source, k.line))
            continue
        if ext is None:
            continue
        mine = [op for op in ops if "run" in op and op["ext"] == ext and op["start"] <= k.ts]
        if not mine and not any("run" in op and op["ext"] == ext for op in ops):  # no handler log: its statuses'
            mine = [op for op in ops if op["ext"] == ext and any(not pd.isna(o["at"]) and o["at"] <= k.ts
                                                                 for o in op["obs"])]
        if mine:
            mine[-1]["kills"].append(k)
    unattached: dict[str, list[Any]] = {}  # time-out lines of no run here: what they say is known, per extension
    attached = {(k.source, k.line) for op in ops for k in op["kills"]} | untimed_kills
    for k in said:
        if (k.source, k.line) not in attached:
            unattached.setdefault(_ext_in(str(k.text), names) or "", []).append(k)
    rows = [_reconcile(op, time_reference) for op in ops]
    rows += [_said_row(ext, ks) for ext, ks in unattached.items()]
    if orphan_unread:
        rows.append(_unread_row(orphan_unread))
    # sorted as the frame's sort_values(["start", "source", "line"], na_position="last") would, before the frame is
    # built (a few rows: Python's sort, and no second frame); missing values as None, which builds a column directly
    rows.sort(key=_order)
    rows = [{k: None if v is pd.NA or (type(v) is float and v != v) else v for k, v in r.items()} for r in rows]
    df = EXTENSION_OPERATIONS.from_records(rows)
    for col, dtype in _CATEGORIES.items():  # the categories in their documented order (set_categories, cheaper)
        df[col] = categorical([r.get(col) for r in rows], dtype)
    df.attrs["time_reference"] = time_reference
    return df


def _order(row: dict[str, Any]) -> tuple[Any, ...]:
    """Sort key of an extension_operations row: start, source, line, a missing start or line last."""
    start, line = row.get("start"), row.get("line")
    no_start, no_line = start is None or pd.isna(start), line is None or pd.isna(line)
    return no_start, 0 if no_start else start, row["source"], no_line, 0 if no_line else line


def _said_row(ext: str, kills: list[Any]) -> dict[str, Any]:
    """A row for time-out lines that fall in no handler run of the bundle (no handler log, or another extension)."""
    timed = [k for k in kills if not pd.isna(k.ts)]
    last = max(timed, key=lambda k: k.ts) if timed else kills[-1]
    budget, basis = budget_basis(ext or None) if ext else (None, "the time-out line names no extension")
    return {"source": last.source, "line": last.line, "extension": ext or None, "operation": "unknown",
            "end": last.ts, "end_basis": str(last.art), "outcome": "timeout-killed", "budget_min": _minutes(budget),
            "budget_basis": basis, "end_source": last.source, "end_line": last.line,
            "end_text": f"{len(kills)} record(s) say it ran out of time; the last: {str(last.text).splitlines()[0]}",
            "sources": ", ".join(dict.fromkeys(str(k.art) for k in kills)), "snapshots": 0}


def _unread_row(notes: list[str]) -> dict[str, Any]:
    src = notes[0].split(":", 1)[0]
    return {"source": src, "line": None, "extension": None, "operation": "unknown", "outcome": "unknown",
            "sources": "handler_log", "unread": "; ".join(notes), "snapshots": 0,
            "budget_basis": "no record of this file had its time read"}


def _reconcile(op: dict[str, Any], ref: pd.Timestamp | None) -> dict[str, Any]:
    """One operation's row: its end, outcome and disagreements from its run, observations and kill lines."""
    run: dict[str, Any] | None = op.get("run")
    obs = sorted(op["obs"], key=lambda o: (pd.Timestamp.min.tz_localize("UTC") if pd.isna(o["at"]) else o["at"]))
    start = op["start"]
    trans = [o for o in obs if o["state"] == "transitioning"]
    if pd.isna(start):  # known from statuses only: the first one that showed it
        times = [o["status_time"] if not pd.isna(o["status_time"]) else o["at"] for o in obs]
        times = [t for t in times if not pd.isna(t)]
        start = min(times) if times else pd.NaT
        first = next((o for o in obs if not pd.isna(o["status_time"]) or not pd.isna(o["at"])), None)
        if first is not None:
            op["source"], op["line"] = first["source"], first["line"]
    sources = list(dict.fromkeys([*op["sources"], *(o["artifact"] for o in obs)]))
    # candidate ends: (time, basis, state, source, line, text)
    ends: list[tuple[pd.Timestamp, str, str, str, object, str]] = []
    if run is not None and run["finished"] and not pd.isna(run["finished_at"]):
        text = str(run["finish_text"])
        state = "success" if SUCCEEDED.search(text) else "error" if FAILED.search(text) else "finished"
        ends.append((run["finished_at"], "handler_log", state, run["source"], run["finish_line"], text))
    for o in obs:
        if o["state"] in ("success", "error"):
            t = o["status_time"] if not pd.isna(o["status_time"]) else o["at"]
            if pd.isna(t) or (not pd.isna(start) and t < start - _SKEW):
                continue  # an earlier operation's status, or no time read
            when = f"status time stamp {_fmt(o['status_time'])}" if not pd.isna(o["status_time"]) else \
                f"snapshot {_fmt(o['at'])}"
            ends.append((t, o["artifact"], o["state"], o["source"], o["line"], f"status {o['state']} ({when})"))
    if op.get("next_start") is not None:
        t, src, line, what = op["next_start"]
        ends.append((t, "next_operation", "finished", src, line,
                     f"the extension's next operation ({what}) started in another handler process"))
    kills = [k for k in op["kills"] if not pd.isna(k.ts)]
    rank = {b: i for i, b in enumerate(END_BASES)}

    def _order(e: tuple) -> tuple:  # an end at or after the start first; one a little before it (clock skew) last;
        return (not pd.isna(start) and e[0] < start, e[0], rank.get(e[1], 9))  # at one time, the handler's own

    success = sorted([e for e in ends if e[2] == "success"], key=_order)
    finished = sorted([e for e in ends if e[2] == "finished"], key=_order)
    errors = sorted([e for e in ends if e[2] == "error"], key=_order)
    end = None
    outcome = "unknown"
    if success:
        end, outcome = success[0], "success"
    elif kills:
        k = kills[0]
        end, outcome = (k.ts, str(k.art), "killed", k.source, k.line, str(k.text).split("\n", 1)[0]), "timeout-killed"
    elif errors:
        end, outcome = errors[0], "failed"
    elif finished:  # the handler says it finished; whether it worked is what its status says (none here)
        end, outcome = finished[0], "unknown"
    # what was seen of it running: the handler's last record, and every transitioning status or snapshot
    last_seen = op["last_seen"]
    seen_src = op["seen_src"]
    for o in trans:
        t = o["at"]
        if end is not None and not pd.isna(t) and t > end[0]:
            continue  # after its end: a disagreement (below), not a sign of life
        if not pd.isna(t) and (pd.isna(last_seen) or t > last_seen):
            last_seen, seen_src = t, (o["artifact"], o["source"], o["line"])
    disagreement = []
    if end is not None:
        later = [o for o in trans if not pd.isna(o["at"]) and o["at"] > end[0]]
        if later:
            o = later[-1]
            disagreement.append(f"{end[1]} says {'killed' if end[2] == 'killed' else end[2]} at {_fmt(end[0])}; "
                                f"{o['artifact']} still transitioning at {_fmt(o['at'])} ({o['source']})")
        for other in [*success, *errors, *finished]:
            if other is not end and other[2] != end[2] and other[2] != "finished" and end[2] != "finished":
                disagreement.append(f"{end[1]} says {end[2]} at {_fmt(end[0])}; {other[1]} says {other[2]} at "
                                    f"{_fmt(other[0])}")
                break
        if outcome == "success" and kills:  # a success closes it; the agent's kill line is named, not hidden
            disagreement.append(f"{end[1]} says success at {_fmt(end[0])}; {kills[0].art} says it was killed at "
                                f"{_fmt(kills[0].ts)}")
    ext = op["ext"]
    budget, basis = budget_basis(ext) if op["ext_read"] else (None, "extension name not read: budget unknown")
    unread = list(dict.fromkeys(op["unread"]))
    running = None
    elapsed = None
    if end is not None and not pd.isna(start):
        elapsed = end[0] - start
    elif end is None and ref is not None and not pd.isna(start):
        running = True
        elapsed = ref - start
        outcome = "still-running" if not unread else "unknown"
    elif end is not None and ref is not None:
        running = False
    if end is not None and ref is not None:
        running = False
    seen = None if pd.isna(start) or pd.isna(last_seen) else last_seen - start
    over: bool | None = None
    if budget is not None:
        if elapsed is not None and not (unread and end is None):
            over = bool(elapsed > budget)
        elif seen is not None and end is None and not unread:
            over = bool(seen > budget) if seen > budget else None  # seen within budget: the rest is not known
    if end is None and unread:
        over = None  # a record that was not read may be the end
    if over and end is not None and end[1] in ("aggregate_status", "next_operation"):
        # a snapshot tells that it had ended by then, not when: late only if it was seen running past the budget
        over = True if seen is not None and budget is not None and seen > budget else None
    n_trans = len(trans)
    return {"source": op["source"], "line": op["line"], "extension": ext, "version": op["version"],
            "operation": op["operation"] if op["operation"] in OPERATIONS else "unknown",
            "seq": op["seq"], "start": start, "end": end[0] if end else None,
            "end_basis": end[1] if end else None, "outcome": outcome,
            "budget_min": _minutes(budget), "budget_basis": basis, "elapsed_min": _minutes(elapsed),
            "seen_min": _minutes(seen), "last_seen": last_seen,
            "last_seen_source": seen_src[1] if seen_src else None, "last_seen_line": seen_src[2] if seen_src else None,
            "over_budget": over,
            "running_at_collection": running, "killed_at": kills[0].ts if kills else None,
            "end_source": end[3] if end else None,
            "end_line": end[4] if end else None, "end_text": end[5] if end else None,
            "sources": ", ".join(sources + (["agent_log"] if kills and "agent_log" not in sources else [])),
            "snapshots": n_trans, "disagreement": "; ".join(disagreement) or None,
            "unread": "; ".join(unread) or None}


__all__ = ["BUDGETS", "DEFAULT_BUDGET", "EXTENSION_OPERATIONS", "LONG_BUDGET", "OUTCOMES", "budget_basis",
           "budget_for", "extension_operations", "handler_runs", "known_extension"]
