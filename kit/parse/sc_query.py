"""``sc query``, ``sc queryex`` and ``sc qc`` output, in any Windows display language (docs/bundle-format.md).

What sc.exe prints (tests/shapes/services/SOURCES.md has the real outputs this follows)::

    SERVICE_NAME: WindowsAzureGuestAgent            <- "Имя_службы:" on a Russian Windows
            TYPE               : 10  WIN32_OWN_PROCESS
            STATE              : 4  RUNNING         <- "Состояние          : 4  RUNNING"
                                    (STOPPABLE, NOT_PAUSABLE, ACCEPTS_SHUTDOWN)
            WIN32_EXIT_CODE    : 0  (0x0)
            ...
            PID                : 2412               <- queryex only ("ID_процесса")

    [SC] QueryServiceConfig SUCCESS                 <- "ERFOLG", "réussite(s)", ": успех"
    SERVICE_NAME: WindowsAzureGuestAgent
            START_TYPE         : 2   AUTO_START     <- "Тип_запуска"
            ERROR_CONTROL      : 1   NORMAL
            BINARY_PATH_NAME   : C:\\...\\WindowsAzureGuestAgent.exe
            ...

    [SC] EnumQueryServicesStatus:OpenService FAILED 1060:   <- "FEHLER 1060:", "échec(s) 1060 :", "ошибка: 1060:"
    The specified service does not exist as an installed service.

The field labels are English on German and French Windows and translated on Russian Windows; the values keep their
numbers and English words in every language. So nothing here depends on a label: a block starts at an unindented
``<label>: <name>`` line; the state is the field whose value is ``<1-7>  <STATE WORD>``, the start type the one whose
value is ``<0-4>  <..._START | DISABLED>``; in ``queryex`` the PID is the first bare number after the state; in
``qc`` the binary path is the field after ``ERROR_CONTROL`` (``<n>  NORMAL``) and the display name the field after
the bare-number TAG (English labels are used first where present). An ``[SC] ... <number>`` line is an sc error:
1060 (ERROR_SERVICE_DOES_NOT_EXIST) gives a ``NotFound`` row, others an issue. sc errors do not name the service: it
is taken from the command line when the paste shows it (``C:\\>sc query WindowsAzureGuestAgent``) or from the file
name (``sc_query_WindowsAzureGuestAgent.txt``). Several commands for the same service in one file (a ``queryex``
and a ``qc``) give one row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from ._console import WINDOWS_PROMPT
from .base import ParseIssue, ParseResult
from .services import NAME as SERVICES_NAME
from .services import SERVICES, START_CODES, STATUS_CODES, dispatch

NAME = "sc_query"
DESCRIPTION = "sc query / queryex / qc output for the agent services, in any display language."
PATTERNS = ("commands/sc_query*.txt", "commands/sc_qc*.txt", "commands/sc-query*.txt", "commands/sc-qc*.txt")
FRAMES = {SERVICES_NAME: SERVICES}

_STATE_WORDS = ("STOPPED", "START_PENDING", "STOP_PENDING", "RUNNING", "CONTINUE_PENDING", "PAUSE_PENDING",
                "PAUSED")
_START_WORDS = ("BOOT_START", "SYSTEM_START", "AUTO_START", "DEMAND_START", "DISABLED")
#: ``4  RUNNING`` (any number, any upper-case word: an unfamiliar one is reported, not guessed).
_STATE_VALUE = re.compile(r"^(?P<code>\d+)\s+(?P<word>[A-Z][A-Z_]+)\b")
_START_VALUE = re.compile(r"^(?P<code>\d+)\s+(?P<word>(?:BOOT|SYSTEM|AUTO|DEMAND)_START|DISABLED)\b(?P<rest>.*)$")
_ERROR_CONTROL = re.compile(r"^\d+\s+(?:IGNORE|NORMAL|SEVERE|CRITICAL)\b")
_TYPE_VALUE = re.compile(r"^\d+\s+(?:WIN32\w*|KERNEL_DRIVER|FILE_SYSTEM_DRIVER|USER_\w+|ADAPTER|RECOGNIZER_DRIVER)\b")
_FIELD = re.compile(r"^(?P<indent>[ \t]+)(?P<label>[^:\s][^:]*?)?\s*:\s?(?P<value>.*)$")
_HEADER = re.compile(r"^(?P<label>[^\s:\[][^:]*?)\s*:\s*(?P<value>\S.*?)\s*$")
_SC_LINE = re.compile(r"^\s*\[SC\]\s*(?P<rest>.*?)\s*$")
_SC_ERROR = re.compile(r"(?P<code>\d+)\s*:?\s*$")
_COMMAND = re.compile(r"\bsc(?:\.exe)?\s+(?:\\\\\S+\s+)?(?P<cmd>queryex|query|qc)\s+(?P<q>\"?)(?P<name>[^\s\"]+)"
                      r"(?P=q)", re.IGNORECASE)
_FILE_NAME = re.compile(r"^sc[_-]?(?:queryex|query|qc)[_-](?P<name>[A-Za-z0-9_.$-]+?)(?:[_-](?:[a-z]{2}))?\.txt$",
                        re.IGNORECASE)

#: A console prompt (``C:\\Users\\x>``, ``PS C:\\>``): never a block header.
_PROMPT = WINDOWS_PROMPT

_PATH_LABELS = {"binary_path_name"}
_DISPLAY_LABELS = {"display_name"}
_PID_LABELS = {"pid"}


def sniff(head: str) -> bool:
    """sc output: a state field (``: 4  RUNNING``), a qc start type (``: 2   AUTO_START``) or an ``[SC]`` error
    with a number, next to the sc layout (indented ``LABEL : value`` lines or an ``[SC]`` line)."""
    for line in head.splitlines():
        m = _FIELD.match(line)
        if m:
            v = m.group("value").strip()
            sm = _STATE_VALUE.match(v)
            if (sm and sm.group("word") in _STATE_WORDS) or _START_VALUE.match(v):
                return True
        if _SC_LINE.match(line) and re.search(r"\b1060\b", line):
            return True
    return False


@dataclass
class _Block:
    name: str | None
    line: int
    cmd: str | None = None
    display_name: str | None = None
    status: str | None = None
    status_line: int | None = None
    start_type: str | None = None
    pid: int | None = None
    path: str | None = None
    cmds: set[str] = field(default_factory=set)
    fields: list[tuple[str, str, int]] = field(default_factory=list)
    not_found: bool = False


def _name_from_file(source: str) -> str | None:
    m = _FILE_NAME.match(PurePosixPath(source.replace("\\", "/")).name)
    return m.group("name") if m else None


def parse(text: str, *, source: str) -> ParseResult:
    if not sniff(text[:65536]):
        other = dispatch(text, source=source, exclude=NAME)
        if other is not None:
            return other
    issues: list[ParseIssue] = []
    blocks: list[_Block] = []
    cur: _Block | None = None
    pending_name, pending_cmd = None, None
    file_name = _name_from_file(source)
    for no, raw in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        line = raw.rstrip()
        if not line.strip():
            continue
        cm = _COMMAND.search(line)
        if cm and not line.startswith((" ", "\t")) and not cm.group("name").endswith("="):
            pending_name, pending_cmd = cm.group("name"), cm.group("cmd").lower()
            cur = None
            continue
        sm = _SC_LINE.match(line)
        if sm:
            em = _SC_ERROR.search(sm.group("rest"))
            if em is None:  # "[SC] QueryServiceConfig SUCCESS" in its language: a qc follows
                pending_cmd, cur = pending_cmd or "qc", None
                continue
            code = int(em.group("code"))
            name = pending_name or file_name
            if code == 1060 and name:
                blocks.append(_Block(name=name, line=no, cmd=pending_cmd, not_found=True))
            elif code == 1060:
                issues.append(ParseIssue(source, no, "unnamed-service", "expected the sc error 1060 (the service "
                                         "does not exist) to belong to a named service, found no 'sc query <name>' "
                                         "line before it and no service in the file name; not used", text=line,
                                         parser=NAME))
            else:
                issues.append(ParseIssue(source, no, "sc-error", f"expected sc output for "
                                         f"{name or 'a service'}, found sc error {code}; its state is unknown",
                                         text=line, parser=NAME))
            cur = None
            continue
        if not line.startswith((" ", "\t")):
            hm = _HEADER.match(line)
            if hm and not line.lstrip().startswith(("(", ">")) and not _PROMPT.match(line):
                if cur is not None and not cur.fields and cur.display_name is None and cur.name:
                    cur.display_name = hm.group("value")  # DISPLAY_NAME: right under SERVICE_NAME (enumeration)
                    continue
                cur = _Block(name=hm.group("value"), line=no, cmd=pending_cmd)
                blocks.append(cur)
                pending_cmd = None
            continue
        fm = _FIELD.match(line)
        if fm is None or cur is None:
            continue
        label = (fm.group("label") or "").strip()
        if not label:
            continue  # "(STOPPABLE, ...)" or a DEPENDENCIES continuation
        cur.fields.append((label, fm.group("value").strip(), no))
    rows = []
    merged: dict[str, dict[str, Any]] = {}
    for b in blocks:
        _read_fields(b, source=source, issues=issues)
        if not b.name or (not b.fields and not b.not_found):
            continue
        row = merged.get(b.name.lower())
        shape = _shape(b)
        if row is None:
            row = {"source": source, "line": b.line, "name": b.name, "display_name": None, "status": None,
                   "start_type": None, "process_id": None, "path_name": None, "file_version": None,
                   "exists": True, "shape": shape}
            merged[b.name.lower()] = row
            rows.append(row)
        elif shape not in row["shape"].split("+"):
            row["shape"] += "+" + shape
        if b.not_found:
            row["status"], row["exists"] = "NotFound", False
        for key, val in (("status", b.status), ("start_type", b.start_type), ("process_id", b.pid),
                         ("path_name", b.path), ("display_name", b.display_name)):
            if val is not None and row[key] is None:
                row[key] = val
            elif val is not None and row[key] != val and key == "status":
                issues.append(ParseIssue(source, b.status_line, "conflicting-values", f"{b.name}: expected one "
                                         f"state per service, found {row[key]!r} and then {val!r}; the first is kept",
                                         parser=NAME))
    return ParseResult({SERVICES_NAME: SERVICES.from_records(rows)}, issues)


def _shape(b: _Block) -> str:
    if b.cmd in ("query", "queryex", "qc"):
        return f"sc-{b.cmd}"
    if b.start_type is not None or b.path is not None:
        return "sc-qc"
    return "sc-queryex" if b.pid is not None else "sc-query"


def _read_fields(b: _Block, *, source: str, issues: list[ParseIssue]) -> None:
    after_state = after_error_control = after_tag = False
    is_qc = any(_START_VALUE.match(v) or _ERROR_CONTROL.match(v) for _, v, _ in b.fields)
    for label, value, no in b.fields:
        key = label.lower()
        sm = _STATE_VALUE.match(value)
        st = _START_VALUE.match(value)
        if st:
            code = int(st.group("code"))
            expected = START_CODES.get(code) if code != 10 else None
            word = {"BOOT_START": "Boot", "SYSTEM_START": "System", "AUTO_START": "Automatic",
                    "DEMAND_START": "Manual", "DISABLED": "Disabled"}[st.group("word")]
            if expected == word:
                b.start_type = word
            else:
                b.start_type = value
                issues.append(ParseIssue(source, no, "unknown-value", f"{b.name}: expected a start type code 0-4 "
                                         f"matching its word, found {value!r}; kept as written", text=value,
                                         parser=NAME))
            continue
        if sm and not _TYPE_VALUE.match(value) and not _ERROR_CONTROL.match(value) and not is_qc:
            code, word = int(sm.group("code")), sm.group("word")
            known = STATUS_CODES.get(code)
            b.status_line = no
            if known is not None and word in _STATE_WORDS and word.replace("_", "") == known.upper():
                b.status = known
            else:
                b.status = value
                issues.append(ParseIssue(source, no, "unknown-value", f"{b.name}: expected a state code 1-7 with "
                                         f"its word (4  RUNNING, 1  STOPPED, ...), found {value!r}; kept as written",
                                         text=value, parser=NAME))
            after_state = True
            continue
        if _ERROR_CONTROL.match(value):
            after_error_control = True
            continue
        if key in _PATH_LABELS or (after_error_control and b.path is None and key not in _DISPLAY_LABELS):
            b.path = value or None
            after_error_control = False
            continue
        if key in _DISPLAY_LABELS or (after_tag and b.display_name is None):
            b.display_name = value or None
            after_tag = False
            continue
        if re.fullmatch(r"\d+", value):
            if is_qc:
                after_tag = True  # TAG
            elif key in _PID_LABELS or (after_state and b.pid is None):
                b.pid = int(value)
