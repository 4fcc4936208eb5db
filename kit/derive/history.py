"""``extension_history``: extension version changes (auto-upgrades) from the agent log.

    >>> bundle.frame("extension_history")            # computed once per bundle (kit.derive)
    >>> from kit.derive.history import extension_history
    >>> extension_history(bundle.agent_log)
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from ..schema import LINE, SOURCE, Col, FrameSchema, categorical
from .filters import ROW_BY_ROW_MAX, contains, keep, release_unused

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


#: The records :func:`extension_history` reads (a search in the agent log's ``message``).
LOOKUP = "Getting plugin locations for plugin|Auto-Upgrade mode. Highest public version"
#: The agent-log columns it reads.
_READ = ("source", "line", "ts", "message", "text")
#: Above this many lookup records the frame is built from Arrow arrays of those records (a 50 MiB log holds ~58,000:
#: one Python dict per record cost +138 MiB peak and +88 MiB kept); below, a loop over Python lists is cheaper.
ARRAYS_ABOVE = ROW_BY_ROW_MAX
_CHANGE_DTYPE = pd.CategoricalDtype(pd.Index(list(CHANGES), dtype="str"))


def extension_history(agent_log: pd.DataFrame) -> pd.DataFrame:
    """The ``extension_history`` frame from an ``agent_log`` frame (see :data:`EXTENSION_HISTORY`)."""
    if agent_log.empty:
        return EXTENSION_HISTORY.empty()
    mask = contains(agent_log["message"], LOOKUP)
    if np.count_nonzero(mask) > ARRAYS_ABOVE:
        df = history_from_arrays(keep(agent_log[list(_READ)], mask))
        release_unused()  # the allocators keep what the selected rows and intermediate arrays freed
        return df
    if len(agent_log) > ROW_BY_ROW_MAX:  # a large log: its columns are taken chunk by chunk (filters.take_rows)
        recs = keep(agent_log[list(_READ)], mask)
        return history_from_lists(*(recs[c].tolist() for c in _READ))
    hits = np.flatnonzero(mask)
    return history_from_lists(*(agent_log[c].array.take(hits).tolist() for c in _READ))


def history_from_lists(source: list[Any], line: list[Any], ts: list[Any], message: list[Any],
                       text: list[Any]) -> pd.DataFrame:
    """:func:`extension_history` of the lookup records (agent-log rows matching :data:`LOOKUP`; their columns
    :data:`_READ` as lists), one record at a time: in the order of the log (source, line), each auto-upgrade line
    completes the last lookup of its extension in that file that no auto-upgrade line completed yet."""
    rows: list[dict[str, Any]] = []
    open_rows: dict[tuple[str, str], dict[str, Any]] = {}  # (source, extension) -> last lookup without its auto line
    for i in sorted(range(len(source)), key=lambda i: (source[i], *_na_last(line[i]))):
        msg = str(message[i])
        m = GETTING.search(msg)
        if m:
            row = {"source": source[i], "line": line[i], "ts": ts[i], "extension": m["ext"],
                   "from_version": m["cur"] or None, "requested_version": m["req"] or None,
                   "to_version": m["req"] or None, "auto_upgrade": False, "text": str(text[i])}
            rows.append(row)
            open_rows[(source[i], m["ext"].lower())] = row
            continue
        a = AUTO_UPGRADE.search(msg)
        if a is None:
            continue
        row = open_rows.pop((source[i], a["ext"].lower()), None)
        if row is None:  # an auto-upgrade line without its lookup (a cut log): keep it, what it says is known
            rows.append({"source": source[i], "line": line[i], "ts": ts[i], "extension": a["ext"],
                         "from_version": None, "requested_version": a["req"] or None,
                         "to_version": a["high"] or a["req"] or None, "auto_upgrade": True, "change": "unknown",
                         "text": str(text[i])})
            continue
        row["auto_upgrade"] = True
        row["to_version"] = a["high"] or row["to_version"]
        row["text"] += "\n" + str(text[i])
    for row in rows:
        row.setdefault("change", _change(row["from_version"], row["to_version"]))
        if row["line"] is pd.NA:
            row["line"] = None  # (None builds the column directly)
    rows.sort(key=lambda r: (*_na_last(r["ts"]), r["source"], *_na_last(r["line"])))  # the frame's order
    df = EXTENSION_HISTORY.from_records(rows)
    df["change"] = categorical([r["change"] for r in rows], _CHANGE_DTYPE)
    return df


def _na_last(v: object) -> tuple[bool, object]:
    """Sort key of a value that may be missing: missing values last (as ``sort_values(na_position="last")``)."""
    return (True, 0) if v is None or pd.isna(v) else (False, v)  # type: ignore[arg-type]


def history_from_arrays(recs: pd.DataFrame) -> pd.DataFrame:
    """:func:`history_from_lists` computed column-wise: Arrow extracts the fields of every lookup record at once, the
    pairing of each auto-upgrade line with its lookup is a comparison of sorted keys, and the frame is built from
    the resulting arrays - no Python object per record. The same frame (tests/test_extfast.py checks both)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if recs.empty:
        return history_from_lists([], [], [], [], [])
    n = len(recs)
    # each record's place in the log's order: (source, line), a missing line last
    src_codes, _ = pd.factorize(recs["source"], sort=True)
    src_codes = np.where(src_codes < 0, len(src_codes), src_codes)  # a missing source last
    line_na = recs["line"].isna().to_numpy()
    lines = recs["line"].to_numpy(dtype="int64", na_value=0)
    rank = np.empty(n, dtype=np.int64)
    rank[np.lexsort((lines, line_na, src_codes))] = np.arange(n)
    msg = _arrow(recs["message"])
    got = _combined(pc.extract_regex(msg, GETTING.pattern))
    auto = _combined(pc.extract_regex(msg, AUTO_UPGRADE.pattern))
    del msg
    is_g = _np(pc.is_valid(got))
    is_a = _np(pc.is_valid(auto)) & ~is_g
    lookup = pa.array(is_g)

    def field(name: str) -> Any:  # the lookup's field, else the auto-upgrade line's
        return pc.if_else(lookup, pc.struct_field(got, name), pc.struct_field(auto, name))

    ext = field("ext")
    # each record's key: (source, extension lowered as str.lower does)
    if pc.all(pc.string_is_ascii(ext)).as_py() is not False:
        lowered = pc.utf8_lower(ext)  # ASCII: the same as str.lower
    else:
        lowered = pa.array([None if e is None else e.lower() for e in ext.to_pylist()], type=ext.type)
    ext_codes = _np(pc.dictionary_encode(lowered).indices, -1).astype("int64")
    key = src_codes.astype("int64") * (int(ext_codes.max(initial=0)) + 1) + ext_codes
    # an auto-upgrade line completes the record just before it (in the log's order) among those of its key when that
    # is a lookup; another auto-upgrade line there (or none) means no lookup is open
    live = np.flatnonzero(is_g | is_a)
    by_key = live[np.lexsort((rank[live], key[live]))]
    same = key[by_key[1:]] == key[by_key[:-1]]
    prev = np.full(n, -1)
    prev[by_key[1:][same]] = by_key[:-1][same]
    paired_a = is_a & (prev >= 0) & is_g[np.maximum(prev, 0)]
    completes = np.full(n, -1)  # for a lookup: the auto-upgrade line that completes it
    completes[prev[paired_a]] = np.flatnonzero(paired_a)

    def none_if_empty(a: Any) -> Any:
        return pc.if_else(pc.equal(a, ""), pa.scalar(None, a.type), a)

    def at(a: Any, rows: np.ndarray) -> Any:  # a's values at rows (null where rows is -1)
        return _combined(a).take(pa.array(rows, mask=rows < 0))

    # rows: every lookup, and the auto-upgrade lines that complete none; in the frame's order (ts, source, line),
    # ties in the log's order
    rows = np.flatnonzero(is_g | (is_a & ~paired_a))
    ts = recs["ts"].array.take(rows)
    ts_na = ts.isna()
    rows = rows[np.lexsort((rank[rows], lines[rows], line_na[rows], src_codes[rows],
                            np.where(ts_na, 0, ts.asi8), ts_na))]
    requested = none_if_empty(field("req"))
    # the version it moves to: the highest public version of the auto-upgrade line that completes a lookup (of a
    # lone auto-upgrade line, its own), else the requested one
    high_at = np.where(completes >= 0, completes, np.where(is_a, np.arange(n), -1))[rows]
    to_version = pc.coalesce(at(none_if_empty(pc.struct_field(auto, "high")), high_at), at(requested, rows))
    from_version = at(pc.if_else(lookup, none_if_empty(pc.struct_field(got, "cur")),
                                 pa.scalar(None, ext.type)), rows)
    change = _changes(from_version, to_version, is_g[rows])
    return pd.DataFrame({
        "source": recs["source"].array.take(rows), "line": recs["line"].array.take(rows),
        "ts": recs["ts"].array.take(rows), "extension": _str(at(ext, rows)), "from_version": _str(from_version),
        "requested_version": _str(at(requested, rows)), "to_version": _str(to_version),
        "auto_upgrade": (is_a | (completes >= 0))[rows],
        "change": pd.Categorical.from_codes(change, dtype=_CHANGE_DTYPE),
        "text": _str(_texts(_arrow(recs["text"]), rows, completes[rows]))}, copy=False)


