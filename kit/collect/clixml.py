"""Decode the CLIXML that ``powershell.exe`` writes to stderr when its streams are redirected.

``#< CLIXML`` followed by ``<Objs>`` holding ``<S S="Error">`` strings (and progress objects, warnings, verbose
records). Text escapes control characters as ``_xHHHH_`` (``_x000D__x000A_`` is CRLF). Only the error stream is
an error; progress records ("Preparing modules for first use.") are noise.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

_PREFIX = b"#< CLIXML"
_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def _unescape(text: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def decode_stderr(data: bytes) -> dict[str, str]:
    """Split stderr into streams: ``{"error": ..., "warning": ..., "verbose": ..., "debug": ..., "other": ...}``.

    Plain (non-CLIXML) stderr comes back as ``{"other": text}``. Unparseable CLIXML is kept as ``other``
    rather than lost.
    """
    raw = data.lstrip(b"\xef\xbb\xbf")  # code page 65001 may put a BOM first
    if not raw.startswith(_PREFIX):
        text = raw.decode("utf-8", errors="replace").strip()
        return {"other": text} if text else {}
    body = raw[len(_PREFIX):].decode("utf-8", errors="replace")
    streams: dict[str, list[str]] = {}
    # Several CLIXML documents may follow each other (one per write); parse each <Objs> block.
    for block in re.findall(r"<Objs\b.*?</Objs>", body, flags=re.S):
        block = re.sub(r'\sxmlns="[^"]+"', "", block, count=1)
        try:
            root = ET.fromstring(block)
        except ET.ParseError:
            streams.setdefault("other", []).append(block)
            continue
        for node in root:
            if node.tag != "S":
                continue  # progress and other objects
            name = (node.get("S") or "other").lower()
            streams.setdefault(name, []).append(_unescape(node.text or ""))
    return {k: "".join(v).strip() for k, v in streams.items() if "".join(v).strip()}


def error_text(data: bytes) -> str:
    """The error stream's text (or any plain stderr), for an error message; empty when there is none."""
    s = decode_stderr(data)
    return s.get("error") or s.get("other") or ""
