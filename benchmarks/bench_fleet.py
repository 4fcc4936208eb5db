"""How long ``vmkit fleet`` takes on N bundles with 1 and 2 workers, against ``python -c "import pandas"``.

    python benchmarks/bench_fleet.py                 # 1,000 bundles (the 9 samples, round-robin), 1 then 2 workers
    python benchmarks/bench_fleet.py --n 80          # quicker
    python benchmarks/bench_fleet.py --profile       # also cProfile one worker's bundles (in this process)

The bundles are zips of the shipped samples, each with its manifest's computer name made unique (``web-01-0042``),
so every bundle has its own content hash (``kit.fleet`` skips a bundle whose content it has already written) and its
own VM. Each measured run is a fresh ``vmkit fleet DIR --out OUT -j W --no-html`` process into an empty OUT, as an
engineer runs it; ``python -c "import pandas"`` (best of 5) is measured in the same run as the reference. While a
fleet run goes on, psutil samples the resident memory of the process and of each worker every 0.1 s: the peak per
worker is reported (flat memory means it does not grow with N). Not a unit test: the figures depend on the machine;
docs/scale.md holds them with the date and the machine.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # --profile imports this tree's kit, not an installed one


def make_bundles(dest: Path, n: int) -> list[Path]:
    """``n`` zips, round-robin over the samples, each with a unique computer name in its manifest."""
    samples = sorted(p for p in (ROOT / "sample_logs").iterdir() if (p / "manifest.json").is_file())
    blobs = []
    for s in samples:
        files = {f.relative_to(s).as_posix(): f.read_bytes() for f in sorted(s.rglob("*")) if f.is_file()}
        blobs.append((s.name, files))
    out = []
    for i in range(n):
        name, files = blobs[i % len(blobs)]
        manifest = json.loads(files["manifest.json"])
        vm = manifest.setdefault("vm", {})
        vm["computer_name"] = f"{vm.get('computer_name') or name}-{i:04d}"
        vm["host"] = vm["computer_name"]
        p = dest / f"{i:04d}-{name}.zip"
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for rel, data in files.items():
                z.writestr(rel, json.dumps(manifest, indent=2).encode() if rel == "manifest.json" else data)
        p.write_bytes(buf.getvalue())
        out.append(p)
    return out


def best_of(cmd: list[str], runs: int, env: dict[str, str]) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    return min(times)


def fleet_run(bundles: Path, out: Path, workers: int,
              env: dict[str, str]) -> tuple[float, float, float, list[float]]:
    """Wall time, CPU time (user + system of the vmkit process and its workers), peak RSS of the main process and
    peak RSS of each worker (MiB). CPU time does not grow when other work shares the cores; wall time does."""
    import resource

    import psutil

    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "kit.cli", "fleet", str(bundles), "--out", str(out), "-j", str(workers),
           "--no-html"]
    peaks: dict[int, float] = {}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    done = threading.Event()

    def sample() -> None:
        try:
            main = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        while not done.is_set():
            try:
                for p in [main, *main.children(recursive=True)]:
                    peaks[p.pid] = max(peaks.get(p.pid, 0.0), p.memory_info().rss / 2**20)
            except psutil.Error:
                pass
            time.sleep(0.1)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - t
    done.set()
    th.join()
    if proc.returncode not in (0, 1):
        raise SystemExit(f"vmkit fleet failed ({proc.returncode}): {err.decode()[-800:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers were waited for by vmkit: included
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    main_peak = peaks.pop(proc.pid, 0.0)
    return wall, cpu, main_peak, sorted(peaks.values(), reverse=True)[:workers] if workers > 1 else [main_peak]


def profile(bundles: list[Path], top: int) -> None:
    """cProfile of diagnosing ``bundles`` one after another in this process (what one worker does)."""
    import cProfile
    import pstats

    from kit import fleet

    fleet.diagnose_bundle(bundles[0])  # imports and first-use caches, as a worker's first bundle pays them
    pr = cProfile.Profile()
    t = time.perf_counter()
    pr.enable()
    for b in bundles:
        fleet.result_tables(fleet.diagnose_bundle(b))
    pr.disable()
    print(f"\nprofile: {len(bundles)} bundles in {time.perf_counter() - t:.2f} s "
          f"({(time.perf_counter() - t) / len(bundles) * 1000:.0f} ms each, with the profiler's overhead)")
    pstats.Stats(pr).sort_stats("cumulative").print_stats(top)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="bundles (default 1000)")
    ap.add_argument("--workers", default="1,2", help="worker counts to time (default 1,2)")
    ap.add_argument("--profile", action="store_true", help="also cProfile one worker's work on 40 bundles")
    a = ap.parse_args()
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        src = Path(tmp) / "bundles"
        src.mkdir()
        bundles = make_bundles(src, a.n)
        size = sum(p.stat().st_size for p in bundles)
        print(f"{a.n} bundles ({size / 2**20:.1f} MiB of zips) on {os.cpu_count()} core(s), "
              f"Python {sys.version.split()[0]}")
        pandas_s = best_of([sys.executable, "-c", "import pandas"], 5, env)
        print(f"reference: python -c 'import pandas'  {pandas_s:.3f} s (best of 5); load average "
              f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} (other work on the cores inflates wall times)")
        results = {}
        for w in (int(x) for x in a.workers.split(",")):
            wall, cpu, main_mib, worker_mib = fleet_run(src, Path(tmp) / f"out-{w}", w, env)
            results[w] = wall
            print(f"workers={w}: {wall:6.1f} s = {wall / pandas_s:5.0f}x import pandas, "
                  f"{wall / a.n * 1000:5.0f} ms/bundle wall, {cpu / a.n * 1000:5.0f} ms/bundle CPU; "
                  f"peak RSS main {main_mib:.0f} MiB, per worker {', '.join(f'{m:.0f}' for m in worker_mib)} MiB")
        if 1 in results:
            for w, t in results.items():
                if w != 1:
                    print(f"speed-up 1 -> {w} workers: {results[1] / t:.2f}x")
        if a.profile:
            profile(bundles[: min(40, len(bundles))], 40)


if __name__ == "__main__":
    main()
