"""Localized `ipconfig /all` and Test-NetConnection output give the same frames as English (issue 14).

Fixtures: tests/shapes/ipconfig/ (the healthy sample's ipconfig rendered line by line after real localized output,
SOURCES.md), tests/shapes/test_netconnection/. Parser tests decode the OEM files with their known codec; reading
them through kit.open_bundle needs OEM code-page detection in kit.textio (branch `enc`), hence the one xfail.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

import kit
from kit.parse import ipconfig, netsh_firewall, sniff, test_netconnection

ROOT = Path(__file__).resolve().parents[1]
HEALTHY = ROOT / "sample_logs" / "healthy"
SHAPES = ROOT / "tests" / "shapes"
SRC = "commands/ipconfig_all.txt"
OEM = {"de": "cp850", "fr": "cp850", "es": "cp850", "it": "cp850", "pt-BR": "cp850", "ru": "cp866", "ja": "cp932",
       "zh-CN": "cp936"}
FILES = [(lang, codec) for lang, oem in OEM.items() for codec in (oem, "utf-8")]


def _english() -> ipconfig.ParseResult:
    return ipconfig.parse((HEALTHY / SRC).read_bytes().decode("utf-8"), source=SRC)


def _fixture(lang: str, codec: str) -> str:
    return (SHAPES / "ipconfig" / f"ipconfig_all.{lang}.{codec}.txt").read_bytes().decode(codec)


def _replace(bundle: Path, old: str, new: str, data: Path) -> None:
    """Put ``data`` at ``new`` instead of ``old`` in a copy of a bundle, with its manifest entry updated (as if the
    collector had collected it), so that the bundle's integrity check does not flag the swap."""
    (bundle / old).unlink()
    shutil.copyfile(data, bundle / new)
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    raw = (bundle / new).read_bytes()
    for a in manifest["artifacts"]:
        if a["path"] == old:
            a.update(path=new, sha256=hashlib.sha256(raw).hexdigest(), size=len(raw), original_size=len(raw))
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=4), encoding="utf-8")


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    raw = [c for c in a.columns if c.endswith("_raw")]  # the lease text as written differs by language
    pd.testing.assert_frame_equal(a.drop(columns=raw), b.drop(columns=raw))


# --------------------------------------------------------------------------------------------- reproduction
GERMAN = "\r\n".join([  # ChristopherMuellner/NWT command.cmd and ydh-embedded/cSharp---sql IP-Adress-R406.bash
    "", "Windows-IP-Konfiguration", "",
    "   Hostname  . . . . . . . . . . . . : R406",
    "   DNS-Suffixsuchliste . . . . . . . : training.erfurt.iad.de", "",
    "Ethernet-Adapter Ethernet 2:", "",
    "   Verbindungsspezifisches DNS-Suffix: training.erfurt.iad.de",
    "   Beschreibung. . . . . . . . . . . : Realtek PCIe GbE Family Controller",
    "   Physische Adresse . . . . . . . . : 74-56-3C-C6-25-99",
    "   DHCP aktiviert. . . . . . . . . . : Ja",
    "   Verbindungslokale IPv6-Adresse  . : fe80::d83d:be25:207a:c203%7(Bevorzugt)",
    "   IPv4-Adresse  . . . . . . . . . . : 10.50.104.30(Bevorzugt)",
    "   Subnetzmaske  . . . . . . . . . . : 255.255.255.0",
    "   Lease erhalten. . . . . . . . . . : Dienstag, 16. Juli 2024 11:31:28",
    "   Lease läuft ab. . . . . . . . . . : Sonntag, 21. Juli 2024 11:31:29",
    "   Standardgateway . . . . . . . . . : 10.50.104.1",
    "   DHCP-Server . . . . . . . . . . . : 10.50.100.25",
    "   DNS-Server  . . . . . . . . . . . : fec0:0:0:ffff::1%1",
    "                                       fec0:0:0:ffff::2%1",
    "   NetBIOS über TCP/IP . . . . . . . : Aktiviert", ""])


