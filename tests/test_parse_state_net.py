"""Extension state, route, IP, proxy, probe, firewall and service parsers on real-format input (formats doc §5, §6)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from kit.derive import routes as routing
from kit.parse import (
    aggregate_status,
    ext_settings,
    ext_status,
    firewall_rules,
    get_netroute,
    http_probe,
    ipconfig,
    route_print,
    services,
    sniff,
    tcp_probes,
    test_netconnection,
    winhttp_proxy,
    wireserver_versions,
)

CSE_STATUS = """[
    {
        "version": "1",
        "timestampUTC": "2021-01-02T23:56:55.6741325Z",
        "status": {
            "name": "SecureCommand_2",
            "operation": "Command Execution Finished",
            "status": "success",
            "code": 0,
            "formattedMessage": {
                "lang": "en-US",
                "message": "Command execution finished"
            },
            "substatus": [
                {
                    "name": "StdOut",
                    "status": "success",
                    "code": 0,
                    "formattedMessage": {
                        "lang": "en-US",
                        "message": "\\r\\n"
                    }
                },
                {
                    "name": "StdErr",
                    "status": "success",
                    "code": 0,
                    "formattedMessage": {
                        "lang": "en-US",
                        "message": ""
                    }
                }
            ]
        }
    }
]"""
STATUS_SRC = "C/Packages/Plugins/Microsoft.Compute.CustomScriptExtension/1.10.9/Status/2.status"


def test_status_file_and_substatus() -> None:
    r = ext_status.parse(CSE_STATUS, source=STATUS_SRC)
    st, sub = r.frames["ext_status"], r.frames["ext_substatus"]
    row = st.iloc[0]
    assert (row["extension"], row["ext_version"], row["seq"]) == ("Microsoft.Compute.CustomScriptExtension", "1.10.9", 2)
    assert row["status"] == "success" and row["code"] == 0 and row["substatus_count"] == 2
    assert row["timestamp"] == pd.Timestamp("2021-01-02T23:56:55.6741325Z")
    assert sub["name"].tolist() == ["StdOut", "StdErr"] and sub["message"].iloc[0] == "\r\n"
    assert not r.issues


def test_status_failure_exit_code_and_linux_shape() -> None:
    msg = "Command execution finished, but failed because it returned a non-zero exit code of: '1'"
    doc = [{"version": 1, "timestampUTC": "2017-05-13T18:56:32Z", "status": {
        "operation": "Enable", "status": "error", "code": "1", "formattedMessage": {"lang": "en", "message": msg}}}]
    row = ext_status.parse(json.dumps(doc), source=STATUS_SRC).frames["ext_status"].iloc[0]
    assert row["exit_code"] == 1 and row["status"] == "error" and row["code"] == 1 and row["status_version"] == "1"


def test_half_written_status_is_kept_and_flagged() -> None:
    r = ext_status.parse(CSE_STATUS[:400], source=STATUS_SRC)
    st = r.frames["ext_status"]
    assert len(st) == 1 and bool(st["damaged"].iloc[0]) and st["seq"].iloc[0] == 2
    assert r.issues[0].kind == "bad-json" and r.issues[0].line is not None
    assert "line" in r.issues[0].message and "column" in r.issues[0].message


SECRET = "MIIByAYJKoZIhvcNAQcDoIIBuTCCAbUCAQAxggFxMIIBbQIBADBVMEExPzA9BgoJkiaJk_TOP_SECRET_PAYLOAD"
SETTINGS = json.dumps({"runtimeSettings": [{"handlerSettings": {
    "protectedSettingsCertThumbprint": "1BE9A13AA1321C7C515EF109746998BAB6D86FD1", "protectedSettings": SECRET,
    "publicSettings": {"commandToExecute": "powershell -File a.ps1", "fileUris": ["https://x/a.ps1"]}}}]})
SET_SRC = "C/Packages/Plugins/Microsoft.Compute.CustomScriptExtension/1.10.9/RuntimeSettings/0.settings"


@pytest.mark.parametrize("cut", [None, SETTINGS.index(SECRET) + 20, SETTINGS.index(SECRET) + len(SECRET) + 3])
def test_protected_settings_never_leak(cut: int | None) -> None:
    text = SETTINGS if cut is None else SETTINGS[:cut]
    r = ext_settings.parse(text, source=SET_SRC)
    df = r.frames["ext_settings"]
    blob = repr(df) + df.to_csv() + df.to_json() + repr(r.issues) + "".join(str(i) for i in r.issues)
    for piece in (SECRET, SECRET[:12], SECRET[-12:], "TOP_SECRET"):
        assert piece not in blob
    assert bool(df["has_protected_settings"].iloc[0])
    if cut is None:
        assert df["protected_settings_length"].iloc[0] == len(SECRET)
        assert json.loads(df["public_settings"].iloc[0])["commandToExecute"] == "powershell -File a.ps1"
        assert df["public_settings_keys"].iloc[0] == "commandToExecute,fileUris"
    else:
        assert bool(df["damaged"].iloc[0])


def test_settings_passed_as_a_string_are_flagged() -> None:
    doc = {"runtimeSettings": [{"handlerSettings": {"publicSettings": "{\"secretsManagementSettings\": {}}"}}]}
    r = ext_settings.parse(json.dumps(doc), source=SET_SRC)
    assert [i.kind for i in r.issues] == ["settings-as-string"]


def test_aggregate_status_with_nul_padding_and_key_casing() -> None:
    from kit.textio import decode

    doc = ('{"version":"1.0","timestampUTC":"2015-10-08T03:21:24Z","aggregateStatus":{"guestAgentStatus":{"version":'
           '"2.7.41491.1102","status":"Ready","formattedMessage":{"lang":"en-US","message":"GuestAgent is running"}},'
           '"handlerAggregateStatus":[{"status":"Ready","runtimeSettingsStatus":{"settingsStatus":{"status":{"status":'
           '"success","formattedMessage":{"lang":"en-US","message":"Enable Succeeded"},"operation":"Enable","code":"1"'
           '},"timestampUTC":"2015-10-08T03:09:34Z"},"sequenceNumber":"0"},"handlerVersion":"1.0.3.0","handlername":'
           '"Microsoft.Compute.BGInfo"}]}}')
    text = decode(doc.encode() + b"\x00" * 40).text
    r = aggregate_status.parse(text, source="C/WindowsAzure/Logs/AggregateStatus/aggregatestatus_20180921025640005.json")
    a, h = r.frames["agent_status"], r.frames["handler_status"]
    assert a["agent_version"].iloc[0] == "2.7.41491.1102" and bool(a["file_time_from_name"].iloc[0])
    assert a["snapshot_time"].iloc[0] == pd.Timestamp("2018-09-21T02:56:40.005Z")
    assert h["handler_name"].iloc[0] == "Microsoft.Compute.BGInfo" and h["settings_code"].iloc[0] == 1


ROUTE_HEALTHY = """===========================================================================
Interface List
  6...7c ed 8d 4d 30 f4 ......Microsoft Hyper-V Network Adapter
  1...........................Software Loopback Interface 1
