"""`netsh winhttp show proxy` parser (formats doc §5.7, §1.4): layouts, localized labels, bypass matching."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kit.parse import match_path, sniff
from kit.parse import winhttp_proxy as wp

SRC = "commands/netsh_winhttp_proxy.txt"

# verbatim from the formats doc §5.7 (the real bytes: CRLF, a blank line after the header)
DIRECT = "Current WinHTTP proxy settings:\r\n\r\n    Direct access (no proxy server).\r\n"
PROXY_DOC = ("Current WinHTTP proxy settings:\r\n\r\n    Proxy Server(s) :  http://YOUR_CACHE_SERVER_IP:80\r\n"
             "    Bypass List     :  <local>\r\n")


def row(text: str) -> pd.Series:
    r = wp.parse(text, source=SRC)
    df = r.frames["proxy"]
    assert len(df) == 1
    assert wp.PROXY.check_dtypes(df) == []
    return df.iloc[0]


def _na(v: object) -> object:
    return None if pd.isna(v) else v


def test_direct_access_real_bytes() -> None:
    r = row(DIRECT)
    assert bool(r["direct"]) is True
    assert r["line"] == 3 and r["scope"] == "winhttp" and r["source"] == SRC
    assert _na(r["proxy_server"]) is None and _na(r["bypass"]) is None
    assert r["raw"] == "Current WinHTTP proxy settings:\r\n\r\n    Direct access (no proxy server)."


@pytest.mark.parametrize("text", [
    "Current WinHTTP proxy settings:\r\n    Direct Access (no proxy server).\r\n",   # capital A variant
    "当前的 WinHTTP 代理服务器设置:\r\n\r\n    直接访问。\r\n",                          # zh-CN
    "PS> netsh winhttp show proxy\nCurrent WinHTTP proxy settings:\n    Direct access (no proxy server).\n",
])
def test_direct_variants(text: str) -> None:
    r = row(text)
    assert bool(r["direct"]) is True and _na(r["proxy_server"]) is None
    assert pd.isna(r["bypasses_wireserver"])


def test_proxy_with_local_bypass_does_not_bypass_ip_literals() -> None:
    r = row(PROXY_DOC)
    assert bool(r["direct"]) is False
    assert (r["proxy_server"], r["bypass"], r["line"]) == ("http://YOUR_CACHE_SERVER_IP:80", "<local>", 3)
    assert bool(r["bypasses_wireserver"]) is False and bool(r["bypasses_imds"]) is False


def test_proxy_with_wireserver_bypass_only() -> None:
    text = PROXY_DOC.replace("<local>", "<local>;168.63.129.16")
    r = row(text)
    assert r["bypass"] == "<local>;168.63.129.16"
    assert bool(r["bypasses_wireserver"]) is True and bool(r["bypasses_imds"]) is False


def test_russian_labels_matched_by_position() -> None:
    text = ("Текущие параметры прокси WinHTTP:\r\n\r\n    Прокси-сервер:  10.10.0.5:3128\r\n"
            "    Список обхода:  <local>;169.254.169.254\r\n")
    r = row(text)
    assert (r["proxy_server"], r["bypass"]) == ("10.10.0.5:3128", "<local>;169.254.169.254")
    assert bool(r["bypasses_imds"]) is True and bool(r["bypasses_wireserver"]) is False
    assert sniff(text) == "winhttp_proxy"


def test_russian_server_only() -> None:
    r = row("Текущие параметры прокси WinHTTP:\r\n\r\n    Прокси-сервер:  10.10.0.5:3128\r\n")
    assert r["proxy_server"] == "10.10.0.5:3128" and _na(r["bypass"]) is None
    assert bool(r["bypasses_wireserver"]) is False


def test_per_protocol_proxy_string_kept_raw() -> None:
    text = ("Current WinHTTP proxy settings:\r\n\r\n    Proxy Server(s) :  http=10.0.0.5:8080;https=10.0.0.5:8443\r\n"
            "    Bypass List     :  168.63.*;169.254.169.254\r\n")
    r = row(text)
    assert r["proxy_server"] == "http=10.0.0.5:8080;https=10.0.0.5:8443"
    assert bool(r["bypasses_wireserver"]) is True and bool(r["bypasses_imds"]) is True


def test_none_bypass_list_is_no_bypass() -> None:
    r = row(PROXY_DOC.replace("<local>", "(none)"))
    assert _na(r["bypass"]) is None and bool(r["bypasses_wireserver"]) is False


def test_flush_left_paste_and_lf_line_endings() -> None:
    text = "Current WinHTTP proxy settings:\nProxy Server(s) : 10.0.0.5:3128\nBypass List : *\n"
    r = row(text)
    assert (r["proxy_server"], r["bypass"], r["line"]) == ("10.0.0.5:3128", "*", 2)
    assert bool(r["bypasses_imds"]) is True


@pytest.mark.parametrize(("bypass", "ip", "covers"), [
    ("168.63.129.16", "168.63.129.16", True),
    ("<local>", "168.63.129.16", False),            # <local> = dot-less names only, never an IP literal
    ("<local>;*", "168.63.129.16", True),
    ("168.63.*", "168.63.129.16", True),
    ("168.63.*", "169.254.169.254", False),
    ("*.16", "168.63.129.16", True),
    ("168.63.129.1", "168.63.129.16", False),       # near miss: prefix of the address is not a match
    ("168.63.129.17", "168.63.129.16", False),
    ("168.63.129.1?", "168.63.129.16", True),
    ("http://168.63.129.16", "168.63.129.16", True),
    ("168.63.129.16:80", "168.63.129.16", True),
    ("168.63.129.0/24", "168.63.129.16", False),    # CIDR is not WinHTTP bypass syntax
    ("*.contoso.com 168.63.129.16", "168.63.129.16", True),  # space-separated
    ("", "168.63.129.16", False),
    (None, "168.63.129.16", False),
    ("(none)", "168.63.129.16", False),
])
def test_bypass_covers(bypass: str | None, ip: str, covers: bool) -> None:
    assert wp.bypass_covers(bypass, ip) is covers


def test_empty_or_cut_output_is_an_issue_not_an_exception() -> None:
    r = wp.parse("Current WinHTTP proxy settings:\r\n", source=SRC)
    assert len(r.frames["proxy"]) == 1 and pd.isna(r.frames["proxy"]["direct"].iloc[0])
    assert [i.kind for i in r.issues] == ["unexpected-shape"]
    assert "Direct access" in r.issues[0].message
    r = wp.parse("", source=SRC)
    assert r.issues and r.frames["proxy"]["raw"].iloc[0] == ""


def test_path_and_sniff() -> None:
    assert match_path("commands/netsh_winhttp_proxy.txt") == "winhttp_proxy"
    assert wp.sniff(DIRECT) and wp.sniff(PROXY_DOC)
    assert not wp.sniff("[00000006] 2024-12-18T15:34:54.328Z [INFO]  WinHTTP proxy settings: none\r\n")
    assert not wp.sniff("ComputerName     : 168.63.129.16\r\nTcpTestSucceeded : True\r\n")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_never_raises(text: str) -> None:
    r = wp.parse(text, source=SRC)
    assert len(r.frames["proxy"]) == 1


@pytest.mark.parametrize("cut", range(0, len(PROXY_DOC) + 1, 7))
def test_cut_anywhere_never_raises(cut: int) -> None:
    r = wp.parse(PROXY_DOC[:cut], source=SRC)
    df = r.frames["proxy"]
    assert len(df) == 1
    if not pd.isna(df["proxy_server"].iloc[0]):
        assert "http://YOUR_CACHE_SERVER_IP:80".startswith(df["proxy_server"].iloc[0])
