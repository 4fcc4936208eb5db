#!/usr/bin/env python3
"""Whole-process peak memory and wall time of ``vmkit diagnose`` on a bundle with one big agent log.

    python benchmarks/bench_big_bundle.py --size-mb 250          # the issue's case (takes a while)
    python benchmarks/bench_big_bundle.py --size-mb 50 --runs 3

The healthy sample is copied, its ``WaAppAgent.log`` replaced by a generated log of ``--size-mb`` MiB (the
generator of ``bench_agent_log.py``: CRLF, the agent's three head layouts, stack traces), and zipped (deflate).
``python -m kit.cli diagnose <zip>`` then runs in a fresh process ``--runs`` times; reported: best wall time,
peak resident set size of that process (``ru_maxrss`` of the child), the same for ``python -c "import pandas"``
and the ratios to the log's size. Not a unit test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_agent_log import generate  # noqa: E402


def child(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one fresh process (run through a small wrapper so that
    ``ru_maxrss`` of RUSAGE_CHILDREN is this command's alone)."""
    wrapper = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
               "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
               "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, p.returncode)")
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], env=env, capture_output=True, text=True, check=True)
    secs, kb, rc = out.stdout.split()
    if int(rc) not in (0, 1):
        raise SystemExit(f"{cmd} failed with {rc}")
    return float(secs), int(kb) * 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=250)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--keep", help="build the bundle here and keep it (reused when it exists)")
    ap.add_argument("--kit", default=str(ROOT), help="the kit checkout to run (another worktree: before/after)")
    a = ap.parse_args()
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = a.kit + os.pathsep + env.get("PYTHONPATH", "")
    tmp = tempfile.TemporaryDirectory()
    zpath = Path(a.keep) if a.keep else Path(tmp.name) / "big.zip"
    if not zpath.exists():
        work = Path(tmp.name) / "bundle"
        shutil.copytree(ROOT / "sample_logs" / "healthy", work)
        log = work / "C" / "WindowsAzure" / "Logs" / "WaAppAgent.log"
        generate(log, a.size_mb)
        with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
            for p in sorted(work.rglob("*")):
                if p.is_file():
                    z.write(p, p.relative_to(work).as_posix())
        shutil.rmtree(work)
    with zipfile.ZipFile(zpath) as z:
        log_bytes = z.getinfo("C/WindowsAzure/Logs/WaAppAgent.log").file_size
    mib = log_bytes / 2**20
    py = sys.executable
    rows = {"python -c 'import pandas'": [py, "-c", "import pandas"],
            "vmkit diagnose": [py, "-m", "kit.cli", "diagnose", str(zpath)]}
    res: dict[str, list[tuple[float, int]]] = {k: [] for k in rows}
    for _ in range(max(1, a.runs)):
        for k, cmd in rows.items():
            res[k].append(child(cmd, env))
    print(f"agent log: {mib:.1f} MiB inside {zpath.stat().st_size / 2**20:.1f} MiB zip; best of {a.runs} run(s)")
    print(f"{'command':28s}{'seconds':>9s}{'peak RSS MiB':>14s}{'x log':>8s}")
    for k, rr in res.items():
        secs = min(r[0] for r in rr)
        peak = min(r[1] for r in rr) / 2**20
        print(f"{k:28s}{secs:>9.2f}{peak:>14.0f}{peak / mib:>8.2f}")
    base = min(r[1] for r in res["python -c 'import pandas'"]) / 2**20
    peak = min(r[1] for r in res["vmkit diagnose"]) / 2**20
    print(f"\nvmkit diagnose above the import-pandas process: {peak - base:.0f} MiB = {(peak - base) / mib:.2f}x "
          "the log; "
          f"whole process {peak / mib:.2f}x (target <= 3x)")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
