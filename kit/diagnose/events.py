"""Event-log rules: what Windows itself recorded about the agent's services and programs (the ``events`` frame).

Every rule here reads the record's provider, event id and *data* values (service name, faulting application,
blocked file), which do not depend on the VM's language; the rendered English message is used only for Event
Viewer text, which has no data part. Events about any other service or program are context, never a finding: a
System log full of other services' crashes says nothing about the agent.

Real sources (formats doc §1.4, the CSS "Guest Agent Event Logs Reference Guide" table): Service Control Manager
7031/7034 "The Windows Azure Guest Agent service terminated unexpectedly", 7000 "failed to start", 7009 "A timeout
was reached (30000 milliseconds) while waiting for the Windows Azure Guest Agent service to connect"; Application
Error 1000 "Faulting application name: WindowsAzureGuestAgent.exe"; .NET Runtime 1026 "Application:
WindowsAzureGuestAgent.exe". SCM events name the service by display name in ``param1`` and by key name in the
UTF-16 ``Binary`` data (seen on real System logs, omerbenamram/evtx samples/2-vss_7-System.evtx record 42).
AppLocker 8004/8007 carry the blocked file in ``UserData/RuleAndFileData/FilePath`` as ``%OSDRIVE%\\...`` (a real
Azure VM's AppLocker record captured in Log Analytics). The WDAC/Code Integrity 3077 block has no public sample in
the sources the kit holds: it is not judged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from ._util import fmt_ts, keep
from .engine import Context
from .model import Evidence, Finding

#: The agent's services: key name -> display name (display names from the AGEX event table and services.json).
AGENT_SERVICES = {"windowsazureguestagent": "Windows Azure Guest Agent", "rdagent": "RdAgent",
                  "windowsazuretelemetryservice": None, "guestproxyagent": None}
_DISPLAY = {v.lower() for v in AGENT_SERVICES.values() if v}
#: The agent's programs, as Application Error / .NET Runtime name them.
AGENT_PROGRAMS = {"windowsazureguestagent.exe", "waappagent.exe", "windowsazuretelemetryservice.exe",
                  "collectguestlogs.exe", "guestproxyagent.exe"}
#: SCM: the service ended without being asked to (7031 with a recovery action, 7034 without one), or ended with
#: an error (7023 Windows error code, 7024 service-specific error code).
SCM_TERMINATED = {7031, 7034, 7023, 7024}
#: SCM: the service could not be started (7000 failed to start, 7009 did not connect in time, 7011 did not answer
#: a control in time).
SCM_START_FAILED = {7000, 7009, 7011}
APP_CRASH = {("Application Error", 1000), (".NET Runtime", 1026)}
#: AppLocker: 8004 an .exe/.dll was prevented from running, 8007 a script or .msi was prevented.
APPLOCKER_BLOCKED = {8004, 8007}
_AGENT_PATH = re.compile(r"(?:^|\\)(?:packages\\plugins|windowsazure)\\", re.IGNORECASE)
#: Terminations within this window count as a crash loop (the agent's own CRASH_WINDOW).
LOOP_WINDOW = pd.Timedelta(hours=1)
LOOP_COUNT = 3


def _events(ctx: Context) -> pd.DataFrame:
    return ctx.frame("events")


def _select(ctx: Context, provider: str, ids: set[int]) -> pd.DataFrame:
    """The events from ``provider`` with one of ``ids`` (an unread provider or id selects nothing)."""
    ev = _events(ctx)
    if ev.empty:
        return ev
    # keep(): most bundles have no such event, and a filter that keeps nothing then costs nothing
    return keep(ev, ((ev["provider"] == provider) & ev["event_id"].isin(ids)).fillna(False).to_numpy(dtype=bool))


def _agent_scm(ctx: Context, ids: set[int]) -> pd.DataFrame:
    """Service Control Manager events with one of ``ids`` about one of the agent's services."""
    rows = _select(ctx, "Service Control Manager", ids)
    return keep(rows, _agent_service(rows)) if not rows.empty else rows


def _ids(rows: pd.DataFrame) -> str:
    return "/".join(str(int(i)) for i in sorted(rows["event_id"].dropna().unique()))


def _agent_service(df: pd.DataFrame) -> pd.Series:
    """Rows whose service (display name, or key name from Binary) is one of the agent's."""
    name = df["service"].fillna("").str.strip().str.lower()
    key = df["service_key"].fillna("").str.strip().str.lower()
    return (name.isin(_DISPLAY) | name.isin(AGENT_SERVICES) | key.isin(AGENT_SERVICES)).to_numpy(dtype=bool)


