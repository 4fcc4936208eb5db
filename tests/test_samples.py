"""Every sample bundle opens cleanly, its frames match their schemas, and it gives exactly its findings."""

from __future__ import annotations

import json
from pathlib import Path

import kit
from kit.parse import frame_schemas
from tests.conftest import SAMPLE_NAMES, expected_codes


def test_there_are_at_least_six_samples() -> None:
    assert {"healthy", "firewall-blocks-32526", "proxy-intercepts-agent", "cse-timeout-90min",
            "imds-route-secondary-nic", "failover-cluster-imds-captured"} <= set(SAMPLE_NAMES)


def test_sample_opens_cleanly(sample: Path) -> None:
    b = kit.open_bundle(sample)
    assert b.kind == "kit"
    inv = b.inventory
    artifacts = inv[inv["status"] != "meta"]
    assert artifacts["status"].isin(["parsed"]).all(), artifacts[artifacts["status"] != "parsed"][
        ["path", "status", "note"]]
    assert artifacts["sha256_ok"].all()
    assert b.issues.empty, b.issues
    assert b.missing.empty, b.missing
    assert b.collected_at is not None


def test_sample_frames_match_their_schemas(sample: Path) -> None:
    b = kit.open_bundle(sample)
    schemas = frame_schemas()
    frames = b.frames()
    for name in ("agent_log", "handler_log", "ext_status", "routes", "adapters", "ip_addresses", "proxy",
                 "tcp_probes", "http_probes", "services", "wireserver_versions"):
        assert name in frames, f"{sample.name}: no {name} frame"
    for name, df in frames.items():
        assert schemas[name].check_dtypes(df) == [], name
        schemas[name].validate(df)  # pandera, lazy: every problem at once


def test_sample_gives_exactly_its_findings(sample: Path) -> None:
    findings = kit.diagnose(kit.open_bundle(sample))
    raised = sorted(findings[findings["severity"] >= "warning"]["code"])
    assert raised == sorted(expected_codes(sample))
    for r in findings[findings["severity"] >= "warning"].itertuples():
        assert r.evidence_count > 0, f"{r.code} has no evidence"
        assert all(ev["source"] for ev in r.evidence), f"{r.code}: evidence without a file"


def test_sample_zip_opens_the_same(tmp_path: Path) -> None:
    import shutil

    src = Path(kit.__file__).parents[1] / "sample_logs" / "firewall-blocks-32526"
    z = shutil.make_archive(str(tmp_path / "bundle"), "zip", src)
    b = kit.open_bundle(z)
    assert b.kind == "kit"
    assert b.issues.empty
    codes = set(kit.diagnose(b)["code"])
    assert {"GUEST_FIREWALL_BLOCKS_WIRESERVER", "HOSTGAPLUGIN_UNREACHABLE"} <= codes


def test_manifest_lists_every_file(sample: Path) -> None:
    manifest = json.loads((sample / "manifest.json").read_text(encoding="utf-8"))
    listed = {a["path"] for a in manifest["artifacts"]}
    on_disk = {p.relative_to(sample).as_posix() for p in sample.rglob("*") if p.is_file()}
    assert on_disk - listed == {"manifest.json", "README.md", "scenario.json"}


def test_generator_is_deterministic(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(kit.__file__).parents[1] / "sample_logs"
    subprocess.run([sys.executable, str(root / "generate.py"), "--out", str(tmp_path)], check=True)
    for s in SAMPLE_NAMES:
        for p in (root / s).rglob("*"):
            if p.is_file():
                assert (tmp_path / s / p.relative_to(root / s)).read_bytes() == p.read_bytes(), p


HEAD_A = r"^\[[0-9]{8}\] \[\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}\.\d{2}\] \[[A-Z]+\]\s+\S"
HEAD_C = r"^\[[0-9]{8}\] \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z \[[A-Z]+\]\s+\S"
HANDLER = r"^\[\d+\+\d{8}\] \[\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}\.\d{2}\] \[[A-Z]+\] \S"
#: The Key Vault extension's service log (akvvm_service_*.log): the formats doc is silent; the layout of the Windows
#: logs quoted in MicrosoftDocs/azure-docs issues #66632 and #109667.
AKVVM = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}: <[a-z]+> \[[A-Za-z]+\]\t\S"


def test_samples_are_faithful_to_the_real_formats(sample: Path) -> None:
    """Checked with the formats doc's own head regexes (§12), independent of the kit's parsers."""
    import re

    for log in sample.glob("C/WindowsAzure/Logs/*.log"):
        data = log.read_bytes()
        assert data.endswith(b"\r\n") and b"\n" not in data.replace(b"\r\n", b""), f"{log}: not CRLF"
        last = None
        for line in data.decode("utf-8").split("\r\n")[:-1]:
            if re.match(HEAD_A, line) or re.match(HEAD_C, line):
                m = re.search(r"\d{4}-\d{2}-\d{2}T[\d:.]+Z|\d{2}/\d{2}/\d{4} [\d:.]+", line)
                stamp = m.group(0)
                if "/" in stamp:
                    mo, d, rest = stamp.split("/")
                    stamp = f"{rest[:4]}-{mo}-{d}T{rest[5:]}"
                assert last is None or stamp >= last, f"{log}: time goes backwards at {line!r}"
                last = stamp
            else:
                # continuations as the formats doc shows them: stack frames, inner exceptions, wrapped text (§1.4)
                assert line.startswith(("   ", "---> ", " or established", "System.")), f"{log}: {line!r}"
    for log in sample.glob("C/WindowsAzure/Logs/Plugins/*/*/*.log"):
        head = AKVVM if log.name.startswith("akvvm_service_") else HANDLER
        for line in log.read_bytes().decode("utf-8").split("\r\n")[:-1]:
            assert re.match(head, line), f"{log}: {line!r}"
    for txt in sample.glob("commands/*.txt"):
        data = txt.read_bytes()
        if data.startswith(b"\xff\xfe"):
            data = data[2:].decode("utf-16-le").encode("utf-8")
        assert b"\n" not in data.replace(b"\r\n", b""), f"{txt}: not CRLF"
    assert sum(p.stat().st_size for p in sample.rglob("*") if p.is_file()) < 500_000
