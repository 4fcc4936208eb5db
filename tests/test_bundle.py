"""Opening bundles: the kit's own (folder and zip), a guest-agent log-collector zip, a copy of
C:\\WindowsAzure\\Logs, and a loose folder of whatever a customer pasted; damage and tampering are reported,
never fatal."""

from __future__ import annotations

import codecs
import json
import os
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pytest

import kit
from kit.bundle import INVENTORY, MISSING
from kit.errors import BundleError, UnsafeArchiveError
from kit.parse import frame_schemas
from tests.conftest import SAMPLES, copy_sample, make_bundle

AGENT = (SAMPLES / "firewall-blocks-32526" / "C/WindowsAzure/Logs/WaAppAgent.log").read_bytes()
ROUTE = (SAMPLES / "imds-route-secondary-nic" / "commands/route_print.txt").read_bytes()
SERVICES = (SAMPLES / "healthy" / "commands/services.json").read_bytes()
# Formats doc §1.1 (verbatim lines, CRLF as the agent writes them).
AGENT_LINES = (
    "[00000006] [06/20/2019 07:44:28.93] [INFO] Attempting to discover fabric address on interface Npcap Loopback "
    "Adapter\r\n"
    "[00000024] [06/20/2019 07:44:28.93] [WARN] Empty DHCP option data returned\r\n"
    "[00000006] [06/20/2019 07:44:28.93] [ERROR] Did not discover fabric address on interface Npcap Loopback "
    "Adapter\r\n"
)
# Formats doc §5.7, with the blank line real output has.
PROXY_DIRECT = "Current WinHTTP proxy settings:\r\n\r\n    Direct access (no proxy server).\r\n"
# Formats doc §3.1.
HANDLER_LINES = (
    "[4892+00000001] [03/04/2021 20:49:58.30] [INFO] Starting RunCommand Extension v1\r\n"
    "[4892+00000001] [03/04/2021 20:49:58.31] [INFO] Installing Handler\r\n"
)
TNC = "WARNING: TCP connect to (168.63.129.16 : 32526) failed\r\n\r\nComputerName     : 168.63.129.16\r\n" \
      "RemoteAddress    : 168.63.129.16\r\nRemotePort       : 32526\r\nInterfaceAlias   : Ethernet\r\n" \
      "SourceAddress    : 10.0.0.4\r\nTcpTestSucceeded : False\r\n"

KIT_FILES: dict[str, bytes | str] = {
    "C/WindowsAzure/Logs/WaAppAgent.log": AGENT_LINES,
    "C/WindowsAzure/Logs/Plugins/Microsoft.CPlat.Core.RunCommandWindows/1.1.8/RunCommandExtension.log": HANDLER_LINES,
    "commands/route_print.txt": ROUTE,
    "commands/netsh_winhttp_proxy.txt": PROXY_DIRECT,
    "commands/services.json": SERVICES,
}


def _frames_equal(a: kit.Bundle, b: kit.Bundle) -> None:
    fa, fb = a.frames(), b.frames()
    assert sorted(fa) == sorted(fb)
    for name in fa:
        pd.testing.assert_frame_equal(fa[name], fb[name])


# -- kit bundles --------------------------------------------------------------------------------------------
def test_kit_folder_and_the_same_as_a_zip(tmp_path: Path) -> None:
    folder = make_bundle(tmp_path / "b", KIT_FILES, manifest=True)
    zipped = make_bundle(tmp_path / "b.zip", KIT_FILES, manifest=True, as_zip=True, prefix="case-42\\")
    bf, bz = kit.open_bundle(folder), kit.open_bundle(zipped)
    for b in (bf, bz):
        assert b.kind == "kit"
        assert b.collected_at == pd.Timestamp("2024-03-08 10:15:04.512", tz="UTC")
        assert str(b.collected_at.tz) == "UTC"
        assert b.time_reference_basis.startswith("collected_at")
        inv = b.inventory
        assert INVENTORY.check_dtypes(inv) == []
        arts = inv[inv["status"] != "meta"]
        assert set(arts["recognised_by"].astype(str)) == {"manifest"}
        assert set(arts["status"].astype(str)) == {"parsed"}
        assert arts["sha256_ok"].all()
        assert b.issues.empty, b.issues
    assert bz.root == "case-42/"  # the zip's single top-level folder holds the bundle
    assert bz.inventory["path"].str.startswith("case-42/").all()
    assert bf.inventory["layout_path"].tolist() == bz.inventory["layout_path"].tolist()
    _frames_equal(bf, bz)
    log = bf.agent_log
    assert log["level"].astype(str).tolist() == ["INFO", "WARN", "ERROR"]
    assert log["source"].unique().tolist() == ["C/WindowsAzure/Logs/WaAppAgent.log"]
    assert log["line"].tolist() == [1, 2, 3]
    assert log["ts"].iloc[0] == pd.Timestamp("2019-06-20 07:44:28.93", tz="UTC")
    assert bool(log["ts_assumed_utc"].all())
    assert bf.proxy["source"].tolist() == ["commands/netsh_winhttp_proxy.txt"]


