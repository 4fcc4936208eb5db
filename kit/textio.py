"""Decode the bytes of a Windows artifact into text the way the Windows machine that wrote them encoded them.

**The rule** (:func:`decode`; every step is recorded in :attr:`Decoded.how` and, where it is not the plain
UTF-8 case, in :attr:`Decoded.notes`):

1. **Byte order mark first.** ``EF BB BF`` is UTF-8, ``FF FE`` UTF-16 LE (PowerShell 5.1 ``Out-File`` and ``>``),
   ``FE FF`` UTF-16 BE.
2. **UTF-16 without BOM by its NUL pattern**: the ASCII characters of UTF-16 text (spaces, digits, line breaks)
   have a NUL in every other byte: more than 60% of the byte pairs (Latin text), or, from 64 bytes on, at least
   20% while the other half of the pairs never holds a NUL (Cyrillic or CJK text).
3. **Valid UTF-8 stays UTF-8** (pure ASCII is valid UTF-8, so it is never touched). A file cut in the middle of
   its last character is still UTF-8 (the cut character becomes U+FFFD) when two bytes of that character
   remain or UTF-8 precedes it. Bytes whose non-ASCII bytes are at least 80% well-formed multi-byte UTF-8
   sequences are damaged UTF-8, not a legacy code page (legacy text forms such sequences only by chance: at most
   24% of the non-ASCII bytes in the CJK samples of the tests): decoded as UTF-8, the invalid bytes replaced,
   and said so.
4. **Otherwise a Windows legacy code page**, chosen among the pages Windows writes command output and text files
   in, and only those (:data:`CANDIDATES`): the console **OEM** pages of cmd.exe redirection (``route print >
   x.txt`` on a German VM writes cp850, on a Russian one cp866) and the **ANSI** pages of ``Set-Content`` /
   Notepad (cp1252, cp1250, cp1251); the double-byte pages cp932/cp936/cp949/cp950 are both.
   The decision uses only the lines that hold a byte >= 0x80 (the ASCII rest says nothing), at most
   64 KiB of them, so a large file costs one scan and one decode:

   a. **Double-byte (CJK) pages: the detector decides.** charset-normalizer (kept, on PyPI and conda-forge),
      restricted to the candidates, ranks them by how much "mess" each decoding produces. Its best-ranked
      double-byte page is taken when its mess ratio is at most 0.2 and the decoding holds at least two
      double-byte letters that are what the page's language writes (:func:`_cjk_consistent`: Hangul for cp949,
      Han for cp936/cp950, Han and kana for cp932, at most a tenth of anything else). A lone byte in 0xA1-0xDF
      is a half-width katakana in cp932 and a letter in every single-byte page: that is no evidence.
   b. **Single-byte pages: a hand rule decides**, because the detector is wrong on them for short command
      output (it reads cp850 German as cp1251 or cp1250: its language model knows nothing of OEM pages). Each
      single-byte candidate that can decode the bytes is scored on its decoding: the share of the non-ASCII
      characters that are letters of one language the page serves (:data:`_ALPHABETS`: German, French,
      Spanish, Portuguese, Italian, Dutch, Nordic, Catalan for cp437/cp850/cp1252; Polish, Czech, Slovak,
      Hungarian, Romanian, Croatian/Slovenian for cp852/cp1250; Russian, Ukrainian, Belarusian, Bulgarian,
      Serbian for cp866/cp1251), for the language that gives the best share: a text is written in one
      language. A misplaced letter weighs 0.3: upper case right after lower case (``rÚseau``), a Latin letter
      in a run of three or more non-ASCII letters (``Ňĺęóůčĺ``, cp1251 read as cp1250), a Cyrillic letter next
      to an ASCII letter (``Primдres``). A typographic mark counts 1 where writers put it (``it’s``, ``“x”``,
      `` – ``: cp1252 text from an editor) and 0 elsewhere (``Prim„res``); box drawing and foreign letters 0.
      In cp1252 the bytes 0x80-0x9F are rare typographic marks where cp850 has its letters (ä=0x84, ö=0x94,
      ü=0x81, é=0x82); in cp866 0x80-0xAF are Cyrillic letters where cp1251 has them at 0xC0-0xFF: the score
      is what tells them apart. The best score wins; pages whose decoding is the same text are equal (cp437
      and cp850 agree on ä ö ü é); within 0.02 the order of :data:`PREFERENCE` decides. Without a hint the
      ANSI pages come first: OEM text shows itself (its letters are punctuation in cp1252), while cp1252 text
      can read as other letters in an OEM page (ä is õ in cp850). ``hint="oem"`` (the caller knows the file
      is redirected console output) puts the OEM pages first, ``hint="ansi"`` the ANSI pages. The hint only
      breaks ties; it never overrides what the bytes show.

   A single-byte choice is **confident** when its score is at least 0.8 and every page that decodes to a
   different text scores at least 0.15 less, or when it reads ten or more non-ASCII characters flawlessly and
   every other reading has a flaw (French ipconfig in cp850: cp852 reads its one ``à`` as the Czech ``ů`` beside
   an ``ô`` Czech does not have); a double-byte choice when the detector's conditions hold and no
   single-byte page reads the bytes confidently. When both a double-byte and a single-byte page read them well,
   or no page reads them well, the choice is a **guess**: decoded with the best page (the single-byte one if its
   score is at least 0.95), and the note says "guessed", "low confidence" and why. Bytes the chosen page does
   not define become U+FFFD, counted in a note.

Line endings are left untouched in the text: use :func:`split_lines` so that CRLF, LF and a lone CR each end
exactly one line, as Notepad counts them. :func:`decode` never raises, whatever the bytes.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

#: What the caller knows about who wrote the bytes: cmd.exe console output ("oem") or an editor/Set-Content ("ansi").
Hint = Literal["oem", "ansi"]

_LINE_BREAK = re.compile(r"\r\n|\n|\r")

#: Windows code pages a legacy artifact is decoded with: codec -> (OEM/ANSI, script, Windows name and use).
CANDIDATES: dict[str, tuple[str, str, str]] = {
    "cp437": ("OEM", "Latin", "OEM 437, United States"),
    "cp850": ("OEM", "Latin", "OEM 850, Western European"),
    "cp852": ("OEM", "Latin", "OEM 852, Central European"),
    "cp866": ("OEM", "Cyrillic", "OEM 866, Cyrillic"),
    "cp1250": ("ANSI", "Latin", "ANSI Windows-1250, Central European"),
    "cp1251": ("ANSI", "Cyrillic", "ANSI Windows-1251, Cyrillic"),
    "cp1252": ("ANSI", "Latin", "ANSI Windows-1252, Western European"),
    "cp932": ("OEM and ANSI", "CJK", "OEM/ANSI 932 Shift JIS, Japanese"),
    "cp936": ("OEM and ANSI", "CJK", "OEM/ANSI 936 GBK, Simplified Chinese"),
    "cp949": ("OEM and ANSI", "CJK", "OEM/ANSI 949 UHC, Korean"),
    "cp950": ("OEM and ANSI", "CJK", "OEM/ANSI 950 Big5, Traditional Chinese"),
}
_SINGLE_BYTE = tuple(cp for cp, (_, script, _) in CANDIDATES.items() if script != "CJK")
_DOUBLE_BYTE = tuple(cp for cp, (_, script, _) in CANDIDATES.items() if script == "CJK")

#: Tie-break order among single-byte pages whose scores are within 0.02 (without a hint, with each hint).
PREFERENCE: dict[str | None, tuple[str, ...]] = {
    None: ("cp1252", "cp850", "cp1250", "cp852", "cp1251", "cp866", "cp437"),
    "oem": ("cp850", "cp852", "cp866", "cp437", "cp1252", "cp1250", "cp1251"),
    "ansi": ("cp1252", "cp1250", "cp1251", "cp850", "cp852", "cp866", "cp437"),
}

# The non-ASCII letters of the languages each kind of page serves (lower case). Rule 4b scores a decoding by the
# one language whose alphabet holds most of its non-ASCII characters: a text is written in one language.
_ALPHABETS: dict[str, dict[str, frozenset[str]]] = {
    "Western": {lang: frozenset(letters) for lang, letters in {
        "German": "äöüß", "French": "àâçéèêëîïôùûü", "Spanish": "áéíñóúü", "Portuguese": "àáâãçéêíóôõú",
        "Italian": "àèéìíîòóùú", "Dutch": "áéíóúàèëïöü", "Danish/Norwegian": "æøåé", "Swedish/Finnish": "åäöé",
        "Icelandic": "áðéíóúýþæö", "Catalan": "àçèéíïòóúü"}.items()},
    "Central": {lang: frozenset(letters) for lang, letters in {
        "Polish": "ąćęłńóśźż", "Czech": "áčďéěíňóřšťúůýž", "Slovak": "áäčďéíĺľňóôŕšťúýž", "Hungarian": "áéíóöőúüű",
        "Romanian": "ăâîșțşţ", "Croatian/Slovenian": "čćđšž"}.items()},
    "Cyrillic": {lang: frozenset(letters) for lang, letters in {
        "Russian": "абвгдеёжзийклмнопрстуфхцчшщъыьэюя", "Ukrainian": "абвгґдеєжзиіїйклмнопрстуфхцчшщьюя",
        "Belarusian": "абвгдеёжзійклмнопрстуўфхцчшыьэюя", "Bulgarian": "абвгдежзийклмнопрстуфхцчшщъьюя",
        "Serbian/Macedonian": "абвгдђѓежзѕијклљмнњопрстћќуфхцчџш"}.items()},
}
#: The alphabets each single-byte candidate serves.
_PAGE_ALPHABETS = {"cp437": "Western", "cp850": "Western", "cp1252": "Western", "cp852": "Central",
                   "cp1250": "Central", "cp866": "Cyrillic", "cp1251": "Cyrillic"}
_SAMPLE_LIMIT = 64 * 1024
_SCORE_CHARS = 16 * 1024  # rule 4b scores the first 16 Ki characters of the sample (a Python loop per character)
_HIGH_BYTE = re.compile(rb"[\x80-\xff]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]"
    rb"|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2}")
_CONFIDENT_SCORE = 0.8
_CONFIDENT_MARGIN = 0.15
_CONFIDENT_COUNT = 10  # a flawless reading of this many non-ASCII characters beats any flawed one
_TIE = 0.02
_DETECTOR_MAX_CHAOS = 0.2


@dataclass(frozen=True)
class Decoded:
    """Text decoded from bytes, and how it was decoded."""

    text: str
    encoding: str  # "utf-8", "utf-8-sig", "utf-16-le", "utf-16-be", or a Windows code page of CANDIDATES
    bom: bool = False
    nul_bytes_removed: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: How the encoding was chosen, e.g. "valid UTF-8", "UTF-16 LE BOM", "cp850 (detected: ...)".
    how: str = ""
    #: False when the encoding is a low-confidence guess among legacy code pages (the notes say "guessed").
    confident: bool = True

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


def _looks_utf16(data: bytes, zero: int) -> bool:
    """UTF-16 without BOM: the byte at parity ``zero`` (1 for LE, 0 for BE) of ASCII characters is NUL. Either most
    of them are (Latin text), or, in 64 bytes or more, at least a fifth while the other parity never is (Cyrillic,
    CJK text)."""
    sample = data[:4096]
    if len(sample) < 4:
        return False
    pairs = len(sample) // 2
    high = sample[zero::2].count(0)
    low = sample[1 - zero::2].count(0)
    return (high > pairs * 0.6 and low < pairs * 0.1) or (pairs >= 32 and high >= pairs * 0.2 and low == 0)


def _looks_utf16le(data: bytes) -> bool:
    return _looks_utf16(data, 1)


def _looks_utf16be(data: bytes) -> bool:
    return _looks_utf16(data, 0)


def _next_high(body: bytes, pos: int) -> int:
    """Offset of the first byte >= 0x80 at or after ``pos``, or -1; ASCII stretches are skipped 64 KiB at a time."""
    while pos < len(body):
        end = min(len(body), pos + 65536)
        if not body[pos:end].isascii():
            m = _HIGH_BYTE.search(body, pos, end)
            if m:
                return m.start()
        pos = end
    return -1


def _sample(body: bytes, pos: int = 0) -> bytes:
    """The lines holding a byte >= 0x80 (from offset ``pos`` on), joined by LF, at most about 64 KiB: all a code
    page can be told by."""
    parts: list[bytes] = []
    size = 0
    while size < _SAMPLE_LIMIT and (at := _next_high(body, pos)) >= 0:
        start = body.rfind(b"\n", 0, at) + 1
        end = body.find(b"\n", at)
        end = len(body) if end < 0 else end
        if end - start > 8192:  # a long line (one-line JSON): a window around the byte, cut at spaces
            lo = body.rfind(b" ", start, max(start, at - 1024))
            start = lo + 1 if lo >= 0 else start
            hi = body.find(b" ", min(end, at + 4096), end)
            end = hi if hi >= 0 else end
        parts.append(body[start:end])
        size += end - start + 1
        pos = end + 1
    return b"\n".join(parts)[:_SAMPLE_LIMIT]


def _first_high_line(body: bytes, first_invalid: int) -> int:
    """Where to look for bytes >= 0x80: the line of the first invalid UTF-8 byte when all before it is ASCII (a
    quick test: no need to scan a large ASCII head again), else the start."""
    return body.rfind(b"\n", 0, first_invalid) + 1 if body[:first_invalid].isascii() else 0


def _decode_tolerant(data: bytes, enc: str) -> str | None:
    """``data`` decoded strictly with ``enc``; a character cut at the very end is dropped. None if undecodable."""
    try:
        return data.decode(enc)
    except UnicodeDecodeError as exc:
        if enc in _DOUBLE_BYTE and exc.start >= len(data) - 3 and exc.end == len(data):
            try:
                return data[: exc.start].decode(enc)
            except UnicodeDecodeError:
                return None
        return None
    except LookupError:  # pragma: no cover - every candidate is a standard Python codec
        return None


def _plausibility(text: str, page: str) -> tuple[float, str]:
    """Rule 4b score of ``text`` as decoded by the single-byte ``page``, and the language that gives it.

    Each non-ASCII character weighs 1, cut to 0.3 for an upper-case letter right after a lower-case one, for a
    Latin letter in a run of three or more non-ASCII letters, and for a Cyrillic letter next to an ASCII letter.
    The score is the weight of the characters that are letters of the best language's alphabet, or typographic
    marks in their place, over the number of non-ASCII characters: 1.0 when every one is a well-placed letter of
    one language or a well-placed mark.
    """
    weights: dict[str, float] = {}
    count = 0
    marks = 0
    latin = page != "cp866" and page != "cp1251"
    for m in _NON_ASCII.finditer(text):
        count += 1
        ch = m.group()
        i = m.start()
        before = text[i - 1] if i else ""
        after = text[i + 1] if i + 1 < len(text) else ""
        if not ch.isalpha():
            marks += _well_placed_mark(ch, before, after)
            continue
        weight = 1.0
        if ch.isupper() and before.isalpha() and before.islower():
            weight *= 0.3  # rÚseau
        if latin and _non_ascii_run(text, i) >= 3:
            weight *= 0.3  # Ňĺęóůčĺ: a Latin word has ASCII letters between its accented ones
        if not latin and any(c.isascii() and c.isalpha() for c in (before, after)):
            weight *= 0.3  # Primдres: a Cyrillic word is not spelled with ASCII letters
        low = ch.lower()
        weights[low] = weights.get(low, 0.0) + weight
    if not count:
        return 0.0, ""
    best, language = marks / count, ""
    for lang, alphabet in _ALPHABETS[_PAGE_ALPHABETS[page]].items():
        score = (marks + sum(w for ch, w in weights.items() if ch in alphabet)) / count
        if score > best:
            best, language = score, lang
    return best, language


def _well_placed_mark(ch: str, before: str, after: str) -> bool:
    """A typographic mark where writers put it: an opening quote before a word, a closing quote or apostrophe
    after one (``it’s``, ``“Ethernet”``), a dash next to a space or between digits, an ellipsis after a word,
    a symbol (° € ™ ...) not inside a word. ``Prim„res`` (cp850 ä read as cp1252) is none of these."""
    word_before, word_after = before.isalnum(), after.isalnum()
    if ch in "“‘„«‚¿¡":
        return word_after and not word_before
    if ch in "”’»":
        return word_before and (not word_after or ch == "’")
    if ch in "–—":
        return " " in (before, after) or (before.isdigit() and after.isdigit())
    if ch == "…":
        return not word_after
    if ch in "•·":
        return not (word_before and word_after)
    if ch in "°€£§©®™±×":
        return not (before.isalpha() and after.isalpha())
    return False


def _non_ascii_run(text: str, i: int) -> int:
    """Length of the run of non-ASCII letters around position ``i``."""
    start = i
    while start > 0 and not text[start - 1].isascii() and text[start - 1].isalpha():
        start -= 1
    end = i + 1
    while end < len(text) and not text[end].isascii() and text[end].isalpha():
        end += 1
    return end - start


def _double_byte_chars(text: str) -> list[str]:
    """Characters of ``text`` that took two bytes in a CJK page (not ASCII, not half-width katakana)."""
    return [m.group() for m in _NON_ASCII.finditer(text) if not "\uff61" <= m.group() <= "\uff9f"]


def _cjk_consistent(cp: str, text: str) -> bool:
    """The double-byte letters of ``text`` are what ``cp``'s language writes: Hangul (at least 80%, the rest Han)
    for cp949; at least half Han, or Han and kana for cp932; and at most a tenth of other letters (kana in
    Chinese, Greek or Cyrillic from the symbol rows, private-use characters), which is what a wrong CJK page
    makes of another one's bytes (GBK read as cp949: ``殮쌈련狂``)."""
    letters = [c for c in _double_byte_chars(text) if c.isalpha() or unicodedata.category(c) in ("Co", "Cn")]
    if len(letters) < 2:
        return False
    names = [unicodedata.name(c, "") for c in letters]
    han = sum(n.startswith("CJK UNIFIED") for n in names)
    if cp == "cp949":
        native = sum(n.startswith("HANGUL") for n in names)
        foreign = len(letters) - native - han
        return native >= 0.8 * len(letters) and foreign <= 0.1 * len(letters)
    native = han + (sum(n.startswith(("HIRAGANA", "KATAKANA")) for n in names) if cp == "cp932" else 0)
    return native >= 0.5 * len(letters) and len(letters) - native <= 0.1 * len(letters)


