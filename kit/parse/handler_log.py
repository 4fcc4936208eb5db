"""Extension handler logs: ``C/WindowsAzure/Logs/Plugins/<Publisher.Type>/<version>/*.log`` (formats doc §3, §6.4).

Layouts, decided per line (a file may mix them):

* ``bracketed`` - ``[PID+TID] [MM/DD/YYYY HH:MM:SS.ff] [LEVEL] message`` (RunCommand, CustomScriptHandler, ...);
  multi-line entries (a PublicSettings script dump) belong to the record above;
* ``dsc`` - ``VERBOSE: [2015-10-21T08:03:08] message`` or ``VERBOSE: [2019-02-19 06:52:17Z] message``, hard-wrapped
  at ~80 columns with un-prefixed continuation lines;
* ``agent`` - agent-style heads (``[00000011] [12/11/2018 06:27:55.66] [WARN] ...``) written by some handlers;
* ``akvvm`` - the Key Vault extension's service log (``akvvm_service_<date>.log``):
  ``2020-11-24 22:54:15: <info> [VMExtension]\tStarting extension`` - zone-less time, lower-case level in angle
  brackets, the component in square brackets, a tab (the formats doc is silent; these are the lines quoted in
  MicrosoftDocs/azure-docs issues #66632 and #109667). The message keeps the ``[Component]`` and the tab;
* ``plain`` - anything else: one record per line, with a leading ISO or US time stamp when there is one.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..schema import LINE, SOURCE, Col, FrameSchema, categorical, level_dtype, str_array
from ._identity import from_path
from ._logcore import MDY, NAT, Folded, fold, group, ns_of, parse_iso, parse_mdy, split_lines
from .agent_log import HEAD as AGENT_HEAD
from .base import ParseIssue, ParseResult

NAME = "handler_log"
DESCRIPTION = "Extension handler logs under C:\\WindowsAzure\\Logs\\Plugins."
PATTERNS = ("c/windowsazure/logs/plugins/*/*/*.log", "c/windowsazure/logs/plugins/*/*.log")

BRACKETED = (rf"^\[(?P<pid>\d+)\+(?P<tid>[0-9A-Fa-f]{{8}})\][ \t]+\[(?P<mdy>{MDY})\][ \t]+"
             r"\[(?P<level>[A-Z]{3,8})\](?P<msg>.*)$")
#: The formats doc (§6.4) quotes only VERBOSE lines; the other PowerShell stream prefixes are accepted in the same
#: shape (the doc is silent on them), mapped to the kit's level names.
DSC = r"^(?P<level>VERBOSE|WARNING|ERROR|DEBUG): \[(?P<dts>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}Z?)\](?P<msg>.*)$"
AKVVM = (r"^(?P<kts>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}): <(?P<klevel>[A-Za-z]{3,8})> "
         r"(?P<msg>\[[^\]\t]*\].*)$")
PLAIN_TS = rf"^(?P<iso>\d{{4}}-\d{{2}}-\d{{2}}[T ]\d{{2}}:\d{{2}}:\d{{2}}(?:\.\d+)?Z?)|^\[?(?P<mdy>{MDY})\]?"

HANDLER_LOG = FrameSchema(
    "handler_log",
    "One row per extension handler log record, from every log under C:\\WindowsAzure\\Logs\\Plugins.",
    (
        SOURCE,
        LINE,
        Col("end_line", "Int64", "Last line of the record.", False),
        Col("extension", "str", "Publisher.Type from the path (C/WindowsAzure/Logs/Plugins/<ext>/<ver>/...), NA "
            "when the file is not in that layout."),
        Col("ext_version", "str", "Handler version from the path."),
        Col("file", "str", "File name.", False),
        Col("layout", "category", "bracketed, dsc, agent, akvvm (Key Vault extension service log) or plain.", False),
        Col("pid", "Int64", "Handler process id ([PID+TID] layout)."),
        Col("thread", "str", "Thread id as written."),
        Col("ts", "datetime", "Record time, UTC; zone-less stamps read as UTC unchanged."),
        Col("ts_raw", "str", "The time stamp as written."),
        Col("ts_assumed_utc", "bool", "True when the stamp had no zone.", False),
        Col("level", "level", "Level tag (DSC VERBOSE/WARNING/ERROR map to VERBOSE/WARN/ERROR; UNKNOWN for plain)."),
        Col("message", "str", "Head line after the level tag.", False),
        Col("text", "str", "The whole record, lines joined with \\n.", False),
        Col("n_lines", "int64", "Physical lines in the record.", False),
        Col("damaged", "bool", "Could not be read cleanly (see damage).", False),
        Col("damage", "str", "Why it is flagged."),
    ),
)
FRAMES = {"handler_log": HANDLER_LOG}


def sniff(head: str) -> bool:
    lines = [ln for ln in head.splitlines()[:200] if ln.strip()]
    if not lines:
        return False
    hits = sum(1 for ln in lines if re.match(BRACKETED, ln) or re.match(DSC, ln) or re.match(AKVVM, ln))
    return hits >= max(1, len(lines) // 5)


#: Files of at most this many lines are matched line by line with Python's ``re`` (:func:`_heads_python`): each Arrow
#: regex call compiles its RE2 pattern anew and each compute call costs ~10-40 us, ~3 ms for a log of ten lines (most
#: handler logs); longer files take the vectorised Arrow path (:func:`_heads_arrow`; the two cost the same near 800
#: lines). Both give the same columns (tests/test_parsefast.py runs both on every .log in the repository).
SMALL_LINES = 500
#: The head patterns for Python's ``re``: ASCII ``\d`` as RE2's; every pattern is anchored with ``^`` and lines hold
#: no line break, so ``search`` finds what Arrow's ``extract_regex`` finds.
_PY = {k: re.compile(v, re.ASCII) for k, v in (("b", BRACKETED), ("d", DSC), ("a", AGENT_HEAD), ("k", AKVVM),
                                                ("p", PLAIN_TS))}


@dataclass
class _Heads:
    """What each record's head line says, as Arrow arrays (NumPy for flags and times), one value per record."""

    rec: Folded
    plain_file: bool
    layout: list[str]
    pid_text: pa.Array
    pid_ok: np.ndarray
    pid: pa.Array
    thread: pa.Array
    ts: np.ndarray
    raw: pa.Array
    assumed: np.ndarray
    level: pa.Array
    msg: pa.Array
    first_lines: pa.Array


