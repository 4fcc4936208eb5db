"""Diagnoses: rules over a bundle's frames produce findings with stable codes, evidence and fixes.

    >>> import kit
    >>> findings = kit.diagnose(kit.open_bundle("sample_logs/firewall-blocks-32526"))
    >>> findings[["severity", "code", "summary"]]

One module per rule family: :mod:`~kit.diagnose.network`, :mod:`~kit.diagnose.routes`,
:mod:`~kit.diagnose.extensions`, :mod:`~kit.diagnose.agent` and :mod:`~kit.diagnose.meta`.
"""

from __future__ import annotations

from .engine import RULE_MODULES, Context, diagnose, rows_as_evidence
from .model import EVIDENCE, FINDINGS, Evidence, Finding, evidence_frame, findings_to_json

__all__ = ["EVIDENCE", "FINDINGS", "RULE_MODULES", "Context", "Evidence", "Finding", "diagnose",
           "evidence_frame", "findings_to_json", "rows_as_evidence"]
