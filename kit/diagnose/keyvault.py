"""Key Vault VM extension rules (Microsoft.Azure.KeyVault.KeyVaultForWindows): settings it cannot parse, observed
certificate URLs that cannot work, identity and store settings, the initial sync that holds up a deployment, and
certificate downloads that fail.

Inputs: the extension's public settings (``ext_settings``, read per certificate by
:func:`kit.derive.keyvault.keyvault_certificates`), its status file, and its service log
(``C:\\WindowsAzure\\Logs\\Plugins\\Microsoft.Azure.KeyVault.KeyVaultForWindows\\<version>\\akvvm_service_*.log``,
the ``akvvm`` layout of ``handler_log``). The settings schema, the ``/secrets/`` rule, ``requireInitialSync``,
the 25 retries and the deadlock with a system-assigned identity are the Key Vault extension article's; the
"Failed to parse the configuration settings" wording is quoted there and in MicrosoftDocs/azure-docs#49224.

These rules run before the generic extension rules, which then do not report the same status file again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

import pandas as pd

from ..catalog import signature_pattern
from ..derive.keyvault import KEYVAULT_EXTENSION, STORE_LOCATIONS
from ..derive.operations import budget_for, row_values
from ._util import fmt_duration, fmt_ts, frame_evidence, is_unknown, log_evidence, match, missing_in
from .engine import Context
from .extensions import _latest_status
from .model import Evidence, Finding

#: The extension's own words when its settings cannot be read ("not an object": a JSON string; "not a string": a
#: value of the wrong type), in its status and its log.
SETTINGS_PARSE = signature_pattern("KEYVAULT_SETTINGS_MALFORMED", "log")
#: Record heads of a certificate refresh, verbatim from the log quoted in azure-docs#66632.
REFRESH_START = re.compile(r"Beginning refresh for: (\S+)")
#: A failed refresh ("Refreshing '<url>' failed with exception: ...", azure-docs#109667) or another error record.
FAILURE = r"(?i)failed with exception|failed to (?:download|retrieve|get|install|refresh|acquire)|\bexception\b"
#: Why a download failed, from the text of the failure (first match wins).
CAUSES: tuple[tuple[str, str], ...] = (
    ("settings", r"(?i)URI must contain a hostname|Invalid URI|not a valid URL"),
    ("access", r"(?i)\b403\b|Forbidden|does not have (?:secrets|certificates) \w+ permission|ForbiddenByPolicy"
               r"|not authorized to perform|AccessDenied"),
    ("identity", r"(?i)Identity not found|Multiple user assigned identities|invalid_request|unauthorized_client"
                 r"|metadata/identity|oauth2/token|:50342|managed identity|\bMSI\b|access token"),
    ("network", r"(?i)could not be resolved|could not resolve|No such host|name not resolved|timed? ?out"
                r"|Unable to connect|actively refused|connection (?:was )?(?:reset|refused|closed|aborted)"
                r"|SocketException|WinHttp|ERROR_INTERNET|network"),
)
CAUSE_TEXT = {"access": "access denied by the vault (role assignment or access policy)",
              "identity": "no token for the VM's identity", "network": "the vault could not be reached",
              "settings": "a malformed URL in the settings", "other": "other errors"}
MULTIPLE_IDENTITIES = r"Multiple user assigned identities exist"
URL_IN_TEXT = re.compile(r"https://[^\s'\"<>]+")


def _kv_frames(ctx: Context) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(observed certificates of the newest settings of each KV extension, latest KV status rows, KV log rows);
    computed once per run."""
    return ctx.memo("keyvault", lambda: _build_kv_frames(ctx))  # type: ignore[return-value]


