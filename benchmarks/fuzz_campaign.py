"""A long mutation-fuzz campaign over every sample bundle (issue 17): the suite runs 48 fixed-seed cases
(tests/test_fuzz.py); this runs as many as you like and prints every escape, whole-file drop and uncovered line.

    python benchmarks/fuzz_campaign.py --cases 2000 --seed 7
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import fuzz_harness

if __name__ == "__main__":
    t0 = time.perf_counter()
    code = fuzz_harness.main(sys.argv[1:])
    print(f"{time.perf_counter() - t0:.0f} s")
    raise SystemExit(code)
