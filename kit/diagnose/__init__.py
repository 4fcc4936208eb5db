"""Diagnoses: rules over a bundle's frames produce findings with stable codes, evidence and fixes.

    >>> import kit
    >>> findings = kit.diagnose(kit.open_bundle("sample_logs/firewall-blocks-32526"))
    >>> findings[["severity", "code", "summary"]]

One module per rule family: :mod:`~kit.diagnose.network`, :mod:`~kit.diagnose.routes`,
:mod:`~kit.diagnose.hci`, :mod:`~kit.diagnose.keyvault`, :mod:`~kit.diagnose.identity`,
:mod:`~kit.diagnose.extensions`, :mod:`~kit.diagnose.agent` and :mod:`~kit.diagnose.meta`.
"""

from __future__ import annotations

import sys
import types

from .engine import RULE_MODULES, Context, diagnose, rows_as_evidence
from .model import EVIDENCE, FINDINGS, Evidence, Finding, evidence_frame, findings_to_json

__all__ = ["EVIDENCE", "FINDINGS", "RULE_MODULES", "Context", "Evidence", "Finding", "diagnose",
           "evidence_frame", "findings_to_json", "rows_as_evidence"]


class _CallableModule(types.ModuleType):
    """``kit.diagnose`` is both the package of rule families and the function: ``kit.diagnose(bundle)``.

    Importing a submodule (``kit.diagnose.extensions``) binds the package as ``kit.diagnose``, so the package
    itself must be callable for ``kit.diagnose(bundle)`` to keep working.
    """

    def __call__(self, bundle, *, min_severity=None):
        return diagnose(bundle, min_severity=min_severity)


sys.modules[__name__].__class__ = _CallableModule
