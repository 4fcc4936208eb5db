"""Which extension (``Publisher.Type``) and handler version a file belongs to, from wherever the evidence gives it.

One place for it: the parsers read a file's identity from its ``source`` path with :func:`from_path`, and
:mod:`kit.bundle` uses the content readers below to give a file whose path says nothing (a folder copied by hand,
a renamed file) its canonical layout path before it is parsed. Pure functions, no I/O.

Evidence, in the order the bundle consults it:

1. the path: the kit layout (``.../Plugins/<Publisher.Type>/<version>/...``) or a folder named
   ``<Publisher.Type>-<version>`` / ``<Publisher.Type>_<version>`` (what copying a plugin folder by hand and
   flattening its name gives, e.g. ``Microsoft.Azure.KeyVault.KeyVaultForWindows-3.0.2``);
2. ``HandlerEnvironment.json`` beside the file: its ``name`` and the ``logFolder`` / ``configFolder`` /
   ``statusFolder`` paths, which end in ``...\\Plugins\\<Publisher.Type>\\<version>`` (formats doc §3.1, §6);
3. the handler log's own lines that name its folders: ``HandlerEnvironment = ... LogFolder:
   "C:\\WindowsAzure\\Logs\\Plugins\\<P.T>\\<ver>"`` (RunCommand, formats doc §3.1) or the Key Vault service
   log's ``Initializing file-based logging, sending file logs to C:\\WindowsAzure\\Logs\\Plugins\\<P.T>\\<ver>``.

A status file's content names neither (``status.name`` is a short handler name such as ``BGInfo`` when present,
formats doc §6.1), so it is not used for identity.
"""

from __future__ import annotations

import json
import re

#: A handler version as the agent names its folders: 1.10.15, 3.1.2195.61.
VERSION = r"\d+(?:\.\d+){1,3}"
#: ``Publisher.Type``: two or more dotted names (Microsoft.Compute.BGInfo).
NAME = r"[A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)+"
#: A folder named ``<Publisher.Type>-<version>`` or ``<Publisher.Type>_<version>``.
NAME_VERSION = re.compile(rf"^(?P<name>{NAME})[-_ ](?P<version>{VERSION})$")
_IS_VERSION = re.compile(rf"^{VERSION}$")
_IS_NAME = re.compile(rf"^{NAME}$")
#: ``...\\WindowsAzure\\Logs\\Plugins\\<P.T>\\<ver>`` or ``...\\Packages\\Plugins\\<P.T>\\<ver>`` in any text.
_WINDOWS_PLUGIN_PATH = re.compile(rf"(?:WindowsAzure[\\/]+Logs|Packages)[\\/]+Plugins[\\/]+(?P<name>{NAME})[\\/]+"
                                  rf"(?P<version>{VERSION})(?![\d.])", re.IGNORECASE)
#: Lines a handler writes about its own folders (preferred over any other path the log mentions).
_OWN_FOLDER_LINE = re.compile(r"LogFolder|ConfigFolder|StatusFolder|sending file logs to|HandlerEnvironment",
                              re.IGNORECASE)


def from_path(source: str) -> tuple[str | None, str | None]:
    """(Publisher.Type, version) from a path, kit layout or hand-copied; None for what the path does not say.

    ``.../Plugins/<name>/<version>/...`` and ``.../Plugins/<name>-<version>/...`` give both; ``.../Plugins/<name>/x``
    gives the name only; a ``<name>-<version>`` folder anywhere gives both."""
    parts = [p for p in source.replace("\\", "/").split("/") if p]
    for i, p in enumerate(parts[:-1]):
        if p.lower() != "plugins":
            continue
        rest = parts[i + 1:-1]  # folders below Plugins (the last part is the file)
        if not rest:
            break
        m = NAME_VERSION.match(rest[0])
        if m:
            return m.group("name"), m.group("version")
        ver = rest[1] if len(rest) > 1 and _IS_VERSION.match(rest[1]) else None
        return rest[0], ver
    for p in parts[:-1]:
        m = NAME_VERSION.match(p)
        if m:
            return m.group("name"), m.group("version")
    return None, None


def from_windows_path(text: str) -> tuple[str | None, str | None]:
    """(Publisher.Type, version) from the first ``...\\Plugins\\<P.T>\\<ver>`` folder in ``text``."""
    m = _WINDOWS_PLUGIN_PATH.search(text)
    return (m.group("name"), m.group("version")) if m else (None, None)


def from_handler_environment(text: str) -> tuple[str | None, str | None]:
    """(Publisher.Type, version) from a HandlerEnvironment.json's text: ``name`` and the folders it lists. The
    folders win over ``name`` when both are there (they carry the version too)."""
    try:
        doc = json.loads(text.lstrip("\ufeff"))
    except (ValueError, RecursionError):
        return from_windows_path(text)  # damaged JSON: the folder paths may still be readable
    entries = doc if isinstance(doc, list) else [doc]
    for e in entries:
        if not isinstance(e, dict):
            continue
        he = next((v for k, v in e.items() if k.lower() == "handlerenvironment"), None)
        name = next((v for k, v in e.items() if k.lower() == "name"), None)
        if isinstance(he, dict):
            for v in he.values():
                if isinstance(v, str):
                    ext, ver = from_windows_path(v)
                    if ext is not None:
                        return ext, ver
        if isinstance(name, str) and _IS_NAME.match(name.strip()):
            return name.strip(), None
    return None, None


def from_log_text(text: str) -> tuple[str | None, str | None]:
    """(Publisher.Type, version) from a handler log's lines that name its own folders (see the module docs);
    else from the first plugin folder the text mentions."""
    fallback: tuple[str | None, str | None] = (None, None)
    for line in text.splitlines():
        ext, ver = from_windows_path(line)
        if ext is None:
            continue
        if _OWN_FOLDER_LINE.search(line):
            return ext, ver
        if fallback[0] is None:
            fallback = (ext, ver)
    return fallback


def is_version(text: str) -> bool:
    return bool(_IS_VERSION.match(text))


def is_name(text: str) -> bool:
    return bool(_IS_NAME.match(text))
