"""The sample bundles are faithful to the real Windows formats, checked without the kit's parsers.

Every check reads the raw bytes of ``sample_logs/<scenario>/`` and compares them with the layouts quoted in
/work/shared/formats/windows-agent-formats.md (section numbers below) and with docs/bundle-format.md: record
heads (§12), line endings, encodings, NUL padding (§6.3), JSON shapes, the manifest, and each scenario's own
failure signature. The generator must be deterministic: two runs into temporary folders give the committed bytes.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import itertools
import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_logs"

#: The scenarios (fixed folder names) and the finding codes each must raise at warning or above.
EXPECTED = {
    "healthy": [],
    "firewall-blocks-32526": ["GUEST_FIREWALL_BLOCKS_WIRESERVER", "HOSTGAPLUGIN_UNREACHABLE"],
    "proxy-intercepts-agent": ["PROXY_INTERCEPTS_AGENT_TRAFFIC"],
    "cse-timeout-90min": ["EXTENSION_TIMEOUT", "EXTENSION_STUCK_TRANSITIONING"],
    "imds-route-secondary-nic": ["IMDS_ROUTE_WRONG_INTERFACE", "IMDS_UNREACHABLE", "PERSISTENT_ROUTE_OVERRIDE"],
    "failover-cluster-imds-captured": ["IMDS_ROUTE_CAPTURED_BY_LINK_LOCAL", "IMDS_UNREACHABLE",
                                       "PERSISTENT_ROUTE_OVERRIDE"],
}
NOT_ARTIFACTS = {"manifest.json", "README.md", "scenario.json"}

# §12 record heads of WaAppAgent.log / TransparentInstaller.log (A: US date with hundredths, B: ISO seconds,
# C: ISO milliseconds), thread ids fixed-width 8 digits; level tag padded to 7 characters plus one space.
HEAD_A = re.compile(r"^\[(?P<tid>[0-9A-Fa-f]{8})\] \[(?P<ts>\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}\.\d{2})\] "
                    r"(?P<tag>\[(?P<lvl>[A-Z]+)\]\s+)(?P<msg>\S.*)$")
HEAD_BC = re.compile(r"^\[(?P<tid>[0-9A-Fa-f]{8})\] (?P<ts>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{3})?Z) "
                     r"(?P<tag>\[(?P<lvl>[A-Z]+)\]\s+)(?P<msg>\S.*)$")
#: Continuation lines as the formats doc shows them: .NET stack frames (3 or 4 spaces), inner exceptions, the end of
#: an inner stack trace, and TransparentInstaller's wrapped socket message (§1.1, §1.4).
CONTINUATION = ("   at ", "    at ", "---> ", "   --- End of inner exception stack trace ---", "System.",
                " or established")
LEVELS = {"INFO", "WARN", "ERROR", "TRACE", "HEART", "FATAL"}
# §12 / §3.1 handler logs.
HANDLER = re.compile(r"^\[(?P<pid>\d+)\+(?P<tid>\d{8})\] \[(?P<ts>\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}\.\d{2})\] "
                     r"\[(?P<lvl>[A-Z]+)\] (?P<msg>\S.*)$")
AGENT_VERSION = re.compile(r"^2\.7\.41491\.\d{3,4}$")
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


# ------------------------------------------------------------------------------------------------ helpers
def ts_of(stamp: str) -> datetime:
    """A head's time stamp (zone-less ones read as UTC, as docs/bundle-format.md says)."""
    if "/" in stamp:
        return datetime.strptime(stamp + "0000", "%m/%d/%Y %H:%M:%S.%f").replace(tzinfo=UTC)
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def lines_crlf(path: Path) -> list[str]:
    """The lines of a CRLF text file (UTF-8, or UTF-16 LE with BOM); fails on LF-only or lone CR endings."""
    data = path.read_bytes()
    text = data[2:].decode("utf-16-le") if data.startswith(b"\xff\xfe") else data.decode("utf-8")
    assert text.endswith("\r\n"), f"{path}: does not end with CRLF"
    body = text.replace("\r\n", "")
    assert "\n" not in body and "\r" not in body, f"{path}: bare LF or CR line ending"
    return text.split("\r\n")[:-1]


