"""commands/services.json and commands/firewall_rules.json (docs/bundle-format.md), and blocking_rules matching."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kit.parse import firewall_rules as fw
from kit.parse import match_path, services, sniff

GA_PATH = "C:\\WindowsAzure\\GuestAgent_2.7.41491.1102_2024-03-08_031205\\WindowsAzureGuestAgent.exe"
SERVICES = [
    {"Name": "WindowsAzureGuestAgent", "DisplayName": "Windows Azure Guest Agent", "Status": "Running",
     "StartType": "Automatic", "ProcessId": 2412, "PathName": GA_PATH, "FileVersion": "2.7.41491.1102"},
    {"Name": "RdAgent", "DisplayName": "RdAgent", "Status": "StopPending", "StartType": "Automatic",
     "ProcessId": 1880, "PathName": "C:\\WindowsAzure\\Packages\\WaAppAgent.exe", "FileVersion": "2.7.41491.1102"},
    {"Name": "WindowsAzureTelemetryService", "DisplayName": None, "Status": "NotFound", "StartType": None,
     "ProcessId": None, "PathName": None, "FileVersion": None},
]


# -------------------------------------------------------------------------------------------- services
def test_services_rows_and_types() -> None:
    r = services.parse(json.dumps(SERVICES, indent=2), source="commands/services.json")
    df = r.frames["services"]
    assert r.issues == [] and services.SERVICES.check_dtypes(df) == []
    assert df["name"].tolist() == ["WindowsAzureGuestAgent", "RdAgent", "WindowsAzureTelemetryService"]
    assert df["status"].tolist() == ["Running", "StopPending", "NotFound"]
    assert df["exists"].tolist() == [True, True, False]
    assert df["process_id"].tolist()[:2] == [2412, 1880] and pd.isna(df["process_id"].iloc[2])
    assert df["path_name"].iloc[0] == GA_PATH and df["file_version"].iloc[0] == "2.7.41491.1102"
    assert df["line"].isna().all() and (df["source"] == "commands/services.json").all()


def test_services_lone_object_with_integer_enums_and_bom() -> None:
    text = "\ufeff" + json.dumps({"Name": "WindowsAzureGuestAgent", "Status": 1, "StartType": 4, "ProcessId": 0})
    s = services.parse(text, source="s.json").frames["services"].iloc[0]
    assert (s["status"], s["start_type"], s["process_id"], bool(s["exists"])) == ("Stopped", "Disabled", 0, True)


def test_services_half_written_and_nameless_items() -> None:
    text = json.dumps([SERVICES[0], {"DisplayName": "no name"}, SERVICES[1]], indent=2)
    r = services.parse(text[: text.rindex("FileVersion")], source="s.json")
    assert r.frames["services"]["name"].tolist() == ["WindowsAzureGuestAgent"]
    assert sorted(i.kind for i in r.issues) == ["bad-json", "unexpected-shape"]


def test_services_sniff_and_path() -> None:
    assert sniff(json.dumps(SERVICES)) == "services"
    assert match_path("commands/services.json") == "services"


# ---------------------------------------------------------------------------------------- firewall rules
def rule(name: str, **kw: object) -> dict:
    base = {"Name": name, "DisplayName": name.title(), "Enabled": True, "Direction": "Outbound", "Action": "Block",
            "Profile": "Any", "PolicyStoreSource": "PersistentStore", "Protocol": "TCP",
            "RemoteAddress": ["168.63.129.16"], "RemotePort": ["Any"], "LocalPort": ["Any"], "Program": "Any"}
    base.update(kw)
    return base


def frame(rules: list[dict]) -> pd.DataFrame:
    r = fw.parse(json.dumps(rules), source="commands/firewall_rules.json")
    assert fw.FIREWALL_RULES.check_dtypes(r.frames["firewall_rules"]) == []
    return r.frames["firewall_rules"]


def test_firewall_rule_from_the_format_doc() -> None:
    doc = [{"Name": "{5c1a6b61-0000-4000-8000-000000000001}", "DisplayName": "Block WireServer plugin port",
            "Enabled": True, "Direction": "Outbound", "Action": "Block", "Profile": "Any",
            "PolicyStoreSource": "PersistentStore", "Protocol": "TCP", "RemoteAddress": ["168.63.129.16"],
            "RemotePort": ["32526"], "LocalPort": ["Any"], "Program": "Any"}]
    df = frame(doc)
    r = df.iloc[0]
    assert (r["display_name"], bool(r["enabled"]), r["direction"], r["action"], r["protocol"]) == (
        "Block WireServer plugin port", True, "Outbound", "Block", "TCP")
    assert (r["remote_address"], r["remote_port"], r["program"], r["policy_store_source"], r["profile"]) == (
        "168.63.129.16", "32526", "Any", "PersistentStore", "Any")
    assert fw.blocking_rules(df, "168.63.129.16", 32526)["display_name"].tolist() == ["Block WireServer plugin port"]
    assert fw.blocking_rules(df, "168.63.129.16", 80).empty


def test_firewall_lists_joined_and_integer_enums_mapped() -> None:
    df = frame([rule("multi", RemoteAddress=["10.0.0.0/8", "168.63.129.16"], RemotePort=["80", "32526"]),
                {"Name": "ints", "Enabled": 2, "Direction": 1, "Action": 4, "Profile": 6, "Protocol": 6,
                 "RemoteAddress": "Any", "RemotePort": "Any"}])
    assert df["remote_address"].tolist() == ["10.0.0.0/8,168.63.129.16", "Any"]
    assert df["remote_port"].iloc[0] == "80,32526"
    r = df.iloc[1]
    assert (bool(r["enabled"]), r["direction"], r["action"], r["profile"], r["protocol"]) == (
        False, "Inbound", "Block", "Private, Public", "6")


def test_firewall_lone_object_and_empty_list() -> None:
    assert len(frame(rule("one"))) == 1  # type: ignore[arg-type]
    assert frame([]).empty
    assert fw.blocking_rules(frame([]), "168.63.129.16", 80).empty


NEAR_MISSES = [
    rule("hit-32526", RemotePort=["32526"]),
    rule("other-ip", RemoteAddress=["168.63.129.17"]),                      # one address off
    rule("port-80-only", RemotePort=["80"]),                                # asking about 32526
    rule("inbound", Direction="Inbound"),
    rule("disabled", Enabled=False),
    rule("allow", Action="Allow"),
    rule("udp", Protocol="UDP"),
    rule("local-subnet", RemoteAddress=["LocalSubnet"]),
    rule("intranet", RemoteAddress=["Intranet"]),
    rule("default-gateway", RemoteAddress=["DefaultGateway"]),
    rule("other-program", Program="C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe"),
    rule("range-below", RemoteAddress=["168.63.129.0-168.63.129.15"]),
    rule("cidr-beside", RemoteAddress=["168.63.128.0/24"]),
    rule("ipv6-any", RemoteAddress=["fe80::/64"]),
    rule("port-range-below", RemotePort=["32000-32525"]),
    rule("rpc-port", RemotePort=["RPC"]),
]


def test_blocking_rules_near_misses_for_hostgaplugin() -> None:
    df = frame(NEAR_MISSES)
    assert fw.blocking_rules(df, "168.63.129.16", 32526)["name"].tolist() == ["hit-32526"]


def test_blocking_rules_near_misses_for_wireserver_port_80() -> None:
    df = frame(NEAR_MISSES)
    assert fw.blocking_rules(df, "168.63.129.16", 80)["name"].tolist() == ["port-80-only"]
    # the same rules asked about UDP: only the UDP rule (plus none of the TCP ones)
    assert fw.blocking_rules(df, "168.63.129.16", 53, "UDP")["name"].tolist() == ["udp"]


@pytest.mark.parametrize(("address", "port_item", "protocol", "ip", "port", "blocks"), [
    ("Any", "Any", "Any", "168.63.129.16", 32526, True),
    ("168.63.129.16", "32526", "6", "168.63.129.16", 32526, True),          # protocol as its number
    ("168.63.129.16-168.63.129.20", "32000-33000", "TCP", "168.63.129.16", 32526, True),
    ("168.63.129.0/24", "80", "TCP", "168.63.129.16", 80, True),
    ("168.63.129.0/255.255.255.0", "80", "TCP", "168.63.129.16", 80, True),  # dotted mask
    ("168.63.129.16/255.255.255.255", "Any", "TCP", "168.63.129.16", 80, True),
    ("168.63.0.0/16", "Any", "TCP", "169.254.169.254", 80, False),
    ("Internet", "Any", "TCP", "168.63.129.16", 80, True),                  # a public address
    ("Internet", "Any", "TCP", "169.254.169.254", 80, False),               # link-local is not Internet
    ("LocalSubnet", "Any", "TCP", "168.63.129.16", 80, False),
    ("DHCP", "Any", "TCP", "168.63.129.16", 80, True),                      # Azure's DHCP server
    ("DNS", "Any", "TCP", "168.63.129.16", 80, True),                       # Azure-provided DNS (default)
    ("DNS", "Any", "TCP", "169.254.169.254", 80, False),
    ("169.254.169.254", "80", "TCP", "169.254.169.254", 80, True),
    ("169.254.169.254", "80", "UDP", "169.254.169.254", 80, False),
    ("168.63.129.16", "8080", "TCP", "168.63.129.16", 80, False),
])
def test_blocking_rules_matching(address, port_item, protocol, ip, port, blocks) -> None:
    df = frame([rule("r", RemoteAddress=[address], RemotePort=[port_item], Protocol=protocol)])
    assert (not fw.blocking_rules(df, ip, port).empty) is blocks


def test_dns_keyword_with_the_vms_real_dns_servers() -> None:
    df = frame([rule("dns", RemoteAddress=["DNS"])])
    assert fw.blocking_rules(df, "168.63.129.16", 80, keyword_addresses={"DNS": ["10.0.0.10"]}).empty
    assert not fw.blocking_rules(df, "10.0.0.10", 80, keyword_addresses={"DNS": ["10.0.0.10"]}).empty


def test_program_scope() -> None:
    df = frame([rule("agent", Program=GA_PATH), rule("chrome", Program="C:\\chrome.exe")])
    assert fw.blocking_rules(df, "168.63.129.16", 80)["name"].tolist() == ["agent"]
    assert fw.blocking_rules(df, "168.63.129.16", 80, programs=None)["name"].tolist() == ["agent", "chrome"]


def test_missing_direction_action_enabled_taken_as_the_files_contract() -> None:
    df = frame([{"Name": "bare", "RemoteAddress": ["168.63.129.16"], "RemotePort": ["80"]}])
    assert fw.blocking_rules(df, "168.63.129.16", 80)["name"].tolist() == ["bare"]


def test_address_and_port_items() -> None:
    assert fw.address_covers("168.63.129.16", "168.63.129.16")
    assert not fw.address_covers("::1-::ffff", "168.63.129.16")           # IPv6 range, IPv4 address
    assert fw.address_covers("Any", "not-an-ip")  # a host name: only Any covers it
    assert not fw.address_covers("168.63.129.16", "not-an-ip")
    assert fw.port_covers("32526", 32526) and not fw.port_covers("3252", 32526)
    assert fw.port_covers("1-65535", 32526) and not fw.port_covers("IPHTTPS", 443)


def test_firewall_half_written_file() -> None:
    text = json.dumps([rule("a"), rule("b", RemotePort=["32526"]), rule("c")], indent=2)
    r = fw.parse(text[: text.rindex('"Program"')], source="f.json")
    assert r.frames["firewall_rules"]["name"].tolist() == ["a", "b"]
    assert [i.kind for i in r.issues] == ["bad-json"]


def test_firewall_sniff_and_path() -> None:
    assert sniff(json.dumps([rule("a")])) == "firewall_rules"
    assert match_path("commands/firewall_rules.json") == "firewall_rules"


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_never_raise(text: str) -> None:
    services.parse(text, source="s")
    df = fw.parse(text, source="f").frames["firewall_rules"]
    fw.blocking_rules(df, "168.63.129.16", 80)
