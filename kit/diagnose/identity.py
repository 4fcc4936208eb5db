"""Managed identity and IMDS rules: the deprecated Managed Identity VM extension, software on the VM breaking
IMDS's request rules, and IMDS attested data that does not verify.

* The Managed Identity extension (ManagedIdentityExtensionForWindows, publisher Microsoft.ManagedIdentity) served
  tokens on ``http://localhost:50342/oauth2/token`` (port from its ``{"port": 50342}`` settings); it is deprecated
  in favour of IMDS's ``/metadata/identity/oauth2/token`` (managed identity articles, "how to use VM token").
* IMDS's rules (IMDS article: "Security and authentication", "Proxies", "Rate limiting", "Errors and debugging";
  the managed identity token article: "Error handling", "Retry guidance").
* Attested data: :mod:`kit.parse.attestation` decodes and verifies the signature; this rule judges nonce, VM id and
  time against the time the bundle says the document was fetched (the probe's own time, else the collection time).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..catalog import contexts, signature_pattern, signatures
from ..derive.filters import ROW_BY_ROW_MAX, required_literals
from ..parse import attestation
from ._util import contains, contains_any, fmt_ts, frame_evidence, keep, match
from .engine import Context
from .model import Evidence, Finding
from .network import PROXY_ANSWER

GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
LEGACY_MSI = re.compile(r"ManagedIdentityExtensionFor(?:Windows|Linux)", re.IGNORECASE)
#: Signatures: kit/catalog/findings.yaml (LEGACY_MSI_EXTENSION's, IMDS_REQUESTS_FAILED's), shared with the paste scan.
LEGACY_ENDPOINT = signature_pattern("LEGACY_MSI_EXTENSION", "log")
#: A record is about IMDS when it names its address or its paths.
IMDS_CONTEXT = contexts()["imds"]


def _imds_rules() -> tuple[tuple[str, str, bool, str], ...]:
    keys = list(dict.fromkeys(s.id for s in signatures("IMDS_REQUESTS_FAILED", "log")))
    sigs = signatures("IMDS_REQUESTS_FAILED", "log")
    return tuple((k, signature_pattern("IMDS_REQUESTS_FAILED", "log", k), any(s.context for s in sigs if s.id == k),
                  next(s.meaning for s in sigs if s.id == k and s.meaning)) for k in keys)


#: Each rule: (key, pattern, needs IMDS context in the same record, what it means and what to do); the catalog's
#: kinds in its order, then a proxy's answer (PROXY_INTERCEPTS_AGENT_TRAFFIC's signatures plus a 407).
IMDS_RULES: tuple[tuple[str, str, bool, str], ...] = (*_imds_rules(), (
    "proxy", PROXY_ANSWER + r"|(?i:Proxy Authentication Required|\(407\))", True,
    "a proxy answered: IMDS must be called without a proxy (`-NoProxy`, or 169.254.169.254 in the bypass list)"))


def _texts(ctx: Context) -> pd.DataFrame:
    return ctx.memo("identity_texts", lambda: _build_texts(ctx))  # type: ignore[return-value]


def _searched(text: pd.Series) -> np.ndarray:
    """Rows of a text column that one of this module's patterns (LEGACY_ENDPOINT, IMDS_RULES') matches: the only
    rows either rule can report, so the only ones :func:`_build_texts` keeps (a 250 MiB agent log is not copied).

    A small column is read row by row, each row first searched for any of the patterns' required literals (one
    search; most rows hold none) and only then for the patterns (eight searches, several case-insensitive with word
    boundaries: most of the time was theirs); a large one is :func:`contains_any`'s (Arrow finds those literals)."""
    patterns, needle = _search_plan()
    if needle is None or len(text) > ROW_BY_ROW_MAX:
        return contains_any(text, list(patterns))
    return np.fromiter((isinstance(t, str) and needle.search(t) is not None and any(p.search(t) for p in patterns)
                        for t in text.tolist()), dtype=bool, count=len(text))


