"""Lenient JSON reading for files Windows and PowerShell write: lone object vs array, cut-off documents,
case-varying keys. Never raises: damage becomes a ParseIssue with line and column."""

from __future__ import annotations

import json
import re
from typing import Any

import pandas as pd

from ._identity import from_path
from .base import ParseIssue

_SEQ = re.compile(r"(?:^|/)(\d+)\.(?:status|settings)$", re.IGNORECASE)


#: Deeper nesting than this is not data any Windows tool writes (status files nest 6 levels); values below it are
#: replaced by null so the rest of the file still parses (Python's decoder would raise RecursionError).
MAX_DEPTH = 200


def loads(body: str) -> tuple[Any, list[int]]:
    """``json.loads``, but a value nested deeper than :data:`MAX_DEPTH` is replaced by ``null`` instead of the
    whole document failing with RecursionError. Returns (value, 1-based lines where a value was pruned).
    Raises ``json.JSONDecodeError`` like ``json.loads`` for invalid JSON."""
    try:
        return json.loads(body), []
    except RecursionError:
        pruned, lines = prune_deep(body, MAX_DEPTH)
        return json.loads(pruned), lines


def prune_deep(body: str, max_depth: int) -> tuple[str, list[int]]:
    """``body`` with every array/object that opens deeper than ``max_depth`` replaced by ``null`` (strings are
    skipped as tokens, so brackets inside them do not count), and the lines where that happened."""
    out: list[str] = []
    lines: list[int] = []
    depth, keep_from, cut_at = 0, 0, -1
    for m in _TOKEN.finditer(body):
        tok = m.group()
        if tok in "[{":
            depth += 1
            if depth == max_depth + 1 and cut_at < 0:
                cut_at = m.start()
        elif tok in "]}":
            if depth == max_depth + 1 and cut_at >= 0:
                out.append(body[keep_from:cut_at])
                out.append("null")
                lines.append(body.count("\n", 0, cut_at) + 1)
                keep_from, cut_at = m.end(), -1
            depth -= 1
    if cut_at >= 0:  # a deep value that never closes: cut it, the decoder reports the document as cut
        out.append(body[keep_from:cut_at])
        lines.append(body.count("\n", 0, cut_at) + 1)
        return "".join(out), lines
    out.append(body[keep_from:])
    return "".join(out), lines


def deep_issue(source: str, lines: list[int], parser: str) -> ParseIssue:
    where = ", ".join(str(x) for x in lines[:5]) + (" ..." if len(lines) > 5 else "")
    return ParseIssue(source, lines[0], "too-deep", f"expected JSON nested at most {MAX_DEPTH} levels, found "
                      f"{len(lines)} value(s) nested deeper (line {where}); each was read as null and the rest of "
                      "the file was read", parser=parser)


def load(text: str, *, source: str, parser: str, partial: bool = False) -> tuple[Any, list[ParseIssue]]:
    """See :func:`_load`; a document too deep even for the recovery paths is one located issue, never an error."""
    try:
        return _load(text, source=source, parser=parser, partial=partial)
    except RecursionError:
        return None, [ParseIssue(source, None, "too-deep", f"expected JSON nested at most {MAX_DEPTH} levels, "
                                 "found a damaged document nested deeper than can be read; nothing was recovered",
                                 parser=parser)]


