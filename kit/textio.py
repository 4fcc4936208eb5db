"""Decode the bytes of a Windows artifact into text, whatever Windows (or a customer's editor) wrote.

Handles UTF-8 with or without BOM, UTF-16 LE/BE with BOM, UTF-16 LE without BOM (detected by its NUL
pattern), NUL padding (files pre-allocated by the writer, or PowerShell's ``Out-File`` into a UTF-8 file),
and bytes that are not valid UTF-8 (decoded as Windows-1252, the ANSI code page of western Windows).
Line endings are left untouched in the text: use :func:`split_lines` so that CRLF, LF and a lone CR each
end exactly one line, as Notepad counts them.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field

_LINE_BREAK = re.compile(r"\r\n|\n|\r")


@dataclass(frozen=True)
class Decoded:
    """Text decoded from bytes, and how it was decoded."""

    text: str
    encoding: str  # "utf-8", "utf-8-sig", "utf-16-le", "utf-16-be", "cp1252"
    bom: bool = False
    nul_bytes_removed: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def newline(self) -> str:
        """``CRLF``, ``LF``, ``CR``, ``mixed`` or ``none``."""
        crlf = self.text.count("\r\n")
        lf = self.text.count("\n") - crlf
        cr = self.text.count("\r") - crlf
        kinds = [k for k, n in (("CRLF", crlf), ("LF", lf), ("CR", cr)) if n]
        if not kinds:
            return "none"
        return kinds[0] if len(kinds) == 1 else "mixed"


def _looks_utf16le(data: bytes) -> bool:
    sample = data[:4096]
    if len(sample) < 4:
        return False
    odd_nuls = sample[1::2].count(0)
    even_nuls = sample[0::2].count(0)
    return odd_nuls > len(sample) // 2 * 0.6 and even_nuls < len(sample) // 2 * 0.1


def _looks_utf16be(data: bytes) -> bool:
    sample = data[:4096]
    if len(sample) < 4:
        return False
    even_nuls = sample[0::2].count(0)
    odd_nuls = sample[1::2].count(0)
    return even_nuls > len(sample) // 2 * 0.6 and odd_nuls < len(sample) // 2 * 0.1


def decode(data: bytes) -> Decoded:
    """Decode ``data``; never raises for any input."""
    notes: list[str] = []
    if data.startswith(codecs.BOM_UTF8):
        enc, bom, body = "utf-8-sig", True, data[3:]
    elif data.startswith(codecs.BOM_UTF16_LE):
        enc, bom, body = "utf-16-le", True, data[2:]
    elif data.startswith(codecs.BOM_UTF16_BE):
        enc, bom, body = "utf-16-be", True, data[2:]
    elif _looks_utf16le(data):
        enc, bom, body = "utf-16-le", False, data
        notes.append("UTF-16 LE without BOM (detected from NUL pattern)")
    elif _looks_utf16be(data):
        enc, bom, body = "utf-16-be", False, data
        notes.append("UTF-16 BE without BOM (detected from NUL pattern)")
    else:
        enc, bom, body = "utf-8", False, data

    if enc.startswith("utf-16"):
        if len(body) % 2:
            notes.append("odd byte count for UTF-16: last byte dropped (file cut mid-character)")
            body = body[:-1]
        text = body.decode(enc, errors="replace")
    else:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            # A file cut in the middle of a multi-byte character is still UTF-8.
            if exc.start >= len(body) - 3 and exc.reason == "unexpected end of data":
                text = body[: exc.start].decode("utf-8") + "\ufffd"
                notes.append("file ends in the middle of a UTF-8 character")
            else:
                text = body.decode("cp1252", errors="replace")
                enc = "cp1252"
                notes.append(f"not valid UTF-8 at byte {exc.start}: decoded as Windows-1252")
    nuls = text.count("\x00")
    if nuls:
        text = text.replace("\x00", "")
        notes.append(f"{nuls} NUL characters removed")
    return Decoded(text=text, encoding=enc, bom=bom, nul_bytes_removed=nuls, notes=tuple(notes))


def split_lines(text: str) -> list[str]:
    """Split on CRLF, LF or CR (each ends one line). A trailing line break does not add an empty line."""
    if not text:
        return []
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def ends_with_newline(text: str) -> bool:
    return text.endswith(("\n", "\r"))
