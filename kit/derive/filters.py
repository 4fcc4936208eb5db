"""Row filters for the kit's frames, shared by the rules (:mod:`kit.diagnose`) and derived frames
(:mod:`kit.derive`). Most frames here have tens to hundreds of rows, where pandas' fixed cost per call dominates;
these keep pandas' semantics without it."""

from __future__ import annotations

import re
import warnings
from functools import lru_cache

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
    hits = _by_literals(values, pattern)
    if hits is not None:
        return hits
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
    if len(df) <= ROW_BY_ROW_MAX:
        return df[m]
    return take_rows(df, np.flatnonzero(m))


def take_rows(df: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """``df.iloc[rows]`` (same columns, dtypes and index), taking each chunk of an Arrow-backed column on its own:
    Arrow's ``take`` on a column of several chunks (one per log file) first concatenates them, a transient copy of
    the whole column (about 80 MiB for a 50 MiB agent log's ``text``/``message``/``source``) that its allocator then
    keeps; taken chunk by chunk only the selected values are copied."""
    cols = {}
    for name in df.columns:
        arr = df[name].array
        chunked = getattr(arr, "_pa_array", None)
        if chunked is None or chunked.num_chunks < 2:
            cols[name] = arr.take(rows)
            continue
        import pyarrow as pa

        pieces = _take_chunks(chunked, rows)

        taken = pa.chunked_array(pieces, type=chunked.type)
        try:
            col = type(arr)(taken, dtype=arr.dtype)  # a string array: keeps its NA flavour
        except TypeError:
            col = type(arr)(taken)
        cols[name] = col if col.dtype == arr.dtype else arr.take(rows)
    out = pd.DataFrame(cols, index=df.index.take(rows), copy=False)
    out.columns = df.columns
    return out


#: Characters RE2 and Python's ``re`` both read as literal when escaped with a backslash.
_RE2_SPECIAL = frozenset("\\.^$|?*+()[]{}-")


@lru_cache(maxsize=512)
def required_literals(pattern: str, flags: int = 0) -> tuple[str, ...] | None:
    """Strings one of which every match of the regex contains (one per top-level alternative: the longest run of
    plain characters each alternative must match), or None when some alternative has no run of 3 or more. Under
    IGNORECASE a run takes only ASCII characters that have no case (digits, punctuation, space), so a case-sensitive
    search for it is exact. A row that contains none of them cannot match: the row filters skip it unread."""
    try:
        parsed = re._parser.parse(pattern, flags)  # type: ignore[attr-defined]
    except (re.error, AttributeError, RecursionError):
        return None
    icase = bool(parsed.state.flags & re.IGNORECASE)
    found = _required(list(parsed.data), icase)
    return found if found and min(len(x) for x in found) >= 3 else None


def _required(seq: list, icase: bool) -> tuple[str, ...] | None:  # type: ignore[type-arg]
    c = re._constants  # type: ignore[attr-defined]
    best: tuple[str, ...] | None = None
    run: list[str] = []

    def offer(cand: tuple[str, ...] | None) -> None:
        nonlocal best
        if cand and (best is None or min(map(len, cand)) > min(map(len, best))):
            best = cand

    for op, av in seq:
        ch = chr(av) if op == c.LITERAL else None
        if ch is not None and not (icase and (not ch.isascii() or ch.lower() != ch.upper())):
            run.append(ch)
            continue
        offer(("".join(run),) if run else None)
        run = []
        if op == c.SUBPATTERN:
            _, add, delete, sub = av
            offer(_required(list(sub), (icase or bool(add & re.IGNORECASE)) and not delete & re.IGNORECASE))
        elif op == c.BRANCH:
            alts = [_required(list(a), icase) for a in av[1]]
            if all(alts):
                offer(tuple(dict.fromkeys(x for a in alts for x in a)))  # type: ignore[union-attr]
    offer(("".join(run),) if run else None)
    return best


def _by_literals(values: pd.Series, pattern: str | re.Pattern[str]) -> np.ndarray | None:
    """``contains`` for a large Arrow-backed column: Arrow finds the rows holding one of the pattern's required
    literals (one vectorised pass, no Python string per row), then Python's ``re`` searches only those. Exactly
    ``re.search``'s answer; None when the pattern has no usable literal or the column is not Arrow-backed."""
    chunked = getattr(values.array, "_pa_array", None)
    if chunked is None:
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (pa.types.is_string(chunked.type) or pa.types.is_large_string(chunked.type)):
        return None
    rx = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern)
    lits = required_literals(rx.pattern, rx.flags & ~re.UNICODE)
    if lits is None:
        return None
    needle = "|".join("".join("\\" + ch if ch in _RE2_SPECIAL else ch for ch in lit) for lit in lits)
    cand = pc.match_substring_regex(chunked, needle).fill_null(False)
    rows = np.flatnonzero(cand.to_numpy(zero_copy_only=False))
    out = np.zeros(len(values), dtype=bool)
    if len(rows):
        search = rx.search
        texts = chunked.take(pa.array(rows)).to_pylist() if chunked.num_chunks < 2 else \
            [t for ch in _take_chunks(chunked, rows) for t in ch.to_pylist()]
        out[rows] = [t is not None and search(t) is not None for t in texts]
    return out


def _take_chunks(chunked, rows: np.ndarray) -> list:  # type: ignore[no-untyped-def,type-arg]
    out, start = [], 0
    for chunk in chunked.chunks:
        lo, hi = np.searchsorted(rows, [start, start + len(chunk)])
        if hi > lo:
            out.append(chunk.take(rows[lo:hi] - start))
        start += len(chunk)
    return out
