"""WireServer ``?comp=versions`` XML (formats doc §5.1): preferred and supported protocol versions.

Copies in documentation drop the closing ``</Versions>``; a cut or malformed document is read by pattern and
flagged."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ..schema import LINE, SOURCE, Col, FrameSchema
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
_BLOCK = re.compile(r"<(Preferred|Supported)>(.*?)(?:</\1>|$)", re.DOTALL)
_VER = re.compile(r"<Version>\s*([^<\s]+)\s*</Version>")


def sniff(head: str) -> bool:
    return "<Versions>" in head and "<Version>" in head


def parse(text: str, *, source: str) -> ParseResult:
    issues: list[ParseIssue] = []
    found: dict[str, dict] = {}
    try:
        root = ET.fromstring(text.lstrip("\ufeff").strip())
        for block in ("Preferred", "Supported"):
            for v in root.findall(f"{block}/Version"):
                d = found.setdefault(v.text.strip(), {"preferred": False, "supported": False})
                d[block.lower()] = True
    except ET.ParseError as exc:
        issues.append(ParseIssue(source, exc.position[0] if exc.position else None, "bad-xml",
                                 f"not well-formed XML ({exc}); versions read by pattern", parser=NAME))
        for block, body in _BLOCK.findall(text):
            for v in _VER.findall(body):
                d = found.setdefault(v, {"preferred": False, "supported": False})
                d[block.lower()] = True
    lines = text.splitlines()
    rows = []
    for ver, flags in found.items():
        line = next((i for i, ln in enumerate(lines, start=1) if ver in ln), None)
        rows.append({"source": source, "line": line, "version": ver, **flags})
    return ParseResult({NAME: WIRESERVER_VERSIONS.from_records(rows)}, issues)
