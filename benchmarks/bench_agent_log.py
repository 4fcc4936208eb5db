#!/usr/bin/env python3
"""Agent-log parse throughput and peak memory: the kit's parser against a plain line-by-line regex loop.

    python benchmarks/bench_agent_log.py              # 200 MB generated WaAppAgent.log
    python benchmarks/bench_agent_log.py --size-mb 20

Each measurement runs in a fresh subprocess (``--repeat`` times, alternating kit and plain loop; the best time
of each is reported, as ``timeit`` does, because other work on the machine only ever adds time), with the CPU time
(user + system, all threads) of the same section beside it: on a shared machine wall time swings with the load,
CPU time much less. Peak memory
is resident set size from ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` in that subprocess (not tracemalloc,
which does not see Arrow's or NumPy's buffers), reported two ways:

* run: peak RSS minus RSS after imports - reading the bytes, decoding them and parsing, input text held;
* parse: peak RSS minus current RSS just before ``parse()`` - the parser's own working set plus its result,
  with the decoded text already resident.

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
    ("INFO", "Getting plugin locations for plugin 'Microsoft.Compute.CustomScriptExtension'. Current Version: "
             "'1.10.15', Requested Version: '1.10.15'", []),
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


HEALTH = """======== Microsoft Azure VM Health Report - Start {iso} =========
{{
  "agentVersion": "2.7.41491.1102",
  "ipAddressOK": true,
  "wireServerReachable": {ok},
  "hostGAPluginReachable": true
}}
======== Microsoft Azure VM Health Report - End {iso} ========="""


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
            if rng.random() < 0.002:  # the hourly VM Health Report JSON block, folded into the record above
                iso = t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
                block = HEALTH.format(iso=iso, ok=str(rng.random() < 0.9).lower())
                buf.extend(ln + "\r\n" for ln in block.splitlines())
            if len(buf) > 5000:
                chunk = "".join(buf)
                f.write(chunk)
                written += len(chunk)
                buf = []
        f.write("".join(buf))


def _rss_kb() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _cpu() -> float:
    """User + system CPU seconds of this process (all its threads) so far."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _current_rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def run_kit(path: str) -> dict:
    from kit.parse import agent_log
    from kit.textio import decode

    agent_log.parse("[00000001] 2024-01-01T00:00:00.000Z [INFO]  warm-up\r\n", source="x")  # lazy imports
    base = _rss_kb()
    c0, t0 = _cpu(), time.perf_counter()
    data = Path(path).read_bytes()
    text = decode(data).text
    del data
    before_parse = _current_rss_kb()
    df = agent_log.parse(text, source="C/WindowsAzure/Logs/WaAppAgent.log").df
    secs, cpu = time.perf_counter() - t0, _cpu() - c0
    return {"seconds": secs, "cpu": cpu, "records": len(df), "lines": int(df["n_lines"].sum()),
            "peak_rss_kb": _rss_kb(), "base_rss_kb": base, "before_parse_kb": before_parse}


def run_plain(path: str) -> dict:
    import re

    head = re.compile(HEAD)
    base = _rss_kb()
    c0, t0 = _cpu(), time.perf_counter()
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
    secs, cpu = time.perf_counter() - t0, _cpu() - c0
    return {"seconds": secs, "cpu": cpu, "records": len(records), "lines": lines, "peak_rss_kb": _rss_kb(),
            "base_rss_kb": base, "before_parse_kb": base}


