"""Connectivity probes: probes/tcp.json, Test-NetConnection text (formats doc §5.2), HTTP probe envelopes with the
IMDS network/compute frames (§5.8, §9, §10), and WireServer ?comp=versions XML (§5.1)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kit.parse import http_probe, match_path, sniff, tcp_probes, test_netconnection, wireserver_versions

FORBIDDEN = ("An attempt was made to access a socket in a way forbidden by its access permissions "
             "168.63.129.16:32526")
TIMEOUT = ("A connection attempt failed because the connected party did not properly respond after a period of time, "
           "or established connection failed because connected host has failed to respond 169.254.169.254:80")
REFUSED = "No connection could be made because the target machine actively refused it 168.63.129.16:80"

TCP_ITEMS = [
    {"target": "168.63.129.16", "port": 80, "ok": True, "elapsed_ms": 1.4, "error": None, "attempt": 1,
     "time": "2024-03-08T10:15:02.114Z"},
    {"target": "168.63.129.16", "port": 32526, "ok": False, "elapsed_ms": 0.4, "error": FORBIDDEN, "attempt": 1,
     "time": "2024-03-08T10:15:02.120Z"},
    {"target": "169.254.169.254", "port": 80, "ok": False, "elapsed_ms": 21003.0, "error": TIMEOUT, "attempt": 2,
     "time": "2024-03-08T10:15:23.130Z"},
    {"target": "168.63.129.16", "port": 80, "ok": False, "elapsed_ms": 1.0, "error": REFUSED},
    {"target": "10.0.0.9", "port": 443, "ok": False, "elapsed_ms": 3.0, "error": "Something else"},
]


# --------------------------------------------------------------------------------------------- tcp.json
def test_tcp_json_rows_types_and_outcomes() -> None:
    r = tcp_probes.parse(json.dumps(TCP_ITEMS, indent=2), source="probes/tcp.json")
    df = r.frames["tcp_probes"]
    assert r.issues == []
    assert tcp_probes.TCP_PROBES.check_dtypes(df) == []
    assert df["outcome"].tolist() == ["ok", "forbidden", "timeout", "refused", "error"]
    assert df["endpoint"].tolist() == ["wireserver", "hostgaplugin", "imds", "wireserver", "other"]
    assert df["origin"].unique().tolist() == ["tcp_json"]
    assert df["elapsed_ms"].tolist() == [1.4, 0.4, 21003.0, 1.0, 3.0]
    assert df["attempt"].tolist()[:3] == [1, 1, 2] and pd.isna(df["attempt"].iloc[3])
    assert df["time"].iloc[1] == pd.Timestamp("2024-03-08T10:15:02.120Z")
    assert pd.isna(df["error"].iloc[0]) and df["error"].iloc[1] == FORBIDDEN
    assert df["line"].isna().all() and (df["source"] == "probes/tcp.json").all()
    assert list(df["outcome"].cat.categories) == ["ok", "refused", "timeout", "forbidden", "error"]


def test_tcp_json_lone_object_with_bom() -> None:
    df = tcp_probes.parse("\ufeff" + json.dumps(TCP_ITEMS[1]), source="probes/tcp.json").frames["tcp_probes"]
    assert df["outcome"].tolist() == ["forbidden"] and df["port"].tolist() == [32526]


@pytest.mark.parametrize(("cut", "expected"), [(0.1, 0), (0.35, 1), (0.5, 2), (0.72, 3), (0.9, 4), (0.99, 4)])
def test_tcp_json_half_written_keeps_every_complete_object(cut: float, expected: int) -> None:
    text = json.dumps(TCP_ITEMS, indent=2)
    part = text[: int(len(text) * cut)]
    r = tcp_probes.parse(part, source="probes/tcp.json")
    complete = 0
    for item in TCP_ITEMS:  # how many objects are complete in the cut text
        s = json.dumps(item, indent=2).replace("\n", "\n  ")
        if "  " + s in part:
            complete += 1
    df = r.frames["tcp_probes"]
    assert len(df) == complete == expected
    assert [i.kind for i in r.issues] == ["bad-json"]
    assert r.issues[0].line == part.count("\n") + 1 and "half-written" in r.issues[0].message
    assert df["target"].tolist() == [i["target"] for i in TCP_ITEMS[:complete]]


def test_tcp_json_garbage_between_objects_and_nul_padding() -> None:
    a, b = json.dumps(TCP_ITEMS[0]), json.dumps(TCP_ITEMS[2])
    text = "[" + a + ",\n  {\"target\": \"168.63.1" + "\x00\x00\n" + b + "]"
    r = tcp_probes.parse(text, source="probes/tcp.json")
    assert r.frames["tcp_probes"]["endpoint"].tolist() == ["wireserver", "imds"]
    assert r.issues[0].kind == "bad-json" and r.issues[0].line == 2


def test_tcp_json_bad_time_and_missing_target_are_issues() -> None:
    items = [{"target": "168.63.129.16", "port": 80, "ok": True, "elapsed_ms": 1, "time": "yesterday"},
             {"port": 80, "ok": True}, "nonsense"]
    r = tcp_probes.parse(json.dumps(items), source="probes/tcp.json")
    df = r.frames["tcp_probes"]
    assert len(df) == 1 and pd.isna(df["time"].iloc[0])
    assert sorted(i.kind for i in r.issues) == ["bad-timestamp", "unexpected-shape", "unexpected-shape"]
    assert any("yesterday" in i.message for i in r.issues)


def test_tcp_json_zone_less_time_read_as_utc_unchanged() -> None:
    items = [dict(TCP_ITEMS[0], time="2024-03-08T10:15:02.114"), dict(TCP_ITEMS[0], time="2024-03-08T11:15:02+01:00"),
             dict(TCP_ITEMS[0], time="03/08/2024 10:15:02")]
    r = tcp_probes.parse(json.dumps(items), source="p")
    assert r.issues == []
    assert r.frames["tcp_probes"]["time"].tolist() == [pd.Timestamp("2024-03-08 10:15:02.114", tz="UTC"),
                                                       pd.Timestamp("2024-03-08 10:15:02", tz="UTC"),
                                                       pd.Timestamp("2024-03-08 10:15:02", tz="UTC")]


def test_tcp_json_many_items_one_bad_time() -> None:
    items = [dict(TCP_ITEMS[i % 5], attempt=i) for i in range(3000)]
    items[1234]["time"] = "not a time"
    r = tcp_probes.parse(json.dumps(items), source="p")
    df = r.frames["tcp_probes"]
    assert len(df) == 3000 and df["attempt"].iloc[2999] == 2999
    assert [i.text for i in r.issues] == ["not a time"] and pd.isna(df["time"].iloc[1234])
    assert df["time"].notna().sum() == sum(1 for it in items if it.get("time")) - 1


@pytest.mark.parametrize(("error", "outcome"), [
    (FORBIDDEN, "forbidden"), ("SocketException (10013)", "forbidden"), (TIMEOUT, "timeout"),
    ("The operation has timed out.", "timeout"), (REFUSED, "refused"), ("Unable to connect", "error"),
    (None, "error"),
])
def test_tcp_outcome(error: str | None, outcome: str) -> None:
    assert tcp_probes.outcome(False, error) == outcome
    assert tcp_probes.outcome(True, error) == "ok"


def test_tcp_json_empty_list_and_empty_file() -> None:
    assert tcp_probes.parse("[]", source="p").frames["tcp_probes"].empty
    r = tcp_probes.parse("", source="p")
    assert r.frames["tcp_probes"].empty and r.issues[0].kind == "empty"


# ---------------------------------------------------------------------------------- Test-NetConnection
TNC_SUCCESS_80 = """Test-NetConnection -ComputerName 168.63.129.16 -Port 80
ComputerName     : 168.63.129.16
RemoteAddress    : 168.63.129.16
RemotePort       : 80
InterfaceAlias   : Ethernet
SourceAddress    : 10.0.0.4
TcpTestSucceeded : True
"""
TNC_NEW_WARNING = """WARNING: TCP connect to (192.168.0.103 : 5985) failed
WARNING: Ping to 192.168.0.103 failed with status: TimedOut

