"""Run Command: a script past the 90-minute limit, a script that failed (kit/diagnose/run_command.py). Fixtures:
tests/shapes/run_command/SOURCES.md."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import kit
from kit.diagnose.engine import diagnose
from tests.test_events import _bundle_with

SHAPES = Path(__file__).parent / "shapes" / "run_command"
V1 = "C/WindowsAzure/Logs/Plugins/Microsoft.CPlat.Core.RunCommandWindows/1.1.8/RunCommandExtension.log"
V2 = "C/WindowsAzure/Logs/Plugins/Microsoft.CPlat.Core.RunCommandHandlerWindows/2.0.8/RunCommandHandler.log"
PASTE = Path(__file__).parent / "shapes" / "run_command" / "conflict.az-cli.txt"


def _codes(tmp_path: Path, files: dict[str, Path]) -> pd.DataFrame:
    return kit.diagnose(_bundle_with(tmp_path, files))


def test_hung_script_past_90_minutes(tmp_path: Path) -> None:
    df = _codes(tmp_path, {V2: SHAPES / "v2-hung.RunCommandHandler.log"})
    hit = df[df["code"] == "RUN_COMMAND_STILL_RUNNING"]
    assert len(hit) == 1 and hit["severity"].iloc[0] == "error" and "115 min" in hit["summary"].iloc[0]


def test_near_miss_script_started_minutes_before_collection(tmp_path: Path) -> None:
    df = _codes(tmp_path, {V2: SHAPES / "v2-just-started.RunCommandHandler.log"})
    assert not {"RUN_COMMAND_STILL_RUNNING", "RUN_COMMAND_SCRIPT_FAILED"} & set(df["code"])


@pytest.mark.parametrize(("fixture", "expected"), [("v1-exit-1.RunCommandExtension.log", True),
                                                   ("v1-exit-0.RunCommandExtension.log", False)])
def test_script_exit_code(tmp_path: Path, fixture: str, expected: bool) -> None:
    df = _codes(tmp_path, {V1: SHAPES / fixture})
    hit = df[df["code"] == "RUN_COMMAND_SCRIPT_FAILED"]
    assert (len(hit) == 1) is expected
    if expected:
        assert "exit code 1" in hit["summary"].iloc[0] and hit["severity"].iloc[0] == "warning"


def test_a_later_success_makes_an_older_failure_history(tmp_path: Path) -> None:
    bundle = kit.open_bundle(_bundle_with(tmp_path, {V1: SHAPES / "v1-exit-1.RunCommandExtension.log"}))
    log = bundle.frame("handler_log")
    later = log[log["source"] == V1].tail(1).copy()
    later["ts"] = later["ts"] + pd.Timedelta(minutes=5)
    later["line"] = later["line"] + 1
    later["message"] = "Command execution finished. Command exited with code: 0"
    df = diagnose(bundle, frames={"handler_log": pd.concat([log, later], ignore_index=True)})
    assert "RUN_COMMAND_SCRIPT_FAILED" not in set(df["code"])
    later["ts"] = pd.NaT  # the later end's time unread: which run was last is unknown
    df = diagnose(bundle, frames={"handler_log": pd.concat([log, later], ignore_index=True)})
    assert "RUN_COMMAND_SCRIPT_FAILED" not in set(df["code"]) and "CHECK_NOT_POSSIBLE" in set(df["code"])


def test_an_unread_record_after_the_start_is_cannot_tell(tmp_path: Path) -> None:
    bundle = kit.open_bundle(_bundle_with(tmp_path, {V2: SHAPES / "v2-hung.RunCommandHandler.log"}))
    log = bundle.frame("handler_log").copy()
    log.loc[log.index[log["source"] == V2][-1], "message"] = None
    df = diagnose(bundle, frames={"handler_log": log})
    assert "RUN_COMMAND_STILL_RUNNING" not in set(df["code"])
    assert df[df["code"] == "CHECK_NOT_POSSIBLE"]["summary"].str.contains("after the script started").any()


def test_the_conflict_error_pasted_names_the_code(tmp_path: Path) -> None:
    df = _codes(tmp_path, {"pasted/run-command.txt": PASTE})
    assert "RUN_COMMAND_STILL_RUNNING" in set(df["code"])


def test_the_run_command_sample_answers_its_exercises() -> None:
    """ex-runcmd-1/2 (kit/training/exercises.yaml) on sample_logs/run-command-stuck: 131 min = 2 h 11 min."""
    from kit.training import check
    from tests.training_answers import ANSWERS

    f = kit.diagnose(Path(__file__).parent.parent / "sample_logs" / "run-command-stuck")
    hit = f[f["code"] == ANSWERS["ex-runcmd-2"]]
    assert "2 h 11 min" in hit["summary"].iloc[0] and int(ANSWERS["ex-runcmd-1"]) == 2 * 60 + 11
    assert check("ex-runcmd-1", "131").correct and check("ex-runcmd-2", "RUN_COMMAND_STILL_RUNNING").correct
