"""WireServer ``?comp=versions`` XML (formats doc §5.1): preferred and supported protocol versions.

Real answers are indented 2/4 spaces, or not at all (the azure-docs copy, which also drops the closing
``</Versions>``). A document that is not well-formed (that doc copy, a file cut mid-write) is read by pattern:
every complete ``<Version>...</Version>`` inside ``<Preferred>`` / ``<Supported>`` becomes a row, and a
``bad-xml`` issue says what was missing. A ``<Version>`` cut before its closing tag is reported, not guessed.
Each row's ``line`` is the line of its ``<Version>`` element (in the block that listed it first).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ..schema import LINE, SOURCE, Col, FrameSchema
from ..textio import split_lines
from .base import ParseIssue, ParseResult

NAME = "wireserver_versions"
DESCRIPTION = "WireServer ?comp=versions answer (XML)."
PATTERNS = ("probes/wireserver_versions.xml",)

WIRESERVER_VERSIONS = FrameSchema(
    "wireserver_versions",
    "Protocol versions WireServer offered.",
    (SOURCE, LINE, Col("version", "str", "Version string, e.g. 2015-04-05.", False),
     Col("preferred", "bool", "Listed under <Preferred>.", False),
     Col("supported", "bool", "Listed under <Supported>.", False)),
)
FRAMES = {NAME: WIRESERVER_VERSIONS}
_BLOCK = re.compile(r"<(Preferred|Supported)\s*>(.*?)(?:</\1\s*>|(?=<(?:Preferred|Supported)\s*>)|\Z)", re.DOTALL)
_VER = re.compile(r"<Version\s*>\s*([^<\s]+)\s*</Version\s*>")
_CUT_VER = re.compile(r"<Version\s*>\s*([^<\s]*)\s*(?:<(?!/Version)|\Z)")
_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)


def sniff(head: str) -> bool:
    return "<Versions>" in head and "<Version>" in head


def parse(text: str, *, source: str) -> ParseResult:
    issues: list[ParseIssue] = []
    found: dict[str, dict] = {}
    # the declaration may name an encoding the text is no longer in: blank it out (same length, lines unchanged)
    body = _DECL.sub(lambda m: " " * len(m[0]), text.replace("\ufeff", " ", 1), count=1)
    try:
        root = ET.fromstring(body)
        if root.tag != "Versions":
            issues.append(ParseIssue(source, None, "unexpected-shape", f"expected a <Versions> document; found "
                                     f"<{root.tag}>", text=text[:200], parser=NAME))
        for block in ("Preferred", "Supported"):
            for v in root.findall(f"{block}/Version"):
                if v.text and v.text.strip():
                    found.setdefault(v.text.strip(), {"preferred": False, "supported": False})[block.lower()] = True
    except ET.ParseError as exc:
        line = exc.position[0] if exc.position else None
        missing_root_end = "<Versions" in body and "</Versions" not in body
        why = ("the closing </Versions> is missing (as in the azure-docs copy, or the file was cut)"
               if missing_root_end else f"not well-formed XML ({exc})")
        issues.append(ParseIssue(source, line, "bad-xml", f"expected a complete <Versions> document; {why}; "
                                 "versions read by pattern", parser=NAME))
        for block, inner in _BLOCK.findall(body):
            for v in _VER.findall(inner):
                found.setdefault(v, {"preferred": False, "supported": False})[block.lower()] = True
            for cut in _CUT_VER.findall(inner):
                issues.append(ParseIssue(source, None, "truncated-line", f"expected <Version>...</Version> in "
                                         f"<{block}>; found a version cut short ({cut!r}); not kept",
                                         text=cut, parser=NAME))
    lines = split_lines(text)
    rows = []
    for ver, flags in found.items():
        tag = f">{ver}<"
        line = next((i for i, ln in enumerate(lines, start=1) if tag in ln.replace(" ", "")), None)
        rows.append({"source": source, "line": line, "version": ver, **flags})
    if not rows and not issues:
        issues.append(ParseIssue(source, None, "unexpected-shape", "expected <Version> elements under <Preferred> "
                                 "or <Supported>; found none", text=text[:200], parser=NAME))
    return ParseResult({NAME: WIRESERVER_VERSIONS.from_records(rows)}, issues)
