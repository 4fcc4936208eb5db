"""Every notebook runs headlessly on a real kernel against the sample bundles, and shows what matters."""

from __future__ import annotations

import json
from pathlib import Path

import jupytext
import pytest

pytestmark = [pytest.mark.notebook, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SAMPLES = ROOT / "sample_logs"
ALL = sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]-*.py"))


def run(name: str, tmp_path: Path, **params) -> str:
    """Execute notebook ``name`` with papermill; return all its outputs as one text blob."""
    import papermill

    nb = jupytext.read(NOTEBOOKS / f"{name}.py")
    src = tmp_path / f"{name}.ipynb"
    out = tmp_path / f"{name}-out.ipynb"
    jupytext.write(nb, src)
    papermill.execute_notebook(str(src), str(out), parameters=params, cwd=str(NOTEBOOKS),
                               kernel_name="python3", execution_timeout=300, progress_bar=False)
    data = json.loads(out.read_text(encoding="utf-8"))
    texts = []
    for cell in data["cells"]:
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                raise AssertionError(f"{name}: cell failed: {o.get('ename')}: {o.get('evalue')}")
            texts.append("".join(o.get("text", "")))
            for mime in ("text/plain", "text/html", "text/markdown"):
                texts.append("".join(o.get("data", {}).get(mime, "")))
    return "\n".join(texts)


def test_paired_ipynb_files_are_in_sync() -> None:
    for name in ALL:
        py = jupytext.read(NOTEBOOKS / f"{name}.py")
        ipynb_path = NOTEBOOKS / f"{name}.ipynb"
        assert ipynb_path.exists(), f"{name}.ipynb missing: run `jupytext --sync notebooks/{name}.py`"
        ipynb = jupytext.read(ipynb_path)
        assert [c.source for c in py.cells] == [c.source for c in ipynb.cells], f"{name}: .py and .ipynb differ"
        raw = json.loads(ipynb_path.read_text(encoding="utf-8"))
        assert all(not c.get("outputs") for c in raw["cells"]), f"{name}.ipynb is committed with outputs"
        tags = [c.metadata.get("tags", []) for c in py.cells]
        assert any("parameters" in t for t in tags), f"{name} has no `parameters` cell"


def test_start_here_on_firewall_sample_shows_the_firewall_finding(tmp_path: Path) -> None:
    text = run("00-start-here", tmp_path, BUNDLE=str(SAMPLES / "firewall-blocks-32526"),
               REPORT=str(tmp_path / "report.html"))
    assert "GUEST_FIREWALL_BLOCKS_WIRESERVER" in text
    assert "02-network-wireserver-imds" in text  # the walkthrough link
    assert (tmp_path / "report.html").stat().st_size > 10_000


def test_start_here_on_healthy_sample_shows_no_walkthrough(tmp_path: Path) -> None:
    text = run("00-start-here", tmp_path, BUNDLE=str(SAMPLES / "healthy"), REPORT=str(tmp_path / "r.html"))
    assert "No finding at warning or above" in text


def test_extension_timeout_walkthrough(tmp_path: Path) -> None:
    text = run("01-extension-timeout", tmp_path, BUNDLE=str(SAMPLES / "cse-timeout-90min"),
               KEYVAULT_BUNDLE=str(SAMPLES / "keyvault-legacy-msi"))
    assert "EXTENSION_TIMEOUT" in text
    assert "Microsoft.Compute.CustomScriptExtension" in text
    for code in ("KEYVAULT_CERT_URL_INVALID", "LEGACY_MSI_EXTENSION", "EXTENSION_OS_UNSUPPORTED"):
        assert code in text  # the catalog section explains the extension and identity codes
    # Step 6, on the Key Vault sample: version history, certificate URLs, the IMDS article's attested document
    assert "3.0.2161.37" in text and "/certificates/ path" in text and "testsubdomain.metadata.azure.com" in text


def test_network_walkthrough(tmp_path: Path) -> None:
    text = run("02-network-wireserver-imds", tmp_path, BUNDLE=str(SAMPLES / "proxy-intercepts-agent"))
    assert "PROXY_INTERCEPTS_AGENT_TRAFFIC" in text


