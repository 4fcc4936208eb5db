"""The extension_operations frame (kit.derive.operations) and EXTENSION_TIMEOUT read from it only.

Each case is the healthy sample with one extension's files added (tests/shapes/operations/SOURCES.md names the real
sources of the shapes): the two reported defects (a DSC run that completed successfully reported as a time-out; an
agent extension 35 minutes in 'transitioning' across aggregate-status snapshots not reported), sources that disagree
in both directions, near misses, and unknown data that must stay unknown.
"""

from __future__ import annotations

import ast
import copy
import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

import kit
from kit.derive import DERIVED
from kit.derive.operations import BUDGETS, EXTENSION_OPERATIONS, budget_basis, extension_operations
from kit.diagnose.engine import diagnose
from tests.conftest import make_bundle

ROOT = Path(__file__).resolve().parent.parent
HEALTHY = ROOT / "sample_logs" / "healthy"
SHAPES = ROOT / "tests" / "shapes" / "operations"
DSC = "Microsoft.Powershell.DSC"
DSC_LOG = f"C/WindowsAzure/Logs/Plugins/{DSC}/2.76.0.0/DscExtensionHandler.0.20240308-060000.log"
DSC_STATUS = f"C/Packages/Plugins/{DSC}/2.76.0.0/Status/0.status"
AMA = "Microsoft.Azure.Monitor.AzureMonitorWindowsAgent"
AGG = "C/WindowsAzure/Logs/AggregateStatus/"
COLLECTED = "2024-03-08T10:15:04.512Z"  # the healthy sample's collection time


def _healthy_files() -> dict[str, bytes]:
    return {p.relative_to(HEALTHY).as_posix(): p.read_bytes() for p in sorted(HEALTHY.rglob("*"))
            if p.is_file() and p.name not in ("manifest.json", "scenario.json", "README.md")}


def _bundle(tmp_path: Path, extra: dict[str, bytes | str], *, collected_at: str = COLLECTED,
            drop: tuple[str, ...] = ()) -> kit.Bundle:
    files: dict[str, bytes | str] = {k: v for k, v in _healthy_files().items() if not k.startswith(drop or ("\0",))}
    files.update(extra)
    return kit.open_bundle(make_bundle(tmp_path / "b", files, manifest=True, collected_at=collected_at))


def _t(hhmm: str, s: int = 0) -> dt.datetime:
    h, m = map(int, hhmm.split(":"))
    return dt.datetime(2024, 3, 8, h, m, s, tzinfo=dt.UTC)


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def snapshot(at: dt.datetime, status: str, *, status_time: dt.datetime, ext: str = AMA, version: str = "1.22.0.0",
             seq: int = 0, operation: str = "Enable") -> tuple[str, str]:
    """(path, text) of an aggregate-status snapshot taken at ``at`` showing ``ext`` in ``status`` (the healthy
    sample's aggregatestatus.json with its handlers replaced; see SOURCES.md)."""
    raw = (HEALTHY / "C/WindowsAzure/Logs/AggregateStatus/aggregatestatus.json").read_text("utf-8")
    doc = json.loads(raw.rstrip("\0"))  # the sample's file is NUL-padded, as the agent's are (formats doc §6.3)
    doc["timestampUTC"] = _iso(at)
    doc["aggregateStatus"]["guestAgentStatus"]["lastStatusUploadTime"] = _iso(at)
    doc["aggregateStatus"]["handlerAggregateStatus"] = [{
        "handlerName": ext, "handlerVersion": version, "status": "Ready",
        "runtimeSettingsStatus": {"sequenceNumber": seq, "settingsStatus": {
            "timestampUTC": _iso(status_time),
            "status": {"name": ext, "operation": operation, "status": status}}}}]
    name = f"aggregatestatus_{at.strftime('%Y%m%d%H%M%S')}{at.microsecond // 1000:03d}.json"
    return AGG + name, json.dumps(doc, indent=2)


def snapshots(states: list[tuple[str, str]], *, since: str) -> dict[str, str]:
    """Snapshots at the given times (HH:MM) with the given states; a transitioning status keeps its first time."""
    out = {}
    for hhmm, state in states:
        path, text = snapshot(_t(hhmm), state, status_time=_t(since) if state == "transitioning" else _t(hhmm))
        out[path] = text
    return out