def _build_kv_frames(ctx: Context) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    certs = ctx.derived("keyvault_certificates")
    if not certs.empty:  # the newest settings (sequence number) of each extension and version; an unread one stays
        ext, ver, seq = (certs[c].tolist() for c in ("extension", "ext_version", "seq"))
        key = [(e if isinstance(e, str) else None, v if isinstance(v, str) else None) for e, v in zip(ext, ver,
                                                                                                    strict=True)]
        newest: dict[tuple[str | None, str | None], int] = {}
        for k, q in zip(key, seq, strict=True):
            if not pd.isna(q):
                newest[k] = max(newest.get(k, q), q)
        certs = certs.iloc[[i for i, (k, q) in enumerate(zip(key, seq, strict=True))
                            if pd.isna(q) or k not in newest or q == newest[k]]]
    st = _latest_status(ctx)
    st = match(st, KEYVAULT_EXTENSION, "extension") if not st.empty else st
    log = ctx.frame("handler_log")
    log = match(log, KEYVAULT_EXTENSION, "extension")
    return certs, st, log


def _settings_ev(rows: pd.DataFrame, cols: list[str]) -> list[Evidence]:
    return frame_evidence(rows, "ext_settings", cols)


def cause_of(text: str) -> str:
    for name, pattern in CAUSES:
        if re.search(pattern, text):
            return name
    return "other"


def current_failures(log: pd.DataFrame) -> pd.DataFrame:
    """The KV log's failure records that still stand: per certificate URL, those after its latest refresh that
    logged no failure (a failure without a URL belongs to the refresh it follows). A refresh that went through after
    failures clears them. Columns of the log plus ``url`` and ``cause``."""
    if log.empty:
        return log.assign(url=pd.Series(dtype="str"), cause=pd.Series(dtype="str"))
    # in the order of the log: (source, line), a missing line last (sort_values' order, without its cost)
    source, line = log["source"].tolist(), log["line"].tolist()
    log = log.iloc[sorted(range(len(log)), key=lambda i: (source[i], *_na_last(line[i])))]
    current: dict[str, str] = {}
    starts: dict[tuple[str, str], list[int]] = {}
    fails: dict[tuple[str, str], list[int]] = {}
    for i, (src, message, text, level) in enumerate(row_values(log, "source", "message", "text", "level")):
        text = str(text)
        m = REFRESH_START.search(str(message))
        if m:
            url = m.group(1).rstrip("/").lower()
            current[src] = url
            starts.setdefault((src, url), []).append(i)
            continue
        if re.search(FAILURE, text) and (str(level) in ("ERROR", "FATAL", "WARN") or "failed" in text.lower()):
            u = URL_IN_TEXT.search(text)
            url = u.group(0).rstrip("'\".,/").lower() if u else current.get(src, "")
            fails.setdefault((src, url), []).append(i)
    keep: list[int] = []
    urls: list[str | None] = []
    for key, positions in fails.items():
        st = starts.get(key, [])
        bounds = [*st[1:], len(log)] if st else []  # no refresh start read for this URL: none cleared it
        clean = [s for s, nxt in zip(st, bounds, strict=True) if not any(s < f < nxt for f in positions)]
        last_clean = max(clean, default=-1)
        for f in positions:
            if f > last_clean:
                keep.append(f)
                urls.append(key[1] or None)
    order = sorted(range(len(keep)), key=keep.__getitem__)
    rows = log.iloc[[keep[i] for i in order]].copy()
    rows["url"] = pd.Series([urls[i] for i in order], index=rows.index, dtype="str")
    rows["cause"] = [cause_of(str(x)) for x in rows["text"]]
    return rows


def _na_last(v: object) -> tuple[bool, object]:
    return (True, 0) if pd.isna(v) else (False, v)  # type: ignore[arg-type]


def _failures(ctx: Context, log: pd.DataFrame) -> pd.DataFrame:
    """:func:`current_failures` of the Key Vault log (``_kv_frames``), once per run."""
    return ctx.memo("keyvault_failures", lambda: current_failures(log))  # type: ignore[return-value]


