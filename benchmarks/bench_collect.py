"""Collection cost: the kit's one-shell streamed zip beside a per-file fetch, on the WS-Management test server.

    python benchmarks/bench_collect.py [--mb 50] [--also-mb 10]

Builds a bundle of about ``--mb`` MB (a sample bundle plus realistic, varied agent and extension log lines), serves
it from the test WS-Management server (tests/winrs_server.py, HTTPS + Basic, in its own process) as a VM's disk,
then collects it in fresh client processes:

* **kit**: ``kit.collect.collect`` - one shell, the script on stdin, the zip streamed back;
* **per-file**: what common tools do - list the folders, then one ``Session.run_ps`` per 512 KiB chunk of every
  file (each call opens a shell, runs, receives, signals and deletes it).

Reported per run: HTTP round trips (counted at the client's HTTP adapter), wall time, and the client's peak RSS
above its RSS just before collecting (``ru_maxrss``). Memory is "flat" when the kit's peak does not grow with the
bundle: compare the ``--also-mb`` run. Not a unit test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

USER, PASSWORD = "bench", "bench-password"
CHUNK = 512 * 1024


def make_bundle(dest: Path, mb: float, seed: int = 7) -> int:
    """A sample VM disk grown to ~mb MB with varied log lines (compresses like real logs, not like zeros)."""
    shutil.copytree(ROOT / "sample_logs" / "healthy", dest)
    rnd = random.Random(seed)
    agent = (dest / "C/WindowsAzure/Logs/WaAppAgent.log").read_text(encoding="utf-8").splitlines()
    handler = (dest / "C/WindowsAzure/Logs/Plugins/Microsoft.Compute.CustomScriptExtension/1.10.15/"
               "CustomScriptHandler.log").read_text(encoding="utf-8").splitlines()
    target = int(mb * 1024 * 1024)
    have = sum(p.stat().st_size for p in (dest / "C").rglob("*") if p.is_file())
    n = 0
    while have < target:
        n += 1
        if n % 3:
            path = dest / f"C/WindowsAzure/Logs/WaAppAgent.{n}.log"
            src = agent
        else:
            path = dest / f"C/WindowsAzure/Logs/Plugins/Microsoft.Compute.CustomScriptExtension/1.10.15/Handler.{n}.log"
            src = handler
        size = min(target - have, 4 * 1024 * 1024)
        out, got = [], 0
        while got < size:
            line = rnd.choice(src)
            # vary the numbers: time stamps, ids and durations differ line to line in real logs
            line = "".join(str(rnd.randrange(10)) if c.isdigit() and rnd.random() < 0.5 else c for c in line)
            line += f" [{rnd.getrandbits(64):016x}]"
            out.append(line)
            got += len(line) + 2
        data = ("\r\n".join(out) + "\r\n").encode("utf-8")
        path.write_bytes(data)
        have += len(data)
    return have


def serve(disk: str, port_file: str, cert: str, key: str) -> None:
    from tests.vm_emulator import SampleVm
    from tests.winrs_server import WinrsServer

    with WinrsServer(SampleVm(Path(disk)), user=USER, password=PASSWORD, certfile=cert, keyfile=key) as srv:
        Path(port_file).write_text(str(srv.port))
        while True:
            time.sleep(1)


def _count_http() -> dict[str, int]:
    """Count HTTP requests at requests' adapter (instrumentation only; every request still goes out)."""
    import requests.adapters

    counter = {"http": 0}
    orig = requests.adapters.HTTPAdapter.send

    def send(self, request, *a, **kw):
        counter["http"] += 1
        return orig(self, request, *a, **kw)

    requests.adapters.HTTPAdapter.send = send
    return counter