@functools.cache
def _search_plan() -> tuple[tuple[re.Pattern[str], ...], re.Pattern[str] | None]:
    """(the patterns :func:`_searched` looks for, compiled; one pattern of their required literals, None when one of
    them has none). ``required_literals`` writes each literal as text that matches exactly what ``re`` matches for
    it, a case-insensitive letter as the class of what ``re`` folds to it, so a row without one cannot match."""
    patterns = tuple(re.compile(p) for p in [LEGACY_ENDPOINT, *(pattern for _, pattern, _, _ in IMDS_RULES)])
    literals = [required_literals(p.pattern, p.flags & ~re.UNICODE) for p in patterns]
    if not all(literals):
        return patterns, None
    return patterns, re.compile("|".join(text for found in literals for text in found))  # type: ignore[union-attr]


def _build_texts(ctx: Context) -> pd.DataFrame:
    """Every piece of text software on the VM wrote that could quote an IMDS answer and that one of the rules'
    patterns matches: agent and handler logs, extension status messages and StdOut/StdErr substatuses. Columns:
    artifact, source, line, ts, text."""
    # Each frame's matching rows are gathered as lists and the frame is built once, only when there are some: most
    # VMs have none, and a frame per source plus a concat cost more than the search.
    cols: dict[str, list[object]] = {"artifact": [], "source": [], "line": [], "ts": [], "text": []}

    def add(name: str, df: pd.DataFrame, ts: str, text: str) -> None:
        mask = _searched(df[text])
        if mask.any():
            rows = keep(df[["source", "line", ts, text]], mask)
            cols["artifact"] += [name] * len(rows)
            for col, have in (("source", "source"), ("line", "line"), ("ts", ts), ("text", text)):
                cols[col] += rows[have].tolist()

    for name in ("agent_log", "handler_log"):
        df = ctx.frame(name)
        if not df.empty:
            add(name, df, "ts", "text")
    st = ctx.frame("ext_status")
    if not st.empty:
        add("ext_status", st, "timestamp", "message")
    sub = ctx.frame("ext_substatus")
    if not sub.empty:  # a substatus no pattern matches is not kept either (no rule could report it)
        text = pd.Series([f"{n if isinstance(n, str) else ''}: {m if isinstance(m, str) else ''}"
                          for n, m in zip(sub["name"].tolist(), sub["message"].tolist(), strict=True)], dtype="str")
        hits = np.flatnonzero(_searched(text))
        cols["artifact"] += ["ext_substatus"] * len(hits)
        cols["source"] += sub["source"].take(hits).tolist()
        cols["line"] += sub["line"].take(hits).tolist()
        cols["ts"] += [None] * len(hits)
        cols["text"] += text.take(hits).tolist()
    if not cols["text"]:
        return pd.DataFrame(columns=["artifact", "source", "line", "ts", "text"])
    return pd.DataFrame({"artifact": cols["artifact"], "source": pd.array(cols["source"], dtype="str"),
                         "line": pd.array(cols["line"], dtype="Int64"),
                         "ts": pd.array(cols["ts"], dtype="datetime64[ns, UTC]"),
                         "text": pd.array(cols["text"], dtype="str")})


def _ev(rows: pd.DataFrame, limit: int = 6) -> list[Evidence]:
    out = []
    for r in rows.head(limit).itertuples(index=False):
        out.append(Evidence(artifact=str(r.artifact), text=str(r.text).split("\n", 1)[0] if r.artifact in (
            "agent_log", "handler_log") else str(r.text), source=r.source, line=r.line,
            ts=None if pd.isna(r.ts) else r.ts))
    return out


