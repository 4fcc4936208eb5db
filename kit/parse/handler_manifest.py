"""HandlerManifest.json of an extension package.

The formats doc is silent on this file's content; the shape used here is the public one of extension packages
(an array with one object: ``{"version": 1.0, "handlerManifest": {"installCommand": ..., "uninstallCommand",
"updateCommand", "enableCommand", "disableCommand", "rebootAfterInstall", "reportHeartbeat", "updateMode",
"supportsMultipleExtensions"}}``, as in Azure/azure-linux-extensions' HandlerManifest.json files).
"""

from __future__ import annotations

from ..schema import LINE, SOURCE, Col, FrameSchema
from ._jsonutil import as_list, get, load, looks_like, plugin_from_path, to_bool
from .base import ParseResult

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
     Col("update_mode", "str", "updateMode."),
     Col("supports_multiple_extensions", "boolean", "supportsMultipleExtensions.")),
)
FRAMES = {NAME: HANDLER_MANIFEST}


def sniff(head: str) -> bool:
    return looks_like(head, "handlerManifest")


def parse(text: str, *, source: str) -> ParseResult:
    ext, ver, _ = plugin_from_path(source)
    data, issues = load(text, source=source, parser=NAME)
    rows = []
    for entry in as_list(data):
        hm = get(entry, "handlerManifest")
        if not isinstance(hm, dict):
            continue
        rows.append({"source": source, "line": None, "extension": ext, "ext_version": ver,
                     "install_command": get(hm, "installCommand"), "uninstall_command": get(hm, "uninstallCommand"),
                     "update_command": get(hm, "updateCommand"), "enable_command": get(hm, "enableCommand"),
                     "disable_command": get(hm, "disableCommand"),
                     "reboot_after_install": to_bool(get(hm, "rebootAfterInstall")),
                     "report_heartbeat": to_bool(get(hm, "reportHeartbeat")), "update_mode": get(hm, "updateMode"),
                     "supports_multiple_extensions": to_bool(get(hm, "supportsMultipleExtensions"))})
    return ParseResult({NAME: HANDLER_MANIFEST.from_records(rows)}, issues)