def test_empty_tables_say_why_on_a_healthy_vm(tmp_path: Path) -> None:
    """Issue 19, part 5: a table with no row says why instead of showing an empty frame."""
    text = run("02-network-wireserver-imds", tmp_path, BUNDLE=str(SAMPLES / "healthy"))
    assert "Empty DataFrame" not in text
    assert "no network finding in this bundle" in text
    assert "is a WireServer or HostGAPlugin connection failure" in text
    assert "168.63.129.16 port 80" in text and "168.63.129.16 port 32526" in text
    assert "list of enabled outbound block rules is empty" in text
    text = run("03-route-misconfiguration", tmp_path, BUNDLE=str(SAMPLES / "healthy"))
    assert "Empty DataFrame" not in text and "no route finding in this bundle" in text


def test_papermill_from_the_repository_root_with_a_relative_bundle(tmp_path: Path, monkeypatch) -> None:
    """The notebooks' default BUNDLE is written for notebooks/; run from the repository root it is still found."""
    import papermill

    monkeypatch.chdir(ROOT)
    nb = jupytext.read(NOTEBOOKS / "03-route-misconfiguration.py")
    src, out = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    jupytext.write(nb, src)
    papermill.execute_notebook(str(src), str(out), parameters={"BUNDLE": "../sample_logs/imds-route-secondary-nic"},
                               cwd=str(ROOT), kernel_name="python3", execution_timeout=300, progress_bar=False)
    assert "IMDS_ROUTE_WRONG_INTERFACE" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(("sample", "code"), [("imds-route-secondary-nic", "IMDS_ROUTE_WRONG_INTERFACE"),
                                              ("failover-cluster-imds-captured", "IMDS_ROUTE_CAPTURED_BY_LINK_LOCAL")])
def test_route_walkthrough(tmp_path: Path, sample: str, code: str) -> None:
    text = run("03-route-misconfiguration", tmp_path, BUNDLE=str(SAMPLES / sample))
    assert code in text


def test_postmortem_over_all_samples(tmp_path: Path) -> None:
    text = run("04-postmortem-many-bundles", tmp_path, BUNDLES=str(SAMPLES))
    for code in ("GUEST_FIREWALL_BLOCKS_WIRESERVER", "EXTENSION_TIMEOUT", "IMDS_ROUTE_CAPTURED_BY_LINK_LOCAL"):
        assert code in text


def test_training_checks_right_and_wrong_answers(tmp_path: Path) -> None:
    from kit.training import exercises

    # The notebook's own text must not give the answers away.
    source = (NOTEBOOKS / "05-training-exercises.py").read_text(encoding="utf-8")
    from tests.training_answers import ANSWERS

    for ex_id, answer in ANSWERS.items():
        assert str(answer) not in source, f"{ex_id}: the answer appears in the notebook"
    assert set(ANSWERS) == set(exercises())
    text = run("05-training-exercises", tmp_path, SAMPLES=str(SAMPLES), ANSWERS=ANSWERS)
    assert text.count("✅") == len(ANSWERS)
    wrong = {k: "WRONG_ANSWER" for k in ANSWERS}
    text = run("05-training-exercises", tmp_path, SAMPLES=str(SAMPLES), ANSWERS=wrong)
    assert "✅" not in text and text.count("❌") == len(ANSWERS)


def test_start_here_collects_live_over_winrm_without_showing_the_password(tmp_path: Path, monkeypatch) -> None:
    from tests.vm_emulator import SampleVm
    from tests.winrs_server import WinrsServer, make_cert

    password = "Nb-S3cret-never-shown"
    cert, key = make_cert(tmp_path)
    monkeypatch.setenv("VMKIT_PASSWORD", password)  # the kernel inherits it; it is never a notebook parameter
    with WinrsServer(SampleVm(SAMPLES / "firewall-blocks-32526"), user="vmkit", password=password,
                     certfile=cert, keyfile=key) as srv:
        text = run("00-start-here", tmp_path, HOST="127.0.0.1", USER="vmkit", TRANSPORT="basic", PORT=srv.port,
                   CA_FILE=str(cert), OUT=str(tmp_path / "collected"), REPORT=str(tmp_path / "report.html"))
    assert "127.0.0.1: ok" in text and "GUEST_FIREWALL_BLOCKS_WIRESERVER" in text
    assert srv.counts()["Create"] == 1
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert password.encode() not in f.read_bytes(), f
