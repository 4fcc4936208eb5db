"""Row filters for the kit's frames, shared by the rules (:mod:`kit.diagnose`) and derived frames
(:mod:`kit.derive`). Most frames here have tens to hundreds of rows, where pandas' fixed cost per call dominates;
these keep pandas' semantics without it."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
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


def isin(values: pd.Series, items: Iterable[str]) -> np.ndarray:
    """``values.isin(items)`` as a boolean array (NA is never in ``items``). On a small column of text, Python's set
    membership: pandas' ``isin`` costs ~0.2 ms a call whatever the column's size."""
    items = list(items)
    text = isinstance(values.dtype, (pd.StringDtype, pd.CategoricalDtype)) or values.dtype == object
    if len(values) > ROW_BY_ROW_MAX or not text or not all(isinstance(i, str) for i in items):
        return values.isin(items).to_numpy(dtype=bool, na_value=False)
    allowed = set(items)
    return np.fromiter((isinstance(v, str) and v in allowed for v in values.tolist()), dtype=bool, count=len(values))


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
        rows = np.flatnonzero(m)
        if len(m) == len(df) and rows[-1] - rows[0] + 1 == len(rows):
            # one run of rows: a slice shares the columns, where df[m] takes every column (~0.5 ms on 15 columns)
            return df.iloc[rows[0]:rows[-1] + 1]
        return df[m]
    return take_rows(df, np.flatnonzero(m))


def values_at(values: pd.Series, rows: np.ndarray) -> list[object]:
    """``values.iloc[rows].tolist()``: a small column is read as a list (no Series built per selection); a large one
    is taken chunk by chunk (:func:`take_rows`) first."""
    rows = np.asarray(rows, dtype=np.intp)
    if len(values) <= ROW_BY_ROW_MAX:
        every = values.tolist()
        return [every[i] for i in rows.tolist()]
    return take_rows(values.to_frame(), rows).iloc[:, 0].tolist()


def take_rows(df: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """``df.iloc[rows]`` (same columns, dtypes and index), taking each chunk of an Arrow-backed column on its own:
    Arrow's ``take`` on a column of several chunks (one per log file) first concatenates them, a transient copy of
    the whole column (about 80 MiB for a 50 MiB agent log's ``text``/``message``/``source``) that its allocator then
    keeps; taken chunk by chunk only the selected values are copied."""
    cols = {}
    for i in range(df.shape[1]):
        arr = df.iloc[:, i].array
        chunked = getattr(arr, "_pa_array", None)
        if chunked is None or chunked.num_chunks < 2:
            cols[i] = arr.take(rows)
            continue
        import pyarrow as pa

        taken = pa.chunked_array(_take_chunks(chunked, rows), type=chunked.type)
        try:
            col = type(arr)(taken, dtype=arr.dtype)  # a string array: keeps its NA flavour
        except TypeError:
            col = type(arr)(taken)
        cols[i] = col if col.dtype == arr.dtype else arr.take(rows)
    out = pd.DataFrame(cols, index=df.index.take(rows), copy=False)
    out.columns = df.columns
    out.attrs = dict(df.attrs)
    release_unused()
    return out


#: Characters RE2 and Python's ``re`` both read as literal when escaped with a backslash.
_RE2_SPECIAL = frozenset("\\.^$|?*+()[]{}-")
#: Under IGNORECASE an ASCII letter matches its other case and, for i, s and k, these (Python's ``re`` docs, "re.I":
#: the 52 ASCII letters and 'İ' U+0130, 'ı' U+0131, 'ſ' U+017F, 'K' U+212A; a test checks every code point).
_FOLD_EXTRA = {"i": "\u0130\u0131", "s": "\u017f", "k": "\u212a"}


def _needle_char(ch: str, icase: bool) -> str:
    """``ch`` as RE2 text matching exactly what Python's ``re`` matches for it (case-insensitively when ``icase``)."""
    if icase and ch.isascii() and ch.isalpha():
        return "[" + ch.lower() + ch.upper() + _FOLD_EXTRA.get(ch.lower(), "") + "]"
    return "\\" + ch if ch in _RE2_SPECIAL else ch


@lru_cache(maxsize=512)
def required_literals(pattern: str, flags: int = 0) -> tuple[str, ...] | None:
    """RE2 texts, one of which every match of the Python regex contains: per top-level alternative, the longest run
    of plain characters it must match (an ASCII letter under IGNORECASE becomes the class of what ``re`` folds to
    it; a non-ASCII character under IGNORECASE ends a run), or None when some alternative has no run of 3 or more
    characters. A row in which none is found cannot match: the row filters leave it unread."""
    try:
        parsed = re._parser.parse(pattern, flags)  # type: ignore[attr-defined]
    except (re.error, AttributeError, RecursionError, OverflowError):
        return None
    found = _required(list(parsed.data), bool(parsed.state.flags & re.IGNORECASE))
    if not found or min(n for n, _ in found) < 3:
        return None
    return tuple(dict.fromkeys(text for _, text in found))


def _required(seq: list, icase: bool) -> tuple[tuple[int, str], ...] | None:  # type: ignore[type-arg]
    """(length, RE2 text) of the runs one of which every match of ``seq`` contains; None when there is none."""
    c = re._constants  # type: ignore[attr-defined]
    best: tuple[tuple[int, str], ...] | None = None
    run: list[str] = []

    def offer(cand: tuple[tuple[int, str], ...] | None) -> None:
        nonlocal best
        if cand and (best is None or min(n for n, _ in cand) > min(n for n, _ in best)):
            best = cand

    def flush() -> None:
        offer(((len(run), "".join(run)),) if run else None)
        run.clear()

    for op, av in seq:
        if op == c.LITERAL and not (icase and not chr(av).isascii()):
            run.append(_needle_char(chr(av), icase))
            continue
        flush()
        if op == c.SUBPATTERN:
            _, add, delete, sub = av
            offer(_required(list(sub), (icase or bool(add & re.IGNORECASE)) and not delete & re.IGNORECASE))
        elif op == c.BRANCH:
            alts = [_required(list(a), icase) for a in av[1]]
            if all(alts):
                offer(tuple(x for a in alts for x in a))  # type: ignore[union-attr]
    flush()
    return best


def contains_any(values: pd.Series, patterns: list[str | re.Pattern[str]]) -> np.ndarray:
    """Mask of the values in which any of ``patterns`` is found (``re.search``; NA never matches): on a large
    Arrow-backed column one vectorised pass finds the rows holding any of their required literals and Python's ``re``
    reads only those; otherwise one :func:`contains` per pattern."""
    hits = _by_literals(values, patterns) if len(values) > ROW_BY_ROW_MAX and patterns else None
    if hits is not None:
        return hits
    out = np.zeros(len(values), dtype=bool)
    for p in patterns:
        out |= contains(values, p)
    return out


def _by_literals(values: pd.Series, patterns: str | re.Pattern[str] | list[str | re.Pattern[str]]) -> np.ndarray | None:
    """``contains`` (of any of ``patterns``) for a large Arrow-backed column: Arrow finds the rows holding one of the
    patterns' required literals (one vectorised pass, no Python string per row), then Python's ``re`` searches only
    those. Exactly ``re.search``'s answer; None when a pattern has no usable literal or the column is not
    Arrow-backed."""
    chunked = getattr(values.array, "_pa_array", None)
    if chunked is None:
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (pa.types.is_string(chunked.type) or pa.types.is_large_string(chunked.type)):
        return None
    rxs = [p if isinstance(p, re.Pattern) else re.compile(p)
           for p in (patterns if isinstance(patterns, list) else [patterns])]
    needles = []
    for rx in rxs:
        found = required_literals(rx.pattern, rx.flags & ~re.UNICODE)
        if found is None:
            return None
        needles.append("|".join(found))
    cand = pc.fill_null(pc.match_substring_regex(chunked, "|".join(dict.fromkeys(needles))), False)
    rows = np.flatnonzero(cand.to_numpy(zero_copy_only=False))
    out = np.zeros(len(values), dtype=bool)
    if len(rows):
        sub = pa.chunked_array(_take_chunks(chunked, rows), type=chunked.type)
        texts = sub.to_pylist()
        hit = np.zeros(len(rows), dtype=bool)
        for rx, needle in zip(rxs, needles, strict=True):
            # each pattern reads only the candidates holding one of its own literals (found by Arrow again, on
            # the candidates only), and only those no earlier pattern matched
            own = pc.fill_null(pc.match_substring_regex(sub, needle), False).to_numpy(zero_copy_only=False) \
                if len(rxs) > 1 else np.ones(len(rows), dtype=bool)
            for j in np.flatnonzero(own & ~hit):
                t = texts[j]
                hit[j] = t is not None and rx.search(t) is not None
        out[rows] = hit
        del sub, texts
        release_unused()
    return out


def release_unused() -> None:
    """Hand the memory the allocators keep after a large temporary back to the system: Arrow's default pool
    (mimalloc keeps freed pages) and the C heap (glibc ``malloc_trim``, where glibc is the C library). Without it
    the rules' selections from a 50 MiB agent log left 40-70 MiB per rule resident that no live object used.
    Called only after work on large frames."""
    import pyarrow as pa

    from ..parse._logcore import release_freed_memory

    pa.default_memory_pool().release_unused()
    release_freed_memory()


def _take_chunks(chunked, rows: np.ndarray) -> list:  # type: ignore[no-untyped-def,type-arg]
    """The values at ``rows`` (sorted positions) of each chunk, taken chunk by chunk (no concatenation)."""
    import pyarrow.compute as pc

    out, start = [], 0
    for chunk in chunked.chunks:
        lo, hi = np.searchsorted(rows, [start, start + len(chunk)])
        if hi > lo:
            out.append(pc.take(chunk, rows[lo:hi] - start))
        start += len(chunk)
    return out


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