def agent_records(path: Path) -> list[tuple[int, re.Match[str]]]:
    """(1-based line, head match) for every record head; asserts every other line is a real continuation."""
    heads = []
    for n, line in enumerate(lines_crlf(path), 1):
        m = HEAD_A.match(line) or HEAD_BC.match(line)
        if m:
            heads.append((n, m))
        else:
            assert n > 1 and line.startswith(CONTINUATION), f"{path.name}:{n}: neither a §12 head nor a " \
                                                           f"continuation: {line!r}"
    return heads


def manifest(bundle: Path) -> dict:
    return json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))


def collected_at(bundle: Path) -> datetime:
    return datetime.fromisoformat(manifest(bundle)["collected_at"].replace("Z", "+00:00"))


def jload(path: Path) -> object:
    data = path.read_bytes()
    assert not data.startswith((b"\xef\xbb\xbf", b"\xff\xfe")), f"{path}: collector JSON is UTF-8 without BOM"
    return json.loads(data.decode("utf-8"))


def agent_log(bundle: Path) -> Path:
    return bundle / "C/WindowsAzure/Logs/WaAppAgent.log"


def messages(path: Path) -> list[tuple[str, str, datetime]]:
    return [(m["lvl"], m["msg"], ts_of(m["ts"])) for _, m in agent_records(path)]


@pytest.fixture(params=sorted(EXPECTED))
def bundle(request: pytest.FixtureRequest) -> Path:
    return SAMPLES / request.param


# ------------------------------------------------------------------------------------------------ layout
def test_the_six_scenarios_exist_with_readme_and_scenario_json() -> None:
    catalog = set(yaml.safe_load((ROOT / "kit/catalog/findings.yaml").read_text(encoding="utf-8"))["codes"])
    index = (SAMPLES / "README.md").read_text(encoding="utf-8")
    for name, codes in EXPECTED.items():
        b = SAMPLES / name
        scenario = json.loads((b / "scenario.json").read_text(encoding="utf-8"))
        assert sorted(scenario["expected_codes"]) == sorted(codes), name
        assert set(scenario["expected_codes"]) <= catalog, name
        assert len(scenario["summary"]) > 20, name
        readme = (b / "README.md").read_text(encoding="utf-8")
        assert "## Findings" in readme, name
        findings = readme.split("## Findings", 1)[1]
        assert all(f"`{c}`" in findings for c in codes), name
        assert f"[{name}]({name}/README.md)" in index, name


def test_manifest_describes_every_file(bundle: Path) -> None:
    m = manifest(bundle)
    assert m["format"] == "guestagent-kit-bundle" and m["format_version"] == 1
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", m["collected_at"])
    assert m["vm"]["computer_name"] and GUID.match(m["vm"]["vm_id"]), m["vm"]
    assert m["limits"] == {"per_file_bytes": 31457280, "total_bytes": 157286400}
    listed = {a["path"]: a for a in m["artifacts"]}
    on_disk = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()}
    assert on_disk - set(listed) == NOT_ARTIFACTS
    assert set(listed) <= on_disk
    for path, a in listed.items():
        data = (bundle / path).read_bytes()
        assert a["status"] == "collected", path
        assert a["size"] == a["original_size"] == len(data), path
        assert a["sha256"] == hashlib.sha256(data).hexdigest(), path
        if path.startswith("C/"):
            assert a["origin"] == "C:\\" + path[2:].replace("/", "\\"), path


