"""Extension runtime settings: ``C/Packages/Plugins/<ext>/<ver>/RuntimeSettings/<n>.settings`` (formats doc §6.2).

Only **public** settings enter the frame. ``protectedSettings`` (base64 CMS encrypted to the CRP certificate) never
enters a frame, a repr, an issue or any output: the parser keeps only whether it is present and its length. When
the file is damaged, the protected value is blanked out of the text *before* anything else looks at it.
"""

from __future__ import annotations

import json
import re

from ..schema import LINE, SOURCE, Col, FrameSchema
from ._jsonutil import as_list, get, load, looks_like, plugin_from_path
from .base import ParseIssue, ParseResult

NAME = "ext_settings"
DESCRIPTION = "Extension runtime settings (RuntimeSettings/<n>.settings), public part only."
PATTERNS = ("c/packages/plugins/*/*/runtimesettings/*.settings",)

#: "protectedSettings": "<anything up to the closing quote, or to the end of a cut file>"
_PROTECTED = re.compile(r'("protectedSettings"\s*:\s*")([^"]*)("?)', re.IGNORECASE)

EXT_SETTINGS = FrameSchema(
    "ext_settings",
    "One row per handler settings block of each runtime settings file. protectedSettings is never included.",
    (SOURCE, LINE,
     Col("extension", "str", "Publisher.Type from the path."),
     Col("ext_version", "str", "Handler version from the path."),
     Col("seq", "Int64", "Sequence number from the file name."),
     Col("handler_index", "Int64", "Index in runtimeSettings[]."),
     Col("public_settings", "str", "publicSettings as compact JSON (keys sorted); a string when the customer "
         "passed the settings as an escaped JSON string."),
     Col("public_settings_keys", "str", "Top-level keys of publicSettings, comma-separated."),
     Col("has_protected_settings", "bool", "protectedSettings is present and non-empty.", False),
     Col("protected_settings_length", "Int64", "Length of the protectedSettings base64 text (never its value)."),
     Col("protected_cert_thumbprint", "str", "protectedSettingsCertThumbprint (the certificate, not a secret)."),
     Col("damaged", "bool", "The file could not be read cleanly.", False),
     Col("damage", "str", "Why.")),
)
FRAMES = {"ext_settings": EXT_SETTINGS}


def sniff(head: str) -> bool:
    return looks_like(head, "runtimeSettings")


def redact_protected(text: str) -> tuple[str, list[int]]:
    """Blank every protectedSettings value; returns the safe text and the original value lengths."""
    lengths: list[int] = []

    def sub(m: re.Match[str]) -> str:
        lengths.append(len(m.group(2)))
        return m.group(1) + "<redacted>" + m.group(3)

    return _PROTECTED.sub(sub, text), lengths


def parse(text: str, *, source: str) -> ParseResult:
    ext, ver, seq = plugin_from_path(source)
    safe, lengths = redact_protected(text)
    data, issues = load(safe, source=source, parser=NAME)
    base = {"source": source, "line": None, "extension": ext, "ext_version": ver, "seq": seq}
    rows = []
    damaged = bool(issues)
    blocks = as_list(get(data, "runtimeSettings")) if isinstance(data, dict) else []
    for i, block in enumerate(blocks):
        hs = get(block, "handlerSettings") or {}
        pub = get(hs, "publicSettings")
        if isinstance(pub, str):
            issues.append(ParseIssue(source, None, "settings-as-string",
                                     "publicSettings is a JSON string, not an object (settings passed as an escaped "
                                     "JSON string, e.g. from PowerShell ConvertTo-Json); handlers expecting an object "
                                     "fail with 'not an object'", text=pub[:200], parser=NAME))
            pub_text, keys = pub, None
        elif pub is None:
            pub_text, keys = None, None
        else:
            pub_text = json.dumps(pub, sort_keys=True, separators=(",", ":"))
            keys = ",".join(pub.keys()) if isinstance(pub, dict) else None
        n = lengths[i] if i < len(lengths) else None
        rows.append({**base, "handler_index": i, "public_settings": pub_text, "public_settings_keys": keys,
                     "has_protected_settings": bool(n), "protected_settings_length": n,
                     "protected_cert_thumbprint": get(hs, "protectedSettingsCertThumbprint"),
                     "damaged": damaged, "damage": issues[0].message if damaged else None})
    if not rows:
        rows.append({**base, "has_protected_settings": bool(lengths and lengths[0]),
                     "protected_settings_length": lengths[0] if lengths else None, "damaged": True,
                     "damage": issues[0].message if issues else "no runtimeSettings[] in the file"})
        if not issues:
            issues.append(ParseIssue(source, None, "unexpected-shape", "expected {\"runtimeSettings\": [...]}",
                                     parser=NAME))
    return ParseResult({NAME: EXT_SETTINGS.from_records(rows)}, issues)