def test_german_ipconfig_reads_mask_gateway_and_dns_as_such() -> None:
    """Before: the German labels were unknown; mask, gateway and DNS server were read as the VM's own IPv4
    addresses, the kind stayed NA and the gateway/DNS/lease columns empty."""
    r = ipconfig.parse(GERMAN, source=SRC)
    a = r.frames["adapters"].iloc[0]
    assert (a["host_name"], a["adapter"], a["adapter_kind"]) == ("R406", "Ethernet 2", "Ethernet adapter")
    assert (a["mac"], a["dhcp_enabled"], a["default_gateways"]) == ("74-56-3c-c6-25-99", True, "10.50.104.1")
    assert a["dhcp_server"] == "10.50.100.25" and a["dns_servers"] == "fec0:0:0:ffff::1%1, fec0:0:0:ffff::2%1"
    assert a["lease_obtained"] == pd.Timestamp("2024-07-16 11:31:28", tz="UTC")
    assert a["lease_expires"] == pd.Timestamp("2024-07-21 11:31:29", tz="UTC")
    v4 = r.frames["ip_addresses"].query("family == 'IPv4'")
    assert v4["address"].tolist() == ["10.50.104.30"] and int(a["ipv4_count"]) == 1
    assert (v4["prefix_len"].iloc[0], v4["state"].iloc[0]) == (24, "Preferred")
    assert r.issues == []


# ------------------------------------------------------------------------------- same data, other language
@pytest.mark.parametrize(("lang", "codec"), FILES)
def test_localized_ipconfig_gives_the_english_frames(lang: str, codec: str) -> None:
    en, loc = _english(), ipconfig.parse(_fixture(lang, codec), source=SRC)
    for name in ("adapters", "ip_addresses"):
        _same(en.frames[name], loc.frames[name])
    assert loc.issues == []
    assert loc.frames["adapters"]["lease_expires_raw"].iloc[0] != en.frames["adapters"]["lease_expires_raw"].iloc[0]


@pytest.mark.parametrize(("lang", "codec"), FILES)
def test_localized_ipconfig_is_sniffed(lang: str, codec: str) -> None:
    text = _fixture(lang, codec)
    assert ipconfig.sniff(text) and sniff(text) == "ipconfig"


@pytest.fixture(scope="module")
def healthy_codes() -> list[str]:
    return sorted(kit.diagnose(HEALTHY)["code"])


@pytest.mark.parametrize("lang", list(OEM))
def test_diagnose_healthy_with_localized_ipconfig(lang: str, tmp_path: Path, healthy_codes: list[str]) -> None:
    bundle = tmp_path / "b"
    shutil.copytree(HEALTHY, bundle)
    _replace(bundle, SRC, SRC, SHAPES / "ipconfig" / f"ipconfig_all.{lang}.utf-8.txt")
    assert sorted(kit.diagnose(bundle)["code"]) == healthy_codes


