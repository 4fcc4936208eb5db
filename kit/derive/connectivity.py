"""Connectivity facts shared by the network rules (:mod:`kit.diagnose.network`) and the connectivity plot
(:func:`kit.plots.connectivity`): which agent-log records say an endpoint could not be reached.

The signatures live in kit/catalog/findings.yaml (shared with the paste scan; formats doc §1.1, §1.4, §5.8, §12).
"""

from __future__ import annotations

from ..catalog import signature_pattern

#: Agent-log records of failing to reach each endpoint.
LOG_FAILURES = {
    "hostgaplugin": signature_pattern("HOSTGAPLUGIN_UNREACHABLE", "agent_log"),
    "wireserver": signature_pattern("WIRESERVER_UNREACHABLE", "agent_log"),
}

__all__ = ["LOG_FAILURES"]
