#!/usr/bin/env python3
"""Memory of each rule of ``diagnose``: RSS peak above the start of the rule and what the rule leaves behind.

    python benchmarks/bench_rule_memory.py /tmp/big50.zip          # a bundle from bench_big_bundle.py --keep
    python benchmarks/bench_rule_memory.py BUNDLE --top 12

Opens the bundle, parses every frame, then runs the rules one by one as :func:`kit.diagnose.diagnose` does (same
context, same order), resetting the peak RSS before each (Linux: ``/proc/self/clear_refs``) and reading VmHWM/VmRSS
after. Also prints the phase peaks (open, parse, rules) and the whole process's peak. Linux only; not a unit test.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _status() -> tuple[float, float]:
    """(VmRSS, VmHWM) in MiB."""
    vals = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            vals[k] = int(v.split()[0]) / 1024
    return vals["VmRSS"], vals["VmHWM"]


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle")
    ap.add_argument("--top", type=int, default=10)
    a = ap.parse_args()
    from kit.bundle import open_bundle
    from kit.diagnose.engine import Context, _rules

    t0 = time.perf_counter()
    b = open_bundle(a.bundle)
    rss, hwm = _status()
    print(f"open: peak {hwm:.0f} MiB, kept {rss:.0f} MiB")
    _reset_peak()
    b.frames()
    rss, hwm = _status()
    print(f"parse: peak {hwm:.0f} MiB, kept {rss:.0f} MiB ({time.perf_counter() - t0:.1f} s)")
    ctx = Context(bundle=b)
    rows = []
    rules_peak = 0.0
    t_rules = time.perf_counter()
    for name, rule in _rules():
        before, _ = _status()
        _reset_peak()
        t = time.perf_counter()
        ctx.findings.extend(rule(ctx))
        secs = time.perf_counter() - t
        after, hwm = _status()
        rules_peak = max(rules_peak, hwm)
        rows.append((hwm - before, after - before, secs, name))
    print(f"rules: peak {rules_peak:.0f} MiB, kept {_status()[0]:.0f} MiB ({time.perf_counter() - t_rules:.1f} s)")
    print(f"\n{'rule':45s}{'peak +MiB':>10s}{'kept +MiB':>10s}{'s':>7s}")
    for peak, kept, secs, name in sorted(rows, reverse=True)[:a.top]:
        print(f"{name:45s}{peak:>10.0f}{kept:>10.0f}{secs:>7.2f}")
    print(f"\nfindings: {sorted({f.code for f in ctx.findings})}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