def test_bundle_has_every_artifact_and_is_small(bundle: Path) -> None:
    for rel in ("C/WindowsAzure/Logs/WaAppAgent.log", "C/WindowsAzure/Logs/AggregateStatus/aggregatestatus.json",
                "commands/route_print.txt", "commands/ipconfig_all.txt", "commands/netsh_winhttp_proxy.txt",
                "commands/get_netroute.json", "commands/get_netipaddress.json", "commands/services.json",
                "commands/firewall_rules.json", "probes/tcp.json", "probes/imds_instance.json",
                "probes/imds_versions.json", "probes/wireserver_versions.json"):
        assert (bundle / rel).is_file(), rel
    plugins = list(bundle.glob("C/Packages/Plugins/*/*"))
    assert 1 <= len(plugins) <= 3
    for p in plugins:
        for rel in ("Status/0.status", "RuntimeSettings/0.settings", "HandlerManifest.json",
                    "HandlerEnvironment.json"):
            assert (p / rel).is_file(), f"{p}/{rel}"
        assert list(bundle.glob(f"C/WindowsAzure/Logs/Plugins/{p.parent.name}/{p.name}/*.log")), p
    size = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file())
    assert 10_000 < size < 500_000, size


def test_rotated_logs_and_installer_logs_appear_in_at_least_two_bundles() -> None:
    rotated = [n for n in EXPECTED if (SAMPLES / n / "C/WindowsAzure/Logs/WaAppAgent.1.log").is_file()]
    installer = [n for n in EXPECTED if (SAMPLES / n / "C/WindowsAzure/Logs/TransparentInstaller.log").is_file()]
    assert len(rotated) >= 2 and len(installer) >= 2, (rotated, installer)
    for n in rotated:  # the rotated file is older content
        old = messages(SAMPLES / n / "C/WindowsAzure/Logs/WaAppAgent.1.log")
        new = messages(agent_log(SAMPLES / n))
        assert old[-1][2] < new[0][2], n
        assert old[-1][1] == "WindowsAzureGuestAgent stopping."


# ------------------------------------------------------------------------------------------------ agent logs
def test_agent_logs_use_the_real_heads_in_time_order(bundle: Path) -> None:
    logs = list(bundle.glob("C/WindowsAzure/Logs/*.log"))
    assert logs
    end = collected_at(bundle)
    for log in logs:
        heads = agent_records(log)
        assert heads, log
        last = None
        for n, m in heads:
            lvl, tag = m["lvl"], m["tag"]
            assert lvl in LEVELS, f"{log.name}:{n}: level {lvl}"
            assert tag == f"[{lvl}]".ljust(7) + " ", f"{log.name}:{n}: tag padding {tag!r} (§1.2: width 7 + space)"
            t = ts_of(m["ts"])
            assert last is None or t >= last, f"{log.name}:{n}: time goes backwards"
            assert t <= end, f"{log.name}:{n}: after the collection"
            last = t


def test_agent_log_life_start_fabric_heartbeats(bundle: Path) -> None:
    recs = messages(agent_log(bundle))
    assert recs[0][1].startswith("WindowsAzureGuestAgent starting. Version ")
    version = recs[0][1].rsplit(" ", 1)[1]
    assert AGENT_VERSION.match(version), version
    msgs = [m for _, m, _ in recs]
    for line in ("Initializing ControlSystem.", "Using fabric address 168.63.129.16 from DHCP.",
                 "Using fabric URI http://168.63.129.16/.", "ControlSystem initialized with version 2012-11-30.",
                 "StateExecutor initialization completed."):
        assert line in msgs, line
    assert any(re.fullmatch(r"Discovered fabric address on interface .+\.", m) for m in msgs)
    beats = [t for lvl, m, t in recs if lvl == "HEART"]
    assert all(m == "WindowsAzureGuestAgent Heartbeat." for lvl, m, _ in recs if lvl == "HEART")
    gaps = {b - a for a, b in itertools.pairwise(beats)}
    assert gaps == {timedelta(minutes=5)}, gaps  # a steady cadence
    assert len(beats) >= 20  # a few hours of agent life
    assert collected_at(bundle) - beats[-1] < timedelta(minutes=6)
    tids = {m["tid"] for _, m in agent_records(agent_log(bundle))}
    assert 4 <= len(tids) <= 12, tids  # a handful of recurring threads
    services = jload(bundle / "commands/services.json")
    ga = next(s for s in services if s["Name"] == "WindowsAzureGuestAgent")
    assert ga["FileVersion"] == version and f"GuestAgent_{version}_" in ga["PathName"]