def keyvault_settings_malformed(ctx: Context) -> Iterable[Finding]:
    certs, st, log = _kv_frames(ctx)
    as_string = certs[certs["settings_as_string"].to_numpy(dtype=bool)] if not certs.empty else certs
    bad_status = match(st, SETTINGS_PARSE, "message") if not st.empty else st
    bad_log = match(log, SETTINGS_PARSE) if not log.empty else log
    if as_string.empty and bad_status.empty and bad_log.empty:
        return []
    ev: list[Evidence] = []
    what = []
    if not as_string.empty:
        first = as_string.drop_duplicates(["source"])
        what.append("its runtime settings hold publicSettings as an escaped JSON string, not an object")
        ev += [Evidence(artifact="ext_settings", text="publicSettings: " + str(r.public_settings)[:400],
                        source=r.source) for r in first.itertuples(index=False)]
    if not bad_status.empty:
        msgs = "; ".join(sorted({str(m).strip() for m in bad_status["message"]}))
        what.append(f"its status says \"{msgs[:200]}\"")
        ev += frame_evidence(bad_status, "ext_status", ["extension", "ext_version", "seq", "operation", "status",
                                                         "message"], ts="timestamp")
    if not bad_log.empty:
        what.append(f"its log says so {len(bad_log)} time(s)")
        ev += log_evidence(bad_log, "handler_log", limit=4)
    kinds = " ".join(str(x) for x in pd.concat([bad_status["message"] if not bad_status.empty else pd.Series(),
                                                bad_log["text"] if not bad_log.empty else pd.Series()]))
    cause = ("a value of the wrong type ('not a string')" if "not a string" in kinds and as_string.empty
             else "settings passed as an escaped JSON string (a PowerShell string instead of a hashtable)")
    ext = (as_string["extension"].tolist() + bad_status["extension"].tolist() + bad_log["extension"].tolist())[0]
    return [ctx.finding("KEYVAULT_SETTINGS_MALFORMED",
                        f"{ext} cannot parse its settings: " + "; ".join(what) + f". Cause: {cause}.", ev,
                        explains=bad_log)]


def keyvault_cert_urls(ctx: Context) -> Iterable[Finding]:
    certs, _, log = _kv_frames(ctx)
    if certs.empty:
        return []
    bad = certs[(certs["url_problem"].notna() & ~certs["settings_as_string"]).to_numpy(dtype=bool)]
    if bad.empty:
        return []
    ev = _settings_ev(bad, ["extension", "ext_version", "seq", "cert_index", "url", "url_problem"])
    for url in bad["url"].dropna():
        hits = match(log, re.escape(str(url).rstrip("/"))) if not log.empty else log
        ev += log_evidence(hits, "handler_log", limit=2)
    items = "; ".join(f"{u} ({p})" for u, p in zip(bad["url"].fillna("(empty)"), bad["url_problem"], strict=True))
    return [ctx.finding("KEYVAULT_CERT_URL_INVALID",
                        f"{bad['extension'].iloc[0]} observes {len(bad)} certificate URL(s) that cannot install a "
                        f"usable certificate: {items}.", ev)]


