"""HandlerEnvironment.json: where an extension logs, reads its settings and writes its status (formats doc §6.2)."""

from __future__ import annotations

from ..schema import LINE, SOURCE, Col, FrameSchema
from ._jsonutil import as_list, get, load, looks_like, plugin_from_path
from .base import ParseResult

NAME = "handler_env"
DESCRIPTION = "Extension HandlerEnvironment.json."
PATTERNS = ("c/packages/plugins/*/*/handlerenvironment.json",)

HANDLER_ENV = FrameSchema(
    "handler_env",
    "One row per HandlerEnvironment.json entry: the folders the agent gave the handler.",
    (SOURCE, LINE,
     Col("extension", "str", "Publisher.Type from the path."),
     Col("ext_version", "str", "Handler version from the path."),
     Col("name", "str", "name."),
     Col("log_folder", "str", "handlerEnvironment.logFolder."),
     Col("config_folder", "str", "handlerEnvironment.configFolder."),
     Col("status_folder", "str", "handlerEnvironment.statusFolder."),
     Col("heartbeat_file", "str", "handlerEnvironment.heartbeatFile."),
     Col("events_folder", "str", "handlerEnvironment.eventsFolder, when present.")),
)
FRAMES = {NAME: HANDLER_ENV}


def sniff(head: str) -> bool:
    return looks_like(head, "handlerEnvironment")


def parse(text: str, *, source: str) -> ParseResult:
    ext, ver, _ = plugin_from_path(source)
    data, issues = load(text, source=source, parser=NAME)
    rows = []
    for entry in as_list(data):
        he = get(entry, "handlerEnvironment")
        if not isinstance(he, dict):
            continue
        rows.append({"source": source, "line": None, "extension": ext, "ext_version": ver, "name": get(entry, "name"),
                     "log_folder": get(he, "logFolder"), "config_folder": get(he, "configFolder"),
                     "status_folder": get(he, "statusFolder"), "heartbeat_file": get(he, "heartbeatFile"),
                     "events_folder": get(he, "eventsFolder")})
    return ParseResult({NAME: HANDLER_ENV.from_records(rows)}, issues)
