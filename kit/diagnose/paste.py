"""Pasted text as evidence: each output line of a paste (:mod:`kit.parse.paste`) that a catalog signature matches is
that code's finding, with the paste's file and line as evidence.

* Shell prompts are context, not evidence: the command typed is named in the summary, only the lines it printed are
  matched (by the parser).
* When the VM's own files already raised the same code (an earlier rule family), the paste does not raise it again:
  its lines are **attached** to that finding as extra evidence and the summary says so.
* A paste carries no date and may come from another machine (a deployment pipeline, the customer's laptop): the
  summary says where it was read; deployment-side errors (family ``deployment``) say they are not a guest fault.

Runs after every family that reads the VM's own files, before :mod:`~kit.diagnose.meta`.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from ..catalog import catalog
from .engine import Context
from .model import Evidence, Finding

#: Codes the bundle's own probes decide when they are present: probes are current, a paste is undated. When the probes
#: reached the endpoint, a pasted failure to reach it is reported at info level.
PROBED = {"IMDS_UNREACHABLE": "imds", "WIRESERVER_UNREACHABLE": "wireserver",
          "HOSTGAPLUGIN_UNREACHABLE": "hostgaplugin"}
#: Evidence lines shown per code and file.
PER_FILE = 5
MAX_QUOTE = 200


def _where(rows: pd.DataFrame) -> str:
    parts = []
    for src, g in rows.groupby("source", sort=False):
        lines = sorted({int(n) for n in g["line"]})
        shown = ", ".join(str(n) for n in lines[:6]) + (", ..." if len(lines) > 6 else "")
        parts.append(f"{src} line{'s' if len(lines) > 1 else ''} {shown}")
    return "; ".join(parts)


def _evidence(rows: pd.DataFrame) -> list[Evidence]:
    out = []
    for _, g in rows.groupby("source", sort=False):
        for r in g.head(PER_FILE).itertuples(index=False):
            out.append(Evidence(artifact="paste", text=str(r.text), source=str(r.source), line=int(r.line)))
    return out


def _quote(text: str) -> str:
    t = " ".join(text.split())
    return t if len(t) <= MAX_QUOTE else t[: MAX_QUOTE - 3] + "..."


def _probes_reached(ctx: Context, endpoint: str) -> bool:
    tcp, http = ctx.frame("tcp_probes"), ctx.frame("http_probes")
    tcp_ok = not tcp.empty and bool(((tcp["endpoint"] == endpoint).fillna(False).to_numpy(dtype=bool)
                                     & tcp["ok"].fillna(False).to_numpy(dtype=bool)).any())
    http_ok = not http.empty and bool(((http["endpoint"] == endpoint) & (http["outcome"] == "ok")).fillna(False)
                                      .to_numpy(dtype=bool).any())
    return tcp_ok or http_ok


def paste_signatures(ctx: Context) -> Iterable[Finding]:
    df = ctx.frame("paste_lines")
    if df.empty:
        return []
    out_lines = df[(~df["prompt"].to_numpy(dtype=bool)) & df["codes"].notna().to_numpy(dtype=bool)]
    if out_lines.empty:
        return []
    by_code: dict[str, list[int]] = {}
    for i, codes in zip(out_lines.index, out_lines["codes"], strict=True):
        for code in str(codes).split(","):
            by_code.setdefault(code, []).append(i)
    order = list(catalog())
    findings: list[Finding] = []
    for code in sorted(by_code, key=lambda c: order.index(c) if c in order else len(order)):
        if code not in catalog():
            continue
        rows = out_lines.loc[by_code[code]]
        ev = _evidence(rows)
        where = _where(rows)
        earlier = next((f for f in ctx.findings if f.code == code), None)
        if earlier is not None:  # the VM's own files raised it: the paste is extra evidence, not a second finding
            earlier.evidence.extend(ev)
            earlier.summary = earlier.summary.rstrip() + f" Pasted text shows it too ({where})."
            continue
        first = rows.loc[rows["text"].str.len().idxmax()]  # the fullest line says most (an ARM message, not its code)
        cmd = first["command"]
        answer = f", the output of `{_quote(str(cmd))}`" if isinstance(cmd, str) and cmd else ""
        others = rows[(rows["source"] != first["source"]).to_numpy(dtype=bool)]
        also = f"; also in {_where(others)}" if not others.empty else ""
        here = _where(rows[(rows["source"] == first["source"]).to_numpy(dtype=bool)])
        summary = (f"{code} seen in pasted text: \"{_quote(str(first['text']))}\" ({here}{answer}){also}. The paste "
                   "carries no date and may come from another machine; no other file in the bundle raised this code")
        if catalog()[code].family == "deployment":
            summary += ". This is an Azure deployment (ARM/CRP) error, read from the deployment's output"
        severity = None
        if code in PROBED and _probes_reached(ctx, PROBED[code]):
            severity = "info"
            summary += (f". The bundle's own probes reached {PROBED[code]} when it was collected, so the paste shows "
                        "an earlier failure or another machine's")
        findings.append(Finding(code=code, summary=summary + ".", evidence=ev, severity=severity))
    return findings


#: What each rule decides from, {rule: {frame: columns}} (tests/test_unknown_never_bad.py makes these unknown and
#: checks that no verdict follows; it fails for a rule without an entry).
JUDGES: dict[str, dict[str, tuple[str, ...]]] = {
    "paste_signatures": {"paste_lines": ("prompt", "codes", "text"), "tcp_probes": ("endpoint", "ok"),
                         "http_probes": ("endpoint", "outcome")},
}

RULES = [paste_signatures]
