"""Issue 16 part 5: the rules' row filters on large frames give exactly Python ``re``'s answers without a Python
string per row, select rows chunk by chunk, and the path matcher compiles only patterns that may match."""

from __future__ import annotations

import fnmatch
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from kit.derive import filters
from kit.parse import PARSERS, get_parser, match_path

TEXTS = [
    "Connecting to 168.63.129.16:32526 failed", None, "GET http://LOCALHOST:50342/oauth2/token", "127.0.0.1:50342",
    "locaLhost:503420", "ManagedIdentityExtensionForWindows 1.0", "MANAGEDIDENTITYEXTENSIONFORWINDOWS",
    "managed\u0130dentityextensionforwindows",  # 'İ' folds to i under re.IGNORECASE
    "ManagedIdentityExtenſionForLinux",  # long s folds to s
    "Too Many Requests", "TOO MANY REQUEſTS", "(429)", "x429y", "a\u212aelvin", "\u00e9\u00e8 429 caf\u00e9",
    "Waiting for OOBE to Complete", "", "   ", "Gone", "g\u00f6ne",
    "forbidden by its access permissions 168.63.129.16:80",
]
PATTERNS: list[str | re.Pattern[str]] = [
    r"(?i)\b(?:localhost|127\.0\.0\.1):50342\b", re.compile(r"ManagedIdentityExtensionFor(?:Windows|Linux)", re.I),
    r"(?i:\b429\b)|(?i:Too Many Requests)", r"(?i:\b410\b)|(?i:\(410\))|(?i:\bGone\b)", r"(?i)\u212aelvin",
    r"forbidden by its access permissions 168\.63\.129\.16:(\d+)", r"168\.63\.129\.16:(80|32526)\b", r"^\s*$",
    r"Waiting for OOBE", r"x", r"(?i)kelvin",
]


def _big(texts: list[str | None], n: int = 5000) -> pd.Series:
    """A str column of more than ROW_BY_ROW_MAX rows in two Arrow chunks (as two log files give)."""
    reps = (texts * (n // len(texts) + 1))[:n]
    half = n // 2
    chunked = pa.chunked_array([pa.array(reps[:half], pa.large_string()), pa.array(reps[half:], pa.large_string())])
    s = pd.Series(pd.array(reps, dtype="str"))
    s = pd.Series(type(s.array)(chunked, dtype=s.dtype))
    assert s.array._pa_array.num_chunks == 2 and len(s) > filters.ROW_BY_ROW_MAX
    return s


@pytest.mark.parametrize("pattern", PATTERNS, ids=str)
def test_contains_on_a_large_column_is_re_search(pattern: str | re.Pattern[str]) -> None:
    s = _big(TEXTS)
    rx = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern)
    want = np.array([isinstance(t, str) and rx.search(t) is not None for t in s.tolist()])
    assert want.any() or pattern == r"(?i)\u212aelvin"
    assert (filters.contains(s, pattern) == want).all()
    assert (filters.contains_any(s, [pattern, r"Zscaler"]) == want).all()


def test_contains_any_is_the_union() -> None:
    s = _big(TEXTS)
    pats = [PATTERNS[0], PATTERNS[2], r"^\s*$"]  # the last has no literal: one contains() per pattern
    want = np.logical_or.reduce([filters.contains(s, p) for p in pats])
    assert (filters.contains_any(s, pats) == want).all()
    assert (filters.contains_any(s, pats[:2]) == np.logical_or.reduce([filters.contains(s, p) for p in pats[:2]])).all()


def test_required_literals() -> None:
    assert filters.required_literals(r"forbidden by its access permissions 168\.63\.129\.16:(\d+)") == (
        r"forbidden by its access permissions 168\.63\.129\.16:",)
    assert filters.required_literals(r"(?i:\b429\b)|(?i:Too Many Requests)") == (
        "429", "[tT][oO][oO] [mM][aA][nN][yY] [rR][eE][qQ][uU][eE][sS\u017f][tT][sS\u017f]")
    assert filters.required_literals(r"a.b|c") is None  # an alternative with no run of 3
    assert filters.required_literals(r"(?:abc)?def") == ("def",)  # an optional group is not required
    assert filters.required_literals(r"(?i)\u00e9t\u00e9s") is None  # non-ASCII under IGNORECASE ends a run


def test_ignorecase_folds_of_ascii_letters_are_all_listed() -> None:
    """Every character Python's re matches case-insensitively to an ASCII letter is in the letter's class."""
    rx = re.compile(r"(?i)[a-z]")
    for cp in range(0x110000):
        ch = chr(cp)
        if not ch.isascii() and rx.fullmatch(ch):
            letters = [c for c in "abcdefghijklmnopqrstuvwxyz" if re.fullmatch("(?i)" + c, ch)]
            assert letters and all(ch in filters._FOLD_EXTRA.get(c, "") for c in letters), hex(cp)


def test_keep_takes_chunk_by_chunk_with_the_same_result() -> None:
    s = _big(TEXTS)
    n = len(s)
    s.index = pd.RangeIndex(10, 10 + n)
    df = pd.DataFrame({"text": s, "line": pd.array(range(n), dtype="Int64"),
                       "level": pd.Categorical(["INFO", "ERROR"] * (n // 2)),
                       "ts": pd.date_range("2024-01-01", periods=n, freq="s", tz="UTC")},
                      index=pd.RangeIndex(10, 10 + n))
    mask = filters.contains(df["text"], r"(?i)too many")
    out = filters.keep(df, mask)
    pd.testing.assert_frame_equal(out, df[mask], check_exact=True)
    assert out["text"].dtype == df["text"].dtype and df["text"].array._pa_array.num_chunks == 2
    one = np.zeros(n, dtype=bool)
    one[-1] = True
    pd.testing.assert_frame_equal(filters.keep(df, one), df[one])


def test_match_path_is_fnmatch() -> None:
    def slow(relpath: str) -> str | None:
        low = relpath.replace("\\", "/").lower()
        return next((n for n in PARSERS for p in get_parser(n).PATTERNS if fnmatch.fnmatchcase(low, p.lower())), None)

    from pathlib import Path

    samples = Path(__file__).resolve().parents[1] / "sample_logs"
    paths = [p.relative_to(d).as_posix() for d in samples.iterdir() if d.is_dir()
             for p in d.rglob("*") if p.is_file()]
    paths += ["C\\WindowsAzure\\Logs\\WaAppAgent.log", "x.evtx", "commands/route_print.txt.bak",
              "a/winevt/b.xml", "commands/events.xml", "COMMANDS/SC_QUERY_x.TXT", "probes/imds_.json",
              "probes/tcp.json"]
    assert len(paths) > 50
    for p in paths:
        assert match_path(p) == slow(p), p