def _load(text: str, *, source: str, parser: str, partial: bool = False) -> tuple[Any, list[ParseIssue]]:
    """Parse ``text`` as JSON. On failure, recover the complete leading values of a top-level array (the part
    written before the cut) and report where it broke. Returns (value or None, issues).

    With ``partial=True`` the recovery goes deeper: the document is cut back to the last complete value at any
    nesting level before the error and the brackets still open there are closed, so a half-written
    ``{"runtimeSettings": [{...}, {"handlerSettings": {"publicSettings": {...}, "protectedSett`` still gives the
    complete blocks and members written before the cut (never a half value: a member whose value was cut is
    dropped). Windows paths written with single backslashes (``"C:\\Packages"``, a hand-edited file) are read with
    the backslashes kept, and flagged."""
    body = text.lstrip("\ufeff")
    if not body.strip():
        return None, [ParseIssue(source, None, "empty", "expected a JSON document, found an empty or blank file",
                                 parser=parser)]
    try:
        value, deep = loads(body)
        return value, ([deep_issue(source, deep, parser)] if deep else [])
    except json.JSONDecodeError as exc:
        first = exc
    issues: list[ParseIssue] = []
    if partial and first.msg.startswith("Invalid \\escape"):
        issues.append(ParseIssue(source, first.lineno, "invalid-escape",
                                 f"expected JSON escapes (\\\\ in Windows paths) at line {first.lineno} column "
                                 f"{first.colno}, found a single backslash (a hand-edited or pasted file); read with "
                                 "the backslashes kept as written", parser=parser))
        body = _double_lone_backslashes(body)
        try:
            return json.loads(body), issues
        except json.JSONDecodeError as exc:
            first = exc
    if partial:
        recovered = salvage(body, first.pos)
        what = (f"kept the {_describe(recovered)} that was complete before it" if recovered is not None
                else "nothing before it could be recovered")
    else:
        recovered = _recover_array(body.strip())
        what = (f"kept the {len(recovered)} complete leading entr{'y' if len(recovered) == 1 else 'ies'}"
                if recovered else "nothing before it could be recovered")
    issue = ParseIssue(source, first.lineno, "bad-json",
                       f"expected valid JSON at line {first.lineno} column {first.colno} ({first.msg}), found "
                       f"{_found(body, first)} - the file looks half-written or cut; {what}", parser=parser)
    return recovered, [*issues, issue]


#: A backslash and the character after it; doubled when that is not a JSON escape (``C:\Packages``: ``\P``).
_BACKSLASH = re.compile(r"\\(.?)", re.DOTALL)


def _double_lone_backslashes(body: str) -> str:
    return _BACKSLASH.sub(lambda m: m.group() if m.group(1) and m.group(1) in '\\/"bfnrtu' else "\\\\" + m.group(1),
                          body)


