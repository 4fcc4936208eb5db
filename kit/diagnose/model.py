"""Findings: what the kit concluded, why (evidence rows), and what to do.

Secrets never reach a finding: its summary and every evidence text are masked (:func:`kit.redact.redact_text`)
when the finding becomes a row, whatever frame (raw or not) a rule read them from.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..catalog import FAMILIES, SEVERITIES, catalog
from ..redact import redact_text
from ..schema import Col, FrameSchema

MAX_EVIDENCE_TEXT = 600

FINDINGS = FrameSchema(
    "findings",
    "One row per finding, most severe first. `evidence` holds the rows that prove it; "
    "`kit.diagnose.evidence_frame(findings)` flattens them into a frame.",
    (
        Col("code", "str", "Stable UPPER_SNAKE code from kit/catalog/findings.yaml.", False),
        Col("severity", "category", "critical, error, warning or info (ordered).", False),
        Col("family", "category", "network, routes, hci, extensions, keyvault, identity, agent or meta.", False),
        Col("title", "str", "The catalog title of the code.", False),
        Col("summary", "str", "One sentence with this VM's specifics (which extension, port, route, how long).", False),
        Col("evidence", "object", "List of evidence dicts: artifact, source, line, ts (ISO UTC or None), text.", False),
        Col("evidence_count", "int64", "Number of evidence rows.", False),
        Col("remediation", "str", "The concrete fix.", False),
        Col("docs", "str", "Microsoft Learn article.", False),
    ),
)

EVIDENCE = FrameSchema(
    "evidence",
    "Evidence rows of all findings, flattened.",
    (
        Col("code", "str", "Finding code.", False),
        Col("artifact", "str", "Frame the row comes from (e.g. agent_log, tcp_probes).", False),
        Col("source", "str", "File in the bundle."),
        Col("line", "Int64", "Line in the file (NA for JSON rows)."),
        Col("ts", "datetime", "Time of the evidence row, when it has one."),
        Col("text", "str", "The evidence text, as written in the file (or a row rendered as text).", False),
    ),
)


@dataclass(frozen=True)
class Evidence:
    """One row that supports a finding."""

    artifact: str
    text: str
    source: str | None = None
    line: int | None = None
    ts: pd.Timestamp | None = None

    def as_dict(self) -> dict:
        text = redact_text(self.text)  # before cutting it: a cut secret may no longer look like one
        text = text if len(text) <= MAX_EVIDENCE_TEXT else text[: MAX_EVIDENCE_TEXT - 3] + "..."
        ts = None if self.ts is None or pd.isna(self.ts) else pd.Timestamp(self.ts).isoformat()
        line = None if self.line is None or pd.isna(self.line) else int(self.line)
        return {"artifact": self.artifact, "source": self.source, "line": line, "ts": ts, "text": text}


@dataclass
class Finding:
    """A finding before it becomes a row. Title, remediation and docs come from the catalog."""

    code: str
    summary: str
    evidence: list[Evidence] = field(default_factory=list)
    severity: str | None = None  # None: the catalog's default
    #: (source, line) of every record the finding accounts for, beyond the evidence it shows.
    explains: list[tuple[str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.code not in catalog():
            raise KeyError(f"finding code {self.code!r} is not in kit/catalog/findings.yaml")
        if self.severity is not None and self.severity not in SEVERITIES:
            raise ValueError(f"severity {self.severity!r} not in {SEVERITIES}")

    def as_record(self) -> dict:
        e = catalog()[self.code]
        ev = [x.as_dict() for x in self.evidence]
        return {"code": self.code, "severity": self.severity or e.severity, "family": e.family,
                "title": e.title, "summary": redact_text(self.summary), "evidence": ev, "evidence_count": len(ev),
                "remediation": e.remediation, "docs": e.docs}


SEVERITY_DTYPE = pd.CategoricalDtype(list(SEVERITIES), ordered=True)
FAMILY_DTYPE = pd.CategoricalDtype(list(FAMILIES))


def findings_frame(findings: Iterable[Finding]) -> pd.DataFrame:
    recs = [f.as_record() for f in findings]
    if not recs:
        df = FINDINGS.empty()
        df["severity"] = df["severity"].astype(str).astype(SEVERITY_DTYPE)
        df["family"] = df["family"].astype(str).astype(FAMILY_DTYPE)
        return df
    # Most severe first, then in catalog order; ties keep the rules' order (list.sort is stable). The records are
    # sorted before the frame is built, each column with its final dtype: building, coercing, re-typing and sorting
    # a frame cost ~3 ms per bundle for its few rows.
    order = {code: i for i, code in enumerate(catalog())}
    recs.sort(key=lambda r: (-SEVERITIES.index(r["severity"]), order[r["code"]]))
    evidence = np.empty(len(recs), dtype=object)
    evidence[:] = [r["evidence"] for r in recs]
    cols: dict[str, object] = {c.name: pd.array([r[c.name] for r in recs], dtype="str") for c in FINDINGS.columns
                               if c.dtype == "str"}
    cols["severity"] = pd.Categorical([r["severity"] for r in recs], dtype=SEVERITY_DTYPE)
    cols["family"] = pd.Categorical([r["family"] for r in recs], dtype=FAMILY_DTYPE)
    cols["evidence"] = evidence
    cols["evidence_count"] = np.array([r["evidence_count"] for r in recs], dtype="int64")
    return pd.DataFrame({c: cols[c] for c in FINDINGS.names}, copy=False)


def evidence_frame(findings: pd.DataFrame) -> pd.DataFrame:
    """All evidence rows of a findings frame, one row each, with the finding's code."""
    recs = [{"code": code, **ev} for code, evs in zip(findings["code"], findings["evidence"], strict=True)
            for ev in evs]
    return EVIDENCE.from_records(recs)


def findings_to_json(findings: pd.DataFrame) -> list[dict]:
    """The stable machine-readable form: exactly code, severity, title, summary, evidence, remediation, docs."""
    return [{"code": r.code, "severity": str(r.severity), "title": r.title, "summary": r.summary,
             "evidence": list(r.evidence), "remediation": r.remediation, "docs": r.docs}
            for r in findings.itertuples(index=False)]