def _dsc_time(v: pd.Series) -> pd.Series:
    return pd.to_datetime(v.str.replace(" ", "T", n=1).str.rstrip("Z"), format="%Y-%m-%dT%H:%M:%S", errors="coerce",
                          utc=True)


def _kv_time(v: pd.Series) -> pd.Series:
    return pd.to_datetime(v, format="%Y-%m-%d %H:%M:%S", errors="coerce", utc=True)


def parse(text: str, *, source: str) -> ParseResult:
    lines = split_lines(text)
    n = len(lines)
    if n == 0:
        return ParseResult({NAME: HANDLER_LOG.empty()}, [])
    h = _heads_python(lines) if n <= SMALL_LINES else _heads_arrow(lines)
    return _result(text, source, lines, h)


def _heads_arrow(lines: pa.Array) -> _Heads:
    n = len(lines)
    br = pc.extract_regex(lines, BRACKETED)
    ds = pc.extract_regex(lines, DSC)
    ag = pc.extract_regex(lines, AGENT_HEAD)
    kv = pc.extract_regex(lines, AKVVM)
    is_br, is_ds, is_ag, is_kv = (np.asarray(x.is_valid()) for x in (br, ds, ag, kv))
    structured = is_br | is_ds | is_ag | is_kv
    # Plain-text fallback: when a file has no structured head at all, every line is a record.
    plain_file = not structured.any()
    is_head = np.ones(n, dtype=bool) if plain_file else structured
    rec = fold(lines, is_head)
    idx = rec.start
    b, d, a, k = br.take(idx), ds.take(idx), ag.take(idx), kv.take(idx)
    hb, hd, ha = is_br[idx], is_ds[idx], is_ag[idx] & ~is_br[idx]
    hk = is_kv[idx] & ~(hb | hd | ha)

    layout = np.where(hb, "bracketed", np.where(hd, "dsc", np.where(ha, "agent", np.where(hk, "akvvm", "plain"))))
    # Columns are assembled as Arrow arrays (one vectorised choice per layout) and become pandas columns once, at
    # the end: pandas' per-call overhead, not the data, was most of the time on the usual small handler logs.
    mb, md, mk = pa.array(hb), pa.array(hd), pa.array(hk)
    pid_text = group(b, "pid")
    pid_ok = pc.fill_null(pc.less_equal(pc.utf8_length(pid_text), 18), True)  # longer digit runs overflow int64
    pid = pc.cast(pc.if_else(pid_ok, pid_text, pa.scalar(None, pid_text.type)), pa.int64())
    thread = pc.if_else(mb, group(b, "tid"), group(a, "tid"))
    mdy_raw = pc.if_else(mb, group(b, "mdy"), group(a, "mdy"))
    iso_raw = group(a, "iso")
    dsc_raw = group(d, "dts")
    dsc_level = pc.replace_substring_regex(group(d, "level"), "^WARNING$", "WARN")  # the only DSC word renamed
    level = pc.if_else(mb, group(b, "level"), pc.if_else(md, dsc_level, group(a, "level")))
    msg = pc.if_else(mb, group(b, "msg", empty_is_na=False), pc.if_else(
        md, group(d, "msg", empty_is_na=False), group(a, "msg", empty_is_na=False)))
    if hk.any():
        # lower-case level words: warning/warn -> WARN, critical/fatal -> FATAL, any other word upper-cased
        kv_level = pc.replace_substring_regex(pc.replace_substring_regex(
            pc.utf8_upper(group(k, "klevel")), "^WARNING$", "WARN"), "^CRITICAL$", "FATAL")
        level = pc.if_else(mk, kv_level, level)
        msg = pc.if_else(mk, group(k, "msg", empty_is_na=False), msg)

    has_mdy = np.asarray(mdy_raw.is_valid())
    ts = np.where(has_mdy, ns_of(parse_mdy, mdy_raw), ns_of(parse_iso, iso_raw))
    raw = pc.coalesce(mdy_raw, iso_raw)
    if hd.any():
        ts = np.where(hd, ns_of(_dsc_time, dsc_raw), ts)
        raw = pc.if_else(md, dsc_raw, raw)
    assumed = has_mdy | (hd & ~np.asarray(pc.fill_null(pc.ends_with(dsc_raw, "Z"), False)))
    if hk.any():
        kv_raw = group(k, "kts")
        ts = np.where(hk, ns_of(_kv_time, kv_raw), ts)
        raw = pc.if_else(mk, kv_raw, raw)
        assumed = assumed | hk

    first_lines = lines.take(pa.array(idx))
    if plain_file:
        pm = pc.extract_regex(first_lines, PLAIN_TS)
        p_iso, p_mdy = group(pm, "iso"), group(pm, "mdy")
        has_iso = np.asarray(p_iso.is_valid())
        ts = np.where(has_iso, ns_of(parse_iso, pc.replace_substring(p_iso, " ", "T", max_replacements=1)),
                      ns_of(parse_mdy, p_mdy))
        raw = pc.coalesce(p_iso, p_mdy)
        assumed = np.asarray(p_mdy.is_valid()) | (has_iso & ~np.asarray(pc.fill_null(pc.ends_with(p_iso, "Z"),
                                                                                      False)))
    return _Heads(rec, plain_file, layout.tolist(), pid_text, np.asarray(pid_ok), pid, thread, ts, raw, assumed,
                  level, msg, first_lines)


