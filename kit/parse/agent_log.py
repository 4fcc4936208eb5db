"""WaAppAgent.log, TransparentInstaller.log and Telemetry.log (formats doc §1, §4, §11, §12).

Record heads, in any mix within one file::

    [00000011] [12/11/2018 06:27:55.66] [WARN]  msg       US date, hundredths, no zone (older agents)
    [00000018] 2021-01-12T16:35:45Z [INFO]  msg            ISO 8601, seconds, Z
    [00000004] 2024-04-17T07:19:26.812Z [ERROR] msg        ISO 8601, milliseconds, Z (current agents)

The thread prefix may be missing (docs that trimmed it); a line with only ``[LEVEL] msg`` is a head without a
time stamp; a PII scrubber's placeholder (``[00000006] {ALPHANUMERICPII} [FATAL] ...``) is a head whose time was
removed. Every other line (stack frames, ``---> inner exceptions``, the VM Health Report JSON block, wrapped
text) belongs to the record above it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from ..schema import LINE, SOURCE, Col, FrameSchema, _cat_dtype, level_dtype
from ._logcore import (
    ISO,
    MDY,
    NAT,
    ByteLines,
    byte_lines,
    byte_rows,
    civil_ns,
    compact_records,
    fixed_width,
    gather,
    parse_iso,
    parse_mdy,
    release_freed_memory,
    repeated,
    sparse_strings,
    str_column,
)
from .base import ParseIssue, ParseResult

NAME = "agent_log"
DESCRIPTION = "Guest agent logs: WaAppAgent.log (and rotations), TransparentInstaller.log, Telemetry.log."
PATTERNS = ("c/windowsazure/logs/waappagent*.log", "c/windowsazure/logs/transparentinstaller*.log",
            "c/windowsazure/logs/telemetry*.log")

HEAD = (r"^(?:\[(?P<tid>[0-9A-Fa-f]{8})\][ \t]+)?"
        rf"(?:\[(?P<mdy>{MDY})\][ \t]+|(?P<iso>{ISO})[ \t]+|(?P<pii>\{{[A-Za-z]*(?:PII|pii)[A-Za-z]*\}})[ \t]+"
        r"|(?P<bad>\[[0-9][0-9/:. T-]{6,}\])[ \t]+)?"
        r"\[(?P<level>[A-Z]{3,8})\](?P<msg>.*)$")
_HEAD_RE = re.compile(HEAD)

AGENT_LOG = FrameSchema(
    "agent_log",
    "One row per agent log record (a head line plus its continuation lines), from WaAppAgent.log and its "
    "rotations, TransparentInstaller.log and Telemetry.log, in time order.",
    (
        SOURCE,
        LINE,
        Col("end_line", "Int64", "Last line of the record (continuation lines included).", False),
        Col("log", "category", "WaAppAgent, TransparentInstaller, Telemetry or other (from the file name).", False),
        Col("ts", "datetime", "Record time, UTC. Zone-less stamps are read as UTC unchanged (see ts_assumed_utc). "
            "NaT when the head has no or an unreadable time stamp."),
        Col("ts_raw", "str", "The time stamp exactly as written."),
        Col("ts_style", "category", "`mdy-hundredths` ([MM/DD/YYYY HH:MM:SS.ff]), `iso-seconds-z`, `iso-millis-z`, "
            "`scrubbed` (PII placeholder), or NA."),
        Col("ts_assumed_utc", "bool", "True when the stamp had no zone and was read as UTC.", False),
        Col("thread", "str", "Thread id as written (8 hex digits), NA when absent."),
        Col("level", "level", "INFO, WARN, ERROR, HEART, TRACE, FATAL, ... (UNKNOWN for lines before any head)."),
        Col("message", "str", "The head line after the level tag, padding removed.", False),
        Col("text", "str", "The whole record: head and continuation lines joined with \\n.", False),
        Col("n_lines", "int64", "Physical lines in the record.", False),
        Col("damaged", "bool", "The record could not be read cleanly (see damage).", False),
        Col("damage", "str", "Why it is flagged, NA when not damaged."),
    ),
)
FRAMES = {"agent_log": AGENT_LOG}


#: The same head pattern for Python's ``re`` on bytes, used with ``match(data, start, end)`` on the few heads
#: that are not in one of the agent's three exact layouts; it gives the byte spans of the fields.
_HEAD_B = re.compile(HEAD[1:].replace("(?P<msg>.*)$", "").encode())
#: A line that starts like a head (a thread id) but is not one: a head cut or mangled.
_TID_B = re.compile(rb"\[[0-9A-Fa-f]{8}\]")

#: Byte values
_LB, _RB, _SP, _TAB = ord("["), ord("]"), ord(" "), ord("\t")
_HEX = np.zeros(256, dtype=bool)
_HEX[np.frombuffer(b"0123456789abcdefABCDEF", dtype=np.uint8)] = True
_DIGIT = np.zeros(256, dtype=bool)
_DIGIT[np.frombuffer(b"0123456789", dtype=np.uint8)] = True
_UPPER = np.zeros(256, dtype=bool)
_UPPER[np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)] = True
_SPACE = np.zeros(256, dtype=bool)
_SPACE[np.frombuffer(b" \t\x0b\x0c", dtype=np.uint8)] = True

#: The agent's three exact layouts (formats doc §12 A, B, C) from the line's first byte: literal bytes, ``d`` a
#: digit (a thread id's hex letters are rare and handled apart), ending with the level tag's ``[``; then where the
#: time stamp is (offset, length) and, for each field of :func:`civil_ns`, where its digits are in the stamp.
_LAYOUTS = {
    # [00000004] 2024-04-17T07:19:26.812Z [ERROR] msg
    "iso-millis-z": ("[dddddddd] dddd-dd-ddTdd:dd:dd.dddZ [", 11, 24, (0, 5, 8, 11, 14, 17, 20), 1_000_000),
    # [00000018] 2021-01-12T16:35:45Z [INFO]  msg
    "iso-seconds-z": ("[dddddddd] dddd-dd-ddTdd:dd:ddZ [", 11, 20, (0, 5, 8, 11, 14, 17, 0), 0),
    # [00000011] [12/11/2018 06:27:55.66] [WARN]  msg
    "mdy-hundredths": ("[dddddddd] [dd/dd/dddd dd:dd:dd.dd] [", 12, 22, (6, 0, 3, 11, 14, 17, 20), 10_000_000),
}
_ROW = 48  # bytes of each candidate line looked at: the longest layout and an 8-letter level tag fit
_BLOCK = 1 << 14  # candidate lines per block of the vectorised head check (temporaries stay small)
_BIG = 1 << 23  # bytes: from this size on, parse() gives the heap its temporaries used back to the system
STYLES = ("mdy-hundredths", "iso-seconds-z", "iso-millis-z", "scrubbed")
_MDY, _ISO_S, _ISO_MS, _PII, _BAD = 0, 1, 2, 3, 4
#: Current agents write milliseconds: checking that layout first leaves few lines for the other two.
_CHECK_ORDER = (_ISO_MS, _ISO_S, _MDY)


def _byte_at(buf: np.ndarray, pos: np.ndarray) -> np.ndarray:
    return buf[np.minimum(pos, len(buf) - 1)]


# -- the exact layouts, checked eight bytes at a time ------------------------------------------------------------
#
# A candidate line's first 48 bytes are copied into a row and read as six little-endian 64-bit words (kept word
# by word: ``words[j]`` holds word j of every row, so each operation runs along one contiguous array); a template
# becomes per-word masks, and a row is checked with a handful of word operations instead of one per byte:
# literal bytes must be equal (``w & lit_mask == lit``); a digit is a byte 0x30-0x39, i.e. high nibble 3 (part
# of the same masked compare) and low nibble <= 9, which is "adding 6 leaves the high nibble 3". A byte that is
# not a digit can carry out of its lane in that addition, but its row fails the compare anyway.
_H8 = 0x8080808080808080


def _template(shape: str) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    lit_mask, lit, six, nib = (np.zeros(_ROW, dtype=np.uint8) for _ in range(4))
    for i, ch in enumerate(shape):
        if ch == "d":
            lit_mask[i], lit[i], six[i], nib[i] = 0xF0, 0x30, 0x06, 0xF0
        else:
            lit_mask[i], lit[i] = 0xFF, ord(ch)
    n = -(-len(shape) // 8)  # words the template touches
    return (n, *(a.view("<u8")[:n, None] for a in (lit_mask, lit, six, nib)))  # type: ignore[return-value]


def _fits(words: np.ndarray, template: tuple) -> np.ndarray:
    """Which rows (``words``: shape (6, rows)) match the template."""
    n, lit_mask, lit, six, nib = template
    x = words[:n]
    wrong = ((x & lit_mask) ^ lit) | (((x + six) & nib) ^ (lit & nib))  # non-zero where a byte does not fit
    return np.bitwise_or.reduce(wrong, axis=0) == 0


def _level_length(x: np.ndarray, ninth: np.ndarray) -> np.ndarray:
    """Length of the level tag (3 to 8 capitals, then ``]``) at the start of the 8 bytes ``x`` (one word per row,
    little-endian; ``ninth`` is the byte after them), 0 where there is none."""
    a = x & 0x7F7F7F7F7F7F7F7F
    upper = (a + 0x3F3F3F3F3F3F3F3F) & ~(a + 0x2525252525252525) & ~x & _H8  # bit 7 set on bytes "A"-"Z"
    other = ~upper & _H8
    caps = np.bitwise_count((other & (~other + 1)) - 1) >> 3  # capitals before the first other byte, 0-8
    after = np.where(caps < 8, (x >> (np.minimum(caps, 7).astype(np.uint64) * 8)) & 0xFF, ninth)
    return np.where((caps >= 3) & (after == _RB), caps, 0).astype(np.int8)


_TEMPLATES = {code: _template(_LAYOUTS[STYLES[code]][0]) for code in _CHECK_ORDER}
_AT = np.zeros(3, dtype=np.int32)  # the level tag's first letter, per layout code
_TS_AT = np.zeros(3, dtype=np.int32)
_TS_LEN = np.zeros(3, dtype=np.int32)
for _code in _CHECK_ORDER:
    _AT[_code] = len(_LAYOUTS[STYLES[_code]][0])
    _TS_AT[_code], _TS_LEN[_code] = _LAYOUTS[STYLES[_code]][1:3]


def _stamp_ns(code: int, stamp: np.ndarray) -> np.ndarray:
    """Time stamps in layout ``code`` (their bytes, one row each, digits checked) as int64 ns (NaT where the
    digits do not form a real date and time)."""
    d = stamp.astype(np.int16) - 48
    two = d[:, :-1] * 10 + d[:, 1:]  # the two-digit number starting at each position
    y, mo, day, h, mi, sec, frac = (two[:, at].astype(np.int64) for at in _LAYOUTS[STYLES[code]][3])
    if code == _ISO_MS:  # three digits of milliseconds
        frac = frac * 10 + d[:, _LAYOUTS[STYLES[code]][3][6] + 2]
    return civil_ns(y * 100 + two[:, _LAYOUTS[STYLES[code]][3][0] + 2], mo, day, h, mi, sec,
                    frac * _LAYOUTS[STYLES[code]][4])[0]


def _exact_heads(row: np.ndarray, llen: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For candidate rows (n, 48) and their line lengths: the layout code (-1 for none), the level tag's length and
    the time (int64 ns, NaT when the digits do not form a real date and time)."""
    n = len(row)
    words = np.ascontiguousarray(row.view("<u8").T)
    code = np.full(n, -1, dtype=np.int8)
    rest = np.arange(n)
    for c in _CHECK_ORDER:
        hit = _fits(words[:, rest] if len(rest) < n else words, _TEMPLATES[c])
        code[rest[hit]] = c
        rest = rest[~hit]
        if not len(rest):
            break
    if len(rest):  # thread ids with hex letters: as digits in this copy of the bytes, one check fits all
        tid = row[rest, 1:9]
        hexy = rest[_HEX[tid].all(axis=1) & ~_DIGIT[tid].all(axis=1)]
        if len(hexy):
            row[hexy, 1:9] = ord("0")
            hex_words = np.ascontiguousarray(row[hexy].view("<u8").T)
            for c in _CHECK_ORDER:
                code[hexy[_fits(hex_words, _TEMPLATES[c])]] = c
    found = np.flatnonzero(code >= 0)
    lvl_len = np.zeros(n, dtype=np.int8)
    ns = np.full(n, NAT, dtype=np.int64)
    if len(found):
        at = _AT[code[found]]
        shift = ((at - 32) * 8).astype(np.uint64)  # the level tag starts in word 4 (bytes 32-39)
        w4, w5 = words[4, found], words[5, found]
        ll = _level_length((w4 >> shift) | (w5 << (np.uint64(64) - shift)), (w5 >> shift) & 0xFF)
        ok = (ll > 0) & (at + ll < llen[found])
        lvl_len[found] = ll
        code[found[~ok]] = -1
        for c in _CHECK_ORDER:
            sel = np.flatnonzero(code == c)
            if len(sel):
                ns[sel] = _stamp_ns(c, row[sel, _TS_AT[c]:_TS_AT[c] + _TS_LEN[c]])
    return code, lvl_len, ns


