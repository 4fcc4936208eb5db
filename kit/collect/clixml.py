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


_S_ELEMENT = re.compile(r'<S(?:\s+S="([^"]*)")?\s*>(.*?)(</S>|\Z)', flags=re.S)
_XML_ENTITIES = {"&lt;": "<", "&gt;": ">", "&quot;": '"', "&apos;": "'", "&amp;": "&"}
CUT_SHORT = "[CLIXML cut short]"


def _salvage(block: str, streams: dict[str, list[str]], *, cut: bool) -> None:
    """The ``<S>`` strings of a block that does not parse (cut short, or damaged): each complete one, and the text of
    a last one left open, marked :data:`CUT_SHORT`. Nothing else of the block is invented or kept."""
    for m in _S_ELEMENT.finditer(block):
        text = re.sub(r"<[^>]*>?", "", m.group(2))  # a cut-off tag at the very end
        text = _unescape(re.sub(r"&(?:lt|gt|quot|apos|amp);", lambda e: _XML_ENTITIES[e.group(0)], text))
        if not m.group(3):
            text = text.rstrip() + (" " if text.strip() else "") + CUT_SHORT
        streams.setdefault((m.group(1) or "other").lower(), []).append(text)
    if cut and not any(m.group(3) == "" for m in _S_ELEMENT.finditer(block)):
        streams.setdefault("other", []).append(CUT_SHORT)


def decode_stderr(data: bytes) -> dict[str, str]:
    """Split stderr into streams: ``{"error": ..., "warning": ..., "verbose": ..., "debug": ..., "other": ...}``.

    Plain (non-CLIXML) stderr comes back as ``{"other": text}``. Text outside the ``<Objs>`` blocks (a native
    command's own stderr before or after PowerShell's records) is kept as ``other``. A block cut short (the stream
    ended, the shell was killed) or damaged keeps the strings it holds, a string left open marked
    :data:`CUT_SHORT`.
    """
    raw = data.lstrip(b"\xef\xbb\xbf")  # code page 65001 may put a BOM first
    if not raw.startswith(_PREFIX):
        text = raw.decode("utf-8", errors="replace").strip()
        return {"other": text} if text else {}
    body = raw[len(_PREFIX):].decode("utf-8", errors="replace")
    body = re.sub(r"(?m)^#< CLIXML\r?$", "", body)  # several writers: each repeats the marker
    streams: dict[str, list[str]] = {}
    pos = 0
    # Several CLIXML documents may follow each other (one per write); parse each <Objs> block.
    while True:
        i = body.find("<Objs", pos)
        between = body[pos:] if i < 0 else body[pos:i]
        if between.strip():
            streams.setdefault("other", []).append(between.strip() + "\n")
        if i < 0:
            break
        j = body.find("</Objs>", i)
        if j < 0:
            _salvage(body[i:], streams, cut=True)
            break
        block, pos = body[i:j + len("</Objs>")], j + len("</Objs>")
        try:
            root = ET.fromstring(re.sub(r'\sxmlns="[^"]+"', "", block, count=1))
        except ET.ParseError:
            _salvage(block, streams, cut=False)
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