ComputerName           : 192.168.0.103
RemoteAddress          : 192.168.0.103
RemotePort             : 5985
InterfaceAlias         : Ethernet
SourceAddress          : 192.168.0.100
PingSucceeded          : False
PingReplyDetails (RTT) : 0 ms
TcpTestSucceeded       : False
"""
TNC_OLD_WARNING = """PS > Test-NetConnection -port 1433 -computername idw.dna.its.uiowa.edu
WARNING: TCP connect to idw.dna.its.uiowa.edu:1433 failed


ComputerName           : idw.dna.its.uiowa.edu
RemoteAddress          : 172.30.210.90
RemotePort             : 1433
InterfaceAlias         : Ethernet
SourceAddress          : 128.255.64.154
PingSucceeded          : True
PingReplyDetails (RTT) : 0 ms
TcpTestSucceeded       : False
"""


def tnc(text: str, crlf: bool = True) -> tuple[pd.DataFrame, list]:
    r = test_netconnection.parse(text.replace("\n", "\r\n") if crlf else text, source="probes/test_netconnection.txt")
    df = r.frames["tcp_probes"]
    assert tcp_probes.TCP_PROBES.check_dtypes(df) == []
    return df, r.issues


def test_tnc_success_layout() -> None:
    df, issues = tnc(TNC_SUCCESS_80)
    assert issues == []
    r = df.iloc[0]
    assert (r["target"], r["port"], r["endpoint"], bool(r["ok"]), r["outcome"]) == (
        "168.63.129.16", 80, "wireserver", True, "ok")
    assert (r["source_address"], r["interface_alias"], r["line"]) == ("10.0.0.4", "Ethernet", 2)
    assert pd.isna(r["elapsed_ms"]) and pd.isna(r["error"]) and r["origin"] == "test_netconnection"


def test_tnc_newer_warning_format_width_23() -> None:
    df, _ = tnc(TNC_NEW_WARNING)
    r = df.iloc[0]
    assert (r["target"], r["port"], bool(r["ok"]), r["outcome"]) == ("192.168.0.103", 5985, False, "error")
    assert r["error"] == "TCP connect to (192.168.0.103 : 5985) failed" and r["line"] == 4


def test_tnc_older_warning_format_and_command_line() -> None:
    df, _ = tnc(TNC_OLD_WARNING)
    r = df.iloc[0]
    assert (r["target"], r["port"], r["source_address"]) == ("172.30.210.90", 1433, "128.255.64.154")
    assert r["error"] == "TCP connect to idw.dna.its.uiowa.edu:1433 failed"


@pytest.mark.parametrize("prefix", ["AVISO:", "WARNING :", "����:", "警告:", ""])
def test_tnc_localized_warning_prefixes(prefix: str) -> None:
    df, _ = tnc(TNC_NEW_WARNING.replace("WARNING:", prefix))
    assert df["ok"].tolist() == [False]
    assert df["error"].iloc[0] == "TCP connect to (192.168.0.103 : 5985) failed"


def test_tnc_several_results_pasted_one_after_another() -> None:
    text = TNC_OLD_WARNING + "\n" + TNC_SUCCESS_80 + "\n" + TNC_NEW_WARNING + TNC_SUCCESS_80.replace("80", "32526")
    df, issues = tnc(text)
    assert issues == []
    assert df["port"].tolist() == [1433, 80, 5985, 32526]
    assert df["ok"].tolist() == [False, True, False, True]
    assert df["endpoint"].tolist() == ["other", "wireserver", "other", "hostgaplugin"]
    # each warning went to its own result, none to the successes
    assert df["error"].iloc[0].endswith("uiowa.edu:1433 failed") and df["error"].iloc[2].startswith(
        "TCP connect to (192.168.0.103")
    assert df["error"].iloc[[1, 3]].isna().all()
    assert df["line"].tolist() == [5, 15, 25, 34]


def test_tnc_ipv6_and_ipv4_double_warning_attached_to_one_result() -> None:
    text = ("WARNING: TCP connect to (::1 : 23) failed\nWARNING: TCP connect to (127.0.0.1 : 23) failed\n\n"
            "ComputerName           : localhost\nRemoteAddress          : ::1\nRemotePort             : 23\n"
            "InterfaceAlias         : Loopback Pseudo-Interface 1\nSourceAddress          : ::1\n"
            "PingSucceeded          : True\nPingReplyDetails (RTT) : 0 ms\nTcpTestSucceeded       : False\n")
    df, issues = tnc(text)
    assert len(df) == 1 and issues == []
    assert df["error"].iloc[0] == "TCP connect to (::1 : 23) failed; TCP connect to (127.0.0.1 : 23) failed"


def test_tnc_cut_result_is_kept_and_flagged() -> None:
    text = TNC_SUCCESS_80 + TNC_OLD_WARNING[: TNC_OLD_WARNING.index("InterfaceAlias")]
    df, issues = tnc(text)
    assert df["ok"].tolist()[0] is True and pd.isna(df["ok"].iloc[1])
    assert df["outcome"].tolist() == ["ok", "error"] and df["port"].tolist() == [80, 1433]
    assert [i.kind for i in issues] == ["truncated-block"] and issues[0].line == 12


def test_tnc_cut_before_port_uses_the_command_line() -> None:
    text = "PS C:\\> Test-NetConnection 168.63.129.16 -Port 32526\nComputerName     : 168.63.129.16\n" \
           "RemoteAddress    : 168.63.129.16\nTcpTestSucceeded : False\n"
    df, _ = tnc(text, crlf=False)
    assert (df["port"].iloc[0], df["endpoint"].iloc[0], bool(df["ok"].iloc[0])) == (32526, "hostgaplugin", False)


def test_tnc_ping_only_result_is_not_a_tcp_probe() -> None:
    text = ("ComputerName           : 168.63.129.16\nRemoteAddress          : 168.63.129.16\n"
            "InterfaceAlias         : Ethernet\nSourceAddress          : 10.0.0.4\nPingSucceeded          : False\n"
            "PingReplyDetails (RTT) : 0 ms\n")
    df, issues = tnc(text)
    assert df.empty and [i.kind for i in issues] == ["not-tcp"]


def test_tnc_pii_placeholders() -> None:
    df, _ = tnc(TNC_SUCCESS_80.replace("10.0.0.4", "{ALPHANUMERICPII}"))
    assert df["source_address"].iloc[0] == "{ALPHANUMERICPII}" and df["endpoint"].iloc[0] == "wireserver"


def test_tnc_sniff_and_paths() -> None:
    assert sniff(TNC_OLD_WARNING) == "test_netconnection"
    assert sniff(TNC_SUCCESS_80.replace("\n", "\r\n")) == "test_netconnection"
    assert match_path("probes/test_netconnection_wireserver.txt") == "test_netconnection"
    assert match_path("commands/test_netconnection.txt") == "test_netconnection"


@settings(max_examples=150, deadline=None)
@given(st.integers(0, len(TNC_OLD_WARNING + TNC_SUCCESS_80)))
def test_tnc_cut_anywhere_never_raises(cut: int) -> None:
    df, _ = tnc((TNC_OLD_WARNING + TNC_SUCCESS_80)[:cut])
    assert len(df) <= 2
    assert set(df["port"].dropna().tolist()) <= {1, 14, 143, 1433, 8, 80}  # only prefixes of the real ports


# ------------------------------------------------------------------------------------------ HTTP probes
IMDS_URL = "http://169.254.169.254/metadata/instance?api-version=2021-02-01"
# shape of the sample response in azure-docs articles/virtual-machines/instance-metadata-service.md
IMDS_BODY = {
    "compute": {"azEnvironment": "AzurePublicCloud", "location": "westeurope", "name": "web-01",
                "osType": "Windows", "resourceId": "/subscriptions/x/resourceGroups/rg/providers/"
                "Microsoft.Compute/virtualMachines/web-01", "vmId": "8a3c0b5e-1111-2222-3333-444455556666",
                "vmSize": "Standard_D2s_v3", "zone": "", "tags": "app:squid"},
    "network": {"interface": [
        {"ipv4": {"ipAddress": [{"privateIpAddress": "10.1.0.4", "publicIpAddress": "20.1.2.3"},
                                {"privateIpAddress": "10.1.0.5", "publicIpAddress": ""}],
                  "subnet": [{"address": "10.1.0.0", "prefix": "24"}]},
         "ipv6": {"ipAddress": []}, "macAddress": "000D3AF806EC"},
        {"ipv4": {"ipAddress": [{"privateIpAddress": "10.2.0.4", "publicIpAddress": ""}],
                  "subnet": [{"address": "10.2.0.0", "prefix": "24"}]},
         "ipv6": {"ipAddress": []}, "macAddress": "00:0d:3a:f8:06:ed"}]},
}


def envelope(url: str = IMDS_URL, status: int | None = 200, body: str = "", headers: dict | None = None,
             error: str | None = None) -> str:
    return json.dumps({"url": url, "status": status, "headers": headers or {}, "body": body, "error": error,
                       "elapsed_ms": 12.5, "time": "2024-03-08T10:15:02.530Z"})


def probe(text: str, source: str = "probes/imds_instance.json") -> pd.Series:
    r = http_probe.parse(text, source=source)
    df = r.frames["http_probes"]
    assert http_probe.HTTP_PROBES.check_dtypes(df) == [] and len(df) == 1
    return df.iloc[0]


def test_imds_instance_ok_fills_network_and_compute() -> None:
    r = http_probe.parse(envelope(body=json.dumps(IMDS_BODY), headers={"Content-Type": "application/json; "
                                                                       "charset=utf-8"}),
                         source="probes/imds_instance.json")
    p = r.frames["http_probes"].iloc[0]
    assert (p["endpoint"], p["status"], bool(p["ok"]), p["outcome"]) == ("imds", 200, True, "ok")
    assert p["path"] == "/metadata/instance?api-version=2021-02-01" and pd.isna(p["detail"])
    assert p["content_type"] == "application/json; charset=utf-8" and p["elapsed_ms"] == 12.5
    assert p["time"] == pd.Timestamp("2024-03-08T10:15:02.530Z")
    assert json.loads(p["headers"]) == {"Content-Type": "application/json; charset=utf-8"}
    net = r.frames["imds_network"]
    assert http_probe.IMDS_NETWORK.check_dtypes(net) == []
    assert net[["nic_index", "ip_index"]].values.tolist() == [[0, 0], [0, 1], [1, 0]]
    assert net["private_ip"].tolist() == ["10.1.0.4", "10.1.0.5", "10.2.0.4"]
    assert net["public_ip"].iloc[0] == "20.1.2.3" and net["public_ip"].iloc[1:].isna().all()
    assert net["mac"].tolist() == ["00-0d-3a-f8-06-ec", "00-0d-3a-f8-06-ec", "00-0d-3a-f8-06-ed"]
    assert net["subnet_prefix"].tolist() == [24, 24, 24] and net["subnet_address"].iloc[2] == "10.2.0.0"
    primary = net[(net["nic_index"] == 0) & (net["ip_index"] == 0)]["private_ip"].tolist()
    assert primary == ["10.1.0.4"]
    comp = r.frames["imds_compute"].iloc[0]
    assert (comp["vm_id"], comp["vm_size"], comp["os_type"], comp["az_environment"], comp["location"]) == (
        "8a3c0b5e-1111-2222-3333-444455556666", "Standard_D2s_v3", "Windows", "AzurePublicCloud", "westeurope")
    assert pd.isna(comp["zone"])  # "" in IMDS = no zone


def test_imds_network_endpoint_body() -> None:
    url = "http://169.254.169.254/metadata/instance/network?api-version=2021-02-01"
    r = http_probe.parse(envelope(url=url, body=json.dumps(IMDS_BODY["network"])), source="probes/imds_network.json")
    assert r.frames["imds_network"]["private_ip"].tolist() == ["10.1.0.4", "10.1.0.5", "10.2.0.4"]
    assert r.frames["imds_compute"].empty


@pytest.mark.parametrize(("status", "body", "headers", "error", "outcome", "detail"), [
    # formats doc §5.8: the IMDS error table and the two real 400 bodies
    (400, '{"error":"Bad request. Required metadata header not specified"}', {}, None, "http-error",
     "Required metadata header not specified"),
    (400, json.dumps({"error": "Bad request. api-version was not specified in the request. For more information "
                      "refer to aka.ms/azureimds", "newest-versions": ["2020-10-01", "2020-09-01", "2020-07-15"]}),
     {}, None, "http-error", "api-version was not specified"),
    (404, "", {}, None, "http-error", "does not exist"),
    (410, "", {}, None, "http-error", "70 seconds"),
    (429, "Too many requests", {}, None, "throttled", "5 requests per second"),
    (500, "", {}, None, "http-error", "retry"),
    (None, "", {}, "Unable to connect to the remote server", "connection-error", "no answer"),
    (None, "", {}, "An attempt was made to access a socket in a way forbidden by its access permissions "
     "169.254.169.254:80", "connection-error", "WSAEACCES"),
    # proxies (§1.4, §5.8)
    (504, "<html><head><title>Zscaler</title></head><body>504 Gateway Timeout</body></html>",
     {"Content-Type": "text/html"}, None, "proxy-answer", "Zscaler"),
    (504, "<HTML><BODY>This Page Cannot Be Displayed ... GATEWAY_TIMEOUT</BODY></HTML>", {}, None, "proxy-answer",
     "This Page Cannot Be Displayed"),
    (502, "<!DOCTYPE html><html><body>Bad gateway</body></html>", {}, None, "proxy-answer", "HTML"),
    (200, '{"compute": {}}', {"Via": "1.1 proxy01"}, None, "proxy-answer", "Via"),
    (403, "denied", {"Proxy-Connection": "close"}, None, "proxy-answer", "Proxy-Connection"),
    (407, "", {}, None, "proxy-answer", "407"),
    (503, "", {"Server": "squid/4.10"}, None, "proxy-answer", "squid"),
    (502, "", {}, "Response status code does not indicate success: 502 (cannotconnect).", "proxy-answer",
     "cannotconnect"),
    # near misses: conservative
    (502, "", {}, None, "http-error", "likely cause"),           # bare 502 from IMDS: a hint only
    (200, json.dumps(IMDS_BODY), {"Server": "Microsoft-IIS/10.0"}, None, "ok", None),  # tag "app:squid" in JSON
])
def test_http_probe_outcomes_and_details(status, body, headers, error, outcome, detail) -> None:
    p = probe(envelope(status=status, body=body, headers=headers, error=error))
    assert p["outcome"] == outcome
    assert (pd.isna(p["ok"]) if status is None else bool(p["ok"]) == (200 <= status < 300))
    if detail is None:
        assert pd.isna(p["detail"])
    else:
        assert detail in p["detail"]


def test_hostgaplugin_502_internal_error_is_not_a_proxy() -> None:
    body = '{  "errorCode": "InternalError",  "message": "The server encountered an internal error. Please retry ' \
           'the request.",  "details": ""}'
    p = probe(envelope(url="http://168.63.129.16:32526/vmSettings", status=502, body=body),
              source="probes/hostgaplugin_vmsettings.json")
    assert (p["endpoint"], p["outcome"]) == ("hostgaplugin", "http-error")
    assert "Internal error in HostGAPlugin" in p["detail"]
    # HTML alone from 32526 is not enough either; HTML plus a proxy header is
    p = probe(envelope(url="http://168.63.129.16:32526/health", status=502, body="<html>error</html>"))
    assert p["outcome"] == "http-error"
    p = probe(envelope(url="http://168.63.129.16:32526/health", status=502, body="<html>error</html>",
                       headers={"Via": "1.1 mcafee"}))
    assert p["outcome"] == "proxy-answer"


def test_hostgaplugin_vmsettings_404_and_missing_etag() -> None:
    p = probe(envelope(url="http://168.63.129.16:32526/vmSettings", status=404))
    assert "does not support the vmSettings API" in p["detail"]
    p = probe(envelope(url="http://168.63.129.16:32526/vmSettings", status=200, body="{}"))
    assert p["outcome"] == "ok" and "Etag" in p["detail"]


def test_wireserver_versions_envelope_and_html_proxy_page() -> None:
    xml = '<?xml version="1.0" encoding="utf-8"?>\n<Versions>\n  <Preferred>\n    <Version>2015-04-05</Version>\n'
    p = probe(envelope(url="http://168.63.129.16/?comp=versions", body=xml,
                       headers={"Content-Type": "text/xml; charset=utf-8"}), source="probes/wireserver_versions.json")
    assert (p["endpoint"], p["path"], p["outcome"]) == ("wireserver", "/?comp=versions", "ok")
    p = probe(envelope(url="http://168.63.129.16/?comp=versions", status=200,
                       body="<html><body>Access denied by policy</body></html>",
                       headers={"Content-Type": "text/html"}))
    assert p["outcome"] == "proxy-answer"


def test_http_probe_list_of_envelopes_and_header_value_lists() -> None:
    envs = [json.loads(envelope()), json.loads(envelope(url="http://168.63.129.16/?comp=versions", status=503,
                                                        headers={"Content-Type": ["text/html"]}))]
    df = http_probe.parse(json.dumps(envs), source="probes/imds_x.json").frames["http_probes"]
    assert df["endpoint"].tolist() == ["imds", "wireserver"] and df["content_type"].iloc[1] == "text/html"
    assert "Squid" in df["detail"].iloc[1]


def test_http_probe_cut_envelope_keeps_url_and_status() -> None:
    text = envelope(body=json.dumps(IMDS_BODY))[:180]
    r = http_probe.parse(text, source="probes/imds_instance.json")
    p = r.frames["http_probes"].iloc[0]
    assert (p["url"], p["status"]) == (IMDS_URL, 200) and "cut" in p["error"]
    assert r.issues[0].kind == "bad-json" and r.frames["imds_network"].empty


def test_http_probe_damaged_imds_body_is_an_issue() -> None:
    r = http_probe.parse(envelope(body='{"compute": {"vmId": "x"}, "network": {"interface": [{"ipv4": '),
                         source="probes/imds_instance.json")
    assert r.frames["http_probes"]["outcome"].tolist() == ["ok"]
    assert any(i.kind == "bad-json" and "IMDS body" in i.message for i in r.issues)


def test_http_probe_sniff_and_paths() -> None:
    assert sniff(envelope()) == "http_probe"
    assert match_path("probes/imds_versions.json") == "http_probe"
    assert match_path("probes/hostgaplugin_vmsettings.json") == "http_probe"


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_http_probe_never_raises(text: str) -> None:
    http_probe.parse(text, source="p")
    http_probe.parse('{"url": "' + text.replace('"', "") + '", "status": 200, "body": ""}', source="p")


# ------------------------------------------------------------------------------ WireServer ?comp=versions
WS_DOC = """<?xml version="1.0" encoding="utf-8"?>
<Versions>
<Preferred>
<Version>2015-04-05</Version>
</Preferred>
<Supported>
<Version>2015-04-05</Version>
<Version>2012-11-30</Version>
<Version>2012-09-15</Version>
<Version>2012-05-15</Version>
<Version>2011-12-31</Version>
<Version>2011-10-15</Version>
<Version>2011-08-31</Version>
<Version>2011-04-07</Version>
<Version>2010-12-15</Version>
<Version>2010-28-10</Version>
</Supported>
"""
WS_REAL = """<?xml version="1.0" encoding="utf-8"?>
<Versions>
  <Preferred>
    <Version>2012-11-30</Version>
  </Preferred>
  <Supported>
    <Version>2010-12-15</Version>
    <Version>2010-28-10</Version>
  </Supported>
