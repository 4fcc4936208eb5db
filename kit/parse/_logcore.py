"""Fast machinery shared by the log parsers: split lines, find record heads, fold continuation lines.

Two levels:

* string level (handler_log, small files): lines in an Arrow string array (no Python object per line), heads
  found with RE2 through ``pyarrow.compute.extract_regex``, records folded over the head mask;
* byte level (agent_log, files up to the agent's 100 MB cap and beyond): NumPy over the UTF-8 bytes - line
  ends, fixed-position checks of the agent's own head layouts, digits to time stamps, string columns cut out
  through Arrow string_view arrays, record texts by one compacting pass. See :func:`byte_lines`.

Either way every input line ends up in exactly one record.
"""

from __future__ import annotations

import ctypes
import re
import sys
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

#: The three timestamp layouts of agent-style heads (formats doc §12).
MDY = r"\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}:\d{2}(?:\.\d+)?"
ISO = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z"


_LONE_CR = re.compile(r"\r(?!\n)")
_SURROGATE = re.compile("[\ud800-\udfff]")


def sanitize(text: str) -> str:
    """``text`` with lone surrogates (not encodable as UTF-8, so not storable in Arrow) replaced by U+FFFD, the
    character :func:`kit.textio.decode` uses for undecodable bytes. Text from ``decode`` never has any."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


def split_lines(text: str) -> pa.Array:
    """Lines of ``text`` as an Arrow large_string array (CRLF, LF and lone CR each end one line)."""
    if not text:
        return pa.array([], type=pa.large_string())
    text = sanitize(text)
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


#: NaT as int64 nanoseconds.
NAT = np.iinfo(np.int64).min


def group(struct: pa.Array, name: str, *, empty_is_na: bool = True) -> pa.Array:
    """One named group of an extract_regex result, as Arrow strings: null where the line did not match and (by
    default) where the group did not take part - RE2 reports those as empty strings."""
    arr = pc.struct_field(struct, name)
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr) if empty_is_na else arr


def ns_of(parse, raw: pa.Array) -> np.ndarray:
    """``parse`` (a function of a pandas string Series returning UTC times) applied to the Arrow strings ``raw``,
    as int64 nanoseconds (:data:`NAT` where missing or unreadable); nothing is parsed when every value is null."""
    if raw.null_count == len(raw):
        return np.full(len(raw), NAT, dtype=np.int64)
    out = parse(pd.Series(pd.array(raw, dtype="str"))).astype("datetime64[ns, UTC]")
    return out.array.asi8.copy()


# -- byte-level machinery (agent_log's fast path) --------------------------------------------------------------
#
# The text is encoded to UTF-8 once; line boundaries, record heads and the fixed-position fields of the agent's
# own layouts are found with NumPy on that buffer, and every string column is cut out of it in one copy through
# an Arrow string_view array (offset + length per value, no Python object per value). Only heads in unusual
# layouts (docs that trimmed the thread id, scrubbed time stamps, ...) go through a Python regex, one call each.

#: Bytes per NumPy scan: keeps temporaries small (peak memory) and under NumPy's 4 MiB huge-page threshold.
_CHUNK = 1 << 21
_VIEW_WINDOW = 1 << 30  # string_view offsets are int32: address big buffers through overlapping 2 GiB windows


def byte_positions(buf: np.ndarray, byte: int, dtype: type = np.int64) -> np.ndarray:
    """Offsets of every occurrence of ``byte`` in ``buf`` (ascending, as ``dtype``), scanned in chunks."""
    parts = [np.flatnonzero(buf[i:i + _CHUNK] == byte) + i for i in range(0, len(buf), _CHUNK)]
    return np.concatenate(parts, dtype=dtype) if parts else np.empty(0, dtype=dtype)


@dataclass
class ByteLines:
    """The lines of a text, as byte ranges of its UTF-8 encoding.

    ``start[i]``/``end[i]`` are the byte offsets of line ``i``'s content (terminator excluded) in ``data``.
    CRLF, LF and a lone CR each end one line, as :func:`kit.textio.split_lines` counts them.
    """

    data: memoryview  # the UTF-8 bytes (see _utf8)
    buf: np.ndarray
    start: np.ndarray
    end: np.ndarray
    has_cr: bool
    final_newline: bool
    text: str  # keeps the text (whose memory ``data`` may be) alive

    def __len__(self) -> int:
        return len(self.start)

    def line(self, i: int) -> str:
        return bytes(self.data[int(self.start[i]):int(self.end[i])]).decode("utf-8", "replace")


def _utf8(text: str) -> memoryview:
    """The UTF-8 bytes of ``text``, without a copy when that is safe.

    CPython stores a pure-ASCII str as one byte per character right after the object header, and ASCII is
    UTF-8: for a big ASCII text (the usual agent log) the parser reads that memory in place instead of
    encoding a copy (which would add the file's size again to peak memory). The header size comes from
    ``sys.getsizeof`` and the bytes are checked against the text at both ends; anything unexpected (another
    interpreter, a non-compact string) falls back to ``str.encode``. The view is only used while ``text`` is
    alive (``ByteLines.text``) and every column the parser returns is a copy, never a view of it."""
    n = len(text)
    if sys.implementation.name == "cpython" and type(text) is str and n >= 1 << 16 and text.isascii():
        header = sys.getsizeof(text) - n - 1
        try:
            view = memoryview((ctypes.c_char * n).from_address(id(text) + header)).cast("B")
            if bytes(view[:256]) == text[:256].encode() and bytes(view[-256:]) == text[-256:].encode():
                return view
        except (TypeError, ValueError):  # pragma: no cover - defensive
            pass
    try:
        return memoryview(text.encode("utf-8"))
    except UnicodeEncodeError:  # lone surrogates (never from kit.textio.decode): Arrow needs valid UTF-8
        return memoryview(sanitize(text).encode("utf-8"))


def byte_lines(text: str) -> ByteLines:
    data = _utf8(text)
    buf = np.frombuffer(data, dtype=np.uint8)
    size = len(data)
    # int32 offsets halve the per-line arrays (alive through most of the parse) for any text under 2 GiB; they are
    # made in that type directly (no int64 copies on the way: each would be 8 bytes per line of fresh memory).
    offset_type = np.int32 if size < (1 << 31) - (1 << 16) else np.int64
    term = byte_positions(buf, 10, offset_type)  # last byte of each line terminator
    ends = term
    has_cr = "\r" in text
    if has_cr:
        crlf = buf[np.maximum(term - 1, 0)] == 13
        crlf[:1] &= term[:1] > 0
        # Every CR is part of a CRLF (the agent's own files) when there are as many CRs as CRLFs: no second scan.
        n_cr = sum(int(np.count_nonzero(buf[i:i + _CHUNK] == 13)) for i in range(0, size, _CHUNK))
        if n_cr != int(np.count_nonzero(crlf)):
            cr = byte_positions(buf, 13, offset_type)
            after = np.minimum(cr + 1, size - 1)
            lone = cr[(cr + 1 >= size) | (buf[after] != 10)]
            if len(lone):
                term = np.union1d(term, lone)
            crlf = (buf[term] == 10) & (term > 0) & (buf[np.maximum(term - 1, 0)] == 13)
        ends = term - crlf.astype(offset_type)
    final_newline = size > 0 and len(term) > 0 and int(term[-1]) == size - 1
    starts = np.empty(len(term) + 1, dtype=offset_type)
    starts[0] = 0
    np.add(term, 1, out=starts[1:])
    if final_newline or size == 0:
        starts = starts[:-1]
    else:
        ends = np.concatenate([ends, np.array([size], dtype=offset_type)])
    return ByteLines(data, buf, starts, ends, has_cr, final_newline, text)


def byte_rows(buf: np.ndarray, pos: np.ndarray, width: int) -> np.ndarray:
    """``buf[pos[i]:pos[i] + width]`` for every i as an (n, width) array (zero-padded past the end), gathered as
    whole rows: ``buf`` seen as overlapping ``width``-byte items (a void dtype with a stride of one byte), so one
    fancy index copies each row at once - about 1.6x faster than the same rows of a 2-D sliding-window view, and
    one cache-friendly copy instead of ``width`` scattered gathers."""
    size = len(buf)
    pos = np.asarray(pos)
    if size >= width:
        items = np.ndarray((size - width + 1,), dtype=f"V{width}", buffer=buf, strides=(1,))
        out = items[np.minimum(np.maximum(pos, 0), size - width)].view(np.uint8).reshape(len(pos), width)
    else:
        out = np.zeros((len(pos), width), dtype=np.uint8)
    for i in np.flatnonzero((pos > size - width) | (pos < 0)).tolist():
        p = int(pos[i])
        out[i] = 0
        if 0 <= p < size:
            chunk = buf[p:p + width]
            out[i, :len(chunk)] = chunk
    return out


#: Per number of bytes kept (0-4), the mask that keeps them in a little-endian 32-bit lane.
_LANE_MASK = np.array([0, 0xFF, 0xFFFF, 0xFFFFFF, 0xFFFFFFFF], dtype=np.uint32)


#: Values per block of :func:`gather` (its 16-byte views then take at most 1 MiB at a time).
_GATHER_ROWS = 1 << 16


def gather(buffer: pa.Buffer, off: np.ndarray, length: np.ndarray, *,
           valid: np.ndarray | None = None) -> pa.Array | pa.ChunkedArray:
    """Cut values out of a byte buffer: value ``i`` is ``length[i]`` bytes at ``off[i]``.

    Builds an Arrow string_view array (16 bytes per value, pointing into the buffer) and casts it to
    large_string: one copy of the selected bytes, done in C++. Every cut must fall on UTF-8 character
    boundaries (callers cut at ASCII delimiters and line ends). ``valid`` False gives a null. More than
    ``_GATHER_ROWS`` values are cut block by block into a chunked array: the views of one block at a time are
    alive, not 16 bytes per value of the whole column (peak memory)."""
    n = len(off)
    if n <= _GATHER_ROWS:
        return _gather(buffer, off, length, valid)
    return pa.chunked_array([_gather(buffer, off[i:i + _GATHER_ROWS], length[i:i + _GATHER_ROWS],
                                     None if valid is None else valid[i:i + _GATHER_ROWS])
                             for i in range(0, n, _GATHER_ROWS)], type=pa.large_string())


def _gather(buffer: pa.Buffer, off: np.ndarray, length: np.ndarray, valid: np.ndarray | None) -> pa.Array:
    """:func:`gather` in one piece (one array)."""
    n = len(off)
    off = np.asarray(off, dtype=np.int64)
    length = np.asarray(length, dtype=np.int32)
    if valid is not None:
        length = np.where(valid, length, 0)
    src = np.frombuffer(buffer, dtype=np.uint8)
    # a view: length | 12 inline bytes (values of up to 12 bytes, zero past the value), or length | 4-byte prefix |
    # buffer index | offset. One gather of 16 bytes from 4 before each value serves both; the lanes are then set,
    # masked or overwritten.
    views = byte_rows(src, off - 4, 16)
    head = np.flatnonzero(off < 4)  # (values at the buffer's very start)
    if len(head):
        views[head, 4:] = byte_rows(src, off[head], 12)
    lanes = views.view(np.uint32)
    lanes[:, 0] = length
    for j in range(3):
        lanes[:, j + 1] &= _LANE_MASK[np.minimum(np.maximum(length - 4 * j, 0), 4)]
    long_rows = np.flatnonzero(length > 12)
    windows: list[pa.Buffer] = []
    if len(long_rows):
        ints = views.view(np.int32)
        if len(src) <= 2 * _VIEW_WINDOW - 1:  # (every buffer under 2 GiB) the offsets fit the view's int32
            ints[long_rows, 2] = 0
            ints[long_rows, 3] = off[long_rows]
            windows.append(buffer)
        else:  # address the buffer through overlapping 2 GiB windows
            win = off[long_rows] // _VIEW_WINDOW
            for w in np.unique(win).tolist():
                sel = long_rows[win == w]
                lo = w * _VIEW_WINDOW
                ints[sel, 2] = len(windows)
                ints[sel, 3] = off[sel] - lo
                windows.append(buffer.slice(lo, min(len(src) - lo, 2 * _VIEW_WINDOW - 1)))
    validity = None
    if valid is not None and not valid.all():
        validity = pa.py_buffer(np.packbits(valid.astype(bool), bitorder="little"))
    arr = pa.Array.from_buffers(pa.string_view(), n, [validity, pa.py_buffer(views), *windows],
                                null_count=-1 if validity is not None else 0)
    # The system allocator (not Arrow's default pool) lets the result reuse memory NumPy has just freed.
    return pc.cast(arr, pa.large_string(), memory_pool=pa.system_memory_pool())


def fixed_width(buf: np.ndarray, off: np.ndarray, width: int, *, valid: np.ndarray) -> pa.Array:
    """Values of exactly ``width`` bytes at ``off`` (null where not ``valid``) as large_string, built directly: the
    gathered rows are the data and the offsets are multiples of ``width`` (no view array, no cast). The bytes must
    be ASCII (callers check them)."""
    n = len(off)
    rows = byte_rows(buf, np.asarray(off)[valid], width)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(valid * width, out=offsets[1:])
    nulls = n - len(rows)
    validity = pa.py_buffer(np.packbits(valid, bitorder="little")) if nulls else None
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(rows), validity, nulls)


#: Rows per chunk of a repeated value (see :func:`repeated`).
_REPEAT_ROWS = 1 << 13


def repeated(value: str, n: int) -> pa.ChunkedArray:
    """``value`` ``n`` times as a large_string column whose chunks share one block of ``_REPEAT_ROWS`` copies: a
    column that repeats the file name on every row costs one block (~0.3 MiB), not ``n`` copies (11 MiB for the
    288k records of a 50 MiB agent log). The values are the same as ``pa.repeat`` gives; only the chunking
    differs (Arrow and pandas read a column chunk by chunk)."""
    # (Arrow's system allocator: its default pool reserves megabytes on first use, for a few KiB here)
    block = pa.array([value] * min(n, _REPEAT_ROWS), type=pa.large_string(), memory_pool=pa.system_memory_pool())
    full, rest = divmod(n, len(block)) if n else (0, 0)
    return pa.chunked_array([block] * full + ([block.slice(0, rest)] if rest else []), type=pa.large_string())


def sparse_strings(n: int, values: dict[int, str]) -> pa.Array:
    """A large_string array of ``n`` values, null except at the given positions (no Python object per row)."""
    if not values:
        return pa.nulls(n, pa.large_string(), memory_pool=pa.system_memory_pool())
    at = np.fromiter(values, dtype=np.int64, count=len(values))
    order = np.argsort(at)
    texts = [values[int(i)].encode("utf-8") for i in at[order]]
    lengths = np.zeros(n, dtype=np.int64)
    lengths[at[order]] = [len(t) for t in texts]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    valid = np.zeros(n, dtype=bool)
    valid[at] = True
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(b"".join(texts)),
                                            pa.py_buffer(np.packbits(valid, bitorder="little")), n - len(at))


_STR = pd.array([], dtype="str").dtype


def str_column(arr: pa.Array | pa.ChunkedArray) -> pd.api.extensions.ExtensionArray:
    """Arrow large_string values as pandas' ``str`` column (no copy)."""
    if _STR.storage == "pyarrow":
        return pd.arrays.ArrowStringArray(arr, dtype=_STR)
    return pd.array(arr.to_pylist(), dtype="str")  # pragma: no cover - pandas without pyarrow


def compact_records(lines: ByteLines, first: np.ndarray, last: np.ndarray) -> pa.Array | pa.ChunkedArray:
    """The text of records made of lines ``first[r]..last[r]`` (which tile all lines), lines joined with "\\n".

    The terminators that end records are dropped, a CRLF inside a record becomes "\\n" (its CR dropped) and a
    lone CR inside a record becomes "\\n". The records are then consecutive in the compacted bytes, so their
    offsets are all that is needed - no per-record copy. Without lone CRs inside records (the agent writes CRLF)
    the pieces are cut out by Arrow (:func:`_join_pieces`, about twice as fast); otherwise one NumPy pass over
    the buffer drops the bytes."""
    buf, s, e = lines.buf, lines.start, lines.end
    size = len(buf)
    is_last = np.zeros(len(s), dtype=bool)
    is_last[last] = True
    if not lines.has_cr or not _lone_cr_inside(lines, is_last):
        return _join_pieces(lines, first, is_last)
    drop: list[np.ndarray] = []
    lone: list[np.ndarray] = []
    for a in range(0, len(s), _CHUNK // 8):  # blocks of lines: small temporaries
        b = min(a + _CHUNK // 8, len(s))
        ee = e[a:b]
        nxt = np.empty(b - a, dtype=np.int64)
        nxt[:-1] = s[a + 1:b]
        nxt[-1] = s[b] if b < len(s) else size
        tlen = nxt - ee  # 0 (last line without a break), 1 (LF or lone CR) or 2 (CRLF)
        end_rec = is_last[a:b]
        drop += [ee[end_rec & (tlen >= 1)], ee[end_rec & (tlen == 2)] + 1]
        if lines.has_cr:
            drop.append(ee[~end_rec & (tlen == 2)])
            one = ee[~end_rec & (tlen == 1)]
            lone.append(one[buf[one] == 13])
    lone_cr = np.concatenate(lone) if lone else np.empty(0, dtype=np.int64)
    dropped = np.sort(np.concatenate(drop))
    out = pa.allocate_buffer(size - len(dropped), memory_pool=pa.system_memory_pool())
    ov = np.frombuffer(out, dtype=np.uint8)
    pos = 0
    keep = np.ones(_CHUNK, dtype=bool)
    bounds = np.searchsorted(dropped, np.arange(0, size + _CHUNK, _CHUNK, dtype=np.int64)).tolist()
    for k, a in enumerate(range(0, size, _CHUNK)):
        b = min(a + _CHUNK, size)
        lo, hi = bounds[k], bounds[k + 1]
        cut = dropped[lo:hi] - a
        keep[cut] = False
        n_kept = (b - a) - (hi - lo)
        np.compress(keep[:b - a], buf[a:b], out=ov[pos:pos + n_kept])
        keep[cut] = True
        pos += n_kept
    if len(lone_cr):
        ov[lone_cr - np.searchsorted(dropped, lone_cr)] = 10
    offsets = np.empty(len(first) + 1, dtype=np.int64)
    starts = s[first]
    offsets[:-1] = starts - np.searchsorted(dropped, starts)
    offsets[-1] = len(ov)
    return pa.LargeStringArray.from_buffers(len(first), pa.py_buffer(offsets), out)


def _lone_cr_inside(lines: ByteLines, is_last: np.ndarray) -> bool:
    """Whether a line that does not end its record is ended by a lone CR (which the record text turns into
    "\\n"): the line after it then starts right after a CR."""
    s, buf = lines.start, lines.buf
    for a in range(0, len(s) - 1, _CHUNK // 8):
        b = min(a + _CHUNK // 8, len(s) - 1)
        nxt = s[a + 1:b + 1].astype(np.int64)
        if (~is_last[a:b] & (buf[nxt - 1] == 13)).any():
            return True
    return False


def _join_pieces(lines: ByteLines, first: np.ndarray, is_last: np.ndarray) -> pa.Array | pa.ChunkedArray:
    """:func:`compact_records` when no line inside a record ends with a lone CR (every such line then ends with
    LF or CRLF): a record's text is its first line's content followed, for each further line, by the LF just
    before that line and the line's content - pieces that each lie whole in the buffer. The pieces are cut out
    by :func:`gather` (one copy, in C++), where each record's pieces are consecutive; ``_GATHER_ROWS`` records at
    a time (one chunk each), so that the 16-byte views and offsets of the pieces stay small."""
    s, e = lines.start, lines.end
    buffer = pa.py_buffer(lines.data)
    chunks = []
    for r0 in range(0, len(first), _GATHER_ROWS):
        r1 = min(r0 + _GATHER_ROWS, len(first))
        l0, l1 = int(first[r0]), int(first[r1]) if r1 < len(first) else len(s)  # the lines of these records
        heads = first[r0:r1] - l0
        cont = np.ones(l1 - l0, dtype=bool)  # the line continues a record: its piece starts at the LF before it
        cont[heads] = False
        off = s[l0:l1].astype(np.int64) - cont
        joined = _gather(buffer, off, e[l0:l1] - off, None)
        data, piece_off = large_string_parts(joined)
        offsets = np.empty(r1 - r0 + 1, dtype=np.int64)
        offsets[:-1] = piece_off[heads]
        offsets[-1] = piece_off[-1]
        chunks.append(pa.LargeStringArray.from_buffers(r1 - r0, pa.py_buffer(offsets), data))
    return chunks[0] if len(chunks) == 1 else pa.chunked_array(chunks, type=pa.large_string())


def _load_malloc_trim():
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim if sys.platform.startswith("linux") else None
    except (OSError, AttributeError):  # another C library (musl), or none found
        return None


_MALLOC_TRIM = _load_malloc_trim()


def release_freed_memory() -> None:
    """Give the memory freed by the parser's temporaries back to the system (glibc's ``malloc_trim``).

    NumPy temporaries of a few MiB come from the C heap, and glibc keeps freed heap memory for later use: after
    a big parse that is tens of MiB counted in the process's resident size (and in its peak, when the frame is
    then built). A no-op where glibc is not the C library."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def large_string_parts(arr: pa.Array) -> tuple[pa.Buffer, np.ndarray]:
    """The data buffer and the (n + 1) int64 value offsets of a large_string array."""
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset:arr.offset + len(arr) + 1]
    return arr.buffers()[2] or pa.py_buffer(b""), offsets


#: The years datetime64[ns] holds whole, and per year: its 1 January as days since the epoch, whether it is leap.
_FIRST_YEAR, _LAST_YEAR = 1678, 2261
_YEAR_START = np.arange(str(_FIRST_YEAR), str(_LAST_YEAR + 1), dtype="datetime64[Y]").astype("datetime64[D]") \
    .astype(np.int64)
_YEAR_LEAP = (np.diff(np.append(_YEAR_START, _YEAR_START[-1] + 365)) == 366).astype(np.int64)
#: Per (leap, month - 1): days in the month, and days of the year before it.
_MONTH_DAYS = np.array([[31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31],
                        [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]], dtype=np.int64)
_MONTH_START = np.concatenate([np.zeros((2, 1), dtype=np.int64), np.cumsum(_MONTH_DAYS, axis=1)[:, :-1]], axis=1)


def civil_ns(year: np.ndarray, month: np.ndarray, day: np.ndarray, hour: np.ndarray, minute: np.ndarray,
             second: np.ndarray, nanos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nanoseconds since the epoch for calendar fields (proleptic Gregorian), and which fields form a real
    date and time (year 1678-2261, the datetime64[ns] range; month 1-12, day within the month, hour < 24, minute
    and second < 60). Years and months are looked up in tables (no integer division per value)."""
    y, m, d = (np.asarray(a, dtype=np.int64) for a in (year, month, day))
    yi = np.minimum(np.maximum(y - _FIRST_YEAR, 0), _LAST_YEAR - _FIRST_YEAR)
    mi = np.minimum(np.maximum(m - 1, 0), 11)
    leap = _YEAR_LEAP[yi]
    ok = ((m >= 1) & (m <= 12) & (d >= 1) & (d <= _MONTH_DAYS[leap, mi]) & (hour < 24) & (minute < 60)
          & (second < 60) & (y >= _FIRST_YEAR) & (y <= _LAST_YEAR))
    days = _YEAR_START[yi] + _MONTH_START[leap, mi] + d - 1
    ns = (((days * 24 + hour) * 60 + minute) * 60 + second) * 1_000_000_000 + nanos
    return np.where(ok, ns, NAT), ok


def utc_series(ns: np.ndarray) -> pd.Series:
    """int64 nanoseconds (int64 min for missing) as a ``datetime64[ns, UTC]`` Series."""
    return pd.Series(pd.DatetimeIndex(ns.view("M8[ns]")).tz_localize("UTC"))
