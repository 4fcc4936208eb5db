"""The training exercises (kit/training): every bundle is found, and every answer is what the kit itself concludes
from that bundle - an exercise whose answer the kit's own findings contradict would teach the wrong thing."""

from __future__ import annotations

from pathlib import Path

import pytest

import kit
from kit.catalog import catalog
from kit.training import check, exercise_bundle, exercises
from tests.training_answers import ANSWERS

SAMPLES = Path(__file__).parent.parent / "sample_logs"
#: exercise -> the finding code its (non-code) answer is about
ABOUT = {"ex8": "AGENT_SERVICE_TERMINATED", "ex9": "AGENT_SERVICE_START_FAILED", "ex10": "AGENT_PROCESS_CRASHED",
         "ex13": "DEPLOYMENT_EXTENSION_HANDLER_FAILED"}


def test_every_exercise_has_an_answer_that_checks() -> None:
    assert set(ANSWERS) == set(exercises())
    for ex_id, answer in ANSWERS.items():
        assert check(ex_id, answer).correct, ex_id
        assert not check(ex_id, "WRONG_ANSWER").correct
        assert len(exercises()[ex_id].hints) == 3


#: Exercises on the kit's own ticket bundles (kit/training/bundles); the others open a sample (sample_logs/).
TICKETS = sorted(e for e in exercises() if exercise_bundle(e, SAMPLES).parent.name == "bundles")


@pytest.mark.parametrize("ex_id", TICKETS)
def test_ticket_exercise_answer_is_what_the_kit_finds(ex_id: str) -> None:
    root = exercise_bundle(ex_id, SAMPLES)
    assert root.is_dir() and root.parent.name == "bundles", root
    f = kit.diagnose(kit.open_bundle(root))
    answer = ANSWERS[ex_id]
    code = answer if answer in catalog() else ABOUT[ex_id]
    assert code in set(f.loc[f["severity"] >= "warning", "code"]) or (
        code == "DEPLOYMENT_REQUEST_REJECTED" and code in set(f["code"])), f[["severity", "code", "summary"]]
    if answer not in catalog():  # a fact: it is in the evidence of that finding
        ev = kit.diagnose.evidence_frame(f[f["code"] == code])
        text = " ".join(str(t) for t in ev["text"])
        assert answer in text, text[:500]


def test_sample_exercises_still_open_from_the_samples() -> None:
    assert exercise_bundle("ex1", SAMPLES) == SAMPLES / exercises()["ex1"].bundle
