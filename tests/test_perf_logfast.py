"""The agent-log parser's fast helpers (issue 16 part 6) against plain Python references.

Each helper replaces an obvious per-row loop by word-at-a-time NumPy or by Arrow buffers built directly; these tests
check them value by value against that loop, and check that the block sizes (which only bound temporaries) do not
change a parse's result.
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from kit.parse import _logcore, agent_log
from kit.parse._logcore import (
    byte_rows,
    compact_records,
    fixed_width,
    gather,
    repeated,
    sparse_strings,
    str_column,
)

RNG = random.Random(1616)


def _buf(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.uint8)


def test_byte_rows_pads_past_either_end() -> None:
    data = bytes(RNG.randrange(256) for _ in range(200))
    buf = _buf(data)
    for width in (1, 4, 8, 12, 16, 48, 300):
        pos = np.array([RNG.randrange(-20, 220) for _ in range(50)] + [0, 199, 200, -1], dtype=np.int64)
        got = byte_rows(buf, pos, width)
        assert got.shape == (len(pos), width)
        for p, row in zip(pos.tolist(), got, strict=True):
            want = data[p:p + width] if p >= 0 else b""
            assert bytes(row) == want + bytes(width - len(want)), (p, width)


def test_gather_cuts_values_and_nulls_in_one_or_many_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    data = "".join(RNG.choice("ab c\té") for _ in range(3000)).encode()
    # cuts on character boundaries only
    starts = [i for i in range(len(data)) if (data[i] & 0xC0) != 0x80]
    off = np.array(sorted(RNG.choice(starts) for _ in range(400)), dtype=np.int64)
    ends = [min((j for j in starts if j >= o + k), default=len(data)) for o, k in
            zip(off.tolist(), (RNG.randrange(0, 30) for _ in off), strict=True)]
    length = np.array(ends, dtype=np.int64) - off
    valid = np.array([RNG.random() > 0.2 for _ in off])
    want = [data[o:o + n].decode() if v else None for o, n, v in zip(off, length, valid, strict=True)]
    one = gather(pa.py_buffer(data), off, length, valid=valid)
    assert one.to_pylist() == want and isinstance(one, pa.Array)
    monkeypatch.setattr(_logcore, "_GATHER_ROWS", 7)
    many = gather(pa.py_buffer(data), off, length, valid=valid)
    assert isinstance(many, pa.ChunkedArray) and many.num_chunks > 1 and many.to_pylist() == want


def test_fixed_width_with_and_without_nulls() -> None:
    data = b"[00000011] x\n[0000abcd] y\n[0000002A] z\n"
    off = np.array([1, 14, 27])
    for valid in ([True, True, True], [True, False, True], [False, False, False]):
        got = fixed_width(_buf(data), off, 8, valid=np.array(valid))
        assert got.to_pylist() == [data[o:o + 8].decode() if v else None for o, v in zip(off, valid, strict=True)]
        assert got.type == pa.large_string()


@pytest.mark.parametrize("n", [0, 1, 5, _logcore._REPEAT_ROWS, _logcore._REPEAT_ROWS * 3 + 17])
def test_repeated_is_pa_repeat_with_shared_chunks(n: int) -> None:
    got = repeated("C/WindowsAzure/Logs/WaAppAgent.log", n)
    assert got.type == pa.large_string() and len(got) == n
    assert got.to_pylist() == ["C/WindowsAzure/Logs/WaAppAgent.log"] * n
    assert len({c.buffers()[2].address for c in got.chunks}) <= 1  # one block of data for every chunk
    col = str_column(got)
    assert col.dtype == pd.array([], dtype="str").dtype and list(col) == got.to_pylist()


def test_sparse_strings() -> None:
    assert sparse_strings(4, {}).to_pylist() == [None] * 4
    assert sparse_strings(6, {4: "b é", 1: "a"}).to_pylist() == [None, "a", None, None, "b é", None]
    assert sparse_strings(2, {0: "", 1: "x"}).to_pylist() == ["", "x"]


PAD = " \t\x0b\x0c"


def test_strip_padding_matches_str_strip() -> None:
    texts = ["".join(RNG.choice(PAD + "ab\r") for _ in range(RNG.randrange(0, 20))) for _ in range(300)]
    texts += ["", " ", PAD * 5, "x" + PAD * 5, PAD * 4 + "x" + PAD * 4, "  x  "]
    data = "\n".join(texts).encode()
    starts = np.cumsum([0] + [len(t) + 1 for t in texts[:-1]])
    ends = starts + np.array([len(t) for t in texts])
    rows = np.array([i for i in range(len(texts)) if i % 3])
    mo, me = agent_log._strip_padding(_buf(data), starts.copy(), ends.copy(), rows)
    for i, t in enumerate(texts):
        want = t.strip(PAD) if i % 3 else t
        assert data[mo[i]:me[i]].decode() == want, (i, t)


def test_level_length_matches_the_pattern() -> None:
    level = re.compile(rb"[A-Z]{3,8}\]")
    alphabet = b"ABCZ]@[a0 \xc3"
    windows = [bytes(RNG.choice(alphabet) for _ in range(9)) for _ in range(3000)]
    windows += [b"INFO]    ", b"ABCDEFGH]", b"ABCDEFGHI", b"AB]xxxxxx", b"ABC]xxxxx", b"]]]]]]]]]"]
    x = np.frombuffer(b"".join(w[:8] for w in windows), dtype="<u8")
    ninth = np.array([w[8] for w in windows], dtype=np.uint64)
    got = agent_log._level_length(x, ninth)
    for w, n in zip(windows, got.tolist(), strict=True):
        m = level.match(w)
        assert n == (len(m.group()) - 1 if m else 0), w


EXACT = re.compile(rb"\[([0-9A-Fa-f]{8})\] (?:\[(\d\d)/(\d\d)/(\d{4}) (\d\d):(\d\d):(\d\d)\.(\d\d)\]"
                   rb"|(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{3}))?Z) \[([A-Z]{3,8})\]")


def _reference_head(line: bytes) -> tuple[int, int, int | None]:
    """(layout code, level length, ns or None) by regex and datetime, for lines of 36 bytes or more."""
    m = EXACT.match(line)
    if m is None or m.end() > len(line):
        return -1, 0, None
    g = m.groups()
    if g[1] is not None:
        code, (mo, d, y, h, mi, s), frac = agent_log._MDY, map(int, g[1:7]), int(g[7]) * 10_000
    else:
        code = agent_log._ISO_MS if g[14] is not None else agent_log._ISO_S
        (y, mo, d, h, mi, s), frac = map(int, g[8:14]), int(g[14] or 0) * 1000
    try:
        t = datetime(y, mo, d, h, mi, s, frac, tzinfo=UTC)
        ns = int(pd.Timestamp(t).value) if 1678 <= y <= 2261 else None
    except ValueError:
        ns = None
    return code, len(g[15]), ns


def test_exact_heads_match_a_regex_reference() -> None:
    heads = [b"[00000011] [12/11/2018 06:27:55.66] [WARN]  msg", b"[00000018] 2021-01-12T16:35:45Z [INFO]  msg",
             b"[0000abCD] 2024-04-17T07:19:26.812Z [ERROR] msg", b"[00000004] 2024-02-29T23:59:59.999Z [ABCDEFGH]x",
             b"[00000004] 2023-02-29T00:00:00.000Z [INFO] bad day", b"[00000004] 2024-13-01T00:00:00Z [INFO] m13",
             b"[00000004] [02/29/2000 24:00:00.00] [INFO] h24", b"[00000004] 1677-12-31T23:59:59Z [INFO] early"]
    lines = []
    for _ in range(4000):
        line = bytearray(RNG.choice(heads))
        for _ in range(RNG.randrange(0, 3)):  # damage a byte or two
            line[RNG.randrange(len(line))] = RNG.choice(b"0123456789:/-.TZ[] aAfFgG\xc3")
        lines.append(bytes(line[:RNG.choice([len(line), len(line), 36, 40, 44])]))
    lines = [ln for ln in lines if len(ln) >= 36]
    data = b"\n".join(lines) + b"\n"
    starts = np.cumsum([0] + [len(ln) + 1 for ln in lines[:-1]])
    code, lvl_len, ns = agent_log._exact_heads(byte_rows(_buf(data), starts, agent_log._ROW),
                                               np.array([len(ln) for ln in lines]))
    for i, ln in enumerate(lines):
        want = _reference_head(ln)
        got = (int(code[i]), int(lvl_len[i]) if code[i] >= 0 else 0,
               None if code[i] < 0 or ns[i] == _logcore.NAT else int(ns[i]))
        assert got == want, ln


def _doc(n: int) -> str:
    pool = ["[00000011] [12/11/2018 06:27:55.66] [WARN]  (Ignoring) Exception", "   at X.Y()", "",
            "[00000006] 2024-12-18T15:34:54.328Z [ERROR] GetVersions() failed", "[00000006] {PII} [FATAL] x",
            "[00000018] 2021-01-12T16:35:45Z [INFO]  Test   ", "---> inner", "[ERROR] no time", "Größe"]
    return "".join(RNG.choice(pool) + RNG.choice(["\r\n", "\n", "\r\n"]) for _ in range(n))


def test_block_sizes_do_not_change_the_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks bound the temporaries only: tiny blocks (many chunks) give the same frame and issues."""
    text = _doc(700)
    want = agent_log.parse(text, source="C/WindowsAzure/Logs/WaAppAgent.log")
    for name, value in (("_BLOCK", 5),):
        monkeypatch.setattr(agent_log, name, value)
    for name, value in (("_GATHER_ROWS", 7), ("_REPEAT_ROWS", 3)):
        monkeypatch.setattr(_logcore, name, value)
    got = agent_log.parse(text, source="C/WindowsAzure/Logs/WaAppAgent.log")
    assert got.df["text"].array._pa_array.num_chunks > 1
    pd.testing.assert_frame_equal(got.df, want.df, check_exact=True)
    assert got.issues == want.issues
    assert agent_log.AGENT_LOG.check_dtypes(got.df) == []


