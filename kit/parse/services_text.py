"""Format-List and Format-Table text of ``Get-Service`` and of ``Win32_Service`` (docs/bundle-format.md): what a
customer pastes from a console.

* List (``Get-Service | Format-List``, ``| Select-Object *``, ``Get-WmiObject Win32_Service``,
  ``Get-CimInstance Win32_Service | Format-List``): records separated by blank lines, ``Property : value`` lines,
  long values wrapped onto lines indented to the value column.
* Table (``Get-Service`` default view ``Status Name DisplayName``, ``Get-CimInstance Win32_Service`` default view
  ``ProcessId Name StartMode State Status ExitCode``, any ``Format-Table`` of their properties): a header line, a
  line of dashes under each column, one line per service. Column bounds come from the dash runs.

PowerShell property names and enum values are not translated, so the labels are the .NET property names in every
display language. A cell the table view cut short (``WindowsAzureGues...`` in Windows PowerShell, ``…`` in
PowerShell 7) is kept as written with a ``truncated`` issue and never matched to a longer name. Records go through
:func:`kit.parse.services.row_from_object`, as the JSON shapes do: ``Win32_Service`` records are read from
``State``/``StartMode`` (their ``Status`` is the WMI health ``OK``), ``Get-Service`` ones from
``Status``/``StartType``.
"""

from __future__ import annotations

import re
from typing import Any

from .base import ParseIssue, ParseResult
from .services import NAME as SERVICES_NAME
from .services import SERVICES, dispatch, object_shape, row_from_object

NAME = "services_text"
DESCRIPTION = "Get-Service / Win32_Service Format-List or Format-Table text."
PATTERNS = ("commands/services.txt", "commands/get-service*.txt", "commands/get_service*.txt",
            "commands/win32_service*.txt")
FRAMES = {SERVICES_NAME: SERVICES}

_LIST_LINE = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*:(?: (?P<value>.*))?$")
_DASHES = re.compile(r"^\s*-{2,}(?:\s+-{2,})*\s*$")
#: Properties only a service object has (a Get-NetAdapter list also has Name and Status).
_SERVICE_KEYS = {"starttype", "startmode", "servicetype", "canstop", "canpauseandcontinue", "servicename",
                 "dependentservices", "servicesdependedon", "pathname", "startname", "acceptstop",
                 "delayedautostart", "binarypathname", "startuptype"}
_TRUNCATED = ("...", "\u2026")


def _is_list(head: str) -> bool:
    keys = {m.group("key").lower() for line in head.splitlines() if (m := _LIST_LINE.match(line.rstrip()))}
    return bool(keys & {"name", "servicename"}) and bool(keys & {"status", "state"}) and bool(keys & _SERVICE_KEYS)


def _table_header(lines: list[str]) -> int | None:
    """Index of a table header line (the line above a dashes line) that names a service table."""
    for i in range(1, len(lines)):
        if _DASHES.match(lines[i]) and lines[i - 1].strip():
            cols = {c.lower() for c in lines[i - 1].split()}
            if "name" in cols and cols & {"status", "state"} and cols & {"displayname", "starttype", "startmode",
                                                                       "processid", "exitcode"}:
                return i - 1
    return None


def sniff(head: str) -> bool:
    return _is_list(head) or _table_header(head.splitlines()) is not None


def parse(text: str, *, source: str) -> ParseResult:
    body = text.lstrip("\ufeff")
    if not sniff(body[:65536]):
        other = dispatch(text, source=source, exclude=NAME)
        if other is not None:
            return other
    issues: list[ParseIssue] = []
    lines = body.splitlines()
    is_table = not _is_list(body[:65536]) and _table_header(lines) is not None
    records = _table_records(lines, source, issues) if is_table else _list_records(lines)
    rows = []
    for line, rec in records:
        view = "table" if rec.pop("_table", None) else "list"
        shape = ("win32_service" if object_shape(rec) == "win32_service" else "get-service") + "-" + view
        row = row_from_object(rec, source=source, line=line, shape=shape, where=f"line {line}", parser=NAME,
                              issues=issues)
        if row is None:
            continue
        for col in ("name", "display_name"):
            v = row[col]
            if isinstance(v, str) and v.endswith(_TRUNCATED):
                issues.append(ParseIssue(source, line, "truncated", f"expected a whole {col}, found "
                                         f"{v!r} cut short by the table view (use Format-Table -AutoSize or "
                                         "Format-List); kept as written, never matched to a longer name",
                                         text=v, parser=NAME))
        rows.append(row)
    if not rows and not issues:
        issues.append(ParseIssue(source, None, "unexpected-shape", "expected Get-Service or Win32_Service records "
                                 "(Format-List or Format-Table), found none", parser=NAME))
    return ParseResult({SERVICES_NAME: SERVICES.from_records(rows)}, issues)


def _list_records(lines: list[str]) -> list[tuple[int, dict[str, Any]]]:
    out: list[tuple[int, dict[str, Any]]] = []
    cur: dict[str, Any] | None = None
    start, last_key = 0, None
    for no, raw in enumerate(lines, start=1):
        line = raw.rstrip()
        if not line.strip():
            cur, last_key = None, None
            continue
        m = _LIST_LINE.match(line)
        if m is None:
            if cur is not None and last_key is not None:  # a wrapped value: continues the previous property
                cur[last_key] = f"{cur[last_key] or ''} {line.strip()}".strip()
            continue
        if cur is None:
            cur, start = {}, no
            out.append((start, cur))
        key, value = m.group("key"), (m.group("value") or "").strip()
        if key in cur:  # a new record without a blank line between
            cur, start = {}, no
            out.append((start, cur))
        cur[key] = value or None
        last_key = key
    return [(n, r) for n, r in out if r]


def _table_records(lines: list[str], source: str, issues: list[ParseIssue]) -> list[tuple[int, dict[str, Any]]]:
    out: list[tuple[int, dict[str, Any]]] = []
    i = 0
    while i < len(lines):
        h = _table_header(lines[i:])
        if h is None:
            break
        h += i
        header, dashes = lines[h], lines[h + 1]
        spans = [(m.start(), m.end()) for m in re.finditer(r"-+", dashes)]
        names = [header[a:(spans[k + 1][0] if k + 1 < len(spans) else len(header))].strip()
                 for k, (a, _) in enumerate(spans)]
        j = h + 2
        while j < len(lines) and lines[j].strip() and not _DASHES.match(lines[j]):
            row = lines[j].rstrip()
            rec: dict[str, Any] = {"_table": True}
            for k, (a, _) in enumerate(spans):
                end = spans[k + 1][0] if k + 1 < len(spans) else len(row)
                rec[names[k]] = row[a:end].strip() or None
            if j + 1 < len(lines) and _DASHES.match(lines[j + 1]):
                break  # the next table's header
            out.append((j + 1, rec))
            j += 1
        i = j
    return out