def test_known_harmless_noise_is_a_one_liner(bundle: Path) -> None:
    lines = lines_crlf(agent_log(bundle))
    hits = [i for i, line in enumerate(lines) if line.endswith("Error SetCPUNotification: 87")]
    assert len(hits) == 1
    i = hits[0]
    assert HEAD_BC.match(lines[i])["lvl"] in {"WARN", "ERROR"}
    assert HEAD_BC.match(lines[i + 1]) or HEAD_A.match(lines[i + 1])  # no continuation lines


def test_extension_results_in_the_agent_log(bundle: Path) -> None:
    msgs = [m for _, m, _ in messages(agent_log(bundle))]
    for p in bundle.glob("C/Packages/Plugins/*/*"):
        ext, ver = p.parent.name, p.name
        # §1.3 verbatim shape
        assert (f"Getting plugin locations for plugin '{ext}'. Current Version: '{ver}', Requested Version: "
                f"'{ver}'") in msgs
        status = jload(p / "Status/0.status")[0]["status"]["status"]
        enabled = f"plugin (name: {ext}, version: {ver}) enabled successfully. Code: 0" in msgs
        assert enabled == (status == "success"), (ext, status)


def test_handler_logs(bundle: Path) -> None:
    end = collected_at(bundle)
    for log in bundle.glob("C/WindowsAzure/Logs/Plugins/*/*/*.log"):
        last = None
        for n, line in enumerate(lines_crlf(log), 1):
            m = HANDLER.match(line)
            assert m, f"{log.name}:{n}: {line!r}"
            assert m["tid"] == "00000001" and m["lvl"] in LEVELS
            t = ts_of(m["ts"])
            assert (last is None or t >= last) and t <= end, f"{log.name}:{n}"
            last = t


# ------------------------------------------------------------------------------------------------ state files
def test_extension_state_files(bundle: Path) -> None:
    for p in bundle.glob("C/Packages/Plugins/*/*"):
        ext, ver = p.parent.name, p.name
        status = jload(p / "Status/0.status")
        assert isinstance(status, list) and len(status) == 1  # §6.1: a top-level array
        st = status[0]
        assert st["version"] == "1"
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z", st["timestampUTC"])
        assert st["status"]["status"] in {"transitioning", "error", "success", "warning"}
        hs = jload(p / "RuntimeSettings/0.settings")["runtimeSettings"][0]["handlerSettings"]
        assert re.fullmatch(r"[0-9A-F]{40}", hs["protectedSettingsCertThumbprint"])
        assert hs["protectedSettings"].startswith("MII")
        base64.b64decode(hs["protectedSettings"], validate=True)
        env = jload(p / "HandlerEnvironment.json")[0]["handlerEnvironment"]
        assert env["logFolder"] == f"C:\\WindowsAzure\\Logs\\Plugins\\{ext}\\{ver}"
        assert env["configFolder"] == f"C:\\Packages\\Plugins\\{ext}\\{ver}\\RuntimeSettings"
        assert env["statusFolder"] == f"C:\\Packages\\Plugins\\{ext}\\{ver}\\Status"
        hm = jload(p / "HandlerManifest.json")[0]["handlerManifest"]
        assert hm["enableCommand"].endswith(" enable")


