"""Row filters for the kit's frames, shared by the rules (:mod:`kit.diagnose`) and derived frames
(:mod:`kit.derive`). Most frames here have tens to hundreds of rows, where pandas' fixed cost per call dominates;
these keep pandas' semantics without it."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd

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


def _isna(v: object) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def is_unknown(values: pd.Series, known: Iterable[str] | None = None) -> np.ndarray:
    """Mask of the values that were not read: missing (NA, NaN, NaT), blank, or - when ``known`` lists the words a
    parser writes - any other word."""
    words = None if known is None else set(known)
    out = np.empty(len(values), dtype=bool)
    for i, v in enumerate(values.tolist()):
        if isinstance(v, str):
            out[i] = not v.strip() or (words is not None and v not in words)
        else:
            out[i] = _isna(v)
    return out


def missing_in(rows: pd.DataFrame, column: str) -> list[str]:
    """``["<file>: <column> unknown in N row(s)", ...]``, one per file of ``rows`` (the rows whose ``column`` was not
    read), for a "cannot tell" finding."""
    if rows.empty:
        return []
    counts = rows["source"].astype(str).value_counts(sort=False)
    return [f"{src}: {column} unknown in {n} row(s)" for src, n in counts.items()]