def test_compact_records_in_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _doc(300)
    lines = _logcore.byte_lines(text)
    first = np.flatnonzero(np.array([text.splitlines()[i].startswith("[") for i in range(len(lines))]))
    first = np.concatenate([[0], first[first > 0]])
    last = np.concatenate([first[1:] - 1, [len(lines) - 1]])
    want = compact_records(lines, first, last)
    monkeypatch.setattr(_logcore, "_GATHER_ROWS", 4)
    got = compact_records(lines, first, last)
    assert got.to_pylist() == want.to_pylist()
    split = _logcore.split_lines(text).to_pylist()
    assert want.to_pylist() == ["\n".join(split[a:b + 1]) for a, b in zip(first, last, strict=True)]


def test_combine_is_coerce_of_concat() -> None:
    """Column-wise combine gives what the frame-wide concat and re-cast gave, categories united."""
    docs = {"C/WindowsAzure/Logs/WaAppAgent.1.log": "[00000001] 2024-01-02T00:00:00Z [INFO]  b\r\n",
            "C/WindowsAzure/Logs/WaAppAgent.log": "[00000001] 2024-01-01T00:00:00Z [NOTICE] a\r\n  x\r\n",
            "C/WindowsAzure/Logs/TransparentInstaller.log": "[00000001] 2023-01-01T00:00:00Z [ZEBRA] c\r\n",
            "C/WindowsAzure/Logs/Telemetry.log": "no head\r\n"}
    frames = [agent_log.parse(t, source=s).df for s, t in docs.items()]

    def key(f: pd.DataFrame) -> tuple:
        first = f["ts"].dropna()
        return (first.iloc[0] if not first.empty else pd.Timestamp.max.tz_localize("UTC"), str(f["source"].iloc[0]))

    for subset in (frames, frames[:2], frames[1:3], frames[::-1]):
        want = agent_log.AGENT_LOG.coerce(pd.concat(sorted(subset, key=key), ignore_index=True))
        got = agent_log.combine(subset)
        pd.testing.assert_frame_equal(got, want, check_exact=True)
        for c in ("log", "level", "ts_style"):
            assert list(got[c].cat.categories) == list(want[c].cat.categories)
            assert got[c].cat.ordered == want[c].cat.ordered