def test_aggregate_status_is_nul_padded_and_agrees(bundle: Path) -> None:
    data = (bundle / "C/WindowsAzure/Logs/AggregateStatus/aggregatestatus.json").read_bytes()
    assert data.endswith(b"\x00" * 16)  # §6.3: vmassist strips NULs before ConvertFrom-Json
    with pytest.raises(json.JSONDecodeError):
        json.loads(data.decode("utf-8"))
    doc = json.loads(data.replace(b"\x00", b"").decode("utf-8"))
    agg = doc["aggregateStatus"]
    version = messages(agent_log(bundle))[0][1].rsplit(" ", 1)[1]
    assert agg["guestAgentStatus"]["version"] == version and agg["guestAgentStatus"]["status"] == "Ready"
    handlers = {h["handlerName"]: h for h in agg["handlerAggregateStatus"]}
    assert set(handlers) == {p.parent.name for p in bundle.glob("C/Packages/Plugins/*/*")}
    for p in bundle.glob("C/Packages/Plugins/*/*"):
        on_disk = jload(p / "Status/0.status")[0]["status"]["status"]
        h = handlers[p.parent.name]
        assert h["handlerVersion"] == p.name
        assert h["runtimeSettingsStatus"]["settingsStatus"]["status"]["status"] == on_disk


# ------------------------------------------------------------------------------------------------ commands
def test_command_outputs_are_crlf_and_real_layouts(bundle: Path) -> None:
    for txt in bundle.glob("commands/*.txt"):
        lines_crlf(txt)
    route = lines_crlf(bundle / "commands/route_print.txt")
    assert "Interface List" in route and "IPv4 Route Table" in route and "IPv6 Route Table" in route
    assert "Network Destination        Netmask          Gateway       Interface  Metric" in route  # §5.3
    assert route.count("Persistent Routes:") == 2
    ipc = lines_crlf(bundle / "commands/ipconfig_all.txt")
    assert "Windows IP Configuration" in ipc
    assert all(re.match(r"^   [A-Za-z][^.]*[ .]*: ", x) or x.endswith(":") or not x or x.startswith("Ethernet")
               or x == "Windows IP Configuration" for x in ipc)
    proxy = lines_crlf(bundle / "commands/netsh_winhttp_proxy.txt")
    assert "Current WinHTTP proxy settings:" in proxy  # §5.7


def test_utf16_file_has_a_bom() -> None:
    path = SAMPLES / "failover-cluster-imds-captured/commands/test_netconnection_imds.txt"
    data = path.read_bytes()
    assert data[:2] == b"\xff\xfe" and len(data) % 2 == 0
    text = data[2:].decode("utf-16-le")
    assert "WARNING: TCP connect to (169.254.169.254 : 80) failed\r\n" in text  # §5.2 newer-build layout
    assert re.search(r"TcpTestSucceeded\s+: False", text)


def ipconfig_ipv4(bundle: Path) -> list[str]:
    return re.findall(r"IPv4 Address[. ]*: ([\d.]+)\(Preferred\)",
                      (bundle / "commands/ipconfig_all.txt").read_bytes().decode("utf-8"))


# ------------------------------------------------------------------------------------------------ probes
def test_tcp_probes_three_attempts_per_target(bundle: Path) -> None:
    probes = jload(bundle / "probes/tcp.json")
    targets = {("168.63.129.16", 80), ("168.63.129.16", 32526), ("169.254.169.254", 80)}
    assert {(p["target"], p["port"]) for p in probes} == targets
    for tgt in targets:
        rows = [p for p in probes if (p["target"], p["port"]) == tgt]
        assert [p["attempt"] for p in rows] == [1, 2, 3]
    times = [p["time"] for p in probes]
    assert times == sorted(times)
    for p in probes:
        assert (p["error"] is None) == p["ok"]
        assert isinstance(p["elapsed_ms"], float)