def test_samples_open_cleanly(sample_bundles: list[Path]) -> None:
    assert len(sample_bundles) >= 6
    for d in sample_bundles:
        b = kit.open_bundle(d)
        assert b.kind == "kit", d.name
        kinds = set(b.issues["kind"].astype(str))
        assert not kinds & {"hash-mismatch", "parser-error", "unrecognised-file", "manifest-file-missing"}, d.name
        inv = b.inventory
        arts = inv[inv["status"] != "meta"]
        assert arts["artifact"].notna().all(), arts[arts["artifact"].isna()]
        assert (arts["recognised_by"] == "manifest").all(), d.name
        assert arts["sha256_ok"].all(), d.name
        assert set(inv.loc[inv["status"] == "meta", "path"]) == {"manifest.json", "README.md", "scenario.json"}
        for name, df in b.frames().items():
            assert frame_schemas()[name].check_dtypes(df) == [], (d.name, name)


def test_frames_are_lazy_typed_and_cached() -> None:
    b = kit.open_bundle(SAMPLES / "healthy")
    assert b._parsed_kinds == set()  # opening parses nothing
    routes = b.routes
    assert b._parsed_kinds == {"route_print", "get_netroute"}
    assert b.frame("routes") is routes
    assert frame_schemas()["routes"].check_dtypes(routes) == []
    # A frame no file filled (healthy has no outbound block rules) is the schema's typed empty frame.
    assert b.firewall_rules.empty and list(b.firewall_rules.columns) == frame_schemas()["firewall_rules"].names
    assert frame_schemas()["firewall_rules"].check_dtypes(b.firewall_rules) == []
    assert "firewall_rules" not in b.frames()  # frames() holds only non-empty frames
    assert "routes" in dir(b)


def test_rotated_agent_logs_are_combined_in_time_order() -> None:
    b = kit.open_bundle(SAMPLES / "healthy")
    log = b.agent_log
    assert log["source"].unique().tolist() == ["C/WindowsAzure/Logs/WaAppAgent.1.log",
                                               "C/WindowsAzure/Logs/WaAppAgent.log"]
    ts = log["ts"].dropna()
    assert ts.is_monotonic_increasing


def test_frame_access_and_errors(tmp_path: Path) -> None:
    b = kit.open_bundle(SAMPLES / "healthy")
    assert b.agent_log is b.frame("agent_log")
    with pytest.raises(AttributeError, match=r"frames: .*agent_log"):
        _ = b.no_such_frame
    with pytest.raises(KeyError, match="no frame named"):
        b.frame("nope")
    assert b.has("route_print") and not b.has("test_netconnection")
    assert repr(b).startswith("<Bundle 'healthy' kind=kit vm='web-01'") and "\n" not in repr(b)
    s = b.summary()
    assert "VM: web-01" in s and "Collected: 2024-03-08 10:15:04 UTC" in s and "Issues: none" in s
    assert "agent_log (" in s
    with pytest.raises(BundleError, match="no such folder"):
        kit.open_bundle(tmp_path / "nope")
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(BundleError, match="vmkit parse"):
        kit.open_bundle(tmp_path / "x.txt")
    bad = tmp_path / "evil.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("../../etc/passwd", "x")
    with pytest.raises(UnsafeArchiveError, match="escapes"):
        kit.open_bundle(bad)


