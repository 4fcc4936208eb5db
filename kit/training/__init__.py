"""Training exercises on the sample bundles: the trainee states a root cause and a cell checks it.

An exercise's bundle is a folder of the sample bundles (``sample_logs``) or, for the ticket folders the kit ships
(pasted deployment output, event-log exports: ``kit/training/bundles``, sourced in its SOURCES.md), one of those:
:func:`exercise_bundle` finds it.

Answers are stored only as salted SHA-256 digests (``exercises.yaml``), so the notebook's text and the
package do not give them away. :func:`check` normalises an answer (case, spaces, order of several codes)
before comparing.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import yaml

SALT = "guestagent-kit/training/v1"


@dataclass(frozen=True)
class Exercise:
    id: str
    bundle: str
    question: str
    hints: tuple[str, ...]
    answer_digest: str
    explanation: str


@dataclass(frozen=True)
class Result:
    correct: bool
    message: str

    def _repr_markdown_(self) -> str:
        return ("✅ " if self.correct else "❌ ") + self.message

    def __str__(self) -> str:
        return ("CORRECT: " if self.correct else "NOT YET: ") + self.message


def normalise(answer: str | int | list | tuple | set) -> str:
    """Upper-case, trimmed; several answers (codes) sorted and joined by commas."""
    items = answer if isinstance(answer, (list, tuple, set)) else re.split(r"[,;\s]+", str(answer))
    return ",".join(sorted({str(i).strip().upper() for i in items if str(i).strip()}))


def digest(answer: str | int | list | tuple | set) -> str:
    return hashlib.sha256(f"{SALT}:{normalise(answer)}".encode()).hexdigest()


@cache
def exercises() -> dict[str, Exercise]:
    data = yaml.safe_load(resources.files(__package__).joinpath("exercises.yaml").read_text(encoding="utf-8"))
    return {e["id"]: Exercise(id=e["id"], bundle=e["bundle"], question=" ".join(e["question"].split()),
                              hints=tuple(" ".join(h.split()) for h in e["hints"]),
                              answer_digest=e["answer_sha256"], explanation=" ".join(e["explanation"].split()))
            for e in data}


def check(exercise_id: str, answer: str | int | list | tuple | set) -> Result:
    """Check a trainee's answer. Wrong answers get the next useful nudge, never the answer."""
    ex = exercises()[exercise_id]
    if not normalise(answer):
        return Result(False, "Type your answer first (replace the empty string).")
    if digest(answer) == ex.answer_digest:
        return Result(True, ex.explanation)
    return Result(False, f"Not quite. Use `hint({exercise_id!r}, 1)` (then 2, 3) if you are stuck.")


def hint(exercise_id: str, n: int = 1) -> str:
    ex = exercises()[exercise_id]
    n = max(1, min(n, len(ex.hints)))
    return f"Hint {n}/{len(ex.hints)}: {ex.hints[n - 1]}"


def exercise_bundle(exercise_id: str, samples: str | Path) -> Path:
    """The folder of an exercise's bundle: the kit's own training bundle of that name, else ``samples/<bundle>``."""
    ex = exercises()[exercise_id]
    own = resources.files(__package__).joinpath("bundles", ex.bundle)
    if own.is_dir():
        return Path(str(own))
    return Path(samples) / ex.bundle
