"""Time-service rules: Windows Time (W32Time) recorded that the clock is not synchronized (the ``events`` frame).

A clock that runs off makes certificates look not yet valid or expired: the agent's transport certificate, the TLS
certificates of WireServer's storage and of Key Vault. The rule reads the record's provider, event id and time only,
which do not depend on the VM's language. Events of any other provider are context, never this finding.

Real sources (tests/shapes/time_service/SOURCES.md): provider ``Microsoft-Windows-Time-Service`` (``W32Time`` on
older Windows), System log; 29 "The time provider NtpClient is configured to acquire time from one or more time
sources; however none of the sources are currently accessible. ... NtpClient has no source of accurate time." (Error;
Microsoft AskDS blog "Configuring your PDCE with Alternate Time Sources", KB 830092); 36 "The time service has not
synchronized the system time for %1 seconds because none of the time service providers provided a usable time
stamp..." (MSG_TIME_SOURCE_NONE, Warning; KB 328621); 50 "The time service detected a time difference of greater
than 5000 milliseconds for 900 seconds. ... The time service is no longer synchronized ..." (Warning; KB 830092).
35 "The time service is now synchronizing the system time with the time source ..." and 37 "The time provider
NtpClient is currently receiving valid time data from ..." are what a synchronized clock logs (real records in
omerbenamram/evtx samples/2-vss_7-System.evtx): a sync after the last failure means the problem ended.

The agent log's own certificate-validity errors caused by clock skew were not found in any public source: the kit does
not read them (when AGENT_CERTIFICATE_ERROR is raised, the summary names the link and the severity goes up).
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from ._util import fmt_ts, keep
from .engine import Context
from .events import _evidence, _span
from .model import Finding

PROVIDERS = ("Microsoft-Windows-Time-Service", "W32Time", "W32time")
#: 29 no time source accessible, 36 not synchronized for N seconds, 50 time difference beyond the limit.
UNSYNCHRONIZED = {29, 36, 50}
#: 35 now synchronizing with a source, 37 receiving valid time data.
SYNCHRONIZED = {35, 37}


def _time_events(ctx: Context, ids: set[int]) -> pd.DataFrame:
    ev = ctx.frame("events")
    if ev.empty:
        return ev
    # keep(): most bundles have no Time-Service event, and a filter that keeps nothing then costs nothing
    return keep(ev, (ev["provider"].isin(PROVIDERS) & ev["event_id"].isin(ids)).fillna(False).to_numpy(dtype=bool))


def time_service_unsynchronized(ctx: Context) -> Iterable[Finding]:
    bad = _time_events(ctx, UNSYNCHRONIZED)
    if bad.empty:
        return []
    good = _time_events(ctx, SYNCHRONIZED)
    ev = ctx.frame("events")
    unread = ev[(ev["provider"].isna() | ev["provider"].astype("string").str.strip().eq("") | ev["event_id"].isna())
                .fillna(True).to_numpy(dtype=bool)]
    last_bad = bad["ts"].max()
    later = unread[(unread["ts"].isna() | (unread["ts"] > last_bad)).fillna(True).to_numpy(dtype=bool)]
    if not later.empty and not pd.isna(last_bad):  # one of them may be the synchronization that ended it
        return [ctx.not_checked("whether the clock is still unsynchronized",
                                "; ".join(f"{s}: provider or event id unknown in {n} event(s) after the last "
                                          "Time-Service failure" for s, n in later["source"].value_counts().items()))]
    if not good.empty:
        if bad["ts"].isna().any() or good["ts"].isna().any():
            where = sorted({str(s) for s in pd.concat([bad, good])[lambda d: d["ts"].isna()]["source"]})
            return [ctx.not_checked("whether the clock is still unsynchronized",
                                    f"{', '.join(where)}: ts unknown for Time-Service events, so whether the last "
                                    "synchronization came after the last failure is unknown")]
        if good["ts"].max() > bad["ts"].max():
            return []  # the clock synchronized again after the last failure
    ids = "/".join(str(int(i)) for i in sorted(bad["event_id"].dropna().unique()))
    certs = any(f.code == "AGENT_CERTIFICATE_ERROR" for f in ctx.findings)
    summary = (f"Windows Time recorded {len(bad)} time(s) that the clock is not synchronized {_span(bad)} "
               f"(Microsoft-Windows-Time-Service {ids})"
               + (f", with no successful synchronization after it (the last was at {fmt_ts(good['ts'].max())})"
                  if not good.empty else ", and no successful synchronization in the events collected")
               + ". A clock that drifts makes certificates look not yet valid or expired"
               + ("; the agent's certificate errors above may come from it." if certs else "."))
    return [ctx.finding("TIME_SERVICE_NOT_SYNCHRONIZED", summary, _evidence(bad),
                        severity="error" if certs else None)]


#: What each rule decides from, {rule: {frame: columns}} (tests/test_unknown_never_bad.py makes these unknown and
#: checks that no verdict follows; it fails for a rule without an entry).
JUDGES: dict[str, dict[str, tuple[str, ...]]] = {
    "time_service_unsynchronized": {"events": ("provider", "event_id", "ts")},  # ts of failures and syncs
}

RULES = [time_service_unsynchronized]