def _detector(sample: bytes) -> list[tuple[str, float]]:
    """charset-normalizer's ranking of the candidate pages for ``sample``: (page, mess ratio), best first."""
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - declared dependency; without it CJK pages are not detected
        return []
    try:
        matches = list(from_bytes(sample, cp_isolation=list(CANDIDATES)))
    except Exception:  # a detector bug must not stop decoding
        return []
    alias = {"gbk": "cp936", "gb2312": "cp936", "big5": "cp950", "shift_jis": "cp932", "euc_kr": "cp949"}
    ranked = [(alias.get(m.encoding, m.encoding), float(m.chaos)) for m in matches]
    return [(cp, chaos) for cp, chaos in ranked if cp in CANDIDATES]


def _whole_characters(sample: bytes) -> bytes:
    """``sample`` without the file's last line (or, when it is the only one, without its cut last character):
    the detector drops a double-byte page that cannot decode the very end."""
    head = sample.rpartition(b"\n")[0]
    if any(b >= 0x80 for b in head):
        return head
    for cp in _DOUBLE_BYTE:
        try:
            sample.decode(cp)
        except UnicodeDecodeError as exc:
            if exc.end == len(sample) and exc.start >= len(sample) - 3:
                return sample[: exc.start]
    return sample


def _describe(cp: str) -> str:
    return CANDIDATES[cp][2]


