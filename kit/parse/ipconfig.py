"""``ipconfig /all`` (formats doc §5.3): host block and one block per adapter, in English or localized Windows.

Structure, not English words, carries the parse. An adapter header is an unindented line ending with ``:``
(``Ethernet adapter Ethernet:``, ``Ethernet-Adapter Ethernet:``, ``Carte Ethernet Ethernet :``); an entry is an
indented ``label . . . . : value`` line (the dotted leader may be missing: ``Verbindungsspezifisches DNS-Suffix:``);
an indented line without a separator, far right, continues the previous entry's value (more DNS servers or
gateways). Labels are looked up in the tables below, one per language, each taken from real localized output named
in ``tests/shapes/ipconfig/SOURCES.md``: en, de, fr, es, it, pt-BR, ja, zh-CN, ru. Values are normalised to what
English Windows writes: ``Ja``/``Oui``/``はい``/``是``/``Да`` -> True, ``(Bevorzugt)``/``(首选)``/``(Основной)`` ->
``Preferred``, ``Medium getrennt`` -> ``Media disconnected``, and the lease times in each language's long date
format (``Dienstag, 16. Juli 2024 11:31:28``, ``2023年11月7日 13:17:40``, ``2 декабря 2021 г. 11:25:50``).

Where a label is unknown (a tenth language, a new Windows build), nothing is guessed from words: an IPv4 address is
still recognised by its state suffix (``10.0.1.4(Preferred)`` in any language) or by its position (an address
followed at once by a contiguous subnet mask, which is then its mask); every other value under an unknown label is
left out and the label is named in an ``unknown-label`` issue (gateway, DNS and DHCP server are never taken from
an unknown label). An unknown adapter kind keeps the whole header as the adapter name (``unknown-header`` issue).

Repeated ``IPv4 Address``/``Subnet Mask`` pairs become several addresses; an empty ``Default Gateway . . . :`` is
kept empty; leases in the year 2157-2161 (Azure DHCP) parse (datetime64[ns] reaches 2262). Lease times are
wall-clock times of the VM with no zone: read as UTC unchanged, like every zone-less stamp (raw text kept).
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata

import pandas as pd

from ..schema import LINE, SOURCE, Col, FrameSchema
from ..textio import split_lines
from .base import ParseIssue, ParseResult

NAME = "ipconfig"
DESCRIPTION = "Output of `ipconfig /all` (English or localized Windows)."
PATTERNS = ("commands/ipconfig_all.txt",)

ADAPTERS = FrameSchema(
    "adapters",
    "One row per adapter in `ipconfig /all`, in the order Windows lists them.",
    (SOURCE, LINE,
     Col("host_name", "str", "Host Name from the header block."),
     Col("adapter", "str", "Adapter (connection) name, e.g. `Ethernet 2`.", False),
     Col("adapter_kind", "str", "Kind from the header in English, e.g. `Ethernet adapter`, `Tunnel adapter`."),
     Col("description", "str", "Description (e.g. Microsoft Hyper-V Network Adapter #2)."),
     Col("mac", "str", "Physical Address, lower-case with dashes."),
     Col("dhcp_enabled", "boolean", "DHCP Enabled."),
     Col("media_state", "str", "Media State (e.g. Media disconnected, also for its localized forms), when shown."),
     Col("default_gateways", "str", "Default Gateway(s), comma-separated in order; NA when empty."),
     Col("dhcp_server", "str", "DHCP Server (absent when DHCP is off)."),
     Col("dns_servers", "str", "DNS Servers, comma-separated."),
     Col("lease_obtained", "datetime", "Lease Obtained (wall clock as written, read as UTC)."),
     Col("lease_expires", "datetime", "Lease Expires (Azure: years 2157-2161)."),
     Col("lease_obtained_raw", "str", "Lease Obtained as written."),
     Col("lease_expires_raw", "str", "Lease Expires as written."),
     Col("ipv4_count", "Int64", "Number of IPv4 addresses on the adapter.")),
)
IP_ADDRESSES = FrameSchema(
    "ip_addresses",
    "One row per IP address per adapter, from `ipconfig /all` and/or `Get-NetIPAddress`.",
    (SOURCE, LINE,
     Col("origin", "category", "ipconfig or get_netipaddress.", False),
     Col("adapter", "str", "Adapter name (ipconfig) or InterfaceAlias."),
     Col("if_index", "Int64", "Interface index (Get-NetIPAddress; ipconfig's %zone for link-local IPv6)."),
     Col("family", "category", "IPv4 or IPv6.", False),
     Col("address", "str", "The address, without %zone or (Preferred).", False),
     Col("prefix_len", "Int64", "Prefix length (from the subnet mask for ipconfig)."),
     Col("subnet_mask", "str", "Subnet mask as written (IPv4, ipconfig)."),
     Col("state", "str", "Preferred, Deprecated, Tentative, Duplicate ... (ipconfig suffix, in English, or "
         "AddressState)."),
     Col("skip_as_source", "boolean", "SkipAsSource (Get-NetIPAddress only)."),
     Col("prefix_origin", "str", "PrefixOrigin: Dhcp, Manual, WellKnown ... (Get-NetIPAddress only)."),
     Col("order", "Int64", "0-based position of the address within its adapter, as listed.")),
)
FRAMES = {"adapters": ADAPTERS, "ip_addresses": IP_ADDRESSES}

# --- label tables: (label as Windows writes it, without its dotted leader) -> meaning -------------------------------
# Every label below was seen in real output of that language (tests/shapes/ipconfig/SOURCES.md names the source).
# Meanings: host-block fields, adapter fields, and "ipv6"/"ipv4"/"ipv4_auto" for the address lines. Labels whose
# value the kit does not use are listed too (meaning None), so that they are known and raise no issue.
_LABELS: dict[str, dict[str, str | None]] = {
    "en": {
        "Host Name": "host_name", "Primary Dns Suffix": None, "Node Type": None, "IP Routing Enabled": None,
        "WINS Proxy Enabled": None, "DNS Suffix Search List": None, "Media State": "media_state",
        "Connection-specific DNS Suffix": None, "Description": "description", "Physical Address": "mac",
        "DHCP Enabled": "dhcp_enabled", "Autoconfiguration Enabled": None, "Link-local IPv6 Address": "ipv6",
        "IPv6 Address": "ipv6", "Temporary IPv6 Address": "ipv6", "IPv4 Address": "ipv4", "IP Address": "ipv4",
        "Autoconfiguration IPv4 Address": "ipv4_auto", "Autoconfiguration IP Address": "ipv4_auto",
        "Subnet Mask": "subnet_mask", "Lease Obtained": "lease_obtained", "Lease Expires": "lease_expires",
        "Default Gateway": "default_gateway", "DHCP Server": "dhcp_server", "DHCPv6 IAID": None,
        "DHCPv6 Client DUID": None, "DNS Servers": "dns_servers", "Primary WINS Server": None,
        "Secondary WINS Server": None, "NetBIOS over Tcpip": None,
        "Connection-specific DNS Suffix Search List": None,
    },
    "de": {
        "Hostname": "host_name", "Primäres DNS-Suffix": None, "Knotentyp": None, "IP-Routing aktiviert": None,
        "WINS-Proxy aktiviert": None, "DNS-Suffixsuchliste": None, "Medienstatus": "media_state",
        "Verbindungsspezifisches DNS-Suffix": None, "Beschreibung": "description", "Physische Adresse": "mac",
        "DHCP aktiviert": "dhcp_enabled", "Autokonfiguration aktiviert": None,
        "Verbindungslokale IPv6-Adresse": "ipv6", "Temporäre IPv6-Adresse": "ipv6", "IPv4-Adresse": "ipv4",
        "Subnetzmaske": "subnet_mask", "Lease erhalten": "lease_obtained", "Lease läuft ab": "lease_expires",
        "Standardgateway": "default_gateway", "DHCP-Server": "dhcp_server", "DHCPv6-IAID": None,
        "DHCPv6-Client-DUID": None, "DNS-Server": "dns_servers", "NetBIOS über TCP/IP": None,
    },
    "fr": {
        "Nom de l'hôte": "host_name", "Suffixe DNS principal": None, "Type de noeud": None, "Type de nœud": None,
        "Routage IP activé": None, "Proxy WINS activé": None, "Liste de recherche du suffixe DNS": None,
        "Liste de recherche de suffixes DNS": None, "Statut du média": "media_state",
        "Suffixe DNS propre à la connexion": None, "Description": "description", "Adresse physique": "mac",
        "DHCP activé": "dhcp_enabled", "Configuration automatique activée": None,
        "Adresse IPv6 de liaison locale": "ipv6", "Adresse IPv6": "ipv6", "Adresse IPv6 temporaire": "ipv6",
        "Adresse IPv4": "ipv4", "Adresse d'autoconfiguration IPv4": "ipv4_auto", "Masque de sous-réseau": "subnet_mask",
        "Bail obtenu": "lease_obtained", "Bail expirant": "lease_expires", "Le bail expire": "lease_expires",
        "Passerelle par défaut": "default_gateway", "Serveur DHCP": "dhcp_server", "IAID DHCPv6": None,
        "DUID de client DHCPv6": None, "Serveurs DNS": "dns_servers", "NetBIOS sur Tcpip": None,
    },
    "es": {
        "Nombre de host": "host_name", "Sufijo DNS principal": None, "Tipo de nodo": None,
        "Enrutamiento IP habilitado": None, "Proxy WINS habilitado": None, "Lista de búsqueda de sufijos DNS": None,
        "Sufijo DNS específico para la conexión": None, "Descripción": "description", "Dirección física": "mac",
        "DHCP habilitado": "dhcp_enabled", "Configuración automática habilitada": None,
        "Vínculo: dirección IPv6 local": "ipv6", "Dirección IPv4": "ipv4", "Máscara de subred": "subnet_mask",
        "Concesión obtenida": "lease_obtained", "La concesión expira": "lease_expires",
        "Puerta de enlace predeterminada": "default_gateway", "Servidor DHCP": "dhcp_server", "IAID DHCPv6": None,
        "DUID de cliente DHCPv6": None, "Servidores DNS": "dns_servers", "NetBIOS sobre TCP/IP": None,
        "Lista de búsqueda de sufijos DNS específicos de conexión": None,
    },
    "it": {
        "Nome host": "host_name", "Suffisso DNS primario": None, "Tipo nodo": None, "Routing IP abilitato": None,
        "Proxy WINS abilitato": None, "Elenco di ricerca suffissi DNS": None, "Stato supporto": "media_state",
        "Suffisso DNS specifico per connessione": None, "Descrizione": "description", "Indirizzo fisico": "mac",
        "DHCP abilitato": "dhcp_enabled", "Configurazione automatica abilitata": None,
        "Indirizzo IPv6 locale rispetto al collegamento": "ipv6", "Indirizzo IPv4": "ipv4", "Indirizzo IP": "ipv4",
        "Subnet mask": "subnet_mask", "Lease ottenuto": "lease_obtained", "Scadenza lease": "lease_expires",
        "Gateway predefinito": "default_gateway", "Server DHCP": "dhcp_server", "IAID DHCPv6": None,
        "DUID Client DHCPv6": None, "Server DNS": "dns_servers", "NetBIOS su TCP/IP": None,
    },
    "pt-BR": {
        "Nome do host": "host_name", "Sufixo DNS primário": None, "Tipo de nó": None,
        "Roteamento de IP ativado": None, "Proxy WINS ativado": None, "Lista de pesquisa de sufixo DNS": None,
        "Sufixo DNS específico de conexão": None, "Descrição": "description", "Endereço Físico": "mac",
        "DHCP Habilitado": "dhcp_enabled", "DHCP ativado": "dhcp_enabled", "Configuração Automática Habilitada": None,
        "Configuração automática ativada": None, "Endereço IPv6 de link local": "ipv6", "Endereço IPv6": "ipv6",
        "Endereço IPv4": "ipv4", "Endereço IP": "ipv4", "Endereço IP de config. automática": "ipv4_auto",
        "Máscara de Sub-rede": "subnet_mask", "Concessão Obtida": "lease_obtained", "Concessão Expira": "lease_expires",
        "Gateway Padrão": "default_gateway", "Servidor DHCP": "dhcp_server", "IAID de DHCPv6": None,
        "DUID de Cliente DHCPv6": None, "Servidores DNS": "dns_servers", "Servidor WINS Primário": None,
        "NetBIOS em Tcpip": None, "NetBIOS por Tcpip": None,
    },
    "ja": {
        "ホスト名": "host_name", "プライマリ DNS サフィックス": None, "ノード タイプ": None,
        "IP ルーティング有効": None, "WINS プロキシ有効": None, "DNS サフィックス検索一覧": None,
        "メディアの状態": "media_state", "接続固有の DNS サフィックス": None, "説明": "description",
        "物理アドレス": "mac", "DHCP 有効": "dhcp_enabled", "自動構成有効": None,
        "リンクローカル IPv6 アドレス": "ipv6", "IPv4 アドレス": "ipv4", "サブネット マスク": "subnet_mask",
        "リース取得": "lease_obtained", "リースの有効期限": "lease_expires",
        "デフォルト ゲートウェイ": "default_gateway", "DHCP サーバー": "dhcp_server", "DHCPv6 IAID": None,
        "DHCPv6 クライアント DUID": None, "DNS サーバー": "dns_servers", "NetBIOS over TCP/IP": None,
    },
    "zh-CN": {
        "主机名": "host_name", "主 DNS 后缀": None, "节点类型": None, "IP 路由已启用": None,
        "WINS 代理已启用": None, "DNS 后缀搜索列表": None, "媒体状态": "media_state",
        "连接特定的 DNS 后缀": None, "描述": "description", "物理地址": "mac", "DHCP 已启用": "dhcp_enabled",
        "自动配置已启用": None, "本地链接 IPv6 地址": "ipv6", "IPv6 地址": "ipv6", "临时 IPv6 地址": "ipv6",
        "IPv4 地址": "ipv4", "子网掩码": "subnet_mask", "获得租约的时间": "lease_obtained",
        "租约过期的时间": "lease_expires", "默认网关": "default_gateway", "DHCP 服务器": "dhcp_server",
        "DHCPv6 IAID": None, "DHCPv6 客户端 DUID": None, "DNS 服务器": "dns_servers",
        "TCPIP 上的 NetBIOS": None,
    },
    "ru": {
        "Имя компьютера": "host_name", "Основной DNS-суффикс": None, "Тип узла": None,
        "IP-маршрутизация включена": None, "WINS-прокси включен": None, "Порядок просмотра суффиксов DNS": None,
        "Состояние среды": "media_state", "DNS-суффикс подключения": None, "Описание": "description",
        "Физический адрес": "mac", "DHCP включен": "dhcp_enabled", "Автонастройка включена": None,
        "Локальный IPv6-адрес канала": "ipv6", "IPv6-адрес": "ipv6", "IPv4-адрес": "ipv4",
        "Маска подсети": "subnet_mask", "Аренда получена": "lease_obtained", "Срок аренды истекает": "lease_expires",
        "Основной шлюз": "default_gateway", "DHCP-сервер": "dhcp_server", "IAID DHCPv6": None,
        "DUID клиента DHCPv6": None, "DNS-серверы": "dns_servers", "NetBios через TCP/IP": None,
    },
}
#: Adapter kinds as the header's first words, per language -> the English kind.
_KINDS: dict[str, dict[str, str]] = {
    "en": {k: k for k in ("Ethernet adapter", "Wireless LAN adapter", "Tunnel adapter", "Unknown adapter",
                          "PPP adapter")},
    "de": {"Ethernet-Adapter": "Ethernet adapter", "Drahtlos-LAN-Adapter": "Wireless LAN adapter",
           "Tunneladapter": "Tunnel adapter"},
    "fr": {"Carte Ethernet": "Ethernet adapter", "Carte réseau sans fil": "Wireless LAN adapter"},
    "es": {"Adaptador de Ethernet": "Ethernet adapter", "Adaptador de LAN inalámbrica": "Wireless LAN adapter"},
    "it": {"Scheda Ethernet": "Ethernet adapter", "Scheda LAN wireless": "Wireless LAN adapter",
           "Scheda sconosciuta": "Unknown adapter", "Scheda PPP": "PPP adapter"},
    "pt-BR": {"Adaptador Ethernet": "Ethernet adapter", "Adaptador desconhecido": "Unknown adapter",
              "Adaptador PPP": "PPP adapter"},
    "ja": {"イーサネット アダプター": "Ethernet adapter"},
    "zh-CN": {"以太网适配器": "Ethernet adapter", "无线局域网适配器": "Wireless LAN adapter",
              "隧道适配器": "Tunnel adapter", "未知适配器": "Unknown adapter"},
    "ru": {"Адаптер Ethernet": "Ethernet adapter", "Адаптер беспроводной локальной сети": "Wireless LAN adapter",
           "Неизвестный адаптер": "Unknown adapter"},
}
_TITLES = ("windows ip configuration", "windows-ip-konfiguration", "configuration ip de windows",
           "configuración ip de windows", "configurazione ip di windows", "configuração de ip do windows",
           "windows ip 構成", "windows ip 配置", "настройка протокола ip для windows")
_YES = {"yes", "ja", "oui", "sí", "sì", "si", "sim", "はい", "是", "да"}
_NO = {"no", "nein", "non", "não", "nao", "いいえ", "否", "нет"}
#: Address state suffixes -> English (Windows writes the state in the display language).
_STATES = {"preferred": "Preferred", "bevorzugt": "Preferred", "préféré": "Preferred", "preferido": "Preferred",
           "preferenziale": "Preferred", "preferencial": "Preferred", "優先": "Preferred", "首选": "Preferred",
           "основной": "Preferred", "deprecated": "Deprecated", "tentative": "Tentative", "duplicate": "Duplicate"}
#: Media State values meaning "disconnected" -> the English text (kit rules look for "disconnected").
_MEDIA_DISCONNECTED = {"media disconnected", "medium getrennt", "média déconnecté", "supporto disconnesso",
                       "メディアは接続されていません", "媒体已断开连接", "媒体已断开", "среда передачи недоступна"}
#: Month names (CLDR wide names, format context; Russian genitive as in "2 декабря 2021 г.").
_MONTHS_BY_LANG: dict[str, tuple[str, ...]] = {
    "en": ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december"),
    "de": ("januar", "februar", "märz", "april", "mai", "juni", "juli", "august", "september", "oktober",
           "november", "dezember"),
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"),
    "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
           "noviembre", "diciembre"),
    "it": ("gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre", "ottobre",
           "novembre", "dicembre"),
    "pt": ("janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro", "outubro",
           "novembro", "dezembro"),
    "ru": ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября", "октября",
           "ноября", "декабря"),
}
_MONTHS = {name: i for names in _MONTHS_BY_LANG.values() for i, name in enumerate(names, start=1)}


def _norm(label: str) -> str:
    text = unicodedata.normalize("NFKC", label).replace("\u2019", "'").casefold()
    return re.sub(r"\s+", " ", text).strip(" .")


def _build_lookup() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for table in _LABELS.values():
        for label, meaning in table.items():
            key = _norm(label)
            if key in out and out[key] != meaning:
                raise RuntimeError(f"ipconfig label {label!r} has two meanings")
            out[key] = meaning
    return out


_LOOKUP = _build_lookup()
_KIND_PREFIXES = sorted(((_norm(k), v) for t in _KINDS.values() for k, v in t.items()), key=lambda kv: -len(kv[0]))

_HEADER = re.compile(r"^(\S.*?)\s*:\s*$")
# "   Label . . . . : value": the separator is the first colon after a dotted leader; without a leader (a label
# that fills its column: "Verbindungsspezifisches DNS-Suffix:"), the first colon followed by a blank or the end
_ENTRY_DOTTED = re.compile(r"^[ \t]+(?P<label>\S.*?)[ \t]*(?:\.[ \t]*)+:(?:[ \t]|$)(?P<value>.*)$")
_ENTRY_PLAIN = re.compile(r"^[ \t]+(?P<label>[^:\s][^:]*?)[ \t]*:(?:[ \t]|$)(?P<value>.*)$")
_V4 = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){3})(?:\s*\((\w+)\))?$")
_V6 = re.compile(r"^([0-9A-Fa-f:]+:[0-9A-Fa-f:.]*)(?:%(\d+))?(?:\s*\((\w+)\))?$")
_MAC = re.compile(r"^[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5,7}$")
_LEASE_FMT = "%A, %B %d, %Y %I:%M:%S %p"
_TIME = re.compile(r"(?<!\d)(\d{1,2})[:.](\d{2})[:.](\d{2})(?!\d)")
_CJK_DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_PM = re.compile(r"(?:\bp\.?\s?m\.?(?!\w)|午後|下午)", re.IGNORECASE)
_AM = re.compile(r"(?:\ba\.?\s?m\.?(?!\w)|午前|上午)", re.IGNORECASE)
_DOTTED_LINE = re.compile(r"(?m)^[ \t]{1,12}\S[^\n]*?(?:[ \t]?\.){3,}[ \t]*:")


def sniff(head: str) -> bool:
    low = head.lower()
    if any(t in low for t in _TITLES) or re.search(
            r"(?m)^\s+(Physical Address|IPv4 Address|Subnet Mask)(?:\s*\.)+\s*:", head):
        return True
    # localized output by structure: several "   label . . . . : value" lines
    return len(_DOTTED_LINE.findall(head[:16384])) >= 3


def _is_mask(value: str) -> bool:
    if not _V4.match(value) or "(" in value:
        return False
    try:
        ipaddress.ip_network(f"0.0.0.0/{value}")
    except ValueError:
        return False
    return True


def _lease(raw: str | None) -> pd.Timestamp | None:
    """A lease time in any of the tables' languages (long date + long time), or NaT; never guesses a day/month
    order from an all-numeric date."""
    if not raw:
        return None
    ts = pd.to_datetime(raw, format=_LEASE_FMT, errors="coerce", utc=True)
    if not pd.isna(ts):
        return ts
    text = unicodedata.normalize("NFKC", raw).casefold()
    tm = list(_TIME.finditer(text))
    if not tm:
        return pd.NaT
    t = tm[-1]
    hour, minute, second = int(t[1]), int(t[2]), int(t[3])
    rest = text[:t.start()] + " " + text[t.end():]
    if _PM.search(rest) and hour < 12:
        hour += 12
    elif _AM.search(rest) and hour == 12:
        hour = 0
    cjk = _CJK_DATE.search(rest)
    if cjk:
        year, month, day = int(cjk[1]), int(cjk[2]), int(cjk[3])
    else:
        tokens = re.findall(r"\w+", rest)
        months = [_MONTHS[w] for w in tokens if w in _MONTHS]
        years = [int(w) for w in tokens if w.isdigit() and len(w) == 4]
        days = [int(w) for w in tokens if w.isdigit() and len(w) <= 2]
        if len(months) != 1 or len(years) != 1 or len(days) != 1:
            return pd.NaT
        year, month, day = years[0], months[0], days[0]
    try:
        return pd.Timestamp(year=year, month=month, day=day, hour=hour, minute=minute, second=second, tz="UTC")
    except ValueError:
        return pd.NaT


def _entry(raw: str) -> tuple[str, str] | None:
    m = _ENTRY_DOTTED.match(raw) or _ENTRY_PLAIN.match(raw)
    if not m:
        return None
    return m["label"].strip(), m["value"].strip()


def parse(text: str, *, source: str) -> ParseResult:
    adapters: list[dict] = []
    addrs: list[dict] = []
    issues: list[ParseIssue] = []
    host = None
    unknown: dict[str, int] = {}
    # pass 1: structure -> headers and entries (label, value, continuation values)
    items: list[tuple[str, int, str, str, list[str]]] = []  # ("header"|"entry", line, label/title, value, more)
    for n, raw in enumerate(split_lines(text), start=1):
        if not raw.strip():
            continue
        indent = len(raw) - len(raw.lstrip(" \t"))
        if indent == 0:
            m = _HEADER.match(raw)
            if m and _norm(raw) not in _TITLES:
                items.append(("header", n, m.group(1).strip(), "", []))
            continue
        e = _entry(raw)
        if e is None and indent >= 20 and items and items[-1][0] == "entry":
            items[-1][4].append(raw.strip())  # continuation of a multi-line value
            continue
        if e is None:
            issues.append(ParseIssue(source, n, "unexpected-line", "expected `   Label . . . . : value`",
                                     text=raw.strip(), parser=NAME))
            continue
        items.append(("entry", n, e[0], e[1], []))

    # pass 2: meaning
    cur: dict | None = None
    pending_v4: dict | None = None

    def add_addr(value: str, n: int, auto: bool) -> dict | None:
        if cur is None:
            return None
        order = sum(1 for a in addrs if a["adapter"] == cur["adapter"])
        m4, m6 = _V4.match(value), _V6.match(value)
        if m4:
            state = _STATES.get(m4[2].casefold(), m4[2]) if m4[2] else ("Autoconfiguration" if auto else None)
            row = {"source": source, "line": n, "origin": "ipconfig", "adapter": cur["adapter"], "family": "IPv4",
                   "address": m4[1], "state": state, "order": order}
            addrs.append(row)
            return row
        if m6:
            addrs.append({"source": source, "line": n, "origin": "ipconfig", "adapter": cur["adapter"],
                          "family": "IPv6", "address": m6[1], "if_index": int(m6[2]) if m6[2] else None,
                          "state": _STATES.get(m6[3].casefold(), m6[3]) if m6[3] else None, "order": order})
        return None

    def set_mask(row: dict, value: str, n: int) -> None:
        row["subnet_mask"] = value
        try:
            row["prefix_len"] = ipaddress.ip_network(f"0.0.0.0/{value}").prefixlen
        except ValueError:
            issues.append(ParseIssue(source, n, "bad-value", f"subnet mask {value!r} is not a valid mask",
                                     parser=NAME))

    for i, (what, n, label, value, more) in enumerate(items):
        if what == "header":
            low = _norm(label)
            kind = name = None
            for prefix, english in _KIND_PREFIXES:
                if low.startswith(prefix + " "):
                    kind, name = english, label[len(prefix):].strip()
                    break
            if kind is None:
                issues.append(ParseIssue(source, n, "unknown-header", f"adapter header {label!r} does not start "
                                         "with a known adapter kind (Ethernet adapter, Ethernet-Adapter, Carte "
                                         "Ethernet ...); the whole header is kept as the adapter name",
                                         parser=NAME))
            cur = {"source": source, "line": n, "host_name": host, "adapter": name or label, "adapter_kind": kind,
                   "_gw": [], "_dns": []}
            adapters.append(cur)
            pending_v4 = None
            continue
        key = _norm(label)
        known = key in _LOOKUP
        meaning = _LOOKUP.get(key)
        if cur is None:
            if meaning == "host_name":
                host = value
            elif not known:
                unknown.setdefault(label, n)
            continue
        if meaning in ("ipv4", "ipv4_auto"):
            pending_v4 = add_addr(value, n, meaning == "ipv4_auto")
        elif meaning == "ipv6":
            add_addr(value, n, False)
        elif meaning == "subnet_mask":
            if pending_v4 is not None:
                set_mask(pending_v4, value, n)
            pending_v4 = None
        elif meaning == "description":
            cur["description"] = value
        elif meaning == "mac":
            cur["mac"] = value.lower() if _MAC.match(value) else value or None
        elif meaning == "dhcp_enabled":
            low = value.casefold()
            cur["dhcp_enabled"] = True if low in _YES else False if low in _NO else None
        elif meaning == "media_state":
            cur["media_state"] = "Media disconnected" if _norm(value) in _MEDIA_DISCONNECTED else value or None
        elif meaning == "default_gateway":
            cur["_gw"] += [v for v in [value, *more] if v]
        elif meaning == "dhcp_server":
            cur["dhcp_server"] = value or None
        elif meaning == "dns_servers":
            cur["_dns"] += [v for v in [value, *more] if v]
        elif meaning in ("lease_obtained", "lease_expires"):
            cur[meaning + "_raw"] = value or None
        elif known:
            continue
        else:
            # unknown label: only what structure proves is used
            m4, m6 = _V4.match(value), _V6.match(value)
            nxt = items[i + 1] if i + 1 < len(items) and items[i + 1][0] == "entry" else None
            if m4 and m4[2]:
                pending_v4 = add_addr(value, n, False)  # "10.0.1.4(Bevorzugt)": an address in any language
            elif m6 and m6[3]:
                add_addr(value, n, False)
            elif m4 and pending_v4 is not None and _is_mask(value):
                set_mask(pending_v4, value, n)  # a contiguous mask right after an address is its mask
                pending_v4 = None
            elif m4 and nxt is not None and _is_mask(nxt[3]) and _norm(nxt[2]) not in _LOOKUP:
                pending_v4 = add_addr(value, n, False)  # an address followed at once by its mask
            else:
                unknown.setdefault(label, n)
                pending_v4 = None

    for label, n in unknown.items():
        issues.append(ParseIssue(source, n, "unknown-label", f"ipconfig label {label!r} is not known in any of "
                                 f"{', '.join(_LABELS)}; its value is not used (gateway, DNS and DHCP server are "
                                 "only read from known labels)", parser=NAME))
    for a in adapters:
        a["default_gateways"] = ", ".join(g.split("%")[0] if ":" not in g else g for g in a.pop("_gw")) or None
        a["dns_servers"] = ", ".join(a.pop("_dns")) or None
        a["lease_obtained"] = _lease(a.get("lease_obtained_raw"))
        a["lease_expires"] = _lease(a.get("lease_expires_raw"))
        a["ipv4_count"] = sum(1 for x in addrs if x["adapter"] == a["adapter"] and x["family"] == "IPv4")
        for k in ("lease_obtained", "lease_expires"):
            if a.get(k + "_raw") and (a[k] is None or pd.isna(a[k])):
                issues.append(ParseIssue(source, a["line"], "bad-timestamp", f"{k.replace('_', ' ')} "
                                         f"{a[k + '_raw']!r} is not a long date and time in a known language (like "
                                         "'Sunday, July 19, 2161 5:43:51 PM' or 'Sonntag, 19. Juli 2161 17:43:51')",
                                         parser=NAME))
    return ParseResult({"adapters": ADAPTERS.from_records(adapters), "ip_addresses": IP_ADDRESSES.from_records(addrs)},
                       issues)
