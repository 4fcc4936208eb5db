"""kit.live / `vmkit probe`: the live case against the WS-Management test server and the emulated VM on 127.0.0.1.

The VM behind the server (tests/vm_emulator.py) answers the kit's collector with the ``probe`` profile: the
network commands and probes of its sample, no files. A test changes the VM's sample while a watch runs (the fix
lands) or makes it stop answering.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest

import kit
from kit import live
from kit.cli import main as vmkit

from .vm_emulator import SampleVm
from .winrs_server import WinrsServer, make_cert

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_logs"
USER, PASSWORD = "vmkit", "S3cret-Pa55-do-not-log"
#: The endpoint each sample's fault leaves unreachable from the VM (the others are reachable).
FAULTS = {"healthy": set(), "firewall-blocks-32526": {"HostGAPlugin"}, "imds-route-secondary-nic": {"IMDS"},
          "failover-cluster-imds-captured": {"IMDS"}}


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    return make_cert(tmp_path_factory.mktemp("tls"))


def _connect(srv: WinrsServer, cert, **kw) -> live.LiveSession:
    args = dict(port=srv.port, user=USER, password=PASSWORD, transport="basic", ca_file=str(cert[0]),
                interactive=False)
    args.update(kw)
    return live.connect("127.0.0.1", **args)


@pytest.mark.parametrize("sample", sorted(FAULTS), ids=str)
def test_probe_gives_each_samples_verdict_in_seconds(sample: str, cert) -> None:
    vm = SampleVm(SAMPLES / sample)
    with WinrsServer(vm, user=USER, password=PASSWORD, certfile=cert[0], keyfile=cert[1]) as srv, \
            _connect(srv, cert) as session:
        started = time.monotonic()
        p = session.probe()
        took = time.monotonic() - started
    assert took < 10, took
    verdicts = dict(zip(p.reachability["endpoint"], p.reachability["verdict"].astype(str), strict=True))
    assert {e for e, v in verdicts.items() if v != "reachable"} == FAULTS[sample]
    assert all(verdicts[e] == "unreachable" for e in FAULTS[sample])
    # the probe profile: commands and probes, no log files; the same frames and rules as a collected bundle
    paths = set(p.bundle.inventory["path"])
    assert not any(x.startswith("C/") for x in paths)
    assert {"probes/tcp.json", "commands/route_print.txt"} <= paths
    assert vm.last_run().command == "powershell.exe"
    expected = set(json.loads((SAMPLES / sample / "scenario.json").read_text())["expected_codes"])
    network = {c for c in expected if c in set(kit.diagnose(kit.open_bundle(SAMPLES / sample))
                                               .query("family in @live.LIVE_FAMILIES")["code"])}
    assert network <= set(p.findings["code"])


def test_watch_shows_the_moment_the_fix_lands(cert) -> None:
    vm = SampleVm(SAMPLES / "firewall-blocks-32526")
    changes: list[str] = []
    updates: list[int] = []
    probes = {"n": 0}

    def sleep(_s: float) -> None:  # the customer removes the firewall rule after the second probe
        probes["n"] += 1
        if probes["n"] == 2:
            vm.bundle_dir = SAMPLES / "healthy"

    with WinrsServer(vm, user=USER, password=PASSWORD, certfile=cert[0], keyfile=cert[1]) as srv, \
            _connect(srv, cert) as session:
        w = session.watch(every=0.0, duration=60, on_change=changes.append,
                          on_update=lambda rows: updates.append(len(rows)), sleep=_stop_after(sleep, 4))
    rows = w.rows
    hg = rows[rows["endpoint"] == "HostGAPlugin"]
    assert hg["verdict"].astype(str).tolist() == ["unreachable", "unreachable", "reachable", "reachable"]
    assert w.stopped == "interrupted" and w.probes == 4 and updates == [3, 6, 9, 12]
    moved = [c for c in changes if "HostGAPlugin: unreachable -> reachable" in c]
    assert len(moved) == 1
    assert moved[0].startswith(hg["probed_at"].iloc[2].strftime("%H:%M:%S"))
    # one line per change, not per probe: 3 first verdicts + the one change
    assert len(changes) == 4
    assert rows["probed_at"].is_monotonic_increasing and str(rows["probed_at"].dt.tz) == "UTC"


def _stop_after(sleep, probes: int):
    """A sleep that interrupts the watch (as Ctrl-C would) once ``probes`` probes have been made."""
    calls = {"n": 0}

    def inner(s: float) -> None:
        calls["n"] += 1
        sleep(s)
        if calls["n"] >= probes:
            raise KeyboardInterrupt

    return inner


def test_a_vm_that_stops_answering_mid_watch_is_a_no_answer_row_and_the_watch_goes_on(cert) -> None:
    vm = SampleVm(SAMPLES / "healthy")
    n = {"i": 0}

    def sleep(_s: float) -> None:
        n["i"] += 1
        vm.stall = n["i"] == 1  # the second probe gets no answer; the third does again
        if n["i"] == 3:
            raise KeyboardInterrupt

    with WinrsServer(vm, user=USER, password=PASSWORD, certfile=cert[0], keyfile=cert[1],
                     max_operation_wait_s=0.2) as srv, \
            _connect(srv, cert, operation_timeout_s=1, read_timeout_s=2, deadline_s=1.5) as session:
        w = session.watch(every=0.0, duration=60, sleep=sleep)
    per_probe = w.rows.groupby("probe")["verdict"].agg(lambda v: set(v.astype(str)))
    assert per_probe.tolist() == [{"reachable"}, {"no-answer"}, {"reachable"}]
    lost = w.rows[w.rows["verdict"] == "no-answer"]
    assert set(lost["error_kind"]) == {"timeout"} and lost["reason"].str.contains("deadline").all()
    assert PASSWORD not in w.rows.to_string()


def test_cli_probe_prints_a_verdict_per_endpoint(cert, monkeypatch, capsys) -> None:
    monkeypatch.setenv("VMKIT_PASSWORD", PASSWORD)
    with WinrsServer(SampleVm(SAMPLES / "firewall-blocks-32526"), user=USER, password=PASSWORD, certfile=cert[0],
                     keyfile=cert[1]) as srv:
        rc = vmkit(["probe", "127.0.0.1", "--user", USER, "--transport", "basic", "--port", str(srv.port),
                    "--ca-file", str(cert[0])])
    out = capsys.readouterr().out
    assert rc == 1
    lines = {ln.split()[0]: ln for ln in out.splitlines() if ln.startswith("  ") and ln.split()}
    assert "UNREACHABLE" in lines["HostGAPlugin"] and "forbidden" in lines["HostGAPlugin"]
    assert "REACHABLE" in lines["WireServer"] and "UNREACHABLE" not in lines["WireServer"]
    assert "HOSTGAPLUGIN_UNREACHABLE" in out
    assert PASSWORD not in out


def test_cli_probe_wrong_password_exits_2(cert, monkeypatch, capsys) -> None:
    monkeypatch.setenv("VMKIT_PASSWORD", "Wr0ng-" + PASSWORD)
    with WinrsServer(SampleVm(SAMPLES / "healthy"), user=USER, password=PASSWORD, certfile=cert[0],
                     keyfile=cert[1]) as srv:
        rc = vmkit(["probe", "127.0.0.1", "--user", USER, "--transport", "basic", "--port", str(srv.port),
                    "--ca-file", str(cert[0])])
    err = capsys.readouterr().err
    assert rc == 2 and "refused the credentials" in err and PASSWORD not in err


def test_a_probe_compares_with_a_collected_bundle(cert, tmp_path) -> None:
    """Compare a bundle collected before the fix with a probe made after it."""
    with WinrsServer(SampleVm(SAMPLES / "healthy"), user=USER, password=PASSWORD, certfile=cert[0],
                     keyfile=cert[1]) as srv, _connect(srv, cert, keep=tmp_path / "kept") as session:
        p = session.probe()
        c = kit.compare(SAMPLES / "firewall-blocks-32526", p.bundle)
    resolved = set(c.findings.loc[c.findings["status"] == "resolved", "code"])
    assert {"GUEST_FIREWALL_BLOCKS_WIRESERVER", "HOSTGAPLUGIN_UNREACHABLE"} <= resolved
    assert len(list((tmp_path / "kept").glob("*-probe.zip"))) == 1


def test_watch_plot_draws_each_verdict_lane() -> None:
    from kit import plots

    t = pd.Timestamp("2026-12-06 10:00:00", tz="UTC")
    rows = live._rows_frame([
        {"probed_at": t + pd.Timedelta(seconds=10 * i), "probe": i + 1, "endpoint": e, "verdict": v, "reason": "x"}
        for i, vs in enumerate([("unreachable", "reachable"), ("reachable", "reachable"), ("no-answer", "no-answer")])
        for e, v in zip(("HostGAPlugin", "IMDS"), vs, strict=True)])
    fig = plots.watch(rows)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["HostGAPlugin", "IMDS"]
    assert len(ax.patches) == 6
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"unreachable", "reachable", "no-answer"}


def test_probe_over_ntlm_with_message_encryption_the_default_for_azure_vms() -> None:
    """HTTP 5985 + NTLM sealing (what an Azure VM has without an HTTPS listener), end to end."""
    import warnings

    from kit.collect.remote import HttpEncryptionWarning

    with WinrsServer(SampleVm(SAMPLES / "imds-route-secondary-nic"), user=USER, password=PASSWORD,
                     auth="ntlm") as srv, warnings.catch_warnings():
        warnings.simplefilter("ignore", HttpEncryptionWarning)
        with live.connect("127.0.0.1", port=srv.port, scheme="http", user=USER, password=PASSWORD,
                          interactive=False) as session:
            p = session.probe()
    verdicts = dict(zip(p.reachability["endpoint"], p.reachability["verdict"].astype(str), strict=True))
    assert verdicts == {"WireServer": "reachable", "HostGAPlugin": "reachable", "IMDS": "unreachable"}


def test_notebook_verify_probes_the_vm_and_compares(cert, capsys) -> None:
    """The notebooks' "Fix and verify" cell: probe the VM now and compare with the bundle diagnosed before."""
    import kit.notebook

    with WinrsServer(SampleVm(SAMPLES / "healthy"), user=USER, password=PASSWORD, certfile=cert[0],
                     keyfile=cert[1]) as srv:
        c = kit.notebook.verify(kit.open_bundle(SAMPLES / "firewall-blocks-32526"), host="127.0.0.1",
                                port=srv.port, user=USER, password=PASSWORD, transport="basic",
                                ca_file=str(cert[0]), interactive=False)
    assert {"GUEST_FIREWALL_BLOCKS_WIRESERVER", "HOSTGAPLUGIN_UNREACHABLE"} <= set(
        c.findings.loc[c.findings["status"] == "resolved", "code"])
    assert "Resolved (" in capsys.readouterr().out


def test_notebook_verify_and_compare_earlier_without_input_say_what_to_set(capsys) -> None:
    import kit.notebook

    b = kit.open_bundle(SAMPLES / "healthy")
    assert kit.notebook.verify(b) is None and "VERIFY_HOST" in capsys.readouterr().out
    assert kit.notebook.compare_earlier(None, b) is None and "EARLIER" in capsys.readouterr().out
    c = kit.notebook.compare_earlier("sample_logs/firewall-blocks-32526", b)  # relative to the repository
    assert "GUEST_FIREWALL_BLOCKS_WIRESERVER" in set(c.findings.loc[c.findings["status"] == "resolved", "code"])
