"""Text decoding, frame schemas and the finding catalog."""

from __future__ import annotations

import codecs
import json

import pandas as pd
import pytest

from kit.catalog import SEVERITIES, catalog, noise
from kit.errors import SchemaError, redact
from kit.schema import LEVELS, LINE, SOURCE, Col, FrameSchema
from kit.textio import decode, split_lines

LINE_A = "[00000011] [12/11/2018 06:27:55.66] [WARN]  (Ignoring) Exception while fetching supported versions"


@pytest.mark.parametrize(
    ("data", "encoding", "bom"),
    [
        (LINE_A.encode() + b"\r\n", "utf-8", False),
        (codecs.BOM_UTF8 + LINE_A.encode() + b"\r\n", "utf-8-sig", True),
        (codecs.BOM_UTF16_LE + (LINE_A + "\r\n").encode("utf-16-le"), "utf-16-le", True),
        (codecs.BOM_UTF16_BE + (LINE_A + "\r\n").encode("utf-16-be"), "utf-16-be", True),
        ((LINE_A + "\r\n").encode("utf-16-le"), "utf-16-le", False),
    ],
)
def test_decode_encodings(data: bytes, encoding: str, bom: bool) -> None:
    d = decode(data)
    assert d.encoding == encoding
    assert d.bom is bom
    assert split_lines(d.text) == [LINE_A]
    assert d.newline == "CRLF"


def test_decode_nul_padding_and_cp1252() -> None:
    d = decode(b'{"a": 1}\x00\x00\x00\x00')
    assert d.text == '{"a": 1}'
    assert d.nul_bytes_removed == 4
    d = decode("Zeitstempel: f\xe4hig".encode("cp1252"))
    assert d.encoding == "cp1252"
    assert "fähig" in d.text


def test_decode_cut_inside_utf8_character_stays_utf8() -> None:
    d = decode("Größ".encode()[:-1])
    assert d.encoding == "utf-8"
    assert d.text.startswith("Grö")
    assert d.notes


def test_split_lines_mixed_endings() -> None:
    assert split_lines("a\r\nb\nc\rd") == ["a", "b", "c", "d"]
    assert split_lines("a\r\n\r\nb\r\n") == ["a", "", "b"]
    assert split_lines("") == []
    d = decode(b"a\r\nb\nc")
    assert d.newline == "mixed"


SCHEMA = FrameSchema("t", "test frame", (
    SOURCE, LINE, Col("ts", "datetime", "time"), Col("level", "level", "level"),
    Col("n", "Int64", "count"), Col("ok", "boolean", "flag"), Col("name", "str", "name"),
))


def test_schema_from_records_types_and_keeps_unknown_levels() -> None:
    df = SCHEMA.from_records([
        {"source": "a.log", "line": 1, "ts": "2024-12-18T15:34:54.328Z", "level": "ERROR", "n": 2, "ok": True,
         "name": "x"},
        {"source": "a.log", "line": 2, "level": "NOTICE"},
    ])
    assert SCHEMA.check_dtypes(df) == []
    assert str(df["ts"].dtype) == "datetime64[ns, UTC]"
    assert list(df["level"].cat.categories[: len(LEVELS)]) == list(LEVELS)
    assert df["level"].tolist()[1] == "NOTICE"
    assert bool((df["level"] > "INFO").iloc[0])  # ordered categorical
    SCHEMA.validate(df)


def test_schema_rejects_wrong_columns() -> None:
    with pytest.raises(SchemaError, match="unknown columns"):
        SCHEMA.from_records([{"source": "a", "bogus": 1}])
    with pytest.raises(SchemaError, match="missing columns"):
        SCHEMA.coerce(pd.DataFrame({"source": ["a"]}))
    bad = SCHEMA.empty().assign(n=pd.Series([], dtype="float64"))
    assert any("n: dtype" in p for p in SCHEMA.check_dtypes(bad))
    with pytest.raises(SchemaError):
        SCHEMA.validate(bad)


def test_empty_frame_is_typed() -> None:
    assert SCHEMA.check_dtypes(SCHEMA.empty()) == []


def test_catalog_is_well_formed() -> None:
    cat = catalog()
    required = {"WIRESERVER_UNREACHABLE", "HOSTGAPLUGIN_UNREACHABLE", "GUEST_FIREWALL_BLOCKS_WIRESERVER",
                "PROXY_INTERCEPTS_AGENT_TRAFFIC", "IMDS_UNREACHABLE", "IMDS_ERROR", "WIRESERVER_SERVICE_ERROR",
                "FABRIC_ADDRESS_NOT_DISCOVERED", "IMDS_ROUTE_WRONG_INTERFACE", "WIRESERVER_ROUTE_WRONG_INTERFACE",
                "IMDS_ROUTE_CAPTURED_BY_LINK_LOCAL", "NO_ROUTE_TO_PLATFORM", "PERSISTENT_ROUTE_OVERRIDE",
                "MULTI_IP_PRIMARY_MISMATCH", "EXTENSION_TIMEOUT", "EXTENSION_FAILED",
                "EXTENSION_STUCK_TRANSITIONING", "EXTENSION_DOWNLOAD_FAILED", "AGENT_NOT_RUNNING",
                "AGENT_VERSION_UNSUPPORTED", "AGENT_CRASH_LOOP", "AGENT_STOPPING_STUCK", "AGENT_CERTIFICATE_ERROR",
                "AGENT_BAD_IMAGE_FORMAT"}
    assert required <= set(cat)
    for e in cat.values():
        assert e.severity in SEVERITIES
        assert e.docs.startswith("https://learn.microsoft.com/")
        assert len(e.remediation) > 40


def test_noise_patterns_match_their_examples() -> None:
    ids = {n.id: n for n in noise()}
    assert ids["set-cpu-notification-87"].pattern.search("Error SetCPUNotification: 87")
    assert not ids["set-cpu-notification-87"].pattern.search("Error SetCPUNotification: 5")


def test_redact_scrubs_credentials() -> None:
    text = 'Authorization: Basic dXNlcjpwYXNz and "password": "hunter2" sig=abc%2Fdef'
    out = redact(text, "hunter2")
    assert "dXNlcjpwYXNz" not in out and "hunter2" not in out and "abc%2Fdef" not in out


def test_datetime_column_mixes_iso_texts_with_and_without_fractions() -> None:
    from kit.diagnose.model import EVIDENCE

    df = EVIDENCE.from_records([{"code": "X", "artifact": "a", "text": "t", "ts": "2025-01-22T02:06:32+00:00"},
                                {"code": "X", "artifact": "a", "text": "t", "ts": "2025-01-22T02:05:07.330000+00:00"}])
    assert df["ts"].tolist() == [pd.Timestamp("2025-01-22 02:06:32", tz="UTC"),
                                 pd.Timestamp("2025-01-22 02:05:07.33", tz="UTC")]


def test_catalog_reads_its_compiled_json_only_while_it_matches_the_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    """kit/catalog/compiled.json spares importing PyYAML; an edited YAML file must still win."""
    import yaml

    from kit import catalog as cat

    for name in cat.SOURCES:
        assert cat._read(name) == yaml.safe_load(cat._text(name))
    real = cat._text

    def edited(name: str) -> str:
        text = real(name)
        return text.replace("WireServer", "WIRESERVER-EDITED") if name == "findings.yaml" else text

    monkeypatch.setattr(cat, "_text", edited)
    assert "WIRESERVER-EDITED" in json.dumps(cat._read("findings.yaml"))
    assert "WIRESERVER-EDITED" not in cat._text(cat.COMPILED)
