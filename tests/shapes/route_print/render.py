"""Render the healthy sample's `route print` in the languages of SOURCES.md.

Run: python tests/shapes/route_print/render.py.

Every localized string below is quoted from the real output named in SOURCES.md; ``None`` means no source showed that
line for the language and the line is left out (never guessed). The numbers are the healthy sample's, unchanged.
Each language is written twice: in the OEM code page cmd.exe's ``>`` redirection uses for that locale, and as UTF-8.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parents[2] / "sample_logs" / "healthy" / "commands" / "route_print.txt"

# key: (oem codec, labels). Labels: interface list title, IPv4 title, IPv6 title, active, persistent, none,
# IPv4 column header, IPv6 column header, on-link word.
LANGS: dict[str, tuple[str, dict[str, str | None]]] = {
    "de": ("cp850", {
        "iface": "Schnittstellenliste", "v4": "IPv4-Routentabelle", "v6": "IPv6-Routentabelle",
        "active": "Aktive Routen:", "persistent": "Ständige Routen:", "none": "Keine",
        "v4_header": "     Netzwerkziel    Netzwerkmaske          Gateway    Schnittstelle Metrik",
        "v6_header": " If Metrik Netzwerkziel             Gateway", "onlink": "Auf Verbindung"}),
    "fr": ("cp850", {
        "iface": "Liste d'Interfaces", "v4": "IPv4 Table de routage", "v6": "IPv6 Table de routage",
        "active": "Itinéraires actifs :", "persistent": "Itinéraires persistants :", "none": "Aucun",
        "v4_header": "Destination réseau    Masque réseau  Adr. passerelle   Adr. interface Métrique",
        "v6_header": None, "onlink": "On-link"}),
    "es": ("cp850", {
        "iface": "ILista de interfaces", "v4": "IPv4 Tabla de enrutamiento", "v6": "IPv6 Tabla de enrutamiento",
        "active": "Rutas activas:", "persistent": "Rutas persistentes:", "none": "Ninguno",
        "v4_header": "Destino de red        Máscara de red   Puerta de enlace   Interfaz  Métrica",
        "v6_header": None, "onlink": "En vínculo"}),
    "it": ("cp850", {
        "iface": "Elenco interfacce", "v4": "IPv4 Tabella route", "v6": "IPv6 Tabella route",
        "active": "Route attive:", "persistent": "Route permanenti:", "none": "Nessuna",
        "v4_header": "     Indirizzo rete             Mask          Gateway     Interfaccia Metrica",
        "v6_header": None, "onlink": "On-link"}),
    "pt-BR": ("cp850", {
        "iface": "Lista de interfaces", "v4": "Tabela de rotas IPv4", "v6": "Tabela de rotas IPv6",
        "active": "Rotas ativas:", "persistent": "Rotas persistentes:", "none": "Nenhuma",
        "v4_header": "Endereço de rede          Máscara   Ender. gateway       Interface   Custo",
        "v6_header": " Se destino de rede de métrica      Gateway", "onlink": "No vínculo"}),
    "ja": ("cp932", {
        "iface": "インターフェイス一覧", "v4": "IPv4 ルート テーブル", "v6": "IPv6 ルート テーブル",
        "active": "アクティブ ルート:", "persistent": "固定ルート:", "none": "なし",
        "v4_header": "ネットワーク宛先        ネットマスク          ゲートウェイ       インターフェイス  メトリック",
        "v6_header": None, "onlink": "リンク上"}),
    "zh-CN": ("cp936", {
        "iface": "接口列表", "v4": "IPv4 路由表", "v6": "IPv6 路由表",
        "active": "活动路由:", "persistent": "永久路由:", "none": "无",
        "v4_header": "网络目标        网络掩码          网关       接口   跃点数",
        "v6_header": " 接口跃点数网络目标                网关", "onlink": "在链路上"}),
    "ru": ("cp866", {
        "iface": "Список интерфейсов", "v4": "IPv4 таблица маршрута", "v6": "IPv6 таблица маршрута",
        "active": "Активные маршруты:", "persistent": "Постоянные маршруты:", "none": "Отсутствует",
        "v4_header": "Сетевой адрес           Маска сети      Адрес шлюза       Интерфейс  Метрика",
        "v6_header": " Метрика   Сетевой адрес            Шлюз", "onlink": "On-link"}),
}

_EN = {"Interface List": "iface", "IPv4 Route Table": "v4", "IPv6 Route Table": "v6", "Active Routes:": "active",
       "Persistent Routes:": "persistent", "None": "none",
       "Network Destination        Netmask          Gateway       Interface  Metric": "v4_header",
       "If Metric Network Destination      Gateway": "v6_header"}


def render(text: str, labels: dict[str, str | None]) -> str:
    out: list[str] = []
    for line in text.split("\r\n"):
        key = _EN.get(line.strip())
        if key is not None:
            value = labels[key]
            if value is None:
                continue  # no source shows this line in this language: left out, not guessed
            indent = line[: len(line) - len(line.lstrip())] if key == "none" else ""
            out.append(indent + value)
            continue
        parts = line.split()
        if len(parts) == 5 and parts[2] == "On-link":  # IPv4 on-link row: route.exe right-aligns each field
            word = labels["onlink"] or "On-link"
            out.append(f"{parts[0]:>17}{parts[1]:>17}{word:>{max(16, len(word) + 3)}}{parts[3]:>18}{parts[4]:>7}")
            continue
        if parts and parts[-1] == "On-link":  # IPv6 row or its wrapped gateway line
            out.append(line[: line.rindex("On-link")] + (labels["onlink"] or "On-link"))
            continue
        out.append(line)
    return "\r\n".join(out)


def main() -> None:
    english = SAMPLE.read_bytes().decode("ascii")
    for lang, (codec, labels) in LANGS.items():
        text = render(english, labels)
        (HERE / f"route_print.{lang}.{codec}.txt").write_bytes(text.encode(codec))
        (HERE / f"route_print.{lang}.utf8.txt").write_bytes(text.encode("utf-8"))


if __name__ == "__main__":
    main()