def test_civil_ns_matches_pandas() -> None:
    """Table-driven day counts against pandas for valid fields; NaT for every impossible or out-of-range one."""
    fields = [(RNG.randrange(1670, 2270), RNG.randrange(0, 14), RNG.randrange(0, 33), RNG.randrange(0, 25),
               RNG.randrange(0, 61), RNG.randrange(0, 61), RNG.randrange(0, 10**9)) for _ in range(20000)]
    fields += [(y, 2, 29, 0, 0, 0, 0) for y in (1700, 1800, 1900, 2000, 2004, 2100, 2023, 2024)]
    fields += [(1678, 1, 1, 0, 0, 0, 0), (2261, 12, 31, 23, 59, 59, 999_999_999), (1677, 12, 31, 0, 0, 0, 0)]
    cols = [np.array(c, dtype=np.int64) for c in zip(*fields, strict=True)]
    ns, ok = _logcore.civil_ns(*cols)
    for f, got, good in zip(fields, ns.tolist(), ok.tolist(), strict=True):
        y, mo, d, h, mi, s, frac = f
        try:
            want = pd.Timestamp(datetime(y, mo, d, h, mi, s, tzinfo=UTC)).value + frac if 1678 <= y <= 2261 else None
        except ValueError:
            want = None
        assert good == (want is not None) and got == (_logcore.NAT if want is None else want), f