# -- bundles without a manifest ---------------------------------------------------------------------------
def test_loose_folder_is_recognised_by_content(tmp_path: Path) -> None:
    d = tmp_path / "case-12345"
    d.mkdir()
    (d / "agent log.txt").write_bytes(AGENT)  # WaAppAgent.log renamed by the customer
    (d / "route.txt").write_bytes(ROUTE)
    (d / "tnc.txt").write_bytes(codecs.BOM_UTF16_LE + TNC.encode("utf-16-le"))  # PowerShell 5.1 `>`
    (d / "notes.docx").write_bytes(b"PK\x03\x04 not really a docx")
    b = kit.open_bundle(d)
    assert b.kind == "loose"
    assert b.collected_at is None
    assert b.time_reference == b.agent_log["ts"].max()
    assert b.time_reference_basis.startswith("newest agent-log")
    inv = b.inventory.set_index("path")
    assert inv.loc["agent log.txt", "artifact"] == "agent_log"
    assert inv.loc["route.txt", "artifact"] == "route_print"
    assert inv.loc["tnc.txt", "artifact"] == "test_netconnection"
    assert inv.loc["tnc.txt", "encoding"] == "utf-16-le"
    assert inv.loc["route.txt", "newline"] == "CRLF"
    assert inv.loc["notes.docx", "status"] == "unrecognised"
    assert pd.isna(inv.loc["notes.docx", "artifact"]) and pd.isna(inv.loc["notes.docx", "recognised_by"])
    assert (inv.loc[["agent log.txt", "route.txt", "tnc.txt"], "recognised_by"] == "content").all()
    assert inv["layout_path"].isna().all()
    assert inv["sha256_ok"].isna().all()  # no manifest
    assert inv["sha256"].str.len().eq(64).all()
    unrec = b.issues[b.issues["kind"] == "unrecognised-file"]
    assert unrec["source"].tolist() == ["notes.docx"]
    assert b.agent_log["source"].unique().tolist() == ["agent log.txt"]
    assert not b.routes.empty
    assert b.tcp_probes["ok"].tolist() == [False]
    missing = b.missing
    assert MISSING.check_dtypes(missing) == []
    assert "tcp_probes" not in set(missing["artifact"])  # the customer's Test-NetConnection stands in
    assert {"services", "ipconfig", "winhttp_proxy", "firewall_rules", "http_probe", "ext_status"} <= set(
        missing["artifact"])
    assert missing["why_it_matters"].notna().all()
    assert "Unrecognised: notes.docx" in b.summary()
    findings = kit.diagnose(b)
    assert "HOSTGAPLUGIN_UNREACHABLE" in set(findings["code"])  # from the customer's own TNC + the agent log
    assert "CHECK_NOT_POSSIBLE" in set(findings["code"])  # and it says what it could not check


def test_copy_of_windowsazure_logs_folder(tmp_path: Path) -> None:
    src = SAMPLES / "cse-timeout-90min" / "C/WindowsAzure/Logs"
    d = tmp_path / "Logs"
    shutil.copytree(src, d)
    b = kit.open_bundle(d)
    assert b.kind == "logs-folder"
    inv = b.inventory
    assert (inv["status"] == "parsed").all(), inv[["path", "status"]]
    assert inv["layout_path"].str.startswith("C/WindowsAzure/Logs/").all()
    assert (inv["layout_path"] == "C/WindowsAzure/Logs/" + inv["path"]).all()
    assert b.handler_log["extension"].str.contains("CustomScriptExtension").any()
    assert b.agent_log["source"].str.startswith("C/WindowsAzure/Logs/WaAppAgent").all()
    # Zipped with its folder, it opens the same.
    z = Path(shutil.make_archive(str(tmp_path / "logs"), "zip", tmp_path, "Logs"))
    bz = kit.open_bundle(z)
    assert bz.kind == "logs-folder" and bz.root == "Logs/"
    _frames_equal(b, bz)


