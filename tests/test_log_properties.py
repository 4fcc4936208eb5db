"""Properties of the log parsers on arbitrary input (hypothesis).

* Every input line ends up in exactly one record: records' [line, end_line] ranges tile 1..N, n_lines sums to N,
  and the records' texts give back the lines - for any mix of heads, continuation lines, garbage, blank lines,
  CR / LF / CRLF, with or without a final line break.
* The vectorised agent_log parser agrees with a plain line-by-line reference written from the formats doc.
"""

from __future__ import annotations

import re

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kit.parse import agent_log, handler_log
from kit.textio import split_lines

LINES = [
    # agent heads, verbatim shapes from the formats doc (§1, §4, §11, §12)
    "[00000011] [12/11/2018 06:27:55.66] [WARN]  (Ignoring) Exception while fetching supported versions",
    "[00000006] 2024-12-18T15:34:54.328Z [ERROR] GetVersions() failed with exception: 502 (cannotconnect).",
    "[00000018] 2021-01-12T16:35:45Z [INFO]  Test extract the plugin zip file",
    "[00000020] [11/14/2019 06:02:33.43] [HEART] WindowsAzureGuestAgent Heartbeat.",
    "[07/11/2019 21:04:07.05] [INFO]  WindowsAzureGuestAgent starting. Version 2.7.41491.911",
    "[00000006] {ALPHANUMERICPII} [FATAL] Failed to set access rules for agent directories.",
    "[ERROR] GetVersions() failed with exception",
    "[00000007] [07/18/2019 14:46:28.87] [WARN] WindowsAzureGuestAgent stopping.",
    "[00000004] 2024-04-17T07:19:26.812Z [TRACE] x",
    "[00000004] 2024-04-17T07:19:26.812Z [ERROR]",
    # damaged heads
    "[00000011] [13/45/2019 06:27:55.66] [WARN]  bad date", "[00000011] [12/1",
    "[00000011] 2024-02-30T00:00:00Z [INFO] x",
    # continuation lines
    "   at System.Net.WebClient.DownloadString(Uri address)", "    at X.Y()", "at Z()", "---> System.Exception: inner",
    "--- End of inner exception stack trace ---",
    "======== Microsoft Azure VM Health Report - Start 2024-04-17T07:19:26.812Z =========",
    '  "wireServerReachable": false', "{", "}", "",
    # other files' heads and garbage
    "[4892+00000001] [03/04/2021 20:49:58.30] [INFO] Starting RunCommand Extension v1",
    "VERBOSE: [2015-10-21T08:03:08] Installing the DSC Extension...", "VERBOSE: [2019-02-19 06:52:17Z] File lock",
    "C:\\Packages\\Plugins\\Microsoft.Powershell.DSC\\1.10.1.0\\bin\\..\\HandlerEnvironment.json",
    "garbage ☃ text it\ufffds", "Größe", "\t", "[", "[]", "[00000001]", "2024-01-01 00:00:00 plain time",
]
TEXT_LINES = st.one_of(st.sampled_from(LINES), st.text(alphabet=st.characters(
    blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=30))  # decoded text has no surrogates
EOLS = st.sampled_from(["\r\n", "\n", "\r"])


@st.composite
def documents(draw) -> str:
    lines = draw(st.lists(TEXT_LINES, min_size=0, max_size=40))
    eols = draw(st.lists(EOLS, min_size=len(lines), max_size=len(lines)))
    text = "".join(ln + eol for ln, eol in zip(lines, eols, strict=True))
    if lines and draw(st.booleans()):
        text = text[: -len(eols[-1])]  # no final line break
    return text


def _check_tiling(df: pd.DataFrame, text: str) -> None:
    lines = split_lines(text)
    n = len(lines)
    assert int(df["n_lines"].sum()) == n
    if n == 0:
        assert df.empty
        return
    starts, ends = df["line"].astype(int).tolist(), df["end_line"].astype(int).tolist()
    assert starts[0] == 1 and ends[-1] == n
    assert all(s <= e for s, e in zip(starts, ends, strict=True))
    assert all(s2 == e1 + 1 for e1, s2 in zip(ends, starts[1:], strict=False))  # no gap, no overlap
    assert (df["end_line"] - df["line"] + 1).tolist() == df["n_lines"].tolist()
    # nothing lost, nothing invented, and each record's text is exactly its lines
    for s, e, t in zip(starts, ends, df["text"], strict=True):
        assert t == "\n".join(lines[s - 1:e])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_agent_log_every_line_in_exactly_one_record(text: str) -> None:
    df = agent_log.parse(text, source="C/WindowsAzure/Logs/WaAppAgent.log").df
    _check_tiling(df, text)
    assert agent_log.AGENT_LOG.check_dtypes(df) == []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_handler_log_every_line_in_exactly_one_record(text: str) -> None:
    df = handler_log.parse(text, source="C/WindowsAzure/Logs/Plugins/A.B/1.0/x.log").df
    _check_tiling(df, text)
    assert handler_log.HANDLER_LOG.check_dtypes(df) == []


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.integers(min_value=1, max_value=30))
def test_big_inputs_take_the_same_path_results(text: str, copies: int) -> None:
    """Repeating a document (so large ASCII inputs take the in-place read) repeats its records."""
    if not text or not text.endswith(("\n", "\r")):
        text += "\n"
    big = text * (1 + (1 << 16) // max(1, len(text))) if copies else text
    df = agent_log.parse(big, source="x").df
    _check_tiling(df, big)


# --- a plain reference parser, written from the formats doc, to check the vectorised one against -----------
_REF = re.compile(r"^(?:\[(?P<tid>[0-9A-Fa-f]{8})\][ \t]+)?"
                  r"(?:\[(?P<mdy>\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}:\d{2}(?:\.\d+)?)\][ \t]+"
                  r"|(?P<iso>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z)[ \t]+"
                  r"|(?P<pii>\{[A-Za-z]*(?:PII|pii)[A-Za-z]*\})[ \t]+|(?P<bad>\[[0-9][0-9/:. T-]{6,}\])[ \t]+)?"
                  r"\[(?P<level>[A-Z]{3,8})\](?P<msg>.*)$")


def _reference(text: str) -> list[dict]:
    out: list[dict] = []
    for i, line in enumerate(split_lines(text), start=1):
        m = _REF.match(line)
        if m is None and out:
            out[-1]["text"].append(line)
            continue
        if m is None:
            out.append({"line": i, "thread": None, "ts": None, "level": "UNKNOWN", "message": line, "text": [line]})
            continue
        ts = None
        if m.group("mdy"):
            ts = pd.to_datetime(m.group("mdy"), format="%m/%d/%Y %H:%M:%S.%f", errors="coerce", utc=True)
        elif m.group("iso"):
            ts = pd.to_datetime(m.group("iso"), format="ISO8601", errors="coerce", utc=True)
        out.append({"line": i, "thread": m.group("tid"), "ts": None if ts is None or pd.isna(ts) else ts,
                    "level": m.group("level"), "message": m.group("msg").strip(" \t"), "text": [line]})
    for r in out:
        r["text"] = "\n".join(r["text"])
    return out


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_agent_log_agrees_with_a_line_by_line_reference(text: str) -> None:
    df = agent_log.parse(text, source="x").df
    ref = _reference(text)
    assert len(df) == len(ref)
    for (_, row), r in zip(df.iterrows(), ref, strict=True):
        assert row["line"] == r["line"]
        assert (None if pd.isna(row["thread"]) else row["thread"]) == r["thread"]
        assert str(row["level"]) == r["level"]
        assert row["message"] == r["message"]
        assert row["text"] == r["text"]
        got = None if pd.isna(row["ts"]) else row["ts"]
        assert got == r["ts"]


def test_lone_surrogates_become_replacement_characters() -> None:
    text = "[00000006] 2024-12-18T15:34:54.328Z [WARN]  a\ud800b\r\n\udfff\r\n"
    for parser in (agent_log, handler_log):
        df = parser.parse(text, source="x").df
        assert df["text"].iloc[0] == "[00000006] 2024-12-18T15:34:54.328Z [WARN]  a\ufffdb\n\ufffd"
        assert df["n_lines"].tolist() == [2]
