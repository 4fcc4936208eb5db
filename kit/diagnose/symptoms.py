"""Symptom first (issue 15 part 4): the symptom a customer reports, with its possible causes ranked from the
evidence the bundle actually holds.

One symptom so far: the guest agent shows **Not Ready** (portal "VM agent status: Not Ready",
VMAgentStatusCommunicationError). Its causes, in the order support checks them: the agent service stopped or
disabled, a crash loop, WireServer blocked, a proxy in the way, certificates, clock skew, application control, an agent
too old. A cause is ranked only when a finding of the catalog points at it (its code, its summary and its first
evidence line are the row's why and evidence); a cause with no finding is not invented. When the data a cause is
judged from is missing, the row says so ("cannot tell ... because ... missing"); when nothing points anywhere, one row
says "no cause found in this bundle".

:func:`symptoms` takes the findings frame of :func:`kit.diagnose.diagnose` and the bundle, and returns a frame typed by
:data:`SYMPTOM_CAUSES`; it reads nothing the findings and the bundle's frames do not already hold.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import pandas as pd

from ..catalog import catalog
from ..schema import Col, FrameSchema

NOT_READY = "agent Not Ready"

SYMPTOM_CAUSES = FrameSchema(
    "symptom_causes",
    "The possible causes of a reported symptom, ranked from the findings of the bundle (rank 1 first); rows without a "
    "rank say what was not found or could not be told, and why.",
    (Col("symptom", "str", "The symptom, with what the bundle itself shows of it.", False),
     Col("rank", "Int64", "1 for the best-supported cause; NA when nothing in the bundle points at this row's cause."),
     Col("cause", "str", "The cause, in support's words.", False),
     Col("code", "str", "The finding code that points at the cause (the most severe one); NA when none."),
     Col("why", "str", "The finding's severity and summary, or why the cause could not be judged.", False),
     Col("evidence", "str", "The first evidence line of the finding (file:line and text); NA when none."),
     Col("fix", "str", "The first sentence of the catalog's remediation for the code; NA when none.")),
)


@dataclass(frozen=True)
class Cause:
    key: str
    label: str
    #: Finding codes that point at this cause, most direct first.
    codes: tuple[str, ...]
    #: Frames the cause is judged from: when all are empty the cause cannot be told. ``events:<regex>``: only event
    #: records of a channel the regex matches count.
    frames: tuple[str, ...]
    #: What is missing, in words, when the frames are empty.
    needs: str


NOT_READY_CAUSES: tuple[Cause, ...] = (
    Cause("service", "the agent service is stopped or disabled", ("AGENT_NOT_RUNNING", "AGENT_STOPPING_STUCK"),
          ("services", "agent_log"), "the service list (commands/services.json) and WaAppAgent.log"),
    Cause("crash", "the agent crashes or restarts in a loop",
          ("AGENT_CRASH_LOOP", "AGENT_SERVICE_TERMINATED", "AGENT_PROCESS_CRASHED", "AGENT_SERVICE_START_FAILED",
           "AGENT_BAD_IMAGE_FORMAT"),
          ("agent_log", "events:^(?:System|Application)$"), "WaAppAgent.log and the System/Application event logs"),
    Cause("wireserver", "WireServer (168.63.129.16) or HostGAPlugin is blocked or unreachable",
          ("GUEST_FIREWALL_BLOCKS_WIRESERVER", "WIRESERVER_ROUTE_WRONG_INTERFACE", "NO_ROUTE_TO_PLATFORM",
           "WIRESERVER_UNREACHABLE", "HOSTGAPLUGIN_UNREACHABLE", "FABRIC_ADDRESS_NOT_DISCOVERED",
           "WIRESERVER_SERVICE_ERROR", "GUEST_PROXY_AGENT_FAILING"),
          ("tcp_probes", "http_probes", "firewall_rules", "routes"),
          "the connectivity probes, firewall rules and route table"),
    Cause("proxy", "a proxy intercepts the agent's traffic", ("PROXY_INTERCEPTS_AGENT_TRAFFIC",),
          ("proxy",), "the WinHTTP proxy settings (netsh winhttp show proxy)"),
    Cause("certificates", "the agent cannot create or use its certificates", ("AGENT_CERTIFICATE_ERROR",),
          ("agent_log",), "WaAppAgent.log"),
    Cause("clock", "the VM's clock is wrong (certificates and tokens fail)", ("TIME_SERVICE_NOT_SYNCHRONIZED",),
          ("events:^System$",), "the System event log (the Windows Time service's events)"),
    Cause("app-control", "application control (AppLocker/WDAC) blocks the agent", ("APP_CONTROL_BLOCKS_AGENT",),
          ("events:AppLocker|CodeIntegrity",), "the AppLocker/CodeIntegrity event logs"),
    Cause("version", "the agent is too old or a known-bad build",
          ("AGENT_VERSION_KNOWN_BAD", "AGENT_VERSION_UNSUPPORTED"), ("agent_log", "agent_status"),
          "the agent's version (WaAppAgent.log or the aggregate status)"),
)

_RANKED = ("critical", "error", "warning")


def _frame(bundle, name: str) -> pd.DataFrame:
    try:
        return bundle.frame(name)
    except Exception:  # a frame this bundle type does not know is as good as an empty one here
        return pd.DataFrame()


def _holds(bundle, spec: str) -> bool:
    """Whether the bundle holds data for ``spec`` (a frame name, or ``events:<channel regex>``)."""
    name, _, channels = spec.partition(":")
    df = _frame(bundle, name)
    if df.empty or not channels:
        return not df.empty
    return bool(df["channel"].astype("string").str.contains(channels, case=False, regex=True).fillna(False).any())


def fix_text(text: object, sentences: int = 2) -> str:
    """The start of a catalog remediation, as a one-line fix: its first two sentences (most remediations say why in
    the first and what to do in the second)."""
    t = " ".join(str(text).split())
    end = -1
    for _ in range(sentences):
        nxt = t.find(". ", end + 1)
        if nxt < 0:
            return t
        end = nxt
    return t[: end + 1]


def _evidence(ev: object) -> str | None:
    items = list(ev) if isinstance(ev, (list, tuple)) else []
    if not items:
        return None
    e = items[0]
    where = e.get("source") or e.get("artifact") or ""
    if e.get("line") is not None:
        where += f":{e['line']}"
    text = " ".join(str(e.get("text") or "").split())
    return f"{where}: {text}" if text else where


def not_ready_seen(bundle) -> str:
    """What the bundle itself shows of the Not Ready symptom: the agent's last reported status, if read."""
    status = _frame(bundle, "agent_status")
    if status.empty or "agent_status" not in status:
        return _NO_STATUS
    # the rows with a status, by position (a frame filter, sort and row Series cost ~2 ms here for a few rows)
    states = status["agent_status"].tolist()
    rows = [i for i, v in enumerate(states) if not _isna(v)]
    if not rows:
        return _NO_STATUS
    when = None
    if "snapshot_time" in status:
        times = status["snapshot_time"].tolist()
        if any(not _isna(times[i]) for i in rows):  # the newest snapshot last (unknown times last, as sort_values)
            rows = sorted(rows, key=lambda i: (1, 0) if _isna(times[i]) else (0, times[i]))
        when = times[rows[-1]]
    at = f" at {when:%Y-%m-%d %H:%M UTC}" if isinstance(when, pd.Timestamp) and not pd.isna(when) else ""
    state = str(states[rows[-1]])
    if state.replace(" ", "").lower() == "notready":
        return f"{NOT_READY} (the agent's last status in this bundle confirms it: {state}{at})"
    return f"{NOT_READY} (as reported; the agent's last status in this bundle is {state}{at})"


