"""How long ``vmkit diagnose`` takes on each shipped sample, as an engineer runs it (a fresh process each time).

    python benchmarks/bench_diagnose.py [--runs 7]

For every sample bundle: best, median and worst wall time of ``python -m kit.cli diagnose <bundle>`` over
``--runs`` fresh interpreters (the commands take turns, run by run), beside the floor no kit code can go under:
``python -c "import pandas"`` (pandas 3 imports pyarrow too) and ``python -c pass``. Byte-code caching is on, as on
an engineer's machine (the variable PYTHONDONTWRITEBYTECODE, set in some sandboxes, is removed for the child
processes). Not a unit test: the figures depend on the machine; put them in README.md and benchmarks/README.md with
the date.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def wall(cmd: list[str], runs: int, env: dict[str, str]) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        p = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        out.append(time.perf_counter() - t)
        if p.returncode not in (0, 1):  # 1 = findings at error or above; anything else is a failure
            raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode()[-500:]}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--report", action="store_true", help="also time `vmkit report` (HTML with its figures)")
    ap.add_argument("--samples", nargs="*", help="only these samples (folder names)")
    a = ap.parse_args()
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    py = sys.executable
    samples = sorted(p for p in (ROOT / "sample_logs").iterdir() if (p / "manifest.json").is_file()
                     and (not a.samples or p.name in a.samples))
    wall([py, "-m", "kit.cli", "diagnose", str(samples[0])], 1, env)  # write the byte-code caches once
    commands = {"python -c pass": [py, "-c", "pass"], "python -c 'import pandas'": [py, "-c", "import pandas"]}
    commands.update({f"vmkit diagnose {s.name}": [py, "-m", "kit.cli", "diagnose", str(s)] for s in samples})
    if a.report:
        out = str(Path(tempfile.mkdtemp()) / "report.html")
        commands.update({f"vmkit report {s.name}": [py, "-m", "kit.cli", "report", str(s), "-o", out]
                         for s in samples})
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(a.runs):  # round-robin, so that a slow spell of a shared machine hits every command alike
        for name, cmd in commands.items():
            times[name] += wall(cmd, 1, env)
    print(f"{'command':60s} {'best s':>7s} {'median s':>9s} {'worst s':>8s}")
    for name, ts in times.items():
        print(f"{name:60s} {min(ts):7.2f} {statistics.median(ts):9.2f} {max(ts):8.2f}")


if __name__ == "__main__":
    main()