def test_open_bundle_reads_oem_ipconfig(tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    shutil.copytree(HEALTHY, bundle)
    _replace(bundle, SRC, SRC, SHAPES / "ipconfig" / "ipconfig_all.de.cp850.txt")
    _same(_english().frames["adapters"], kit.open_bundle(bundle).frame("adapters"))


# ---------------------------------------------------------------------------- unknown language, unknown date
def test_unknown_language_degrades_without_guessing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A language the tables do not know (simulated: the German table removed, the German text kept): the
    address is still found by its state suffix and its mask by position; gateway, DNS and DHCP server are not
    guessed, and the labels are named in issues."""
    german = {ipconfig._norm(k) for k in ipconfig._LABELS["de"]} - {ipconfig._norm(k) for lang, t in
                                                                    ipconfig._LABELS.items() if lang != "de" for k in t}
    monkeypatch.setattr(ipconfig, "_LOOKUP", {k: v for k, v in ipconfig._LOOKUP.items() if k not in german})
    monkeypatch.setattr(ipconfig, "_KIND_PREFIXES",
                        [kv for kv in ipconfig._KIND_PREFIXES if kv[0] != "ethernet-adapter"])
    r = ipconfig.parse(_fixture("de", "cp850"), source=SRC)
    a = r.frames["adapters"].iloc[0]
    assert a["adapter"] == "Ethernet-Adapter Ethernet" and pd.isna(a["adapter_kind"])
    assert pd.isna(a["default_gateways"]) and pd.isna(a["dns_servers"]) and pd.isna(a["dhcp_server"])
    addrs = r.frames["ip_addresses"]
    assert addrs["address"].tolist() == ["fe80::8d4d:30f4:7ced:cc05", "10.0.1.4"]
    assert addrs["prefix_len"].iloc[1] == 24 and set(addrs["state"]) == {"Preferred"}
    kinds = {i.kind for i in r.issues}
    assert kinds == {"unknown-header", "unknown-label"}
    named = " ".join(i.message for i in r.issues)
    assert "'Standardgateway'" in named and "'DNS-Server'" in named and "'DHCP-Server'" in named


def test_unknown_lease_date_language_is_an_issue_not_a_guess() -> None:
    """English labels, Czech lease dates (sollo11/vscode-docker, .dotnet/!ip_$!!out$$-.c)."""
    text = ("Windows IP Configuration\r\n\r\nEthernet adapter Ethernet:\r\n\r\n"
            "   IPv4 Address. . . . . . . . . . . : 192.168.0.185(Preferred) \r\n"
            "   Subnet Mask . . . . . . . . . . . : 255.255.255.0\r\n"
            "   Lease Obtained. . . . . . . . . . : úterý 6. dubna 2021 13:36:39\r\n"
            "   Lease Expires . . . . . . . . . . : úterý 6. dubna 2021 17:36:39\r\n"
            "   Default Gateway . . . . . . . . . : 192.168.0.1\r\n")
    r = ipconfig.parse(text, source=SRC)
    a = r.frames["adapters"].iloc[0]
    assert pd.isna(a["lease_obtained"]) and a["lease_obtained_raw"] == "úterý 6. dubna 2021 13:36:39"
    assert a["default_gateways"] == "192.168.0.1"
    assert [i.kind for i in r.issues] == ["bad-timestamp", "bad-timestamp"]


@pytest.mark.parametrize(("raw", "expected"), [  # lease values as they appear in the sources of SOURCES.md
    ("Sunday, July 19, 2161 5:43:51 PM", "2161-07-19 17:43:51"),
    ("Dienstag, 16. Juli 2024 11:31:28", "2024-07-16 11:31:28"),
    ("mardi 8 octobre 2024 08:38:33", "2024-10-08 08:38:33"),
    ("lundi 17 octobre 2022 9:40:14", "2022-10-17 09:40:14"),
    ("miércoles, 21 de enero de 2026 20:20:50", "2026-01-21 20:20:50"),
    ("lunes, 30 de enero de 2023 10:09:10 p. m.", "2023-01-30 22:09:10"),
    ("sabato 6 luglio 2024 00:37:29", "2024-07-06 00:37:29"),
    ("giovedì 24 aprile 2014 10.23.27", "2014-04-24 10:23:27"),
    ("sexta-feira, 9 de fevereiro de 2024 07:28:53", "2024-02-09 07:28:53"),
    ("2015年6月1日 12:37:49", "2015-06-01 12:37:49"),
    ("2023年11月7日 13:17:40", "2023-11-07 13:17:40"),
    ("2 декабря 2021 г. 11:25:50", "2021-12-02 11:25:50"),
    ("13 декабря 2021 г. 8:53:54", "2021-12-13 08:53:54"),
])
def test_lease_dates(raw: str, expected: str) -> None:
    assert ipconfig._lease(raw) == pd.Timestamp(expected, tz="UTC")


@pytest.mark.parametrize("raw", ["25.02.2024 00:54:04", "02/25/2024 00:54:04", "úterý 6. dubna 2021 13:36:39", ""])
def test_lease_dates_not_guessed(raw: str) -> None:
    got = ipconfig._lease(raw)
    assert got is None or pd.isna(got)


def test_month_tables_match_cldr() -> None:
    babel_dates = pytest.importorskip("babel.dates")
    for lang, names in ipconfig._MONTHS_BY_LANG.items():
        cldr = babel_dates.get_month_names("wide", context="format", locale=lang)
        assert tuple(cldr[i].casefold() for i in range(1, 13)) == names, lang


def test_spanish_label_with_its_own_colon() -> None:
    """`Vínculo: dirección IPv6 local. . . :` holds a colon before the dotted leader (es source)."""
    text = ("Adaptador de Ethernet Ethernet:\r\n\r\n"
            "   Vínculo: dirección IPv6 local. . . : fe80::12fe:4f07:30d4:41cd%3(Preferido)\r\n"
            "   Dirección IPv4. . . . . . . . . . . . . . : 192.168.100.140(Preferido)\r\n"
            "   Máscara de subred . . . . . . . . . . . . : 255.255.255.128\r\n")
    addrs = ipconfig.parse(text, source=SRC).frames["ip_addresses"]
    assert addrs[["family", "address", "if_index", "prefix_len"]].astype(object).values.tolist() == [
        ["IPv6", "fe80::12fe:4f07:30d4:41cd", 3, pd.NA], ["IPv4", "192.168.100.140", pd.NA, 25]]


@pytest.mark.parametrize(("line", "expected"), [
    ("   Medienstatus. . . . . . . . . . . : Medium getrennt", "Media disconnected"),
    ("   Statut du média. . . . . . . . . . . . : Média déconnecté", "Media disconnected"),
    ("   メディアの状態. . . . . . . . . . . .: メディアは接続されていません", "Media disconnected"),
    ("   媒体状态  . . . . . . . . . . . . : 媒体已断开", "Media disconnected"),
    ("   Состояние среды. . . . . . . . : Среда передачи недоступна.", "Media disconnected"),
    ("   Stato supporto. . . . . . . . . . . . : Supporto disconnesso", "Media disconnected"),
])
def test_media_disconnected_in_any_language(line: str, expected: str) -> None:
    r = ipconfig.parse(f"Ethernet adapter Ethernet:\r\n\r\n{line}\r\n", source=SRC)
    assert r.frames["adapters"]["media_state"].iloc[0] == expected and r.issues == []


# ------------------------------------------------------------------------------------------- Test-NetConnection
TNC = SHAPES / "test_netconnection"
TNC_LANGS = ["en", "de", "fr", "es", "pt-BR", "ja", "zh-CN", "ru"]


def _tnc(lang: str, codec: str) -> str:
    return (TNC / f"netconnection.{lang}.{codec}.txt").read_bytes().decode(codec)


@pytest.mark.parametrize("lang", TNC_LANGS[1:])
@pytest.mark.parametrize("codec", ["utf-16", "utf-8"])
def test_localized_test_netconnection_gives_the_english_rows(lang: str, codec: str) -> None:
    src = "probes/test_netconnection.txt"
    en = test_netconnection.parse(_tnc("en", "utf-8"), source=src)
    loc = test_netconnection.parse(_tnc(lang, codec), source=src)
    pd.testing.assert_frame_equal(en.frames["tcp_probes"], loc.frames["tcp_probes"])
    assert loc.issues == [] and en.issues == []
    assert sniff(_tnc(lang, codec)) == "test_netconnection"
    rows = loc.frames["tcp_probes"]
    assert rows["ok"].tolist() == [True, False, True] and rows["port"].tolist() == [80, 32526, 80]
    assert rows["error"].iloc[1] == "TCP connect to (168.63.129.16 : 32526) failed"


def _tnc_bundle(tmp_path: Path, name: str) -> Path:
    bundle = tmp_path / "b"
    shutil.copytree(HEALTHY, bundle)
    _replace(bundle, "probes/tcp.json", "probes/test_netconnection.txt", TNC / name)
    return bundle


@pytest.fixture(scope="module")
def tnc_en_codes(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return sorted(kit.diagnose(_tnc_bundle(tmp_path_factory.mktemp("en"), "netconnection.en.utf-16.txt"))["code"])


@pytest.mark.parametrize("lang", TNC_LANGS[1:])
def test_diagnose_with_localized_test_netconnection(lang: str, tmp_path: Path, tnc_en_codes: list[str]) -> None:
    """Read through kit.open_bundle as PowerShell wrote it (UTF-16 LE with BOM)."""
    probes = kit.open_bundle(_tnc_bundle(tmp_path / "x", f"netconnection.{lang}.utf-16.txt")).frame("tcp_probes")
    assert probes["ok"].tolist() == [True, False, True] and probes["port"].tolist() == [80, 32526, 80]
    assert sorted(kit.diagnose(_tnc_bundle(tmp_path, f"netconnection.{lang}.utf-16.txt"))["code"]) == tnc_en_codes


def test_diagnose_healthy_with_test_netconnection_instead_of_tcp_json(tmp_path: Path,
                                                                      healthy_codes: list[str]) -> None:
    bundle = _tnc_bundle(tmp_path, "netconnection.healthy.en.utf-16.txt")
    assert kit.open_bundle(bundle).frame("tcp_probes")["ok"].tolist() == [True, True, True]
    assert sorted(kit.diagnose(bundle)["code"]) == healthy_codes


# ------------------------------------------------------------------------------------- netsh advfirewall text
NETSH = SHAPES / "netsh_firewall"
FW_JSON = "commands/firewall_rules.json"
FW_TXT = "commands/netsh_advfirewall_rules.txt"


def _netsh_bundle(tmp_path: Path, sample: str, name: str) -> Path:
    bundle = tmp_path / "b"
    shutil.copytree(ROOT / "sample_logs" / sample, bundle)
    _replace(bundle, FW_JSON, FW_TXT, NETSH / name)
    return bundle


def test_netsh_block_rule_fills_the_firewall_rules_frame_like_the_json() -> None:
    text = (NETSH / "netsh_firewall.firewall-blocks-32526.en.txt").read_bytes().decode("cp437")
    assert sniff(text) == "netsh_firewall"
    r = netsh_firewall.parse(text, source=FW_TXT)
    assert r.issues == []
    got = r.frames["firewall_rules"]
    want = kit.open_bundle(ROOT / "sample_logs" / "firewall-blocks-32526").frame("firewall_rules")
    cols = ["display_name", "enabled", "direction", "action", "protocol", "remote_port"]
    pd.testing.assert_frame_equal(got[cols].reset_index(drop=True), want[cols].reset_index(drop=True))
    assert got["remote_address"].tolist() == ["168.63.129.16/32"]  # netsh writes the /32 the JSON leaves out
    assert got["profile"].tolist() == ["Domain, Private, Public"]  # what Profile=Any (all three) shows as
    from kit.parse.firewall_rules import blocking_rules
    assert len(blocking_rules(got, "168.63.129.16", 32526)) == 1 and blocking_rules(got, "168.63.129.16", 80).empty


def test_netsh_allow_rules_give_no_rows() -> None:
    text = (NETSH / "netsh_firewall.healthy.en.txt").read_bytes().decode("cp437")
    r = netsh_firewall.parse(text, source=FW_TXT)
    assert r.frames["firewall_rules"].empty and r.issues == []


def test_diagnose_with_netsh_instead_of_json_finds_the_same_block(tmp_path: Path) -> None:
    sample = "firewall-blocks-32526"
    want = sorted(kit.diagnose(ROOT / "sample_logs" / sample)["code"])
    got = sorted(kit.diagnose(_netsh_bundle(tmp_path, sample, f"netsh_firewall.{sample}.en.txt"))["code"])
    assert got == want and "GUEST_FIREWALL_BLOCKS_WIRESERVER" in got


def test_diagnose_healthy_with_netsh_adds_nothing_above_info(tmp_path: Path, healthy_codes: list[str]) -> None:
    found = kit.diagnose(_netsh_bundle(tmp_path, "healthy", "netsh_firewall.healthy.en.txt"))
    extra = found[~found["code"].isin(healthy_codes)]
    assert set(extra["severity"]) <= {"info"}, extra


def test_diagnose_healthy_with_netsh_gives_the_healthy_codes(tmp_path: Path, healthy_codes: list[str]) -> None:
    found = kit.diagnose(_netsh_bundle(tmp_path, "healthy", "netsh_firewall.healthy.en.txt"))
    assert sorted(found["code"]) == healthy_codes


def test_netsh_truncated_block_is_not_taken_as_a_block_rule() -> None:
    text = (NETSH / "netsh_firewall.firewall-blocks-32526.en.txt").read_bytes().decode("cp437")
    cut = text[:text.rindex("Action:")]  # the paste ends before the last rule's Action line
    r = netsh_firewall.parse(cut, source=FW_TXT)
    assert r.frames["firewall_rules"].empty
    assert [i.kind for i in r.issues] == ["truncated-block"] and "Block Azure host plugin" in r.issues[0].message


def test_netsh_in_an_unknown_language_reads_nothing_and_says_so() -> None:
    """German labels and values as written in a Go project's tests (StonkAgents, index id 69152863952; a test
    text, not a capture, so it is not used as a label source): recognised by structure, not read."""
    text = ("\r\nRegelname:                            StonkAgents Agent\r\n"
            "----------------------------------------------------------------------\r\n"
            "Aktiviert:                            Ja\r\n"
            "Richtung:                             Eingehend\r\n"
            "Protokoll:                            Beliebig\r\n"
            "Aktion:                               Zulassen\r\n"
            "OK.\r\n")
    assert sniff(text) == "netsh_firewall"
    r = netsh_firewall.parse(text, source=FW_TXT)
    assert r.frames["firewall_rules"].empty
    assert [i.kind for i in r.issues] == ["unknown-label"] and "'Regelname'" in r.issues[0].message


def test_netsh_in_an_unknown_language_is_cannot_tell_naming_the_file(tmp_path: Path) -> None:
    """Localized netsh text is not read, and the firewall check says so (info), naming the file; it never says
    the rules were checked, and never blames the firewall."""
    german = tmp_path / "netsh.de.txt"
    german.write_text("\r\nRegelname:                            StonkAgents Agent\r\n"
                      "----------------------------------------------------------------------\r\n"
                      "Aktiviert:                            Ja\r\n"
                      "Richtung:                             Ausgehend\r\n"
                      "Aktion:                               Blockieren\r\n\r\nOK.\r\n", encoding="utf-8")
    bundle = tmp_path / "b"
    shutil.copytree(ROOT / "sample_logs" / "healthy", bundle)
    _replace(bundle, FW_JSON, FW_TXT, german)
    found = kit.diagnose(bundle)
    assert set(found.loc[found["severity"] >= "warning", "code"]) == set()
    cannot = found[(found["code"] == "CHECK_NOT_POSSIBLE") & found["summary"].str.contains("firewall")]
    assert len(cannot) == 1 and FW_TXT in cannot["summary"].iloc[0] and "labels" in cannot["summary"].iloc[0]