def test_guest_log_collector_style_zip(tmp_path: Path) -> None:
    """The agent's CollectGuestLogs zip is not documented file by file: paths carrying the WindowsAzure\\Logs and
    Packages\\Plugins anchors (even written with backslashes, under any prefix) are mapped onto the layout."""
    src = SAMPLES / "cse-timeout-90min"
    z = tmp_path / "VMAgentLogs.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in src.rglob("*"):
            rel = p.relative_to(src).as_posix()
            if p.is_file() and rel.startswith("C/"):
                zf.writestr("VMAgentLogs\\" + rel[2:].replace("/", "\\"), p.read_bytes())
    b = kit.open_bundle(z)
    assert b.kind == "guest-log-collector"
    inv = b.inventory
    assert (inv["status"] == "parsed").all()
    assert inv["path"].str.startswith("VMAgentLogs/WindowsAzure/").any()
    assert inv["layout_path"].str.startswith("C/").all()
    assert set(inv["recognised_by"].astype(str)) == {"path"}
    assert "EXTENSION_TIMEOUT" in set(kit.diagnose(b)["code"])
    assert b.collected_at is None and b.time_reference is not None
    assert "agent-log" in b.time_reference_basis


def test_anchors_are_found_anywhere_case_insensitively() -> None:
    from kit.bundle.layout import canonical

    assert canonical("export\\c_\\windowsazure\\logs\\WaAppAgent.log") == "C/WindowsAzure/Logs/WaAppAgent.log"
    assert canonical("x/C/Packages/Plugins/A.B/1.0/Status/0.status") == "C/Packages/Plugins/A.B/1.0/Status/0.status"
    assert canonical("mine/Commands/route_print.txt") == "commands/route_print.txt"
    assert canonical("D_/Windows/Panther/WaSetup.xml") == "C/Windows/Panther/WaSetup.xml"
    assert canonical("route.txt") is None


def test_plugins_log_nothing_recognised_is_a_handler_log(tmp_path: Path) -> None:
    d = make_bundle(tmp_path / "b", {
        "WindowsAzure/Logs/Plugins/Contoso.Agent/1.0/custom.log": "starting contoso agent\r\nall good\r\n",
        "WindowsAzure/Logs/WaAppAgent.log": AGENT_LINES,
    })
    b = kit.open_bundle(d)
    inv = b.inventory.set_index("layout_path")
    row = inv.loc["C/WindowsAzure/Logs/Plugins/Contoso.Agent/1.0/custom.log"]
    assert (row["artifact"], row["recognised_by"], row["status"]) == ("handler_log", "path", "parsed")
    assert b.handler_log["message"].str.contains("all good").any()


# -- damage, tampering, limits ------------------------------------------------------------------------------
def test_damaged_files_do_not_stop_the_bundle(tmp_path: Path) -> None:
    d = copy_sample("healthy", tmp_path)
    status = d / "C/Packages/Plugins/Microsoft.Compute.CustomScriptExtension/1.10.15/Status/0.status"
    status.write_bytes(status.read_bytes()[:200])  # half-written
    log = d / "C/WindowsAzure/Logs/WaAppAgent.log"
    log.write_bytes(log.read_bytes()[:-30])  # cut mid-line
    b = kit.open_bundle(d)
    issues = b.issues
    assert {"bad-json", "hash-mismatch", "truncated-line"} <= set(issues["kind"].astype(str))
    bad = issues[issues["kind"] == "bad-json"].iloc[0]
    assert bad["source"].endswith("Status/0.status") and bad["line"] > 0
    cut = issues[issues["kind"] == "truncated-line"].iloc[0]
    assert cut["source"] == "C/WindowsAzure/Logs/WaAppAgent.log" and cut["line"] == len(
        log.read_bytes().splitlines())
    mism = issues[issues["kind"] == "hash-mismatch"]
    assert set(mism["source"]) == {"C/WindowsAzure/Logs/WaAppAgent.log", str(status.relative_to(d).as_posix())}
    assert mism["message"].str.contains("expected SHA-256").all()
    assert bool(b.ext_status[b.ext_status["extension"] == "Microsoft.Compute.CustomScriptExtension"]["damaged"].iloc[0])
    assert bool(b.agent_log["damaged"].iloc[-1])
    assert len(b.agent_log) > 50  # the rest still loads
    inv = b.inventory.set_index("path")
    assert inv.loc["C/WindowsAzure/Logs/WaAppAgent.log", "sha256_ok"] == False  # noqa: E712 (pandas NA-aware)
    assert inv.loc["C/WindowsAzure/Logs/WaAppAgent.log", "status"] == "parsed-with-issues"
    assert inv.loc["commands/route_print.txt", "sha256_ok"] == True  # noqa: E712
    assert "INPUT_DAMAGED" in set(kit.diagnose(b)["code"])


