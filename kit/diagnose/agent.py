"""Agent rules: is the guest agent running, supported, healthy, and able to get its certificate?"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..catalog import signature_pattern
from ..derive.filters import ROW_BY_ROW_MAX
from ._util import (
    contains,
    fmt_duration,
    fmt_ts,
    frame_evidence,
    is_unknown,
    isin,
    keep,
    log_evidence,
    match,
    missing_in,
    time_order,
)
from .engine import Context
from .model import Finding

MIN_SUPPORTED_VERSION = (2, 7, 41491, 1010)
#: How long without any agent-log record before collection counts as "not running" (the agent writes
#: heartbeats and goal-state checks every few minutes while it runs).
SILENCE_LIMIT = pd.Timedelta(hours=1)
#: Starts within this window, with no clean stop between them, count as a crash loop.
CRASH_WINDOW = pd.Timedelta(hours=1)
CRASH_STARTS = 3

STARTING = re.compile(r"WindowsAzureGuestAgent starting\. Version (\d+(?:\.\d+){1,3})")
STOPPING = r"WindowsAzureGuestAgent stopping\."
#: Failure signatures: kit/catalog/findings.yaml (``signatures`` of each code), shared with the paste scan.
STOP_STUCK = signature_pattern("AGENT_STOPPING_STUCK", "agent_log")
CERT_ERRORS = signature_pattern("AGENT_CERTIFICATE_ERROR", "agent_log")
#: A handler that could not decrypt its protected settings (formats doc §3.2, CSS signatures): the certificate the
#: settings were encrypted to ("Windows Azure CRP Certificate Generator", LocalMachine\\My) or its key is unusable.
DECRYPT_ERRORS = signature_pattern("AGENT_CERTIFICATE_ERROR", "handler_log")
#: The certificate that protects extension settings (VM extensions article, "Help secure VM extension data").
CRP_CERT = "Windows Azure CRP Certificate Generator"
BAD_IMAGE = signature_pattern("AGENT_BAD_IMAGE_FORMAT", "agent_log")

AGENT_SERVICE = "WindowsAzureGuestAgent"


def _agent_log(ctx: Context) -> pd.DataFrame:
    """The WaAppAgent.log records; of a log of a few thousand records, once per run (four rules read them). The
    selection from a big log is not kept for the rest of the run: it may be a copy of most of it."""
    def build() -> pd.DataFrame:
        df = ctx.frame("agent_log")
        return keep(df, (df["log"] == "WaAppAgent").to_numpy(dtype=bool, na_value=False)) if not df.empty else df

    if len(ctx.frame("agent_log")) > ROW_BY_ROW_MAX:
        return build()
    return ctx.memo("agent:WaAppAgent", build)  # type: ignore[return-value]


def _starts(ctx: Context) -> np.ndarray:
    """Positions in :func:`_agent_log` of the agent's start records (once per run)."""
    def build() -> np.ndarray:
        log = _agent_log(ctx)
        return np.flatnonzero(contains(log["message"], STARTING)) if not log.empty else np.empty(0, dtype=np.intp)

    return ctx.memo("agent:starts", build)  # type: ignore[return-value]


def _version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v)[:4])


#: Parsers that fill the ``services`` frame (kit/parse/services.py, sc_query.py, services_text.py).
SERVICE_PARSERS = ("services", "sc_query", "services_text")
#: States in which the agent counts as up for this rule (StopPending is AGENT_STOPPING_STUCK's business).
_UP = ("Running", "StartPending", "StopPending")


def _agent_rows(ctx: Context) -> pd.DataFrame:
    """The services rows of the agent's service (once per run: three rules read them)."""
    def build() -> pd.DataFrame:
        services = ctx.frame("services")
        return keep(services, (services["name"].str.lower() == AGENT_SERVICE.lower()).to_numpy(
            dtype=bool, na_value=False)) if not services.empty else services

    return ctx.memo("agent:services", build)  # type: ignore[return-value]