def _dsc_log(*, completed: bool = True) -> str:
    text = (SHAPES / "dsc-completed.DscExtensionHandler.log").read_bytes().decode("utf-8")
    if not completed:  # the same run, cut before its completion records
        text = "\r\n".join(text.split("\r\n")[:18]) + "\r\n"
    return text


def _ops(b: kit.Bundle, ext: str) -> pd.DataFrame:
    ops = b.frame("extension_operations")
    return ops[(ops["extension"] == ext).fillna(False).to_numpy(bool)].reset_index(drop=True)


def _codes(b: kit.Bundle) -> list[str]:
    return list(kit.diagnose(b)["code"])


# ------------------------------------------------------------------------------------------- the frame itself
def test_frame_is_registered_and_typed() -> None:
    d = DERIVED["extension_operations"]
    assert d.schema is EXTENSION_OPERATIONS
    assert set(d.inputs) == {"handler_log", "ext_status", "handler_status", "agent_log"}
    b = kit.open_bundle(ROOT / "sample_logs" / "cse-timeout-90min")
    ops = b.frame("extension_operations")
    assert list(ops.columns) == EXTENSION_OPERATIONS.names
    assert ops is b.frame("extension_operations") or ops.equals(b.frame("extension_operations"))  # once per bundle
    cse = ops[ops["extension"] == "Microsoft.Compute.CustomScriptExtension"].iloc[0]
    assert (cse["outcome"], cse["end_basis"], cse["operation"]) == ("timeout-killed", "agent_log", "enable")
    assert cse["budget_min"] == 90 and cse["end_line"] == 47 and cse["line"] == 1
    assert "aggregate_status still transitioning" in cse["disagreement"]  # the killed handler never wrote again
    assert set(ops.loc[ops["extension"] == "Microsoft.Compute.BGInfo", "outcome"]) == {"success"}


def test_budget_table() -> None:
    assert budget_basis("Microsoft.Compute.CustomScriptExtension")[0] == pd.Timedelta(minutes=90)
    assert budget_basis("Microsoft.Powershell.DSC")[0] == pd.Timedelta(minutes=90)
    assert budget_basis("Chef.Bootstrap.WindowsAzure.ChefClient")[0] == pd.Timedelta(minutes=90)
    budget, basis = budget_basis(AMA)
    assert budget == pd.Timedelta(minutes=20) and "not in the table" in basis
    assert budget_basis(None)[0] is None and budget_basis("Unbekannt")[0] is None  # a name not read: no budget
    assert all(src for _, _, src in BUDGETS)


# ------------------------------------------------------------------------------------------- defect (a): DSC
def test_dsc_run_that_completed_successfully_is_no_timeout(tmp_path: Path) -> None:
    """Defect (a): the DSC handler log ends "DSC configuration completed." / "Settings handler status to
    'success'" and the status file says success; 4 h later at collection it was reported as a time-out."""
    b = _bundle(tmp_path, {DSC_LOG: _dsc_log(), DSC_STATUS: (SHAPES / "dsc-success.status").read_text("utf-8")})
    op = _ops(b, DSC)
    assert len(op) == 1
    assert (op.loc[0, "outcome"], op.loc[0, "end_basis"]) == ("success", "handler_log")
    assert op.loc[0, "seq"] == 0 and op.loc[0, "budget_min"] == 90
    assert 41 < op.loc[0, "elapsed_min"] < 42
    assert op.loc[0, "running_at_collection"] == False  # noqa: E712 (a pandas boolean)
    assert "EXTENSION_TIMEOUT" not in _codes(b)


def test_dsc_status_success_alone_closes_the_run(tmp_path: Path) -> None:
    """The handler log cut before its completion records: the status file's success still closes it."""
    b = _bundle(tmp_path, {DSC_LOG: _dsc_log(completed=False),
                           DSC_STATUS: (SHAPES / "dsc-success.status").read_text("utf-8")})
    op = _ops(b, DSC)
    assert (op.loc[0, "outcome"], op.loc[0, "end_basis"]) == ("success", "ext_status")
    assert "EXTENSION_TIMEOUT" not in _codes(b)