===========================================================================

IPv4 Route Table
===========================================================================
Active Routes:
Network Destination        Netmask          Gateway       Interface  Metric
          0.0.0.0          0.0.0.0         10.1.0.1         10.1.0.4     11
         10.1.0.0    255.255.255.0         On-link          10.1.0.4    266
    168.63.129.16  255.255.255.255         10.1.0.1         10.1.0.4     11
  169.254.169.254  255.255.255.255         10.1.0.1         10.1.0.4     11
===========================================================================
Persistent Routes:
  None

IPv6 Route Table
===========================================================================
Active Routes:
 If Metric Network Destination      Gateway
  1    331 ::1/128                  On-link
  6    266 fe80::73b8:2feb:26e3:cc05/128
                                    On-link
===========================================================================
Persistent Routes:
  None
"""
ROUTE_NVA = """IPv4 Route Table
===========================================================================
Active Routes:
Network Destination        Netmask          Gateway       Interface  Metric
          0.0.0.0          0.0.0.0         10.1.0.6         10.1.0.4    266
         10.1.0.0    255.255.255.0         On-link          10.1.0.4    266
===========================================================================
Persistent Routes:
  Network Address          Netmask  Gateway Address  Metric
          0.0.0.0          0.0.0.0         10.1.0.6  Default