@dataclass
class _Heads:
    """The record heads, in line order: their line index and the byte offsets of their fields (offsets relative
    to the line's start; int32/int8 keep this small, it is alive while the big columns are built)."""

    line: np.ndarray  # int64 line index of each head
    has_tid: np.ndarray  # bool: "[xxxxxxxx]" thread id at the line start (bytes 1-8)
    ts_rel: np.ndarray  # int32
    ts_len: np.ndarray  # int32, 0 when there is no time stamp
    style: np.ndarray  # int8 index into STYLES, or _BAD, or -1 for none
    lvl_rel: np.ndarray  # int32
    lvl_len: np.ndarray  # int8
    msg_rel: np.ndarray  # int32
    ts_ns: np.ndarray  # int64 ns (int64 min = NaT), decided where ts_parsed
    ts_parsed: np.ndarray  # bool: decoded from digits (exact layouts)
    malformed: np.ndarray  # int64 line indexes of lines that start "[xxxxxxxx]" but are not heads

    def __len__(self) -> int:
        return len(self.line)


_HEAD_FIELDS = ("line", "has_tid", "ts_rel", "ts_len", "style", "lvl_rel", "lvl_len", "msg_rel", "ts_ns",
                "ts_parsed")
_HEAD_DTYPES = (np.int64, bool, np.int32, np.int32, np.int8, np.int32, np.int8, np.int32, np.int64, bool)


