"""Regenerate docs/images/report-*.png: the HTML report of a sample at 1,400 and 390 px, as a reader sees it.

    python docs/make_report_screenshots.py            # needs Chromium (Debian: apt-get install chromium)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import kit  # noqa: E402
from kit.report import write_report  # noqa: E402

SHOTS = [("firewall-blocks-32526", 1400, 2000), ("firewall-blocks-32526", 390, 1600)]


def main() -> int:
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        print("needs Chromium on PATH (Debian: apt-get install chromium)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as d:
        for sample, width, height in SHOTS:
            html = write_report(kit.open_bundle(ROOT / "sample_logs" / sample), Path(d) / f"{sample}.html")
            out = ROOT / "docs" / "images" / f"report-{sample}-{width}px.png"
            subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                            f"--window-size={width},{height}", f"--screenshot={out}", html.as_uri()],
                           check=True, capture_output=True, timeout=120)
            print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
