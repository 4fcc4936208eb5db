"""Fast machinery shared by the log parsers: split, find record heads, fold continuation lines.

Work is vectorised: lines live in an Arrow string array (no Python object per line), heads are found with
RE2 through ``pyarrow.compute.extract_regex``, record ids come from a cumulative sum over the head mask, and
only multi-line records are joined in Python. Every input line ends up in exactly one record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

#: The three timestamp layouts of agent-style heads (formats doc §12).
MDY = r"\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}:\d{2}(?:\.\d+)?"
ISO = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z"


_LONE_CR = re.compile(r"\r(?!\n)")


def split_lines(text: str) -> pa.Array:
    """Lines of ``text`` as an Arrow large_string array (CRLF, LF and lone CR each end one line)."""
    if not text:
        return pa.array([], type=pa.large_string())
    arr = pa.array([text], type=pa.large_string())
    if _LONE_CR.search(text) is None:  # the common case: a literal split, then drop the CR of CRLF
        lines = pc.list_flatten(pc.split_pattern(arr, "\n"))
        del arr
        if "\r" in text:
            lines = pc.utf8_rtrim(lines, characters="\r")
    else:
        lines = pc.list_flatten(pc.split_pattern_regex(arr, r"\r\n|\n|\r"))
    if text.endswith(("\n", "\r")):
        lines = lines.slice(0, len(lines) - 1)
    return lines


@dataclass
class Folded:
    """Records made of lines: ``start``/``end`` are 0-based line indexes (inclusive) of each record."""

    start: np.ndarray
    end: np.ndarray
    head_of: np.ndarray  # for each record: True when its first line is a head (False for the orphan record)
    text: pa.Array  # each record's lines joined with "\n"


def fold(lines: pa.Array, is_head: np.ndarray) -> Folded:
    """Group lines into records: a head starts a record, other lines belong to the previous one; lines before
    the first head form a record of their own (flagged by ``head_of`` False)."""
    n = len(lines)
    if n == 0:
        e = np.array([], dtype=np.int64)
        return Folded(e, e, np.array([], dtype=bool), pa.array([], type=pa.large_string()))
    starts = np.flatnonzero(is_head)
    if len(starts) == 0 or starts[0] != 0:
        starts = np.concatenate([[0], starts])
    ends = np.concatenate([starts[1:] - 1, [n - 1]])
    head_of = is_head[starts]
    # Records tile the lines, so the record texts are one vectorised join over a list view of the lines.
    offsets = pa.array(np.concatenate([starts, [n]]).astype(np.int64))
    text = pc.binary_join(pa.LargeListArray.from_arrays(offsets, lines), pa.scalar("\n", pa.large_string()))
    return Folded(starts, ends, head_of, text)


def parse_mdy(values: pd.Series) -> pd.Series:
    """``MM/DD/YYYY HH:MM:SS.ff`` (fraction optional) -> UTC (zone-less: read as UTC unchanged)."""
    out = pd.to_datetime(values, format="%m/%d/%Y %H:%M:%S.%f", errors="coerce", utc=True)
    missing = out.isna() & values.notna()
    if missing.any():
        out[missing] = pd.to_datetime(values[missing], format="%m/%d/%Y %H:%M:%S", errors="coerce", utc=True)
    return out.astype("datetime64[ns, UTC]")


def parse_iso(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, format="ISO8601", errors="coerce", utc=True).astype("datetime64[ns, UTC]")


def col(struct: pa.Array, name: str, *, empty_is_na: bool = True) -> pd.Series:
    """One named group of an extract_regex result as a pandas string Series. NA where the line did not match,
    and (by default) where the group did not take part: RE2 reports those as empty strings."""
    arr = pc.struct_field(struct, name)
    if empty_is_na:
        arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr)
    return pd.Series(arr.to_pandas(types_mapper=pd.ArrowDtype)).astype("str")