def _find_heads(lines: ByteLines) -> _Heads:
    buf, s, e = lines.buf, lines.start, lines.end
    llen = e - s
    fast = np.zeros(len(s), dtype=bool)
    first = _byte_at(buf, s)
    # 1. The exact layouts, checked on the first 48 bytes of each candidate line, in blocks of lines (every
    # temporary stays small: peak memory).
    candidates = np.flatnonzero((first == _LB) & (llen >= 36))
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for b0 in range(0, len(candidates), _BLOCK):
        cand = candidates[b0:b0 + _BLOCK]
        code, lvl_len, ns = _exact_heads(byte_rows(buf, s[cand], _ROW), llen[cand])
        hit = code >= 0
        found.append((cand[hit], code[hit], lvl_len[hit], ns[hit]))
        fast[cand[hit]] = True
    line, code, lvl_len, ns = (np.concatenate([f[j] for f in found]) if found else np.empty(0, dtype=dt)
                               for j, dt in enumerate((np.int64, np.int8, np.int8, np.int64)))
    at = _AT[code]
    cols = [line, np.ones(len(line), dtype=bool), _TS_AT[code], _TS_LEN[code], code, at, lvl_len,
            at + lvl_len + 1, ns, np.ones(len(line), dtype=bool)]
    # 2. Every other line that could start a head ("[", a digit or "{"): the general pattern, one call each.
    maybe = np.flatnonzero(~fast & ((first == _LB) | _DIGIT[first] | (first == ord("{"))) & (llen >= 5))
    del fast, first, candidates
    data = lines.data
    slow: list[tuple] = []
    malformed: list[int] = []
    for i in maybe.tolist():
        start = int(s[i])
        m = _HEAD_B.match(data, start, int(e[i]))
        if m is None:
            if _TID_B.match(data, start, int(e[i])):
                malformed.append(i)
            continue
        style, ts_rel, ts_len = -1, 0, 0
        for code_, group in ((_MDY, "mdy"), (_ISO_MS, "iso"), (_PII, "pii"), (_BAD, "bad")):
            if m.start(group) >= 0:
                a, b = m.span(group)
                if code_ == _BAD:
                    a, b = a + 1, b - 1  # the brackets are not part of the stamp
                if code_ == _ISO_MS and b"." not in m.group(group):
                    code_ = _ISO_S
                style, ts_rel, ts_len = code_, a - start, b - a
        slow.append((i, m.start("tid") >= 0, ts_rel, ts_len, style, m.start("level") - start,
                     m.end("level") - m.start("level"), m.end("level") + 1 - start, NAT, False))
    if slow:  # merged into line order (the exact heads are in line order already)
        cols = [np.concatenate([c, np.array(x, dtype=dt)]) for c, x, dt in
                zip(cols, zip(*slow, strict=True), _HEAD_DTYPES, strict=True)]
        order = np.argsort(cols[0], kind="stable")
        cols = [c[order] for c in cols]
    cols = [c.astype(dt, copy=False) for c, dt in zip(cols, _HEAD_DTYPES, strict=True)]
    return _Heads(*cols, malformed=np.array(malformed, dtype=np.int64))


