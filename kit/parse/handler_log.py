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

import re

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from ..schema import LINE, SOURCE, Col, FrameSchema
from ._logcore import MDY, col, fold, parse_iso, parse_mdy, split_lines
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
_KV_LEVEL = {"debug": "DEBUG", "info": "INFO", "warning": "WARN", "warn": "WARN", "error": "ERROR",
             "fatal": "FATAL", "critical": "FATAL", "trace": "TRACE", "verbose": "VERBOSE"}
PLAIN_TS = rf"^(?P<iso>\d{{4}}-\d{{2}}-\d{{2}}[T ]\d{{2}}:\d{{2}}:\d{{2}}(?:\.\d+)?Z?)|^\[?(?P<mdy>{MDY})\]?"
_PATH = re.compile(r"c/windowsazure/logs/plugins/([^/]+)/([^/]+)/[^/]+$", re.IGNORECASE)
_DSC_LEVEL = {"VERBOSE": "VERBOSE", "WARNING": "WARN", "ERROR": "ERROR", "DEBUG": "DEBUG"}

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


def parse(text: str, *, source: str) -> ParseResult:
    lines = split_lines(text)
    n = len(lines)
    if n == 0:
        return ParseResult({NAME: HANDLER_LOG.empty()}, [])
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
    nrec = len(idx)
    b, d, a, k = br.take(idx), ds.take(idx), ag.take(idx), kv.take(idx)
    hb, hd, ha = is_br[idx], is_ds[idx], is_ag[idx] & ~is_br[idx]
    hk = is_kv[idx] & ~(hb | hd | ha)

    layout = np.where(hb, "bracketed", np.where(hd, "dsc", np.where(ha, "agent", np.where(hk, "akvvm", "plain"))))
    pid = pd.to_numeric(col(b, "pid"), errors="coerce").astype("Int64")
    thread = col(b, "tid").where(hb, col(a, "tid"))
    mdy_raw = col(b, "mdy").where(hb, col(a, "mdy"))
    iso_raw = col(a, "iso")
    dsc_raw = col(d, "dts")
    level = col(b, "level").where(hb, col(d, "level").map(_DSC_LEVEL).astype("str").where(hd, col(a, "level")))
    msg = col(b, "msg", empty_is_na=False).where(hb, col(d, "msg", empty_is_na=False).where(
        hd, col(a, "msg", empty_is_na=False)))
    if hk.any():
        kv_level = col(k, "klevel").str.lower().map(_KV_LEVEL).fillna(col(k, "klevel").str.upper()).astype("str")
        level = level.where(~hk, kv_level)
        msg = msg.where(~hk, col(k, "msg", empty_is_na=False))

    ts = parse_mdy(mdy_raw).where(mdy_raw.notna().to_numpy(), parse_iso(iso_raw))
    dsc_ts = pd.to_datetime(dsc_raw.str.replace(" ", "T", n=1).str.rstrip("Z"), format="%Y-%m-%dT%H:%M:%S",
                            errors="coerce", utc=True).astype("datetime64[ns, UTC]")
    ts = ts.where(~hd, dsc_ts)
    raw = mdy_raw.where(mdy_raw.notna().to_numpy(), iso_raw).where(~hd, dsc_raw)
    assumed = (mdy_raw.notna().to_numpy() | (hd & ~dsc_raw.str.endswith("Z").fillna(False).to_numpy()))
    if hk.any():
        kv_raw = col(k, "kts")
        kv_ts = pd.to_datetime(kv_raw, format="%Y-%m-%d %H:%M:%S", errors="coerce",
                               utc=True).astype("datetime64[ns, UTC]")
        ts = ts.where(~hk, kv_ts)
        raw = raw.where(~hk, kv_raw)
        assumed = assumed | hk

    texts = pd.Series(rec.text.to_pandas(types_mapper=pd.ArrowDtype)).astype("str")
    first_lines = texts.str.split("\n", n=1).str[0]
    if plain_file:
        pm = pc.extract_regex(lines.take(idx), PLAIN_TS)
        p_iso, p_mdy = col(pm, "iso"), col(pm, "mdy")
        pts = parse_iso(p_iso.str.replace(" ", "T", n=1)).where(p_iso.notna().to_numpy(), parse_mdy(p_mdy))
        ts = pts
        raw = p_iso.where(p_iso.notna().to_numpy(), p_mdy)
        assumed = (p_mdy.notna() | (p_iso.notna() & ~p_iso.str.endswith("Z").fillna(False))).to_numpy()

    damage = pd.Series(pd.NA, index=range(nrec), dtype="object")
    issues: list[ParseIssue] = []
    bad_ts = (raw.notna() & ts.isna()).to_numpy()
    for i in np.flatnonzero(bad_ts):
        _add(damage, i, "unreadable time stamp")
        issues.append(ParseIssue(source, int(idx[i]) + 1, "bad-timestamp",
                                 f"time stamp {raw[i]!r} is not a valid date and time (expected MM/DD/YYYY "
                                 "HH:MM:SS.ff or YYYY-MM-DD[T ]HH:MM:SS[Z])", text=first_lines[i][:300], parser=NAME))
    if not plain_file and not rec.head_of[0]:
        _add(damage, 0, "continuation lines before the first record head (file starts mid-record or is a pasted "
             "fragment)")
        issues.append(ParseIssue(source, 1, "orphan-lines", f"{int(rec.end[0]) + 1} line(s) before the first record "
                                 "head; expected a head like '[4892+00000001] [03/04/2021 20:49:58.30] [INFO] ...', "
                                 "'VERBOSE: [2015-10-21T08:03:08] ...' or '2020-11-24 22:54:15: <info> [Global] ...'",
                                 text=first_lines[0][:300], parser=NAME))
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

    m = _PATH.search(source.replace("\\", "/"))
    df = pd.DataFrame({
        "source": pd.Series([source] * nrec, dtype="str"),
        "line": idx + 1,
        "end_line": rec.end + 1,
        "extension": m.group(1) if m else None,
        "ext_version": m.group(2) if m else None,
        "file": source.replace("\\", "/").rsplit("/", 1)[-1],
        "layout": layout,
        "pid": pid,
        "thread": thread,
        "ts": ts,
        "ts_raw": raw,
        "ts_assumed_utc": assumed,
        "level": level.fillna("UNKNOWN"),
        "message": msg.str.strip().fillna(first_lines),
        "text": texts,
        "n_lines": rec.end - rec.start + 1,
        "damaged": damage.notna().to_numpy(),
        "damage": damage,
    })
    return ParseResult({NAME: HANDLER_LOG.coerce(df)}, issues)


def _add(damage: pd.Series, i: int, why: str) -> None:
    """Add a damage reason to record ``i`` (reasons accumulate, separated by "; ")."""
    damage[i] = why if pd.isna(damage[i]) else f"{damage[i]}; {why}"


def combine(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate per-file frames; within one extension, files in time order (rotated siblings)."""
    frames = [f for f in frames if not f.empty] or frames[:1]
    if not frames:
        return HANDLER_LOG.empty()

    def key(f: pd.DataFrame) -> tuple:
        first = f["ts"].dropna()
        ext = f["extension"].iloc[0]
        return (str(ext) if isinstance(ext, str) else "~",
                first.iloc[0] if not first.empty else pd.Timestamp.max.tz_localize("UTC"), str(f["source"].iloc[0]))

    return HANDLER_LOG.coerce(pd.concat(sorted(frames, key=key), ignore_index=True))
