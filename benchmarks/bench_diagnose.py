"""How long ``vmkit diagnose`` takes on each shipped sample, as an engineer runs it (a fresh process each time).

    python benchmarks/bench_diagnose.py [--runs 7]
    python benchmarks/bench_diagnose.py --runs 5 --report --samples healthy [--other ../main]

For every sample bundle: best, median and worst wall time of ``python -m kit.cli diagnose <bundle>`` over
``--runs`` fresh interpreters (the commands take turns, run by run), beside the floor no kit code can go under:
``python -c "import pandas"`` (pandas 3 imports pyarrow too) and ``python -c pass``; and each command's CPU time
(user + system, best and median) and its best CPU time as a multiple of ``import pandas``'s, steadier than wall time
on a shared machine. ``--report`` adds ``vmkit report`` (and ``import pandas, matplotlib.pyplot``, the report's import
floor); ``--other TREE`` runs the same kit commands from another checkout too (its own folder as the working
directory, so that its kit is the one imported), taking turns with this one. Byte-code caching is on, as on an
engineer's machine (the variable PYTHONDONTWRITEBYTECODE, set in some sandboxes, is removed for the child
processes). Not a unit test: the figures depend on the machine; put them in README.md and benchmarks/README.md with
the date.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(cmd: list[str], env: dict[str, str], cwd: Path = ROOT) -> tuple[float, float]:
    """One run of ``cmd``: (wall seconds, CPU seconds of the child: user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode not in (0, 1):  # 1 = findings at error or above; anything else is a failure
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode()[-500:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--report", action="store_true", help="also time `vmkit report` (HTML with its figures)")
    ap.add_argument("--samples", nargs="*", help="only these samples (folder names)")
    ap.add_argument("--other", type=Path, help="another checkout of the kit to time the same way, taking turns")
    a = ap.parse_args()
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    py = sys.executable
    samples = sorted(p for p in (ROOT / "sample_logs").iterdir() if (p / "manifest.json").is_file()
                     and (not a.samples or p.name in a.samples))
    trees = [ROOT] + ([a.other.resolve()] if a.other else [])
    tree_env = {tree: {**env, "PYTHONPATH": str(tree) + os.pathsep + env.get("PYTHONPATH", "")} for tree in trees}
    commands: dict[str, tuple[list[str], Path]] = {"python -c pass": ([py, "-c", "pass"], ROOT),
                                                   "python -c 'import pandas'": ([py, "-c", "import pandas"], ROOT)}
    if a.report:
        commands["python -c 'import pandas, matplotlib.pyplot'"] = ([py, "-c", "import pandas, matplotlib.pyplot"],
                                                                     ROOT)
    out = str(Path(tempfile.mkdtemp()) / "report.html")
    for tree in trees:
        tag = f" ({tree.name})" if a.other else ""
        for s in samples:
            commands[f"vmkit diagnose {s.name}{tag}"] = ([py, "-m", "kit.cli", "diagnose", str(s)], tree)
            if a.report:
                commands[f"vmkit report {s.name}{tag}"] = ([py, "-m", "kit.cli", "report", str(s), "-o", out], tree)
    for tree in trees:  # write the byte-code caches once
        run([py, "-m", "kit.cli", "diagnose", str(samples[0])], tree_env[tree], tree)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(a.runs):  # round-robin, so that a slow spell of a shared machine hits every command alike
        for name, (cmd, cwd) in commands.items():
            times[name].append(run(cmd, tree_env.get(cwd, env), cwd))
    floor = min(c for _, c in times["python -c 'import pandas'"])
    print(f"{'command':60s} {'best s':>7s} {'median s':>9s} {'worst s':>8s} {'CPU best':>9s} {'CPU median':>10s} "
          f"{'CPU/pandas':>10s}")
    for name, ts in times.items():
        wall, cpu = [w for w, _ in ts], [c for _, c in ts]
        print(f"{name:60s} {min(wall):7.2f} {statistics.median(wall):9.2f} {max(wall):8.2f} {min(cpu):9.2f} "
              f"{statistics.median(cpu):10.2f} {min(cpu) / floor:9.2f}x")


if __name__ == "__main__":
    main()
