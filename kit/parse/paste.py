"""Pasted text: a console capture, az / azd / Azure PowerShell / Terraform output, Portal error text or ticket text
that no other parser knows, in which a line matches a signature of the finding catalog (kit/catalog/findings.yaml,
the signatures whose ``in`` lists ``paste``: the same ones the log rules read).

One row per line. Shell prompts are recognised (``PS C:\\>``, ``PS /home/x>``, ``C:\\Users\\x>``, ``user@host:~$``,
``[root@host ~]#``, ``$ ``, ``~# ``, ``>>> ``; PowerShell's ``>> `` continuation lines extend the command): a prompt
line carries the command typed, which is the context of the lines that follow it (their ``command``); only output
lines are matched against the signatures - what someone typed is not evidence of what the VM did. A signature with a
``context`` (e.g. IMDS's address) needs it on the same line or in that command.

Secrets never reach the frame: bearer/basic credentials, JWTs, ``access_token``/``refresh_token``/``client_secret``/
password-like ``key=value`` or ``"key": "value"`` pairs and SAS ``sig=`` values are replaced by ``<redacted>`` in
``text`` and ``command``. Signatures are matched on the line as pasted, before masking.

Registered last in the content sniffers: a file any other parser recognises is never read as a paste.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from ..catalog import Signature, join_patterns, signatures
from ..schema import LINE, SOURCE, Col, FrameSchema
from .base import ParseResult

NAME = "paste"
DESCRIPTION = "Pasted console output or error text in which a line matches a finding catalog signature."
PATTERNS: tuple[str, ...] = ()  # recognised by content only: a paste has no name of its own

PASTE_LINES = FrameSchema(
    "paste_lines",
    "Every line of a pasted text file (console capture, CLI or Portal error text) that the finding catalog's "
    "signatures recognise, with the shell prompts found in it. Secrets are masked (`<redacted>`).",
    (SOURCE, LINE,
     Col("text", "str", "The line as pasted, secrets masked.", False),
     Col("prompt", "bool", "The line is a shell prompt (PowerShell, cmd.exe, bash, Python) with the command typed.",
         False),
     Col("command", "str", "On a prompt line, the command typed; on an output line, the command it answers (the last "
         "prompt above it); NA when no prompt precedes it. Secrets masked."),
     Col("codes", "str", "Catalog codes whose signatures match this output line, comma-separated; NA when none "
         "(prompt lines are never matched)."),
     Col("signatures", "str", "The matching signatures as `CODE/id`, comma-separated; NA when none.")),
)
FRAMES = {NAME + "_lines": PASTE_LINES}

#: Prompts, most specific first; group ``cmd`` is the command typed.
PROMPTS: tuple[re.Pattern[str], ...] = (
    re.compile(r"^PS(?: [^>\r\n]*)?> ?(?P<cmd>.*)$"),  # PowerShell: PS C:\>, PS C:\Users\x>, PS /home/x>
    re.compile(r"^[A-Za-z]:\\(?:[^<>|\"*?\r\n]*[^<>|\"*?\r\n\s-])?>(?P<cmd>.*)$"),  # cmd.exe: C:\>, C:\Users\x>
    re.compile(r"^\[[\w.-]+@[\w.-]+ [^\]\r\n]*\][$#] ?(?P<cmd>.*)$"),  # [root@host ~]#
    re.compile(r"^(?:\([\w.-]+\) )?[\w.-]+@[\w.-]+(?::[^\s$#]*)?[$#] ?(?P<cmd>.*)$"),  # user@host:~$, (venv) u@h:~$
    re.compile(r"^~?[$] (?P<cmd>.*)$|^~# (?P<cmd2>.*)$"),  # "$ cmd", "~$ cmd", "~# cmd" (a bare "# " is a comment)
    re.compile(r"^>>> (?P<cmd>.*)$"),  # Python
)
#: PowerShell's continuation prompt for an unfinished command.
CONTINUATION = re.compile(r"^>> (?P<cmd>.*)$")

_SECRET = "<redacted>"
_SECRETS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9+/=._~-]{8,}"), rf"\1\2{_SECRET}"),
    (re.compile(r"(?i)(\"?\b(?:access_token|refresh_token|id_token|client_secret|password|passwd|pwd|secret|"
                r"accountkey|account_key|sharedaccesskey|x-identity-header|identity_header)\b\"?\s*[:=]\s*\"?)"
                r"([^\"\s,;}&]+)"), rf"\1{_SECRET}"),
    (re.compile(r"(?i)\b(sig=)[^&\s\"'<>]+"), rf"\1{_SECRET}"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), _SECRET),
)


def mask(text: str) -> str:
    """``text`` with tokens, passwords and SAS signatures replaced by ``<redacted>``."""
    for pat, repl in _SECRETS:
        text = pat.sub(repl, text)
    return text


@dataclass(frozen=True)
class _Compiled:
    sig: Signature
    pattern: re.Pattern[str]
    context: re.Pattern[str] | None


@cache
def _compiled() -> tuple[re.Pattern[str], tuple[_Compiled, ...]]:
    sigs = signatures(where="paste")
    any_sig = re.compile(join_patterns([s.pattern for s in sigs]) if sigs else r"(?!x)x")
    return any_sig, tuple(_Compiled(s, re.compile(s.pattern), re.compile(s.context) if s.context else None)
                          for s in sigs)


def hits(line: str, command: str | None = None) -> list[Signature]:
    """The paste signatures that match ``line`` (with their context on the line or in ``command``)."""
    any_sig, compiled = _compiled()
    if not any_sig.search(line):
        return []
    out = []
    for c in compiled:
        if c.pattern.search(line) and (c.context is None or c.context.search(line)
                                       or (command is not None and c.context.search(command))):
            out.append(c.sig)
    return out


def prompt_command(line: str) -> str | None:
    """The command typed when ``line`` is a shell prompt ("" for a bare prompt), else None."""
    for p in PROMPTS:
        m = p.match(line)
        if m:
            return next((g for g in m.groups() if g is not None), "").strip()
    return None


def _lines(text: str) -> list[str]:
    lines = re.split(r"\r\n|\n|\r", text.lstrip("\ufeff"))
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _walk(lines: list[str]):
    """(line number, line, is prompt, command, hits) for each line."""
    command: str | None = None
    prev_prompt = False
    for n, line in enumerate(lines, start=1):
        cont = CONTINUATION.match(line) if prev_prompt else None
        if cont:
            command = f"{command or ''} {cont.group('cmd').strip()}".strip()
            yield n, line, True, command, []
            continue
        typed = prompt_command(line)
        if typed is not None:
            command = typed or None
            prev_prompt = True
            yield n, line, True, command, []
            continue
        prev_prompt = False
        yield n, line, False, command, hits(line, command)


def sniff(head: str) -> bool:
    return any(found for *_, found in _walk(_lines(head)))


def parse(text: str, *, source: str) -> ParseResult:
    rows = []
    for n, line, is_prompt, command, found in _walk(_lines(text)):
        codes = list(dict.fromkeys(s.code for s in found))
        rows.append({"source": source, "line": n, "text": mask(line), "prompt": is_prompt,
                     "command": None if command is None else mask(command),
                     "codes": ",".join(codes) if codes else None,
                     "signatures": ",".join(f"{s.code}/{s.id}" for s in found) if found else None})
    return ParseResult({PASTE_LINES.name: PASTE_LINES.from_records(rows)}, [])
