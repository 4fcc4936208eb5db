"""Extension history: the agent's version decisions for each extension, from WaAppAgent.log.

The agent logs, when it resolves an extension's package (wording from Microsoft's "VM extensions on Windows"
article, auto-upgrade section; lines folded here)::

    [INFO]  Getting plugin locations for plugin 'Microsoft.Compute.CustomScriptExtension'.
            Current Version: '1.8', Requested Version: '1.9'
    [INFO]  Auto-Upgrade mode. Highest public version for plugin 'Microsoft.Compute.CustomScriptExtension'
            with requested version: '1.9', is: '1.9'

Each such record is one row of the ``extension_history`` frame: which extension, from which version to which,
and when (time stamps as the agent log has them: UTC, zone-less ones read unchanged and flagged).
"""

from __future__ import annotations

import pandas as pd

from .schema import Col, FrameSchema

EXTENSION_HISTORY = FrameSchema(
    "extension_history",
    "Extension version decisions the agent logged (plugin locations and auto-upgrade), one row per record, "
    "oldest first. Built from the agent_log frame by `kit.history.extension_history(bundle)`.",
    [Col("source", "str", "Agent log file of the record.", False),
     Col("line", "Int64", "Line of the record in that file."),
     Col("ts", "datetime", "Record time, UTC (zone-less agent stamps read as UTC unchanged)."),
     Col("ts_assumed_utc", "bool", "The stamp had no zone.", False),
     Col("event", "category", "`plugin-locations` (current -> requested) or `auto-upgrade` (requested -> highest "
         "public version).", False),
     Col("extension", "str", "Publisher.Type.", False),
     Col("from_version", "str", "Current version (plugin-locations) or requested version (auto-upgrade)."),
     Col("to_version", "str", "Requested version (plugin-locations) or highest public version (auto-upgrade)."),
     Col("changed", "bool", "from_version differs from to_version (an upgrade or a version change).", False),
     Col("text", "str", "The record as written.", False)],
)

LOCATIONS = (r"Getting plugin locations for plugin '(?P<ext>[^']+)'\.\s*Current Version:\s*'(?P<cur>[^']*)',\s*"
             r"Requested Version:\s*'(?P<req>[^']*)'")
AUTO_UPGRADE = (r"Auto-Upgrade mode\.\s*Highest public version for plugin '(?P<ext>[^']+)' with requested version:"
                r"\s*'(?P<req>[^']*)',\s*is:\s*'(?P<high>[^']*)'")


def from_agent_log(log: pd.DataFrame) -> pd.DataFrame:
    """The ``extension_history`` frame from an ``agent_log`` frame."""
    if log.empty:
        return EXTENSION_HISTORY.empty()
    rows = []
    for event, pat in (("plugin-locations", LOCATIONS), ("auto-upgrade", AUTO_UPGRADE)):
        hit = log["message"].str.extract(pat)
        ok = hit["ext"].notna().to_numpy(dtype=bool)
        if not ok.any():
            continue
        sub, h = log[ok], hit[ok]
        frm = h["cur"] if event == "plugin-locations" else h["req"]
        to = h["req"] if event == "plugin-locations" else h["high"]
        for (_, r), e, f, t in zip(sub.iterrows(), h["ext"], frm, to, strict=True):
            rows.append({"source": r["source"], "line": r["line"], "ts": r["ts"],
                         "ts_assumed_utc": bool(r["ts_assumed_utc"]), "event": event, "extension": e,
                         "from_version": f or None, "to_version": t or None, "changed": bool(f and t and f != t),
                         "text": r["text"]})
    if not rows:
        return EXTENSION_HISTORY.empty()
    df = EXTENSION_HISTORY.from_records(rows)
    return df.sort_values(["ts", "source", "line"], na_position="first", kind="stable").reset_index(drop=True)


def extension_history(bundle) -> pd.DataFrame:
    """The bundle's ``extension_history`` frame (see :data:`EXTENSION_HISTORY`)."""
    return from_agent_log(bundle.frame("agent_log"))