def _known_status(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows whose status is one the rules know (services.STATUSES); NA or unfamiliar values are left out."""
    from ..parse.services import STATUSES

    return keep(rows, isin(rows["status"], STATUSES)) if not rows.empty else rows


def _services_files(ctx: Context) -> list[str]:
    """Every file read as a services artifact: those that gave rows, and those that only gave issues."""
    files = set(ctx.frame("services")["source"].dropna().astype(str))
    issues = ctx.frame("parse_issues")
    if not issues.empty:
        files |= set(issues[issues["parser"].isin(SERVICE_PARSERS).fillna(False).astype(bool)]["source"]
                     .dropna().astype(str))
    return sorted(files)


def _why_unknown(rows: pd.DataFrame) -> str:
    parts = []
    for r in rows.itertuples(index=False):
        what = ("has no Status/State value" if pd.isna(r.status) else f"has the unfamiliar status {r.status!r}")
        parts.append(f"{r.source} {what} for {r.name}")
    return "; ".join(dict.fromkeys(parts))


def _start(v: object) -> str:
    return "not recorded" if v is None or pd.isna(v) else str(v)


def agent_not_running(ctx: Context) -> Iterable[Finding]:
    svc = _agent_rows(ctx)
    if not svc.empty:
        known = _known_status(svc)
        if known.empty:
            return [ctx.not_checked("is the guest agent running", _why_unknown(svc))]
        is_up = isin(known["status"], _UP)
        up, down = keep(known, is_up), keep(known, ~is_up)
        if down.empty:
            return []
        if not up.empty:
            return [ctx.not_checked("is the guest agent running", "the services artifacts disagree: "
                                    + "; ".join(f"{r.source} says {r.status}"
                                                for r in known.itertuples(index=False)))]
        row = down.iloc[0]
        what = "is not installed" if row["status"] == "NotFound" else f"is {row['status']}"
        return [ctx.finding("AGENT_NOT_RUNNING",
                            f"The {AGENT_SERVICE} service {what} (start type {_start(row['start_type'])}).",
                            frame_evidence(down, "services", ["name", "status", "start_type", "path_name"]))]
    log = _agent_log(ctx)
    ref = ctx.bundle.collected_at
    if log.empty or ref is None:
        files = _services_files(ctx) if any(ctx.has(k) for k in SERVICE_PARSERS) else []
        missing = (f"{', '.join(files)} ha{'s' if len(files) == 1 else 've'} no readable row for {AGENT_SERVICE}"
                   if files else "no services artifact (commands/services.json)")
        missing += "" if not log.empty else " and no WaAppAgent.log"
        return [ctx.not_checked("is the guest agent running", missing)]
    # Silence is measured on the current WaAppAgent.log only: rotated logs end when they were rotated, and a
    # record after the newest dated one whose time was not read may be later still.
    base = log["source"].astype(str).str.replace("\\", "/").str.rsplit("/", n=1).str[-1].str.lower()
    current = log[(base == "waappagent.log").to_numpy(dtype=bool)]
    if current.empty:
        return [ctx.not_checked("is the guest agent running", "no services artifact naming the agent and no "
                                "current WaAppAgent.log (only rotated logs, which end when they were rotated)")]
    dated = current.dropna(subset=["ts"])
    if dated.empty:
        return [ctx.not_checked("is the guest agent running", f"{current['source'].iloc[0]}: ts unknown in all "
                                f"{len(current)} record(s)")]
    last = dated.sort_values("ts").tail(1)
    tail = current[(current["line"] > last["line"].iloc[0]).fillna(False).to_numpy(dtype=bool)]
    if tail["ts"].isna().any():
        return [ctx.not_checked("is the guest agent running", f"{last['source'].iloc[0]}: ts unknown in "
                                f"{int(tail['ts'].isna().sum())} record(s) after the newest dated one (line "
                                f"{int(last['line'].iloc[0])}), so when the agent last wrote is unknown")]
    silent = ref - last["ts"].iloc[0]
    if silent > SILENCE_LIMIT:
        return [ctx.finding("AGENT_NOT_RUNNING",
                            f"WaAppAgent.log has no record for {fmt_duration(silent)} before collection "
                            f"({fmt_ts(ref)}); the last one is from {fmt_ts(last['ts'].iloc[0])}. The service "
                            "state was not collected.",
                            log_evidence(last, "agent_log", first_line_only=True))]
    return []


def agent_version(ctx: Context) -> Iterable[Finding]:
    log = _agent_log(ctx)
    starts = _starts(ctx)
    version, evidence = None, []
    if len(starts):
        last = time_order(log, starts)[-1:]  # the newest start
        version = STARTING.search(str(log["message"].iat[last[0]])).group(1)
        evidence = log_evidence(log, "agent_log", first_line_only=True, rows=last)
    else:
        svc = _agent_rows(ctx)
        svc = svc.dropna(subset=["file_version"]) if not svc.empty else svc
        if not svc.empty:
            version = str(svc["file_version"].iloc[0])
            evidence = frame_evidence(svc.head(1), "services", ["name", "file_version", "path_name"])
    if version is None:
        where = ("no file version for it in the services artifact" if not _agent_rows(ctx).empty
                 else "no services artifact naming it")
        return [ctx.not_checked("agent version", f"no agent start line in WaAppAgent.log and {where}")]
    if not re.fullmatch(r"\s*\d+(?:\.\d+){1,3}\s*", version):  # '', a word, '2.7': not a version it can compare
        src = evidence[0].source if evidence else "the services artifact"
        return [ctx.not_checked("agent version", f"{src}: the agent's version (file_version) is unknown: it reads "
                                f"{version!r}, not a version number (major.minor.build.revision)")]
    if _version_tuple(version) < MIN_SUPPORTED_VERSION:
        return [ctx.finding("AGENT_VERSION_UNSUPPORTED",
                            f"The guest agent is version {version}, below the minimum supported "
                            f"{'.'.join(map(str, MIN_SUPPORTED_VERSION))}.", evidence)]
    return []


def agent_crash_loop(ctx: Context) -> Iterable[Finding]:
    log = _agent_log(ctx)
    if len(_starts(ctx)) < CRASH_STARTS:  # (before building the frame of them: most agents started once or twice)
        return []
    starts = log.iloc[_starts(ctx)].dropna(subset=["ts"])
    if len(starts) < CRASH_STARTS:
        return []
    stops = match(log, STOPPING, "message").dropna(subset=["ts"])
    events = pd.concat([starts.assign(event="start"), stops.assign(event="stop")]).sort_values(["ts", "line"])
    # Unclean starts: a start not preceded (since the previous start) by a clean stop.
    unclean, prev = [], None
    for r in events.itertuples(index=False):
        if r.event == "start":
            if prev == "start":
                unclean.append(r)
            prev = "start"
        else:
            prev = "stop"
    if len(unclean) + 1 < CRASH_STARTS:
        return []
    times = pd.Series([u.ts for u in unclean])
    for i in range(len(times) - (CRASH_STARTS - 1) + 1):
        window = times.iloc[i:i + CRASH_STARTS - 1]
        if window.iloc[-1] - window.iloc[0] <= CRASH_WINDOW:
            rows = starts[starts["ts"].between(window.iloc[0] - CRASH_WINDOW, window.iloc[-1])]
            near = (log["ts"].isna() | log["ts"].between(rows["ts"].min(), rows["ts"].max())).to_numpy(dtype=bool)
            unread = missing_in(log[near & is_unknown(log["message"])], "message") + missing_in(
                log[log["ts"].isna().to_numpy()], "ts")
            if unread:  # a record that was not read may be the clean stop between two starts
                return [ctx.not_checked("whether the agent is in a crash loop", "; ".join(unread))]
            return [ctx.finding("AGENT_CRASH_LOOP",
                                f"The agent started {len(rows)} times between {fmt_ts(rows['ts'].min())} and "
                                f"{fmt_ts(rows['ts'].max())} without logging a clean stop in between.",
                                log_evidence(rows, "agent_log", first_line_only=True))]
    return []


def agent_stopping_stuck(ctx: Context) -> Iterable[Finding]:
    log = _agent_log(ctx)
    hits = match(log, STOP_STUCK, "message")
    svc = _agent_rows(ctx)
    pending = keep(svc, (svc["status"] == "StopPending").to_numpy(dtype=bool, na_value=False)) \
        if not svc.empty else svc
    if hits.empty and pending.empty:
        return []
    ev = log_evidence(hits, "agent_log") + frame_evidence(pending, "services", ["name", "status"])
    what = "the service is in StopPending" if not pending.empty else "the agent logged that it could not be stopped"
    when = f" (last at {fmt_ts(hits['ts'].max())})" if not hits.empty else ""
    return [ctx.finding("AGENT_STOPPING_STUCK", f"The guest agent is stuck stopping: {what}{when}.", ev,
                        explains=hits)]


def agent_certificate(ctx: Context) -> Iterable[Finding]:
    hits = match(ctx.frame("agent_log"), CERT_ERRORS)
    handler = ctx.frame("handler_log")
    decrypt = match(handler, DECRYPT_ERRORS) if not handler.empty else handler
    if hits.empty and decrypt.empty:
        return []
    parts = []
    if not hits.empty:
        kinds = sorted({m.group(0) for t in hits["text"] for m in [re.search(CERT_ERRORS, t)] if m})
        parts.append(f"{len(hits)} agent log records show the certificate could not be created or installed "
                     f"({'; '.join(kinds)}), the last at {fmt_ts(hits['ts'].max())}")
    if not decrypt.empty:
        exts = sorted({str(e) for e in decrypt["extension"].dropna()}) or ["a handler"]
        parts.append(f"{', '.join(exts)} could not decrypt its protected settings ({len(decrypt)} record(s))")
    settings = ctx.frame("ext_settings")
    protected = sorted({str(e) for e in settings[settings["has_protected_settings"].to_numpy(dtype=bool)]["extension"]
                        .dropna()}) if not settings.empty else []
    summary = "; ".join(parts) + "."
    if protected:
        summary += (f" Protected settings are encrypted to the '{CRP_CERT}' certificate the agent installs in "
                    f"LocalMachine\\My: without it those of {', '.join(protected)} cannot be decrypted.")
    ev = log_evidence(hits, "agent_log") + log_evidence(decrypt, "handler_log", limit=4)
    return [ctx.finding("AGENT_CERTIFICATE_ERROR", summary[0].upper() + summary[1:], ev, explains=hits)]


def agent_bad_image(ctx: Context) -> Iterable[Finding]:
    hits = match(ctx.frame("agent_log"), BAD_IMAGE)
    if hits.empty:
        return []
    return [ctx.finding("AGENT_BAD_IMAGE_FORMAT",
                        f"{len(hits)} agent log records show System.BadImageFormatException (0x8007000B), "
                        f"the last at {fmt_ts(hits['ts'].max())}.", log_evidence(hits, "agent_log"), explains=hits)]


#: What each rule decides from, {rule: {frame: columns}} (tests/test_unknown_never_bad.py makes these unknown and
#: checks that no verdict follows; it fails for a rule without an entry).
JUDGES: dict[str, dict[str, tuple[str, ...]]] = {
    "agent_not_running": {"services": ("name", "status", "start_type"), "agent_log": ("log", "ts")},
    "agent_version": {"agent_log": ("log", "message", "ts"), "services": ("name", "file_version")},
    "agent_crash_loop": {"agent_log": ("log", "message", "ts")},
    "agent_stopping_stuck": {"agent_log": ("log", "message"), "services": ("name", "status")},
    "agent_certificate": {"agent_log": ("text",), "handler_log": ("text",),
                          "ext_settings": ("extension", "has_protected_settings")},
    "agent_bad_image": {"agent_log": ("text",)},
}

RULES = [agent_not_running, agent_version, agent_crash_loop, agent_stopping_stuck, agent_certificate,
         agent_bad_image]