def test_parser_bug_is_contained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kit.parse import services

    def boom(text: str, *, source: str):
        raise ValueError("simulated parser bug")

    monkeypatch.setattr(services, "parse", boom)
    b = kit.open_bundle(copy_sample("healthy", tmp_path))
    err = b.issues[b.issues["kind"] == "parser-error"]
    assert err["source"].tolist() == ["commands/services.json"]
    assert "ValueError: simulated parser bug" in err["message"].iloc[0]
    assert b.inventory.set_index("path").loc["commands/services.json", "status"] == "failed"
    assert b.services.empty and not b.agent_log.empty
    assert not b.has("services")


def test_manifest_missing_artifacts_are_reported(tmp_path: Path) -> None:
    d = copy_sample("healthy", tmp_path)
    m = json.loads((d / "manifest.json").read_text())
    m["artifacts"].append({"path": "C/WindowsAzure/Logs/Telemetry.log", "status": "missing",
                           "origin": "C:\\WindowsAzure\\Logs\\Telemetry.log", "note": "file does not exist on the VM"})
    m["artifacts"] = [a for a in m["artifacts"] if a["path"] != "commands/services.json"] + [
        {"path": "commands/services.json", "status": "error", "origin": "commands/services.json",
         "note": "Get-Service: access denied"}]
    (d / "commands/services.json").unlink()
    (d / "commands/route_print.txt").unlink()
    (d / "manifest.json").write_text(json.dumps(m))
    b = kit.open_bundle(d)
    miss = b.missing.set_index("expected_path", drop=False)
    tele = miss.loc["C/WindowsAzure/Logs/Telemetry.log"]
    assert tele["artifact"] == "agent_log" and "file does not exist on the VM" in tele["note"]
    svc = b.missing.set_index("artifact").loc["services"]
    assert svc["note"].startswith("error in manifest.json: Get-Service: access denied")
    assert "agent service" in svc["why_it_matters"]
    assert len(b.missing[b.missing["artifact"] == "services"]) == 1
    kinds = b.issues["kind"].astype(str)
    assert (b.issues.loc[kinds == "manifest-file-missing", "source"] == "commands/route_print.txt").all()
    assert (kinds == "manifest-file-missing").sum() == 1
    assert not b.routes.empty  # get_netroute.json still gives the routes
    assert "route_print" not in set(b.missing["artifact"])


def test_unlisted_file_and_bad_manifest(tmp_path: Path) -> None:
    d = make_bundle(tmp_path / "b", KIT_FILES, manifest=True)
    (d / "commands" / "extra_route.txt").write_bytes(ROUTE)
    b = kit.open_bundle(d)
    un = b.issues[b.issues["kind"] == "unlisted-file"]
    assert un["source"].tolist() == ["commands/extra_route.txt"]
    assert b.inventory.set_index("path").loc["commands/extra_route.txt", "recognised_by"] == "content"
    (d / "manifest.json").write_text('{"format": "guestagent-kit-bundle", "artifacts": [')  # half-written
    b = kit.open_bundle(d)
    assert b.kind == "guest-log-collector" and b.manifest is None
    bad = b.issues[b.issues["kind"] == "bad-manifest"]
    assert bad["message"].str.contains("expected manifest.json to be a JSON document").all()


def test_oversized_and_empty_files(tmp_path: Path) -> None:
    files = dict(KIT_FILES)
    files["commands/netsh_winhttp_proxy.txt"] = b""
    files["C/WindowsAzure/Logs/WaAppAgent.log"] = AGENT_LINES * 100
    d = make_bundle(tmp_path / "b", files, manifest=True)
    b = kit.open_bundle(d, max_file_bytes=len(AGENT_LINES) * 50)
    inv = b.inventory.set_index("path")
    agent = inv.loc["C/WindowsAzure/Logs/WaAppAgent.log"]
    assert agent["status"] == "skipped" and agent["artifact"] == "agent_log"
    assert "per-file limit" in agent["note"] and pd.isna(agent["sha256"])
    assert inv.loc["commands/netsh_winhttp_proxy.txt", "status"] == "empty"
    assert not b.has("agent_log") and not b.has("winhttp_proxy")
    assert b.agent_log.empty
    miss = b.missing.set_index("artifact")
    assert "skipped" in miss.loc["agent_log", "note"]
    assert "empty" in miss.loc["winhttp_proxy", "note"]
    skipped = b.issues[b.issues["kind"] == "file-skipped"]
    assert skipped["source"].tolist() == ["C/WindowsAzure/Logs/WaAppAgent.log"]


