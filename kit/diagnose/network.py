"""Network rules: can the VM reach WireServer (168.63.129.16:80), HostGAPlugin (:32526) and IMDS?

Two kinds of evidence: the probes the collector ran from the VM (``tcp_probes``, ``http_probes``) and the
agent's own connection failures in its logs. Probes decide when present (they are current); the log decides
when there are no probes, and every finding says which evidence decided it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..catalog import signature_pattern
from ..derive.connectivity import LOG_FAILURES  # failing to reach each endpoint (shared with the connectivity plot)
from ..derive.filters import ROW_BY_ROW_MAX, release_unused
from ..derive.routes import columns, isna, values
from ..net import ENDPOINT_NAMES, HOSTGAPLUGIN_PORT, IMDS_IP, WIRESERVER_IP, WIRESERVER_PORT
from ._util import clip, fmt_ts, frame_evidence, is_unknown, keep, log_evidence, match, missing_in
from .engine import Context
from .model import Evidence, Finding

#: Agent-log signatures (kit/catalog/findings.yaml, shared with the paste scan; formats doc §1.1, §1.4, §5.8, §12).
#: WSAEACCES: the local Windows Filtering Platform refused the connect (group 1: the port).
FORBIDDEN = signature_pattern("GUEST_FIREWALL_BLOCKS_WIRESERVER", "agent_log")
#: Answers that came from a proxy, not from the platform.
PROXY_ANSWER = signature_pattern("PROXY_INTERCEPTS_AGENT_TRAFFIC", "agent_log")
#: WireServer's own server errors: only the platform's if no proxy sits in between.
WS_SERVICE_ERROR = signature_pattern("WIRESERVER_SERVICE_ERROR", "agent_log")
FABRIC_FAIL = signature_pattern("FABRIC_ADDRESS_NOT_DISCOVERED", "agent_log")
FABRIC_OK = r"Discovered fabric address on interface|Using fabric address"

ENDPOINT_LABEL = {"wireserver": f"WireServer {WIRESERVER_IP}:{WIRESERVER_PORT}",
                  "hostgaplugin": f"HostGAPlugin {WIRESERVER_IP}:{HOSTGAPLUGIN_PORT}",
                  "imds": f"IMDS {IMDS_IP}:80"}
CODE = {"wireserver": "WIRESERVER_UNREACHABLE", "hostgaplugin": "HOSTGAPLUGIN_UNREACHABLE"}


def _agent_logs(ctx: Context) -> pd.DataFrame:
    return ctx.frame("agent_log")


class _Probes:
    """A probe frame's columns the rules read, once per run as lists (:func:`kit.derive.routes.values`): the probe
    frames have a few rows, where picking positions in plain Python is several times cheaper than a pandas filter;
    a frame of the rows is taken only for a finding's evidence or a "cannot tell" note."""

    def __init__(self, df: pd.DataFrame, names: tuple[str, ...]) -> None:
        self.frame = df
        self.cols = columns(df, names)

    def where(self, column: str, *words: str) -> list[int]:
        """Positions of the rows whose ``column`` is one of ``words`` (NA is none)."""
        return [i for i, v in enumerate(self.cols[column]) if v in words]

    def take(self, rows: list[int]) -> pd.DataFrame:
        return self.frame.take(rows) if rows else self.none

    @functools.cached_property
    def none(self) -> pd.DataFrame:
        """The frame's columns with no row (made once: taking no row still costs as much as taking some)."""
        return self.frame.iloc[:0]


def _tcp(ctx: Context) -> _Probes:
    return ctx.memo("network.tcp", lambda: _Probes(ctx.frame("tcp_probes"),  # type: ignore[return-value]
                                                   ("endpoint", "ok", "outcome", "target", "port")))


def _http(ctx: Context) -> _Probes:
    return ctx.memo("network.http", lambda: _Probes(ctx.frame("http_probes"),  # type: ignore[return-value]
                                                    ("endpoint", "outcome", "status")))