def test_dsc_near_miss_a_run_that_never_ended_is_a_timeout(tmp_path: Path) -> None:
    """Near miss: the same run without its completion records and without a status: 4 h 15 min at collection."""
    b = _bundle(tmp_path, {DSC_LOG: _dsc_log(completed=False)})
    op = _ops(b, DSC)
    assert (op.loc[0, "outcome"], bool(op.loc[0, "over_budget"])) == ("still-running", True)
    f = kit.diagnose(b)
    assert "EXTENSION_TIMEOUT" in set(f["code"])
    assert any("Microsoft.Powershell.DSC" in s and "had not finished" in s for s in f["summary"])


# ------------------------------------------------------------------------------- defect (b): snapshots, budget 20
SNAPS_35 = [("09:00", "transitioning"), ("09:10", "transitioning"), ("09:20", "transitioning"),
            ("09:30", "transitioning"), ("09:35", "transitioning")]


def test_agent_extension_35_minutes_transitioning_across_snapshots_is_a_timeout(tmp_path: Path) -> None:
    """Defect (b): 35 minutes in 'transitioning' across aggregate-status snapshots, budget 20: reported."""
    b = _bundle(tmp_path, snapshots(SNAPS_35, since="09:00"))
    op = _ops(b, AMA)
    assert len(op) == 1
    assert op.loc[0, "snapshots"] == 5 and op.loc[0, "seen_min"] == 35 and op.loc[0, "budget_min"] == 20
    assert op.loc[0, "outcome"] == "still-running"
    f = kit.diagnose(b)
    hits = f[f["code"] == "EXTENSION_TIMEOUT"]
    assert len(hits) == 1 and AMA in hits["summary"].iloc[0] and "35 min" in hits["summary"].iloc[0]


def test_snapshots_over_budget_are_a_timeout_without_a_collection_time(tmp_path: Path) -> None:
    """What the snapshots themselves show (35 min seen) is read data: no collection time is needed."""
    b = _bundle(tmp_path, snapshots(SNAPS_35, since="09:00"))
    ops = extension_operations(b.frame, time_reference=None)
    op = ops[ops["extension"] == AMA].iloc[0]
    assert op["outcome"] == "unknown" and pd.isna(op["running_at_collection"]) and op["seen_min"] == 35


def test_near_miss_18_minutes_then_success_is_no_timeout(tmp_path: Path) -> None:
    b = _bundle(tmp_path, snapshots([("09:00", "transitioning"), ("09:10", "transitioning"),
                                     ("09:18", "success")], since="09:00"))
    op = _ops(b, AMA)
    assert (op.loc[0, "outcome"], op.loc[0, "end_basis"], op.loc[0, "elapsed_min"]) == \
        ("success", "aggregate_status", 18)
    assert "EXTENSION_TIMEOUT" not in _codes(b)


def test_near_miss_18_minutes_seen_and_collected_at_19_is_no_timeout(tmp_path: Path) -> None:
    b = _bundle(tmp_path, snapshots([("09:00", "transitioning"), ("09:18", "transitioning")], since="09:00"),
                collected_at="2024-03-08T09:19:00Z")
    op = _ops(b, AMA)
    assert (op.loc[0, "outcome"], bool(op.loc[0, "over_budget"])) == ("still-running", False)
    assert "EXTENSION_TIMEOUT" not in _codes(b)


def test_35_minutes_then_success_finished_late_is_a_timeout(tmp_path: Path) -> None:
    b = _bundle(tmp_path, snapshots([*SNAPS_35, ("09:36", "success")], since="09:00"))
    op = _ops(b, AMA)
    assert (op.loc[0, "outcome"], bool(op.loc[0, "over_budget"])) == ("success", True)
    f = kit.diagnose(b)
    assert any(AMA in s and "finished only after 36 min" in s for s in f.loc[f["code"] == "EXTENSION_TIMEOUT",
                                                                                "summary"])


