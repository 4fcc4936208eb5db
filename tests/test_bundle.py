"""Opening bundles: the kit's own, a guest-agent log-collector zip, a copy of C:\\WindowsAzure\\Logs, and a loose
folder of whatever a customer pasted; damage and tampering are reported, never fatal."""

from __future__ import annotations

import codecs
import json
import shutil
import zipfile
from pathlib import Path

import pytest

import kit
from kit.errors import BundleError, UnsafeArchiveError
from tests.conftest import SAMPLES, copy_sample

AGENT = (SAMPLES / "firewall-blocks-32526" / "C/WindowsAzure/Logs/WaAppAgent.log").read_bytes()
ROUTE = (SAMPLES / "imds-route-secondary-nic" / "commands/route_print.txt").read_bytes()
TNC = "WARNING: TCP connect to (168.63.129.16 : 32526) failed\r\n\r\nComputerName     : 168.63.129.16\r\n" \
      "RemoteAddress    : 168.63.129.16\r\nRemotePort       : 32526\r\nInterfaceAlias   : Ethernet\r\n" \
      "SourceAddress    : 10.0.0.4\r\nTcpTestSucceeded : False\r\n"


def test_loose_folder_is_recognised_by_content(tmp_path: Path) -> None:
    d = tmp_path / "case-12345"
    d.mkdir()
    (d / "agent log (2).txt").write_bytes(AGENT)
    (d / "route.txt").write_bytes(ROUTE)
    (d / "tnc.txt").write_bytes(codecs.BOM_UTF16_LE + TNC.encode("utf-16-le"))  # PowerShell 5.1 `>`
    (d / "notes.docx").write_bytes(b"PK\x03\x04 not really a docx")
    b = kit.open_bundle(d)
    assert b.kind == "loose"
    inv = b.inventory.set_index("path")
    assert inv.loc["agent log (2).txt", "artifact"] == "agent_log"
    assert inv.loc["route.txt", "artifact"] == "route_print"
    assert inv.loc["tnc.txt", "artifact"] == "test_netconnection"
    assert inv.loc["tnc.txt", "encoding"] == "utf-16-le"
    assert inv.loc["notes.docx", "status"] == "unrecognised"
    assert (inv.loc[["agent log (2).txt", "route.txt", "tnc.txt"], "recognised_by"] == "content").all()
    assert "notes.docx" in set(b.issues["source"])
    assert not b.agent_log.empty and not b.routes.empty
    assert b.tcp_probes["outcome"].tolist() == ["error"] or b.tcp_probes["ok"].tolist() == [False]
    assert "tcp_probes" not in set(b.missing["artifact"])
    assert "services" in set(b.missing["artifact"])
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
    assert set(inv["layout_path"].str.slice(0, 20)) == {"C/WindowsAzure/Logs/"}
    assert b.handler_log["extension"].str.contains("CustomScriptExtension").any()


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
    assert (b.inventory["status"] == "parsed").all()
    assert "EXTENSION_TIMEOUT" in set(kit.diagnose(b)["code"])
    assert b.collected_at is None and b.time_reference is not None
    assert "agent-log" in b.time_reference_basis


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
    assert bool(b.ext_status[b.ext_status["extension"] == "Microsoft.Compute.CustomScriptExtension"]["damaged"].iloc[0])
    assert bool(b.agent_log["damaged"].iloc[-1])
    assert len(b.agent_log) > 50  # the rest still loads
    inv = b.inventory.set_index("path")
    assert inv.loc["C/WindowsAzure/Logs/WaAppAgent.log", "sha256_ok"] is False or not inv.loc[
        "C/WindowsAzure/Logs/WaAppAgent.log", "sha256_ok"]
    findings = kit.diagnose(b)
    assert "INPUT_DAMAGED" in set(findings["code"])


def test_parser_bug_is_contained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kit.parse import services

    def boom(text: str, *, source: str):
        raise ValueError("simulated parser bug")

    monkeypatch.setattr(services, "parse", boom)
    b = kit.open_bundle(copy_sample("healthy", tmp_path))
    assert "parser-error" in set(b.issues["kind"].astype(str))
    assert b.services.empty and not b.agent_log.empty


def test_manifest_missing_artifacts_are_reported(tmp_path: Path) -> None:
    d = copy_sample("healthy", tmp_path)
    m = json.loads((d / "manifest.json").read_text())
    m["artifacts"].append({"path": "C/WindowsAzure/Logs/Telemetry.log", "status": "missing",
                           "origin": "C:\\WindowsAzure\\Logs\\Telemetry.log", "note": "file does not exist on the VM"})
    (d / "commands/route_print.txt").unlink()
    (d / "manifest.json").write_text(json.dumps(m))
    b = kit.open_bundle(d)
    assert "C/WindowsAzure/Logs/Telemetry.log" in set(b.missing["artifact"])
    assert "manifest-file-missing" in set(b.issues["kind"].astype(str))
    assert not b.routes.empty  # get_netroute.json still gives the routes


def test_frame_access_and_errors(tmp_path: Path) -> None:
    b = kit.open_bundle(SAMPLES / "healthy")
    assert b.agent_log is b.frame("agent_log")
    with pytest.raises(AttributeError, match="frames: "):
        _ = b.no_such_frame
    assert b.has("route_print") and not b.has("test_netconnection")
    assert "healthy" in repr(b) and "web-01" in b.summary()
    assert "<pre>" in b._repr_html_()
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