def _proxy_answered(ctx: Context, log_hits: pd.DataFrame | None = None) -> bool:
    """Whether an agent-log record shows a proxy's answer: asked by two rules, the log is scanned once per run
    (``log_hits``: the records, when the caller selected them already). Only the answer is kept, not the records."""
    return ctx.memo("network.proxy_answered",  # type: ignore[return-value]
                    lambda: not (match(_agent_logs(ctx), PROXY_ANSWER) if log_hits is None else log_hits).empty)


def _released(log_hits: pd.DataFrame) -> None:
    """After many records were selected from a large agent log: hand the memory they used back to the system
    (:func:`kit.derive.filters.release_unused`; the reachability rules' own log scans used to do it, before their
    probes decided without the log)."""
    if len(log_hits) > ROW_BY_ROW_MAX:
        release_unused()


def _probe_evidence(rows: pd.DataFrame) -> list[Evidence]:
    return frame_evidence(rows, "tcp_probes", ["target", "port", "attempt", "ok", "elapsed_ms", "outcome", "error"],
                          ts="time")


def _unattributed(tcp: _Probes) -> list[int]:
    """TCP probes whose endpoint was not read: any of them may be a probe of any endpoint."""
    if tcp.frame.empty or set(tcp.cols["endpoint"]) <= set(ENDPOINT_NAMES):  # every endpoint a known word
        return []
    return np.flatnonzero(is_unknown(tcp.frame["endpoint"], ENDPOINT_NAMES)).tolist()


def _split_ok(tcp: _Probes, rows: list[int]) -> tuple[list[int], list[bool], list[int]]:
    """(the probes of ``rows`` whose result was read, their ``ok``, the probes whose result was not read)."""
    ok = tcp.cols["ok"]
    known = [i for i in rows if not isna(ok[i])]  # ok is a boolean column: not read is NA
    return known, [bool(ok[i]) for i in known], [i for i in rows if isna(ok[i])]


def _unreachable(ctx: Context, endpoint: str) -> list[Finding]:
    tcp = _tcp(ctx)
    all_probes = tcp.where("endpoint", endpoint)
    unattributed = _unattributed(tcp)
    label = ENDPOINT_LABEL[endpoint]
    if all_probes or unattributed:
        # Probes decide; a probe whose result or endpoint was not read decides nothing (and keeps the log out of it).
        known, ok, unread = _split_ok(tcp, all_probes)
        unknown = (missing_in(tcp.take(unread), "ok") if unread else []) + \
            (missing_in(tcp.take(unattributed), "endpoint") if unattributed else [])
        if any(ok):
            if not all(ok):
                failed = [i for i, o in zip(known, ok, strict=True) if not o]
                return [ctx.finding(CODE[endpoint],
                                    f"{label} is intermittent: {len(failed)} of {len(known)} TCP probes from "
                                    "the VM failed (decided by the collector's probes).",
                                    _probe_evidence(tcp.take(failed)), severity="warning")]
            return [ctx.not_checked(f"whether every probe of {label} succeeded", "; ".join(unknown))] if unknown \
                else []
        if not known or unknown:
            return [ctx.not_checked(f"reachability of {label}", "; ".join(unknown))]
        probes = tcp.take(known)
        log_hits = match(_agent_logs(ctx), LOG_FAILURES[endpoint])
        errors = clip("; ".join(sorted({str(e) for e in probes["error"].dropna()})), 300)
        log_part = (f" The agent log agrees: {len(log_hits)} connection failures, the last at "
                    f"{fmt_ts(log_hits['ts'].max())}." if not log_hits.empty else "")
        return [ctx.finding(CODE[endpoint],
                            f"All {len(probes)} TCP probes from the VM to {label} failed "
                            f"({errors or 'no error text'}); decided by the collector's probes.{log_part}",
                            _probe_evidence(probes) + log_evidence(log_hits, "agent_log", limit=4),
                            explains=log_hits)]
    log_hits = match(_agent_logs(ctx), LOG_FAILURES[endpoint])
    if not log_hits.empty:
        return [ctx.finding(CODE[endpoint],
                            f"The agent log shows {len(log_hits)} failures to reach {label}, from "
                            f"{fmt_ts(log_hits['ts'].min())} to {fmt_ts(log_hits['ts'].max())}; decided by the "
                            "agent log (no probes in the bundle).", log_evidence(log_hits, "agent_log"),
                            explains=log_hits)]
    if _agent_logs(ctx).empty:
        return [ctx.not_checked(f"reachability of {label}", "no probes/tcp.json and no agent log in the bundle")]
    return []


