"""Localized `route print` and `netsh winhttp show proxy` give the same frames and findings as English (issue 14).

Fixtures: tests/shapes/route_print/ and tests/shapes/winhttp_proxy/ (SOURCES.md there names the real output each
language's text is quoted from). File names say the encoding: ``<lang>.<codec>.txt`` is what cmd.exe's ``>``
redirection writes on that locale (OEM code page), ``<lang>.utf8.txt`` the same text as UTF-8. Until kit/textio.py
detects OEM code pages, the parser tests decode with the codec named in the file name.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kit
from kit.derive import routes as routing
from kit.parse import route_print, sniff, winhttp_proxy
from tests.conftest import SAMPLES

SHAPES = Path(__file__).resolve().parent / "shapes"
ROUTE_DIR = SHAPES / "route_print"
PROXY_DIR = SHAPES / "winhttp_proxy"
ROUTE_FILES = sorted(ROUTE_DIR.glob("route_print.*.txt"))
PROXY_FILES = sorted(PROXY_DIR.glob("winhttp_proxy.*.txt"))
SRC_ROUTE = "commands/route_print.txt"
SRC_PROXY = "commands/netsh_winhttp_proxy.txt"
LANGS = ("de", "fr", "es", "it", "pt-BR", "ja", "zh-CN", "ru")

ROUTE_COLS = ["family", "destination", "prefix_len", "netmask", "gateway", "on_link", "interface", "if_index",
              "metric", "route_metric", "persistent", "metric_default", "store", "origin"]
PROXY_COLS = ["scope", "direct", "proxy_server", "bypass", "bypasses_wireserver", "bypasses_imds"]


def _codec(path: Path) -> str:
    return {"utf8": "utf-8"}.get(path.name.split(".")[-2], path.name.split(".")[-2])


def _text(path: Path) -> str:
    return path.read_bytes().decode(_codec(path))


def _english_routes() -> pd.DataFrame:
    text = (SAMPLES / "healthy" / SRC_ROUTE).read_bytes().decode("ascii")
    return route_print.parse(text, source=SRC_ROUTE).frames["routes"]


def _routes(text: str) -> tuple[pd.DataFrame, pd.DataFrame, list]:
    r = route_print.parse(text, source=SRC_ROUTE)
    return r.frames["routes"], r.frames["interfaces"], r.issues


# --- the reproduction -------------------------------------------------------------------------------------------

def test_german_route_print_keeps_every_on_link_row() -> None:
    """Before the fix a German route print gave 3 of its 13 IPv4 routes: every ``Auf Verbindung`` row was dropped."""
    routes, _, issues = _routes(_text(ROUTE_DIR / "route_print.de.cp850.txt"))
    v4 = routes[routes["family"] == "IPv4"]
    assert len(v4) == 13 and int(v4["on_link"].sum()) == 10
    assert issues == []


# --- same data, other language, same frames ---------------------------------------------------------------------

def test_every_language_has_an_oem_and_a_utf8_route_fixture() -> None:
    for lang in LANGS:
        names = {p.name for p in ROUTE_FILES if p.name.split(".")[1] == lang}
        assert len(names) == 2 and any(n.endswith(".utf8.txt") for n in names), (lang, names)


@pytest.mark.parametrize("path", ROUTE_FILES, ids=lambda p: p.name)
def test_localized_route_print_gives_the_english_frames(path: Path) -> None:
    text = _text(path)
    routes, ifaces, issues = _routes(text)
    english = _english_routes()
    assert issues == []
    pd.testing.assert_frame_equal(routes[ROUTE_COLS].reset_index(drop=True), english[ROUTE_COLS].reset_index(drop=True))
    en_if = route_print.parse((SAMPLES / "healthy" / SRC_ROUTE).read_text(), source=SRC_ROUTE).frames["interfaces"]
    assert ifaces[["if_index", "mac", "description"]].equals(en_if[["if_index", "mac", "description"]])
    assert sniff(text) == "route_print"
    assert route_print.ROUTES.check_dtypes(routes) == []


def test_effective_route_to_wireserver_is_the_same_in_every_language() -> None:
    for path in ROUTE_FILES:
        routes, _, _ = _routes(_text(path))
        eff = routing.effective_route(routes, "168.63.129.16")
        assert (eff["destination"], eff["gateway"], eff["interface"]) == ("168.63.129.16/32", "10.0.1.1", "10.0.1.4")


@pytest.mark.parametrize("path", PROXY_FILES, ids=lambda p: p.name)
def test_localized_winhttp_proxy_gives_the_english_frame(path: Path) -> None:
    sample = "healthy" if ".direct." in path.name else "proxy-intercepts-agent"
    english = winhttp_proxy.parse((SAMPLES / sample / SRC_PROXY).read_text(), source=SRC_PROXY).frames["proxy"]
    text = _text(path)
    r = winhttp_proxy.parse(text, source=SRC_PROXY)
    assert r.issues == []
    pd.testing.assert_frame_equal(r.frames["proxy"][PROXY_COLS], english[PROXY_COLS])
    if ".es." not in path.name:  # the Spanish file has no header line (no source shows it), so its row is one up
        assert r.frames["proxy"]["line"].tolist() == english["line"].tolist()
    assert sniff(text) == "winhttp_proxy"


# --- real localized text, quoted verbatim from the sources in SOURCES.md ----------------------------------------

# ChristianRe/CRWinNetDiag README.md (German Windows 8.1, IPv6 part)
DE_IPV6 = """IPv6-Routentabelle
===========================================================================
Aktive Routen:
 If Metrik Netzwerkziel             Gateway
  4    266 ::/0                     fe80::1
  1    306 ::1/128                  Auf Verbindung
 ===========================================================================
