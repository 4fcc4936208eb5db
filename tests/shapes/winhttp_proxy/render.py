"""Render the healthy and proxy-intercepts-agent samples' `netsh winhttp show proxy` in the languages of SOURCES.md.

Run: python tests/shapes/winhttp_proxy/render.py. Every localized string is quoted from the real output named in
SOURCES.md; ``None`` means no source showed that line for the language, and then the line is left out (the
healthy direct-access file) or the language gets no file (proxy set). The values are the samples', unchanged.
Each file is written in the OEM code page cmd.exe's ``>`` redirection uses for the locale, and as UTF-8.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parents[2] / "sample_logs"

# lang: (oem codec, header, direct-access sentence, proxy-server line, bypass-list line); the last two are format
# strings with the label and spacing exactly as the source prints them
LANGS: dict[str, tuple[str, str | None, str, str | None, str | None]] = {
    "de": ("cp850", "Aktuelle WinHTTP-Proxyeinstellungen:", "Direkter Zugriff (kein Proxyserver).",
           "    Proxyserver : {}", "    Umgehungsliste : {}"),
    "fr": ("cp850", "Paramètres de proxy WinHTTP actuels :", "Accès direct (pas de serveur proxy).", None, None),
    "es": ("cp850", None, "Acceso directo (sin servidor proxy).", None, None),
    "pt-BR": ("cp850", "Configurações de proxy WinHTTP atuais:", "Acesso direto (sem servidor proxy).", None, None),
    "ja": ("cp932", "現在の WinHTTP プロキシ設定:", "直接アクセス (プロキシ サーバーなし)。",
           "    プロキシ サーバー:  {}", "    バイパス一覧     : {}"),
    "zh-CN": ("cp936", "当前的 WinHTTP 代理服务器设置:", "直接访问(没有代理服务器)。",
              "    代理服务器:  {}", "    绕过列表     :  {}"),
    "ru": ("cp866", "Текущие параметры прокси WinHTTP:", "Прямой доступ (без прокси-сервера).",
           "    Прокси-сервер:  {}", None),
}

HEADER = "Current WinHTTP proxy settings:"
DIRECT = "    Direct access (no proxy server)."


def render(text: str, header: str | None, direct: str, server: str | None, bypass: str | None) -> str | None:
    out: list[str] = []
    for line in text.split("\r\n"):
        if line == HEADER:
            if header is not None:
                out.append(header)
            continue  # no source shows this language's header line: left out, not guessed
        if line == DIRECT:
            out.append("    " + direct)
            continue
        label, sep, value = line.partition(" :  ")
        if sep and label.strip() in ("Proxy Server(s)", "Bypass List"):
            fmt = server if label.strip() == "Proxy Server(s)" else bypass
            if fmt is None:
                return None  # this language's label was never seen: no file
            out.append(fmt.format(value))
            continue
        out.append(line)
    return "\r\n".join(out)


def main() -> None:
    for sample, stem in (("healthy", "direct"), ("proxy-intercepts-agent", "proxy")):
        english = (SAMPLES / sample / "commands" / "netsh_winhttp_proxy.txt").read_bytes().decode("ascii")
        for lang, (codec, *labels) in LANGS.items():
            text = render(english, *labels)  # type: ignore[arg-type]
            if text is None:
                continue
            (HERE / f"winhttp_proxy.{stem}.{lang}.{codec}.txt").write_bytes(text.encode(codec))
            (HERE / f"winhttp_proxy.{stem}.{lang}.utf8.txt").write_bytes(text.encode("utf-8"))


if __name__ == "__main__":
    main()