def wireserver_unreachable(ctx: Context) -> Iterable[Finding]:
    return _unreachable(ctx, "wireserver")


def hostgaplugin_unreachable(ctx: Context) -> Iterable[Finding]:
    return _unreachable(ctx, "hostgaplugin")


def _firewall_unread(ctx: Context) -> str | None:
    """Why the firewall rules were not read (None when they were): neither the JSON nor netsh text is there, or
    the netsh text is in a language whose labels the kit does not know."""
    if ctx.has("firewall_rules"):
        return None
    if not ctx.has("netsh_firewall"):
        return "no commands/firewall_rules.json (or netsh advfirewall rule text) in the bundle"
    iss = ctx.bundle.issues
    foreign = keep(iss, (iss["parser"] == "netsh_firewall") & (iss["kind"] == "unknown-label"))
    if foreign.empty:
        return None
    return (f"the netsh advfirewall text {foreign['source'].iloc[0]} uses labels the kit does not know (a "
            "localized Windows), so its rules were not read")


def guest_firewall(ctx: Context) -> Iterable[Finding]:
    evidence: list[Evidence] = []
    ports: set[int] = set()
    rules = ctx.frame("firewall_rules")
    rule_names: list[str] = []
    unknown_rules: list[str] = []
    if not rules.empty:
        from ..parse.firewall_rules import blocking_rules

        for port in (WIRESERVER_PORT, HOSTGAPLUGIN_PORT):
            hit = blocking_rules(rules, WIRESERVER_IP, port)
            unread = {c: is_unknown(hit[c]) for c in ("enabled", "direction", "action")} if not hit.empty else {}
            if any(u.any() for u in unread.values()):  # blocking_rules reads a missing value as "any"
                unknown_rules += [m for c, u in unread.items() for m in missing_in(keep(hit, u), c)]
                hit = hit[~np.logical_or.reduce(list(unread.values()))]
            if not hit.empty:
                ports.add(port)
                rule_names += [str(n) for n in hit["display_name"].fillna(hit["name"])]
                evidence += frame_evidence(hit, "firewall_rules", ["display_name", "name", "direction", "action",
                                                                   "protocol", "remote_address", "remote_port",
                                                                   "program"])
    log_hits = match(_agent_logs(ctx), FORBIDDEN)
    for t in log_hits["text"]:
        ports |= {int(p) for p in re.findall(FORBIDDEN, t)}
    probes = _tcp(ctx)
    forbidden = probes.take([i for i in probes.where("outcome", "forbidden")
                             if probes.cols["target"][i] == WIRESERVER_IP])
    ports |= {int(p) for p in forbidden["port"].dropna()} if not forbidden.empty else set()
    if not (evidence or not log_hits.empty or not forbidden.empty):
        if unknown_rules:
            return [ctx.not_checked("whether a firewall rule blocks 168.63.129.16",
                                    "; ".join(dict.fromkeys(unknown_rules)))]
        if rules.empty and log_hits.empty and (unread := _firewall_unread(ctx)):
            return [ctx.not_checked("guest firewall rules for 168.63.129.16", unread)]
        return []
    how = []
    if rule_names:
        how.append("rule " + ", ".join(f"'{n}'" for n in dict.fromkeys(rule_names)))
    if not log_hits.empty:
        how.append(f"{len(log_hits)} WSAEACCES errors in the agent log")
    if not forbidden.empty:
        how.append(f"{len(forbidden)} probes refused locally")
    port_txt = " and ".join(str(p) for p in sorted(ports)) or "?"
    found = ctx.finding("GUEST_FIREWALL_BLOCKS_WIRESERVER",
                        f"Outbound traffic to {WIRESERVER_IP} port {port_txt} is blocked inside the guest "
                        f"({'; '.join(how)}).",
                        evidence + log_evidence(log_hits, "agent_log", limit=4) + _probe_evidence(forbidden),
                        explains=log_hits)
    _released(log_hits)
    return [found]


