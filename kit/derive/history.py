"""``extension_history``: extension version changes (auto-upgrades) from the agent log.

    >>> bundle.frame("extension_history")            # computed once per bundle (kit.derive)
    >>> from kit.derive.history import extension_history
    >>> extension_history(bundle.agent_log)
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from ..schema import LINE, SOURCE, Col, FrameSchema
from .filters import match

# -------------------------------------------------------------------------------------------------- history
#: The agent's lines when it processes an extension (formats doc §1.3, the auto-upgrade section of the VM extensions
#: article): `Getting plugin locations for plugin '<ext>'. Current Version: '1.8', Requested Version: '1.9'` then
#: `Auto-Upgrade mode. Highest public version for plugin '<ext>' with requested version: '1.9', is: '1.9'`.
GETTING = re.compile(r"Getting plugin locations for plugin '(?P<ext>[^']+)'\. Current Version: '(?P<cur>[^']*)', "
                     r"Requested Version: '(?P<req>[^']*)'")
AUTO_UPGRADE = re.compile(r"Auto-Upgrade mode\. Highest public version for plugin '(?P<ext>[^']+)' with requested "
                          r"version: '(?P<req>[^']*)', is: '(?P<high>[^']*)'")
CHANGES = ("install", "upgrade", "downgrade", "none", "unknown")

EXTENSION_HISTORY = FrameSchema(
    "extension_history",
    "One row per time the agent looked up an extension's package (derived from `agent_log` by "
    "`kit.derive.history.extension_history`): the version the VM had, the version requested, and, in auto-upgrade "
    "mode, the highest public version it moves to. Rows where `change` is `upgrade` are the auto-upgrade events "
    "shown on the extension timeline.",
    (SOURCE, LINE,
     Col("ts", "datetime", "Time of the `Getting plugin locations` record."),
     Col("extension", "str", "Publisher.Type as the agent names it.", False),
     Col("from_version", "str", "`Current Version` (NA when empty: not installed yet)."),
     Col("requested_version", "str", "`Requested Version`."),
     Col("to_version", "str", "The version the agent uses: the auto-upgrade line's highest public version, else the "
         "requested one."),
     Col("auto_upgrade", "bool", "An `Auto-Upgrade mode` line followed for this lookup.", False),
     Col("change", "category", "install, upgrade, downgrade, none or unknown (versions that do not compare).", False),
     Col("text", "str", "The record(s) as written, joined with \\n.", False)),
)


def _version(v: str | None) -> tuple[int, ...] | None:
    if not v:
        return None
    parts = v.strip().split(".")
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else None


def _change(cur: str | None, to: str | None) -> str:
    if not cur:
        return "install"
    a, b = _version(cur), _version(to)
    if a is None or b is None:
        return "unknown" if cur != to else "none"
    return "upgrade" if b > a else "downgrade" if b < a else "none"


def extension_history(agent_log: pd.DataFrame) -> pd.DataFrame:
    """The ``extension_history`` frame from an ``agent_log`` frame (see :data:`EXTENSION_HISTORY`)."""
    if agent_log.empty:
        return EXTENSION_HISTORY.empty()
    recs = match(agent_log, "Getting plugin locations for plugin|Auto-Upgrade mode. Highest public version",
                 "message").sort_values(["source", "line"], kind="stable")
    rows: list[dict[str, Any]] = []
    open_rows: dict[tuple[str, str], dict[str, Any]] = {}  # (source, extension) -> last lookup without its auto line
    for r in recs.itertuples(index=False):
        msg = str(r.message)
        m = GETTING.search(msg)
        if m:
            row = {"source": r.source, "line": r.line, "ts": r.ts, "extension": m["ext"],
                   "from_version": m["cur"] or None, "requested_version": m["req"] or None,
                   "to_version": m["req"] or None, "auto_upgrade": False, "text": str(r.text)}
            rows.append(row)
            open_rows[(r.source, m["ext"].lower())] = row
            continue
        a = AUTO_UPGRADE.search(msg)
        if a is None:
            continue
        row = open_rows.pop((r.source, a["ext"].lower()), None)
        if row is None:  # an auto-upgrade line without its lookup (a cut log): keep it, what it says is known
            rows.append({"source": r.source, "line": r.line, "ts": r.ts, "extension": a["ext"],
                         "from_version": None, "requested_version": a["req"] or None,
                         "to_version": a["high"] or a["req"] or None, "auto_upgrade": True, "change": "unknown",
                         "text": str(r.text)})
            continue
        row["auto_upgrade"] = True
        row["to_version"] = a["high"] or row["to_version"]
        row["text"] += "\n" + str(r.text)
    for row in rows:
        row.setdefault("change", _change(row["from_version"], row["to_version"]))
    df = EXTENSION_HISTORY.from_records(rows)
    df["change"] = df["change"].cat.set_categories(CHANGES)
    return df.sort_values(["ts", "source", "line"], na_position="last", kind="stable").reset_index(drop=True)


__all__ = ["EXTENSION_HISTORY", "extension_history"]
