"""`vmkit` commands, the HTML report, the plots, and the generated docs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import kit
from kit import plots
from kit.cli import main
from tests.conftest import SAMPLE_NAMES, SAMPLES, copy_sample


def test_diagnose_exit_codes_and_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diagnose", str(SAMPLES / "healthy")]) == 0
    assert main(["diagnose", str(SAMPLES / "firewall-blocks-32526")]) == 1
    out = capsys.readouterr().out
    assert "GUEST_FIREWALL_BLOCKS_WIRESERVER" in out and "Fix:" in out and "learn.microsoft.com" in out
    assert main(["diagnose", str(SAMPLES / "nope")]) == 2


def test_diagnose_json_is_stable(capsys: pytest.CaptureFixture[str]) -> None:
    main(["diagnose", str(SAMPLES / "cse-timeout-90min"), "--json", "--min-severity", "warning"])
    data = json.loads(capsys.readouterr().out)
    assert [d["code"] for d in data] == ["EXTENSION_TIMEOUT", "EXTENSION_STUCK_TRANSITIONING"]
    for d in data:
        assert set(d) == {"code", "severity", "title", "summary", "evidence", "remediation", "docs"}
        assert {"artifact", "source", "line", "ts", "text"} == set(d["evidence"][0])


def test_console_script_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exe = shutil.which("vmkit")
    cmd = [exe] if exe else [sys.executable, "-m", "kit.cli"]
    r = subprocess.run([*cmd, "diagnose", str(SAMPLES / "proxy-intercepts-agent")], capture_output=True, text=True)
    assert r.returncode == 1 and "PROXY_INTERCEPTS_AGENT_TRAFFIC" in r.stdout


@pytest.mark.parametrize(("args", "code"), [(["diagnose", "healthy", "--json"], 0),
                                            (["diagnose", "firewall-blocks-32526", "--json"], 1),
                                            (["diagnose", "nope"], 2), (["--version"], 0), (["bogus"], 2)])
def test_process_entry_point_exits_fast_with_everything_written(
        args: list[str], code: int, capsys: pytest.CaptureFixture[str]) -> None:
    """`run()` ends the process with os._exit after main(): the output must be complete and the status main's."""
    args = [str(SAMPLES / a) if (SAMPLES / a).exists() or a == "nope" else a for a in args]
    r = subprocess.run([sys.executable, "-m", "kit.cli", *args], capture_output=True, text=True)
    assert r.returncode == code, r.stderr
    assert "Traceback" not in r.stderr
    if "--json" in args:
        assert main(args) == code
        assert json.loads(r.stdout) == json.loads(capsys.readouterr().out)


def test_process_entry_point_closed_pipe() -> None:
    """`vmkit diagnose ... | head -1`: the reader has left; no traceback, status 141 as after SIGPIPE."""
    p = subprocess.Popen([sys.executable, "-m", "kit.cli", "diagnose", str(SAMPLES / "keyvault-legacy-msi")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    assert p.stdout is not None and p.stderr is not None
    p.stdout.close()  # long before the first write: importing pandas alone takes longer
    err = p.stderr.read().decode()
    assert p.wait(timeout=60) == 141 and "Traceback" not in err, err


def test_report_from_the_process_entry_point_is_complete(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    r = subprocess.run([sys.executable, "-m", "kit.cli", "report", str(SAMPLES / "healthy"), "-o", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert out.read_text(encoding="utf-8").rstrip().endswith("</html>")


def test_inspect_and_parse(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["inspect", str(SAMPLES / "healthy")]) == 0
    assert "Frames:" in capsys.readouterr().out
    route = tmp_path / "route.txt"
    route.write_bytes((SAMPLES / "healthy/commands/route_print.txt").read_bytes())
    assert main(["parse", str(route)]) == 0
    out = capsys.readouterr().out
    assert "== routes:" in out and "== interfaces:" in out
    (tmp_path / "x.bin").write_bytes(b"\x00\x01")
    assert main(["parse", str(tmp_path / "x.bin")]) == 2


def test_report_is_self_contained(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert main(["report", str(SAMPLES / "failover-cluster-imds-captured"), "-o", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert "IMDS_ROUTE_CAPTURED_BY_LINK_LOCAL" in html
    assert html.count("data:image/png;base64,") >= 4
    # nothing fetched when opened offline: the one script is inline (sorting and filtering tables), none has a src
    assert html.count("<script") == html.count("<script>") == 1
    assert "http://" not in html.replace("http://168.63.129.16", "").replace("http://169.254.169.254", "")
    settings = (SAMPLES / "failover-cluster-imds-captured").rglob("*.settings")
    for s in settings:
        secret = json.loads(s.read_text())["runtimeSettings"][0]["handlerSettings"]["protectedSettings"]
        assert secret[:20] not in html


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_plots_render_on_every_sample(name: str, tmp_path: Path) -> None:
    b = kit.open_bundle(SAMPLES / name)
    findings = kit.diagnose(b)  # the findings plot runs no rule: the report passes them
    for title, fn in plots.REPORT_PLOTS:
        fig = fn(b, findings=findings)
        path = tmp_path / f"{title}.png"
        fig.savefig(path, dpi=60)
        assert path.stat().st_size > 2_000, title  # a PNG was written (an empty 7x2.8 in figure is ~800 bytes)
        drawn = [a for ax in fig.axes for a in (*ax.patches, *ax.lines, *ax.tables, *ax.collections, *ax.texts)]
        assert drawn, f"{title}: nothing drawn"
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_plots_say_what_is_missing(tmp_path: Path) -> None:
    d = copy_sample("healthy", tmp_path)
    for sub in ("commands", "probes", "C/WindowsAzure/Logs/Plugins"):
        shutil.rmtree(d / sub)
    (d / "manifest.json").unlink()
    b = kit.open_bundle(d)
    for fn, text in ((plots.routes, "No route table"), (plots.connectivity, "No TCP probes"),
                     (plots.extension_operations, "No extension handler logs")):
        fig = fn(b)
        texts = [t.get_text() for ax in fig.axes for t in ax.texts]
        assert any(text in t for t in texts), (fn.__name__, texts)
        fig.savefig(tmp_path / f"{fn.__name__}.png")


def test_agent_timeline_stays_readable_with_many_records(tmp_path: Path) -> None:
    d = copy_sample("healthy", tmp_path)
    log = d / "C/WindowsAzure/Logs/WaAppAgent.log"
    lines = [f"[00000020] 2024-03-08T0{h}:{m:02d}:{s:02d}.000Z [HEART] WindowsAzureGuestAgent Heartbeat."
             for h in range(5, 10) for m in range(60) for s in range(0, 60)]
    log.write_bytes(log.read_bytes() + ("\r\n".join(lines) + "\r\n").encode())
    b = kit.open_bundle(d)
    assert len(b.agent_log) > 15_000
    fig = plots.agent_timeline(b)
    patches = sum(len(ax.patches) for ax in fig.axes)
    assert patches < 2_000  # binned, not one artist per record
    fig.savefig(tmp_path / "t.png")


def test_generated_docs_are_current() -> None:
    from kit.docs import main as docs_main

    assert docs_main(["--check"]) == 0, "run `python -m kit.docs` and commit docs/"