def _single_byte(sample: bytes, hint: str | None) -> tuple[str, float, bool, str, list[str]]:
    """Rule 4b: (page, score, confident, detail, pages giving the same text) among the single-byte candidates."""
    order = PREFERENCE.get(hint, PREFERENCE[None])
    scored: list[tuple[float, int, str, str, str]] = []
    for cp in _SINGLE_BYTE:
        text = _decode_tolerant(sample, cp)
        if text is not None:
            score, lang = _plausibility(text[:_SCORE_CHARS], cp)
            scored.append((score, order.index(cp), cp, text, lang))
    if not scored:  # pragma: no cover - cp437, cp850, cp852 and cp866 define all 256 bytes
        scored.append((0.0, 0, "cp850", sample.decode("cp850"), ""))
    top = max(x[0] for x in scored)
    score, _, cp, text, lang = min((x for x in scored if x[0] >= top - _TIE), key=lambda x: x[1])
    same = [c for _, _, c, t, _ in scored if c != cp and t == text]
    rivals = sorted(((sc, c) for sc, _, c, t, _ in scored if t != text), reverse=True)
    runner = f"next {rivals[0][1]} {rivals[0][0]:.0%}" if rivals else "no other page reads it differently"
    what = f"{lang} letters" if lang else "typographic marks"
    detail = (f"{score:.0%} of {len(_NON_ASCII.findall(text[:_SCORE_CHARS]))} non-ASCII characters read as {what} "
              "in place, "
              f"{runner}" + (f"; same text in {', '.join(same)}" if same else ""))
    count = len(_NON_ASCII.findall(text[:_SCORE_CHARS]))
    confident = score >= _CONFIDENT_SCORE and (
        not rivals or score - rivals[0][0] >= _CONFIDENT_MARGIN
        or (score >= 0.999 and count >= _CONFIDENT_COUNT and rivals[0][0] < score))
    return cp, score, confident, detail, same


