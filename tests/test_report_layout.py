"""Issue 19, part 1 leftovers: a table of contents with an anchor per finding, evidence rows linked to an appendix
that shows the cited file's lines around them (secrets masked), tables that sort and filter with an inline script
(no external request), and print rules."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

import kit
from kit import report
from kit.diagnose import diagnose

SAMPLES = Path(__file__).parent.parent / "sample_logs"
SECRET = "Zm9vYmFyU2VjcmV0U2lnbmF0dXJl0123456789abc%3D"


@pytest.fixture(scope="module")
def firewall_html() -> str:
    return report.render_report(kit.open_bundle(SAMPLES / "firewall-blocks-32526"))


def test_contents_list_every_finding_and_every_link_resolves(firewall_html: str) -> None:
    toc = firewall_html[firewall_html.index("id='contents'"):firewall_html.index("id='findings'")]
    cards = re.findall(r"<div class='finding \w+' id='([^']+)'", firewall_html)
    assert cards and re.findall(r"href='#(finding-[^']+)'", toc) == cards
    ids = re.findall(r"id='([^']+)'", firewall_html)
    assert len(ids) == len(set(ids)), "duplicate ids"
    assert set(re.findall(r"href='#([^']+)'", firewall_html)) <= set(ids)


def test_evidence_links_to_the_lines_around_it(firewall_html: str) -> None:
    m = re.search(r"<a href='#(src-\d+)'[^>]*>C/WindowsAzure/Logs/WaAppAgent\.log:12</a>", firewall_html)
    assert m, "the firewall finding's agent-log evidence is not linked"
    ctx = re.search(rf"<div class='ctx' id='{m.group(1)}'>(.*?)</div>", firewall_html, re.S).group(1)
    assert "</pre><p class='meta'>cited by" in ctx
    assert "<h3>C/WindowsAzure/Logs/WaAppAgent.log:12</h3>" in ctx
    numbers = [int(n) for n in re.findall(r"<span class='ln'>\s*(\d+) </span>", ctx)]
    assert numbers == list(range(12 - report.CONTEXT_LINES, 12 + report.CONTEXT_LINES + 1))
    marked = re.findall(r"<mark><span class='ln'>12 </span>(.*?)</mark>", ctx)
    assert marked and "Exception while fetching supported versions from HostGAPlugin" in marked[0]
    assert "cited by <a href='#finding-1-guest_firewall_blocks_wireserver'>GUEST_FIREWALL_BLOCKS_WIRESERVER</a>" in ctx
    # evidence without a line (a JSON record) is not linked
    assert "<td class='n'>commands/firewall_rules.json</td>" in firewall_html


def test_appendix_masks_secrets_next_to_the_cited_line(tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    shutil.copytree(SAMPLES / "firewall-blocks-32526", bundle)
    log = bundle / "C/WindowsAzure/Logs/WaAppAgent.log"
    lines = log.read_bytes().split(b"\n")
    assert b"Heartbeat" in lines[10]  # line 11, just before the cited line 12
    lines[10] = lines[10].rstrip(b"\r") + (b" https://acct.blob.core.windows.net/c/s.zip?sv=2022-11-02&sr=b&sig="
                                           + SECRET.encode() + b"\r")
    log.write_bytes(b"\n".join(lines))
    html = report.render_report(kit.open_bundle(bundle))
    assert "s.zip?sv=2022-11-02" in html  # the line is shown ...
    assert SECRET not in html and SECRET[:20] not in html  # ... with its signature masked


def test_tables_sort_and_filter_offline(firewall_html: str) -> None:
    assert "<table class='sortable'><thead>" in firewall_html
    scripts = re.findall(r"<script([^>]*)>", firewall_html)
    assert scripts == [""], "one inline script, no src"
    assert not re.search(r"(src|href)=['\"](https?:)?//", firewall_html.split("id='findings'")[0])
    assert not re.search(r"<(img|script|link|iframe)[^>]+(src|href)=['\"]https?:", firewall_html)


def test_print_rules() -> None:
    css = report.CSS
    start = css.index("@media print")
    assert "nav.toc,input.filter{display:none}" in css[start:]
    assert "break-inside:avoid" in css[start:]
    assert "beforeprint" in report.SCRIPT  # collapsed blocks open before printing


def test_a_file_that_cannot_be_read_again_gets_no_link(tmp_path: Path) -> None:
    bundle = kit.open_bundle(SAMPLES / "firewall-blocks-32526")
    bundle.parse_all()
    findings = diagnose(bundle)
    bundle._src.read = lambda *a, **k: (_ for _ in ()).throw(OSError("gone"))  # type: ignore[method-assign]
    html = report.render_report(bundle, findings)
    assert "href='#src-" not in html and "No evidence cites a line of a text file." in html


def test_a_long_cell_is_cut_between_words_with_the_whole_text_as_its_title() -> None:
    import pandas as pd

    long = ("A connection attempt failed because the connected party did not properly respond after a period of "
            "time, or established connection failed because connected host has failed to respond "
            "169.254.169.254:80 & more")
    # 190 characters end inside the address: the cut goes back to the space before it
    cell = re.search(r"<td[^>]*>.*?</td>", report._table(pd.DataFrame({"error": [long]}), max_chars=190)).group(0)
    shown = re.sub(r"<[^>]+>", "", cell)
    assert shown.endswith(" …") and "169.254.169.254" not in shown and "169.2" not in shown
    assert "title='" in cell and "169.254.169.254:80 &amp; more" in cell  # the whole value, escaped
    row = report._table(pd.DataFrame({"n": [1]}))
    assert "<td>1</td>" in row


def test_a_secret_that_spans_lines_never_shows_through_the_context_window(tmp_path: Path) -> None:
    """A PEM block ending two lines before a cited line: the window shows only its tail, which alone does not look
    like a key; the file is masked as a whole, so the key body never reaches the report."""
    bundle = tmp_path / "b"
    shutil.copytree(SAMPLES / "firewall-blocks-32526", bundle)
    (bundle / "manifest.json").unlink()
    log = bundle / "C/WindowsAzure/Logs/WaAppAgent.log"
    lines = log.read_bytes().split(b"\n")
    body = b"MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7" + b"Q" * 12
    tail = b"R2xvYmFsU2lnbiBSb290IENBIC0gUjMwHhcNMDkwMzE4MTAwMDAwWhcN"
    pem = [b"-----BEGIN PRIVATE KEY-----\r", body + b"\r", tail + b"\r", b"-----END PRIVATE KEY-----\r"]
    # lines 12-15 now; the cited line 12 moves to 16, whose window (13-19) holds the key's body but not its BEGIN
    log.write_bytes(b"\n".join(lines[:11] + pem + lines[11:]))
    html = report.render_report(kit.open_bundle(bundle))
    assert "WaAppAgent.log:16" in html and "<span class='ln'>13 </span>" in html
    for secret in (body, tail):
        assert secret.decode() not in html and secret.decode()[:24] not in html


def test_verdict_leads_with_the_symptom_and_gives_each_cause_its_fix() -> None:
    html = report.render_report(kit.open_bundle(SAMPLES / "firewall-blocks-32526"))
    verdict = html[html.index("<h2 id='verdict'>"):html.index("<h2", html.index("<h2 id='verdict'>") + 5)]
    assert "<strong>Symptom:</strong> agent Not Ready (as reported; the agent&#x27;s last status" in verdict \
        or "<strong>Symptom:</strong> agent Not Ready (as reported; the agent's last status" in verdict
    items = re.findall(r"<li>.*?</li>", verdict, re.S)
    assert len(items) == 2 and all("<strong>Fix:</strong>" in i for i in items)
    # the fix says what to do (the remediation's second sentence), not only why
    assert "Allow outbound TCP to 168.63.129.16:32526" in items[1]