# ----------------------------------------------------------------------------------------- disagreeing sources
def test_log_success_with_snapshot_still_transitioning(tmp_path: Path) -> None:
    """The handler log says success at 06:41:48; a later aggregate-status snapshot still shows transitioning: the
    success closes the operation and the disagreement is shown, not hidden; neither a time-out nor stuck."""
    snap = dict([snapshot(_t("07:30"), "transitioning", status_time=_t("06:00", 1), ext=DSC, version="2.76.0.0")])
    b = _bundle(tmp_path, {DSC_LOG: _dsc_log(), **snap})
    op = _ops(b, DSC)
    assert (op.loc[0, "outcome"], op.loc[0, "end_basis"]) == ("success", "handler_log")
    dis = op.loc[0, "disagreement"]
    assert "handler_log says success at 2024-03-08 06:41:48 UTC" in dis
    assert "aggregate_status still transitioning at 2024-03-08 07:30:00 UTC" in dis
    codes = _codes(b)
    assert "EXTENSION_TIMEOUT" not in codes and "EXTENSION_STUCK_TRANSITIONING" not in codes


def test_log_success_with_status_file_still_transitioning_is_not_stuck(tmp_path: Path) -> None:
    status = json.loads((SHAPES / "dsc-success.status").read_text("utf-8"))
    status[0]["status"]["status"] = "transitioning"
    status[0]["timestampUTC"] = "2024-03-08T06:00:01.0000000Z"
    b = _bundle(tmp_path, {DSC_LOG: _dsc_log(), DSC_STATUS: json.dumps(status)})
    assert _ops(b, DSC).loc[0, "outcome"] == "success"
    codes = _codes(b)
    assert "EXTENSION_STUCK_TRANSITIONING" not in codes and "EXTENSION_TIMEOUT" not in codes
    # near miss: without the log's success records the stale status is stuck, and the run a time-out
    b2 = _bundle(tmp_path / "2", {DSC_LOG: _dsc_log(completed=False), DSC_STATUS: json.dumps(status)})
    assert {"EXTENSION_STUCK_TRANSITIONING", "EXTENSION_TIMEOUT"} <= set(_codes(b2))


def test_log_silent_with_snapshot_success(tmp_path: Path) -> None:
    """The handler log stops without an end; a snapshot shows success: the operation succeeded (no time-out)."""
    snap = dict([snapshot(_t("06:50"), "success", status_time=_t("06:45"), ext=DSC, version="2.76.0.0")])
    b = _bundle(tmp_path, {DSC_LOG: _dsc_log(completed=False), **snap})
    op = _ops(b, DSC)
    assert (op.loc[0, "outcome"], op.loc[0, "end_basis"]) == ("success", "aggregate_status")
    assert op.loc[0, "end"] == pd.Timestamp("2024-03-08 06:45:00", tz="UTC")
    assert pd.isna(op.loc[0, "disagreement"])
    assert "EXTENSION_TIMEOUT" not in _codes(b)


# ------------------------------------------------------------------------------------------ unknown stays unknown
def test_no_end_and_no_collection_time_is_unknown_never_timeout(tmp_path: Path) -> None:
    b = _bundle(tmp_path, {DSC_LOG: _dsc_log(completed=False)})
    ops = extension_operations(b.frame, time_reference=None)
    op = ops[ops["extension"] == DSC].iloc[0]
    assert op["outcome"] == "unknown" and pd.isna(op["over_budget"]) and pd.isna(op["elapsed_min"])
    # the rule, with the time reference gone (a copy of the bundle without collection time and agent log)
    nb = copy.copy(b)
    nb.collected_at = None
    out = diagnose(nb, frames={"agent_log": kit.parse.frame_schemas()["agent_log"].empty()})
    assert "EXTENSION_TIMEOUT" not in set(out["code"])


def test_a_time_reference_change_rebuilds_the_frame(tmp_path: Path) -> None:
    """The bundle's frame is judged at its collection time; a run without one does not reuse it."""
    b = _bundle(tmp_path, {DSC_LOG: _dsc_log(completed=False)})
    assert _ops(b, DSC).loc[0, "outcome"] == "still-running"
    assert b.frame("extension_operations").attrs["time_reference"] == b.time_reference
    nb = copy.copy(b)
    nb.collected_at = None
    out = diagnose(nb, frames={"agent_log": kit.parse.frame_schemas()["agent_log"].empty()})
    assert not (out["code"] == "EXTENSION_TIMEOUT").any()


