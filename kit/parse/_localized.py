"""Labels Windows prints in other languages, one dict per artifact, and two tiny helpers to look them up.

Data only: every string is quoted from real localized output named in ``tests/shapes/<artifact>/SOURCES.md``
(a language missing from a table means no source showed that label). Parsers decide by the *shape* of a line
first and use these tables only where shape cannot tell (e.g. active versus persistent route blocks), so a
language that is not here still parses.
"""

from __future__ import annotations

import functools
import re

#: `route print` (tests/shapes/route_print/SOURCES.md).
ROUTE_PRINT: dict[str, dict[str, tuple[str, ...]]] = {
    "interface_list": {
        "en": ("Interface List",), "de": ("Schnittstellenliste",), "fr": ("Liste d'Interfaces",),
        "es": ("ILista de interfaces", "Lista de interfaces"), "it": ("Elenco interfacce",),
        "pt-BR": ("Lista de interfaces",), "ja": ("インターフェイス一覧",), "zh-CN": ("接口列表",),
        "ru": ("Список интерфейсов",),
    },
    "table_title": {  # the IPv4/IPv6 table titles; the family itself is read from the "IPv4"/"IPv6" token
        "en": ("IPv4 Route Table", "IPv6 Route Table"), "de": ("IPv4-Routentabelle", "IPv6-Routentabelle"),
        "fr": ("IPv4 Table de routage",), "es": ("IPv4 Tabla de enrutamiento", "IPv6 Tabla de enrutamiento"),
        "it": ("IPv4 Tabella route",), "pt-BR": ("Tabela de rotas IPv4", "Tabela de rotas IPv6"),
        "ja": ("IPv4 ルート テーブル", "IPv6 ルート テーブル"), "zh-CN": ("IPv4 路由表", "IPv6 路由表"),
        "ru": ("IPv4 таблица маршрута", "IPv6 таблица маршрута"),
    },
    "active": {
        "en": ("Active Routes:",), "de": ("Aktive Routen:",), "fr": ("Itinéraires actifs :",),
        "es": ("Rutas activas:",), "it": ("Route attive:",), "pt-BR": ("Rotas ativas:",),
        "ja": ("アクティブ ルート:",), "zh-CN": ("活动路由:",), "ru": ("Активные маршруты:",),
    },
    "persistent": {
        "en": ("Persistent Routes:",), "de": ("Ständige Routen:",), "fr": ("Itinéraires persistants :",),
        "es": ("Rutas persistentes:",), "it": ("Route permanenti:",), "pt-BR": ("Rotas persistentes:",),
        "ja": ("固定ルート:",), "zh-CN": ("永久路由:",), "ru": ("Постоянные маршруты:",),
    },
    "none": {
        "en": ("None",), "de": ("Keine",), "fr": ("Aucun",), "es": ("Ninguno",), "it": ("Nessuna",),
        "pt-BR": ("Nenhuma", "Nenhum"), "ja": ("なし",), "zh-CN": ("无",), "ru": ("Отсутствует",),
    },
    "column_header": {  # first word(s) of the column-header rows (IPv4 active, IPv4 persistent, IPv6)
        "en": ("Network Destination", "Network Address", "If Metric"),
        "de": ("Netzwerkziel", "Netzwerkadresse", "If Metrik"),
        "fr": ("Destination réseau",), "es": ("Destino de red",), "it": ("Indirizzo rete",),
        "pt-BR": ("Endereço de rede", "Destino de rede", "Se destino de rede"),
        "ja": ("ネットワーク宛先",), "zh-CN": ("网络目标", "网络地址", "接口跃点数"),
        "ru": ("Сетевой адрес", "Метрика"),
    },
    "on_link": {
        "en": ("On-link",), "de": ("Auf Verbindung",), "fr": ("On-link",), "es": ("En vínculo",),
        "it": ("On-link",), "pt-BR": ("No vínculo",), "ja": ("リンク上",), "zh-CN": ("在链路上",), "ru": ("On-link",),
    },
}

#: `netsh winhttp show proxy` (tests/shapes/winhttp_proxy/SOURCES.md).
WINHTTP_PROXY: dict[str, dict[str, tuple[str, ...]]] = {
    "header": {
        "en": ("Current WinHTTP proxy settings:",), "de": ("Aktuelle WinHTTP-Proxyeinstellungen:",),
        "fr": ("Paramètres de proxy WinHTTP actuels :",), "pt-BR": ("Configurações de proxy WinHTTP atuais:",),
        "ja": ("現在の WinHTTP プロキシ設定:",), "zh-CN": ("当前的 WinHTTP 代理服务器设置:",),
        "ru": ("Текущие параметры прокси WinHTTP:",),
    },
    "direct": {  # matched as the start of the line: zh-CN also appears shortened to "直接访问。"
        "en": ("Direct access (no proxy server).",), "de": ("Direkter Zugriff (kein Proxyserver).",),
        "fr": ("Accès direct (pas de serveur proxy).",), "es": ("Acceso directo (sin servidor proxy).",),
        "pt-BR": ("Acesso direto (sem servidor proxy).", "Acesso direto (nenhum servidor proxy)."),
        "ja": ("直接アクセス (プロキシ サーバーなし)。",), "zh-CN": ("直接访问(没有代理服务器)。", "直接访问。"),
        "ru": ("Прямой доступ (без прокси-сервера).",),
    },
    "proxy_server": {
        "en": ("Proxy Server(s)",), "de": ("Proxyserver",), "ja": ("プロキシ サーバー",), "zh-CN": ("代理服务器",),
        "ru": ("Прокси-сервер", "Сервер(ы) прокси"),
    },
    "bypass": {
        "en": ("Bypass List",), "de": ("Umgehungsliste",), "ja": ("バイパス一覧",), "zh-CN": ("绕过列表",),
        "ru": ("Список исключений",),
    },
    "no_bypass": {
        "en": ("(none)",), "de": ("(Keine)",), "ja": ("(なし)",), "zh-CN": ("(无)",),
    },
}

_SPACE = re.compile(r"\s+")


@functools.lru_cache(maxsize=4096)  # a pure function of the text: a table's few dozen labels repeat in every bundle
def norm(text: str) -> str:
    """Case-folded, single-spaced, without a trailing (half- or full-width) colon or full stop."""
    s = _SPACE.sub(" ", text.replace("\u00a0", " ")).strip().casefold()
    return re.sub(r"\s*[:：]$", "", s).strip()


def index(table: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """``{normalised label: language}`` for one entry of an artifact table."""
    return {norm(label): lang for lang, labels in table.items() for label in labels}
