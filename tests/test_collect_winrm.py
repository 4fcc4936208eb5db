"""Live collection through the real pywinrm client against a real WS-Management server on 127.0.0.1.

The server (tests/winrs_server.py) speaks WinRS over HTTPS with Basic auth; the VM behind it
(tests/vm_emulator.py) has a sample bundle as its disk and answers the kit's collector as the script would.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
from pathlib import Path

import pytest

import kit
from kit.cli import main as vmkit
from kit.collect import collect, collect_many, summary
from kit.errors import (
    AuthError,
    CollectionTimeout,
    CredentialError,
    RemoteScriptError,
    TransferError,
    TransportError,
)

from .vm_emulator import SampleVm
from .winrs_server import WinrsServer, make_cert

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted(p for p in (ROOT / "sample_logs").iterdir() if (p / "scenario.json").is_file())
USER, PASSWORD = "vmkit", "S3cret-Pa55-do-not-log"
NOT_VM_FILES = {"README.md", "scenario.json", "manifest.json"}


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    return make_cert(tmp_path_factory.mktemp("tls"))


def _collect(srv: WinrsServer, cert, out: Path, **kw):
    args = dict(port=srv.port, user=USER, password=PASSWORD, transport="basic", ca_file=str(cert[0]), out=out,
                interactive=False)
    args.update(kw)
    return collect("127.0.0.1", **args)


def _vm_files(bundle: Path) -> dict[str, bytes]:
    return {p.relative_to(bundle).as_posix(): p.read_bytes() for p in bundle.rglob("*")
            if p.is_file() and p.name not in NOT_VM_FILES}


def _assert_nothing_left(out: Path) -> None:
    left = [p for p in out.rglob("*")] if out.exists() else []
    assert left == [], left


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_full_collection_round_trips_every_sample(sample, cert, tmp_path):
    vm = SampleVm(sample)
    with WinrsServer(vm, user=USER, password=PASSWORD, certfile=cert[0], keyfile=cert[1]) as srv:
        r = _collect(srv, cert, tmp_path)
    assert r.ok, r.error
    # every file of the VM arrived byte for byte
    got = _vm_files(r.bundle)
    # failover-cluster-imds-captured also holds a Test-NetConnection transcript an engineer ran by hand; the
    # collector makes its own TCP probes instead, so that file is not part of what it gathers.
    want = {k: v for k, v in _vm_files(sample).items() if not k.startswith("commands/test_netconnection")}
    assert got.keys() - {"collect.log"} == want.keys()
    for k, v in want.items():
        assert got[k] == v, k
    # the zip on disk is what the VM announced
    import hashlib

    assert hashlib.sha256(r.zip_path.read_bytes()).hexdigest() == r.sha256
    assert r.zip_path.stat().st_size == r.size
    # exact HTTP round trips: Create, Command, one Send (the script fits), ceil(stdout / room) Receives, Signal, Delete
    receives = math.ceil(vm.last_run().stdout_total / WinrsServer.receive_room())
    expected = {"Create": 1, "Command": 1, "Send": 1, "Receive": receives, "Signal": 1, "Delete": 1}
    assert srv.counts() == expected
    assert r.round_trips == expected
    assert [q.status for q in srv.requests] == [200] * sum(expected.values())
    # the bundle opens cleanly and diagnoses like the sample itself
    b = kit.open_bundle(r.bundle)
    assert b.manifest["collector"]["mode"] == "winrm"
    assert b.manifest["collector"]["script_sha256"] == kit.collect.script.script_sha256()
    bad = b.issues[b.issues["kind"].isin(["hash-mismatch", "manifest-file-missing", "unlisted-file", "parser-error"])]
    assert bad.empty, bad
    expected_codes = sorted(json.loads((sample / "scenario.json").read_text(encoding="utf-8"))["expected_codes"])
    f = kit.diagnose(b)
    assert sorted(f[f["severity"] >= "warning"]["code"]) == expected_codes
    same = kit.diagnose(kit.open_bundle(sample))
    assert list(f[f["severity"] >= "warning"]["code"]) == list(same[same["severity"] >= "warning"]["code"])
    # the command line stayed a short bootstrap; the script went over stdin
    command, arguments = vm.commands[0]
    assert command == "powershell.exe" and len(" ".join(arguments)) < 8191


def test_bigger_bundle_takes_many_receives_and_caps_are_recorded(cert, tmp_path):
    disk = tmp_path / "vm"
    shutil.copytree(ROOT / "sample_logs" / "healthy", disk)
    plug = disk / "C/WindowsAzure/Logs/Plugins/Microsoft.Compute.CustomScriptExtension/1.10.15"
    (plug / "Other.log").write_bytes(os.urandom(300_000))
    (plug / "CustomScriptHandler.big.log").write_bytes(os.urandom(700_000))  # incompressible
    os.utime(plug / "Other.log", (1_700_000_000, 1_700_000_000))  # older: big.log comes first (newest first)
    vm = SampleVm(disk)
    with WinrsServer(vm, user=USER, password=PASSWORD, certfile=cert[0], keyfile=cert[1]) as srv:
        r = _collect(srv, cert, tmp_path / "out", per_file_bytes=400_000, total_bytes=500_000)
    assert r.ok, r.error
    room = WinrsServer.receive_room()
    assert srv.counts()["Receive"] == math.ceil(vm.last_run().stdout_total / room) >= 4
    m = json.loads((r.bundle / "manifest.json").read_text(encoding="utf-8"))
    by = {a["path"]: a for a in m["artifacts"]}
    big = by["C/WindowsAzure/Logs/Plugins/Microsoft.Compute.CustomScriptExtension/1.10.15/CustomScriptHandler.big.log"]
    other = by["C/WindowsAzure/Logs/Plugins/Microsoft.Compute.CustomScriptExtension/1.10.15/Other.log"]
    assert big["status"] == "truncated" and other["status"] == "skipped"  # per-file tail, then the total cap
    src = (disk / big["path"]).read_bytes()
    assert (r.bundle / big["path"]).read_bytes() == src[-400_000:] and big["original_size"] == len(src)
    assert not (r.bundle / other["path"]).exists() and other["original_size"] == 300_000
    assert m["artifacts"][0]["path"].startswith("commands/")  # the kit's own outputs come first
    assert by["C/WindowsAzure/Logs/WaAppAgent.log"]["status"] == "collected"  # must-collect files are never skipped
    assert by["C/WindowsAzure/Logs/TransparentInstaller.log"]["status"] == "missing"


def test_slow_vm_operation_timeouts_are_retried_until_done(cert, tmp_path):
    vm = SampleVm(ROOT / "sample_logs" / "healthy", delay_s=1.2)
    with WinrsServer(vm, user=USER, password=PASSWORD, certfile=cert[0], keyfile=cert[1],
                     max_operation_wait_s=0.25) as srv:
        r = _collect(srv, cert, tmp_path, operation_timeout_s=1, read_timeout_s=3)
    assert r.ok, r.error
    timed_out = [q for q in srv.requests if q.action == "Receive" and q.status == 500]
    assert len(timed_out) >= 3  # w:TimedOut faults, retried by the client within its deadline


def test_wrong_password(cert, tmp_path):
    srv = WinrsServer(SampleVm(SAMPLES[0]), user=USER, password=PASSWORD, certfile=cert[0], keyfile=cert[1])
    with srv, pytest.raises(AuthError, match="refused the credentials") as ei:
        _collect(srv, cert, tmp_path, password="wrong-password-xyz")
    assert "wrong-password-xyz" not in str(ei.value)
    assert srv.counts() == {"auth": 1}
    _assert_nothing_left(tmp_path)


def test_untrusted_certificate(cert, tmp_path):
    with WinrsServer(SampleVm(SAMPLES[0]), user=USER, password=PASSWORD, certfile=cert[0], keyfile=cert[1]) as srv:
        r = _collect(srv, cert, tmp_path, ca_file=None, raise_on_error=False)
        assert not r.ok and r.error_kind == "tls" and "--ca-file" in r.error
        assert srv.requests == []  # nothing was sent before the handshake failed
        ok = _collect(srv, cert, tmp_path / "insecure", ca_file=None, insecure=True)  # a lab VM
        assert ok.ok
    _assert_nothing_left(tmp_path / "nothing")


def test_connection_refused(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransportError, match="connection refused"):
        collect("127.0.0.1", port=port, user=USER, password=PASSWORD, transport="basic", out=tmp_path,
                interactive=False, insecure=True)
    _assert_nothing_left(tmp_path)


def test_stalled_vm_hits_the_deadline(cert, tmp_path):
    vm = SampleVm(SAMPLES[0], stall=True)
    with WinrsServer(vm, user=USER, password=PASSWORD, certfile=cert[0], keyfile=cert[1],
                     max_operation_wait_s=0.2) as srv:
        with pytest.raises(CollectionTimeout, match="deadline"):
            _collect(srv, cert, tmp_path, operation_timeout_s=1, read_timeout_s=2, deadline_s=1.5)
        counts = srv.counts()
    assert counts["Receive"] >= 3 and counts["Signal"] == 1 and counts["Delete"] == 1  # cleaned up on the VM
    _assert_nothing_left(tmp_path)


def test_connection_dropped_mid_transfer(cert, tmp_path):
    disk = tmp_path / "vm"
    shutil.copytree(ROOT / "sample_logs" / "healthy", disk)
    (disk / "C/WindowsAzure/Logs/Telemetry.log").write_bytes(os.urandom(500_000))
    srv = WinrsServer(SampleVm(disk), user=USER, password=PASSWORD, certfile=cert[0], keyfile=cert[1],
                      drop_after_receives=3)
    with srv, pytest.raises(TransportError, match="dropped") as ei:
        _collect(srv, cert, tmp_path / "out")
    # what arrived is kept as a partial bundle, named in the error: its whole files are the VM's, byte for byte
    kept = list((tmp_path / "out").iterdir())
    assert [p.name.endswith(".partial.zip") for p in kept] == [True], kept
    assert "a partial bundle was kept: " + str(kept[0]) in str(ei.value) and ei.value.partial == kept[0]
    from kit.bundle import open_bundle
    from kit.bundle.safezip import SafeZip

    vm_files = _vm_files(disk)
    with SafeZip(kept[0]) as z:
        whole = [n for n in z.names() if not z.members[n]._cut]
        assert whole and all(z.read(n) == vm_files[n] for n in whole if n in vm_files)
    b = open_bundle(kept[0])
    assert "zip-damaged" in set(b.issues["kind"])


def test_corrupted_chunk_is_refused(cert, tmp_path):
    with WinrsServer(SampleVm(SAMPLES[0], corrupt=True), user=USER, password=PASSWORD, certfile=cert[0],
                     keyfile=cert[1]) as srv, pytest.raises(TransferError, match="SHA-256"):
        _collect(srv, cert, tmp_path)
    _assert_nothing_left(tmp_path)


def test_remote_script_error_is_decoded(cert, tmp_path):
    msg = "Exception calling \"Open\" with \"4\" argument(s): \"Access to the path 'C:\\x' is denied.\""
    with WinrsServer(SampleVm(SAMPLES[0], fail=msg), user=USER, password=PASSWORD, certfile=cert[0],
                     keyfile=cert[1]) as srv, pytest.raises(RemoteScriptError) as ei:
        _collect(srv, cert, tmp_path)
    assert "Access to the path 'C:\\x' is denied." in str(ei.value)
    assert "CLIXML" not in str(ei.value) and "_x000D_" not in str(ei.value)
    _assert_nothing_left(tmp_path)


def test_several_vms_one_failing(cert, tmp_path):
    good1 = WinrsServer(SampleVm(SAMPLES[0]), user=USER, password=PASSWORD, certfile=cert[0], keyfile=cert[1])
    bad = WinrsServer(SampleVm(SAMPLES[1], fail="disk full"), user=USER, password=PASSWORD, certfile=cert[0],
                      keyfile=cert[1])
    good2 = WinrsServer(SampleVm(SAMPLES[2]), user=USER, password=PASSWORD, certfile=cert[0], keyfile=cert[1])
    with good1, bad, good2:
        hosts = [f"127.0.0.1:{good1.port}", f"localhost:{bad.port}", f"127.0.0.1:{good2.port}"]
        results = collect_many(hosts, password=PASSWORD, user=USER, transport="basic", ca_file=str(cert[0]),
                               out=tmp_path, progress=False, max_workers=3)
    ok1, failed, ok2 = results
    assert ok1.ok and ok2.ok and [r.host for r in results] == hosts
    assert not failed.ok and failed.error_kind == "script" and "disk full" in failed.error
    df = summary(results)
    assert list(df["ok"]) == [True, False, True] and str(df["error_kind"].dtype) == "category"
    assert sorted(p.name.rsplit("-", 1)[0] for p in tmp_path.glob("*.zip")) == sorted(
        [f"127.0.0.1_{good1.port}", f"127.0.0.1_{good2.port}"])
    assert not list(tmp_path.glob("localhost*"))


def test_many_vms_at_once_a_refused_one_does_not_stop_the_rest(cert, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    with WinrsServer(SampleVm(SAMPLES[0]), user=USER, password=PASSWORD, certfile=cert[0], keyfile=cert[1]) as srv:
        hosts = [f"127.0.0.1:{srv.port}", f"127.0.0.1:{dead_port}", f"localhost:{srv.port}"]
        results = collect_many(hosts, password=PASSWORD, user=USER, transport="basic", ca_file=str(cert[0]),
                               out=tmp_path, progress=True, max_workers=3)
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error_kind == "refused"
    assert srv.counts()["Create"] == 2 and srv.counts()["Delete"] == 2


def test_headless_run_without_credentials(tmp_path, monkeypatch):
    monkeypatch.delenv("VMKIT_PASSWORD", raising=False)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    with pytest.raises(CredentialError, match="VMKIT_PASSWORD"):
        collect("127.0.0.1", user=USER, out=tmp_path, interactive=False)
    res = collect_many(["a", "b"], user=USER, out=tmp_path, interactive=False, progress=False)
    assert [r.error_kind for r in res] == ["credentials", "credentials"]


def test_cli_collect_and_no_secret_anywhere(cert, tmp_path, monkeypatch, capsys, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("VMKIT_PASSWORD", PASSWORD)
    monkeypatch.setenv("VMKIT_USER", USER)
    with WinrsServer(SampleVm(SAMPLES[0]), user=USER, password=PASSWORD, certfile=cert[0], keyfile=cert[1]) as srv:
        inv = tmp_path / "hosts.txt"
        inv.write_text("# lab\n127.0.0.1\n", encoding="utf-8")
        rc = vmkit(["collect", "--inventory", str(inv), "--transport", "basic", "--port", str(srv.port),
                    "--ca-file", str(cert[0]), "--out", str(tmp_path / "b"), "--no-progress"])
        out = capsys.readouterr().out
        assert rc == 0 and "1 of 1 VMs collected" in out
        monkeypatch.setenv("VMKIT_PASSWORD", "Wr0ng-" + PASSWORD)
        rc = vmkit(["collect", "127.0.0.1", "--transport", "basic", "--port", str(srv.port), "--ca-file",
                    str(cert[0]), "--out", str(tmp_path / "c"), "--no-progress"])
        out2 = capsys.readouterr()
        assert rc == 1 and "auth" in out2.out
    blobs = [out, out2.out, out2.err, caplog.text]
    blobs += [p.read_bytes().decode("latin-1") for p in tmp_path.rglob("*") if p.is_file()]
    for blob in blobs:
        assert PASSWORD not in blob


def test_basic_over_plain_http_is_refused_by_default(tmp_path):
    from kit.errors import CollectionError

    with pytest.raises(CollectionError, match="unencrypted"):
        collect("127.0.0.1", user=USER, password=PASSWORD, transport="basic", scheme="http", out=tmp_path,
                interactive=False)
    with WinrsServer(SampleVm(SAMPLES[0]), user=USER, password=PASSWORD) as srv:  # a lab's AllowUnencrypted
        r = collect("127.0.0.1", port=srv.port, user=USER, password=PASSWORD, transport="basic", scheme="http",
                    allow_unencrypted=True, out=tmp_path, interactive=False)
    assert r.ok


def test_event_logs_travel_as_evtx_and_parse(cert, tmp_path):
    """The collector's 'files: event logs' step (wevtutil epl) as the emulated VM plays it: a VM whose disk has
    exported channels gives them in events/, and they parse into the events frame."""
    disk = tmp_path / "vm"
    shutil.copytree(ROOT / "sample_logs" / "healthy", disk)
    (disk / "events").mkdir()
    real = ROOT / "tests" / "shapes" / "events"
    evtx = sorted(real.glob("*.evtx"))[0]
    shutil.copy(evtx, disk / "events" / "System.evtx")
    with WinrsServer(SampleVm(disk), user=USER, password=PASSWORD, certfile=cert[0], keyfile=cert[1]) as srv:
        res = _collect(srv, cert, tmp_path / "out")
    assert (res.bundle / "events" / "System.evtx").read_bytes() == evtx.read_bytes()
    b = kit.open_bundle(res.bundle)
    assert len(b.events) > 0
    assert set(b.inventory.loc[b.inventory["path"] == "events/System.evtx", "artifact"]) == {"evtx"}