# ------------------------------------------------------------------------------ plots and report import no rules
def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            mod = ("kit." if node.level else "") + (node.module or "")
            out.add(mod)
            out |= {f"{mod}.{a.name}" for a in node.names}
    return out


@pytest.mark.parametrize("path", sorted([*(ROOT / "kit").glob("plots*.py"), ROOT / "kit" / "report.py"]),
                         ids=lambda p: p.name)
def test_plots_and_report_import_no_rule_module(path: Path) -> None:
    from kit.diagnose.engine import RULE_MODULES

    banned = (*RULE_MODULES, "kit.diagnose._util")
    rules = {m for m in _imports(path) if any(m == b or m.startswith(b + ".") for b in banned)}
    assert not rules, f"{path.name} imports rule modules: {sorted(rules)}"


def test_the_import_scan_sees_a_rule_import(tmp_path: Path) -> None:
    p = tmp_path / "plots_x.py"
    p.write_text("def f():\n    from .diagnose.network import LOG_FAILURES\n    return LOG_FAILURES\n")
    assert "kit.diagnose.network" in _imports(p)


def test_kill_line_of_an_extension_known_from_its_statuses_only(tmp_path: Path) -> None:
    """No handler log; the status snapshots show it transitioning and the agent's own line says it killed it: one
    operation, killed (the agent log line is the formats doc §3.2 one the cse-timeout sample carries)."""
    snaps = snapshots([("09:00", "transitioning"), ("09:10", "transitioning")], since="09:00")
    log = (HEALTHY / "C/WindowsAzure/Logs/WaAppAgent.log").read_bytes().decode("utf-8")
    kill = f"[00000003] 2024-03-08T09:21:00.000Z [ERROR] Enable command of {AMA} has not exited on time! Killing it..."
    b = _bundle(tmp_path, {**snaps, "C/WindowsAzure/Logs/WaAppAgent.log": log.rstrip("\r\n") + "\r\n" + kill + "\r\n"})
    op = _ops(b, AMA)
    assert len(op) == 1
    assert (op.loc[0, "outcome"], op.loc[0, "end_basis"]) == ("timeout-killed", "agent_log")
    assert op.loc[0, "elapsed_min"] == 21
    f = kit.diagnose(b)
    assert any(AMA in s and "killed by the agent" in s for s in f.loc[f["code"] == "EXTENSION_TIMEOUT", "summary"])


def test_status_written_after_the_logs_success_is_still_judged(tmp_path: Path) -> None:
    """Near miss of the overlap: a status file whose own time stamp is after the log's success is a later state
    (the handler wrote it then), not the stale one: EXTENSION_STUCK_TRANSITIONING still judges it."""
    status = json.loads((SHAPES / "dsc-success.status").read_text("utf-8"))
    status[0]["status"]["status"] = "transitioning"
    status[0]["timestampUTC"] = "2024-03-08T07:00:00.0000000Z"  # after the 06:41:48 success, 3 h 15 min before
    b = _bundle(tmp_path, {DSC_LOG: _dsc_log(), DSC_STATUS: json.dumps(status)})
    op = _ops(b, DSC)
    assert op.loc[0, "outcome"] == "success" and "ext_status still transitioning" in op.loc[0, "disagreement"]
    assert "EXTENSION_STUCK_TRANSITIONING" in _codes(b)