#: Structural tokens of JSON; a string is one token (its closing quote is missing when the file was cut in it).
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*(?P<close>")?|[{}\[\],:]', re.DOTALL)
_CLOSER = {"{": "}", "[": "]"}


def _found(body: str, exc: json.JSONDecodeError) -> str:
    """What stood where the JSON decoder stopped, described without quoting file content beyond one character."""
    if exc.msg.startswith("Unterminated string"):
        return "a string that never ends (cut before its closing quote)"
    if exc.pos >= len(body.rstrip()):
        return "the end of the file"
    return f"the character {body[exc.pos]!r}"


def _describe(value: Any) -> str:
    if isinstance(value, list):
        return f"array of {len(value)} entr{'y' if len(value) == 1 else 'ies'}"
    if isinstance(value, dict):
        return f"object with {len(value)} member{'' if len(value) == 1 else 's'}"
    return "value"


def salvage(body: str, stop: int | None = None) -> Any:
    """The longest prefix of ``body[:stop]`` that ends after a complete value or member, with the brackets still
    open there closed; None when nothing is recoverable. Strings and numbers are never cut: a member whose value
    is incomplete (or whose value might be, like a number at the cut) is left out, and so is a nested object or
    array cut before its first complete member."""
    stop = len(body) if stop is None else stop
    stack: list[str] = []
    expect_key = False
    best: tuple[int, list[str]] | None = None
    for m in _TOKEN.finditer(body, 0, stop):
        tok = m.group()
        if tok[0] == '"':
            if m.group("close") is None:
                break
            if stack and (stack[-1] == "[" or not expect_key):
                best = (m.end(), list(stack))
            continue
        if tok in "{[":
            stack.append(tok)
            expect_key = tok == "{"
            if len(stack) == 1:  # an empty document beats none; an empty nested object would be a made-up entry
                best = (m.end(), list(stack))
        elif tok in "}]":
            if not stack or _CLOSER[stack[-1]] != tok:
                break
            stack.pop()
            expect_key = False
            best = (m.end(), list(stack))
            if not stack:
                break
        elif tok == ",":
            if not stack:
                break
            best = (m.start(), list(stack))
            expect_key = stack[-1] == "{"
        else:  # ":"
            expect_key = False
    if best is None:
        return None
    pos, open_ = best
    candidate = body[:pos].rstrip().rstrip(",") + "".join(_CLOSER[c] for c in reversed(open_))
    try:
        return json.loads(candidate)
    except json.JSONDecodeError:
        return None


def _recover_array(body: str) -> list | None:
    if not body.startswith("["):
        return None
    dec = json.JSONDecoder()
    out, i = [], 1
    while i < len(body):
        while i < len(body) and body[i] in " \t\r\n,":
            i += 1
        if i >= len(body) or body[i] == "]":
            break
        try:
            val, end = dec.raw_decode(body, i)
        except json.JSONDecodeError:
            break
        out.append(val)
        i = end
    return out or None


def as_list(value: Any) -> list:
    """PowerShell's ConvertTo-Json writes a lone object for a one-element list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def get(d: Any, *path: str, default: Any = None) -> Any:
    """Nested lookup with case-insensitive keys (``handlerName`` vs ``handlername``)."""
    cur = d
    for key in path:
        if not isinstance(cur, dict):
            return default
        if key in cur:
            cur = cur[key]
            continue
        low = key.lower()
        match = next((k for k in cur if isinstance(k, str) and k.lower() == low), None)
        if match is None:
            return default
        cur = cur[match]
    return cur


def plugin_from_path(source: str) -> tuple[str | None, str | None, int | None]:
    """(extension, version, sequence number) from a C/Packages/Plugins/<ext>/<ver>/.../<n>.status path (the
    extension and version as :func:`kit.parse._identity.from_path` reads them)."""
    ext, ver = from_path(source)
    s = _SEQ.search(source.replace("\\", "/"))
    return ext, ver, int(s.group(1)) if s else None


def to_int(v: Any) -> int | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        return int(str(v).strip())
    except ValueError:
        try:
            return int(float(str(v)))
        except ValueError:
            return None


def to_bool(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    return None


def looks_like(head: str, *keys: str) -> bool:
    """Cheap content sniff: JSON-ish text that mentions all ``keys`` as quoted names."""
    h = head.lstrip("\ufeff \t\r\n")
    if not h.startswith(("{", "[")):
        return False
    low = h.lower()
    return all(f'"{k.lower()}"' in low for k in keys)


_MS_DATE = re.compile(r"^\\?/Date\((-?\d+)(?:[+-]\d{4})?\)\\?/$")
#: The plain ISO 8601 shape collectors and the agent write (``2024-12-18T15:34:54.3285123Z``, ``...+05:30``, no zone).
_ISO = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:Z|[+-][0-9]{2}:[0-9]{2})?")


def iso_timestamp(text: str) -> pd.Timestamp | None:
    """``pd.to_datetime(text, utc=True)`` for a text in the plain ISO 8601 shape, read by pandas' own ISO reader for
    one value (same value, unit and zone): ``to_datetime`` first guesses a format for its array of one, which costs
    ~100x more. None for any other shape, or a value that cannot be read (the caller asks ``to_datetime`` then)."""
    if not _ISO.fullmatch(text):
        return None
    try:
        ts = pd.Timestamp(text)
    except (ValueError, OverflowError):
        return None
    return ts.tz_convert("UTC") if ts.tzinfo is not None else ts.tz_localize("UTC")


def to_utc(value: Any) -> tuple[pd.Timestamp | None, bool]:
    """A JSON time stamp as tz-aware UTC: ``(timestamp or None, ok)``. ``ok`` is False when a value was present
    but could not be read (a PII-scrubber placeholder, a cut string): the caller reports it. Zone-less values of
    fields named ``...UTC`` are UTC by definition and read unchanged. Also reads the ``/Date(ms)/`` form that
    Windows PowerShell 5.1 ``ConvertTo-Json`` writes for DateTime values."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, True
    if not isinstance(value, str):
        return None, False
    text = value.strip()
    m = _MS_DATE.match(text)
    if m:
        return pd.Timestamp(int(m.group(1)), unit="ms", tz="UTC"), True
    fast = iso_timestamp(text)
    if fast is not None:
        return fast, True
    try:
        ts = pd.to_datetime(text, utc=True)
    except (ValueError, OverflowError, TypeError):
        return None, False
    return (None, False) if pd.isna(ts) else (ts, True)