===========================================================================
"""


def test_route_print_healthy_and_wrapped_ipv6() -> None:
    r = route_print.parse(ROUTE_HEALTHY.replace("\n", "\r\n"), source="commands/route_print.txt")
    routes, ifs = r.frames["routes"], r.frames["interfaces"]
    assert r.issues == []
    assert ifs["mac"].tolist()[0] == "7c-ed-8d-4d-30-f4" and ifs["if_index"].tolist() == [6, 1]
    wrapped = routes[routes["destination"] == "fe80::73b8:2feb:26e3:cc05/128"].iloc[0]
    assert bool(wrapped["on_link"]) and wrapped["if_index"] == 6
    eff = routing.effective_route(routes, "168.63.129.16")
    assert (eff["destination"], eff["gateway"], eff["interface"], eff["metric"]) == ("168.63.129.16/32", "10.1.0.1",
                                                                                   "10.1.0.4", 11)


def test_route_print_persistent_default_to_nva() -> None:
    routes = route_print.parse(ROUTE_NVA, source="r.txt").frames["routes"]
    pers = routes[routes["persistent"]]
    assert pers["metric_default"].tolist() == [True] and pers["gateway"].tolist() == ["10.1.0.6"]
    eff = routing.effective_route(routes, "169.254.169.254")
    assert eff["destination"] == "0.0.0.0/0" and eff["gateway"] == "10.1.0.6" and not eff["persistent"]


def test_longest_prefix_then_metric_and_link_local_capture() -> None:
    text = ROUTE_NVA.replace("Persistent Routes:", "").replace(
        "         10.1.0.0    255.255.255.0         On-link          10.1.0.4    266",
        "         10.1.0.0    255.255.255.0         On-link          10.1.0.4    266\n"
        "      169.254.0.0      255.255.0.0         On-link      169.254.1.23    261")
    routes = route_print.parse(text, source="r.txt").frames["routes"]
    assert routing.effective_route(routes, "169.254.169.254")["destination"] == "169.254.0.0/16"
    cand = routing.candidate_routes(routes, "169.254.169.254")
    assert cand["rank"].tolist() == [1, 2] and cand["why"].iloc[1].startswith("shorter prefix")
    with_host = route_print.parse(ROUTE_HEALTHY, source="r.txt").frames["routes"]
    both = pd.concat([with_host, routes])
    assert routing.effective_route(both, "169.254.169.254")["destination"] == "169.254.169.254/32"


def test_get_netroute_table_and_json() -> None:
    table = """         ifIndex DestinationPrefix                              NextHop                                  RouteMetric ifMetric PolicyStore
         ------- -----------------                              -------                                  ----------- -------- -----------
         23      169.254.169.254/32                             172.24.32.1                                      256 500      ActiveStore
         23      169.254.169.254/32                             172.24.32.1                                      256          Persiste...
"""
    df = get_netroute.parse(table, source="commands/get_netroute.txt").frames["routes"]
    assert df["store"].tolist() == ["ActiveStore", "PersistentStore"] and df["metric"].tolist()[0] == 756
    assert pd.isna(df["if_metric"].iloc[1])
    js = json.dumps({"DestinationPrefix": "0.0.0.0/0", "NextHop": "10.0.1.1", "RouteMetric": 0, "InterfaceMetric": 5,
                     "ifIndex": 6, "AddressFamily": 2, "Store": 1})  # a lone object with integer enums
    df = get_netroute.parse(js, source="commands/get_netroute.json").frames["routes"]
    assert df["store"].iloc[0] == "ActiveStore" and df["metric"].iloc[0] == 5 and df["family"].iloc[0] == "IPv4"


IPCONFIG = """
Windows IP Configuration

   Host Name . . . . . . . . . . . . : win-net-tools-v
   Node Type . . . . . . . . . . . . : Hybrid