def _endpoint_problem(endpoint: str) -> str | None:
    try:
        parts = urlsplit(endpoint.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return f"msiEndpoint {endpoint!r} is not a URL"
    if not host:
        return f"msiEndpoint {endpoint!r} has no host name (the log then says 'URI must contain a hostname')"
    if port == 50342 and host in ("localhost", "127.0.0.1"):
        return None  # the legacy Managed Identity extension's endpoint: LEGACY_MSI_EXTENSION's business
    if host not in ("169.254.169.254", "localhost", "127.0.0.1"):
        return f"msiEndpoint points at {host}, not IMDS (169.254.169.254)"
    return None


def keyvault_msi_settings(ctx: Context) -> Iterable[Finding]:
    certs, _, log = _kv_frames(ctx)
    if certs.empty:
        return []
    certs = certs[~certs["settings_as_string"].to_numpy(dtype=bool)]
    problems: list[str] = []
    ev: list[Evidence] = []
    blocks = certs.drop_duplicates(["source"])
    multi = match(log, MULTIPLE_IDENTITIES) if not log.empty else log  # (the same for every block: read once)
    for r in blocks.itertuples(index=False):
        client, endpoint = r.msi_client_id, r.msi_endpoint
        has_client = isinstance(client, str) and client.strip() != ""
        has_endpoint = isinstance(endpoint, str) and endpoint.strip() != ""
        if has_client and not has_endpoint:
            problems.append(f"msiClientId {client} without msiEndpoint")
        if has_endpoint and (p := _endpoint_problem(str(endpoint))):
            problems.append(p)
        if has_client or has_endpoint:
            ev += _settings_ev(pd.DataFrame([r._asdict()]), ["extension", "ext_version", "seq", "msi_endpoint",
                                                             "msi_client_id"])
        if not multi.empty and not has_client:
            problems.append("the VM has several user-assigned identities (IMDS: 'Multiple user assigned identities "
                            "exist') and authenticationSettings has no msiClientId to choose one")
            ev += log_evidence(multi, "handler_log", limit=3)
    locs = certs[certs["certificate_store_location"].notna().to_numpy(dtype=bool)]
    bad_locs = locs[~locs["certificate_store_location"].isin(STORE_LOCATIONS).to_numpy(dtype=bool)]
    for loc, rows in bad_locs.groupby("certificate_store_location", sort=True):
        near = next((s for s in STORE_LOCATIONS if s.lower() == str(loc).strip().lower()), None)
        why = f"differs from {near} only in case or spaces: the value is case-sensitive" if near else \
            "is neither LocalMachine nor CurrentUser"
        problems.append(f"certificateStoreLocation '{loc}' {why}")
        ev += _settings_ev(rows.head(2), ["extension", "ext_version", "seq", "cert_index", "url",
                                          "certificate_store_location"])
    if not problems:
        return []
    return [ctx.finding("KEYVAULT_MSI_SETTINGS_INVALID",
                        f"{certs['extension'].iloc[0]} settings: " + "; ".join(dict.fromkeys(problems)) + ".", ev)]


def _failure_summary(fails: pd.DataFrame) -> str:
    parts = []
    for cause, g in fails.groupby("cause", sort=False):
        urls = sorted({str(u) for u in g["url"].dropna() if u})
        parts.append(f"{CAUSE_TEXT.get(str(cause), str(cause))} ({len(g)} record(s)"
                     + (f" for {', '.join(urls[:3])}" if urls else "") + ")")
    return "; ".join(parts)


def keyvault_initial_sync(ctx: Context) -> Iterable[Finding]:
    certs, st, log = _kv_frames(ctx)
    if certs.empty or st.empty:
        return []
    sync = certs[certs["require_initial_sync"].fillna(False).astype(bool).to_numpy()]
    if sync.empty:
        return []
    ref = ctx.time_reference
    out = []
    for _, s in st[(st["status"] == "transitioning").to_numpy(dtype=bool)].iterrows():
        if ref is None or pd.isna(s["timestamp"]):
            continue
        age = ref - s["timestamp"]
        budget = budget_for(s["extension"])
        if age <= budget:
            continue
        fails = _failures(ctx, log)
        settings = ctx.frame("ext_settings")
        statuses = set(ctx.frame("ext_status")["extension"].dropna().str.lower())
        waiting = sorted({str(e) for e in settings["extension"].dropna()
                          if str(e).lower() not in statuses and not KEYVAULT_EXTENSION.match(str(e))})
        summary = (f"{s['extension']} {s['ext_version']} has requireInitialSync and has been transitioning since "
                   f"{fmt_ts(s['timestamp'])} ({fmt_duration(age)} before collection): it reports success only once "
                   "every observed certificate is installed, so extensions ordered after it wait")
        summary += (f" ({', '.join(waiting)} reached the VM but never reported a status)" if waiting else "")
        if not fails.empty:
            summary += f". Its log shows why the sync does not complete: {_failure_summary(fails)}"
            client = sync["msi_client_id"].dropna()
            if (fails["cause"] == "access").any() and client.empty:
                summary += (". No msiClientId is set, so it authenticates as the system-assigned identity: if that "
                            "identity is created in the same template that grants it vault access, the grant waits "
                            "for the extensions and the extension waits for the grant (a deadlock)")
        ev = frame_evidence(pd.DataFrame([s]), "ext_status", ["extension", "ext_version", "seq", "operation",
                                                              "status", "message"], ts="timestamp")
        ev += _settings_ev(sync.head(1), ["extension", "ext_version", "seq", "require_initial_sync", "msi_client_id"])
        ev += log_evidence(fails, "handler_log", limit=6, first_line_only=True)
        out.append(ctx.finding("KEYVAULT_INITIAL_SYNC_BLOCKING", summary + ".", ev, explains=fails))
    return out


def keyvault_downloads(ctx: Context) -> Iterable[Finding]:
    _, _, log = _kv_frames(ctx)
    if log.empty:
        return []  # no Key Vault log: no failures (current_failures' empty frame costs more than this rule)
    fails = _failures(ctx, log)
    if fails.empty:
        return []
    # A record that was not read, after a failure in its file, may be the refresh that cleared it.
    first = fails.groupby("source")["line"].min()
    after = log[[s in first and (pd.isna(n) or n > first[s]) for s, n in zip(log["source"], log["line"], strict=True)]]
    unread = after[is_unknown(after["message"]) | is_unknown(after["text"])]
    if not unread.empty:
        return [ctx.not_checked("whether the Key Vault extension's certificate downloads still fail",
                                "; ".join(missing_in(unread, "message")))]
    cited = ctx.cited()
    fails = fails[[(s, int(n)) not in cited for s, n in zip(fails["source"], fails["line"], strict=True)]]
    if fails.empty:
        return []
    ext = fails["extension"].iloc[0]
    return [ctx.finding("KEYVAULT_CERT_DOWNLOAD_FAILED",
                        f"{ext} could not download observed certificates, last at {fmt_ts(fails['ts'].max())}: "
                        f"{_failure_summary(fails)}. No later refresh of these certificates succeeded in the log.",
                        log_evidence(fails, "handler_log", limit=8, first_line_only=True), explains=fails)]


_SETTINGS_JUDGED = ("extension", "ext_version", "seq", "public_settings", "public_settings_keys")
#: What each rule decides from, {rule: {frame: columns}} (tests/test_unknown_never_bad.py makes these unknown and
#: checks that no verdict follows; it fails for a rule without an entry).
JUDGES: dict[str, dict[str, tuple[str, ...]]] = {
    "keyvault_settings_malformed": {"ext_settings": _SETTINGS_JUDGED, "ext_status": ("extension", "seq", "timestamp",
                                                                                      "message"),
                                    "handler_log": ("extension", "text")},
    "keyvault_cert_urls": {"ext_settings": _SETTINGS_JUDGED},
    "keyvault_msi_settings": {"ext_settings": _SETTINGS_JUDGED, "handler_log": ("extension", "text")},
    "keyvault_initial_sync": {"ext_settings": _SETTINGS_JUDGED,
                              "ext_status": ("extension", "seq", "timestamp", "status"),
                              "handler_log": ("extension", "level", "message", "text")},
    "keyvault_downloads": {"handler_log": ("extension", "level", "message", "text")},
}

RULES = [keyvault_settings_malformed, keyvault_cert_urls, keyvault_msi_settings, keyvault_initial_sync,
         keyvault_downloads]