_NO_STATUS = f"{NOT_READY} (this bundle holds no agent status that confirms or rules it out)"


def _isna(v: object) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v)


def symptom_seen(findings: pd.DataFrame, bundle) -> str:
    """The symptom with what the bundle shows of it: the agent's last status, and a pasted
    VMAgentStatusCommunicationError when the findings hold one."""
    seen = not_ready_seen(bundle)
    if not findings.empty and "DEPLOYMENT_AGENT_STATUS_NOT_REPORTED" in findings["code"].tolist():
        seen = seen[:-1] + "; a deployment error in the bundle reports it: VMAgentStatusCommunicationError)"
    return seen


def symptoms(findings: pd.DataFrame, bundle, symptom: str = NOT_READY) -> pd.DataFrame:
    """The causes of ``symptom`` (only "agent Not Ready" so far), ranked from ``findings`` and ``bundle``."""
    if symptom != NOT_READY:
        raise ValueError(f"unknown symptom {symptom!r}; known: {NOT_READY!r}")
    seen = symptom_seen(findings, bundle)
    cat = catalog()
    ranked: list[tuple[int, int, dict]] = []
    unranked: list[dict] = []
    # the findings as lists: a frame filter per cause cost ~1 ms each for a frame of a few rows
    codes = findings["code"].tolist() if not findings.empty else []
    sevs = [str(v) for v in findings["severity"].tolist()] if codes else []
    for order, cause in enumerate(NOT_READY_CAUSES):
        # the findings that point at the cause, most severe first, then by the most direct code (a stable sort)
        hits = sorted((i for i, (c, s) in enumerate(zip(codes, sevs, strict=True))
                       if c in cause.codes and s in _RANKED),
                      key=lambda i: (_RANKED.index(sevs[i]), cause.codes.index(codes[i])))
        if hits:
            top = hits[0]
            code = codes[top]
            others = [c for c in dict.fromkeys(codes[i] for i in hits) if c != code]
            why = f"{sevs[top]}: {findings['summary'].iat[top]}"
            if others:
                why += f" (also: {', '.join(others)})"
            ranked.append((_RANKED.index(sevs[top]), order, {
                "cause": cause.label, "code": code, "why": why, "evidence": _evidence(findings["evidence"].iat[top]),
                "fix": fix_text(cat[code].remediation)}))
            continue
        if not cause.frames:
            unranked.append({"cause": cause.label, "why": f"cannot tell: not checked, because it needs {cause.needs}"})
        elif not any(_holds(bundle, f) for f in cause.frames):
            unranked.append({"cause": cause.label,
                             "why": f"cannot tell: {cause.needs} missing from this bundle"})
    rows = []
    for rank, (_, _, row) in enumerate(sorted(ranked, key=lambda x: (x[0], x[1])), start=1):
        rows.append({"symptom": seen, "rank": rank, **row})
    if not ranked:
        rows.append({"symptom": seen, "rank": None, "cause": "no cause found",
                     "why": "no cause found in this bundle: no finding at warning or above points at any of the "
                            "causes checked"})
    rows += [{"symptom": seen, "rank": None, **r} for r in unranked]
    return SYMPTOM_CAUSES.from_records(rows)