def test_http_probes(bundle: Path) -> None:
    vm = manifest(bundle)["vm"]
    inst = jload(bundle / "probes/imds_instance.json")
    assert inst["url"] == "http://169.254.169.254/metadata/instance?api-version=2021-02-01"
    assert set(inst) >= {"url", "status", "headers", "body"}
    if inst["status"] == 200:
        doc = json.loads(inst["body"])
        assert doc["compute"]["vmId"] == vm["vm_id"] and doc["compute"]["name"] == vm["computer_name"]
        assert doc["compute"]["osType"] == "Windows"
        nics = doc["network"]["interface"]
        for nic in nics:
            assert re.fullmatch(r"[0-9A-F]{12}", nic["macAddress"])
            subnet = nic["ipv4"]["subnet"][0]
            net = ipaddress.ip_network(f"{subnet['address']}/{subnet['prefix']}")
            for ip in nic["ipv4"]["ipAddress"]:
                assert ipaddress.ip_address(ip["privateIpAddress"]) in net
        assert nics[0]["ipv4"]["ipAddress"][0]["privateIpAddress"] == ipconfig_ipv4(bundle)[0]
    else:
        assert inst["status"] is None and inst["body"] == "" and inst["error"]
    ws = jload(bundle / "probes/wireserver_versions.json")
    assert ws["url"] == "http://168.63.129.16/?comp=versions" and ws["status"] == 200
    xml = (bundle / "probes/wireserver_versions.xml").read_bytes().decode("utf-8")
    assert xml.replace("\r\n", "\n") == ws["body"]
    assert ws["body"].startswith('<?xml version="1.0" encoding="utf-8"?>\n<Versions>\n  <Preferred>\n'
                                 "    <Version>2015-04-05</Version>")  # §5.1 real capture
    versions = jload(bundle / "probes/imds_versions.json")
    if versions["status"] == 200:
        assert "2021-02-01" in json.loads(versions["body"])["apiVersions"]


# ------------------------------------------------------------------------------------------------ scenarios
def tcp(bundle: Path, target: str, port: int) -> list[dict]:
    return [p for p in jload(bundle / "probes/tcp.json") if (p["target"], p["port"]) == (target, port)]


def test_healthy_has_no_failure_signature() -> None:
    b = SAMPLES / "healthy"
    recs = messages(agent_log(b))
    assert [m for lvl, m, _ in recs if lvl in {"ERROR", "FATAL"}] == ["Error SetCPUNotification: 87"]
    assert all(p["ok"] for p in jload(b / "probes/tcp.json"))
    assert jload(b / "commands/firewall_rules.json") == []
    assert "    Direct access (no proxy server)." in lines_crlf(b / "commands/netsh_winhttp_proxy.txt")
    cse = lines_crlf(b / "C/WindowsAzure/Logs/Plugins/Microsoft.Compute.CustomScriptExtension/1.10.15/"
                         "CustomScriptHandler.log")
    start, end = ts_of(HANDLER.match(cse[0])["ts"]), ts_of(HANDLER.match(cse[-1])["ts"])
    assert cse[-1].endswith("Command execution finished. Command exited with code: 0")
    assert timedelta(seconds=39) <= end - start <= timedelta(seconds=41)
    route = " ".join(" ".join(lines_crlf(b / "commands/route_print.txt")).split())
    assert "168.63.129.16 255.255.255.255 10.0.1.1 10.0.1.4 11" in route  # §5.3 DHCP host routes
    assert "169.254.169.254 255.255.255.255 10.0.1.1 10.0.1.4 11" in route


