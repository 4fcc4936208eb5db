"""Issue 19, part 2: every sample's HTML report opened in a real headless browser (Debian's Chromium driven by
Playwright, no browser download): it fits 1,400 and 390 px without horizontal page overflow, every image loads,
nothing is logged as an error, nothing but the file itself is requested, the rendered colours pass the contrast
check, and a finding's evidence link lands on its evidence.

Needs the `chromium` package (installed by ``scripts/install``) and the `playwright` Python package (a dev
dependency); skipped, saying so, only when no Chromium exists on the machine.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import kit
from kit.report import write_report
from tests.test_report_contrast import contrast

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted(p.name for p in (ROOT / "sample_logs").iterdir() if (p / "manifest.json").exists())
WIDTHS = (1400, 390)
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _chromium() -> str | None:
    for candidate in (os.environ.get("VMKIT_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser"), shutil.which("google-chrome")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


CHROMIUM = _chromium()
if CHROMIUM is None:
    pytest.skip("no Chromium on this machine (Debian: `apt-get install chromium`, or run scripts/install); "
                "the report's browser tests need one", allow_module_level=True)

#: Every element that has its own visible text: its computed colour and the first opaque background behind it.
COLOURS_JS = """() => {
  document.querySelectorAll('details').forEach(d => d.open = true);
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (['SCRIPT', 'STYLE', 'INPUT'].includes(el.tagName)) continue;
    const own = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length) continue;
    const cs = getComputedStyle(el);
    if (cs.visibility === 'hidden' || cs.display === 'none') continue;
    let bg = null;
    for (let a = el; a; a = a.parentElement) {
      const b = getComputedStyle(a).backgroundColor;
      if (b && b !== 'transparent' && !/rgba\\(.*,\\s*0\\)$/.test(b)) { bg = b; break; }
    }
    out.push([cs.color, bg || 'rgb(255, 255, 255)', el.tagName + (el.className ? '.' + el.className : ''),
              el.textContent.trim().slice(0, 40)]);
  }
  return out;
}"""

IN_VIEW_JS = """(id) => {
  const el = document.getElementById(id);
  if (!el) return null;
  const r = el.getBoundingClientRect();
  return r.top >= -1 && r.top < window.innerHeight && r.height > 0;
}"""


def _hex(css: str) -> str:
    m = re.fullmatch(r"rgba?\((\d+),\s*(\d+),\s*(\d+)(?:,\s*([\d.]+))?\)", css.strip())
    assert m, f"unexpected computed colour {css!r}"
    assert m.group(4) in (None, "1"), f"translucent colour {css!r}: contrast would depend on what is behind it"
    return "#" + "".join(f"{int(m.group(i)):02x}" for i in (1, 2, 3))


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # a declared dev dependency: missing means the install step was not run
        pytest.fail("Chromium is here but the `playwright` package is not: run scripts/install "
                    "(or python -m pip install -e '.[dev]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("reports")
    return {s: write_report(kit.open_bundle(ROOT / "sample_logs" / s), d / f"{s}.html") for s in SAMPLES}


def test_every_sample_is_covered() -> None:
    assert len(SAMPLES) >= 8 and "healthy" in SAMPLES


def _open(browser, url: str, width: int, problems: list[str], requests: list[str]):
    """A page at ``width`` px that records console errors/warnings and refuses every request but ``url`` itself."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.set_default_timeout(10_000)
    page.on("console", lambda m, w=width: problems.append(f"{w}px console {m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e, w=width: problems.append(f"{w}px page error: {e}"))

    def route(r) -> None:
        requests.append(r.request.url)
        r.abort()

    # Everything but the file itself is intercepted and refused (Chromium cannot continue a file:// route).
    page.route(lambda u, f=url: u.split("#")[0] != f, route)
    page.goto(url, wait_until="load")
    return page


def _layout_checks(page, label: str, width: int) -> None:
    """No horizontal overflow of the page (tables scroll inside their own box), every image loaded."""
    scroll = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert scroll[0] <= scroll[1], f"{label} at {width}px: the page is {scroll[0]} px wide in {scroll[1]} px"
    wide = page.evaluate("""() => Array.from(document.body.querySelectorAll('*')).filter(e => {
        const r = e.getBoundingClientRect(); return r.right > document.documentElement.clientWidth + 1
          && !e.closest('.scroll'); }).map(e => e.tagName + '.' + e.className).slice(0, 5)""")
    assert not wide, f"{label} at {width}px: elements past the right edge: {wide}"
    images = page.evaluate("Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])")
    broken = [alt for alt, complete, w in images if not complete or w == 0]
    assert not broken, f"{label}: images that did not load: {broken}"


def _contrast_check(page, label: str) -> None:
    """Contrast on what the browser actually paints (every collapsed block opened first)."""
    low = []
    painted = page.evaluate(COLOURS_JS)
    assert len(painted) > 20, f"{label}: only {len(painted)} text elements found"
    for fg, bg, where, text in painted:
        ratio = contrast(_hex(fg), _hex(bg))
        if ratio < 4.5:
            low.append(f"{where} {text!r}: {fg} on {bg} = {ratio:.2f}:1")
    assert not low, f"{label}: text below 4.5:1:\n" + "\n".join(low[:10])


@pytest.mark.parametrize("sample", SAMPLES)
def test_report_in_a_real_browser(browser, reports: dict[str, Path], sample: str) -> None:
    url = reports[sample].as_uri()
    problems: list[str] = []
    requests: list[str] = []
    for width in WIDTHS:
        page = _open(browser, url, width, problems, requests)
        _layout_checks(page, sample, width)

        if width == WIDTHS[0]:
            # A finding's evidence link lands on the file's lines around that evidence.
            # (an info finding's evidence is collapsed: open the first one's block as a reader would)
            page.evaluate("""() => { const a = document.querySelector("table.ev a[href^='#src-']");
                                     if (a && a.closest('details')) a.closest('details').open = true; }""")
            link = page.locator("table.ev a[href^='#src-']:visible").first
            if link.count():
                target = link.get_attribute("href")[1:]
                cited = link.inner_text()
                link.scroll_into_view_if_needed()
                link.click()
                page.wait_for_function("(id) => location.hash === '#' + id", arg=target)
                assert page.evaluate(IN_VIEW_JS, target), f"{sample}: #{target} not in view after the click"
                heading = page.locator(f"#{target} h3").inner_text()
                assert heading == cited, f"{sample}: link {cited!r} landed on {heading!r}"
                assert page.locator(f"#{target} mark").count() == 1
            # The verdict's first link lands on its finding's card.
            verdict = page.locator("ol.verdict a").first
            if verdict.count():
                target = verdict.get_attribute("href")[1:]
                verdict.click()
                page.wait_for_function("(id) => location.hash === '#' + id", arg=target)
                assert page.evaluate(IN_VIEW_JS, target), f"{sample}: #{target} not in view after the click"

            _contrast_check(page, sample)

            # The sort and filter script works on the first sortable table (and logs no error doing so).
            table = page.locator("table.sortable").first
            if table.count():
                rows = table.locator("tbody tr").count()
                table.locator("thead th").first.click()
                assert table.locator("thead th").first.get_attribute("aria-sort") == "ascending"
                box = page.locator("input.filter").first
                box.fill("no row contains this text 0x5f3759df")
                assert table.locator("tbody tr:visible").count() == 0
                box.fill("")
                assert table.locator("tbody tr:visible").count() == rows
            # Print: no contents box or filter fields on paper, and the page still fits
            page.emulate_media(media="print")
            hidden = page.evaluate("""() => Array.from(document.querySelectorAll('nav.toc, input.filter'))
                                           .every(e => getComputedStyle(e).display === 'none')""")
            assert hidden, f"{sample}: the contents or a filter field would be printed"
            page.emulate_media(media="screen")
        page.close()
    assert not problems, f"{sample}: " + "; ".join(problems)
    assert not requests, f"{sample}: requests other than the report itself: {requests}"


def test_fleet_summary_in_a_real_browser(browser, tmp_path: Path) -> None:
    """`vmkit fleet`'s DIR/summary.html: the same page checks as the single-bundle report."""
    from kit import fleet

    fleet.run([ROOT / "sample_logs" / s for s in ("healthy", "firewall-blocks-32526", "cse-timeout-90min")],
              tmp_path / "fleet", workers=1)
    url = (tmp_path / "fleet" / "summary.html").as_uri()
    problems: list[str] = []
    requests: list[str] = []
    for width in WIDTHS:
        page = _open(browser, url, width, problems, requests)
        _layout_checks(page, "fleet summary", width)
        if width == WIDTHS[0]:
            _contrast_check(page, "fleet summary")
            assert page.locator("img").count() >= 2
        page.close()
    assert not problems, "fleet summary: " + "; ".join(problems)
    assert not requests, f"fleet summary: requests other than the page itself: {requests}"


def test_the_checks_can_fail(browser, tmp_path: Path) -> None:
    """The same checks on a page built to break them: an external image, a console error, a wide table and
    light-grey text are all caught."""
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><head><meta name='viewport' content='width=device-width'></head><body>"
                   "<p style='color:#999'>faint</p><table><tr><td style='white-space:nowrap'>" + "x" * 400
                   + "</td></tr></table><img src='http://example.invalid/a.png' alt='remote'>"
                   "<script>console.error('boom')</script></body></html>", encoding="utf-8")
    errors: list[str] = []
    requests: list[str] = []
    page = _open(browser, bad.as_uri(), 390, errors, requests)
    assert any("boom" in e for e in errors)
    assert requests == ["http://example.invalid/a.png"]
    with pytest.raises(AssertionError, match="px wide"):
        _layout_checks(page, "bad", 390)
    page.evaluate("document.querySelector('table').remove()")
    with pytest.raises(AssertionError, match="images that did not load"):
        _layout_checks(page, "bad", 390)
    with pytest.raises(AssertionError, match=r"below 4\.5:1|text elements found"):
        _contrast_check(page, "bad")
    ratios = [contrast(_hex(fg), _hex(bg)) for fg, bg, _, text in page.evaluate(COLOURS_JS) if text == "faint"]
    assert ratios and ratios[0] < 4.5
    page.close()
