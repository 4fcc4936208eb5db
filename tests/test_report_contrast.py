"""Issue 19, the HTML report: verdict first with working anchors, cards that are not filled with severity colour,
every text/background pair at least 4.5:1 (WCAG 2 contrast ratio, computed from the report's own colours), a
viewport for phones, integer line numbers, and a stack trace shown once per report."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import kit
from kit import report

SAMPLES = Path(__file__).parent.parent / "sample_logs"


def _luminance(hex_colour: str) -> float:
    r, g, b = (int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_contrast_formula_matches_known_values() -> None:
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0
    assert round(contrast("#777777", "#ffffff"), 2) == 4.48  # the classic just-failing grey


@pytest.mark.parametrize("sev", sorted(report.SEVERITY_COLOURS))
def test_badge_text_contrast(sev: str) -> None:
    assert contrast("#ffffff", report.SEVERITY_COLOURS[sev]) >= 4.5


@pytest.mark.parametrize("fg", ["TEXT", "MUTED", "LINK"])
def test_body_text_contrast(fg: str) -> None:
    assert contrast(getattr(report, fg), report.PAGE) >= 4.5
    assert contrast(getattr(report, fg), "#f5f5f5") >= 4.5  # on the <pre> and header-cell greys too
    assert contrast(getattr(report, fg), "#f0f0f0") >= 4.5


@pytest.fixture(scope="module")
def firewall_html() -> str:
    return report.render_report(kit.open_bundle(SAMPLES / "firewall-blocks-32526"))


def test_cards_are_not_filled_with_severity_colour(firewall_html: str) -> None:
    css = report.CSS
    for sev, colour in report.SEVERITY_COLOURS.items():
        assert not re.search(rf"(?<![.\w-])\.{sev}\s*\{{[^}}]*background", css), sev  # only .sev.<x> is filled
        assert f".sev.{sev}{{background:{colour}}}" in css
    assert "class='finding error'" in firewall_html


def test_anchors_resolve_and_viewport(firewall_html: str) -> None:
    assert "<meta name='viewport' content='width=device-width, initial-scale=1'>" in firewall_html
    ids = set(re.findall(r"id='([^']+)'", firewall_html))
    hrefs = set(re.findall(r"href='#([^']+)'", firewall_html))
    assert hrefs and hrefs <= ids
    assert "finding-1-guest_firewall_blocks_wireserver" in ids


def test_line_numbers_are_integers_and_stack_traces_shown_once(firewall_html: str) -> None:
    assert "WaAppAgent.log:12<" in firewall_html and "WaAppAgent.log:12.0" not in firewall_html
    assert not re.search(r"<td>\d+\.0</td>", firewall_html)
    fulls = re.findall(r"<pre>(\[00000011\][^<]*)</pre>", firewall_html)
    assert fulls and len(fulls) == len(set(fulls))  # each full record once; later findings link to it
    assert "(full record shown above)" in firewall_html


def test_verdict_lists_serious_findings_first(firewall_html: str) -> None:
    verdict = firewall_html[firewall_html.index("id='verdict'"):firewall_html.index("id='contents'")]
    assert "A guest firewall rule blocks" in verdict and "Known-harmless" not in verdict


def test_healthy_verdict_says_nothing_is_wrong() -> None:
    html = report.render_report(kit.open_bundle(SAMPLES / "healthy"))
    verdict = html[html.index("id='verdict'"):html.index("id='contents'")]
    assert "Nothing at warning or above" in verdict
