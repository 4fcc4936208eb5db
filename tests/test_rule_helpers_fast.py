"""The rules' evidence and filter helpers (kit.diagnose._util, kit.diagnose.engine, kit.derive.filters) give exactly
what the plain pandas idioms they replace give (issue 16: the faster paths must change nothing but speed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kit.diagnose._util import frame_evidence, log_evidence, time_order
from kit.diagnose.model import Evidence

UTC = "UTC"


def _log(n: int = 9) -> pd.DataFrame:
    """A small log frame with unknown times and lines, equal times and lines (ties) and an unknown text."""
    ts = pd.to_datetime(["2024-01-01 10:00", None, "2024-01-01 09:00", "2024-01-01 10:00", None,
                         "2024-01-01 08:00", "2024-01-01 10:00", "2024-01-01 09:00", "2024-01-01 11:00"],
                        utc=True)[:n]
    return pd.DataFrame({
        "source": pd.array(["b.log", "a.log", "a.log", "a.log", "b.log", None, "a.log", "b.log", "a.log"][:n],
                           dtype="str"),
        "line": pd.array([5, 3, None, 2, 1, 7, 2, None, 4][:n], dtype="Int64"),
        "ts": ts,
        "level": pd.Categorical(["INFO", "ERROR", "INFO", "WARN", "INFO", "ERROR", "INFO", "INFO", "ERROR"][:n]),
        "text": pd.array(["one\nmore", "two", None, "four", "five", "six\nx", "seven", "eight", "nine"][:n],
                         dtype="str"),
    }, index=pd.Index([10, 3, 7, 1, 2, 99, 5, 6, 8][:n]))


def _log_evidence_reference(df: pd.DataFrame, artifact: str, *, limit: int = 10,
                            first_line_only: bool = False) -> list[Evidence]:
    """log_evidence as it was written with pandas idioms (before issue 16)."""
    rows = df.sort_values(["ts", "line"], na_position="first", kind="stable") if "ts" in df else df
    if len(rows) > limit:
        rows = pd.concat([rows.head(limit // 2), rows.tail(limit - limit // 2)])
    out = []
    for r in rows.itertuples(index=False):
        text = str(r.text)
        if first_line_only:
            text = text.split("\n", 1)[0]
        out.append(Evidence(artifact=artifact, text=text, source=r.source, line=r.line, ts=getattr(r, "ts", None)))
    return out


def _as_dicts(ev: list[Evidence]) -> list[dict]:
    return [e.as_dict() for e in ev]


def test_time_order_is_pandas_stable_sort_with_unknown_first() -> None:
    df = _log()
    expected = df.reset_index(drop=True).sort_values(["ts", "line"], na_position="first", kind="stable").index
    assert time_order(df).tolist() == expected.tolist()
    # unknown time first, then by time, ties by line (unknown line first), then frame order
    assert time_order(df).tolist() == [4, 1, 5, 2, 7, 3, 6, 0, 8]


def test_time_order_falls_back_on_other_dtypes() -> None:
    df = _log().astype({"ts": object, "line": "float64"})
    expected = df.reset_index(drop=True).sort_values(["ts", "line"], na_position="first", kind="stable").index
    assert time_order(df).tolist() == expected.tolist()


@pytest.mark.parametrize("n", [0, 1, 4, 9])
@pytest.mark.parametrize("limit", [1, 2, 3, 4, 10])
@pytest.mark.parametrize("first_line_only", [False, True])
def test_log_evidence_matches_the_pandas_idiom(n: int, limit: int, first_line_only: bool) -> None:
    df = _log(n)
    got = log_evidence(df, "agent_log", limit=limit, first_line_only=first_line_only)
    want = _log_evidence_reference(df, "agent_log", limit=limit, first_line_only=first_line_only)
    assert _as_dicts(got) == _as_dicts(want)
    assert [type(e.line) for e in got] == [type(e.line) for e in want]


def test_log_evidence_without_ts_keeps_frame_order() -> None:
    df = _log().drop(columns="ts")
    got = log_evidence(df, "x", limit=4)
    assert _as_dicts(got) == _as_dicts(_log_evidence_reference(df, "x", limit=4))
    assert [e.line for e in got][:2] == [5, 3] and got[0].ts is None


def _frame_evidence_reference(df: pd.DataFrame, artifact: str, columns: list[str], *, limit: int = 10,
                              ts: str | None = None) -> list[Evidence]:
    """frame_evidence as it was written with pandas idioms (before issue 16)."""
    out = []
    for _, r in df.head(limit).iterrows():
        parts = [f"{c}={r[c]}" for c in columns if c in r.index and not pd.isna(r[c])]
        out.append(Evidence(artifact=artifact, text=", ".join(parts), source=r.get("source"),
                            line=r.get("line"), ts=r.get(ts) if ts else None))
    return out


def _frames() -> dict[str, pd.DataFrame]:
    log = _log()
    mixed = pd.DataFrame({
        "source": pd.array(["a.json", None, "b.json"], dtype="str"),
        "line": pd.array([None, 2, 3], dtype="Int64"),
        "port": np.array([443, 80, 32526], dtype="int64"),
        "ok": np.array([True, False, True]),
        "elapsed_ms": np.array([1.5, np.nan, 0.1]),
        "time": pd.to_datetime(["2024-01-01 10:00", None, "2024-01-02 00:00"], utc=True),
        "naive": pd.to_datetime(["2024-01-01 10:00", None, "2024-01-02 00:00"]),
        "state": pd.Categorical(["Running", None, "Stopped"]),
        "obj": np.array([None, {"k": 1}, "x"], dtype=object),
    })
    return {
        "log": log,
        "mixed": mixed,
        "numbers": pd.DataFrame({"port": [443, 80], "elapsed_ms": [1.0, 2.5]}),  # iterrows gives floats
        "ints": pd.DataFrame({"line": pd.array([1, None], dtype="Int64"), "port": pd.array([5, 6], dtype="Int64")}),
        "strings": pd.DataFrame({"source": pd.array(["a", None], dtype="str"), "name": pd.array(["x", "y"],
                                                                                                 dtype="str")}),
        "one_row_from_series": pd.DataFrame([mixed.iloc[0]]),
        "empty": mixed.iloc[:0],
    }


@pytest.mark.parametrize("name", list(_frames()))
@pytest.mark.parametrize("limit", [1, 2, 10])
def test_frame_evidence_matches_iterrows(name: str, limit: int) -> None:
    df = _frames()[name]
    for columns in (list(df.columns), ["port", "ok", "missing"], ["state", "source"]):
        for ts in (None, "time", "naive", "missing"):
            got = frame_evidence(df, "x", columns, limit=limit, ts=ts)
            want = _frame_evidence_reference(df, "x", columns, limit=limit, ts=ts)
            assert _as_dicts(got) == _as_dicts(want), (columns, ts)
            assert [e.text for e in got] == [e.text for e in want]


def test_frame_evidence_text() -> None:
    df = _frames()["mixed"]
    ev = frame_evidence(df, "tcp_probes", ["port", "ok", "elapsed_ms", "state"], ts="time")
    assert [e.text for e in ev] == ["port=443, ok=True, elapsed_ms=1.5, state=Running", "port=80, ok=False",
                                    "port=32526, ok=True, elapsed_ms=0.1, state=Stopped"]
    assert [e.line for e in ev][1:] == [2, 3] and ev[0].source == "a.json"
    assert frame_evidence(_frames()["numbers"], "x", ["port"])[0].text == "port=443.0"


def _findings_frame_reference(findings: list) -> pd.DataFrame:
    """findings_frame as it was written with pandas idioms (before issue 16)."""
    from kit.catalog import catalog
    from kit.diagnose.model import FAMILY_DTYPE, FINDINGS, SEVERITY_DTYPE

    recs = [f.as_record() for f in findings]
    if not recs:
        df = FINDINGS.empty()
    else:
        df = pd.DataFrame({c: [r[c] for r in recs] for c in FINDINGS.names})
        df["evidence"] = df["evidence"].astype(object)
        df = FINDINGS.coerce(df)
    df["severity"] = df["severity"].astype(str).astype(SEVERITY_DTYPE)
    df["family"] = df["family"].astype(str).astype(FAMILY_DTYPE)
    order = list(catalog())
    df["_o"] = [order.index(c) for c in df["code"]]
    df = df.sort_values(["severity", "_o"], ascending=[False, True], kind="stable").drop(columns="_o")
    return df.reset_index(drop=True)


def test_findings_frame_matches_the_pandas_idiom() -> None:
    from kit.catalog import catalog
    from kit.diagnose.model import Finding, findings_frame

    ev = [Evidence(artifact="agent_log", text="x" * 700, source="a.log", line=3,
                   ts=pd.Timestamp("2024-01-01", tz=UTC)), Evidence(artifact="services", text="name=y")]
    codes = list(catalog())
    # every code, in an order unlike the catalog's, with severity overrides and ties (same code twice)
    findings = [Finding(code=c, summary=f"summary {i} password=hunter2", evidence=ev[: i % 3],
                        severity=(None, "info", "critical", None)[i % 4]) for i, c in enumerate(reversed(codes))]
    findings += [Finding(code=codes[0], summary="again"), Finding(code=codes[0], summary="and again")]
    for subset in (findings, findings[:1], findings[5:9], []):
        got, want = findings_frame(subset), _findings_frame_reference(subset)
        pd.testing.assert_frame_equal(got, want)
        assert list(got.dtypes) == list(want.dtypes)
    got = findings_frame(findings)
    summaries = list(got["summary"])
    assert summaries.index("again") < summaries.index("and again")  # ties keep the rules' order
    assert "hunter2" not in " ".join(summaries)  # masked
    assert got["severity"].is_monotonic_decreasing


@pytest.mark.parametrize("picked", [[], [0], [3], [8], [2, 3, 4], [0, 1, 2, 3, 4, 5, 6, 7, 8], [1, 3], [0, 8]])
def test_keep_is_a_boolean_filter(picked: list[int]) -> None:
    from kit.derive.filters import keep

    for df in (_log(), _log().reset_index(drop=True)):
        df.attrs["time_reference"] = "x"
        mask = np.zeros(len(df), dtype=bool)
        mask[picked] = True
        got = keep(df, mask)
        pd.testing.assert_frame_equal(got, df[mask], check_index_type=True)
        assert got.attrs == df.attrs
        assert keep(df, pd.Series(mask).where(mask, None).astype("boolean")).equals(df[mask])  # NA counts as False
        got.iloc[:, 0] = "changed"  # a filter's result is its own frame
        assert "changed" not in set(df["source"].dropna())


@pytest.mark.parametrize("rows", [[], [0], [8, 1, 4], [2, 7, 3, 6, 0], list(range(9))])
def test_log_evidence_of_some_rows_is_that_of_the_filtered_frame(rows: list[int]) -> None:
    for df in (_log(), _log().astype({"ts": object}), _log().drop(columns="ts")):
        got = log_evidence(df, "agent_log", limit=4, rows=np.array(rows, dtype=int))
        assert _as_dicts(got) == _as_dicts(_log_evidence_reference(df.iloc[rows], "agent_log", limit=4))
    want = _log().reset_index(drop=True).iloc[rows].sort_values(["ts", "line"], na_position="first", kind="stable")
    assert time_order(_log(), np.array(rows, dtype=int)).tolist() == want.index.tolist()


def test_isin_is_pandas_isin() -> None:
    from kit.derive.filters import isin

    columns = [pd.Series(["Running", None, "Stopped", "running", "Running "], dtype="str"),
               pd.Series(pd.Categorical(["ERROR", None, "INFO", "FATAL", "ERROR"])),
               pd.Series(["ERROR", None, float("nan"), 3, "FATAL"], dtype=object),
               pd.Series([1, 2, None], dtype="Int64")]
    for values in columns:
        for items in (["Running", "StopPending"], ("ERROR", "FATAL"), [], ["3"]):
            got = isin(values, items)
            assert got.dtype == bool
            assert got.tolist() == values.isin(list(items)).fillna(False).astype(bool).tolist(), (values, items)
    assert isin(columns[0], ["Running"]).tolist() == [True, False, False, False, False]
    assert isin(columns[1], ("ERROR", "FATAL")).tolist() == [True, False, False, True, True]


def test_values_at_is_iloc_tolist(monkeypatch: pytest.MonkeyPatch) -> None:
    import kit.derive.filters as filters

    df = _log()
    for rows in ([], [3], [8, 0, 4], [1, 1]):
        for col in df.columns:
            want = df[col].iloc[rows].tolist()
            got = filters.values_at(df[col], np.array(rows, dtype=int))
            assert len(got) == len(want) and all(g is w or g == w or (pd.isna(g) and pd.isna(w))
                                                 for g, w in zip(got, want, strict=True)), col
    monkeypatch.setattr(filters, "ROW_BY_ROW_MAX", 2)  # the large-column path
    assert filters.values_at(df["text"], np.array([8, 0])) == ["nine", "one\nmore"]
    assert filters.values_at(df["line"], np.array([4, 2]))[0] == 1


def _not_ready_seen_reference(status: pd.DataFrame) -> str:
    """symptoms.not_ready_seen as it was written with pandas idioms (before issue 16)."""
    from kit.diagnose.symptoms import NOT_READY

    if status.empty or "agent_status" not in status or status["agent_status"].dropna().empty:
        return f"{NOT_READY} (this bundle holds no agent status that confirms or rules it out)"
    known = status.dropna(subset=["agent_status"])
    if "snapshot_time" in known and known["snapshot_time"].notna().any():
        known = known.sort_values("snapshot_time", kind="stable")
    last = known.iloc[-1]
    when = last.get("snapshot_time")
    at = f" at {when:%Y-%m-%d %H:%M UTC}" if isinstance(when, pd.Timestamp) and not pd.isna(when) else ""
    state = str(last["agent_status"])
    if state.replace(" ", "").lower() == "notready":
        return f"{NOT_READY} (the agent's last status in this bundle confirms it: {state}{at})"
    return f"{NOT_READY} (as reported; the agent's last status in this bundle is {state}{at})"


class _Bundle:
    def __init__(self, status: pd.DataFrame) -> None:
        self.status = status

    def frame(self, name: str) -> pd.DataFrame:
        return self.status


def test_not_ready_seen_matches_the_pandas_idiom() -> None:
    from kit.diagnose.symptoms import not_ready_seen

    times = pd.to_datetime(["2024-03-08 10:14", None, "2024-03-08 09:00", "2024-03-08 10:14"], utc=True)
    states = pd.array(["Not Ready", "Ready", None, "Ready"], dtype="str")
    frames = [
        pd.DataFrame({"agent_status": states, "snapshot_time": times, "source": "a"}),
        pd.DataFrame({"agent_status": states[:3], "snapshot_time": times[[2, 0, 1]]}),
        pd.DataFrame({"agent_status": states[[1, 0]], "snapshot_time": times[[1, 1]]}),  # no time known
        pd.DataFrame({"agent_status": states[[3, 0]]}),  # no time column
        pd.DataFrame({"agent_status": states[[2]], "snapshot_time": times[[0]]}),  # no status read
        pd.DataFrame({"other": [1]}),
        pd.DataFrame(),
    ]
    seen = [not_ready_seen(_Bundle(df)) for df in frames]
    assert seen == [_not_ready_seen_reference(df) for df in frames]
    assert seen[1].endswith("last status in this bundle is Ready at 2024-03-08 10:14 UTC)")  # 09:00 < 10:14
    assert seen[2].endswith("confirms it: Not Ready)")  # no time known: the last row
    assert seen[0].endswith("last status in this bundle is Ready)")  # an unknown time sorts last


def test_vmkit_diagnose_imports_every_rule_family_up_front(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    from kit import cli
    from kit.diagnose.engine import RULE_MODULES

    args = cli.build_parser().parse_args(["diagnose", "x"])
    assert cli.RULE_FAMILIES in args.imports and "kit.bundle" in args.imports
    seen: list[str] = []
    real = importlib.import_module
    monkeypatch.setattr(cli.importlib, "import_module", lambda name: seen.append(name) or real(name))
    cli._import(args.imports, freeze=False)
    assert set(RULE_MODULES) <= set(seen) and "kit.bundle" in seen and cli.RULE_FAMILIES not in seen


def test_paste_rows_per_file_are_groupby_source() -> None:
    from kit.diagnose.paste import PER_FILE, _by_file, _evidence, _where

    rows = pd.DataFrame({"source": pd.array(["b.txt", "a.txt", None, "b.txt", "a.txt"] + ["c.txt"] * 7, dtype="str"),
                         "line": pd.array([9, 1, 3, 2, 1, *range(20, 13, -1)], dtype="Int64"),
                         "text": pd.array([f"t{i}" for i in range(12)], dtype="str")})
    groups = {src: list(zip(g["line"].tolist(), g["text"].tolist(), strict=True))
              for src, g in rows.groupby("source", sort=False)}
    assert _by_file(rows, "line", "text") == groups
    assert list(groups) == ["b.txt", "a.txt", "c.txt"]  # order of appearance, the unknown file left out
    assert _where(rows) == "b.txt lines 2, 9; a.txt line 1; c.txt lines 14, 15, 16, 17, 18, 19, ..."
    ev = _evidence(rows)
    assert [(e.source, e.line, e.text) for e in ev][:3] == [("b.txt", 9, "t0"), ("b.txt", 2, "t3"), ("a.txt", 1, "t1")]
    assert sum(e.source == "c.txt" for e in ev) == PER_FILE