def _evidence(rows: pd.DataFrame, limit: int = 10) -> list[Evidence]:
    rows = rows.sort_values("ts", na_position="first", kind="stable")
    if len(rows) > limit:
        rows = pd.concat([rows.head(limit // 2), rows.tail(limit - limit // 2)])
    out = []
    for r in rows.itertuples(index=False):
        what = f"{r.channel or '?'} / {r.provider or '?'} {r.event_id if not pd.isna(r.event_id) else '?'}"
        detail = r.message if isinstance(r.message, str) else ""
        out.append(Evidence(artifact="events", text=f"{what}: {detail}".strip(), source=r.source,
                            line=None if pd.isna(r.line) else int(r.line),
                            ts=None if pd.isna(r.ts) else r.ts))
    return out


def _span(rows: pd.DataFrame) -> str:
    ts = rows["ts"].dropna()
    if ts.empty:
        return "at times the export does not give"
    if ts.min() == ts.max():
        return f"at {fmt_ts(ts.min())}"
    return f"between {fmt_ts(ts.min())} and {fmt_ts(ts.max())}"


def _names(rows: pd.DataFrame) -> str:
    names = sorted({str(s) for s in rows["service"].dropna()} | {str(k) for k in rows["service_key"].dropna()
                                                                  if rows["service"].isna().all()})
    return ", ".join(names) or "an agent service"


def _loop(rows: pd.DataFrame) -> int:
    """The most terminations inside any LOOP_WINDOW (0 when the times are unknown)."""
    ts = rows["ts"].dropna().sort_values().reset_index(drop=True)
    best = 0
    for i in range(len(ts)):
        best = max(best, int(((ts >= ts[i]) & (ts <= ts[i] + LOOP_WINDOW)).sum()))
    return best


def agent_service_terminated(ctx: Context) -> Iterable[Finding]:
    rows = _agent_scm(ctx, SCM_TERMINATED)
    if rows.empty:
        return []
    n, loop = len(rows), _loop(rows)
    looped = (f" {loop} of them within one hour: the service is in a crash loop and the agent cannot stay up long "
              "enough to report" if loop >= LOOP_COUNT else "")
    return [ctx.finding("AGENT_SERVICE_TERMINATED",
                        f"Windows recorded {n} unexpected end(s) of {_names(rows)} {_span(rows)} (Service Control "
                        f"Manager {_ids(rows)}).{looped}", _evidence(rows))]


def agent_service_start_failed(ctx: Context) -> Iterable[Finding]:
    rows = _agent_scm(ctx, SCM_START_FAILED)
    if rows.empty:
        return []
    return [ctx.finding("AGENT_SERVICE_START_FAILED",
                        f"Windows could not start {_names(rows)} {len(rows)} time(s) {_span(rows)} (Service Control "
                        f"Manager {_ids(rows)}).", _evidence(rows))]


def agent_process_crashed(ctx: Context) -> Iterable[Finding]:
    ev = _events(ctx)
    if ev.empty:
        return []
    pairs = list(zip(ev["provider"].fillna(""), ev["event_id"].fillna(-1).astype("int64"), strict=True))
    is_crash = pd.Series([p in APP_CRASH for p in pairs], index=ev.index)
    prog = ev["service"].fillna("").str.strip().str.lower().str.rsplit("\\", n=1).str[-1]
    rows = keep(ev, (is_crash & prog.isin(AGENT_PROGRAMS)).to_numpy(dtype=bool))
    cited = ctx.cited()  # crashes an earlier, more specific finding explains (AGENT_VERSION_KNOWN_BAD) are its own
    rows = keep(rows, np.array([pd.isna(n) or (s, int(n)) not in cited
                                for s, n in zip(rows["source"], rows["line"], strict=True)], dtype=bool))
    if rows.empty:
        return []
    progs = ", ".join(sorted({str(s) for s in rows["service"].dropna()}))
    return [ctx.finding("AGENT_PROCESS_CRASHED",
                        f"{progs} crashed {len(rows)} time(s) {_span(rows)} (Application log: Application Error "
                        f"1000 / .NET Runtime 1026).", _evidence(rows))]


def app_control_blocks_agent(ctx: Context) -> Iterable[Finding]:
    rows = _select(ctx, "Microsoft-Windows-AppLocker", APPLOCKER_BLOCKED)
    if rows.empty:
        return []
    rows = keep(rows, rows["service"].fillna("").str.contains(_AGENT_PATH).to_numpy(dtype=bool))
    if rows.empty:
        return []
    files = sorted({str(s) for s in rows["service"].dropna()})
    shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    return [ctx.finding("APP_CONTROL_BLOCKS_AGENT",
                        f"AppLocker prevented {len(rows)} run(s) of the agent's or an extension's files {_span(rows)}: "
                        f"{shown}.", _evidence(rows))]


#: What each rule decides from, {rule: {frame: columns}} (tests/test_unknown_never_bad.py makes these unknown and
#: checks that no verdict follows; it fails for a rule without an entry).
JUDGES: dict[str, dict[str, tuple[str, ...]]] = {
    "agent_service_terminated": {"events": ("provider", "event_id", "service", "service_key", "ts")},
    "agent_service_start_failed": {"events": ("provider", "event_id", "service", "service_key")},
    "agent_process_crashed": {"events": ("provider", "event_id", "service")},
    "app_control_blocks_agent": {"events": ("provider", "event_id", "service")},
}

RULES = [agent_service_terminated, agent_service_start_failed, agent_process_crashed, app_control_blocks_agent]