def _texts(text: Any, rows: np.ndarray, second: np.ndarray) -> Any:
    """The records' text at ``rows``, joined with the text at ``second`` (an auto-upgrade line's) where that is not
    -1; a missing text as ``str`` writes it ("nan")."""
    import pyarrow as pa
    import pyarrow.compute as pc

    first = pc.fill_null(_take(text, rows), "nan")
    if not (second >= 0).any():
        return first
    other = pc.fill_null(_take(text, np.where(second >= 0, second, 0)), "nan")
    other = pc.if_else(pa.array(second >= 0), other, pa.scalar(None, other.type))
    return pc.binary_join_element_wise(first, other, pa.scalar("\n", first.type), null_handling="skip")


def _changes(frm: Any, to: Any, lookup: np.ndarray) -> np.ndarray:
    """Codes in :data:`CHANGES` of each row's change: :func:`_change` of its versions for a lookup, ``unknown`` for an
    auto-upgrade line without its lookup; computed once per distinct pair of versions."""
    import pyarrow.compute as pc

    f, t = pc.dictionary_encode(frm), pc.dictionary_encode(to)
    fi, ti = _np(f.indices, -1), _np(t.indices, -1)
    fd, td = f.dictionary.to_pylist(), t.dictionary.to_pylist()
    pairs, inverse = np.unique(np.stack([fi, ti]), axis=1, return_inverse=True)
    code = [CHANGES.index(_change(fd[a] if a >= 0 else None, td[b] if b >= 0 else None)) for a, b in pairs.T]
    codes = np.asarray(code, dtype="int8")[inverse.reshape(-1)]
    return np.where(lookup, codes, CHANGES.index("unknown")).astype("int8")


