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

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..schema import LINE, SOURCE, Col, FrameSchema
from ._logcore import ISO, MDY, col, fold, parse_iso, parse_mdy, split_lines
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
#: A line that starts like a head (thread id) but is not one: a head cut or mangled.
_BROKEN_HEAD = r"^\[[0-9A-Fa-f]{8}\]"

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


#: The current agent's layout, in full: checked without captures (RE2's fast DFA), then cut at fixed positions.
_FAST = r"^\[[0-9A-Fa-f]{8}\] \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z \[[A-Z]{3,8}\]"
_FIELDS = ("tid", "mdy", "iso", "pii", "bad", "level", "msg")


def _find_heads(lines: pa.Array):
    """Which lines are record heads, and a function giving the head fields of chosen lines.

    Lines in the current agent layout are cut at fixed positions; only the others go through the full regex
    with its capture groups (the slow part of regex matching)."""
    n = len(lines)
    bracket = np.asarray(pc.starts_with(lines, "["))  # every head starts with "[" (tid, time or level)
    cand = np.flatnonzero(bracket)
    fast = np.zeros(n, dtype=bool)
    fast[cand] = np.asarray(pc.match_substring_regex(lines.take(pa.array(cand)), _FAST))
    fast_idx, gen_idx = np.flatnonzero(fast), np.flatnonzero(bracket & ~fast)
    fl = lines.take(pa.array(fast_idx))
    rest = pc.utf8_slice_codeunits(fl, 36, 1 << 40)
    parts = pc.split_pattern(rest, "]", max_splits=1)
    none = pa.nulls(len(fl), fl.type)
    fast_struct = pa.StructArray.from_arrays(
        [pc.utf8_slice_codeunits(fl, 1, 9), none, pc.utf8_slice_codeunits(fl, 11, 35), none, none,
         pc.utf8_slice_codeunits(pc.list_element(parts, 0), 1, 64), pc.list_element(parts, 1)], names=_FIELDS)
    gen = pc.extract_regex(lines.take(pa.array(gen_idx)), HEAD) if len(gen_idx) else None
    is_head = fast.copy()
    del rest, parts
    if gen is not None:
        is_head[gen_idx] = np.asarray(gen.is_valid())
        gen = pa.StructArray.from_arrays([gen.field(f).cast(fl.type) for f in _FIELDS], names=_FIELDS,
                                         mask=pc.invert(gen.is_valid()))
        both = pa.concat_arrays([fast_struct, gen])
    else:
        both = fast_struct
    pos = np.full(n, -1, dtype=np.int64)
    pos[fast_idx] = np.arange(len(fast_idx))
    pos[gen_idx] = len(fast_idx) + np.arange(len(gen_idx))

    def heads_of(line_idx: np.ndarray) -> pa.Array:
        p = pos[line_idx]
        return both.take(pa.array(p, mask=p < 0))  # lines that are not heads (an orphan record) give nulls

    return is_head, heads_of


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
    lines = split_lines(text)
    n = len(lines)
    if n == 0:
        return ParseResult({NAME: AGENT_LOG.empty()}, [])
    is_head, heads_of = _find_heads(lines)
    rec = fold(lines, is_head)
    idx = rec.start
    heads = heads_of(idx)
    tid, mdy, iso, pii, bad = (col(heads, k) for k in ("tid", "mdy", "iso", "pii", "bad"))
    level = col(heads, "level")
    msg = col(heads, "msg", empty_is_na=False).str.strip()
    nrec = len(idx)

    has_mdy, has_iso = mdy.notna().to_numpy(), iso.notna().to_numpy()
    ts = parse_mdy(mdy).where(has_mdy, parse_iso(iso))
    raw = mdy.where(has_mdy, iso).where(has_mdy | has_iso, pii).where(has_mdy | has_iso | pii.notna().to_numpy(),
                                                                      bad.str.strip("[]"))
    style = pd.Series(pd.NA, index=range(nrec), dtype="object")
    style[has_mdy] = "mdy-hundredths"
    style[has_iso & iso.str.contains(".", regex=False).fillna(False).to_numpy()] = "iso-millis-z"
    style[has_iso & ~iso.str.contains(".", regex=False).fillna(False).to_numpy()] = "iso-seconds-z"
    style[pii.notna().to_numpy()] = "scrubbed"

    damage = pd.Series(pd.NA, index=range(nrec), dtype="object")
    issues: list[ParseIssue] = []
    line_no = idx + 1
    bad_ts = (has_mdy | has_iso) & ts.isna().to_numpy() | bad.notna().to_numpy()
    for i in np.flatnonzero(bad_ts):
        damage[i] = "unreadable time stamp"
        issues.append(ParseIssue(source, int(line_no[i]), "bad-timestamp",
                                 f"time stamp {raw[i]!r} is not a valid date in the expected layouts "
                                 "(MM/DD/YYYY HH:MM:SS.ff or YYYY-MM-DDTHH:MM:SS[.fff]Z)", text=str(rec.text[i])[:300],
                                 parser=NAME))
    for i in np.flatnonzero(pii.notna().to_numpy()):
        damage[i] = f"time stamp replaced by a PII scrubber ({pii[i]})"
    if not rec.head_of[0]:
        damage[0] = "lines before the first record head (file starts mid-record or is a pasted fragment)"
        issues.append(ParseIssue(source, 1, "orphan-lines",
                                 f"{int(rec.end[0]) + 1} line(s) before the first record head; expected a head like "
                                 "'[00000011] [12/11/2018 06:27:55.66] [WARN] ...'", text=lines[0].as_py()[:300],
                                 parser=NAME))
    broken = np.asarray(pc.match_substring_regex(lines, _BROKEN_HEAD)) & ~is_head
    if broken.any():
        rec_of_line = np.cumsum(is_head) - (1 if rec.head_of[0] else 0)
        for li in np.flatnonzero(broken)[:1000]:
            r = int(rec_of_line[li])
            damage[r] = "contains a malformed record head (kept as a continuation line)"
            issues.append(ParseIssue(source, int(li) + 1, "malformed-head",
                                     "line starts with a thread id but is not a complete record head "
                                     "'[tid] <time stamp> [LEVEL] message'", text=lines[int(li)].as_py()[:300],
                                     parser=NAME))
    if not text.endswith(("\n", "\r")):
        # The agent ends every line with CRLF: a file without a final line break was cut (copied while being
        # written, truncated by a size cap, pasted partly). The last record is kept and flagged.
        damage[nrec - 1] = "file ends without a line break: the last line may be cut"
        issues.append(ParseIssue(source, n, "truncated-line", "the file ends in the middle of a line (no final line "
                                 "break)", text=lines[n - 1].as_py()[:300], parser=NAME))

    lvl = level.fillna("UNKNOWN")
    texts = pd.Series(rec.text.to_pandas(types_mapper=pd.ArrowDtype)).astype("str")
    df = pd.DataFrame({
        "source": pd.Series([source] * nrec, dtype="str"),
        "line": line_no,
        "end_line": rec.end + 1,
        "log": log_family(source),
        "ts": ts,
        "ts_raw": raw,
        "ts_style": style,
        "ts_assumed_utc": has_mdy,
        "thread": tid,
        "level": lvl,
        "message": msg.where(msg.notna(), texts.where(msg.isna()).str.split("\n", n=1).str[0]) if msg.isna().any()
        else msg,
        "text": texts,
        "n_lines": rec.end - rec.start + 1,
        "damaged": damage.notna().to_numpy(),
        "damage": damage,
    })
    return ParseResult({NAME: AGENT_LOG.coerce(df)}, issues)


def combine(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate per-file frames (rotated logs) in time order: files ordered by their first valid time
    stamp (files without one go last, by name), lines kept in file order."""
    frames = [f for f in frames if not f.empty] or frames[:1]
    if not frames:
        return AGENT_LOG.empty()

    def key(f: pd.DataFrame) -> tuple:
        first = f["ts"].dropna()
        return (first.iloc[0] if not first.empty else pd.Timestamp.max.tz_localize("UTC"), str(f["source"].iloc[0]))

    return AGENT_LOG.coerce(pd.concat(sorted(frames, key=key), ignore_index=True))