Ständige Routen:
  Keine
"""
# jackpal/gateway route-tables/windowsLocalized2.txt (Spanish): an on-link default route and an empty IPv6 table
ES_GATEWAY = """IPv4 Tabla de enrutamiento
===========================================================================
Rutas activas:
Destino de red        Máscara de red   Puerta de enlace   Interfaz  Métrica
          0.0.0.0          0.0.0.0    192.168.100.1   192.168.100.80     35
          0.0.0.0        192.0.0.0      En vínculo       123.45.0.10    250
===========================================================================
Rutas persistentes:
  Ninguno
 \nIPv6 Tabla de enrutamiento
===========================================================================
Rutas activas:
  Ninguno
Rutas persistentes:
  Ninguno
"""
# Russian route print with a persistent route (a public test fixture of a route parser; see SOURCES.md)
RU_PERSISTENT = """IPv4 таблица маршрута
===========================================================================
Активные маршруты:
Сетевой адрес           Маска сети      Адрес шлюза       Интерфейс  Метрика
          0.0.0.0          0.0.0.0      192.168.0.1    192.168.0.124     35
          0.0.0.0          0.0.0.0         On-link        172.19.0.1      0
   89.105.200.136  255.255.255.255      192.168.0.1    192.168.0.124     36
===========================================================================
Постоянные маршруты:
  Сетевой адрес            Маска    Адрес шлюза      Метрика
   89.105.200.136  255.255.255.255      192.168.0.1       1
===========================================================================
"""
# German persistent route whose metric is the word "Standard" (a public test fixture; see SOURCES.md)
DE_STANDARD = """Ständige Routen:
  Netzwerkadresse          Netzmaske  Gatewayadresse  Metrik
          0.0.0.0          0.0.0.0    192.168.1.254  Standard
"""
# pt-BR: a wrapped IPv6 row whose gateway is "No vínculo" on the next line (a public markdown note; SOURCES.md)
PT_WRAPPED = """Tabela de rotas IPv6
===========================================================================
Rotas ativas:
 Se destino de rede de métrica      Gateway
  1    331 ::1/128                  No vínculo
 11    281 fe80::4a5a:6b08:a0ab:c514/128
                                    No vínculo
===========================================================================
Rotas persistentes:
  Nenhuma