def legacy_msi_extension(ctx: Context) -> Iterable[Finding]:
    ev: list[Evidence] = []
    installed: set[str] = set()
    for name in ("ext_settings", "ext_status", "handler_log"):
        df = ctx.frame(name)
        if df.empty:
            continue
        hits = np.flatnonzero(contains(df["extension"], LEGACY_MSI))
        if not len(hits):
            continue
        first: dict[object, str] = {}  # the first hit of each file, the first two files
        for src, ext, ver in zip(*(df[c].take(hits).tolist() for c in ("source", "extension", "ext_version")),
                                 strict=True):
            if len(first) < 2:
                first.setdefault(src, f"{ext} {ver}")
        for src, what in first.items():
            installed.add(what)
            ev.append(Evidence(artifact=name, text=what, source=src))
    hist = ctx.derived("extension_history")
    seen = np.flatnonzero(contains(hist["extension"], LEGACY_MSI)) if not hist.empty else []
    if len(seen):
        installed |= {f"{e} {v}" for e, v in zip(hist["extension"].take(seen), hist["to_version"].take(seen),
                                                 strict=True)}
        ev += [Evidence(artifact="agent_log", text=str(t).split("\n", 1)[0], source=src, line=n, ts=ts)
               for src, n, ts, t in zip(*(hist[c].take(seen[-2:]).tolist() for c in ("source", "line", "ts", "text")),
                                        strict=True)]
    texts = _texts(ctx)
    calls = match(texts, LEGACY_ENDPOINT) if not texts.empty else texts
    certs = ctx.derived("keyvault_certificates")
    kv_legacy = match(certs, LEGACY_ENDPOINT, "msi_endpoint") if not certs.empty else certs
    kv_legacy = kv_legacy.drop_duplicates(["source"]) if not kv_legacy.empty else kv_legacy
    if not (installed or not calls.empty or not kv_legacy.empty):
        return []
    proxied = match(calls, PROXY_ANSWER + r"|(?i:Proxy Authentication Required|\(407\))")
    parts = []
    if installed:
        parts.append("the deprecated Managed Identity VM extension is installed (" + ", ".join(sorted(installed)) + ")")
    if not kv_legacy.empty:
        parts.append(f"the Key Vault extension's msiEndpoint is {kv_legacy['msi_endpoint'].iloc[0]} (the legacy "
                     "extension's endpoint, not IMDS)")
        ev += frame_evidence(kv_legacy, "ext_settings", ["extension", "ext_version", "seq", "msi_endpoint"])
    if not calls.empty:
        parts.append(f"{len(calls)} record(s) show calls to localhost:50342, the last at {fmt_ts(calls['ts'].max())}")
        ev += _ev(calls.sort_values("ts", na_position="first").tail(4))
    if not proxied.empty:
        parts.append(f"{len(proxied)} of them were answered by a proxy: a proxy intercepts 127.0.0.1:50342")
    logs = calls[calls["artifact"].isin(["agent_log", "handler_log"]).to_numpy(dtype=bool)]
    text = "; ".join(parts)
    return [ctx.finding("LEGACY_MSI_EXTENSION", text[0].upper() + text[1:] + ". Tokens should come from IMDS "
                        "(http://169.254.169.254/metadata/identity/oauth2/token).", ev,
                        severity="error" if not proxied.empty else None, explains=logs)]


def imds_requests(ctx: Context) -> Iterable[Finding]:
    texts = _texts(ctx)
    if texts.empty:
        return []
    ctx_mask = contains(texts["text"], IMDS_CONTEXT)
    seen: dict[str, pd.DataFrame] = {}
    taken = pd.Series(False, index=texts.index)
    for key, pattern, needs_context, _ in IMDS_RULES:
        hit = contains(texts["text"], pattern)
        if needs_context:
            hit = hit & ctx_mask
        hit = hit & ~taken.to_numpy()
        if hit.any():
            seen[key] = texts[hit]
            taken = taken | hit
    if not seen:
        return []
    meaning = {k: m for k, _, _, m in IMDS_RULES}
    parts = [f"{meaning[k]} ({len(rows)} record(s))" for k, rows in seen.items()]
    ev = [e for rows in seen.values() for e in _ev(rows, limit=3)]
    rows = pd.concat(seen.values())
    logs = rows[rows["artifact"].isin(["agent_log", "handler_log"]).to_numpy(dtype=bool)]
    where = ", ".join(sorted({str(s) for s in rows["source"]})[:4])
    return [ctx.finding("IMDS_REQUESTS_FAILED",
                        "Software on the VM gets errors from IMDS: " + "; ".join(parts) + f". Seen in {where}.", ev,
                        explains=logs)]


