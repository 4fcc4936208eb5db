"""Guest Proxy Agent aggregate status: ``C:\\WindowsAzure\\ProxyAgent\\Logs\\status.json`` (Metadata Security
Protocol).

Read from the source, Azure/GuestProxyAgent at 729e2a8 (formats doc §13; no status file from a customer VM is public):
``proxy_agent_shared/src/proxy_agent_aggregate_status.rs`` defines the document, written with ``serde_json::
to_vec_pretty`` every status interval (``proxy_agent/src/proxy_agent_status.rs``)::

    {"timestamp": "YYYY-MM-DDTHH:MM:SS.mmm",            # UTC, 23 characters (misc_helpers.rs)
     "proxyAgentStatus": {"version", "status": SUCCESS|ERROR|UNKNOWN,
        "monitorStatus" | "keyLatchStatus" | "ebpfProgramStatus" | "proxyListenerStatus" | "telemetryLoggerStatus":
            {"status": RUNNING|STOPPED|UNKNOWN, "message": "...", "states": {...}?},
        "proxyConnectionsCount": n},
     "proxyConnectionSummary": [...], "failedAuthenticateSummary": [...]}

``keyLatchStatus.states.secureChannelState`` says what the protocol enforces: ``disabled``, or (version 2.0 keys)
``"WireServer Enforce -  IMDS Audit - HostGA Enforce"`` (``key_keeper/key.rs``). One row per module; the connection
summaries (user names, command lines) are not copied.
"""

from __future__ import annotations

from ..schema import LINE, SOURCE, Col, FrameSchema
from ._jsonutil import get, load, looks_like, to_utc
from .base import ParseIssue, ParseResult

NAME = "proxy_agent_status"
DESCRIPTION = "Guest Proxy Agent aggregate status (ProxyAgent\\Logs\\status.json)."
PATTERNS = ("*/proxyagent/logs/status.json", "*proxyagent*status*.json")

MODULES = ("monitorStatus", "keyLatchStatus", "ebpfProgramStatus", "proxyListenerStatus", "telemetryLoggerStatus")

GPA_STATUS = FrameSchema(
    "proxy_agent_status",
    "One row per Guest Proxy Agent module in its aggregate status file: its state and message, the agent's overall "
    "status and the secure channel state.",
    (SOURCE, LINE,
     Col("ts", "datetime", "`timestamp`: when the status was written (UTC)."),
     Col("version", "str", "`proxyAgentStatus.version`."),
     Col("overall", "str", "`proxyAgentStatus.status` as written (`SUCCESS`, `ERROR`, `UNKNOWN`)."),
     Col("module", "str", "The module: `monitorStatus`, `keyLatchStatus`, `ebpfProgramStatus`, "
         "`proxyListenerStatus`, `telemetryLoggerStatus`.", False),
     Col("state", "str", "The module's `status` as written (`RUNNING`, `STOPPED`, `UNKNOWN`)."),
     Col("message", "str", "The module's `message`."),
     Col("secure_channel_state", "str", "`keyLatchStatus.states.secureChannelState` (every row of the file)."),
     Col("text", "str", "module: state - message, for evidence.")),
)
FRAMES = {NAME: GPA_STATUS}


def sniff(head: str) -> bool:
    return looks_like(head, "proxyAgentStatus")


def _s(v: object) -> str | None:
    return None if v is None or isinstance(v, (dict, list)) else str(v)


def parse(text: str, *, source: str) -> ParseResult:
    data, issues = load(text, source=source, parser=NAME, partial=True)
    status = get(data, "proxyAgentStatus")
    if not isinstance(status, dict):
        if data is not None:
            issues.append(ParseIssue(source, None, "unexpected-shape", "expected an object with proxyAgentStatus "
                                     "(the Guest Proxy Agent's status.json), found none", parser=NAME))
        return ParseResult({NAME: GPA_STATUS.empty()}, issues)
    ts, ok = to_utc(get(data, "timestamp"))
    if not ok:
        issues.append(ParseIssue(source, None, "bad-timestamp", "expected timestamp as YYYY-MM-DDTHH:MM:SS.mmm (UTC), "
                                 f"found {str(get(data, 'timestamp'))[:40]!r}; read as unknown", parser=NAME))
    channel = _s(get(status, "keyLatchStatus", "states", "secureChannelState"))
    base = {"source": source, "line": None, "ts": ts, "version": _s(get(status, "version")),
            "overall": _s(get(status, "status")), "secure_channel_state": channel}
    rows = []
    for module in MODULES:
        m = get(status, module)
        if not isinstance(m, dict):
            continue
        state, message = _s(get(m, "status")), _s(get(m, "message"))
        rows.append({**base, "module": module, "state": state, "message": message,
                     "text": f"{module}: {state or '?'} - {message or ''}".rstrip(" -")})
    return ParseResult({NAME: GPA_STATUS.from_records(rows)}, issues)