_SIMPLE_MDY = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4}) ([0-9]{1,2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?")


def _mdy_ns(values: list[str | None]) -> np.ndarray | None:
    """``ns_of(parse_mdy, values)`` when every value is missing or a valid ``M/D/YYYY H:MM:SS[.f]`` time of 1678-2261
    (else None: the caller asks pandas), computed in Python: ``to_datetime`` with a format costs ~0.3 ms a call,
    most of the time spent on a log of a few lines. Same rules as pandas' ``%m/%d/%Y %H:%M:%S.%f``: 1-2 digit
    fields within their ranges, a real day of that month, up to 9 fraction digits (nanoseconds)."""
    out = np.full(len(values), NAT, dtype=np.int64)
    for i, v in enumerate(values):
        if v is None:
            continue
        m = _SIMPLE_MDY.fullmatch(v)
        if m is None:
            return None
        mo, d, y, hh, mi, ss = (int(x) for x in m.groups()[:6])
        if not (1678 <= y <= 2261 and 1 <= mo <= 12 and 1 <= d <= calendar.monthrange(y, mo)[1] and hh <= 23
                and mi <= 59 and ss <= 59):
            return None
        frac = m.group(7) or ""
        out[i] = calendar.timegm((y, mo, d, hh, mi, ss)) * 1_000_000_000 + int(frac.ljust(9, "0"))
    return out


def _g(m: re.Match[str] | None, name: str, empty_is_na: bool = True) -> str | None:
    """A named group as :func:`kit.parse._logcore.group` reads Arrow's: null without a match; RE2 reports a group
    that took no part as an empty string, which is null too unless ``empty_is_na`` is False."""
    if m is None:
        return None
    v = m.group(name) or ""
    return None if empty_is_na and not v else v


def _heads_python(lines: pa.Array) -> _Heads:
    """:func:`_heads_arrow` for a short file, line by line: the same choices, in the same order, on Python strings."""
    n = len(lines)
    text_lines = lines.to_pylist()
    br, ds, ag, kv = ([p.search(t) for t in text_lines] for p in (_PY["b"], _PY["d"], _PY["a"], _PY["k"]))
    structured = np.fromiter((x is not None or y is not None or z is not None or w is not None
                              for x, y, z, w in zip(br, ds, ag, kv, strict=True)), bool, n)
    plain_file = not structured.any()
    rec = fold(lines, np.ones(n, dtype=bool) if plain_file else structured)
    layout, pid_text, pid_ok, pid, thread, mdy_raw, iso_raw, dsc_raw, kv_raw = [], [], [], [], [], [], [], [], []
    level, msg, hd, hk, first = [], [], [], [], []
    for i in rec.start.tolist():
        b, d, a, k = br[i], ds[i], ag[i], kv[i]
        is_b, is_d = b is not None, d is not None
        is_a = a is not None and not is_b
        is_k = k is not None and not (is_b or is_d or is_a)
        layout.append("bracketed" if is_b else "dsc" if is_d else "agent" if is_a else "akvvm" if is_k else "plain")
        p = _g(b, "pid")
        ok = p is None or len(p) <= 18  # longer digit runs overflow int64
        pid_text.append(p)
        pid_ok.append(ok)
        pid.append(int(p) if p is not None and ok else None)
        thread.append(_g(b, "tid") if is_b else _g(a, "tid"))
        mdy_raw.append(_g(b, "mdy") if is_b else _g(a, "mdy"))
        iso_raw.append(_g(a, "iso"))
        dsc_raw.append(_g(d, "dts"))
        dsc_level = _g(d, "level")
        lv = _g(b, "level") if is_b else ("WARN" if dsc_level == "WARNING" else dsc_level) if is_d else _g(a, "level")
        m = _g(b, "msg", False) if is_b else _g(d, "msg", False) if is_d else _g(a, "msg", False)
        if is_k:
            kl = _g(k, "klevel")
            kl = None if kl is None else kl.upper()
            lv = "WARN" if kl == "WARNING" else "FATAL" if kl == "CRITICAL" else kl
            m = _g(k, "msg", False)
        kv_raw.append(_g(k, "kts"))
        level.append(lv)
        msg.append(m)
        hd.append(is_d)
        hk.append(is_k)
        first.append(text_lines[i])

    def arrow(values: list) -> pa.Array:
        return pa.array(values, type=pa.large_string())

    hd_, hk_ = np.array(hd, dtype=bool), np.array(hk, dtype=bool)
    mdy = arrow(mdy_raw)
    has_mdy = np.asarray(mdy.is_valid())
    mdy_ns = _mdy_ns(mdy_raw)
    ts = np.where(has_mdy, ns_of(parse_mdy, mdy) if mdy_ns is None else mdy_ns, ns_of(parse_iso, arrow(iso_raw)))
    raw = [x if x is not None else y for x, y in zip(mdy_raw, iso_raw, strict=True)]
    if hd_.any():
        ts = np.where(hd_, ns_of(_dsc_time, arrow(dsc_raw)), ts)
        raw = [d if is_d else r for d, is_d, r in zip(dsc_raw, hd, raw, strict=True)]
    assumed = has_mdy | (hd_ & np.array([d is None or not d.endswith("Z") for d in dsc_raw], dtype=bool))
    if hk_.any():
        ts = np.where(hk_, ns_of(_kv_time, arrow(kv_raw)), ts)
        raw = [k if is_k else r for k, is_k, r in zip(kv_raw, hk, raw, strict=True)]
        assumed = assumed | hk_
    if plain_file:
        pm = [_PY["p"].search(t) for t in first]
        p_iso, p_mdy = [_g(x, "iso") for x in pm], [_g(x, "mdy") for x in pm]
        has_iso = np.array([x is not None for x in p_iso], dtype=bool)
        mdy_ns = _mdy_ns(p_mdy)
        ts = np.where(has_iso, ns_of(parse_iso, arrow([None if x is None else x.replace(" ", "T", 1) for x in p_iso])),
                      ns_of(parse_mdy, arrow(p_mdy)) if mdy_ns is None else mdy_ns)
        raw = [x if x is not None else y for x, y in zip(p_iso, p_mdy, strict=True)]
        assumed = (np.array([x is not None for x in p_mdy], dtype=bool)
                   | (has_iso & np.array([x is None or not x.endswith("Z") for x in p_iso], dtype=bool)))
    return _Heads(rec, plain_file, layout, arrow(pid_text), np.array(pid_ok, dtype=bool), pa.array(pid, pa.int64()),
                  arrow(thread), ts, arrow(raw), assumed, arrow(level), arrow(msg), arrow(first))


def _result(text: str, source: str, lines: pa.Array, h: _Heads) -> ParseResult:
    n = len(lines)
    rec, plain_file, raw, pid_text, first_lines = h.rec, h.plain_file, h.raw, h.pid_text, h.first_lines
    idx, ts, pid = rec.start, h.ts, h.pid
    nrec = len(idx)
    damage: list[str | None] = [None] * nrec
    issues: list[ParseIssue] = []
    bad_ts = np.asarray(raw.is_valid()) & (ts == NAT)
    for i in np.flatnonzero(bad_ts):
        _add(damage, i, "unreadable time stamp")
        issues.append(ParseIssue(source, int(idx[i]) + 1, "bad-timestamp",
                                 f"time stamp {raw[i].as_py()!r} is not a valid date and time (expected MM/DD/YYYY "
                                 "HH:MM:SS.ff or YYYY-MM-DD[T ]HH:MM:SS[Z])", text=_line(first_lines, i)[:300],
                                 parser=NAME))
    for i in np.flatnonzero(~h.pid_ok):
        _add(damage, i, "unreadable process id")
        issues.append(ParseIssue(source, int(idx[i]) + 1, "bad-pid", f"process id {pid_text[i].as_py()[:40]!r} is "
                                 "not a number a process can have (expected up to 10 digits, as in '[4892+00000001]')",
                                 text=_line(first_lines, i)[:300], parser=NAME))
    if not plain_file and not rec.head_of[0]:
        _add(damage, 0, "continuation lines before the first record head (file starts mid-record or is a pasted "
             "fragment)")
        issues.append(ParseIssue(source, 1, "orphan-lines", f"{int(rec.end[0]) + 1} line(s) before the first record "
                                 "head; expected a head like '[4892+00000001] [03/04/2021 20:49:58.30] [INFO] ...', "
                                 "'VERBOSE: [2015-10-21T08:03:08] ...' or '2020-11-24 22:54:15: <info> [Global] ...'",
                                 text=_line(first_lines, 0)[:300], parser=NAME))
    if not text.endswith(("\n", "\r")):
        last = lines[n - 1].as_py()
        if plain_file:
            # Free text (a script's own output) often simply lacks the final line break: not damage by itself.
            issues.append(ParseIssue(source, n, "no-final-newline", "expected the file to end with a line break; "
                                     "found none (the last line is kept as it is)", text=last[:300], parser=NAME))
        else:
            # Handlers end every entry with a line break: without one the last entry was cut mid-write or mid-copy.
            _add(damage, nrec - 1, "file ends mid-line (no final line break: the last line may be cut)")
            issues.append(ParseIssue(source, n, "truncated-line", "expected every line to end with a line break; "
                                     "found the file ending in the middle of its last line", text=last[:300],
                                     parser=NAME))

    ext, ver = from_path(source)
    # one frame from the columns in schema order (str_array, assemble: fewer pandas calls for the usual small logs)
    df = HANDLER_LOG.assemble([
        str_array([source] * nrec),  # source
        pd.arrays.IntegerArray(idx + 1, np.zeros(nrec, dtype=bool)),  # line
        pd.arrays.IntegerArray(rec.end + 1, np.zeros(nrec, dtype=bool)),  # end_line
        str_array([ext] * nrec),  # extension
        str_array([ver] * nrec),  # ext_version
        str_array([source.replace("\\", "/").rsplit("/", 1)[-1]] * nrec),  # file
        categorical(h.layout),  # layout
        pd.arrays.IntegerArray(np.asarray(pc.fill_null(pid, 0)), np.asarray(pid.is_null())),  # pid
        str_array(h.thread),  # thread
        pd.array(ts.view("M8[ns]")).tz_localize("UTC"),  # ts
        str_array(raw),  # ts_raw
        h.assumed,  # ts_assumed_utc
        _levels(h.level),  # level
        str_array(pc.coalesce(pc.utf8_trim_whitespace(h.msg), first_lines)),  # message
        str_array(rec.text),  # text
        rec.end - rec.start + 1,  # n_lines
        np.array([d is not None for d in damage], dtype=bool),  # damaged
        str_array(damage),  # damage
    ])
    if HANDLER_LOG.check_dtypes(df):  # built in the schema's dtypes already; coerce only as a safety net
        df = HANDLER_LOG.coerce(df)
    return ParseResult({NAME: df}, issues)


def _levels(level: pa.Array) -> pd.Categorical:
    """The level column: the tags as written, UNKNOWN where a record has none, in the ordered level dtype."""
    values = pc.fill_null(level, "UNKNOWN")
    return categorical(values.to_pylist(), level_dtype(pc.unique(values).to_pylist()))


def _line(lines: pa.Array, i: int) -> str:
    return str(lines[i].as_py())


def _add(damage: list[str | None], i: int, why: str) -> None:
    """Add a damage reason to record ``i`` (reasons accumulate, separated by "; ")."""
    damage[i] = why if damage[i] is None else f"{damage[i]}; {why}"


def combine(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate per-file frames; within one extension, files in time order (rotated siblings)."""
    frames = [f for f in frames if not f.empty] or frames[:1]
    if not frames:
        return HANDLER_LOG.empty()

    def key(f: pd.DataFrame) -> tuple:  # on the columns' arrays: dropna and iloc cost ~0.1 ms a file
        ts = f["ts"].array
        valid = np.flatnonzero(~ts.isna())
        ext = f["extension"].array[0]
        return (str(ext) if isinstance(ext, str) else "~",
                ts[valid[0]] if len(valid) else pd.Timestamp.max.tz_localize("UTC"), str(f["source"].array[0]))

    return HANDLER_LOG.concat(sorted(frames, key=key))
