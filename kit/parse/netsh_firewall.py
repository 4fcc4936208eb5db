"""``netsh advfirewall firewall show rule name=all dir=out [verbose]`` text -> the ``firewall_rules`` frame.

Layout (tests/shapes/netsh_firewall/SOURCES.md): one block per rule, ``Rule Name:`` and its value, a line of 70
dashes, then ``Label:`` lines with the value in column 39 (``Enabled``, ``Direction``, ``Profiles``, ``Grouping``,
``LocalIP``, ``RemoteIP``, ``Protocol``, ``LocalPort``/``RemotePort`` for TCP/UDP, ``Edge traversal``, with
``verbose`` also ``Program``, ``Service``, ``InterfaceTypes``, ``Security``, ``Rule source``; ``Action`` last),
blank lines between blocks, ``Ok.`` at the end.

The frame holds enabled outbound block rules only (its contract, shared with ``commands/firewall_rules.json``):
a rule that says ``Enabled: No``, ``Direction: In`` or ``Action: Allow`` is read and left out. A block that does
not say all three (cut paste) is left out with a ``truncated-block`` issue: the rules that use this frame take a
missing field as "enabled outbound block", which netsh text does not promise.

Only English labels and values are known: no real localized ``show rule`` output was found (SOURCES.md). Windows
translates both the labels and the values (``Ja``/``Eingehend``/``Zulassen``), so localized output is recognised
by its structure (a ``label: value`` line over 70 dashes) and reported as ``unknown-label`` with no rows: nothing
is guessed, and the firewall rules count as not read.
"""

from __future__ import annotations

import re

from ..textio import split_lines
from .base import ParseIssue, ParseResult
from .firewall_rules import FIREWALL_RULES

NAME = "netsh_firewall"
DESCRIPTION = "Windows Defender Firewall rules as `netsh advfirewall firewall show rule` text (English)."
PATTERNS = ("commands/netsh_advfirewall*.txt", "commands/netsh_firewall*.txt", "commands/firewall_rules.txt")
FRAMES = {"firewall_rules": FIREWALL_RULES}

_LABELS = {"rule name": "name", "description": None, "enabled": "enabled", "direction": "direction",
           "profiles": "profile", "grouping": None, "localip": None, "remoteip": "remote_address",
           "protocol": "protocol", "localport": None, "remoteport": "remote_port", "edge traversal": None,
           "program": "program", "service": None, "interfacetypes": None, "security": None,
           "rule source": "policy_store_source", "action": "action", "type": None, "code": None}
_DIRECTION = {"in": "Inbound", "out": "Outbound"}
_ACTION = {"allow": "Allow", "block": "Block", "bypass": "AllowBypass"}
_ENABLED = {"yes": True, "no": False}
_DASHES = re.compile(r"^-{20,}\s*$")
_ENTRY = re.compile(r"^(?P<label>[^\s:][^:]{0,40}?):(?:[ \t]+(?P<value>\S.*?))?[ \t]*$")
_SNIFF = re.compile(r"(?m)^(?P<label>[^\s:][^:\n]{0,40}:[ \t]+)\S[^\n]*\r?\n-{60,}[ \t]*\r?\n"
                    r"(?P<next>[^\s:][^:\n]{0,40}:[ \t]*)")


def sniff(head: str) -> bool:
    """A rule block: its name line, a line of 60+ dashes, and the next "Label: value" line. netsh pads every label
    to one column, so the value after the dashes starts where the name's value does (or the line ends there, for an
    empty value) - which an SDK's "ERROR CODE: X" above a rule of dashes and a JSON body does not do."""
    for m in _SNIFF.finditer(head):
        if len(m["next"].expandtabs()) == len(m["label"].expandtabs()) or not m["next"].endswith((" ", "\t")):
            return True
    return False


def parse(text: str, *, source: str) -> ParseResult:
    lines = split_lines(text)
    rows: list[dict] = []
    issues: list[ParseIssue] = []
    blocks: list[tuple[int, list[tuple[int, str, str]]]] = []
    for i, raw in enumerate(lines):
        if _DASHES.match(raw) and i > 0 and _ENTRY.match(lines[i - 1]):
            m = _ENTRY.match(lines[i - 1])
            blocks.append((i, [(i, m["label"].strip(), (m["value"] or "").strip())]))  # 1-based line of the name
            continue
        if not blocks or not raw.strip() or _DASHES.match(raw):
            continue
        if i + 1 < len(lines) and _DASHES.match(lines[i + 1]):
            continue  # the next rule's name line
        m = _ENTRY.match(raw)
        if m and not raw[0].isspace():
            blocks[-1][1].append((i + 1, m["label"].strip(), (m["value"] or "").strip()))
    if blocks and blocks[0][1][0][1].casefold() != "rule name":
        first = blocks[0][1][0]
        issues.append(ParseIssue(source, first[0], "unknown-label", f"netsh rule blocks start with {first[1]!r}, "
                                 "not 'Rule Name': output of a display language whose labels and values are not "
                                 "known; no firewall rule was read from it (nothing is guessed)", parser=NAME))
        return ParseResult({"firewall_rules": FIREWALL_RULES.from_records([])}, issues)
    unknown: dict[str, int] = {}
    for _, entries in blocks:
        rec: dict[str, str] = {}
        for n, label, value in entries:
            key = label.casefold()
            if key not in _LABELS:
                unknown.setdefault(label, n)
            elif _LABELS[key]:
                rec.setdefault(_LABELS[key], value)
        line = entries[0][0]
        enabled = _ENABLED.get(rec.get("enabled", "").casefold())
        direction = _DIRECTION.get(rec.get("direction", "").casefold())
        action = _ACTION.get(rec.get("action", "").casefold())
        if enabled is None or direction is None or action is None:
            issues.append(ParseIssue(source, line, "truncated-block", f"rule {rec.get('name')!r}: expected "
                                     "'Enabled: Yes|No', 'Direction: In|Out' and 'Action: Allow|Block|Bypass'; "
                                     "found " + ", ".join(f"{k}={rec.get(k)!r}" for k in ("enabled", "direction",
                                                                                            "action"))
                                     + "; the rule is not used", parser=NAME))
            continue
        if not (enabled and direction == "Outbound" and action == "Block"):
            continue  # the frame holds enabled outbound block rules
        profile = rec.get("profile")
        rows.append({"source": source, "line": line, "name": rec.get("name") or "", "display_name": rec.get("name"),
                     "enabled": enabled, "direction": direction, "action": action,
                     "profile": ", ".join(p.strip() for p in profile.split(",")) if profile else None,
                     "protocol": rec.get("protocol") or None, "remote_address": rec.get("remote_address") or None,
                     "remote_port": rec.get("remote_port") or None, "program": rec.get("program") or None,
                     "policy_store_source": rec.get("policy_store_source") or None})
    for label, n in unknown.items():
        issues.append(ParseIssue(source, n, "unknown-label", f"netsh rule label {label!r} is not known; its value "
                                 "is not used", parser=NAME))
    return ParseResult({"firewall_rules": FIREWALL_RULES.from_records(rows)}, issues)