Ethernet adapter Ethernet:

   Connection-specific DNS Suffix  . : ogdiwifyaa0urjo4dncsjzwajg.gx.internal.cloudapp.net
   Description . . . . . . . . . . . : Microsoft Hyper-V Network Adapter
   Physical Address. . . . . . . . . : 00-0D-3A-E6-CE-A3
   DHCP Enabled. . . . . . . . . . . : No
   Link-local IPv6 Address . . . . . : fe80::a8d1:11d5:3ab2:6a51%5(Preferred)
   IPv4 Address. . . . . . . . . . . : 10.1.0.4(Preferred)
   Subnet Mask . . . . . . . . . . . : 255.255.255.0
   IPv4 Address. . . . . . . . . . . : 10.1.0.5(Preferred)
   Subnet Mask . . . . . . . . . . . : 255.255.255.0
   Lease Expires . . . . . . . . . . : Sunday, July 19, 2161 5:43:51 PM
   Default Gateway . . . . . . . . . : 10.1.0.1
   DNS Servers . . . . . . . . . . . : 168.63.129.16
                                       10.1.0.10
   NetBIOS over Tcpip. . . . . . . . : Enabled

Ethernet adapter Ethernet 3:

   Description . . . . . . . . . . . : Microsoft Hyper-V Network Adapter #3
   Physical Address. . . . . . . . . : 00-0D-3A-E6-11-22
   DHCP Enabled. . . . . . . . . . . : Yes
   IPv4 Address. . . . . . . . . . . : 10.2.0.4(Preferred)
   Subnet Mask . . . . . . . . . . . : 255.255.255.0
   Default Gateway . . . . . . . . . :
"""


def test_ipconfig_multi_ip_empty_gateway_and_2161_lease() -> None:
    r = ipconfig.parse(IPCONFIG.replace("\n", "\r\n"), source="commands/ipconfig_all.txt")
    ad, ips = r.frames["adapters"], r.frames["ip_addresses"]
    assert ad["adapter"].tolist() == ["Ethernet", "Ethernet 3"]
    assert ad["host_name"].tolist() == ["win-net-tools-v"] * 2
    assert ad["ipv4_count"].tolist() == [2, 1] and ad["dhcp_enabled"].tolist() == [False, True]
    assert ad["default_gateways"].iloc[0] == "10.1.0.1" and pd.isna(ad["default_gateways"].iloc[1])
    assert ad["dns_servers"].iloc[0] == "168.63.129.16, 10.1.0.10"
    assert ad["lease_expires"].iloc[0].year == 2161
    v4 = ips[ips["family"] == "IPv4"]
    assert v4["address"].tolist() == ["10.1.0.4", "10.1.0.5", "10.2.0.4"] and v4["prefix_len"].tolist() == [24] * 3
    assert ips[ips["family"] == "IPv6"]["if_index"].tolist() == [5]
    primary = routing.primary_interface(ad, ips)
    assert primary["ip"] == "10.1.0.4" and primary["adapter"] == "Ethernet"


@pytest.mark.parametrize(("text", "direct", "server", "ws"), [
    ("Current WinHTTP proxy settings:\r\n\r\n    Direct access (no proxy server).\r\n", True, None, None),
    ("Current WinHTTP proxy settings:\r\n    Direct Access (no proxy server).\r\n", True, None, None),
    ("Current WinHTTP proxy settings:\r\n\r\n    Proxy Server(s) :  http://YOUR_CACHE_SERVER_IP:80\r\n"
     "    Bypass List     :  <local>\r\n", False, "http://YOUR_CACHE_SERVER_IP:80", False),
    ("Current WinHTTP proxy settings:\r\n\r\n    Proxy Server(s) :  10.0.0.5:3128\r\n"
     "    Bypass List     :  <local>;168.63.129.16;169.254.169.254\r\n", False, "10.0.0.5:3128", True),
    ("Текущие параметры прокси WinHTTP:\r\n\r\n    Прокси-сервер:  10.10.0.5:3128\r\n", False, "10.10.0.5:3128", False),
    ("当前的 WinHTTP 代理服务器设置:\r\n\r\n    直接访问。\r\n", True, None, None),
])
def test_winhttp_proxy_variants(text: str, direct: bool, server: str | None, ws: bool | None) -> None:
    row = winhttp_proxy.parse(text, source="commands/netsh_winhttp_proxy.txt").frames["proxy"].iloc[0]
    assert bool(row["direct"]) is direct
    assert (row["proxy_server"] if not pd.isna(row["proxy_server"]) else None) == server
    if ws is not None:
        assert bool(row["bypasses_wireserver"]) is ws


TNC = """PS > Test-NetConnection -port 1433 -computername idw.dna.its.uiowa.edu
WARNING: TCP connect to idw.dna.its.uiowa.edu:1433 failed