def test_zip_member_with_lying_header_fails_alone(tmp_path: Path) -> None:
    """A header that understates a member's size: zipfile stops at the declared size and the CRC check fails,
    so the member is 'failed' (never read past the cap); the rest of the bundle loads."""
    z = make_bundle(tmp_path / "b.zip", {"commands/route_print.txt": ROUTE,
                                         "C/WindowsAzure/Logs/WaAppAgent.log": AGENT_LINES * 2000}, as_zip=True)
    data = bytearray(z.read_bytes())  # make both headers of the agent log claim 10 bytes
    name = b"C/WindowsAzure/Logs/WaAppAgent.log"
    for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        pos = -1
        while (pos := data.find(sig, pos + 1)) != -1:
            nlen_off = 26 if sig == b"PK\x03\x04" else 28
            nlen = int.from_bytes(data[pos + nlen_off: pos + nlen_off + 2], "little")
            hdr = 30 if sig == b"PK\x03\x04" else 46
            if bytes(data[pos + hdr: pos + hdr + nlen]) == name:
                data[pos + off: pos + off + 4] = (10).to_bytes(4, "little")
    z.write_bytes(bytes(data))
    b = kit.open_bundle(z, max_file_bytes=64 * 1024)
    inv = b.inventory.set_index("path")
    assert inv.loc["C/WindowsAzure/Logs/WaAppAgent.log", "status"] == "failed"
    assert inv.loc["commands/route_print.txt", "status"] == "parsed"
    bad = b.issues[b.issues["kind"] == "unreadable-file"]
    assert bad["source"].tolist() == ["C/WindowsAzure/Logs/WaAppAgent.log"]
    assert "corrupt" in bad["message"].iloc[0]
    assert not b.has("agent_log")
    assert not b.routes.empty


def test_encoding_notes_become_issues(tmp_path: Path) -> None:
    # Windows-1252 bytes (an ANSI agent log with a localized adapter name), cut without a final line break.
    text = "[00000006] [06/20/2019 07:44:28.93] [INFO] Attempting to discover fabric address on interface Ethernet " \
           "Gerät 2\r\n"
    d = make_bundle(tmp_path / "b", {"WindowsAzure/Logs/WaAppAgent.log": text.encode("cp1252")})
    b = kit.open_bundle(d)
    inv = b.inventory.iloc[0]
    assert inv["encoding"] == "cp1252"
    enc = b.issues[b.issues["kind"] == "encoding"]
    assert enc["source"].tolist() == ["C/WindowsAzure/Logs/WaAppAgent.log"]
    assert "Windows-1252" in enc["message"].iloc[0]
    assert "Gerät 2" in b.agent_log["message"].iloc[0]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_links_in_a_folder_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("do not read me")
    d = make_bundle(tmp_path / "b", {"commands/route_print.txt": ROUTE})
    os.symlink(outside, d / "commands" / "ipconfig_all.txt")
    os.symlink(tmp_path, d / "up")
    b = kit.open_bundle(d)
    inv = b.inventory.set_index("path")
    assert inv.loc["commands/ipconfig_all.txt", "status"] == "skipped"
    assert "symbolic link" in inv.loc["commands/ipconfig_all.txt", "note"]
    assert inv.loc["up", "status"] == "skipped"
    assert not any(p.startswith("up/") for p in inv.index)
    assert set(b.issues.loc[b.issues["kind"] == "refused-file", "source"]) == {"commands/ipconfig_all.txt", "up"}
    assert b.adapters.empty


def test_html_repr_escapes_everything(tmp_path: Path) -> None:
    d = tmp_path / "<b>"
    d.mkdir()
    (d / "<script>alert(1)<script>.txt").write_text("<img src=x onerror=alert(1)>")
    (d / "route.txt").write_bytes(ROUTE)
    b = kit.open_bundle(d)
    h = b._repr_html_()
    assert "<script>" not in h and "<img" not in h and "<b>" not in h.replace("<b>Bundle</b>", "")
    assert "&lt;script&gt;" in h and "<table>" in h
    assert "1 unrecognised" in h