</Versions>"""


def test_wireserver_versions_indented_real_capture() -> None:
    r = wireserver_versions.parse(WS_REAL.replace("\n", "\r\n"), source="probes/wireserver_versions.xml")
    df = r.frames["wireserver_versions"]
    assert r.issues == [] and wireserver_versions.WIRESERVER_VERSIONS.check_dtypes(df) == []
    assert df["version"].tolist() == ["2012-11-30", "2010-12-15", "2010-28-10"]
    assert df["preferred"].tolist() == [True, False, False] and df["supported"].tolist() == [False, True, True]
    assert df["line"].tolist() == [4, 7, 8]


def test_wireserver_versions_doc_copy_without_closing_tag() -> None:
    r = wireserver_versions.parse(WS_DOC, source="probes/wireserver_versions.xml")
    df = r.frames["wireserver_versions"]
    assert len(df) == 10 and df["version"].iloc[0] == "2015-04-05"
    assert bool(df["preferred"].iloc[0]) and bool(df["supported"].iloc[0])
    assert df["preferred"].sum() == 1 and df["supported"].all()
    assert [i.kind for i in r.issues] == ["bad-xml"] and "</Versions>" in r.issues[0].message


def test_wireserver_versions_cut_mid_version() -> None:
    text = WS_DOC[: WS_DOC.index("2011-12-31") + 4]
    r = wireserver_versions.parse(text, source="w.xml")
    assert r.frames["wireserver_versions"]["version"].tolist() == ["2015-04-05", "2012-11-30", "2012-09-15",
                                                                   "2012-05-15"]
    assert sorted(i.kind for i in r.issues) == ["bad-xml", "truncated-line"]


def test_wireserver_versions_utf16_declaration_and_bom() -> None:
    text = "\ufeff" + WS_REAL.replace('encoding="utf-8"', 'encoding="utf-16"')
    r = wireserver_versions.parse(text, source="w.xml")
    assert r.issues == [] and len(r.frames["wireserver_versions"]) == 3


def test_wireserver_versions_not_versions() -> None:
    r = wireserver_versions.parse("<html><body>This Page Cannot Be Displayed</body></html>", source="w.xml")
    assert r.frames["wireserver_versions"].empty and r.issues[0].kind == "unexpected-shape"
    assert sniff(WS_REAL) == "wireserver_versions"


@settings(max_examples=100, deadline=None)
@given(st.integers(0, len(WS_DOC)))
def test_wireserver_versions_cut_anywhere(cut: int) -> None:
    df = wireserver_versions.parse(WS_DOC[:cut], source="w.xml").frames["wireserver_versions"]
    assert set(df["version"]) <= {ln[9:19] for ln in WS_DOC.splitlines() if ln.startswith("<Version>")}


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("{}[]\":,ab01 .\n\r:TcpTestSucceeded<>/Version")), max_size=300))
def test_text_parsers_never_raise_on_noise(text: str) -> None:
    for mod in (tcp_probes, test_netconnection, wireserver_versions, http_probe):
        r = mod.parse(text, source="noise")
        for df in r.frames.values():
            assert "source" in df.columns