ComputerName           : idw.dna.its.uiowa.edu
RemoteAddress          : 172.30.210.90
RemotePort             : 1433
InterfaceAlias         : Ethernet
SourceAddress          : 128.255.64.154
PingSucceeded          : True
PingReplyDetails (RTT) : 0 ms
TcpTestSucceeded       : False

ComputerName     : 168.63.129.16
RemoteAddress    : 168.63.129.16
RemotePort       : 32526
InterfaceAlias   : Ethernet
SourceAddress    : 10.0.0.4
TcpTestSucceeded : True
"""


def test_test_netconnection_blocks() -> None:
    df = test_netconnection.parse(TNC, source="tnc.txt").frames["tcp_probes"]
    assert df["ok"].tolist() == [False, True] and df["port"].tolist() == [1433, 32526]
    assert df["endpoint"].tolist() == ["other", "hostgaplugin"] and df["source_address"].iloc[1] == "10.0.0.4"
    assert sniff(TNC) == "test_netconnection"
    localized = TNC.replace("WARNING:", "AVISO:")
    assert test_netconnection.parse(localized, source="t").frames["tcp_probes"]["ok"].tolist() == [False, True]


def test_tcp_json_outcomes_and_half_written_file() -> None:
    items = [{"target": "168.63.129.16", "port": 80, "ok": True, "elapsed_ms": 1.2, "error": None},
             {"target": "168.63.129.16", "port": 32526, "ok": False, "elapsed_ms": 0.4,
              "error": "An attempt was made to access a socket in a way forbidden by its access permissions "
                       "168.63.129.16:32526"},
             {"target": "169.254.169.254", "port": 80, "ok": False, "elapsed_ms": 21003.0,
              "error": "A connection attempt failed because the connected party did not properly respond after a "
                       "period of time"}]
    text = json.dumps(items, indent=2)
    df = tcp_probes.parse(text, source="probes/tcp.json").frames["tcp_probes"]
    assert df["outcome"].tolist() == ["ok", "forbidden", "timeout"]
    assert df["endpoint"].tolist() == ["wireserver", "hostgaplugin", "imds"]
    r = tcp_probes.parse(text[: text.index("169.254")], source="probes/tcp.json")
    assert len(r.frames["tcp_probes"]) == 2 and r.issues[0].kind == "bad-json"


@pytest.mark.parametrize(("status", "body", "headers", "outcome", "detail"), [
    (200, '{"compute": {"vmId": "x"}, "network": {"interface": [{"ipv4": {"ipAddress": [{"privateIpAddress": '
          '"10.0.1.4", "publicIpAddress": ""}], "subnet": [{"address": "10.0.1.0", "prefix": "24"}]}, "macAddress": '
          '"000D3AF806EC"}]}}', {"Content-Type": "application/json"}, "ok", None),
    (400, '{"error":"Bad request. Required metadata header not specified"}', {}, "http-error", "metadata header"),
    (400, '{"error": "Bad request. api-version was not specified in the request.", "newest-versions": ["2020-10-01"]}',
     {}, "http-error", "api-version"),
    (429, "Too many requests", {}, "throttled", "rate limit"),
    (504, "<html><body>GATEWAY_TIMEOUT - This Page Cannot Be Displayed</body></html>", {"Content-Type": "text/html"},
     "proxy-answer", None),
    (None, "", {}, "connection-error", None),
])
def test_http_probe_outcomes(status, body, headers, outcome, detail) -> None:
    env = {"url": "http://169.254.169.254/metadata/instance?api-version=2021-02-01", "status": status,
           "headers": headers, "body": body, "error": None if status else "The operation has timed out."}
    r = http_probe.parse(json.dumps(env), source="probes/imds_instance.json")
    row = r.frames["http_probes"].iloc[0]
    assert row["outcome"] == outcome and row["endpoint"] == "imds"
    if detail:
        assert detail in row["detail"]
    if outcome == "ok":
        net = r.frames["imds_network"].iloc[0]
        assert (net["private_ip"], net["mac"], net["subnet_prefix"]) == ("10.0.1.4", "00-0d-3a-f8-06-ec", 24)


def test_hostgaplugin_502_is_not_called_a_proxy() -> None:
    env = {"url": "http://168.63.129.16:32526/vmSettings", "status": 502, "headers": {},
           "body": '{  "errorCode": "InternalError",  "message": "The server encountered an internal error."}'}
    row = http_probe.parse(json.dumps(env), source="probes/hostgaplugin_vmsettings.json").frames["http_probes"].iloc[0]
    assert row["endpoint"] == "hostgaplugin" and row["outcome"] == "http-error"


def test_wireserver_versions_including_the_doc_copy_without_closing_tag() -> None:
    full = ("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Versions>\n  <Preferred>\n    <Version>2015-04-05</Version>\n"
            "  </Preferred>\n  <Supported>\n    <Version>2015-04-05</Version>\n    <Version>2012-11-30</Version>\n"
            "  </Supported>\n</Versions>")
    df = wireserver_versions.parse(full, source="w.xml").frames["wireserver_versions"]
    assert df["version"].tolist() == ["2015-04-05", "2012-11-30"] and df["preferred"].tolist() == [True, False]
    r = wireserver_versions.parse(full.replace("</Versions>", ""), source="w.xml")
    assert len(r.frames["wireserver_versions"]) == 2 and r.issues[0].kind == "bad-xml"


def test_services_and_firewall_near_misses() -> None:
    svc = services.parse(json.dumps({"Name": "WindowsAzureGuestAgent", "Status": 1, "StartType": 2}),
                         source="s.json").frames["services"].iloc[0]
    assert (svc["status"], svc["start_type"]) == ("Stopped", "Automatic")
    rules = [{"Name": "hit", "Enabled": True, "Direction": "Outbound", "Action": "Block", "Protocol": "TCP",
              "RemoteAddress": ["168.63.129.0/24"], "RemotePort": ["32000-33000"]},
             {"Name": "other-ip", "Enabled": True, "Direction": "Outbound", "Action": "Block", "Protocol": "TCP",
              "RemoteAddress": ["168.63.129.17"], "RemotePort": ["Any"]},
             {"Name": "inbound", "Enabled": True, "Direction": "Inbound", "Action": "Block", "Protocol": "TCP",
              "RemoteAddress": ["Any"], "RemotePort": ["Any"]},
             {"Name": "disabled", "Enabled": False, "Direction": "Outbound", "Action": "Block", "Protocol": "Any",
              "RemoteAddress": ["Any"], "RemotePort": ["Any"]},
             {"Name": "udp", "Enabled": True, "Direction": "Outbound", "Action": "Block", "Protocol": "UDP",
              "RemoteAddress": ["Any"], "RemotePort": ["Any"]},
             {"Name": "local-subnet", "Enabled": True, "Direction": "Outbound", "Action": "Block", "Protocol": "TCP",
              "RemoteAddress": ["LocalSubnet"], "RemotePort": ["Any"]},
             {"Name": "internet", "Enabled": True, "Direction": "Outbound", "Action": "Block", "Protocol": "TCP",
              "RemoteAddress": ["Internet"], "RemotePort": ["80"]}]
    df = firewall_rules.parse(json.dumps(rules), source="f.json").frames["firewall_rules"]
    assert firewall_rules.blocking_rules(df, "168.63.129.16", 32526)["name"].tolist() == ["hit"]
    assert firewall_rules.blocking_rules(df, "168.63.129.16", 80)["name"].tolist() == ["internet"]
    assert firewall_rules.blocking_rules(df, "169.254.169.254", 80).empty
