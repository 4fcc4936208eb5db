"""Render the healthy sample's three TCP probes (probes/tcp.json) as pasted Test-NetConnection output (run once;
the output files are committed).

``netconnection.healthy.en.*``: all three succeed, as in the sample. Nothing in that output is localized
(property names and True/False are not), so it is the same text in every language.
``netconnection.{lang}.*``: the same probes with the HostGAPlugin port (168.63.129.16:32526) failing, which is
where localized Windows differs: the WARNING prefix of Write-Warning is in the display language, the message after
it is not (SOURCES.md). Saved as UTF-16 LE with BOM (what Windows PowerShell 5.1 `*>`/Out-File write) and UTF-8.

    python tests/shapes/test_netconnection/_render.py
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
PREFIX = {"en": "WARNING: ", "de": "WARNUNG: ", "fr": "AVERTISSEMENT : ", "es": "ADVERTENCIA: ", "pt-BR": "AVISO: ",
          "ja": "警告: ", "zh-CN": "警告: ", "ru": "ПРЕДУПРЕЖДЕНИЕ: "}


def ok_block(target: str, port: int) -> list[str]:
    return ["", "", f"ComputerName     : {target}", f"RemoteAddress    : {target}", f"RemotePort       : {port}",
            "InterfaceAlias   : Ethernet", "SourceAddress    : 10.0.1.4", "TcpTestSucceeded : True", "", ""]


def failed_block(lang: str, target: str, port: int) -> list[str]:
    p = PREFIX[lang]
    # the TCP warning alone with a successful ping, as in the real de/es/pt-BR/ja/zh-CN/ru pastes (SOURCES.md)
    return [f"{p}TCP connect to ({target} : {port}) failed", "", "", f"ComputerName           : {target}",
            f"RemoteAddress          : {target}",
                   f"RemotePort             : {port}", "InterfaceAlias         : Ethernet",
                   "SourceAddress          : 10.0.1.4", "PingSucceeded          : True",
                   "PingReplyDetails (RTT) : 0 ms", "TcpTestSucceeded       : False", "", ""]


def write(name: str, lines: list[str]) -> None:
    text = "\r\n".join(lines) + "\r\n"
    (HERE / f"{name}.utf-16.txt").write_bytes(text.encode("utf-16"))  # BOM + little-endian on every platform here
    (HERE / f"{name}.utf-8.txt").write_bytes(text.encode("utf-8"))


def main() -> None:
    write("netconnection.healthy.en", ok_block("168.63.129.16", 80) + ok_block("168.63.129.16", 32526)
          + ok_block("169.254.169.254", 80))
    for lang in PREFIX:
        write(f"netconnection.{lang}", ok_block("168.63.129.16", 80) + failed_block(lang, "168.63.129.16", 32526)
              + ok_block("169.254.169.254", 80))


if __name__ == "__main__":
    main()