def test_firewall_blocks_32526_only() -> None:
    b = SAMPLES / "firewall-blocks-32526"
    lines = lines_crlf(agent_log(b))
    warn = [i for i, x in enumerate(lines)
            if x.endswith("[WARN]  (Ignoring) Exception while fetching supported versions from HostGAPlugin: "
                          "System.Net.WebException: Unable to connect to the remote server ")]  # §1.1, trailing space
    assert len(warn) >= 10
    for i in warn:
        assert lines[i + 1] == ("---> System.Net.Sockets.SocketException: An attempt was made to access a socket in a "
                                "way forbidden by its access permissions 168.63.129.16:32526")
    assert all(p["ok"] for p in tcp(b, "168.63.129.16", 80) + tcp(b, "169.254.169.254", 80))
    blocked = tcp(b, "168.63.129.16", 32526)
    assert len(blocked) == 3 and not any(p["ok"] for p in blocked)
    assert all(p["error"] == "An attempt was made to access a socket in a way forbidden by its access permissions "
               "168.63.129.16:32526" for p in blocked)
    rules = jload(b / "commands/firewall_rules.json")
    assert [(r["Direction"], r["Action"], r["Enabled"], r["Protocol"], r["RemoteAddress"], r["RemotePort"])
            for r in rules] == [("Outbound", "Block", True, "TCP", ["168.63.129.16"], ["32526"])]
    old = lines_crlf(b / "C/WindowsAzure/Logs/WaAppAgent.1.log")
    assert not any("HostGAPlugin" in x for x in old)  # before the GPO


def test_proxy_intercepts_agent() -> None:
    b = SAMPLES / "proxy-intercepts-agent"
    proxy = lines_crlf(b / "commands/netsh_winhttp_proxy.txt")
    assert "    Proxy Server(s) :  http://10.20.0.5:8080" in proxy and "    Bypass List     :  <local>" in proxy
    text = "\n".join(proxy)
    assert "168.63.129.16" not in text and "169.254.169.254" not in text
    recs = messages(agent_log(b))
    failed = [m for lvl, m, _ in recs if lvl == "ERROR" and m.startswith("GetVersions()")]
    assert len(failed) >= 10
    assert set(failed) == {"GetVersions() failed with exception: System.Net.Http.HttpRequestException: Response "
                           "status code does not indicate success: 502 (cannotconnect)."}  # §1.4 verbatim
    assert "    at System.Net.Http.HttpResponseMessage.EnsureSuccessStatusCode()" in lines_crlf(agent_log(b))
    # the collector's own probes go direct (no proxy) and succeed: the path to the platform is fine
    assert all(p["ok"] for p in jload(b / "probes/tcp.json"))
    assert jload(b / "probes/imds_instance.json")["status"] == 200
    # the updater's requests to public storage go through the same proxy and work
    ti = [m for _, m, _ in messages(b / "C/WindowsAzure/Logs/TransparentInstaller.log")]
    assert "Manifest timestamp has not changed" in ti
    # the extensions ran before the proxy was set
    first_error = min(t for lvl, m, t in recs if m in failed)
    enabled = [t for _, m, t in recs if m.endswith("enabled successfully. Code: 0")]
    assert len(enabled) == 2 and max(enabled) < first_error


def test_cse_ran_past_its_90_minutes() -> None:
    b = SAMPLES / "cse-timeout-90min"
    cse = lines_crlf(b / "C/WindowsAzure/Logs/Plugins/Microsoft.Compute.CustomScriptExtension/1.10.15/"
                         "CustomScriptHandler.log")
    assert cse[-1].endswith("[INFO] Command execution task started. Awaiting completion...")  # §3.2, then nothing
    start = ts_of(HANDLER.match(cse[0])["ts"])
    assert collected_at(b) - ts_of(HANDLER.match(cse[-1])["ts"]) > timedelta(minutes=90)
    status = jload(b / "C/Packages/Plugins/Microsoft.Compute.CustomScriptExtension/1.10.15/Status/0.status")[0]
    assert status["status"]["status"] == "transitioning"
    recs = messages(agent_log(b))
    kill = [(lvl, t) for lvl, m, t in recs if m == "Enable command of Microsoft.Compute.CustomScriptExtension has "
                                                   "not exited on time! Killing it..."]
    assert len(kill) == 1 and kill[0][0] == "ERROR"
    assert timedelta(minutes=90) <= kill[0][1] - start < timedelta(minutes=91)
    oobe = [i for i, (lvl, m, _) in enumerate(recs) if m == "Waiting for OOBE to Complete ..."]  # §1.2
    assert oobe == list(range(1, len(oobe) + 1)) and len(oobe) >= 3
    assert all(p["ok"] for p in jload(b / "probes/tcp.json"))


