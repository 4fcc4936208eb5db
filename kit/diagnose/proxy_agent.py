"""Guest Proxy Agent rules (Metadata Security Protocol): is the proxy that gates WireServer/IMDS traffic healthy?

Read from ``proxy_agent_status`` (kit/parse/proxy_agent_status.py: ``ProxyAgent\\Logs\\status.json``). The agent sets
its overall status to ERROR when the key latch, the eBPF redirector or the proxy listener is not RUNNING
(``proxy_agent_status.rs``); it rewrites the file every status interval, so a file far older than the collection
means the service stopped writing it. What a failure costs depends on the secure channel state: with WireServer or
IMDS in *Enforce* mode, requests that do not pass through a working proxy are refused, so the guest agent's own
traffic fails; in *Audit* mode nothing is blocked; with the protocol ``disabled`` the proxy gates nothing (the MSP
troubleshooting guide names the eBPF failure line "Failed to attach program 'connect4' with error: bpf_link_create
failed", formats doc §13).
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from ._util import fmt_duration, fmt_ts, frame_evidence
from .engine import Context
from .model import Finding

#: The modules whose state decides the overall status (proxy_agent_status.rs).
KEY_MODULES = ("keyLatchStatus", "ebpfProgramStatus", "proxyListenerStatus")
#: The status file is rewritten every few seconds while the service runs; older than this at collection = not running.
STALE = pd.Timedelta(hours=1)
_CHECK = "whether the Guest Proxy Agent is healthy"


def _mode(channel: pd.Series) -> str:
    values = {str(v).strip().lower() for v in channel.dropna()}
    if any("enforce" in v for v in values):
        return "enforce"
    if any("audit" in v for v in values):
        return "audit"
    if values == {"disabled"}:
        return "disabled"
    return "unknown"


def guest_proxy_agent_failing(ctx: Context) -> Iterable[Finding]:
    df = ctx.frame("proxy_agent_status")
    if df.empty:
        return []
    key = df[df["module"].isin(KEY_MODULES).to_numpy(dtype=bool)]
    state = key["state"].astype("string").str.strip().str.upper()
    stopped = key[state.isin(["STOPPED"]).fillna(False).to_numpy(dtype=bool)]
    problems = []
    if not stopped.empty:
        problems.append("; ".join(f"{r.module} is STOPPED ({r.message})" if isinstance(r.message, str) and r.message
                                  else f"{r.module} is STOPPED" for r in stopped.itertuples(index=False)))
    ref, ts = ctx.bundle.collected_at, df["ts"].dropna()
    stale = None
    if ref is not None and not ts.empty and ref - ts.max() > STALE:
        stale = ref - ts.max()
        problems.append(f"its status file was last written {fmt_ts(ts.max())}, {fmt_duration(stale)} before "
                        "collection: the service stopped updating it")
    if not problems:
        unread = key[~state.isin(["RUNNING", "STOPPED"]).fillna(True).to_numpy(dtype=bool)]
        if not unread.empty:
            return [ctx.not_checked(_CHECK, "; ".join(f"{r.source}: {r.module} state unknown ({r.state!r})"
                                                      for r in unread.itertuples(index=False)))]
        return []
    mode = _mode(df["secure_channel_state"])
    effect = {"enforce": ("with WireServer/IMDS in Enforce mode, the guest agent's and extensions' requests to them "
                          "are refused", None),
              "audit": ("the secure channel is in Audit mode, so nothing is blocked yet", "warning"),
              "disabled": ("the Metadata Security Protocol is disabled, so the proxy gates nothing", "info"),
              # unknown is never worse than any known mode: the lowest severity
              "unknown": ("the secure channel state was not read, so whether requests are blocked is unknown",
                          "info")}[mode]
    severity = effect[1]
    if stopped.empty and severity is None:  # only an old file: the agent may have been removed with the protocol
        severity = "warning"
        effect = ("if the secure channel it last recorded (Enforce) is still on, requests to WireServer/IMDS are "
                  "refused; an old file can also be left behind when the protocol was turned off", severity)
    rows = stopped if not stopped.empty else df.head(1)
    return [ctx.finding("GUEST_PROXY_AGENT_FAILING",
                        "The Guest Proxy Agent is not healthy: " + "; ".join(problems) + f". {effect[0][0].upper()}"
                        f"{effect[0][1:]}.", frame_evidence(rows, "proxy_agent_status",
                                                            ["module", "state", "message", "secure_channel_state"],
                                                            ts="ts"),
                        severity=severity)]


#: What each rule decides from, {rule: {frame: columns}} (tests/test_unknown_never_bad.py makes these unknown and
#: checks that no verdict follows; it fails for a rule without an entry).
JUDGES: dict[str, dict[str, tuple[str, ...]]] = {
    "guest_proxy_agent_failing": {"proxy_agent_status": ("ts", "module", "state", "secure_channel_state")},
}

RULES = [guest_proxy_agent_failing]
