"""The extension goal state the host sent: ``ExtensionsConfig`` XML (on Windows the agent keeps it under
``C:\\WindowsAzure\\Config``, which the guest log collector and disk-inspection manifests copy,
``/WindowsAzure/config/*.xml``; the support brief names it ``WireServerRoleExtensionsConfig_*.xml``).

The schema is the one WireServer serves to every agent (``?comp=config&type=extensionsConfig``); the real documents the
kit follows are WALinuxAgent's test data (``tests/data/wire/ext_conf*.xml``)::

    <Extensions version="1.0.0.0" goalStateIncarnation="9">
      <Plugins>
        <Plugin name="Publisher.Type" version="1.0.0" location="..." state="enabled" autoUpgrade="false" .../>
      </Plugins>
      <PluginSettings>
        <Plugin name="Publisher.Type" version="1.0.0"><RuntimeSettings seqNo="0">{json}</RuntimeSettings></Plugin>
      </PluginSettings>
      <StatusUploadBlob statusBlobType="BlockBlob">https://...?...&sig=...</StatusUploadBlob>
      <InVMGoalStateMetaData inSvdSeqNo="10" createdOnTicks="637726657706205217" activityId="..." .../>
    </Extensions>

Only what the rules compare is kept: extension, version, state, auto-upgrade, settings sequence number, and when the
goal state was created (.NET ticks). The settings (protected ones are encrypted blobs) and the status blob URL (a SAS
with its signature) are secrets: never copied into a frame or an issue.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from ..schema import LINE, SOURCE, Col, FrameSchema
from ._jsonutil import to_bool, to_int
from .base import ParseIssue, ParseResult

NAME = "extensions_config"
DESCRIPTION = "The extension goal state the host sent (ExtensionsConfig XML)."
PATTERNS = ("*extensionsconfig*.xml", "*ext_conf*.xml")

GOAL_STATE = FrameSchema(
    "goal_state_extensions",
    "One row per extension handler in an extension goal state (ExtensionsConfig): what the host asked the agent to "
    "run. Settings and the status blob URL are never copied.",
    (SOURCE, LINE,
     Col("incarnation", "Int64", "`goalStateIncarnation` of the document."),
     Col("created", "datetime", "`InVMGoalStateMetaData/@createdOnTicks` (.NET ticks, UTC): when the goal state was "
         "created; NaT when absent."),
     Col("extension", "str", "`Plugin/@name` (Publisher.Type)."),
     Col("version", "str", "`Plugin/@version`: the handler version asked for."),
     Col("state", "str", "`Plugin/@state` as written (`enabled`, `disabled`, `uninstall`)."),
     Col("auto_upgrade", "boolean", "`Plugin/@autoUpgrade`."),
     Col("seq", "Int64", "`PluginSettings/Plugin/RuntimeSettings/@seqNo`: the settings sequence number asked for."),
     Col("text", "str", "The element as evidence: name, version, state, autoUpgrade, seqNo (no URL, no settings)."),
     Col("damaged", "bool", "The document could not be read whole; the row comes from a tag found in it.", False)),
)
FRAMES = {GOAL_STATE.name: GOAL_STATE}

_ROOT = re.compile(r"<Extensions[\s>]")
_PLUGIN_TAG = re.compile(r"<Plugin\s([^<>]*?)/?>", re.DOTALL)
_ATTR = re.compile(r'([\w:]+)\s*=\s*"([^"]*)"')
_TICKS_EPOCH = datetime(1, 1, 1, tzinfo=UTC)
#: A goal state never declares a document type or entities; one that does is refused (entity expansion).
_HOSTILE = re.compile(r"<!DOCTYPE|<!ENTITY", re.IGNORECASE)


def sniff(head: str) -> bool:
    h = head.lstrip("\ufeff \t\r\n")
    if h.startswith("<?xml"):
        h = h[h.find("?>") + 2:].lstrip() if "?>" in h else h
    return bool(_ROOT.match(h)) and ("<Plugins" in head or "<PluginSettings" in head or "<GuestAgentExtension" in head)


def _created(ticks: str | None) -> datetime | None:
    n = to_int(ticks)
    if n is None or n <= 0:
        return None
    try:
        return _TICKS_EPOCH + timedelta(microseconds=n // 10)
    except OverflowError:
        return None


def _text(a: dict[str, str], seq: int | None) -> str:
    parts = [f"{k}={a[k]}" for k in ("name", "version", "state", "autoUpgrade") if k in a]
    return "Plugin " + ", ".join(parts + ([f"seqNo={seq}"] if seq is not None else []))


def _row(source: str, a: dict[str, str], seq: int | None, incarnation: int | None, created: datetime | None,
         damaged: bool) -> dict:
    return {"source": source, "line": None, "incarnation": incarnation, "created": created,
            "extension": a.get("name") or None, "version": a.get("version") or None, "state": a.get("state") or None,
            "auto_upgrade": to_bool(a.get("autoUpgrade")), "seq": seq, "text": _text(a, seq), "damaged": damaged}


def _line_of(text: str, name: str | None) -> int | None:
    if not name:
        return None
    i = text.find(f'name="{name}"')
    return None if i < 0 else text.count("\n", 0, i) + 1


def parse(text: str, *, source: str) -> ParseResult:
    body = text.lstrip("\ufeff")
    issues: list[ParseIssue] = []
    if _HOSTILE.search(body):
        issues.append(ParseIssue(source, 1, "refused", "expected a plain ExtensionsConfig document, found a document "
                                 "type or entity declaration: not read", parser=NAME))
        return ParseResult({GOAL_STATE.name: GOAL_STATE.empty()}, issues)
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        line = exc.position[0] if exc.position else None
        issues.append(ParseIssue(source, line, "bad-xml", f"expected a well-formed ExtensionsConfig document, found "
                                 f"an XML error at line {line} ({str(exc).split(':')[0]}); the <Plugin> tags before "
                                 "it were read one by one", parser=NAME))
        return _salvage(body, source, issues)
    if root.tag != "Extensions":
        issues.append(ParseIssue(source, None, "unexpected-shape", f"expected an <Extensions> root, found <{root.tag}>",
                                 parser=NAME))
        return ParseResult({GOAL_STATE.name: GOAL_STATE.empty()}, issues)
    incarnation = to_int(root.get("goalStateIncarnation"))
    meta = root.find("InVMGoalStateMetaData")
    created = _created(meta.get("createdOnTicks") if meta is not None else None)
    seqs: dict[tuple[str, str], int | None] = {}
    for p in root.findall("PluginSettings/Plugin"):
        rs = p.find("RuntimeSettings")
        if rs is not None:
            seqs[(p.get("name", ""), p.get("version", ""))] = to_int(rs.get("seqNo"))
    rows = []
    for p in root.findall("Plugins/Plugin"):
        a = dict(p.attrib)
        row = _row(source, a, seqs.get((a.get("name", ""), a.get("version", ""))), incarnation, created, False)
        row["line"] = _line_of(body, a.get("name"))
        if not row["extension"] or not row["version"]:
            issues.append(ParseIssue(source, row["line"], "missing-field", "expected name and version on <Plugin>, "
                                     f"found {_text(a, None)}", parser=NAME))
        rows.append(row)
    return ParseResult({GOAL_STATE.name: GOAL_STATE.from_records(rows)}, issues)


def _salvage(body: str, source: str, issues: list[ParseIssue]) -> ParseResult:
    """Rows from the complete ``<Plugin .../>`` tags of the ``<Plugins>`` part of a damaged document."""
    m = re.search(r'goalStateIncarnation\s*=\s*"(\d+)"', body)
    incarnation = int(m.group(1)) if m else None
    t = re.search(r'createdOnTicks\s*=\s*"(\d+)"', body)
    created = _created(t.group(1)) if t else None
    start, end = body.find("<Plugins>"), body.find("</Plugins>")
    part = body[start:end if end > start else len(body)] if start >= 0 else ""
    rows = []
    for tag in _PLUGIN_TAG.finditer(part):
        a = dict(_ATTR.findall(tag.group(1)))
        if a.get("name") and a.get("version") and "state" in a:
            row = _row(source, a, None, incarnation, created, True)
            row["line"] = body.count("\n", 0, start + tag.start()) + 1
            rows.append(row)
    return ParseResult({GOAL_STATE.name: GOAL_STATE.from_records(rows)}, issues)
