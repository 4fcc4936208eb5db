"""kit.textio.decode on real localized command output in every encoding Windows writes it in.

The texts are in tests/shapes/encodings/ (UTF-8, LF; sources in SOURCES.md). Windows writes them with CRLF, so
every test renders them with CRLF before encoding, as cmd.exe redirection and PowerShell do.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import random
import shutil
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kit
import kit.textio as textio
from kit.textio import CANDIDATES, decode, split_lines
from tests.conftest import SAMPLES, make_bundle

SHAPES = Path(__file__).parent / "shapes" / "encodings"
#: The code pages each locale's Windows writes: console OEM page(s) and the ANSI page (CJK pages are both).
PAGES = {"de": ("cp850", "cp437", "cp1252"), "fr": ("cp850", "cp437", "cp1252"), "es": ("cp850", "cp437", "cp1252"),
         "pl": ("cp852", "cp1250"), "ru": ("cp866", "cp1251"), "ja": ("cp932",), "zh-CN": ("cp936",),
         "ko": ("cp949",), "zh-TW": ("cp950",)}
FIXTURES = sorted(SHAPES.glob("*.txt"))
LEGACY_CASES = [(p.name, cp) for p in FIXTURES for cp in PAGES[p.name.split("_")[0]]]


def windows_text(name: str) -> str:
    return (SHAPES / name).read_text(encoding="utf-8").replace("\n", "\r\n")


def same_page(a: str, b: str, text: str) -> bool:
    """``b`` names ``a`` or a page that gives ``text`` the very same bytes (cp437 and cp850 agree on äöüé)."""
    return a == b or text.encode(a) == text.encode(b, errors="replace")


def test_every_fixture_is_sourced_and_every_page_is_covered() -> None:
    sources = (SHAPES / "SOURCES.md").read_text(encoding="utf-8")
    for p in FIXTURES:
        assert f"`{p.name}`" in sources, p.name
    covered = {cp for _, cp in LEGACY_CASES}
    assert covered == set(CANDIDATES)
    for name, cp in LEGACY_CASES:
        text = windows_text(name)
        assert text.encode(cp).decode(cp) == text  # the text exists in that page
        assert any(ord(c) > 127 for c in text)


# -- round trips ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "page"), LEGACY_CASES)
def test_legacy_code_page_round_trip(name: str, page: str) -> None:
    text = windows_text(name)
    d = decode(text.encode(page))
    assert d.text == text
    assert same_page(page, d.encoding, text), (page, d.encoding)
    assert d.confident, d.notes
    assert d.notes[0].startswith(f"{d.encoding} (") and ", detected: not valid UTF-8 at byte" in d.notes[0]
    assert d.how == d.notes[0] and not d.bom


#: The parsers' localized fixtures written in an OEM code page next to their UTF-8 twin (tests/shapes/<parser>/).
OEM_TWINS = sorted(p for p in SHAPES.parent.glob("*/*.cp*.txt") if p.parent != SHAPES)


@pytest.mark.parametrize("path", OEM_TWINS, ids=lambda p: p.name)
def test_parser_fixtures_in_oem_pages_decode_to_their_utf8_twin(path: Path) -> None:
    page = path.name.rsplit(".", 2)[1]
    twin = next(t for t in (path.with_name(path.name.replace(f".{page}.", suffix)) for suffix in (".utf8.", ".utf-8."))
                if t.exists())
    text = twin.read_bytes().decode("utf-8")
    d = decode(path.read_bytes(), hint="oem")
    assert d.text == text
    assert same_page(page, d.encoding, text) or text.isascii()


UNICODE_FORMS = {
    "utf-8": lambda t: t.encode("utf-8"),
    "utf-8-sig": lambda t: codecs.BOM_UTF8 + t.encode("utf-8"),
    "utf-16-le BOM": lambda t: codecs.BOM_UTF16_LE + t.encode("utf-16-le"),  # PowerShell 5.1 Out-File and >
    "utf-16-le": lambda t: t.encode("utf-16-le"),
    "utf-16-be BOM": lambda t: codecs.BOM_UTF16_BE + t.encode("utf-16-be"),
}


@pytest.mark.parametrize("form", sorted(UNICODE_FORMS))
@pytest.mark.parametrize("name", [p.name for p in FIXTURES])
def test_unicode_round_trip(name: str, form: str) -> None:
    text = windows_text(name)
    d = decode(UNICODE_FORMS[form](text))
    assert d.text == text
    assert d.encoding == form.split()[0]
    assert d.bom is (form.endswith("BOM") or form == "utf-8-sig")
    assert d.confident
    assert d.notes == (("UTF-16 LE without BOM (detected from NUL pattern)",) if form == "utf-16-le" else ())


def test_pure_ascii_is_unchanged_and_never_detected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(textio, "_detector", lambda sample: pytest.fail("the detector ran on ASCII"))
    text = (SAMPLES / "healthy" / "commands" / "route_print.txt").read_text(encoding="ascii")
    for page in CANDIDATES:
        d = decode(text.encode(page))
        assert (d.text, d.encoding, d.notes, d.how, d.confident) == (text, "utf-8", (), "valid UTF-8", True)


def test_valid_utf8_never_reaches_the_detector(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(textio, "_detector", lambda sample: pytest.fail("the detector ran on UTF-8"))
    text = "".join(windows_text(p.name) for p in FIXTURES) * 50
    assert decode(text.encode("utf-8")).text == text


def test_detection_looks_at_a_bounded_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    real = textio._detector
    monkeypatch.setattr(textio, "_detector", lambda sample: seen.append(len(sample)) or real(sample))
    line = windows_text("de_ipconfig_all.txt")
    data = (line * 400).encode("cp850")  # ~550 KB of OEM text
    d = decode(data)
    assert d.encoding == "cp850" and d.text == line * 400
    assert seen and seen[0] <= 64 * 1024


# -- the cases the rule exists for ---------------------------------------------------------------------------
def test_german_route_print_in_cp850_is_not_mojibake() -> None:
    text = "Ständige Routen:\r\n  Keine\r\n"
    d = decode(text.encode("cp850"))
    assert d.text == text and "St„ndige" not in d.text
    assert d.encoding == "cp850" and d.confident
    assert "read as German letters in place" in d.notes[0] and "same text in cp437" in d.notes[0]


def test_ansi_typographic_marks_are_not_oem_letters() -> None:
    # cp1252 text from an editor: the marks are cp850 letters (“ is ô, ” is ö, – is û, ’ is Æ, … is à) but only
    # where a writer puts marks do they make sense. windows-agent-formats.md (lines 417, 1278) reports "it’s"
    # (a cp1252 curly apostrophe) in pasted text.
    text = "The adapter “Ethernet 2” – it’s connected…\r\n"
    d = decode(text.encode("cp1252"))
    assert (d.encoding, d.text, d.confident) == ("cp1252", text, True)
    assert "typographic marks in place" in d.notes[0]


def test_one_ambiguous_letter_is_a_guess_that_says_so() -> None:
    # 0xE4 is ä in cp1252 and õ in cp850: one such letter cannot tell them apart.
    d = decode("Lease läuft ab\r\n".encode("cp1252"))
    assert d.text == "Lease läuft ab\r\n" and d.encoding == "cp1252"
    assert not d.confident
    assert d.notes[0].startswith("guessed cp1252 (ANSI Windows-1252") and "low confidence" in d.notes[0]


def test_hint_breaks_ties_but_never_overrides_the_bytes() -> None:
    ambiguous = "Lease läuft ab\r\n".encode("cp1252")
    assert decode(ambiguous).encoding == "cp1252"
    assert decode(ambiguous, hint="ansi").encoding == "cp1252"
    oem = decode(ambiguous, hint="oem")
    assert oem.encoding == "cp850" and not oem.confident and "hint oem" in oem.notes[0]
    clear = windows_text("fr_route_print.txt")
    assert decode(clear.encode("cp850"), hint="ansi").encoding == "cp850"
    assert decode(clear.encode("cp1252"), hint="oem").encoding == "cp1252"
    assert decode(clear.encode("cp850"), hint="bogus").encoding == "cp850"


def test_damaged_utf8_stays_utf8() -> None:
    text = windows_text("ja_route_print.txt")
    data = text.encode("utf-8")
    data = data[:200] + b"\xff" + data[200:]
    d = decode(data)
    assert d.encoding == "utf-8" and d.how == "damaged UTF-8"
    assert d.text.replace("\ufffd", "") == text
    assert "1 invalid sequence(s) replaced" in d.notes[0]


@pytest.mark.parametrize(("name", "page"), [("ja_route_print.txt", "cp932"), ("ko_ipconfig_all.txt", "cp949"),
                                            ("zh-TW_route_help.txt", "cp950"), ("zh-CN_winhttp_proxy.txt", "cp936")])
def test_double_byte_character_cut_at_the_end(name: str, page: str) -> None:
    text = windows_text(name).rstrip("\r\n")
    assert ord(text[-1]) > 127
    data = text.encode(page)[:-1]  # the last character loses its trail byte
    d = decode(data)
    assert d.encoding == page
    assert d.text == text[:-1] + "\ufffd"
    assert f"file ends in the middle of a {page} character" in d.notes


def test_utf8_and_utf16_cut_at_the_end() -> None:
    text = windows_text("ru_winhttp_proxy.txt").rstrip("\r\n") + "ё"
    d = decode(text.encode("utf-8")[:-1])
    assert d.encoding == "utf-8" and d.text == text[:-1] + "\ufffd"
    d = decode(codecs.BOM_UTF16_LE + text.encode("utf-16-le")[:-1])
    assert d.encoding == "utf-16-le" and d.text == text[:-1]
    assert any("odd byte count" in n for n in d.notes)


def test_a_last_accented_letter_is_not_a_cut_utf8_character() -> None:
    # 0xE9 (é in cp1252) also starts a 3-byte UTF-8 character; with nothing but ASCII before it, it is cp1252.
    d = decode("Routes persistantes : aucune, café".encode("cp1252"))
    assert (d.encoding, d.text) == ("cp1252", "Routes persistantes : aucune, café")
    # Two bytes of a 3-byte character: a UTF-8 file cut inside its last character.
    d = decode("Metric €".encode()[:-1])
    assert (d.encoding, d.text, d.how) == ("utf-8", "Metric \ufffd", "UTF-8 cut in its last character")


@pytest.mark.parametrize("seed", range(20))
def test_garbage_never_raises(seed: int) -> None:
    rng = random.Random(seed)
    data = rng.randbytes(rng.randint(0, 3000))
    for hint in (None, "oem", "ansi"):
        d = decode(data, hint=hint)
        assert isinstance(d.text, str) and "\x00" not in d.text
        assert d.encoding in {"utf-8", "utf-8-sig", "utf-16-le", "utf-16-be", *CANDIDATES}


def test_odd_inputs() -> None:
    for data in (b"", b"\xff", b"\xfe", b"\xef\xbb", codecs.BOM_UTF8, codecs.BOM_UTF16_LE, b"\x81\x8d\x8f\x90\x9d",
                 b"\x00" * 10, b"\xff\xfe\x00\xd8", bytes(range(256)), b"\x82" * 4097):
        d = decode(data)
        assert isinstance(d.text, str)
    assert decode(bytearray(b"abc")).text == "abc"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000), st.sampled_from([None, "oem", "ansi"]))
def test_decode_never_raises_and_returns_str(data: bytes, hint: str | None) -> None:
    d = decode(data, hint=hint)
    assert isinstance(d.text, str)
    assert isinstance(split_lines(d.text), list)
    assert d.encoding in {"utf-8", "utf-8-sig", "utf-16-le", "utf-16-be", *CANDIDATES}


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(codec="cp850", exclude_categories=("Cs",)), max_size=300))
def test_any_cp850_text_decodes_to_a_decoding_of_its_bytes(text: str) -> None:
    # Whatever single-byte page the rule picks, the text is exactly what that page makes of the bytes (NULs
    # removed), so no ASCII character is lost.
    data = text.encode("cp850")
    d = decode(data)
    if d.encoding in ("cp437", "cp850", "cp852", "cp866", "cp1250", "cp1251", "cp1252"):
        assert d.text == data.decode(d.encoding, errors="replace").replace("\x00", "")
    assert isinstance(d.text, str)


# -- accuracy: the detector alone against the final rule -----------------------------------------------------
def _units() -> list[tuple[str, str, str]]:
    """(kind, page, text): every fixture in every page, and every line of it that holds a non-ASCII character."""
    out = []
    for name, page in LEGACY_CASES:
        text = windows_text(name)
        out.append(("file", page, text))
        out += [("line", page, line + "\r\n") for line in text.split("\r\n") if any(ord(c) > 127 for c in line)]
    return out


def _detector_alone(data: bytes) -> tuple[str | None, str | None]:
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=list(CANDIDATES)).best()
    if best is None:
        return None, None
    return {"gbk": "cp936", "big5": "cp950"}.get(best.encoding, best.encoding), str(best)


def test_accuracy_of_the_rule_against_the_detector_alone() -> None:
    score = {("detector", "file"): 0, ("rule", "file"): 0, ("detector", "line"): 0, ("rule", "line"): 0}
    count = {"file": 0, "line": 0}
    confidently_wrong = []
    for kind, page, text in _units():
        data = text.encode(page)
        count[kind] += 1
        score[("detector", kind)] += _detector_alone(data)[1] == text
        d = decode(data)
        score[("rule", kind)] += d.text == text
        if d.confident and d.text != text:
            confidently_wrong.append((page, text))
    assert confidently_wrong == []  # a wrong answer is at least flagged as a guess
    # Measured on this corpus (see SOURCES.md): detector alone 14/21 files, 77/111 lines; the rule 21/21, 110/111.
    assert count == {"file": 21, "line": 111}
    assert score[("rule", "file")] == count["file"]
    assert score[("rule", "line")] >= 109
    assert score[("detector", "file")] < score[("rule", "file")]
    assert score[("detector", "line")] < score[("rule", "line")]


# -- in a bundle ---------------------------------------------------------------------------------------------
def test_confident_code_page_is_a_note_and_a_guess_an_issue(tmp_path: Path) -> None:
    files = {"commands/ipconfig_all.txt": windows_text("de_ipconfig_all.txt").encode("cp850"),
             "commands/route_print.txt": windows_text("fr_route_print.txt").encode("cp1252"),
             # the ANSI agent log line of tests/test_bundle.py: one ä, which cp850 reads as õ
             "WindowsAzure/Logs/WaAppAgent.log": "[00000006] [06/20/2019 07:44:28.93] [INFO] Attempting to discover "
                                                 "fabric address on interface Ethernet Gerät 2\r\n".encode("cp1252")}
    b = kit.open_bundle(make_bundle(tmp_path / "b", files))
    inv = b.inventory.set_index("path")
    assert inv.loc["commands/ipconfig_all.txt", "encoding"] == "cp850"
    assert ", detected: " in inv.loc["commands/ipconfig_all.txt", "note"]
    assert "hint oem" in inv.loc["commands/ipconfig_all.txt", "note"]  # cmd.exe output: OEM breaks ties
    assert inv.loc["commands/route_print.txt", "encoding"] == "cp1252"
    enc = b.issues[b.issues["kind"] == "encoding"]
    assert enc["source"].tolist() == ["C/WindowsAzure/Logs/WaAppAgent.log"]
    assert "guessed cp1252" in enc["message"].iloc[0] and "low confidence" in enc["message"].iloc[0]


@pytest.mark.parametrize("form", ["utf-16-le BOM", "utf-16-le", "utf-8-sig"])
def test_healthy_sample_in_another_encoding_gives_the_same_answer(tmp_path: Path, form: str) -> None:
    healthy = SAMPLES / "healthy"
    copy = tmp_path / "healthy"
    shutil.copytree(healthy, copy)
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    by_path = {a["path"]: a for a in manifest["artifacts"]}
    for path in sorted((copy / "commands").glob("*.txt")):
        data = UNICODE_FORMS[form](path.read_bytes().decode("utf-8"))
        path.write_bytes(data)
        entry = by_path[path.relative_to(copy).as_posix()]
        entry.update(size=len(data), original_size=len(data), sha256=hashlib.sha256(data).hexdigest())
    (copy / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    a, b = kit.open_bundle(healthy), kit.open_bundle(copy)
    fa, fb = a.frames(), b.frames()
    assert sorted(fa) == sorted(fb)
    for name in fa:
        pd.testing.assert_frame_equal(fa[name], fb[name])
    pd.testing.assert_frame_equal(kit.diagnose(a), kit.diagnose(b))
    assert b.issues[b.issues["kind"] == "encoding"].empty
    encodings = b.inventory.set_index("path")["encoding"]
    assert encodings["commands/route_print.txt"] == form.split()[0]