def client(mode: str, port: int, cert: str, out: str) -> None:
    import winrm  # imported before measuring: import cost is not part of the comparison

    import kit.bundle.safezip  # the unzip step imports pandas with kit.bundle: also before measuring
    import kit.collect
    from tests.vm_emulator import CHUNK_PS, LIST_PS

    counter = _count_http()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    total = 0
    if mode == "kit":
        r = kit.collect.collect("127.0.0.1", port=port, user=USER, password=PASSWORD, transport="basic",
                                ca_file=cert, out=out, interactive=False)
        total = r.size or 0
    else:
        s = winrm.Session(f"https://127.0.0.1:{port}/wsman", auth=(USER, PASSWORD), transport="basic",
                          ca_trust_path=cert, proxy=None)
        files: list[tuple[int, str]] = []
        for root in ("C:\\WindowsAzure\\Logs", "C:\\Packages\\Plugins"):
            r = s.run_ps(LIST_PS.format(path=root))
            for line in r.std_out.decode().splitlines():
                size, _, path = line.partition("\t")
                files.append((int(size), path))
        for size, path in files:
            dest = Path(out) / path[3:].replace("\\", "/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open(dest, "wb") as f:
                for off in range(0, max(size, 1), CHUNK):
                    r = s.run_ps(CHUNK_PS.format(path=path, offset=off, length=CHUNK))
                    if r.status_code != 0:
                        raise SystemExit(f"chunk read failed: {r.std_err[:200]!r}")
                    data = base64.b64decode(r.std_out.strip())
                    f.write(data)
                    total += len(data)
    secs = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"mode": mode, "round_trips": counter["http"], "seconds": round(secs, 2),
                      "bytes": total, "peak_rss_mb": round(peak / 1024, 1),
                      "peak_above_start_mb": round((peak - rss0) / 1024, 1)}))


def run(mb: float, work: Path, cert: Path, key: Path) -> list[dict]:
    disk = work / f"vm-{mb:g}"
    size = make_bundle(disk, mb)
    port_file = work / f"port-{mb:g}"
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(disk), str(port_file), str(cert), str(key)])
    try:
        for _ in range(200):
            if port_file.exists() and port_file.read_text():
                break
            time.sleep(0.05)
        port = int(port_file.read_text())
        results = []
        for mode in ("kit", "per-file"):
            out = work / f"out-{mode}-{mb:g}"
            p = subprocess.run([sys.executable, __file__, "--client", mode, str(port), str(cert), str(out)],
                               capture_output=True, text=True, check=True)
            res = json.loads(p.stdout.strip().splitlines()[-1])
            res["bundle_mb"] = round(size / 1024 / 1024, 1)
            results.append(res)
            print(json.dumps(res), flush=True)
        return results
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=50)
    ap.add_argument("--also-mb", type=float, default=10, help="a second, smaller size to show memory stays flat")
    ap.add_argument("--serve", nargs=4, help=argparse.SUPPRESS)
    ap.add_argument("--client", nargs=4, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve:
        serve(*a.serve)
        return
    if a.client:
        mode, port, cert, out = a.client
        client(mode, int(port), cert, out)
        return
    from tests.winrs_server import make_cert

    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        cert, key = make_cert(work)
        rows = []
        for mb in ([a.also_mb] if a.also_mb else []) + [a.mb]:
            rows += run(mb, work, cert, key)
    print()
    print(f"{'bundle MB':>9} {'mode':>9} {'round trips':>12} {'seconds':>8} {'client peak RSS MB':>19} "
          f"{'above start MB':>15}")
    for r in rows:
        print(f"{r['bundle_mb']:>9} {r['mode']:>9} {r['round_trips']:>12} {r['seconds']:>8} {r['peak_rss_mb']:>19} "
              f"{r['peak_above_start_mb']:>15}")
    big = [r for r in rows if r["bundle_mb"] == max(x["bundle_mb"] for x in rows)]
    kit_r = next(r for r in big if r["mode"] == "kit")
    pf = next(r for r in big if r["mode"] == "per-file")
    print(f"\nround trips: per-file / kit = {pf['round_trips'] / kit_r['round_trips']:.1f}x "
          f"(target >= 5x); wall time per-file / kit = {pf['seconds'] / kit_r['seconds']:.1f}x")
    os.environ.pop("VMKIT_PASSWORD", None)


if __name__ == "__main__":
    main()