def _wrap(text: str, indent: str, width: int = 116, lines: int = 3) -> list[str]:
    """``text`` wrapped at spaces (never inside an address or path); past ``lines`` lines, a marked cut."""
    out = textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=indent + "  ",
                        break_long_words=False, break_on_hyphens=False)
    if len(out) > lines:
        out = out[:lines]
        out[-1] += " …"
    return out


def format_symptoms(df: pd.DataFrame) -> str:
    """The plain-text block `vmkit diagnose` leads with."""
    if df.empty:
        return ""
    out = [f"Symptom: {df['symptom'].iloc[0]}"]
    # the rows as tuples of plain values (itertuples and two frame filters cost ~2 ms for a few rows)
    rows = list(zip(*(df[c].tolist() for c in ("rank", "cause", "code", "why", "evidence", "fix")), strict=True))
    ranked = [r for r in rows if not _isna(r[0])]
    if not ranked:
        out.append("  No cause found in this bundle.")
    else:
        out.append("Likely causes, best supported first:")
        for rank, cause, code, _, evidence, fix in ranked:
            out.append(f"  {int(rank)}. {cause} [{code}]")
            if isinstance(evidence, str):
                out += _wrap(f"> {evidence}", "     ")
            if isinstance(fix, str):
                out += _wrap(f"Fix: {fix}", "     ")
    for rank, cause, _, why, _, _ in rows:
        if _isna(rank) and isinstance(why, str) and why.startswith("cannot tell"):
            out += _wrap(f"Not judged: {cause} - {why}", "  ")
    return "\n".join(out)
