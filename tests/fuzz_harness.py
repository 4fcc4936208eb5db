"""A seeded, bounded mutation fuzzer over the sample bundles (issue 17): what customers' bundles do to files.

Each case copies one sample, damages one or two of its files with one mutation, and runs the public API on it:
``open_bundle``, ``frames()``, ``issues``, ``inventory``, ``summary()``, ``missing`` and ``diagnose()``. A case
*fails* when

* an exception escapes any of those (``escape``), or
* a file that was recognised before the damage ends ``failed`` (the parser raised: the whole file was dropped,
  ``whole-file-drop``), or
* a non-blank line of a damaged *log* file is covered neither by a row nor by an issue (``uncovered-line``).

Mutations: truncation (mid-line, mid-character), byte flips, re-encoding (UTF-16 LE/BE, cp1252, cp850), NUL runs, a
huge line, deep JSON nesting, out-of-range and malformed dates, JSON type swaps, huge integers, CR-only line ends.

``python -m tests.fuzz_harness --cases 2000 --seed 7`` runs a longer campaign (the benchmark-sized run); the test
suite runs a small fixed-seed one (tests/test_fuzz.py).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SAMPLES = Path(__file__).parent.parent / "sample_logs"
LOG_FRAMES = {"agent_log", "handler_log"}


@dataclass
class Outcome:
    sample: str
    path: str
    mutation: str
    seed: int
    problem: str | None = None  # escape / whole-file-drop / uncovered-line
    detail: str = ""


def _flip(data: bytes, rnd: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(max(1, len(b) // 500)):
        if b:
            b[rnd.randrange(len(b))] = rnd.randrange(256)
    return bytes(b)


def _truncate(data: bytes, rnd: random.Random) -> bytes:
    return data[: rnd.randrange(1, max(2, len(data)))]


def _utf16(data: bytes, rnd: random.Random) -> bytes:
    text = data.decode("utf-8", "replace")
    return rnd.choice([b"\xff\xfe" + text.encode("utf-16-le"), text.encode("utf-16-le"),
                       b"\xfe\xff" + text.encode("utf-16-be")])


def _legacy(data: bytes, rnd: random.Random) -> bytes:
    return data.decode("utf-8", "replace").encode(rnd.choice(["cp1252", "cp850", "cp866"]), "replace")


def _nuls(data: bytes, rnd: random.Random) -> bytes:
    i = rnd.randrange(len(data) + 1)
    return data[:i] + b"\x00" * rnd.randrange(1, 4096) + data[i:]


def _huge_line(data: bytes, rnd: random.Random) -> bytes:
    i = data.find(b"\n", rnd.randrange(len(data) + 1))
    i = len(data) if i < 0 else i
    return data[:i] + b"x" * rnd.choice([70_000, 1_000_000]) + data[i:]


def _cr_only(data: bytes, rnd: random.Random) -> bytes:
    return data.replace(b"\r\n", b"\r")


_TS = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d|\d\d/\d\d/\d{4} \d\d:\d\d:\d\d")


def _bad_dates(data: bytes, rnd: random.Random) -> bytes:
    repl = rnd.choice([b"0000-00-00T00:00:00", b"9999-12-31T23:59:59", b"1601-01-01T00:00:00",
                       b"13/45/2024 25:61:61", b"00/00/0000 00:00:00", b"2024-02-30T10:00:00"])
    return _TS.sub(lambda m: repl if rnd.random() < 0.5 else m.group(0), data)


def _deep_json(data: bytes, rnd: random.Random) -> bytes:
    depth = rnd.choice([200, 2_000, 100_000])
    text = data.decode("utf-8", "replace")
    i = text.find("{")
    if i < 0:
        return data
    nest = "[" * depth + "1" + "]" * depth
    return (text[: i + 1] + f'"deep": {nest}, ' + text[i + 1:]).encode()


def _swap(obj: object, rnd: random.Random) -> object:
    if isinstance(obj, dict):
        return {k: _swap(v, rnd) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_swap(v, rnd) for v in obj]
    if rnd.random() < 0.3:
        return rnd.choice([None, [], {}, 10**40, -1, 1.5e308, "", "x" * 300, True, "NaN", {"a": [1, {"b": None}]}])
    return obj


def _type_swap(data: bytes, rnd: random.Random) -> bytes:
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except ValueError:
        return _flip(data, rnd)
    return json.dumps(_swap(doc, rnd)).encode()


MUTATIONS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "flip": _flip, "truncate": _truncate, "utf16": _utf16, "legacy": _legacy, "nuls": _nuls,
    "huge-line": _huge_line, "cr-only": _cr_only, "bad-dates": _bad_dates, "deep-json": _deep_json,
    "type-swap": _type_swap,
}


def _targets(root: Path) -> list[Path]:
    skip = {"manifest.json", "README.md", "scenario.json"}
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name not in skip)


def run_case(sample: str, seed: int, workdir: Path) -> Outcome:
    import kit

    rnd = random.Random(seed)
    root = workdir / f"{sample}-{seed}"
    shutil.copytree(SAMPLES / sample, root)
    files = _targets(root)
    if rnd.random() < 0.1:  # sometimes the manifest itself
        files = [root / "manifest.json"]
    target = rnd.choice(files)
    name = rnd.choice(sorted(MUTATIONS))
    rel = target.relative_to(root).as_posix()
    mutated = MUTATIONS[name](target.read_bytes(), rnd)
    target.write_bytes(mutated)
    out = Outcome(sample, rel, name, seed)
    try:
        b = kit.open_bundle(root)
        frames = b.frames()
        issues = b.issues
        inv = b.inventory
        b.summary()
        _ = b.missing
        kit.diagnose(b)
    except BaseException as exc:  # that is what we are looking for
        if isinstance(exc, KeyboardInterrupt):
            raise
        out.problem = "escape"
        out.detail = f"{type(exc).__name__}: {str(exc)[:200]} @ {traceback.extract_tb(exc.__traceback__)[-1][:3]}"
        return out
    finally:
        shutil.rmtree(root, ignore_errors=True)
    row = inv[inv["path"] == rel]
    if not row.empty and row["status"].iloc[0] == "failed":
        out.problem = "whole-file-drop"
        out.detail = str(row["note"].iloc[0])[:300]
        return out
    art = None if row.empty else row["artifact"].iloc[0]
    if art in ("agent_log", "handler_log") and row["status"].iloc[0] != "skipped":
        lp = row["layout_path"].iloc[0]
        source = lp if isinstance(lp, str) else rel
        covered: set[int] = set()
        for fname in LOG_FRAMES & set(frames):
            df = frames[fname]
            df = df[(df["source"] == source).to_numpy(dtype=bool)]
            for a, z in zip(df["line"], df["end_line"], strict=True):
                if not (a is None or str(a) == "<NA>"):
                    covered.update(range(int(a), int(a if z is None or str(z) == "<NA>" else z) + 1))
        covered |= {int(x) for x in issues.loc[(issues["source"] == source).to_numpy(dtype=bool), "line"].dropna()}
        from kit.textio import decode, split_lines

        lines = split_lines(decode(mutated).text)
        missed = [i for i, ln in enumerate(lines, 1) if ln.strip() and i not in covered]
        if missed:
            out.problem = "uncovered-line"
            out.detail = f"{len(missed)} non-blank line(s) in no row and no issue, first {missed[:5]}"
    return out


def campaign(cases: int, seed: int = 0, samples: list[str] | None = None) -> list[Outcome]:
    names = samples or sorted(p.name for p in SAMPLES.iterdir() if (p / "manifest.json").exists())
    out = []
    with tempfile.TemporaryDirectory() as d:
        for i in range(cases):
            out.append(run_case(names[i % len(names)], seed * 1_000_003 + i, Path(d)))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    results = campaign(a.cases, a.seed)
    bad = [r for r in results if r.problem]
    for r in bad:
        print(f"{r.problem:16} {r.mutation:10} {r.sample}/{r.path} seed={r.seed}: {r.detail}")
    kinds = {k: sum(1 for r in bad if r.problem == k) for k in ("escape", "whole-file-drop", "uncovered-line")}
    print(f"{len(results)} cases: " + ", ".join(f"{v} {k}" for k, v in kinds.items()))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
