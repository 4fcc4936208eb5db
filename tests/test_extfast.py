"""Issue 16 (per-bundle cost): the faster paths of the extension, identity, Key Vault and Run Command families give
the same frames as the record-by-record ones they replaced or sit beside."""

from __future__ import annotations

import pandas as pd
import pytest

from kit.derive import history as h
from kit.derive.filters import contains, keep
from kit.derive.operations import _per_file, row_values, values
from kit.parse.agent_log import AGENT_LOG

CSE, BG = "Microsoft.Compute.CustomScriptExtension", "Microsoft.Compute.BGInfo"
T = pd.Timestamp("2024-03-08 04:29:03", tz="UTC")


def _get(ext: str, cur: str, req: str) -> str:  # formats doc §1.3, verbatim but for the names and versions
    return f"Getting plugin locations for plugin '{ext}'. Current Version: '{cur}', Requested Version: '{req}'"


def _auto(ext: str, req: str, high: str) -> str:
    return f"Auto-Upgrade mode. Highest public version for plugin '{ext}' with requested version: '{req}', is: '{high}'"


def _log(records: list[tuple[str, int | None, pd.Timestamp | None, str | None]]) -> pd.DataFrame:
    return AGENT_LOG.from_records([{"source": s, "line": n, "end_line": n, "ts": ts, "message": m,
                                    "text": None if m is None else f"[00000018] [INFO] {m}", "n_lines": 1,
                                    "damaged": False, "ts_assumed_utc": False} for s, n, ts, m in records])


#: Lookups and auto-upgrade lines in the orders a log can hold them: paired, a lookup repeated before its auto line,
#: two auto lines after one lookup, a lone auto line (a cut log), another file, extension names that differ in case,
#: a missing line number and time, versions that do not compare, a record that only looks like a lookup.
EDGES = [
    ("a.log", 10, T, _get(CSE, "1.8", "1.9")),
    ("a.log", 11, T, _auto(CSE, "1.9", "1.10.15")),
    ("a.log", 12, T + pd.Timedelta(minutes=1), _auto(CSE, "1.9", "1.10.16")),
    ("a.log", 13, T, _get(BG, "", "2.2")),
    ("a.log", 14, T, _get(BG, "2.1", "2.2")),
    ("a.log", 15, None, _auto(BG.upper(), "2.2", "")),
    ("a.log", None, T, _get("Foo.Bar", "x1", "x2")),
    ("a.log", 9, T - pd.Timedelta(minutes=5), _auto("Foo.Bar", "3", "4")),
    ("b.log", 3, T - pd.Timedelta(hours=1), _get(CSE, "1.10", "1.9")),
    ("b.log", 2, T - pd.Timedelta(hours=1), _get(CSE, "1.9", "1.9")),
    ("b.log", 4, T, "Getting plugin locations for plugin without quotes"),
    ("b.log", 5, T, None),
    ("b.log", 6, T, _auto(CSE, "1.9", "1.9.1")),
    ("b.log", 7, T, _get("Ünï.Códe", "1.0", "2.0")),
    ("b.log", 8, T, _auto("ünï.cÓde", "2.0", "2.1")),
]


