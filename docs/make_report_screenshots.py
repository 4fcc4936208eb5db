"""Regenerate docs/images/report-*.png: the HTML report of a sample at 1,400 and 390 px, as a reader sees it, and
its "Evidence in context" appendix (where an evidence link lands).

    python docs/make_report_screenshots.py    # needs Chromium (scripts/install, or apt-get install chromium)

Drives Chromium with Playwright (a dev dependency) when it is installed, else with Chromium's own --screenshot
(which cannot open the page at an anchor: the appendix picture is then left as it is).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import kit  # noqa: E402
from kit.report import write_report  # noqa: E402

#: (sample, width, height, anchor to open the report at, file name suffix)
SHOTS = [("firewall-blocks-32526", 1400, 2000, "", ""), ("firewall-blocks-32526", 390, 1600, "", ""),
         ("firewall-blocks-32526", 1400, 900, "#evidence-context", "-evidence")]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]


def main() -> int:
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        print("needs Chromium on PATH (Debian: apt-get install chromium)", file=sys.stderr)
        return 2
    os.chdir(ROOT)  # the bundle path relative to the repository: the pictures show no machine's folders
    with tempfile.TemporaryDirectory() as d:
        pages = []
        for sample, width, height, anchor, suffix in SHOTS:
            html = Path(d) / f"{sample}.html"
            if not html.exists():
                write_report(kit.open_bundle(Path("sample_logs") / sample), html)
            pages.append((html.as_uri() + anchor, width, height,
                          ROOT / "docs" / "images" / f"report-{sample}-{width}px{suffix}.png"))
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            for url, width, height, out in pages:
                if "#" in url:
                    print(f"left {out.relative_to(ROOT)} as it is (needs playwright)", file=sys.stderr)
                    continue
                subprocess.run([browser, *ARGS, f"--window-size={width},{height}", f"--screenshot={out}", url],
                               check=True, capture_output=True, timeout=120)
                print(f"wrote {out.relative_to(ROOT)}")
            return 0
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=browser, args=ARGS)
            for url, width, height, out in pages:
                page = b.new_page(viewport={"width": width, "height": height})
                page.goto(url, wait_until="load")
                page.screenshot(path=str(out))
                page.close()
                print(f"wrote {out.relative_to(ROOT)}")
            b.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
