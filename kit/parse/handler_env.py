"""HandlerEnvironment.json: where an extension logs, reads its settings and writes its status (formats doc §6.2).

An array with one object ``{"name", "version", "seqNo"?, "handlerEnvironment": {"logFolder", "configFolder",
"statusFolder", "heartbeatFile", "eventsFolder"?, ...}}`` (generic shape: azure-linux-extensions Utils docstring,
quoted in §6.2; ``eventsFolder`` as in Azure/run-command-handler-linux ``internal/types/handlerenvironment.go``).
Windows values (§3.1, from a RunCommand log): ``LogFolder "C:\\WindowsAzure\\Logs\\Plugins\\<P.T>\\<ver>"``,
``ConfigFolder "C:\\Packages\\Plugins\\<P.T>\\<ver>\\RuntimeSettings"``, ``StatusFolder "...\\Status"``,
``HeartbeatFile "...\\Status\\HeartBeat.Json"``. A hand-edited copy with single backslashes is read with the
backslashes kept (``invalid-escape`` issue).
"""

from __future__ import annotations

from ..schema import LINE, SOURCE, Col, FrameSchema
from ._jsonutil import as_list, get, load, looks_like, plugin_from_path
from .base import ParseIssue, ParseResult

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
     Col("events_folder", "str", "handlerEnvironment.eventsFolder, when present."),
     Col("damaged", "bool", "The file could not be read cleanly (half-written JSON, single backslashes, no "
         "handlerEnvironment).", False),
     Col("damage", "str", "Why.")),
)
FRAMES = {NAME: HANDLER_ENV}

_FOLDERS = (("log_folder", "logFolder"), ("config_folder", "configFolder"), ("status_folder", "statusFolder"),
            ("heartbeat_file", "heartbeatFile"), ("events_folder", "eventsFolder"))


def sniff(head: str) -> bool:
    return looks_like(head, "handlerEnvironment")


def _text(v: object) -> str | None:
    return None if v is None else str(v)


def parse(text: str, *, source: str) -> ParseResult:
    ext, ver, _ = plugin_from_path(source)
    data, issues = load(text, source=source, parser=NAME, partial=True)
    base = {"source": source, "line": None, "extension": ext, "ext_version": ver}
    file_damage = [i.message for i in issues]
    rows = []
    for entry in as_list(data):
        he = get(entry, "handlerEnvironment")
        if not isinstance(he, dict):
            continue
        rows.append({**base, "name": _text(get(entry, "name")),
                     **{col: _text(get(he, key)) for col, key in _FOLDERS},
                     "damaged": bool(file_damage), "damage": "; ".join(file_damage) or None})
    if not rows:
        if not issues:
            issues.append(ParseIssue(source, None, "unexpected-shape", "expected [{\"name\": ..., \"version\": ..., "
                                     "\"handlerEnvironment\": {...}}], found no handlerEnvironment object",
                                     parser=NAME))
        rows.append({**base, "damaged": True, "damage": "; ".join(i.message for i in issues)})
    return ParseResult({NAME: HANDLER_ENV.from_records(rows)}, issues)