def _both(log: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    recs = keep(log[list(h._READ)], contains(log["message"], h.LOOKUP))
    return h.history_from_lists(*(recs[c].tolist() for c in h._READ)), h.history_from_arrays(recs)


@pytest.mark.parametrize("records", [EDGES, EDGES[::-1], EDGES[:3], EDGES[10:12], EDGES[5:6]])
def test_history_from_arrays_is_the_record_loop(records: list) -> None:
    lists, arrays = _both(_log(records))
    pd.testing.assert_frame_equal(lists, arrays)
    assert h.EXTENSION_HISTORY.check_dtypes(arrays) == []


def test_history_pairs_each_auto_upgrade_line_with_its_lookup() -> None:
    got = h.extension_history(_log(EDGES))
    by = {(r.source, r.line if not pd.isna(r.line) else None): r for r in got.itertuples(index=False)}
    cse = by[("a.log", 10)]
    assert (cse.to_version, cse.auto_upgrade, cse.change) == ("1.10.15", True, "upgrade") and "\n" in cse.text
    lone = by[("a.log", 12)]  # the second auto line after one lookup completes none
    assert (lone.from_version is None or pd.isna(lone.from_version)) and lone.change == "unknown"
    assert by[("a.log", 13)].auto_upgrade is False or not by[("a.log", 13)].auto_upgrade
    assert by[("a.log", 14)].auto_upgrade  # the later lookup of BGInfo gets the (upper-case) auto line
    assert by[("b.log", 7)].to_version == "2.1"  # names compared as str.lower does, beyond ASCII too
    assert ("b.log", 4) not in by and list(got["change"].cat.categories) == list(h.CHANGES)


def test_history_switches_to_arrays_above_the_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    log = _log(EDGES)
    small = h.extension_history(log)
    called = []
    real = h.history_from_arrays
    monkeypatch.setattr(h, "history_from_arrays", lambda recs: called.append(1) or real(recs))
    monkeypatch.setattr(h, "ARRAYS_ABOVE", 3)
    pd.testing.assert_frame_equal(h.extension_history(log), small)
    assert called


def test_row_values_and_per_file() -> None:
    df = pd.DataFrame({"a": pd.array([1, None], dtype="Int64"), "b": pd.array(["x", None], dtype="str")})
    rows = list(row_values(df, "b", "a"))
    assert rows[0] == ("x", 1) and pd.isna(rows[1][0]) and rows[1][1] is pd.NA
    assert list(_per_file(["f2", "f1", "f2", "f3"], [True, True, True, False]).items()) == [("f2", 2), ("f1", 1)]
    cat = pd.Series(["b", None, "a", "b"], dtype="category")
    got, want = values(cat), cat.tolist()
    assert got[0] == "b" and got[2:] == ["a", "b"] and pd.isna(got[1]) and type(got[1]) is type(want[1])


IDENTITY_TEXTS = [
    "GET http://localhost:50342/oauth2/token", "LOCALHOST:50342", "locaLHOſT:50342 refused", "127.0.0.1:50342",
    "localhost:503420", "Required metadata header not specified", "bad_request_102",
    "api-version was not specified", "api-version is invalid or was not specified", "newest-versions",
    "X-Forwarded-For: 10.0.0.1", "x-forwarded-for", "(429) Too Many Requests", "TOO MANY REQUESTS", "too many requeſts",
    "a4290", "HTTP 410 Gone", "(410)", "gone", "GONE", "500 Internal Server Error", "ınternal server error",
    "İNTERNAL SERVER ERROR", "(cannotconnect)", "GATEWAY_TIMEOUT", "This Page Cannot Be Displayed", "Zscaler",
    "proxy authentıcation required", "(407)", "nothing to see", "", None, "x" * 300 + "Gone",
]


def test_identity_search_is_contains_any() -> None:
    from kit.derive.filters import contains_any
    from kit.diagnose import identity

    values = pd.Series(IDENTITY_TEXTS, dtype="str")
    patterns, needle = identity._search_plan()
    assert needle is not None  # else the row-by-row prefilter is not used at all
    got = identity._searched(values)
    assert got.tolist() == contains_any(values, list(patterns)).tolist()
    assert got.sum() >= 20 and not got[IDENTITY_TEXTS.index("nothing to see")]


def test_take_from_several_chunks() -> None:
    import numpy as np
    import pyarrow as pa

    chunked = pa.chunked_array([pa.array(["a", "b", None]), pa.array([], type=pa.string()), pa.array(["d", "e"])])
    rows = np.array([4, 0, 2, 3, 1, 4])
    assert h._take(chunked, rows).to_pylist() == ["e", "a", None, "d", "b", "e"]
    assert h._take(pa.chunked_array([pa.array(["x", "y"])]), np.array([1, 0])).to_pylist() == ["y", "x"]