def test_imds_route_through_the_secondary_nic() -> None:
    b = SAMPLES / "imds-route-secondary-nic"
    route = lines_crlf(b / "commands/route_print.txt")
    rows = [" ".join(x.split()) for x in route]
    assert "169.254.169.254 255.255.255.255 10.0.2.1 10.0.2.4 6" in rows
    persistent = rows[rows.index("Persistent Routes:"):]
    assert "169.254.169.254 255.255.255.255 10.0.2.1 1" in persistent
    assert ipconfig_ipv4(b) == ["10.0.1.4", "10.0.2.4"]
    ipc = (b / "commands/ipconfig_all.txt").read_bytes().decode("utf-8")
    assert "Default Gateway . . . . . . . . . :\r\n" in ipc  # the secondary NIC has none
    inst = jload(b / "probes/imds_instance.json")
    assert inst["status"] is None and "did not properly respond" in inst["error"]
    assert not any(p["ok"] for p in tcp(b, "169.254.169.254", 80))
    assert all(p["ok"] for p in tcp(b, "168.63.129.16", 80))
    installer = [m for _, m, _ in messages(b / "C/WindowsAzure/Logs/TransparentInstaller.log")]
    assert installer.count("Manifest timestamp has not changed") >= 3  # §3.2 wording


def test_failover_cluster_adapter_captures_imds() -> None:
    b = SAMPLES / "failover-cluster-imds-captured"
    ipc = (b / "commands/ipconfig_all.txt").read_bytes().decode("utf-8")
    assert "DHCP Enabled. . . . . . . . . . . : No" in ipc and "DHCP Server" not in ipc
    assert "Microsoft Failover Cluster Virtual Adapter" in ipc
    assert "Autoconfiguration IPv4 Address. . : 169.254.1.23(Preferred)" in ipc
    rows = [" ".join(x.split()) for x in lines_crlf(b / "commands/route_print.txt")]
    assert "169.254.0.0 255.255.0.0 On-link 169.254.1.23 261" in rows
    assert not any(r.startswith(("169.254.169.254 ", "168.63.129.16 ")) for r in rows)  # no DHCP host routes
    assert "0.0.0.0 0.0.0.0 10.0.0.1 Default" in rows  # the static gateway, as §5.4 shows it
    assert not any(p["ok"] for p in tcp(b, "169.254.169.254", 80))
    assert all(p["ok"] for p in tcp(b, "168.63.129.16", 80))
    assert jload(b / "probes/wireserver_versions.json")["status"] == 200
    # noise: discovery fails on the cluster adapter (§1.1 wording), then succeeds on the primary NIC (§4)
    msgs = [m for _, m, _ in messages(agent_log(b))]
    i = msgs.index("Did not discover fabric address on interface Local Area Connection* 12")
    assert msgs[i - 1] == "Empty DHCP option data returned"
    assert msgs[i + 2] == "Discovered fabric address on interface Ethernet."


# ------------------------------------------------------------------------------------------------ generator
def test_generator_is_deterministic_and_matches_the_committed_bundles(tmp_path: Path) -> None:
    script = SAMPLES / "generate.py"
    for out in ("a", "b"):
        subprocess.run([sys.executable, str(script), "--out", str(tmp_path / out)], check=True)

    def tree(root: Path) -> dict[str, bytes]:
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    a, b = tree(tmp_path / "a"), tree(tmp_path / "b")
    assert a == b

    def these(files: dict[str, bytes]) -> dict[str, bytes]:  # this file's six scenarios (test_samples.py: all)
        return {k: v for k, v in files.items() if k.split("/", 1)[0] in EXPECTED or k == "README.md"}

    assert these(a) == these(tree(SAMPLES))
