"""Issue 17: a damaged record costs that record, never its file; no exception escapes the public API.

A small fixed-seed run of the mutation fuzzer (tests/fuzz_harness.py) over every sample, plus one test per defect
it found. Longer campaigns: ``python -m tests.fuzz_harness --cases 2000 --seed N``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import kit
from kit.parse import _jsonutil
from tests import fuzz_harness
from tests.conftest import copy_sample

STATUS = "C/Packages/Plugins/Microsoft.Compute.CustomScriptExtension/1.10.15/Status/0.status"
AGG = "C/WindowsAzure/Logs/AggregateStatus/aggregatestatus.json"


@pytest.mark.slow
def test_fixed_seed_campaign_has_no_escape_and_no_whole_file_drop() -> None:
    results = fuzz_harness.campaign(48, seed=11)
    bad = [f"{r.problem} {r.mutation} {r.sample}/{r.path} seed={r.seed}: {r.detail}" for r in results if r.problem]
    assert not bad, "\n".join(bad)
    assert len({r.mutation for r in results}) == len(fuzz_harness.MUTATIONS)  # every mutation was exercised


def _nest(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def test_deep_json_costs_only_the_deep_value() -> None:
    value, lines = _jsonutil.loads('{"a": 1,\n "deep": ' + _nest(5000) + ',\n "b": "[not a bracket"}')
    assert value["a"] == 1 and value["b"] == "[not a bracket" and lines == [2]
    depth, v = 0, value["deep"]
    while isinstance(v, list):
        depth, v = depth + 1, v[0]
    assert depth == _jsonutil.MAX_DEPTH - 1 and v is None  # the outer object is the first of the 200 levels


def test_deep_status_file_keeps_its_status(tmp_path: Path) -> None:
    root = copy_sample("healthy", tmp_path)
    doc = json.loads((root / STATUS).read_text())
    doc[0]["status"]["formattedMessage"]["extra"] = json.loads("[" * 150 + "]" * 150)  # fine, under the limit
    text = json.dumps(doc)
    text = text.replace('"status": {', '"deep": ' + _nest(20000) + ', "status": {', 1)
    (root / STATUS).write_text(text)
    b = kit.open_bundle(root)
    inv = b.inventory.set_index("path")
    assert inv.loc[STATUS, "status"] == "parsed-with-issues"
    assert len(b.ext_status[b.ext_status["source"] == STATUS]) == 1
    assert "too-deep" in set(b.issues["kind"])


def test_deep_manifest_opens_without_it(tmp_path: Path) -> None:
    root = copy_sample("healthy", tmp_path)
    (root / "manifest.json").write_text('{"format": "guestagent-kit-bundle", "x": ' + _nest(100000) + "}")
    b = kit.open_bundle(root)
    assert b.manifest is None and "bad-manifest" in set(b.issues["kind"])
    kit.diagnose(b)


def test_time_outside_the_nanosecond_range_keeps_the_row(tmp_path: Path) -> None:
    root = copy_sample("cse-timeout-90min", tmp_path)
    text = (root / AGG).read_text(encoding="utf-8-sig")
    text = re.sub(r'("timestampUTC": ")\d{4}-\d\d-\d\d', r"\g<1>9999-12-31", text, count=1)
    assert "9999-12-31T" in text
    (root / AGG).write_text(text)
    b = kit.open_bundle(root)
    inv = b.inventory.set_index("path")
    assert inv.loc[AGG, "status"] == "parsed-with-issues", inv.loc[AGG, "note"]
    issues = b.issues[b.issues["source"] == AGG]
    assert any("could not be held as datetime" in m and "9999-12-31" in m for m in issues["message"])