def test_same_data_as_snapshots_gives_the_same_operations(tmp_path: Path) -> None:
    """Same data, other shape: the healthy sample's aggregate status as a time-stamped snapshot
    (aggregatestatus_<yyyyMMddHHmmssfff>.json, formats doc §6.3) and its handler log with LF line ends give the same
    operations and the same findings."""
    files = _healthy_files()
    agg = "C/WindowsAzure/Logs/AggregateStatus/aggregatestatus.json"
    cse_log = next(k for k in files if k.endswith("CustomScriptHandler.log"))
    other = {AGG + "aggregatestatus_20240308101450000.json": files[agg],
             cse_log: files[cse_log].replace(b"\r\n", b"\n")}
    a = _bundle(tmp_path / "a", {})
    b = _bundle(tmp_path / "b", other, drop=(agg,))
    cols = ["extension", "version", "operation", "seq", "start", "end", "end_basis", "outcome", "elapsed_min",
            "over_budget", "running_at_collection", "disagreement"]
    pd.testing.assert_frame_equal(a.frame("extension_operations")[cols], b.frame("extension_operations")[cols])
    assert list(kit.diagnose(a)["code"]) == list(kit.diagnose(b)["code"])


def test_killed_then_success_is_shown_both_ways(tmp_path: Path) -> None:
    """The agent killed it for not exiting on time, and a later snapshot shows success: the success closes the
    operation, the kill is kept (killed_at, disagreement) and is still a time-out (the agent's own line)."""
    snaps = snapshots([("09:00", "transitioning"), ("09:10", "transitioning"), ("09:30", "success")], since="09:00")
    log = (HEALTHY / "C/WindowsAzure/Logs/WaAppAgent.log").read_bytes().decode("utf-8")
    kill = f"[00000003] 2024-03-08T09:21:00.000Z [ERROR] Enable command of {AMA} has not exited on time! Killing it..."
    b = _bundle(tmp_path, {**snaps, "C/WindowsAzure/Logs/WaAppAgent.log": log.rstrip("\r\n") + "\r\n" + kill + "\r\n"})
    op = _ops(b, AMA)
    assert op.loc[0, "outcome"] == "success" and op.loc[0, "killed_at"] == pd.Timestamp("2024-03-08 09:21", tz="UTC")
    assert "agent_log says it was killed at 2024-03-08 09:21:00 UTC" in op.loc[0, "disagreement"]
    f = kit.diagnose(b)
    assert any("killed by the agent" in s for s in f.loc[f["code"] == "EXTENSION_TIMEOUT", "summary"])


def test_a_run_without_finish_record_ended_when_the_next_operation_started() -> None:
    """run-command-stuck: RunCommandHandler's install (pid 4400) logs no finish record, then enable starts in pid
    5864: install had ended by then (the agent runs one command of an extension at a time), so it is no time-out;
    the enable, still running past its 90-minute budget, is."""
    ops = kit.open_bundle(Path(__file__).resolve().parent.parent / "sample_logs" / "run-command-stuck") \
        .extension_operations
    rc = ops[ops["extension"] == "Microsoft.CPlat.Core.RunCommandHandlerWindows"].set_index("operation")
    assert str(rc.loc["install", "end_basis"]) == "next_operation" and rc.loc["install", "over_budget"] == False  # noqa: E712
    assert rc.loc["install", "outcome"] == "unknown"
    assert rc.loc["enable", "outcome"] == "still-running" and rc.loc["enable", "budget_min"] == 90
    f = kit.diagnose(kit.open_bundle(Path(__file__).resolve().parent.parent / "sample_logs" / "run-command-stuck"))
    timeouts = f[f["code"] == "EXTENSION_TIMEOUT"]
    assert len(timeouts) == 1 and "enable" in timeouts["summary"].iloc[0]


def test_a_time_out_line_whose_time_was_not_read_is_no_second_time_out() -> None:
    """cse-timeout-90min with the agent log's times unread: the kill line may end the run, so neither a second
    EXTENSION_TIMEOUT nor 'had not finished after 106 min' is concluded from it."""
    b = kit.open_bundle(Path(__file__).resolve().parent.parent / "sample_logs" / "cse-timeout-90min")
    log = b.agent_log.copy()
    log["ts"] = pd.Series(pd.NaT, index=log.index, dtype=log["ts"].dtype)
    from kit.diagnose import diagnose

    f = diagnose(b, frames={"agent_log": log})
    t = f[f["code"] == "EXTENSION_TIMEOUT"]
    assert len(t) <= 1
    assert not t["summary"].str.contains("had not finished").any()