"""


def test_real_german_ipv6_table() -> None:
    routes, _, issues = _routes(DE_IPV6)
    assert issues == []
    assert routes["gateway"].tolist()[0] == "fe80::1" and routes["on_link"].tolist() == [False, True]
    assert routes["store"].tolist() == ["ActiveStore"] * 2


def test_real_spanish_on_link_default_route_and_empty_ipv6_table() -> None:
    routes, _, issues = _routes(ES_GATEWAY)
    assert issues == []
    assert routes["destination"].tolist() == ["0.0.0.0/0", "0.0.0.0/2"]
    assert routes["on_link"].tolist() == [False, True] and routes["interface"].tolist()[1] == "123.45.0.10"


def test_real_russian_persistent_route_by_its_four_columns() -> None:
    routes, _, issues = _routes(RU_PERSISTENT)
    assert issues == []
    pers = routes[routes["persistent"]]
    assert pers["destination"].tolist() == ["89.105.200.136/32"] and pers["route_metric"].tolist() == [1]
    assert routes["on_link"].tolist() == [False, True, False, False]


def test_real_german_persistent_default_metric_word() -> None:
    routes, _, issues = _routes(DE_STANDARD)
    assert issues == []
    assert routes["persistent"].tolist() == [True] and routes["metric_default"].tolist() == [True]
    assert routes["gateway"].tolist() == ["192.168.1.254"]


def test_real_portuguese_wrapped_ipv6_on_link() -> None:
    routes, _, issues = _routes(PT_WRAPPED)
    assert issues == []
    assert routes["destination"].tolist() == ["::1/128", "fe80::4a5a:6b08:a0ab:c514/128"]
    assert routes["on_link"].tolist() == [True, True]


# --- a ninth language degrades gracefully -----------------------------------------------------------------------

# Synthetic stand-ins for labels of a language no table knows (deliberately not any real language's words).
NINTH = {"Schnittstellenliste": "Qqq-liste", "IPv4-Routentabelle": "IPv4 Qqq", "IPv6-Routentabelle": "IPv6 Qqq",
         "Aktive Routen:": "Qqq aktiv:", "Ständige Routen:": "Qqq fest:", "Keine": "Nulla",
         "     Netzwerkziel    Netzwerkmaske          Gateway    Schnittstelle Metrik": "Kolumne Kolumne Kolumne",
         " If Metrik Netzwerkziel             Gateway": " Kolumne Kolumne", "Auf Verbindung": "Ζζζ ηηη"}


def _ninth_language() -> str:
    text = _text(ROUTE_DIR / "route_print.de.utf8.txt")
    for de, other in NINTH.items():
        text = text.replace(de, other)
    return text


def test_ninth_language_route_print_still_gives_the_routes() -> None:
    routes, ifaces, issues = _routes(_ninth_language())
    english = _english_routes()
    v4 = routes["family"] == "IPv4"
    pd.testing.assert_frame_equal(routes.loc[v4, ROUTE_COLS].reset_index(drop=True),
                                  english.loc[english["family"] == "IPv4", ROUTE_COLS].reset_index(drop=True))
    v6 = routes[~v4]
    cols = ["destination", "gateway", "on_link", "if_index", "metric"]
    assert v6[cols].reset_index(drop=True).equals(english.loc[english["family"] == "IPv6", cols].reset_index(drop=True))
    assert v6["store"].isna().all()  # active or persistent: not known, not guessed
    assert len(ifaces) == 2
    kinds = sorted(i.kind for i in issues)
    assert kinds == ["unknown-label", "unknown-section"]
    assert "Qqq aktiv:" in next(i.message for i in issues if i.kind == "unknown-label")
    assert sniff(_ninth_language()) == "route_print"


def test_damaged_gateway_is_an_issue_not_on_link() -> None:
    text = "          0.0.0.0          0.0.0.0         10.0.1         10.0.1.4     11\n"
    routes, _, issues = _routes(text)
    assert routes.empty and [i.kind for i in issues] == ["unexpected-line"] and issues[0].line == 1


@pytest.mark.parametrize(("text", "direct", "server", "bypass", "kind"), [
    # a language no table knows: the host:port value decides, the next value line is the bypass list
    ("Qqq WinHTTP:\r\n\r\n    Qqq-server :  10.0.0.5:3128\r\n    Qqq-list :  <local>;168.63.129.16\r\n",
     False, "10.0.0.5:3128", "<local>;168.63.129.16", None),
    ("Qqq WinHTTP:\r\n\r\n    Qqq :  http=10.0.0.5:8080;https=10.0.0.5:8443\r\n", False,
     "http=10.0.0.5:8080;https=10.0.0.5:8443", None, None),
    # an unknown sentence, or an unknown label without an address: never guessed
    ("Qqq WinHTTP:\r\n\r\n    Qqq diretto (qqq).\r\n", None, None, None, "unknown-label"),
    ("Qqq WinHTTP:\r\n\r\n    Qqq :  qqq\r\n", None, None, None, "unknown-label"),
    # real zh-CN and ja proxy output (SOURCES.md), labels known
    ("当前的 WinHTTP 代理服务器设置:\r\n\r\n    代理服务器:  127.0.0.1:1088\r\n    绕过列表     :  qq.com;<local>\r\n",
     False, "127.0.0.1:1088", "qq.com;<local>", None),
    ("現在の WinHTTP プロキシ設定:\r\n\r\n    プロキシ サーバー:  1.2.3.4:5678\r\n    バイパス一覧     : (なし)\r\n",
     False, "1.2.3.4:5678", None, None),
])
def test_winhttp_decision_by_structure(text: str, direct: bool | None, server: str | None, bypass: str | None,
                                       kind: str | None) -> None:
    r = winhttp_proxy.parse(text, source=SRC_PROXY)
    row = r.frames["proxy"].iloc[0]
    assert (None if pd.isna(row["direct"]) else bool(row["direct"])) is direct
    assert (None if pd.isna(row["proxy_server"]) else row["proxy_server"]) == server
    assert (None if pd.isna(row["bypass"]) else row["bypass"]) == bypass
    assert [i.kind for i in r.issues] == ([kind] if kind else [])


# --- whole bundle: the healthy sample with its files replaced gives the same findings ----------------------------

def _bundle_with(tmp_path: Path, sample: str, rel: str, data: bytes) -> Path:
    out = tmp_path / f"{sample}-{hashlib.sha256(data).hexdigest()[:8]}"
    shutil.copytree(SAMPLES / sample, out)
    (out / rel).write_bytes(data)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    for a in manifest["artifacts"]:
        if a["path"] == rel:
            a["sha256"], a["size"], a["original_size"] = hashlib.sha256(data).hexdigest(), len(data), len(data)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return out


def _codes(bundle: Path) -> list[str]:
    return sorted(kit.diagnose(kit.open_bundle(bundle))["code"])


@pytest.mark.parametrize("lang", LANGS)
def test_healthy_bundle_with_localized_route_print_gives_the_same_findings(tmp_path: Path, lang: str) -> None:
    data = next(p for p in ROUTE_FILES if p.name == f"route_print.{lang}.utf8.txt").read_bytes()
    assert _codes(_bundle_with(tmp_path, "healthy", SRC_ROUTE, data)) == _codes(SAMPLES / "healthy")


@pytest.mark.parametrize("path", [p for p in PROXY_FILES if p.name.endswith(".utf8.txt")], ids=lambda p: p.name)
def test_bundle_with_localized_winhttp_proxy_gives_the_same_findings(tmp_path: Path, path: Path) -> None:
    sample = "healthy" if ".direct." in path.name else "proxy-intercepts-agent"
    assert _codes(_bundle_with(tmp_path, sample, SRC_PROXY, path.read_bytes())) == _codes(SAMPLES / sample)


def test_oem_code_page_files_through_open_bundle(tmp_path: Path) -> None:
    """The bytes cmd.exe's redirection writes (OEM code page) give the English frames once kit/textio.py detects
    OEM code pages; today they are decoded as Windows-1252 and the non-ASCII labels come out garbled."""
    english_routes = _english_routes()
    for path in [p for p in ROUTE_FILES if not p.name.endswith(".utf8.txt")]:
        b = kit.open_bundle(_bundle_with(tmp_path, "healthy", SRC_ROUTE, path.read_bytes()))
        routes = b.frame("routes")
        routes = routes[routes["origin"] == "route_print"]
        pd.testing.assert_frame_equal(routes[ROUTE_COLS].reset_index(drop=True),
                                      english_routes[ROUTE_COLS].reset_index(drop=True), check_categorical=False)
        assert b.issues.empty, (path.name, b.issues)
    for path in [p for p in PROXY_FILES if not p.name.endswith(".utf8.txt")]:
        sample = "healthy" if ".direct." in path.name else "proxy-intercepts-agent"
        b = kit.open_bundle(_bundle_with(tmp_path, sample, SRC_PROXY, path.read_bytes()))
        english = kit.open_bundle(SAMPLES / sample).frame("proxy")
        pd.testing.assert_frame_equal(b.frame("proxy")[PROXY_COLS], english[PROXY_COLS])
        assert b.issues.empty, (path.name, b.issues)


# --- damaged input costs a record, never the file, and never raises ---------------------------------------------

@pytest.mark.parametrize("text", [
    "  300.0.0.0  255.255.255.0   Auf Verbindung   10.0.0.1   5\n",   # not an address
    "  10.0.0.0  255.0.255.0   10.0.0.1   10.0.0.4   5\n",             # not a contiguous netmask
    "  10.0.0.0  255.0.255.0   10.0.0.1   5\n",
])
def test_invalid_address_or_netmask_is_an_issue(text: str) -> None:
    routes, _, issues = _routes(text)
    assert routes.empty and [i.kind for i in issues] == ["unexpected-line"]


@pytest.mark.parametrize("cut", range(0, 3000, 97))
def test_localized_route_print_cut_anywhere_never_raises(cut: int) -> None:
    for lang in ("de", "ja", "zh-CN"):
        text = _text(ROUTE_DIR / f"route_print.{lang}.utf8.txt")[:cut]
        routes, _, _ = _routes(text)
        assert route_print.ROUTES.check_dtypes(routes) == []


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789.:/ =\n\r-abcfАуф在链リンク上On-link")), max_size=300))
def test_route_print_never_raises(text: str) -> None:
    routes, _, _ = _routes(text)
    assert route_print.ROUTES.check_dtypes(routes) == []


def test_unknown_language_is_never_a_warning(tmp_path: Path) -> None:
    """Unknown is never bad: a route print and a proxy sentence in a language no table knows give only info."""
    unknown_proxy = b"\r\nQqq WinHTTP:\r\n\r\n    Qqq diretto (qqq).\r\n\r\n"
    for rel, data in ((SRC_ROUTE, _ninth_language().encode()), (SRC_PROXY, unknown_proxy)):
        findings = kit.diagnose(kit.open_bundle(_bundle_with(tmp_path, "healthy", rel, data)))
        assert findings[findings["severity"] >= "warning"].empty, findings[["code", "severity", "title"]]
        assert "INPUT_DAMAGED" in set(findings["code"])  # the unfamiliar text is reported, at info level


# Russian `route print` after an OpenVPN connect, no default route (a public Russian VPN lab note; SOURCES.md)
RU_NO_DEFAULT = """PS C:\\Users\\Sof> route print
IPv4 таблица маршрута
===========================================================================
Активные маршруты:
Сетевой адрес           Маска сети      Адрес шлюза       Интерфейс  Метрика
       10.10.10.0    255.255.255.0         On-link        10.10.10.2    281
       10.10.10.2  255.255.255.255         On-link        10.10.10.2    281
     10.10.10.255  255.255.255.255         On-link        10.10.10.2    281
"""


def test_sniff_recognises_localized_route_print_without_a_default_route() -> None:
    assert sniff(RU_NO_DEFAULT) == "route_print"
    routes, _, issues = _routes(RU_NO_DEFAULT)
    assert issues == [] and routes["on_link"].tolist() == [True] * 3


# pt-BR persistent routes, one with the metric word "Padrão" (a public pt-BR route how-to; SOURCES.md)
PT_PERSISTENT = """Rotas persistentes:
  Endereço de rede         Máscara  Ender. gateway    Custo
          0.0.0.0          0.0.0.0     192.168.0.99  Padrão
       172.19.0.0      255.255.0.0    192.168.1.201       1
"""


def test_real_portuguese_persistent_routes_and_default_metric_word() -> None:
    routes, _, issues = _routes(PT_PERSISTENT)
    assert issues == []
    assert routes["persistent"].tolist() == [True, True] and routes["metric_default"].tolist() == [True, False]
    assert routes["route_metric"].iloc[1] == 1 and routes["destination"].tolist() == ["0.0.0.0/0", "172.19.0.0/16"]
