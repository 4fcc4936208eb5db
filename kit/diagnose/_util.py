"""Small helpers shared by the rule families (the row filters ``contains``, ``keep`` and ``match`` live in
:mod:`kit.derive.filters`, shared with the derived frames of :mod:`kit.derive`)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionDtype
from pandas.core.dtypes.cast import find_common_type

from ..derive.filters import _isna
from ..derive.filters import contains as contains  # re-exported: the rule modules import them from here
from ..derive.filters import contains_any as contains_any
from ..derive.filters import is_unknown as is_unknown
from ..derive.filters import isin as isin
from ..derive.filters import keep as keep
from ..derive.filters import match as match
from ..derive.filters import missing_in as missing_in
from ..derive.filters import values_at as values_at
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


def time_order(df: pd.DataFrame, rows: np.ndarray | None = None) -> np.ndarray:
    """Positions of ``df``'s rows (of those at positions ``rows`` when given) by ``ts`` then ``line``, unknown first,
    ties in frame order: the order of ``df.sort_values(["ts", "line"], na_position="first", kind="stable")``."""
    picked = np.arange(len(df)) if rows is None else np.asarray(rows, dtype=np.intp)
    ts, line = df["ts"], df["line"]
    if not (isinstance(ts.array, pd.arrays.DatetimeArray) and pd.api.types.is_integer_dtype(line.dtype)):
        sub = df.iloc[picked].reset_index(drop=True)
        return picked[sub.sort_values(["ts", "line"], na_position="first", kind="stable").index.to_numpy()]
    # np.lexsort on the arrays (last key first; False sorts first, so ``notna`` puts unknown values first) is
    # pandas' own stable lexsort without its per-key Categorical (~0.6 ms on a few hundred rows)
    t, ln = (ts.array, line.array) if rows is None else (ts.array[picked], line.array[picked])
    return picked[np.lexsort((ln.to_numpy(dtype="int64", na_value=0), ~ln.isna(), t.asi8, ~t.isna()))]


def log_evidence(df: pd.DataFrame, artifact: str, *, limit: int = 10, first_line_only: bool = False,
                 rows: np.ndarray | None = None) -> list[Evidence]:
    """Evidence from log-frame rows (``text``, ``source``, ``line``, ``ts``), newest last: of every row, or of those
    at positions ``rows`` (the same as ``log_evidence(df.iloc[rows], ...)``, without building that frame)."""
    # Rows are chosen by position and only the chosen ones read: sorting, concatenating and iterating the frame
    # (sort_values, concat, itertuples over every column) cost 1-3 ms per call on a few hundred rows.
    if "ts" in df:
        pos = time_order(df, rows)
    else:
        pos = np.arange(len(df)) if rows is None else np.asarray(rows, dtype=np.intp)
    if len(pos) > limit:  # keep the first and the newest ones: the story's start and its present
        pos = np.concatenate([pos[:limit // 2], pos[len(pos) - (limit - limit // 2):]])
    text, source, line = df["text"].array, df["source"].array, df["line"].array
    ts = df["ts"].array if "ts" in df else None
    out = []
    for i in pos.tolist():
        t = str(text[i])
        if first_line_only:
            t = t.split("\n", 1)[0]
        out.append(Evidence(artifact=artifact, text=t, source=source[i], line=line[i],
                            ts=None if ts is None else ts[i]))
    return out


def frame_evidence(df: pd.DataFrame, artifact: str, columns: list[str], *, limit: int = 10,
                   ts: str | None = None) -> list[Evidence]:
    """Evidence from rows of a non-log frame: the chosen columns rendered as ``col=value`` text."""
    if len(df) == 0:
        return []
    if limit <= 0 or df.shape[1] == 0 or not df.columns.is_unique:
        return _frame_evidence_rows(df, artifact, columns, limit=limit, ts=ts)
    common = find_common_type(list(df.dtypes))  # the dtype of iterrows' rows (DataFrame.values)
    if not (common == np.dtype(object) or isinstance(common, ExtensionDtype)):  # all numbers: one numpy type
        return _frame_evidence_rows(df, artifact, columns, limit=limit, ts=ts)
    # The cells are read column by column as iterrows gives them (a numpy scalar as its Python value), without
    # building a Series per row (~0.1 ms each).
    n = min(limit, len(df))
    cells = {c: _cells(df[c], n) for c in dict.fromkeys([*columns, "source", "line", *([ts] if ts else [])])
             if c in df.columns}
    out = []
    for i in range(n):
        parts = [f"{c}={cells[c][i]}" for c in columns if c in cells and not _isna(cells[c][i])]
        out.append(Evidence(artifact=artifact, text=", ".join(parts),
                            source=cells["source"][i] if "source" in cells else None,
                            line=cells["line"][i] if "line" in cells else None,
                            ts=cells[ts][i] if ts and ts in cells else None))
    return out


def _cells(column: pd.Series, n: int) -> list[object]:
    """The first ``n`` values of ``column`` as ``DataFrame.iterrows`` gives them when the frame's values are
    objects (``astype(object)``: Python scalars, Timestamps, NA)."""
    arr = column.array
    return [v.item() if isinstance(v, np.generic) else v for v in (arr[i] for i in range(n))]


def _frame_evidence_rows(df: pd.DataFrame, artifact: str, columns: list[str], *, limit: int = 10,
                         ts: str | None = None) -> list[Evidence]:
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