def proxy_intercepts(ctx: Context) -> Iterable[Finding]:
    evidence: list[Evidence] = []
    reasons: list[str] = []
    unknown_bypass: list[str] = []
    proxy = ctx.frame("proxy")
    if not proxy.empty:
        direct = values(proxy["direct"])  # a row or two: read as a list, frames taken only of the rows that matter
        unread = [i for i, d in enumerate(direct) if isna(d)]  # a boolean column: not read is NA
        unknown_bypass += missing_in(proxy.take(unread), "direct") if unread else []
        via_proxy = [i for i, d in enumerate(direct) if not isna(d) and not d]  # NA: direct
        p = proxy.take(via_proxy) if via_proxy else None  # (a frame of no row costs as much as one of many)
        for r in p.itertuples(index=False) if p is not None else ():
            pairs = (("168.63.129.16", r.bypasses_wireserver, "bypasses_wireserver"),
                     ("169.254.169.254", r.bypasses_imds, "bypasses_imds"))
            unknown_bypass += [f"{r.source}: {col} unknown" for _, ok, col in pairs if pd.isna(ok)]
            gaps = [name for name, ok, _ in pairs if not pd.isna(ok) and not bool(ok)]
            if gaps:
                reasons.append(f"WinHTTP proxy {r.proxy_server} with no bypass for {' and '.join(gaps)} "
                               f"(bypass list: {r.bypass if isinstance(r.bypass, str) else 'none'})")
                evidence += frame_evidence(p, "proxy", ["scope", "proxy_server", "bypass"])
    log_hits = match(_agent_logs(ctx), PROXY_ANSWER)
    _proxy_answered(ctx, log_hits)
    if not log_hits.empty:
        reasons.append(f"{len(log_hits)} agent log records show a proxy's answer (e.g. 502 'cannotconnect')")
        evidence += log_evidence(log_hits, "agent_log", limit=6)
    http = _http(ctx)
    answered = http.take(http.where("outcome", "proxy-answer"))
    if not answered.empty:
        reasons.append(f"{len(answered)} HTTP probes were answered by a proxy")
        evidence += frame_evidence(answered, "http_probes", ["url", "status", "detail", "error"], ts="time")
    if not reasons:
        if unknown_bypass:
            return [ctx.not_checked("whether the WinHTTP proxy bypasses the platform addresses",
                                    "; ".join(unknown_bypass))]
        if proxy.empty and not ctx.has("winhttp_proxy"):
            return [ctx.not_checked("WinHTTP proxy settings", "no commands/netsh_winhttp_proxy.txt in the bundle")]
        return []
    config_only = log_hits.empty and answered.empty
    found = ctx.finding("PROXY_INTERCEPTS_AGENT_TRAFFIC",
                        "Agent traffic to the platform goes through a proxy: " + "; ".join(reasons) + "." +
                        (" No failure was seen yet, so this is a risk rather than a confirmed cause." if config_only
                         else ""),
                        evidence, severity="warning" if config_only else None, explains=log_hits)
    _released(log_hits)
    return [found]