def _choose_legacy(body: bytes, sample: bytes, hint: str | None, bad_at: int) -> tuple[str, bool, str]:
    """(code page, confident, note) for ``body``, not UTF-8 from offset ``bad_at`` on; ``sample``: its lines that
    hold a byte >= 0x80."""
    why = f"not valid UTF-8 at byte {bad_at}"
    cut = any(b >= 0x80 for b in body[body.rfind(b"\n") + 1:])  # the last line may end in a cut character
    ranked = _detector(_whole_characters(sample) if cut else sample)
    cjk = next(((cp, chaos) for cp, chaos in ranked if cp in _DOUBLE_BYTE and chaos <= _DETECTOR_MAX_CHAOS
                and (text := _decode_tolerant(sample, cp)) is not None and _cjk_consistent(cp, text)), None)
    sb, score, sb_confident, detail, same = _single_byte(sample, hint)
    if hint in ("oem", "ansi"):
        detail += f"; hint {hint}"
    if ranked and ranked[0][0] not in (sb, *same, cjk and cjk[0]):
        detail += f"; charset-normalizer ranked {ranked[0][0]} first"
    if cjk and not sb_confident:
        cp, chaos = cjk
        return cp, True, (f"{cp} ({_describe(cp)}, detected: {why}; charset-normalizer picked it among the "
                          f"Windows code pages, mess ratio {chaos:.2f}; single-byte pages read it worse: {detail})")
    if cjk:  # both a double-byte page and a single-byte page read it well: a genuine ambiguity
        cp = sb if score >= 0.95 else cjk[0]
        other = cjk[0] if cp == sb else sb
        return cp, False, (f"guessed {cp} ({_describe(cp)}; low confidence: {why}; {other} reads it as well: "
                           f"charset-normalizer mess ratio {cjk[1]:.2f} for {cjk[0]}; {detail})")
    if sb_confident:
        return sb, True, f"{sb} ({_describe(sb)}, detected: {why}; {detail})"
    return sb, False, f"guessed {sb} ({_describe(sb)}; low confidence: {why}; {detail})"


