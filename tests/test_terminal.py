"""Issue 19, the terminal: evidence is wrapped at spaces, never cut inside an address, number or path; a long text
ends with a marked cut; a filtered run says how many findings it hid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kit.cli import _evidence_lines, main

SAMPLES = Path(__file__).parent.parent / "sample_logs"


def test_firewall_evidence_shows_the_whole_address(capsys: pytest.CaptureFixture[str]) -> None:
    """`remote_address=16` was printed where the rule says 168.63.129.16 (evidence cut at 160 characters)."""
    main(["diagnose", str(SAMPLES / "firewall-blocks-32526")])
    out = capsys.readouterr().out
    assert "remote_address=168.63.129.16" in out
    assert not re.search(r"remote_address=1[0-9]?\b(?!\.)", out)


def test_evidence_is_wrapped_at_spaces_and_a_cut_is_marked() -> None:
    path = r"C:\Packages\Plugins\Microsoft.Compute.CustomScriptExtension\1.10.15\Downloads\0\very-long-script-name.ps1"
    text = " ".join([path] * 12)
    lines = _evidence_lines(text)
    assert len(lines) == 4 and lines[-1].rstrip().endswith("more characters)") and " … (" in lines[-1]
    for ln in lines:
        words = ln.replace(" … (", " ").split()
        assert all(w == path or not w.startswith("C:") for w in words), ln  # no path split across lines
    assert _evidence_lines("short text") == ["             short text"]


def test_filtered_run_says_what_it_hid(capsys: pytest.CaptureFixture[str]) -> None:
    main(["diagnose", str(SAMPLES / "firewall-blocks-32526"), "--min-severity", "error"])
    out = capsys.readouterr().out
    assert re.search(r"Hidden by --min-severity error: \d+ finding\(s\) \(\d+ info\)\.", out)
    main(["diagnose", str(SAMPLES / "firewall-blocks-32526")])
    assert "Hidden by" not in capsys.readouterr().out


def test_print_script_prints_the_script_itself(capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    from kit.collect import script_path

    assert main(["collect", "--print-script"]) == 0
    captured = capfdbinary.readouterr()
    assert captured.out == script_path().read_bytes()
    assert str(script_path()).encode() in captured.err


def test_a_run_killed_by_the_agent_ends_at_the_kill_line() -> None:
    """Issue 19: the agent's own "has not exited on time! Killing it..." line is the timeout's first evidence and
    its end, not an unexplained error."""
    import kit

    f = kit.diagnose(SAMPLES / "cse-timeout-90min")
    t = f[f["code"] == "EXTENSION_TIMEOUT"]
    assert len(t) == 1
    assert "killed by the agent at 2024-09-03 13:51:07 UTC, after 90 min" in t["summary"].iloc[0]
    first = t["evidence"].iloc[0][0]
    assert first["source"] == "C/WindowsAzure/Logs/WaAppAgent.log" and first["line"] == 47
    assert "AGENT_LOG_ERRORS" not in set(f["code"])


def test_vmkit_parse_prints_a_readable_table(capsys: pytest.CaptureFixture[str]) -> None:
    """Raw pandas was printed: lines of 237 to 1,343 characters, NaN and <NA> mixed, '23 rows' while showing 20."""
    assert main(["parse", str(SAMPLES / "healthy" / "commands" / "route_print.txt"), "--rows", "5"]) == 0
    out = capsys.readouterr().out
    assert "== routes: 18 row(s), showing the first 5 from route_print.txt" in out
    assert "NaN" not in out and "<NA>" not in out
    assert max(len(line) for line in out.splitlines()) <= 160
    assert "same in every row shown: origin=route_print" in out


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_vmkit_parse_writes_machine_formats(tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    import pandas as pd

    src = str(SAMPLES / "healthy" / "commands" / "services.json")
    out = tmp_path / f"services.{fmt}"
    assert main(["parse", src, "-f", fmt, "-o", str(out)]) == 0
    back = {"csv": pd.read_csv, "json": lambda p: pd.read_json(p, lines=True), "parquet": pd.read_parquet}[fmt](out)
    assert list(back["name"]) == ["WindowsAzureGuestAgent", "RdAgent"]
    if fmt != "parquet":
        capsys.readouterr()
        assert main(["parse", src, "-f", fmt]) == 0
        assert "WindowsAzureGuestAgent" in capsys.readouterr().out
    else:
        assert main(["parse", src, "-f", "parquet"]) == 2  # binary never to a terminal


def test_diagnose_leads_with_the_symptom_and_its_ranked_causes(capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 15 part 4: the symptom and its causes first, then the findings, as before."""
    main(["diagnose", str(SAMPLES / "firewall-blocks-32526")])
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[2].startswith("Symptom: agent Not Ready")
    assert lines[3] == "Likely causes, best supported first:"
    assert lines[4].startswith("  1. WireServer (168.63.129.16) or HostGAPlugin is blocked or unreachable "
                               "[GUEST_FIREWALL_BLOCKS_WIRESERVER]")
    assert out.index("Findings:") < out.index("[ERROR   ] GUEST_FIREWALL_BLOCKS_WIRESERVER")
    assert max(len(line) for line in lines[:out[: out.index("Findings:")].count("\n")]) <= 120
    main(["diagnose", str(SAMPLES / "healthy")])
    out = capsys.readouterr().out
    assert "Symptom: agent Not Ready" in out and "No cause found in this bundle." in out
    assert "Likely causes" not in out


def test_an_incomplete_bundle_says_so_under_its_header(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A collection that stopped part-way (the kit manifest says partial) and a zip cut short are named right under
    the header line, before any cause; a complete bundle has no such line."""
    import io
    import json
    import shutil
    import zipfile

    main(["diagnose", str(SAMPLES / "healthy")])
    assert "Incomplete:" not in capsys.readouterr().out

    partial = tmp_path / "partial"
    shutil.copytree(SAMPLES / "healthy", partial)
    manifest = json.loads((partial / "manifest.json").read_text())
    manifest.update(status="partial", partial_reason="the collection was stopped before it finished",
                    pending=["files: agent logs"])
    (partial / "manifest.json").write_text(json.dumps(manifest))
    main(["diagnose", str(partial)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Bundle ") and lines[1].startswith("Incomplete: partial collection: 1 step(s) never "
                                                                  "ran: files: agent logs")

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted((SAMPLES / "healthy").rglob("*")):
            if f.is_file():
                z.write(f, f.relative_to(SAMPLES / "healthy").as_posix())
    data = buf.getvalue()
    cut = tmp_path / "cut.zip"
    cut.write_bytes(data[: data.find(b"PK\x01\x02")])
    main(["diagnose", str(cut)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("Incomplete: the zip was cut short (no central directory)")


def test_the_report_names_an_incomplete_bundle_too(tmp_path: Path) -> None:
    import json
    import shutil

    from kit.bundle import open_bundle
    from kit.report import render_report

    assert "class='incomplete'" not in render_report(open_bundle(SAMPLES / "healthy"))
    partial = tmp_path / "partial"
    shutil.copytree(SAMPLES / "healthy", partial)
    manifest = json.loads((partial / "manifest.json").read_text())
    manifest.update(status="partial", pending=["files: agent logs"])
    (partial / "manifest.json").write_text(json.dumps(manifest))
    html = render_report(open_bundle(partial))
    assert ("<p class='incomplete'><strong>Incomplete: partial collection: 1 step(s) never ran: files: agent "
            "logs") in html
