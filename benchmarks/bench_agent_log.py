#!/usr/bin/env python3
"""Agent-log parse throughput and peak memory: the kit's parser against a plain line-by-line regex loop.

    python benchmarks/bench_agent_log.py              # 200 MB generated WaAppAgent.log
    python benchmarks/bench_agent_log.py --size-mb 20

Each measurement runs in a fresh subprocess; peak memory is the process's peak RSS (resource.getrusage
ru_maxrss) minus its RSS after imports, so Arrow/NumPy buffers (which tracemalloc does not see) are counted.
The plain loop builds the same records (thread, time stamp parsed to a datetime, level, message, folded
continuation lines) as a list of dicts, reading the file line by line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

HEAD = (r"^(?:\[(?P<tid>[0-9A-Fa-f]{8})\][ \t]+)?(?:\[(?P<mdy>\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}:\d{2}(?:\.\d+)?)\]"
        r"[ \t]+|(?P<iso>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z)[ \t]+)?\[(?P<level>[A-Z]{3,8})\](?P<msg>.*)$")

MESSAGES = [
    ("HEART", "WindowsAzureGuestAgent Heartbeat.", []),
    ("INFO", "Getting plugin locations for plugin 'Microsoft.Compute.CustomScriptExtension'. Current Version: '1.10.15',"
             " Requested Version: '1.10.15'", []),
    ("INFO", "Auto-Upgrade mode. Highest public version for plugin 'Microsoft.Compute.BGInfo' with requested version: "
             "'2.2.5', is: '2.2.5'", []),
    ("WARN", "(Ignoring) Exception while fetching supported versions from HostGAPlugin: System.Net.WebException: Unable"
             " to connect to the remote server ",
     ["---> System.Net.Sockets.SocketException: An attempt was made to access a socket in a way forbidden by its access"
      " permissions 168.63.129.16:32526",
      "   at System.Net.Sockets.Socket.DoConnect(EndPoint endPointSnapshot, SocketAddress socketAddress)",
      "   --- End of inner exception stack trace ---",
      "   at System.Net.WebClient.DownloadDataInternal(Uri address, WebRequest& request)",
      "   at Microsoft.GuestAgentHostPlugin.Client.GuestInformationServiceClient.GetVersions()"]),
    ("ERROR", "GetVersions() failed with exception: System.Net.Http.HttpRequestException: Response status code does not"
              " indicate success: 502 (cannotconnect).",
     ["    at System.Net.Http.HttpResponseMessage.EnsureSuccessStatusCode()",
      "    at Microsoft.WindowsAzure.RoleContainer.Protocol.ControlSystem.SelectProtocolVersion()."]),
]


def generate(path: Path, size_mb: int) -> None:
    rng = random.Random(7)
    t = datetime(2024, 1, 1)
    target = size_mb * 1024 * 1024
    written = 0
    with open(path, "w", encoding="utf-8", newline="") as f:
        buf = []
        while written < target:
            level, msg, more = MESSAGES[0] if rng.random() < 0.5 else rng.choice(MESSAGES)
            t += timedelta(milliseconds=rng.randint(5, 4000))
            style = rng.random()
            if style < 0.8:
                stamp = t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
            elif style < 0.9:
                stamp = t.strftime("%Y-%m-%dT%H:%M:%SZ")
            else:
                stamp = "[" + t.strftime("%m/%d/%Y %H:%M:%S.") + f"{t.microsecond // 10000:02d}]"
            line = f"[{rng.randint(1, 40):08d}] {stamp} " + f"[{level}]".ljust(7) + " " + msg + "\r\n"
            buf.append(line)
            buf.extend(m + "\r\n" for m in more)
            if len(buf) > 5000:
                chunk = "".join(buf)
                f.write(chunk)
                written += len(chunk)
                buf = []
        f.write("".join(buf))


def _rss_kb() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_kit(path: str) -> dict:
    from kit.parse import agent_log
    from kit.textio import decode

    base = _rss_kb()
    t0 = time.perf_counter()
    data = Path(path).read_bytes()
    text = decode(data).text
    del data
    df = agent_log.parse(text, source="C/WindowsAzure/Logs/WaAppAgent.log").df
    secs = time.perf_counter() - t0
    return {"seconds": secs, "records": len(df), "lines": int(df["n_lines"].sum()), "peak_rss_kb": _rss_kb(),
            "base_rss_kb": base}


def run_plain(path: str) -> dict:
    import re

    head = re.compile(HEAD)
    base = _rss_kb()
    t0 = time.perf_counter()
    records: list[dict] = []
    cur = None
    lines = 0
    with open(path, encoding="utf-8", newline="") as f:
        for line in f:
            lines += 1
            line = line.rstrip("\r\n")
            m = head.match(line)
            if m:
                iso, mdy = m.group("iso"), m.group("mdy")
                ts = (datetime.fromisoformat(iso.replace("Z", "+00:00")) if iso else
                      datetime.strptime(mdy, "%m/%d/%Y %H:%M:%S.%f") if mdy else None)
                cur = {"thread": m.group("tid"), "ts": ts, "level": m.group("level"), "message": m.group("msg").strip(),
                       "text": [line]}
                records.append(cur)
            elif cur is not None:
                cur["text"].append(line)
            else:
                cur = {"thread": None, "ts": None, "level": None, "message": line, "text": [line]}
                records.append(cur)
    for r in records:
        r["text"] = "\n".join(r["text"])
    secs = time.perf_counter() - t0
    return {"seconds": secs, "records": len(records), "lines": lines, "peak_rss_kb": _rss_kb(), "base_rss_kb": base}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--file", help="use this log instead of generating one")
    ap.add_argument("--_child", choices=["kit", "plain"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child:
        result = (run_kit if args._child == "kit" else run_plain)(args.file)
        print(json.dumps(result))
        return 0
    tmp = None
    if args.file:
        path = Path(args.file)
    else:
        tmp = tempfile.TemporaryDirectory()
        path = Path(tmp.name) / "WaAppAgent.log"
        t0 = time.perf_counter()
        generate(path, args.size_mb)
        print(f"generated {path.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - t0:.1f} s")
    size_mb = path.stat().st_size / (1024 * 1024)
    results = {}
    for which in ("kit", "plain"):
        out = subprocess.run([sys.executable, __file__, "--_child", which, "--file", str(path)], check=True,
                             capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
        results[which] = json.loads(out.stdout)
    k, p = results["kit"], results["plain"]
    print(f"\nfile: {size_mb:.1f} MiB, {k['lines']:,} lines, {k['records']:,} records (plain loop: {p['records']:,})")
    print(f"{'':14}{'seconds':>10}{'MiB/s':>10}{'peak RSS MiB':>15}{'peak/file':>11}")
    for name, r in (("kit", k), ("plain loop", p)):
        peak = (r["peak_rss_kb"] - r["base_rss_kb"]) / 1024
        print(f"{name:14}{r['seconds']:>10.2f}{size_mb / r['seconds']:>10.1f}{peak:>15.0f}{peak / size_mb:>11.2f}")
    print(f"\nspeed-up: {p['seconds'] / k['seconds']:.1f}x  (target >= 3x)")
    print(f"kit peak memory: {(k['peak_rss_kb'] - k['base_rss_kb']) / 1024 / size_mb:.2f}x file size (target < 3x)")
    if tmp:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
