"""Small helpers shared by the rule families."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from .model import Evidence

#: Up to this many rows a pattern is searched with Python's ``re``, row by row: on small frames that is several
#: times cheaper than pandas' vectorised ``str.contains``, whose fixed cost per call (it parses the pattern again to
#: choose between RE2 and ``re``) dominates. Above it pandas' vectorised search wins.
ROW_BY_ROW_MAX = 4000


def contains(values: pd.Series, pattern: str | re.Pattern[str]) -> np.ndarray:
    """Boolean mask of the values in which the regex ``pattern`` is found (``re.search``; NA never matches).

    Python ``re`` semantics either way: pandas falls back to ``re`` wherever RE2 would differ."""
    if len(values) <= ROW_BY_ROW_MAX:
        search = (pattern if isinstance(pattern, re.Pattern) else re.compile(pattern)).search
        return np.fromiter((isinstance(t, str) and search(t) is not None for t in values.tolist()), dtype=bool,
                           count=len(values))
    pat = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="This pattern is interpreted as a regular expression")
        flags = pattern.flags & ~re.UNICODE if isinstance(pattern, re.Pattern) else 0
        return values.str.contains(pat, flags=flags, regex=True, na=False).to_numpy(dtype=bool, na_value=False)


def match(df: pd.DataFrame, pattern: str | re.Pattern[str], column: str = "text") -> pd.DataFrame:
    """Rows of ``df`` whose ``column`` matches the regex ``pattern`` (``re.search``; NA never matches)."""
    if df.empty:
        return df
    return keep(df, contains(df[column], pattern))


def keep(df: pd.DataFrame, mask: pd.Series | np.ndarray) -> pd.DataFrame:
    """Rows of ``df`` where ``mask`` is True (NA counts as False); ``df[mask]`` without its cost when no row or
    every row is kept (a filter copies every column, and most rules' filters keep nothing on a given VM)."""
    m = mask.to_numpy(dtype=bool, na_value=False) if isinstance(mask, pd.Series) else np.asarray(mask, dtype=bool)
    if not m.any():
        return df.iloc[:0]
    if m.all():
        return df.copy(deep=False)  # a new frame (copy-on-write), as a filter returns
    return df[m]


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


def _isna(v: object) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def fmt_duration(td: pd.Timedelta) -> str:
    """``1 h 47 min`` / ``25 min`` / ``40 s``."""
    secs = int(td.total_seconds())
    if secs < 120:
        return f"{secs} s"
    mins = secs // 60
    if mins < 120:
        return f"{mins} min"
    return f"{mins // 60} h {mins % 60:02d} min"


def fmt_ts(ts: pd.Timestamp | None) -> str:
    if ts is None or pd.isna(ts):
        return "an unknown time"
    return pd.Timestamp(ts).strftime("%Y-%m-%d %H:%M:%S UTC")
