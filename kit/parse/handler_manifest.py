"""HandlerManifest.json of an extension package: ``C/Packages/Plugins/<ext>/<ver>/HandlerManifest.json``.

The formats doc is silent on this file's content. The shape used here is the public one every extension package
ships: an array with one object ``{"version": 1.0, "handlerManifest": {"installCommand", "uninstallCommand",
"updateCommand", "enableCommand", "disableCommand", "rebootAfterInstall", "reportHeartbeat", "updateMode",
"supportsMultipleExtensions", ...}}``. Field names confirmed in Azure/azure-linux-extensions
``CustomScript/HandlerManifest.json`` (commands, rebootAfterInstall, reportHeartbeat) and Azure/WALinuxAgent
``tests/data/ext/handler_manifest/valid_manifest.json`` (supportsMultipleExtensions, continueOnUpdateFailure);
``updateMode: "UpdateWithInstall"`` as in the elastic/beats Azure VM extension's manifest. WALinuxAgent's
``manifest_boolean_fields_strings.json`` shows booleans written as strings (``"true"``, ``"True"``): they are read
as booleans; anything else (``"invalid"``, ``1``) is NA with a ``bad-value`` issue.
"""

from __future__ import annotations

from ..schema import LINE, SOURCE, Col, FrameSchema
from ._jsonutil import as_list, get, load, looks_like, plugin_from_path, to_bool
from .base import ParseIssue, ParseResult

NAME = "handler_manifest"
DESCRIPTION = "Extension HandlerManifest.json."
PATTERNS = ("c/packages/plugins/*/*/handlermanifest.json",)

HANDLER_MANIFEST = FrameSchema(
    "handler_manifest",
    "One row per extension package's HandlerManifest.json: the commands the agent runs for each operation.",
    (SOURCE, LINE,
     Col("extension", "str", "Publisher.Type from the path."),
     Col("ext_version", "str", "Handler version from the path."),
     Col("install_command", "str", "installCommand."),
     Col("uninstall_command", "str", "uninstallCommand."),
     Col("update_command", "str", "updateCommand."),
     Col("enable_command", "str", "enableCommand."),
     Col("disable_command", "str", "disableCommand."),
     Col("reboot_after_install", "boolean", "rebootAfterInstall."),
     Col("report_heartbeat", "boolean", "reportHeartbeat."),
     Col("update_mode", "str", "updateMode (e.g. UpdateWithInstall)."),
     Col("supports_multiple_extensions", "boolean", "supportsMultipleExtensions."),
     Col("damaged", "bool", "The file could not be read cleanly (half-written JSON, no handlerManifest).", False),
     Col("damage", "str", "Why.")),
)
FRAMES = {NAME: HANDLER_MANIFEST}

_COMMANDS = (("install_command", "installCommand"), ("uninstall_command", "uninstallCommand"),
             ("update_command", "updateCommand"), ("enable_command", "enableCommand"),
             ("disable_command", "disableCommand"), ("update_mode", "updateMode"))
_FLAGS = (("reboot_after_install", "rebootAfterInstall"), ("report_heartbeat", "reportHeartbeat"),
          ("supports_multiple_extensions", "supportsMultipleExtensions"))


def sniff(head: str) -> bool:
    return looks_like(head, "handlerManifest")


def parse(text: str, *, source: str) -> ParseResult:
    ext, ver, _ = plugin_from_path(source)
    data, issues = load(text, source=source, parser=NAME, partial=True)
    base = {"source": source, "line": None, "extension": ext, "ext_version": ver}
    file_damage = [i.message for i in issues]
    rows = []
    for entry in as_list(data):
        hm = get(entry, "handlerManifest")
        if not isinstance(hm, dict):
            continue
        row = {**base, **{col: None if get(hm, key) is None else str(get(hm, key)) for col, key in _COMMANDS}}
        for col, key in _FLAGS:
            raw = get(hm, key)
            row[col] = to_bool(raw)
            if raw is not None and row[col] is None:
                issues.append(ParseIssue(source, None, "bad-value", f"expected true or false in handlerManifest."
                                         f"{key}, found {str(raw)[:60]!r}", text=str(raw), parser=NAME))
        rows.append({**row, "damaged": bool(file_damage), "damage": "; ".join(file_damage) or None})
    if not rows:
        if not issues:
            issues.append(ParseIssue(source, None, "unexpected-shape", "expected [{\"version\": 1.0, "
                                     "\"handlerManifest\": {...}}], found no handlerManifest object", parser=NAME))
        rows.append({**base, "damaged": True, "damage": "; ".join(i.message for i in issues)})
    return ParseResult({NAME: HANDLER_MANIFEST.from_records(rows)}, issues)
