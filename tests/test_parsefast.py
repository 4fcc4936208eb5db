"""Issue 16 (parse speed): the faster ways of checking, joining and redacting frames give what the obvious pandas
idioms give (each test compares the helper with the idiom it replaces, on frames where the two could differ)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kit.errors import SchemaError
from kit.schema import LEVELS, LINE, SOURCE, Col, FrameSchema, categorical, column_arrays, level_dtype

SCHEMA = FrameSchema("t", "test frame", (
    SOURCE, LINE, Col("ts", "datetime", "time"), Col("level", "level", "level"), Col("kind", "category", "kind"),
    Col("n", "Int64", "count"), Col("ok", "boolean", "flag"), Col("name", "str", "name"),
    Col("x", "float64", "x"), Col("k", "int64", "k", False), Col("b", "bool", "b", False),
))


def _frame(src: str, levels: list[str | None], kinds: list[str | None], rows: int | None = None) -> pd.DataFrame:
    n = len(levels) if rows is None else rows
    return SCHEMA.from_records([
        {"source": src, "line": i + 1 if i % 2 else None, "ts": pd.Timestamp("2024-12-18T15:34:54Z") + pd.Timedelta(i,
         "s") if i % 3 else None, "level": levels[i], "kind": kinds[i], "n": i if i % 2 else None,
         "ok": [True, False, None][i % 3], "name": f"{src}-{i}" if i % 4 else None, "x": i / 3, "k": i,
         "b": i % 2 == 0}
        for i in range(n)])


def _reference(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return SCHEMA.coerce(pd.concat(frames, ignore_index=True))


CASES = {
    "same categories": [_frame("a", ["INFO", "ERROR"], ["x", "y"]), _frame("b", ["ERROR", "INFO"], ["y", "x"])],
    "different categories": [_frame("a", ["INFO", "NOTICE"], ["x", None]), _frame("b", ["ZZZ", None, "WARN"],
                                                                                   ["z", "y", "x"])],
    "an empty part": [_frame("a", ["INFO"], ["x"]), SCHEMA.empty(), _frame("b", ["WARN", "ODD"], ["q", "r"])],
    "three parts": [_frame("a", ["INFO"], ["x"]), _frame("b", ["INFO"], ["x"]), _frame("c", ["TRACE"], ["w"])],
    "one part": [_frame("a", ["INFO", "ERROR", None], ["x", "y", None])],
    "only empty parts": [SCHEMA.empty(), SCHEMA.empty()],
}


@pytest.mark.parametrize("case", list(CASES))
def test_concat_is_concat_then_coerce(case: str) -> None:
    frames = CASES[case]
    got = SCHEMA.concat(frames)
    assert SCHEMA._concat_columns(frames) is not None  # the column-wise path was taken
    pd.testing.assert_frame_equal(got, _reference(frames))
    assert SCHEMA.check_dtypes(got) == []


def test_concat_does_not_share_memory_with_its_parts() -> None:
    a, b = CASES["same categories"]
    got = SCHEMA.concat([a, b])
    got.loc[0, "k"] = 99
    got.loc[0, "name"] = "changed"
    assert a["k"].iloc[0] == 0 and a["name"].iloc[0] is not None and a["name"].iloc[0] != "changed"


def test_concat_of_other_shapes_goes_the_pandas_way() -> None:
    a = _frame("a", ["INFO"], ["x"])
    reordered = a[list(reversed(a.columns))]
    float_n = a.assign(n=a["n"].astype("float64"))
    unordered_level = a.assign(level=a["level"].astype(str).astype("category"))
    for other in (reordered, float_n, unordered_level, a.drop(columns="name")):
        assert SCHEMA._concat_columns([a, other]) is None
        pd.testing.assert_frame_equal(SCHEMA.concat([a, other]), _reference([a, other]))
    with pytest.raises(SchemaError, match="unexpected columns"):
        SCHEMA.concat([a, a.assign(extra=1)])


def test_column_arrays_are_the_columns_arrays() -> None:
    df = _frame("a", ["INFO", "X"], ["x", "y"])
    arrays = column_arrays(df)
    assert len(arrays) == df.shape[1]
    for name, arr in zip(df.columns, arrays, strict=True):
        assert arr.dtype == df[name].dtype
        expect = df[name].array
        expect = expect.to_numpy() if isinstance(expect, pd.arrays.NumpyExtensionArray) else expect
        assert type(arr) is type(expect)
        pd.testing.assert_series_equal(pd.Series(arr, name=name), df[name])
    assert isinstance(arrays[SCHEMA.names.index("k")], np.ndarray)


def test_check_dtypes_finds_the_same_problems() -> None:
    df = _frame("a", ["INFO", "X"], ["x", "y"])
    assert SCHEMA.check_dtypes(df) == []
    bad = df.assign(source=pd.array([None, "a"], dtype="str"), n=df["n"].astype("float64"),
                    level=df["level"].astype(str).astype("category"))
    assert SCHEMA.check_dtypes(bad) == [
        "t.source: has missing values but is not nullable", "t.level: dtype category != level",
        "t.n: dtype float64 != Int64"]
    assert SCHEMA.check_dtypes(df.drop(columns="b"))[0].startswith("t: columns [")


def test_level_categories_of_a_concat() -> None:
    got = SCHEMA.concat(CASES["different categories"])
    assert list(got["level"].cat.categories) == [*LEVELS, "NOTICE", "ZZZ"]
    assert got["level"].dtype == level_dtype(["ZZZ", "NOTICE"])
    assert list(got["kind"].cat.categories) == ["x", "y", "z"]
    assert got["kind"].tolist()[1] is np.nan or pd.isna(got["kind"].tolist()[1])
    assert categorical(["b", "a"]).categories.tolist() == ["a", "b"]


def test_all_text_holds_every_string_of_the_columns() -> None:
    from kit.redact import _all_text

    words = ["sig=abc", "plain", None, "ünïcödé K", "AccountKey=x"]
    arrow = pd.array(words * 3, dtype="str")
    sliced = arrow[4:9]  # an Arrow slice keeps its whole value buffer: more text, never less
    obj = np.array(["pwd=1", 3, None], dtype=object)
    cat = categorical(["password: y", None])
    text = _all_text([arrow, sliced, obj, cat])
    for v in [*words, "pwd=1", "password: y"]:
        assert v is None or v in text
    assert "3" not in text.split("\n")  # only strings
    assert _all_text([pd.array([None, None], dtype="str")]) == ""


@pytest.mark.parametrize("where", ["str", "category", "object"])
def test_redact_frame_masks_a_secret_in_any_text_column(where: str) -> None:
    from kit.redact import redact_frame

    values = ["nothing here", "https://x.blob.core.windows.net/c?sv=1&sig=SECRETVALUE"]
    col = {"str": pd.array(values, dtype="str"), "category": categorical(values),
           "object": pd.Series(values, dtype=object)}[where]
    df = pd.DataFrame({"n": [1, 2], "t": col})
    out = redact_frame(df)
    assert "SECRETVALUE" not in str(out["t"].tolist()) and type(out["t"].dtype) is type(df["t"].dtype)
    clean = pd.DataFrame({"n": [1, 2], "t": pd.array(["a", "b"], dtype="str")})
    assert redact_frame(clean) is clean


def test_assemble_is_the_dict_constructor() -> None:
    df = _frame("a", ["INFO", "X", None], ["x", "y", None])
    arrays = column_arrays(df)
    got = SCHEMA.assemble([a.copy() for a in arrays])
    pd.testing.assert_frame_equal(got, pd.DataFrame(dict(zip(SCHEMA.names, arrays, strict=True))))
    assert SCHEMA.check_dtypes(got) == []
    # a Series, a NumpyExtensionArray and an object array are taken too (the last two the dict way)
    mixed = [df[SCHEMA.names[0]], *arrays[1:-2], pd.array(arrays[-2]), np.array([True, False, True], dtype=object)]
    expect = pd.DataFrame(dict(zip(SCHEMA.names, mixed, strict=True)), copy=False)
    pd.testing.assert_frame_equal(SCHEMA.assemble(mixed), expect)
    # two frames share the column labels, never the values
    other = SCHEMA.assemble([a.copy() for a in arrays])
    other.loc[0, "k"] = 42
    assert got["k"].iloc[0] == 0 and list(other.columns) == SCHEMA.names
    with pytest.raises(ValueError):
        SCHEMA.assemble([a[:1] if i == 3 else a for i, a in enumerate(arrays)])


def test_str_array_of_arrow_strings_is_pd_array() -> None:
    import pyarrow as pa

    from kit.schema import str_array

    for values in (pa.array(["a", None, ""]), pa.array(["a", None], type=pa.large_string()),
                   pa.chunked_array([pa.array(["a"]), pa.array([None], type=pa.string())]),
                   pa.array(["b", "c"]).slice(1), ["x", None]):
        got, expect = str_array(values), pd.array(values, dtype="str")
        assert got.dtype == expect.dtype and type(got) is type(expect)
        pd.testing.assert_extension_array_equal(got, expect)
        assert pa.array(got).type == pa.array(expect).type


@pytest.mark.parametrize("values", [["b", None, "zz", "a"], [], [None], ["a", 1]])
def test_from_records_with_categories_is_set_categories(values: list) -> None:
    schema = FrameSchema("c", "c", (SOURCE, Col("kind", "category", "kind")))
    rows = [{"source": "s", "kind": v} for v in values]
    got = schema.from_records(rows, categories={"kind": ("a", "b", "c")})
    expect = schema.from_records(rows)
    expect["kind"] = expect["kind"].cat.set_categories(("a", "b", "c"))
    pd.testing.assert_frame_equal(got, expect)
    assert list(got["kind"].cat.categories) == ["a", "b", "c"]
    with pytest.raises(SchemaError):
        schema.from_records(rows, categories={"source": ("s",)})


ISO_TEXTS = ["2024-12-18T15:34:54Z", "2024-12-18T15:34:54.328Z", "2024-12-18T15:34:54.3285123Z",
             "2024-12-18T15:34:54.123456789Z", "2024-12-18T15:34:54+05:30", "2024-12-18T15:34:54-08:00",
             "2024-12-18T15:34:54", "2024-12-18T15:34:54.5", "0001-01-01T00:00:00Z", "1969-12-31T23:59:59.999Z"]
OTHER_TEXTS = ["9999-12-31T23:59:59.9999999Z", "2024-02-30T00:00:00Z", "2024-12-18T24:00:00Z", "2024-12-18 15:34:54Z",
               "12/18/2024 15:34:54", "2024-12-18T15:34Z", "２０２４-12-18T15:34:54Z",
               "2024-12-18T15:34:54.1234567890Z", "[REDACTED]", "2024-12-18t15:34:54z"]


@pytest.mark.parametrize("text", ISO_TEXTS + OTHER_TEXTS)
def test_iso_timestamp_is_to_datetime(text: str) -> None:
    from kit.parse._jsonutil import iso_timestamp, to_utc

    got = iso_timestamp(text)
    if text in ISO_TEXTS:
        expect = pd.to_datetime(text, utc=True)
        assert got == expect and got.unit == expect.unit and got.tz == expect.tz
        assert to_utc(text) == (expect, True)
    else:
        assert got is None
    try:
        expect = pd.to_datetime(text, utc=True)
    except (ValueError, OverflowError):
        assert to_utc(text) == (None, False)
    else:
        assert to_utc(text) == ((None, False) if pd.isna(expect) else (expect, True))


def test_plain_times_are_parse_times() -> None:
    from kit.parse.tcp_probes import _plain_times, parse_time, parse_times

    # (0001-01-01 is left out: beside a value with nanoseconds parse_times fails on it, a pandas limit)
    values = [*(t for t in ISO_TEXTS if not t.startswith("0001")), None, "  ", " 2024-12-18T15:34:54Z "]
    fast = _plain_times(values)
    assert fast is not None
    slow = parse_times(values, source="s", parser="p", issues=[])
    assert [None if pd.isna(v) else v for v in slow] == fast
    assert _plain_times([*values, "12/18/2024 15:34:54"]) is None and _plain_times([1]) is None
    issues: list = []
    assert parse_time("[REDACTED]", source="s", parser="p", issues=issues) is None and len(issues) == 1
    assert parse_time(" 2024-12-18T15:34:54Z", source="s", parser="p", issues=issues) == pd.Timestamp(
        "2024-12-18T15:34:54Z")


def test_has_na_of_each_kind_of_column() -> None:
    from kit.schema import _has_na

    chunked = pd.concat([pd.Series(["a", None], dtype="str"), pd.Series(["b"], dtype="str")], ignore_index=True)
    for arr, expect in ((pd.array(["a", None], dtype="str"), True), (pd.array(["a", "b"], dtype="str"), False),
                        (chunked.array, True), (chunked.array[2:], False), (np.array([1.0, np.nan]), True),
                        (np.array([1, 2]), False), (pd.array([1, None], dtype="Int64"), True),
                        (categorical(["a", None]), True), (categorical(["a"]), False)):
        assert _has_na(arr) is expect or _has_na(arr) == expect, arr


def test_empty_frames_are_independent() -> None:
    a, b = SCHEMA.empty(), SCHEMA.empty()
    a["extra"] = pd.Series([], dtype="str")
    a.attrs["x"] = 1
    assert "extra" not in b.columns and "extra" not in SCHEMA.empty().columns and not SCHEMA.empty().attrs
    assert SCHEMA.check_dtypes(SCHEMA.empty()) == []


_HANDLER_EDGE_CASES = [
    "[4892+00000001] [03/04/2021 20:49:58.30] [INFO] Starting\r\n  continued line\r\n"
    "[4892+00000001] [03/04/2021 20:49:59] [ERROR]   spaced message  \r\n",
    "orphan line\n[12+0000000A] [13/45/2021 20:49:58.30] [WARN] bad date\n",
    "[1234567890123456789+00000001] [03/04/2021 20:49:58.30] [INFO] huge pid\n",
    "VERBOSE: [2015-10-21T08:03:08] hard-wrapped\nline two\nWARNING: [2019-02-19 06:52:17Z] w\n"
    "ERROR: [2019-02-30 06:52:17Z] bad day\nDEBUG: [2019-02-19T06:52:17] d",
    "2020-11-24 22:54:15: <info> [VMExtension]\tStarting\n2020-11-24 22:54:16: <warning> [Global] w\n"
    "2020-11-24 22:54:17: <critical> [Global] c\n2020-11-24 25:54:17: <Fatal> [X] bad hour\n",
    "[00000011] [12/11/2018 06:27:55.66] [WARN] agent style\n2024-01-02T03:04:05.123Z [INFO] iso head\n"
    "{PII_scrubbed} [INFO] pii\n[2024-13-45 99:99] [ERROR] bad\n[INFO]\n[VERBOSE]   \n",
    "plain text 2024-01-02 03:04:05Z\n2024-01-02 03:04:05Z first\n[01/02/2024 03:04:05] bracket mdy\n"
    "2024-01-02T03:04:05.5 no zone\n01/02/2024 3:04:05.123 mdy\nno time at all",
    "just one line without newline",
    "lone\rcarriage\rreturns [1+00000001] [01/02/2024 03:04:05.1] [INFO] x\r",
    "[7+0000000f] [01/02/2024 03:04:05.1] [INFO] ünïcödé ✓ \u2028 sep\n"
    "\u3000[8+0000000F] [1/2/2024 3:04:05] [INFO] y\n",
    "\n\n[9+00000009] [01/02/2024 03:04:05.1] [TRACE] after blanks\n\n",
    "VERBOSE: [2015-10-21T08:03:08] a\n[9+00000009] [01/02/2024 03:04:05.1] [INFO] b\n"
    "2020-11-24 22:54:15: <info> [X]\tc\n[00000011] [12/11/2018 06:27:55.66] [WARN] d\n",
]


def _handler_texts() -> list[tuple[str, str]]:
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = [(f"C/WindowsAzure/Logs/Plugins/A.B/1.0/case{i}.log", t) for i, t in enumerate(_HANDLER_EDGE_CASES)]
    for p in sorted(root.rglob("*.log")):
        if ".git" not in p.parts:
            out.append((p.relative_to(root).as_posix(), p.read_bytes().decode("utf-8", "replace")))
    return out


def test_handler_log_small_path_is_the_arrow_path() -> None:
    from kit.parse import handler_log as hl
    from kit.parse._logcore import split_lines

    texts = _handler_texts()
    assert len(texts) > 40
    for source, text in texts:
        lines = split_lines(text)
        if not len(lines):
            continue
        small = hl._result(text, source, lines, hl._heads_python(lines))
        arrow = hl._result(text, source, lines, hl._heads_arrow(lines))
        pd.testing.assert_frame_equal(small.frames["handler_log"], arrow.frames["handler_log"], obj=source)
        assert small.issues == arrow.issues, source
    layouts = set()
    for source, text in texts[:len(_HANDLER_EDGE_CASES)]:
        layouts |= set(hl.parse(text, source=source).frames["handler_log"]["layout"].astype(str))
    assert layouts == {"bracketed", "dsc", "agent", "akvvm", "plain"}


def test_handler_log_long_files_take_the_arrow_path(monkeypatch: pytest.MonkeyPatch) -> None:
    from kit.parse import handler_log as hl

    text = "[1+00000001] [01/02/2024 03:04:05.1] [INFO] x\n" * (hl.SMALL_LINES + 1)
    monkeypatch.setattr(hl, "_heads_python", None)  # would fail if called
    assert len(hl.parse(text, source="x.log").frames["handler_log"]) == hl.SMALL_LINES + 1


def test_mdy_ns_is_parse_mdy() -> None:
    import itertools

    import pyarrow as pa

    from kit.parse._logcore import NAT, ns_of, parse_mdy
    from kit.parse.handler_log import _mdy_ns

    grid = [f"{mo}/{d}/{y} {h}:{mi}:{s}{f}" for mo, d, y, h, mi, s, f in itertools.product(
        ["1", "01", "2", "02", "9", "10", "12", "0", "13"], ["1", "01", "9", "28", "29", "30", "31", "0", "32"],
        ["1678", "2000", "2023", "2024", "2261"], ["0", "00", "9", "23", "24"], ["00", "59", "60"],
        ["00", "59", "60", "61"], ["", ".3", ".30", ".123456", ".1234567", ".123456789", ".1234567890", "."])]
    ref = ns_of(parse_mdy, pa.array(grid, type=pa.large_string()))
    taken = 0
    for v, r in zip(grid, ref.tolist(), strict=True):
        fast = _mdy_ns([v])
        if fast is not None:
            taken += 1
            assert fast[0] == r and r != NAT, v
    assert taken > 20_000  # every valid combination of the grid (the rest: pandas decides)
    assert _mdy_ns(["03/04/2021 20:49:58.30", None]).tolist() == ns_of(parse_mdy, pa.array(
        ["03/04/2021 20:49:58.30", None], type=pa.large_string())).tolist()
    for outside in ("1/1/1677 00:00:00", "12/31/2262 00:00:00", "2/29/2023 00:00:00", "1/1/2000 00:00:00 ", "x"):
        assert _mdy_ns(["1/1/2000 00:00:00", outside]) is None, outside


def test_cached_norm_is_norm() -> None:
    from kit.parse._localized import norm

    for text in ("Network Destination", "  Netzwerkziel :", "ＩＰｖ４ アドレス：", "Passerelle\u00a0 :", "x"):
        assert norm(text) == norm.__wrapped__(text)
        assert norm(text) == norm(text)


def _pathlib_listing(root):  # FolderSource.list as it was written with pathlib (the reference)
    import os
    import stat
    from pathlib import Path

    out, refused = [], []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        for d in list(dirnames):
            p = base / d
            if p.is_symlink():
                dirnames.remove(d)
                refused.append((p.relative_to(root).as_posix(), "a link to a folder: not followed"))
        for f in filenames:
            p = base / f
            rel = p.relative_to(root).as_posix()
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode):
                refused.append((rel, "a symbolic link: not followed"))
            elif not stat.S_ISREG(st.st_mode):
                refused.append((rel, "not a regular file (pipe, device or socket): not read"))
            else:
                out.append((rel, st.st_size))
    return sorted(out), refused


def test_folder_listing_is_the_pathlib_listing(tmp_path) -> None:
    import os

    from kit.bundle.sources import FolderSource

    (tmp_path / "C" / "Logs" / "deep").mkdir(parents=True)
    (tmp_path / "C" / "Logs" / "WaAppAgent.log").write_text("x" * 10)
    (tmp_path / "C" / "Logs" / "deep" / "a b.txt").write_text("yy")
    (tmp_path / "manifest.json").write_text("{}")
    (tmp_path / "ünï.txt").write_text("z")
    os.symlink(tmp_path / "manifest.json", tmp_path / "C" / "link.json")
    os.symlink(tmp_path / "C" / "Logs", tmp_path / "C" / "dirlink")
    os.mkfifo(tmp_path / "C" / "pipe")
    for root in (tmp_path, tmp_path / "C", tmp_path / "C" / "Logs" / ".."):
        src = FolderSource(root)
        entries = src.list()
        expect, refused = _pathlib_listing(root)
        assert [(e.path, e.size) for e in entries] == expect
        assert src.refused == refused
    assert len(expect) == 2 and len(refused) == 3