def imds(ctx: Context) -> Iterable[Finding]:
    http, probes = _http(ctx), _tcp(ctx)
    rows = http.where("endpoint", "imds")  # positions; frames of them are taken for findings only
    known, tcp_ok, tcp_unread = _split_ok(probes, probes.where("endpoint", "imds"))
    out: list[Finding] = []
    if not rows and not known and tcp_unread:
        return [ctx.not_checked("IMDS reachability", "; ".join(missing_in(probes.take(tcp_unread), "ok")))]
    if not rows and not known:
        return [ctx.not_checked("IMDS reachability", "no probes/imds_*.json or IMDS TCP probe in the bundle")]
    cols = ["url", "status", "outcome", "detail", "error", "elapsed_ms"]
    no_answer = [i for i in rows if http.cols["outcome"][i] == "connection-error"]
    tcp_failed_all = bool(known) and not any(tcp_ok) and not tcp_unread
    if (rows and len(no_answer) == len(rows)) or (not rows and tcp_failed_all):
        failed, tcp = http.take(no_answer), probes.take(known)
        errs = clip("; ".join(sorted({str(e) for e in [*values(failed["error"]), *values(tcp["error"])]
                                      if not isna(e)})), 300)
        out.append(ctx.finding("IMDS_UNREACHABLE",
                               f"No answer from IMDS {IMDS_IP}: {len(no_answer)} HTTP request(s) and "
                               f"{tcp_ok.count(False)} TCP probe(s) from the VM failed "
                               f"({errs or 'no error text'}).",
                               frame_evidence(failed, "http_probes", cols, ts="time") + _probe_evidence(tcp)))
    error_rows = [i for i in rows if http.cols["outcome"][i] in ("http-error", "throttled")]
    if error_rows:
        errors = http.take(error_rows)
        desc = "; ".join(("an unknown status" if pd.isna(s) else f"{int(s)}") + f" on {p}"
                         + (f" ({d})" if isinstance(d, str) else "")
                         for s, p, d in zip(errors["status"], errors["path"], errors["detail"], strict=True))
        why = list(dict.fromkeys(imds_explain(s, b, h) for s, b, h in zip(errors["status"], errors["body"],
                                                                          errors["headers"], strict=True)))
        out.append(ctx.finding("IMDS_ERROR", f"IMDS answered with errors: {desc}. " + " ".join(w for w in why if w),
                               frame_evidence(errors, "http_probes", [*cols, "body"], ts="time")))
    return out


def imds_explain(status: object, body: object, headers: object) -> str:
    """One sentence on what an IMDS error answer means, per Microsoft's IMDS article ("Errors and debugging",
    "Rate limiting"); empty when the status says nothing specific."""
    b = body if isinstance(body, str) else ""
    try:
        st = None if status is None or pd.isna(status) else int(status)
    except (TypeError, ValueError):
        st = None
    hdrs = str(headers) if headers is not None else ""
    if re.search(r"X-Forwarded-For", b + hdrs, re.I):
        return ("The request carried an X-Forwarded-For header (a proxy adds it): IMDS rejects proxied requests; "
                "bypass the proxy for 169.254.169.254.")
    if re.search(r"^\s*<|<html|Via:|Proxy-Connection", b, re.I) or re.search(r"'Via'|\"Via\"", hdrs):
        return ("The answer came from a proxy, not from IMDS: add 169.254.169.254 to the bypass list (and never set "
                "a proxy for IMDS calls).")
    if st == 400 and "Required metadata header" in b:
        return "400: the request lacked the `Metadata: true` header; every IMDS call must send it."
    if st == 400 and ("api-version" in b or "newest-versions" in b):
        return ("400: the request had no (or an unsupported) api-version; IMDS lists the versions it takes in "
                "`newest-versions` (GET /metadata/versions lists all).")
    if st == 400:
        return ("400: a required part of the request is missing (`Metadata: true`, `api-version`, or `format=json` "
                "for a leaf node).")
    if st == 429:
        return ("429: throttled - IMDS allows 5 requests per second per VM (the identity endpoint 20 per second and "
                "5 at once); cache answers and back off.")
    if st == 410:
        return "410: IMDS is not ready yet; retry for up to 70 seconds."
    if st == 500:
        return "500: a transient IMDS service error; retry later with back-off."
    if st == 404:
        return "404: the requested element does not exist for this VM or api-version."
    if st == 405:
        return "405: the HTTP method is not supported on that endpoint (use GET)."
    return ""