def imds_attestation(ctx: Context) -> Iterable[Finding]:
    att = ctx.frame("imds_attestation")
    if att.empty:
        return []
    comp = ctx.frame("imds_compute")
    vm_id = next((str(v) for v in comp["vm_id"].dropna() if GUID.fullmatch(str(v).strip())), None) \
        if not comp.empty else None
    out = []
    for _, r in att.iterrows():
        at = r["fetched_at"] if not pd.isna(r["fetched_at"]) else ctx.time_reference
        basis = "the probe's time" if not pd.isna(r["fetched_at"]) else "the bundle's collection time"
        signed_nonce = r["nonce_signed"] if isinstance(r["nonce_signed"], str) and r["nonce_signed"].strip() else None
        sent_nonce = r["nonce_sent"] if isinstance(r["nonce_sent"], str) and r["nonce_sent"].strip() else None
        signed_vm = r["vm_id"] if isinstance(r["vm_id"], str) and GUID.fullmatch(r["vm_id"].strip()) else None
        doc = attestation.Attestation(  # a value not read is not compared: no nonce or vmId check on it
            document={"nonce": signed_nonce, "vmId": signed_vm} if isinstance(r["document"], str) else None,
            problems=[] if pd.isna(r["problems"]) else str(r["problems"]).split("; "),
            signer_not_before=None if pd.isna(r["signer_not_before"]) else r["signer_not_before"],
            signer_not_after=None if pd.isna(r["signer_not_after"]) else r["signer_not_after"])
        probs = attestation.judge(doc, created_on=None if pd.isna(r["created_on"]) else r["created_on"],
                                  expires_on=None if pd.isna(r["expires_on"]) else r["expires_on"],
                                  at=None if at is None or pd.isna(at) else at,
                                  nonce_sent=sent_nonce if signed_nonce is not None else None,
                                  vm_id=vm_id)
        if not probs:
            continue
        signed = ", ".join(f"{k}={r[c]}" for k, c in (("vmId", "vm_id"), ("sku", "sku"),
                                                      ("subscriptionId", "subscription_id"),
                                                      ("nonce", "nonce_signed")) if not pd.isna(r[c]))
        times = (f"; created {fmt_ts(r['created_on'])}, expires {fmt_ts(r['expires_on'])}"
                 if not pd.isna(r["expires_on"]) else "")
        ev = frame_evidence(pd.DataFrame([r]), "imds_attestation",
                            ["url", "nonce_sent", "nonce_signed", "vm_id", "sku", "subscription_id", "created_on",
                             "expires_on", "signature_valid", "signer_names", "signer_issuer", "problems"],
                            ts="fetched_at")
        ev += [Evidence(artifact="imds_attestation", text=p, source=r["source"]) for p in probs]
        out.append(ctx.finding(
            "IMDS_ATTESTATION_INVALID",
            f"The attested document does not verify (judged at {basis}, {fmt_ts(at)}): " + "; ".join(probs)
            + (f". Signed fields: {signed}{times}" if signed else "") + ".", ev))
    return out


#: What each rule decides from, {rule: {frame: columns}} (tests/test_unknown_never_bad.py makes these unknown and
#: checks that no verdict follows; it fails for a rule without an entry).
JUDGES: dict[str, dict[str, tuple[str, ...]]] = {
    "legacy_msi_extension": {"ext_settings": ("extension", "public_settings", "public_settings_keys"),
                             "ext_status": ("extension", "message"), "handler_log": ("extension", "text"),
                             "agent_log": ("message", "text"), "ext_substatus": ("name", "message")},
    "imds_requests": {"agent_log": ("text",), "handler_log": ("text",), "ext_status": ("message",),
                      "ext_substatus": ("name", "message")},
    "imds_attestation": {"imds_attestation": ("fetched_at", "nonce_sent", "nonce_signed", "vm_id", "created_on",
                                              "expires_on", "signer_not_before", "signer_not_after", "problems",
                                              "document"),
                         "imds_compute": ("vm_id",)},
}

RULES = [legacy_msi_extension, imds_requests, imds_attestation]