def _damaged_utf8(sample: bytes) -> bool:
    """True when the non-ASCII bytes of ``sample`` are mostly well-formed multi-byte UTF-8 (a damaged UTF-8 file)."""
    high = sum(1 for b in sample if b >= 0x80)
    valid = sum(len(m.group()) for m in _UTF8_SEQUENCE.finditer(sample))
    return high > 0 and valid >= 0.8 * high


def decode(data: bytes, *, hint: Hint | None = None) -> Decoded:
    """Decode ``data`` by the module's rule; never raises for any input.

    ``hint`` is ``"oem"`` when the caller knows the bytes are console output redirected by cmd.exe, ``"ansi"``
    when they were written by Set-Content or an editor; it only breaks ties between legacy code pages.
    """
    try:
        return _decode(bytes(data), hint if hint in ("oem", "ansi") else None)
    except Exception as exc:  # pragma: no cover - last resort: the public API never raises
        text = bytes(data).decode("cp850").replace("\x00", "")
        return Decoded(text=text, encoding="cp850", notes=(f"guessed cp850 after a decoder error: {exc!r}",),
                       how="guessed cp850 after a decoder error", confident=False)


def _decode(data: bytes, hint: str | None) -> Decoded:
    notes: list[str] = []
    confident = True
    if data.startswith(codecs.BOM_UTF8):
        enc, bom, body, how = "utf-8-sig", True, data[3:], "UTF-8 BOM"
    elif data.startswith(codecs.BOM_UTF16_LE):
        enc, bom, body, how = "utf-16-le", True, data[2:], "UTF-16 LE BOM"
    elif data.startswith(codecs.BOM_UTF16_BE):
        enc, bom, body, how = "utf-16-be", True, data[2:], "UTF-16 BE BOM"
    elif _looks_utf16le(data):
        enc, bom, body, how = "utf-16-le", False, data, "UTF-16 LE without BOM (detected from NUL pattern)"
        notes.append(how)
    elif _looks_utf16be(data):
        enc, bom, body, how = "utf-16-be", False, data, "UTF-16 BE without BOM (detected from NUL pattern)"
        notes.append(how)
    else:
        enc, bom, body, how = "utf-8", False, data, "valid UTF-8"

    if enc.startswith("utf-16"):
        if len(body) % 2:
            notes.append("odd byte count for UTF-16: last byte dropped (file cut mid-character)")
            body = body[:-1]
        text = body.decode(enc, errors="replace")
    else:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start >= len(body) - 3 and exc.reason == "unexpected end of data" and (
                    len(body) - exc.start >= 2 or not body[: exc.start].isascii()):
                # A file cut in the middle of a multi-byte character is still UTF-8 (when something says UTF-8:
                # more of the cut character, or UTF-8 before it; a lone last é of cp1252 is no evidence).
                text = body[: exc.start].decode("utf-8") + "\ufffd"
                how = "UTF-8 cut in its last character"
                notes.append("file ends in the middle of a UTF-8 character")
            elif _damaged_utf8(sample := _sample(body, _first_high_line(body, exc.start))):
                text = body.decode("utf-8", errors="replace")
                bad = text.count("\ufffd") - body.decode("utf-8", errors="ignore").count("\ufffd")
                how = "damaged UTF-8"
                notes.append(f"not valid UTF-8 at byte {exc.start}: {bad} invalid sequence(s) replaced by U+FFFD; "
                             "the other non-ASCII bytes are well-formed UTF-8")
            else:
                enc, confident, how = _choose_legacy(body, sample, hint, exc.start)
                notes.append(how)
                text, more = _decode_legacy(body, enc)
                notes += more
    nuls = text.count("\x00")
    if nuls:
        text = text.replace("\x00", "")
        notes.append(f"{nuls} NUL characters removed")
    return Decoded(text=text, encoding=enc, bom=bom, nul_bytes_removed=nuls, notes=tuple(notes), how=how,
                   confident=confident)


def _decode_legacy(body: bytes, enc: str) -> tuple[str, list[str]]:
    """``body`` decoded with the chosen page, and notes for a cut last character or undefined bytes."""
    try:
        return body.decode(enc), []
    except UnicodeDecodeError as exc:
        if enc in _DOUBLE_BYTE and exc.start >= len(body) - 3 and exc.end == len(body):
            try:
                return body[: exc.start].decode(enc) + "\ufffd", [f"file ends in the middle of a {enc} character"]
            except UnicodeDecodeError:
                pass
    text = body.decode(enc, errors="replace")
    return text, [f"{text.count(chr(0xFFFD))} byte(s) not defined in {enc} replaced by U+FFFD"]


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