def sniff(head: str) -> bool:
    lines = [ln for ln in head.splitlines()[:200] if ln.strip()]
    if not lines:
        return False
    heads = sum(1 for ln in lines if _HEAD_RE.match(ln) and (ln.startswith("[0") or ln[:1].isdigit()
                                                           or re.match(r"^\[\d", ln)))
    return heads >= max(1, len(lines) // 5)


def log_family(source: str) -> str:
    name = source.replace("\\", "/").rsplit("/", 1)[-1].lower()
    for stem, fam in (("waappagent", "WaAppAgent"), ("transparentinstaller", "TransparentInstaller"),
                      ("telemetry", "Telemetry")):
        if name.startswith(stem):
            return fam
    return "other"


def parse(text: str, *, source: str) -> ParseResult:
    lines = byte_lines(text)
    n = len(lines)
    if n == 0:
        return ParseResult({NAME: AGENT_LOG.empty()}, [])
    buf, s, e = lines.buf, lines.start, lines.end
    big = len(buf) >= _BIG  # worth handing freed heap memory back (a few ms each time)
    h = _find_heads(lines)
    # Records: a head starts one; any other line belongs to the record above; lines before the first head form
    # a record of their own (the "orphan" record, first).
    orphan = len(h) == 0 or h.line[0] != 0

    def rec(values: np.ndarray, fill: object) -> np.ndarray:
        """A per-head array as a per-record one."""
        return np.concatenate([np.array([fill], dtype=values.dtype), values]) if orphan else values

    rs = rec(h.line, 0)
    re_ = np.empty(len(rs), dtype=np.int64)
    re_[:-1] = rs[1:] - 1
    re_[-1] = n - 1
    nrec = len(rs)
    # Text first, while only the per-line and per-head arrays are alive: its cutting needs ~40 bytes per line
    # for a moment, which then does not add to the other string columns (lower peak memory).
    texts = compact_records(lines, rs, re_)
    if big:
        release_freed_memory()
    line_no, end_no = rs + 1, re_ + 1
    del re_
    start = s[rs]
    data_buf = pa.py_buffer(lines.data)

    # Time stamps: the exact layouts were decoded from their digits; the rest (a handful) through pandas.
    ts_ns = rec(h.ts_ns, NAT).copy()
    style = rec(h.style, -1)
    ts_len = rec(h.ts_len, 0)
    has_ts = ts_len > 0
    ts_raw = gather(data_buf, start + rec(h.ts_rel, 0), ts_len, valid=has_ts)
    slow = np.flatnonzero(has_ts & ~rec(h.ts_parsed, False) & ((style == _MDY) | (style == _ISO_S)
                                                                | (style == _ISO_MS)))
    if len(slow):
        raw = pd.Series(ts_raw.take(pa.array(slow)), dtype="str")
        is_mdy = (style[slow] == _MDY)
        parsed = parse_mdy(raw).where(is_mdy, parse_iso(raw))
        ts_ns[slow] = parsed.to_numpy(dtype="datetime64[ns]", na_value=np.datetime64("NaT")).view(np.int64)
    nat = ts_ns == NAT
    thread = fixed_width(buf, start + 1, 8, valid=rec(h.has_tid, False))
    level = _levels(buf, start + rec(h.lvl_rel, 0), rec(h.lvl_len, 0))

    # Message: the head line after the level tag, padding stripped; the first line for the orphan record. Cut out
    # last, once the per-line and per-head arrays are freed (peak memory).
    me = e[rs]
    mo = np.minimum(start + rec(h.msg_rel, 0), me)
    mo, me = _strip_padding(buf, mo, me, np.arange(1, nrec) if orphan else None)
    broken = h.malformed
    del h, start, rs

    # Damage, each with an issue naming the file and line.
    reasons: dict[int, list[str]] = {}
    issues: list[ParseIssue] = []

    def flag(r: int, why: str) -> None:
        reasons.setdefault(r, []).append(why)

    bad = np.flatnonzero(has_ts & (style != _PII) & nat)
    if len(bad):
        bad_raw = ts_raw.take(pa.array(bad)).to_pylist()
        for r, raw in zip(bad.tolist(), bad_raw, strict=True):
            flag(r, "unreadable time stamp")
            issues.append(ParseIssue(
                source, int(line_no[r]), "bad-timestamp",
                f"time stamp {raw!r} is not a valid date and time in the expected layouts (MM/DD/YYYY HH:MM:SS.ff "
                "or YYYY-MM-DDTHH:MM:SS[.fff]Z)", text=lines.line(int(line_no[r]) - 1)[:300], parser=NAME))
    pii = np.flatnonzero(style == _PII)
    if len(pii):
        for r, raw in zip(pii.tolist(), ts_raw.take(pa.array(pii)).to_pylist(), strict=True):
            flag(r, f"time stamp replaced by a PII scrubber ({raw})")
    if orphan:
        flag(0, "continuation lines before the first record head (file starts mid-record or is a pasted fragment)")
        issues.append(ParseIssue(
            source, 1, "orphan-lines", f"{int(end_no[0])} line(s) before the first record head; expected a head "
            "like '[00000011] [12/11/2018 06:27:55.66] [WARN] ...'", text=lines.line(0)[:300], parser=NAME))
    if len(broken):
        rec_of = np.searchsorted(line_no, broken + 1, side="right") - 1
        for li, r in zip(broken[:1000].tolist(), rec_of[:1000].tolist(), strict=True):
            if "contains a malformed record head (kept as a continuation line)" not in reasons.get(r, []):
                flag(r, "contains a malformed record head (kept as a continuation line)")
            issues.append(ParseIssue(
                source, li + 1, "malformed-head", "line starts with a thread id but is not a complete record head "
                "'[tid] <time stamp> [LEVEL] message'", text=lines.line(li)[:300], parser=NAME))
    if not lines.final_newline:
        # The agent ends every line with CRLF, so a file without a final line break was cut while being written
        # or copied (or truncated by a size cap): the last line may be incomplete even when it looks whole.
        # The record is kept and flagged; this parser does not use the milder `no-final-newline` kind.
        flag(nrec - 1, "file ends mid-line (no final line break: the last line may be cut)")
        issues.append(ParseIssue(
            source, n, "truncated-line", "expected every line to end with a line break (the agent writes CRLF); "
            "found the file ending in the middle of its last line", text=lines.line(n - 1)[:300], parser=NAME))
    damaged = np.zeros(nrec, dtype=bool)
    damaged[list(reasons)] = True
    damage = sparse_strings(nrec, {r: "; ".join(why) for r, why in reasons.items()})

    del lines, s, e, ts_len, has_ts, nat
    if big:
        release_freed_memory()
    message = gather(data_buf, mo, me - mo)
    del mo, me, data_buf, buf
    if big:
        release_freed_memory()
    # Typed arrays straight into the frame (no Series, no dtype inference: most files are a few KB, where that
    # overhead was most of the parse).
    df = pd.DataFrame({
        "source": str_column(repeated(source, nrec)),
        "line": pd.arrays.IntegerArray(line_no, np.zeros(nrec, dtype=bool)),
        "end_line": pd.arrays.IntegerArray(end_no, np.zeros(nrec, dtype=bool)),
        "log": pd.Categorical.from_codes(np.zeros(nrec, dtype=np.int8), dtype=_log_dtype(source), validate=False),
        "ts": pd.arrays.DatetimeArray._from_sequence(ts_ns.view("M8[ns]"), dtype=_UTC),
        "ts_raw": str_column(ts_raw),
        "ts_style": pd.Categorical.from_codes(np.where(style <= _PII, style, -1), dtype=_STYLE_DTYPE, validate=False),
        "ts_assumed_utc": style == _MDY,
        "thread": str_column(thread),
        "level": level,
        "message": str_column(message),
        "text": str_column(texts),
        "n_lines": end_no - line_no + 1,
        "damaged": damaged,
        "damage": str_column(damage),
    }, copy=False)
    return ParseResult({NAME: df}, issues)


#: Per number of bytes (0-8), the mask keeping that many low bytes of a little-endian 64-bit word.
_KEEP = np.array([(1 << (8 * k)) - 1 for k in range(9)], dtype=np.uint64)


def _levels(buf: np.ndarray, off: np.ndarray, ln: np.ndarray) -> pd.Categorical:
    """Level tags (``ln`` bytes at ``off``; 0 for none) as the ordered level categorical, read as 8-byte keys
    (no string per record) and numbered by hashing (a handful of distinct tags)."""
    key = byte_rows(buf, off, 8).view("<u8")[:, 0] & _KEEP[ln]
    codes, uniq = pd.factorize(key)
    names = [int(u).to_bytes(8, "little").rstrip(b"\0").decode("ascii") or "UNKNOWN" for u in uniq]
    dtype = level_dtype(names)
    lookup = np.array([dtype.categories.get_loc(nm) for nm in names], dtype=np.int64)
    return pd.Categorical.from_codes(lookup[codes], dtype=dtype, validate=False)


def _equal_bytes(x: np.ndarray, byte: int) -> np.ndarray:
    """Bit 7 of each byte of the words ``x`` set where that byte equals ``byte`` (exact: no carry between bytes)."""
    t = x ^ (byte * 0x0101010101010101)
    return ~(((t & 0x7F7F7F7F7F7F7F7F) + 0x7F7F7F7F7F7F7F7F) | t) & _H8


def _padding_run(x: np.ndarray) -> np.ndarray:
    """How many of the 8 bytes of each word ``x``, from its first (lowest) byte on, are padding (space, tab, VT, FF)."""
    pad = _equal_bytes(x, 0x20) | _equal_bytes(x, 0x09) | _equal_bytes(x, 0x0B) | _equal_bytes(x, 0x0C)
    other = ~pad & _H8
    return (np.bitwise_count((other & (~other + 1)) - 1) >> 3).astype(np.int32)


def _strip_padding(buf: np.ndarray, mo: np.ndarray, me: np.ndarray,
                   rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``[mo, me)`` byte ranges (of ``rows``, or all) without leading and trailing padding (space, tab, VT, FF):
    the 8 bytes at each end are read as one word and classified at once; the rare range with 8 or more padding
    bytes at an end is finished byte by byte."""
    mo, me = mo.copy(), me.copy()
    idx = np.arange(len(mo)) if rows is None else rows
    long: list[np.ndarray] = []
    for b0 in range(0, len(idx), _BLOCK):  # in blocks: the temporaries stay small (fewer fresh pages)
        sel = idx[b0:b0 + _BLOCK]
        a, b = mo[sel], me[sel]
        run = _padding_run(byte_rows(buf, a, 8).view("<u8")[:, 0])
        more = run == 8
        a += np.minimum(run, b - a)
        run = _padding_run(byte_rows(buf, b - 8, 8).view("<u8")[:, 0].byteswap())  # last byte first
        more |= (run == 8) | (b < 8)
        b -= np.minimum(run, b - a)
        mo[sel], me[sel] = a, b
        long.append(sel[more])
    active = np.concatenate(long) if long else idx
    while len(active):
        active = active[_SPACE[_byte_at(buf, mo[active])] & (mo[active] < me[active])]
        mo[active] += 1
    active = np.concatenate(long) if long else idx
    while len(active):
        active = active[_SPACE[_byte_at(buf, me[active] - 1)] & (me[active] > mo[active])]
        me[active] -= 1
    return mo, me


@functools.lru_cache(maxsize=64)
def _log_dtype(source: str) -> pd.CategoricalDtype:
    return _cat_dtype((log_family(source),), False)[0]


_STYLE_DTYPE = _cat_dtype(STYLES, False)[0]
_UTC = pd.DatetimeTZDtype("ns", "UTC")


def combine(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate per-file frames (rotated logs) in time order: files ordered by their first valid time
    stamp (files without one go last, by name), lines kept in file order.

    Column by column (a frame-wide ``pd.concat`` and re-cast cost ~2 ms per bundle): categoricals whose categories
    differ between files get the union (the file families sorted; the levels in severity order, unexpected tags
    after them), as ``AGENT_LOG.coerce(pd.concat(...))`` gives."""
    frames = [f for f in frames if not f.empty] or frames[:1]
    if not frames:
        return AGENT_LOG.empty()
    if len(frames) == 1:
        return frames[0]

    arrays = [{c.name: f[c.name].array for c in AGENT_LOG.columns} for f in frames]

    def key(f: dict) -> tuple[int, str]:
        ns = np.asarray(f["ts"].view("i8"))
        known = ns[ns != NAT]
        return (int(known[0]) if len(known) else _NEVER, str(f["source"][0]))

    arrays = sorted(arrays, key=key)
    cols: dict[str, object] = {}
    for c in AGENT_LOG.columns:
        parts = [f[c.name] for f in arrays]
        if c.dtype in ("category", "level"):
            cols[c.name] = _concat_categoricals(parts, c.dtype == "level")
        elif isinstance(parts[0], pd.arrays.NumpyExtensionArray):
            cols[c.name] = np.concatenate([p.to_numpy() for p in parts])
        else:
            cols[c.name] = type(parts[0])._concat_same_type(parts)
    return pd.DataFrame(cols, copy=False)


_NEVER = pd.Timestamp.max.value  # sorts after every time stamp


def _concat_categoricals(parts: list[pd.Categorical], level: bool) -> pd.Categorical:
    if all(p.dtype == parts[0].dtype for p in parts):
        return pd.Categorical.from_codes(np.concatenate([p.codes for p in parts]), dtype=parts[0].dtype,
                                         validate=False)
    names = {str(x) for p in parts for x in p.categories}
    dtype = level_dtype(names) if level else _cat_dtype(tuple(sorted(names)), False)[0]
    codes = [np.array([*dtype.categories.get_indexer(p.categories), -1])[p.codes] for p in parts]
    return pd.Categorical.from_codes(np.concatenate(codes), dtype=dtype, validate=False)
