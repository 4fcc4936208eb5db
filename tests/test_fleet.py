"""Fleet runs (issue 16): every core, Parquet written as results arrive, resumable, Dask, HTML summary."""

from __future__ import annotations

import re
import shutil
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from kit import cli, fleet
from kit.bundle import open_bundle
from kit.diagnose import diagnose

from .conftest import SAMPLES

#: Four samples with different findings (and one healthy) keep the runs short.
FEW = ["healthy", "cse-timeout-90min", "firewall-blocks-32526", "imds-route-secondary-nic"]


def _zip(folder: Path, dest: Path) -> Path:
    """The bundle folder as a zip (its files at the zip's root), written byte for byte."""
    out = dest / f"{folder.name}.zip"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                z.write(f, f.relative_to(folder).as_posix())
    return out


def _datasets(out: Path) -> dict[str, pd.DataFrame]:
    """Every dataset of a run, read with pandas, in a canonical order (rows sorted), run-dependent columns dropped."""
    res = {}
    for d in sorted(out.glob("*.parquet")):
        df = pd.read_parquet(d).drop(columns=["seconds", "path"], errors="ignore")
        df = df.sort_values(list(df.columns), key=lambda s: s.astype(str)).reset_index(drop=True)
        res[d.name] = df
    return res


def _assert_same(a: Path, b: Path) -> None:
    da, db = _datasets(a), _datasets(b)
    assert sorted(da) == sorted(db)
    for name in da:
        pd.testing.assert_frame_equal(da[name], db[name], obj=name)


