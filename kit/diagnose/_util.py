"""Small helpers shared by the rule families (the row filters ``contains``, ``keep`` and ``match`` live in
:mod:`kit.derive.filters`, shared with the derived frames of :mod:`kit.derive`)."""

from __future__ import annotations

import re

import pandas as pd

from ..derive.filters import _isna
from ..derive.filters import contains as contains  # re-exported: the rule modules import them from here
from ..derive.filters import contains_any as contains_any
from ..derive.filters import is_unknown as is_unknown
from ..derive.filters import keep as keep
from ..derive.filters import match as match
from ..derive.filters import missing_in as missing_in
from .model import Evidence


class LazyPattern:
    """``re.compile(pattern, flags)`` on first use (``.search``, ``.finditer``, ``.sub``, ...): a module-level
    pattern that most runs never use (a rule that only reads pastes) costs nothing at start-up."""

    __slots__ = ("_args", "_rx")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self._args = (pattern, flags)
        self._rx: re.Pattern[str] | None = None

    def __getattr__(self, name: str) -> object:
        if self._rx is None:
            self._rx = re.compile(*self._args)
        return getattr(self._rx, name)


def log_evidence(df: pd.DataFrame, artifact: str, *, limit: int = 10, first_line_only: bool = False) -> list[Evidence]:
    """Evidence from log-frame rows (``text``, ``source``, ``line``, ``ts``), newest last."""
    rows = df.sort_values(["ts", "line"], na_position="first", kind="stable") if "ts" in df else df
    if len(rows) > limit:  # keep the first and the newest ones: the story's start and its present
        rows = pd.concat([rows.head(limit // 2), rows.tail(limit - limit // 2)])
    out = []
    for r in rows.itertuples(index=False):
        text = str(r.text)
        if first_line_only:
            text = text.split("\n", 1)[0]
        out.append(Evidence(artifact=artifact, text=text, source=r.source, line=r.line,
                            ts=getattr(r, "ts", None)))
    return out


def frame_evidence(df: pd.DataFrame, artifact: str, columns: list[str], *, limit: int = 10,
                   ts: str | None = None) -> list[Evidence]:
    """Evidence from rows of a non-log frame: the chosen columns rendered as ``col=value`` text."""
    out = []
    for _, r in df.head(limit).iterrows():
        parts = [f"{c}={r[c]}" for c in columns if c in r.index and not _isna(r[c])]
        out.append(Evidence(artifact=artifact, text=", ".join(parts), source=r.get("source"),
                            line=r.get("line"), ts=r.get(ts) if ts else None))
    return out


def fmt_duration(td: pd.Timedelta) -> str:
    """``1 h 47 min`` / ``25 min`` / ``40 s``."""
    secs = int(td.total_seconds())
    if secs < 120:
        return f"{secs} s"
    mins = secs // 60
    if mins < 120:
        return f"{mins} min"
    return f"{mins // 60} h {mins % 60:02d} min"


def clip(text: str, limit: int) -> str:
    """``text`` at most about ``limit`` characters: cut at the last space before the limit (never inside a word,
    an address or a number) and marked with '…'; unchanged when it fits."""
    if len(text) <= limit:
        return text
    head = text[:limit + 1]
    cut = head.rsplit(None, 1)[0] if " " in head.strip() else text[:limit]
    return cut.rstrip(" ;,:-—>") + " …"


def fmt_ts(ts: pd.Timestamp | None) -> str:
    if ts is None or pd.isna(ts):
        return "an unknown time"
    return pd.Timestamp(ts).strftime("%Y-%m-%d %H:%M:%S UTC")