def wireserver_service_error(ctx: Context) -> Iterable[Finding]:
    proxy = ctx.frame("proxy")
    proxied = not proxy.empty and not all(isna(d) or d for d in values(proxy["direct"]))  # NA: direct
    if proxied or _proxy_answered(ctx):
        return []  # a proxy (e.g. Squid) answers 503 too: PROXY_INTERCEPTS_AGENT_TRAFFIC covers it
    http = _http(ctx)
    rows = http.take([i for i in http.where("endpoint", "wireserver") if http.cols["outcome"][i] == "http-error"
                      and not isna(http.cols["status"][i]) and http.cols["status"][i] in (500, 503)])
    log_hits = match(_agent_logs(ctx), WS_SERVICE_ERROR)
    if rows.empty and log_hits.empty:
        return []
    unknown = missing_in(proxy[is_unknown(proxy["direct"])], "direct") if not proxy.empty else []
    if unknown:  # the summary says no proxy is configured: only when that was read
        return [ctx.not_checked("whether WireServer's server errors are the platform's or a proxy's",
                                "; ".join(unknown))]
    parts = []
    if not rows.empty:
        parts.append(f"the collector's request got HTTP {', '.join(str(int(s)) for s in rows['status'])}")
    if not log_hits.empty:
        parts.append(f"{len(log_hits)} agent log records show 500/503 from WireServer, the last at "
                     f"{fmt_ts(log_hits['ts'].max())}")
    return [ctx.finding("WIRESERVER_SERVICE_ERROR",
                        "WireServer itself answered with server errors (" + "; ".join(parts) + "), and no proxy "
                        "is configured on the VM: this is on the platform side.",
                        frame_evidence(rows, "http_probes", ["url", "status", "body"], ts="time") +
                        log_evidence(log_hits, "agent_log", limit=6), explains=log_hits)]


def fabric_address(ctx: Context) -> Iterable[Finding]:
    log = _agent_logs(ctx)
    fails = match(log, FABRIC_FAIL, "message")
    if fails.empty:
        return []
    oks = match(log, FABRIC_OK, "message")
    last_fail = fails["ts"].max()
    # A successful discovery at an unknown time, or a record not read since the last failure, may be the latest word.
    unread = missing_in(oks[oks["ts"].isna().to_numpy()], "ts")
    later = log[(log["ts"].isna() | (log["ts"] >= last_fail)).to_numpy(dtype=bool)] if not pd.isna(last_fail) else log
    unread += missing_in(later[is_unknown(later["message"])], "message")
    if unread:
        return [ctx.not_checked("whether the agent discovered the WireServer address in the end", "; ".join(unread))]
    if not oks.empty and (pd.isna(last_fail) or oks["ts"].max() > last_fail):
        return []  # discovery failed on one adapter but succeeded afterwards
    adapters = sorted({m.group(1).strip().rstrip(".") for t in fails["message"]
                       for m in [re.search(r"on interface (.+)", str(t))] if m})
    return [ctx.finding("FABRIC_ADDRESS_NOT_DISCOVERED",
                        "The agent did not discover the WireServer address from DHCP"
                        + (f" on {', '.join(adapters)}" if adapters else "")
                        + f" (last attempt {fmt_ts(last_fail)}) and never logged a successful discovery after it.",
                        log_evidence(fails, "agent_log"), explains=fails)]


#: What each rule decides from, {rule: {frame: columns}} (tests/test_unknown_never_bad.py makes these unknown and
#: checks that no verdict follows; it fails for a rule without an entry).
JUDGES: dict[str, dict[str, tuple[str, ...]]] = {
    "guest_firewall": {"firewall_rules": ("enabled", "direction", "action", "protocol", "remote_address", "remote_port",
                                          "program"),
                       "agent_log": ("text",), "tcp_probes": ("target", "port", "outcome")},
    "proxy_intercepts": {"proxy": ("direct", "bypasses_wireserver", "bypasses_imds"), "agent_log": ("text",),
                         "http_probes": ("outcome",)},
    "wireserver_unreachable": {"tcp_probes": ("endpoint", "ok"), "agent_log": ("text",)},
    "hostgaplugin_unreachable": {"tcp_probes": ("endpoint", "ok"), "agent_log": ("text",)},
    "imds": {"http_probes": ("endpoint", "outcome", "status", "path", "body", "headers"),
             "tcp_probes": ("endpoint", "ok")},
    "wireserver_service_error": {"http_probes": ("endpoint", "outcome", "status"), "agent_log": ("text",),
                                 "proxy": ("direct",)},
    "fabric_address": {"agent_log": ("message", "ts")},
}

RULES = [guest_firewall, proxy_intercepts, wireserver_unreachable, hostgaplugin_unreachable, imds,
         wireserver_service_error, fabric_address]