def run_polars(path: str) -> dict:
    """The same records with polars (a reference, installed by the ``bench`` extra only): lines read as one
    string column, heads found with its regex extract, time stamps parsed, continuation lines folded by a
    running head count and joined per record."""
    import polars as pl

    pl.DataFrame({"a": ["x"]}).select(pl.col("a").str.len_bytes())  # warm-up (lazy imports, thread pool)
    base = _rss_kb()
    c0, t0 = _cpu(), time.perf_counter()
    raw = pl.read_csv(path, has_header=False, separator="\x1f", quote_char=None, new_columns=["line"],
                      schema_overrides={"line": pl.String}, truncate_ragged_lines=True, encoding="utf8-lossy")
    line = pl.col("line").str.strip_chars_end("\r")
    df = raw.lazy().with_columns(line.fill_null("")).with_columns(
        pl.col("line").str.extract_groups(HEAD).alias("m")).unnest("m").with_columns(
        (pl.col("level").is_not_null()).cum_sum().alias("rec")).group_by("rec", maintain_order=True).agg(
        pl.col("tid").first().alias("thread"),
        pl.coalesce(pl.col("iso").first().str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", strict=False, time_zone="UTC"),
                    pl.col("mdy").first().str.to_datetime("%m/%d/%Y %H:%M:%S%.f", strict=False,
                                                          time_zone="UTC")).alias("ts"),
        pl.col("level").first(), pl.col("msg").first().str.strip_chars().alias("message"),
        pl.col("line").str.join("\n").alias("text"), pl.len().alias("n_lines")).collect()
    secs, cpu = time.perf_counter() - t0, _cpu() - c0
    return {"seconds": secs, "cpu": cpu, "records": df.height, "lines": int(df["n_lines"].sum()),
            "peak_rss_kb": _rss_kb(), "base_rss_kb": base, "before_parse_kb": base}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each (best time is reported)")
    ap.add_argument("--file", help="use this log instead of generating one")
    ap.add_argument("--_child", choices=["kit", "plain", "polars"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child:
        result = {"kit": run_kit, "plain": run_plain, "polars": run_polars}[args._child](args.file)
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
    try:
        import polars  # noqa: F401

        contenders = ("kit", "plain", "polars")
    except ImportError:
        print("polars is not installed (pip install -e '.[bench]'): no polars reference")
        contenders = ("kit", "plain")
    runs: dict[str, list[dict]] = {w: [] for w in contenders}
    for _ in range(max(1, args.repeat)):
        for which in contenders:
            out = subprocess.run([sys.executable, __file__, "--_child", which, "--file", str(path)], check=True,
                                 capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
            runs[which].append(json.loads(out.stdout))
    best = {w: min(runs[w], key=lambda r: r["seconds"]) for w in contenders}
    k, p = best["kit"], best["plain"]
    print(f"\nfile: {size_mb:.1f} MiB, {k['lines']:,} lines, {k['records']:,} records (plain loop: {p['records']:,}); "
          f"best of {len(runs['kit'])} runs each")
    print(f"{'':12}{'seconds':>9}{'MiB/s':>8}{'(slowest)':>11}{'CPU s':>7}{'run peak MiB':>14}{'x file':>8}"
          f"{'parse peak MiB':>16}{'x file':>8}")
    names = {"kit": "kit", "plain": "plain loop", "polars": "polars"}
    for w in contenders:
        name, r, rr = names[w], best[w], runs[w]
        run_peak = (max(x["peak_rss_kb"] for x in rr) - r["base_rss_kb"]) / 1024
        parse_peak = max(x["peak_rss_kb"] - x["before_parse_kb"] for x in rr) / 1024
        slow = max(x["seconds"] for x in rr)
        cpu = min(x["cpu"] for x in rr)
        print(f"{name:12}{r['seconds']:>9.2f}{size_mb / r['seconds']:>8.1f}{size_mb / slow:>11.1f}{cpu:>7.2f}"
              f"{run_peak:>14.0f}{run_peak / size_mb:>8.2f}{parse_peak:>16.0f}{parse_peak / size_mb:>8.2f}")
    cpu = {w: min(x["cpu"] for x in runs[w]) for w in contenders}
    print(f"\nspeed-up (best vs best): {p['seconds'] / k['seconds']:.1f}x the plain loop (target >= 5x); "
          f"in CPU time (least vs least): {cpu['plain'] / cpu['kit']:.1f}x")
    if "polars" in best:
        print(f"against polars (best vs best): {best['polars']['seconds'] / k['seconds']:.2f}x (target >= 1x); "
              f"in CPU time (polars uses every core): {cpu['polars'] / cpu['kit']:.2f}x")
    kr = runs["kit"]
    print(f"kit peak memory: run {(max(x['peak_rss_kb'] for x in kr) - k['base_rss_kb']) / 1024 / size_mb:.2f}x, "
          f"parse {max(x['peak_rss_kb'] - x['before_parse_kb'] for x in kr) / 1024 / size_mb:.2f}x file size "
          "(target < 2x)")
    if tmp:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