def _arrow(values: pd.Series) -> Any:
    """The column as an Arrow chunked array of strings (its own when it is Arrow-backed)."""
    import pyarrow as pa

    arr = getattr(values.array, "_pa_array", None)
    if arr is None:
        arr = pa.chunked_array([pa.array(values.to_numpy(dtype=object, na_value=None), type=pa.large_string())])
    return arr


def _take(a: Any, rows: np.ndarray) -> Any:
    """The values of the Arrow (chunked) array ``a`` at ``rows``, without first copying ``a`` into one chunk (what
    ``combine_chunks`` or a chunked ``take`` does): each chunk gives its own rows."""
    import pyarrow as pa

    chunks = a.chunks if hasattr(a, "chunks") else [a]
    if len(chunks) == 1:
        return chunks[0].take(pa.array(rows))
    order = np.argsort(rows, kind="stable")
    ordered, parts, start = rows[order], [], 0
    for chunk in chunks:
        lo, hi = np.searchsorted(ordered, [start, start + len(chunk)])
        parts.append(chunk.take(pa.array(ordered[lo:hi] - start)))
        start += len(chunk)
    back = np.empty_like(order)
    back[order] = np.arange(len(order))
    return pa.concat_arrays(parts).take(pa.array(back))


def _combined(a: Any) -> Any:
    return a.combine_chunks() if hasattr(a, "combine_chunks") else a


def _np(a: Any, fill: object = False) -> np.ndarray:
    """An Arrow array (or chunked array) as numpy, nulls as ``fill``."""
    import pyarrow.compute as pc

    return _combined(pc.fill_null(a, fill) if a.null_count else a).to_numpy(zero_copy_only=False)


def _str(a: Any) -> pd.api.extensions.ExtensionArray:
    import pyarrow as pa

    return pd.array(a.cast(pa.large_string()), dtype="str")


__all__ = ["EXTENSION_HISTORY", "LOOKUP", "extension_history", "history_from_arrays", "history_from_lists"]
