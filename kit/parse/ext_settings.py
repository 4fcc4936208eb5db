"""Extension runtime settings: ``C/Packages/Plugins/<ext>/<ver>/RuntimeSettings/<n>.settings`` (formats doc §6.2).

Only **public** settings enter the frame. ``protectedSettings`` (base64 CMS encrypted to the CRP certificate) never
enters a frame, a repr, an issue or any output: the parser keeps only whether it is present and its length. When
the file is damaged, the protected value is blanked out of the text *before* anything else looks at it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ..schema import LINE, SOURCE, Col, FrameSchema
from ._jsonutil import as_list, get, load, looks_like, plugin_from_path
from .base import ParseIssue, ParseResult

NAME = "ext_settings"
DESCRIPTION = "Extension runtime settings (RuntimeSettings/<n>.settings), public part only."
PATTERNS = ("c/packages/plugins/*/*/runtimesettings/*.settings",)

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


@dataclass(frozen=True)
class Protected:
    """What the parser keeps of one protectedSettings value: never the value itself."""

    length: int | None  # length of the base64 text; None when it was cut or is not a string
    complete: bool  # the value ended inside the file (False: the file was cut inside it)


#: The protectedSettings key and the start of its value. Matched case-insensitively, wherever it appears.
_PROTECTED_KEY = re.compile(r'"protectedSettings"\s*:\s*', re.IGNORECASE)
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"?|[{}\[\]]', re.DOTALL)
_PLACEHOLDER = re.compile(r"^<redacted:(\d+)>$")


def _end_of_container(text: str, start: int) -> int | None:
    """Index just past the object/array opening at ``start`` (strings skipped), None when the file ends first."""
    depth = 0
    for m in _STRING_OR_BRACKET.finditer(text, start):
        tok = m.group()
        if tok in "{[":
            depth += 1
        elif tok in "}]":
            depth -= 1
            if depth == 0:
                return m.end()
    return None


def redact_protected(text: str) -> tuple[str, list[Protected]]:
    """Replace every protectedSettings value with a ``"<redacted:k>"`` placeholder *before* anything parses
    the text, so no later step (JSON errors, recovery of a cut file, frames, issues) can see it. A string value
    cut by the end of the file, or an object/array value (a decrypted copy pasted by someone), is removed
    through its end or the end of the file. Returns the safe text and what is known of each value, by k."""
    out: list[str] = []
    found: list[Protected] = []
    pos = 0
    while True:
        m = _PROTECTED_KEY.search(text, pos)
        if m is None:
            break
        start = m.end()
        k = len(found)
        if text.startswith('"', start):
            sm = _JSON_STRING.match(text, start)
            if sm is None:  # cut inside the value: everything to the end of the file is the value
                out.append(text[pos:start] + f'"<redacted:{k}>')
                found.append(Protected(None, False))
                pos = len(text)
                break
            value = sm.group()[1:-1]
            found.append(Protected(len(value.replace("\\/", "/")), True))
            out.append(text[pos:start] + f'"<redacted:{k}>"')
            pos = sm.end()
        elif text.startswith(("{", "["), start):
            end = _end_of_container(text, start)
            out.append(text[pos:start] + f'"<redacted:{k}>' + ('"' if end is not None else ""))
            found.append(Protected(None, end is not None))
            if end is None:
                pos = len(text)
                break
            pos = end
        else:  # null, or the file ends right after the colon: nothing secret here
            out.append(text[pos:start])
            pos = start
    out.append(text[pos:])
    return "".join(out), found


def _public(pub: object, source: str, issues: list[ParseIssue]) -> tuple[str | None, str | None]:
    if pub is None:
        return None, None
    if isinstance(pub, str):
        try:
            inner = json.loads(pub)
        except (json.JSONDecodeError, RecursionError):
            inner = None
        holds = ("an escaped JSON " + ("object" if isinstance(inner, dict) else type(inner).__name__)
                 if inner is not None else "text that is not JSON")
        issues.append(ParseIssue(source, None, "settings-as-string",
                                 f"expected publicSettings to be a JSON object, found a JSON string holding {holds} "
                                 "(settings passed as a string, e.g. from PowerShell ConvertTo-Json); handlers "
                                 "that expect an object ignore or reject them", text=pub[:300], parser=NAME))
        return pub, None
    text = json.dumps(pub, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text, ",".join(str(k) for k in pub) if isinstance(pub, dict) else None


def parse(text: str, *, source: str) -> ParseResult:
    ext, ver, seq = plugin_from_path(source)
    safe, protected = redact_protected(text)
    del text  # from here on only the redacted text exists in this function
    data, issues = load(safe, source=source, parser=NAME, partial=True)
    base = {"source": source, "line": None, "extension": ext, "ext_version": ver, "seq": seq}
    file_damage = [i.message for i in issues]
    blocks = [b for d in as_list(data) if isinstance(d, dict) for b in as_list(get(d, "runtimeSettings"))]
    rows = []
    for i, block in enumerate(blocks):
        damage = list(file_damage)
        hs = get(block, "handlerSettings")
        hs = hs if isinstance(hs, dict) else {}
        if not hs:
            damage.append(f"runtimeSettings[{i}] has no handlerSettings object")
        pub_text, keys = _public(get(hs, "publicSettings"), source, issues)
        value = get(hs, "protectedSettings")
        ref = _PLACEHOLDER.match(value) if isinstance(value, str) else None
        info = protected[int(ref.group(1))] if ref else None
        if info is None and value is None and i == len(blocks) - 1 and protected and not protected[-1].complete:
            info = protected[-1]  # the cut value belongs to the block the file ended in (recovery dropped it)
        if info is not None and not info.complete:
            damage.append("the file ends inside protectedSettings (its length is unknown)")
        thumb = get(hs, "protectedSettingsCertThumbprint")
        rows.append({**base, "handler_index": i, "public_settings": pub_text, "public_settings_keys": keys,
                     "has_protected_settings": info is not None and (info.length != 0),
                     "protected_settings_length": info.length if info else None,
                     "protected_cert_thumbprint": None if thumb is None else str(thumb),
                     "damaged": bool(damage), "damage": "; ".join(damage) if damage else None})
    if not rows:
        if not issues:
            issues.append(ParseIssue(source, None, "unexpected-shape", "expected {\"runtimeSettings\": [{\""
                                     "handlerSettings\": {...}}]}, found no runtimeSettings blocks", parser=NAME))
        damage = [i.message for i in issues]
        if any(not p.complete for p in protected):
            damage.append("the file ends inside protectedSettings (its length is unknown)")
        first = protected[0] if protected else None
        rows.append({**base, "has_protected_settings": first is not None,
                     "protected_settings_length": first.length if first else None,
                     "damaged": True, "damage": "; ".join(damage)})
    return ParseResult({NAME: EXT_SETTINGS.from_records(rows)}, issues)
