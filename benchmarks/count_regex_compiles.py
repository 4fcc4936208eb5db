#!/usr/bin/env python3
"""How many regular expressions one ``vmkit`` command compiles, and where (the kit module that asked for it).

    python benchmarks/count_regex_compiles.py diagnose sample_logs/healthy
    python benchmarks/count_regex_compiles.py diagnose sample_logs/healthy -v      # by line

Counts calls of the ``re`` module's compiler (cache misses only: a pattern compiled again from ``re``'s cache costs
nothing) while the command runs in this process, attributed to the innermost ``kit`` frame (else the library).
"""

from __future__ import annotations

import collections
import io
import re
import sys
import traceback
from contextlib import redirect_stdout, suppress
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    counts: collections.Counter[str] = collections.Counter()
    real = re._compiler.compile  # type: ignore[attr-defined]

    def counting(p, flags=0):  # type: ignore[no-untyped-def]
        frames = traceback.extract_stack()[:-1]
        kit = [f for f in frames if "/kit/" in f.filename]
        f = kit[-1] if kit else next((f for f in reversed(frames) if "/re/" not in f.filename
                                      and "fnmatch" not in f.filename), frames[-1])
        name = (f.filename.split("/kit/")[-1] + (f":{f.lineno}" if "-v" in sys.argv else "")) if kit \
            else Path(f.filename).name
        counts[("kit/" if kit else "") + name] += 1
        return real(p, flags)

    re._compiler.compile = counting  # type: ignore[attr-defined]
    from kit import cli

    with redirect_stdout(io.StringIO()), suppress(SystemExit):
        cli.main([a for a in sys.argv[1:] if a != "-v"])
    print(f"{sum(counts.values())} regexes compiled by `vmkit {' '.join(sys.argv[1:])}`")
    for k, v in counts.most_common():
        print(f"{v:5d}  {k}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