@pytest.fixture(scope="module")
def serial_few(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("serial") / "out"
    s = fleet.run([SAMPLES / n for n in FEW], out, workers=1, html=False)
    assert (s.total, s.done, s.failed, s.skipped) == (4, 4, 0, 0)
    return out


def test_parallel_run_writes_what_a_serial_run_writes(serial_few: Path, tmp_path: Path) -> None:
    s = fleet.run([SAMPLES / n for n in FEW], tmp_path / "out", workers=2, html=False)
    assert (s.done, s.failed) == (4, 0)
    _assert_same(serial_few, tmp_path / "out")


def test_output_is_typed_and_matches_diagnose(serial_few: Path) -> None:
    data = fleet.load(serial_few)
    b = data.bundles
    assert list(b.columns) == fleet.BUNDLES.names
    assert str(b["collected_at"].dtype) == "datetime64[ns, UTC]" and b["ok"].dtype == bool
    assert b["n_error"].dtype == "int64" and str(b["vm"].dtype) == "str"
    # every dataset is written with the explicit Arrow schema
    import pyarrow.parquet as pq

    for part in (serial_few / "findings.parquet").glob("*.parquet"):
        assert pq.read_schema(part).remove_metadata() == fleet.arrow_schema(fleet.FINDINGS)
    # the findings are kit.diagnose's, VM by VM
    for name in FEW:
        with open_bundle(SAMPLES / name) as bundle:
            want = diagnose(bundle)
            vm = bundle.vm_name
        got = data.findings[data.findings["vm"] == vm]
        assert sorted(got["code"]) == sorted(want["code"]), name
    routes = data.frame("routes")
    assert {"bundle_hash", "vm", "destination", "metric"} <= set(routes.columns) and routes["vm"].nunique() == 4
    # counts in long form: one row per code, not one column per VM
    counts = fleet.code_counts(data)
    assert list(counts.columns) == ["code", "severity", "vms", "share", "findings"]
    assert counts.set_index("code").loc["EXTENSION_TIMEOUT", "vms"] == 1
    assert "healthy" not in " ".join(counts["code"])


def test_same_bundle_as_zip_or_folder_gives_the_same_findings_and_frames(tmp_path: Path) -> None:
    folder = SAMPLES / "healthy"
    z = _zip(folder, tmp_path)
    assert fleet.bundle_hash(z) != fleet.bundle_hash(folder)
    fleet.run([folder], tmp_path / "a", workers=1, html=False)
    fleet.run([z], tmp_path / "b", workers=1, html=False)
    da, db = _datasets(tmp_path / "a"), _datasets(tmp_path / "b")
    for name in da:
        cols = [c for c in da[name].columns if c != "bundle_hash"]
        if name == "bundles.parquet":
            cols = [c for c in cols if c not in ("files",)]  # a zip lists no folders; same files here anyway
        pd.testing.assert_frame_equal(da[name][cols], db[name][cols], obj=name)


def test_bundle_hash_follows_content_not_name(tmp_path: Path) -> None:
    a = shutil.copytree(SAMPLES / "healthy", tmp_path / "a")
    b = shutil.copytree(SAMPLES / "healthy", tmp_path / "renamed")
    assert fleet.bundle_hash(a) == fleet.bundle_hash(b) == fleet.bundle_hash(SAMPLES / "healthy")
    with (b / "README.md").open("ab") as fh:
        fh.write(b" ")
    assert fleet.bundle_hash(a) != fleet.bundle_hash(b)


def test_resume_skips_what_is_written_and_drops_uncommitted_parts(serial_few: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = fleet.run([SAMPLES / n for n in FEW[:2]], out, workers=1, html=False)
    assert (first.done, first.skipped) == (2, 0)
    # a part left by a run stopped before its bundles part was written is removed, not read twice
    stray = next((out / "findings.parquet").glob("part-*.parquet"))
    shutil.copy(stray, stray.with_name("part-stopped-run-00000.parquet"))
    (out / "routes.parquet" / "part-x.tmp").write_bytes(b"half")
    again = fleet.run([SAMPLES / n for n in FEW], out, workers=1, html=False)
    assert (again.total, again.done, again.skipped) == (4, 2, 2)
    assert not (out / "findings.parquet" / "part-stopped-run-00000.parquet").exists()
    assert not (out / "routes.parquet" / "part-x.tmp").exists()
    _assert_same(serial_few, out)
    third = fleet.run([SAMPLES / n for n in FEW], out, workers=1, html=False)
    assert (third.done, third.skipped) == (0, 4)
    # the same content under another name is a duplicate within a run, diagnosed once
    dup = shutil.copytree(SAMPLES / "healthy", tmp_path / "copy-of-healthy")
    s = fleet.run([SAMPLES / "healthy", dup], tmp_path / "dup", workers=1, html=False)
    assert (s.done, s.duplicates) == (1, 1)


def test_broken_zips_among_good_ones_cost_only_themselves(tmp_path: Path) -> None:
    src = tmp_path / "bundles"
    src.mkdir()
    for n in FEW[:2]:
        _zip(SAMPLES / n, src)
    (src / "broken.zip").write_bytes(b"PK\x03\x04 this is not a zip")
    good = _zip(SAMPLES / "proxy-intercepts-agent", tmp_path)
    (src / "truncated.zip").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (src / "empty-folder").mkdir()
    s = fleet.run([src], tmp_path / "out", workers=2, html=False)
    assert (s.total, s.done, s.failed) == (5, 5, 2)
    b = fleet.load(tmp_path / "out").bundles.set_index("vm")
    assert str(b["files"].dtype) == "Int64" and b.loc["broken", "files"] is pd.NA  # not float with NaN
    assert b.loc[["build-agent-03", "web-01"], "ok"].all()
    assert b.loc["broken", "error_kind"] == "unsafe-archive" and "broken.zip" in b.loc["broken", "error"]
    # a zip cut in half is read as far as it goes (its members from their local headers), its damage counted
    assert b.loc["truncated", "ok"] and b.loc["truncated", "issues"] >= 1 and pd.isna(b.loc["truncated", "error_kind"])
    assert b.loc["empty-folder", "error_kind"] == "not-a-bundle" and "no files at all" in b.loc["empty-folder", "error"]
    assert set(b["error_kind"].dropna()) <= set(fleet.ERROR_KINDS)


def test_a_crash_inside_the_kit_is_recorded_masked_and_the_run_goes_on(tmp_path: Path, monkeypatch) -> None:
    import kit.diagnose

    real = kit.diagnose.diagnose

    def flaky(bundle, **kw):
        if bundle.vm_name == "build-agent-03":
            raise RuntimeError("rule exploded near password=Hunter2-Secret-Value")
        return real(bundle, **kw)

    monkeypatch.setattr(kit.diagnose, "diagnose", flaky)
    s = fleet.run([SAMPLES / n for n in FEW[:2]], tmp_path / "out", workers=1, html=False)
    assert (s.done, s.failed) == (2, 1)
    b = fleet.load(tmp_path / "out").bundles.set_index("vm")
    assert b.loc["cse-timeout-90min", "error_kind"] == "crash"
    assert "RuntimeError" in b.loc["cse-timeout-90min", "error"]
    assert "Hunter2-Secret-Value" not in b.loc["cse-timeout-90min", "error"]
    assert b.loc["web-01", "ok"]


@pytest.mark.skipif(sys.platform != "linux", reason="the stand-in worker is inherited through fork")
def test_a_worker_that_dies_costs_its_bundle_only(tmp_path: Path, monkeypatch) -> None:
    import os

    real = fleet._work

    def dying(path, key, frames, min_severity):
        if path.endswith("firewall-blocks-32526"):
            os._exit(3)
        return real(path, key, frames, min_severity)

    dying.__module__, dying.__qualname__ = "kit.fleet", "_work"
    monkeypatch.setattr(fleet, "_work", dying)
    s = fleet.run([SAMPLES / n for n in FEW], tmp_path / "out", workers=2, html=False)
    b = fleet.load(tmp_path / "out").bundles.set_index("path")
    assert len(b) == 4 and s.done == 4
    assert b.loc[str(SAMPLES / "firewall-blocks-32526"), "error_kind"] == "worker-died"
    assert b["ok"].sum() == 3


def test_dask_local_cluster_writes_what_the_process_pool_writes(serial_few: Path, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc, \
            distributed.Client(lc) as client:
        s = fleet.run([SAMPLES / n for n in FEW], tmp_path / "out", client=client, html=False)
        assert (s.done, s.failed) == (4, 0)
        # the command line's --scheduler: its own client to the same cluster
        code = cli.main(["fleet", *(str(SAMPLES / n) for n in FEW), "--out", str(tmp_path / "cli"),
                         "--scheduler", lc.scheduler_address, "--no-html"])
        assert code == cli.EXIT_FINDINGS
    _assert_same(serial_few, tmp_path / "out")
    _assert_same(serial_few, tmp_path / "cli")


def test_cli_exit_codes(tmp_path: Path, capsys) -> None:
    assert cli.main(["fleet", str(SAMPLES / "healthy"), "--out", str(tmp_path / "a"), "-j", "1"]) == cli.EXIT_OK
    assert cli.main(["fleet", str(SAMPLES / "cse-timeout-90min"), "--out", str(tmp_path / "b"), "-j", "1",
                     "--no-html"]) == cli.EXIT_FINDINGS
    assert not (tmp_path / "b" / "summary.html").exists()
    (tmp_path / "bad.zip").write_bytes(b"not a zip at all")
    code = cli.main(["fleet", str(SAMPLES / "healthy"), str(tmp_path / "bad.zip"), "--out", str(tmp_path / "c"),
                     "-j", "1"])
    assert code == cli.EXIT_UNREADABLE
    err = capsys.readouterr().err
    assert "bad.zip" in err and "unsafe-archive" in err
    assert cli.main(["fleet", str(tmp_path / "no-such-*"), "--out", str(tmp_path / "d")]) == cli.EXIT_UNREADABLE


def test_summary_html_is_self_contained(serial_few: Path, tmp_path: Path) -> None:
    from kit.fleet_report import write_summary

    out = write_summary(fleet.load(serial_few), tmp_path / "summary.html")
    text = out.read_text(encoding="utf-8")
    assert "name='viewport'" in text and "EXTENSION_TIMEOUT" in text
    assert "<img" in text and "data:image/png;base64," in text
    # nothing a browser would fetch: no external src/href/url(), no script, stylesheet link or @import
    assert not re.search(r"""(?:src|href)\s*=\s*['"]?(?:https?:)?//""", text, re.IGNORECASE)
    assert not re.search(r"url\(|@import|<script|<link", text, re.IGNORECASE)


def test_summary_html_uses_the_reports_tested_look(serial_few: Path) -> None:
    from kit.fleet_report import render_summary
    from kit.report import CSS

    text = render_summary(fleet.load(serial_few))
    assert CSS in text  # the colours tests/test_report_contrast.py holds to >= 4.5:1
    assert re.search(r"<span class='sev error'>\d+ error</span>", text)
    assert "could not be read" in text and "by agent_version" in text


def test_onset_and_groups_long_form(serial_few: Path) -> None:
    data = fleet.load(serial_few)
    on = fleet.onset(data)
    assert list(on.columns) == ["code", "first_seen", "first_vm", "from_evidence", "vms"]
    assert on["first_seen"].is_monotonic_increasing and on["code"].is_unique
    assert str(on["first_seen"].dtype) == "datetime64[ns, UTC]"
    g = fleet.by_group(data, "agent_version")
    assert list(g.columns) == ["code", "group", "vms", "group_vms", "share"]
    assert (g["vms"] <= g["group_vms"]).all()
    ev = fleet.by_group(data, "ext_version", extension="Microsoft.Compute.CustomScriptExtension")
    assert not ev.empty and set(ev["code"]) >= {"EXTENSION_TIMEOUT"}
    with pytest.raises(fleet.KitError, match="cannot group by"):
        fleet.by_group(data, "no_such_column")
    out = fleet.outliers(data)
    assert set(out.columns) == {"vm", "bundle_hash", "code", "vms", "why"} and (out["vms"] == 1).all()


def test_diagnose_many_still_works() -> None:
    r = fleet.diagnose_many([SAMPLES / n for n in FEW[:2]])
    assert set(r.bundles["vm"]) == {"web-01", "build-agent-03"} and r.failures.empty
    assert "EXTENSION_TIMEOUT" in set(r.counts()["code"])
    assert not fleet.evidence_timeline(r).empty


def test_expand_folders_globs_and_single_bundles(tmp_path: Path) -> None:
    got = fleet.expand([SAMPLES])
    assert sorted(p.name for p in got) == sorted(p.parent.name for p in SAMPLES.glob("*/manifest.json"))
    assert fleet.expand([SAMPLES / "healthy"]) == [SAMPLES / "healthy"]
    assert fleet.expand([str(SAMPLES / "imds-*")]) == sorted(SAMPLES.glob("imds-*"))
    logs = tmp_path / "logs-copy"
    (logs / "Plugins").mkdir(parents=True)
    (logs / "WaAppAgent.log").write_text("x")
    assert fleet.expand([logs]) == [logs]  # a copy of C:\WindowsAzure\Logs is one bundle, not a folder of them


def test_docs_scale_documents_the_output_schema() -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "scale.md").read_text(encoding="utf-8")
    assert fleet.BUNDLES.to_markdown() in text and fleet.FINDINGS.to_markdown() in text
    assert all(f"`{k}`" in text for k in fleet.ERROR_KINDS)


def test_many_bundles_are_hashed_on_the_workers_as_in_this_process(tmp_path: Path) -> None:
    folders = fleet.expand([SAMPLES])
    paths = folders + [_zip(f, tmp_path) for f in folders]
    assert len(paths) >= 16  # enough for the pool (8 per worker)
    assert fleet._hash_all(paths, 2, None) == [fleet.bundle_hash(p) for p in paths]


def test_frames_list_is_data_and_takes_derived_frames(tmp_path: Path) -> None:
    s = fleet.run([SAMPLES / "cse-timeout-90min"], tmp_path / "out", workers=1, html=False,
                  frames=("routes", "extension_history", "no_such_frame"))
    assert s.done == 1
    names = sorted(p.name for p in (tmp_path / "out").glob("*.parquet"))
    assert names == ["bundles.parquet", "extension_history.parquet", "findings.parquet", "routes.parquet"]
    hist = fleet.load(tmp_path / "out").frame("extension_history")
    assert len(hist) == 2 and str(hist["ts"].dtype) == "datetime64[ns, UTC]" and hist["change"].dtype == "category"


def test_worker_results_cross_as_ipc_streams_unchanged() -> None:
    # what a worker sends back (Arrow IPC bytes) reads back as the very tables it built: types (dictionary,
    # tz-aware timestamps, nulls) and values
    res = fleet.diagnose_bundle(SAMPLES / "cse-timeout-90min", "k")
    tables = fleet.result_tables(res)
    assert {"bundles", "findings", "extension_operations"} <= set(tables)
    blobs = fleet.to_ipc(tables)
    assert all(isinstance(b, bytes) for b in blobs.values())
    back = fleet.from_ipc(blobs)
    assert set(back) == set(tables)
    for name, t in tables.items():
        assert back[name].schema.equals(t.schema, check_metadata=True), name
        assert back[name].equals(t), name
