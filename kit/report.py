"""One self-contained HTML report of a bundle: summary, findings with evidence, plots, key frames.

Everything is inline (CSS, PNG plots as data URIs), so the file can be attached to a case and read offline.
All text from the bundle is HTML-escaped, after secrets are masked (:func:`kit.redact.redact_text`: every piece of
text goes through :func:`_e`, so a caller's own findings frame or a raw frame cannot put a secret in the file).
"""

from __future__ import annotations

import base64
import html
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from . import __version__
from .redact import redact_text

if TYPE_CHECKING:  # pragma: no cover
    from .bundle import Bundle

#: Severity colours: white badge text on each (contrast >= 4.5:1, tests/test_report_contrast.py); a finding card is
#: white with its severity as a left border and a badge, never filled.
SEVERITY_COLOURS = {"critical": "#6b0000", "error": "#b3121f", "warning": "#9a3d00", "info": "#525252"}
TEXT, MUTED, LINK, PAGE = "#1b1b1b", "#4d4d4d", "#00548f", "#ffffff"

CSS = f"""
*{{box-sizing:border-box}}
body{{font-family:Segoe UI,Helvetica,Arial,sans-serif;margin:0 auto;padding:1em;max-width:1200px;color:{TEXT};
background:{PAGE};line-height:1.45;overflow-wrap:anywhere}}
h1{{font-size:1.6em;margin-bottom:.2em}} h2{{border-bottom:2px solid #0078d4;padding-bottom:.2em;margin-top:2em}}
a{{color:{LINK}}} .meta{{color:{MUTED}}}
pre{{background:#f5f5f5;padding:.6em;overflow-x:auto;font-size:.85em;white-space:pre-wrap;margin:.3em 0}}
.scroll{{overflow-x:auto;max-width:100%}}
table{{border-collapse:collapse;font-size:.85em;margin:.5em 0;width:100%}}
th,td{{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}} th{{background:#f0f0f0}}
td.n{{white-space:nowrap}}
table.routes td,table.routes th{{white-space:nowrap}} table.routes tr.eff td{{background:#fff4ce}}
.sev{{display:inline-block;font-weight:bold;padding:1px 7px;border-radius:3px;color:#fff;font-size:.85em;
text-transform:uppercase;letter-spacing:.03em}}
""" + "".join(f".sev.{k}{{background:{v}}} .finding.{k}{{border-left-color:{v}}}\n"
              for k, v in SEVERITY_COLOURS.items()) + f"""
.finding{{background:{PAGE};border:1px solid #ccc;border-left:6px solid #999;padding:.5em 1em;margin:1em 0}}
.finding h3{{margin:.2em 0;font-size:1.05em}} .code{{font-family:Consolas,monospace}}
ol.verdict li{{margin:.3em 0}} details>summary{{cursor:pointer}} img{{max-width:100%;height:auto;border:1px solid #eee}}
@media (max-width:700px){{table.ev tr{{display:block;border-bottom:1px solid #ccc;padding:.3em 0}}
table.ev th{{display:none}} table.ev td{{display:block;border:none;padding:1px 4px}} td.n{{white-space:normal}}
body{{padding:.5em}} .finding{{padding:.4em .6em}}}}
nav.toc ol{{margin:.2em 0;padding-left:1.4em}} nav.toc li{{margin:.1em 0}}
.ctx{{margin:.8em 0}} .ctx h3{{font-size:.95em;margin:.2em 0}} .ctx pre{{white-space:pre-wrap}}
.ctx .ln{{color:{MUTED};user-select:none}} .ctx mark{{background:#fff0b3;color:{TEXT};display:block}}
:target{{outline:3px solid #0078d4;outline-offset:2px}}
input.filter{{font:inherit;font-size:.85em;padding:2px 6px;margin:.3em 0;max-width:100%;border:1px solid #767676;
color:{TEXT};background:{PAGE}}}
table.sortable th{{cursor:pointer}} table.sortable td,table.sortable th{{overflow-wrap:break-word;min-width:3em}}
table.sortable{{width:max-content;min-width:100%}} table.sortable td{{max-width:26em}}
.scroll:has(table.sortable){{border-right:1px dashed #ccc}}
table.sortable th[aria-sort=ascending]::after{{content:" \\25B2"}}
table.sortable th[aria-sort=descending]::after{{content:" \\25BC"}}
@media print{{details{{display:block}} .scroll{{overflow:visible}} a{{color:{TEXT}}}
nav.toc,input.filter{{display:none}} body{{max-width:none;padding:0;font-size:10pt}}
.finding,.ctx,tr,img{{break-inside:avoid}} h2,h3{{break-after:avoid}}
.finding>p>a[href^=http]::after{{content:" (" attr(href) ")"}} :target{{outline:none}}}}
"""

#: The report's only script, inline and offline: click a column header to sort a table, type in the box above it to
#: filter its rows, and open every collapsed block before printing.
SCRIPT = """(function(){
function key(t){var s=t.trim(),n=Number(s.replace(/,/g,''));return s!==''&&!isNaN(n)?[0,n]:[1,s.toLowerCase()];}
function cmp(a,b){return a[0]-b[0]||(a[1]<b[1]?-1:a[1]>b[1]?1:0);}
document.querySelectorAll('table.sortable').forEach(function(t){
  var body=t.tBodies[0];if(!body)return;
  t.querySelectorAll('thead th').forEach(function(th,i){
    th.tabIndex=0;th.title='sort';
    function sort(){var asc=th.getAttribute('aria-sort')!=='ascending';
      t.querySelectorAll('thead th').forEach(function(o){o.removeAttribute('aria-sort');});
      th.setAttribute('aria-sort',asc?'ascending':'descending');
      var rows=Array.prototype.slice.call(body.rows);
      rows.sort(function(a,b){var r=cmp(key(a.cells[i].textContent),key(b.cells[i].textContent));return asc?r:-r;});
      rows.forEach(function(r){body.appendChild(r);});}
    th.addEventListener('click',sort);
    th.addEventListener('keydown',function(e){if(e.key==='Enter'||e.key===' '){e.preventDefault();sort();}});
  });
  var f=document.createElement('input');f.type='search';f.className='filter';
  f.placeholder='filter rows';f.setAttribute('aria-label','filter the rows of the table below');
  f.addEventListener('input',function(){var q=f.value.toLowerCase();
    Array.prototype.forEach.call(body.rows,function(r){
      r.style.display=r.textContent.toLowerCase().indexOf(q)>=0?'':'none';});});
  var box=t.parentNode.classList.contains('scroll')?t.parentNode:t;box.parentNode.insertBefore(f,box);
});
window.addEventListener('beforeprint',function(){document.querySelectorAll('details').forEach(function(d){d.open=true;});});
function reveal(){var id=decodeURIComponent(location.hash.slice(1));var el=id&&document.getElementById(id);
  for(var d=el;d;d=d.parentElement){if(d.tagName==='DETAILS')d.open=true;}}
window.addEventListener('hashchange',reveal);reveal();
})();
"""

#: Lines of the source file shown before and after an evidence line in the appendix.
CONTEXT_LINES = 3


def _e(x: object) -> str:
    if x is None or (not isinstance(x, (list, dict)) and pd.isna(x)):
        return ""
    return html.escape(redact_text(str(x)))


def _cell(v: object) -> str:
    """A table cell's text: integers without '.0', times as 'YYYY-MM-DD HH:MM:SS UTC'."""
    if isinstance(v, float) and v == v and v.is_integer():
        return str(int(v))
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d %H:%M:%S UTC") if v.tzinfo is not None else v.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v):
        return v[:12] + "…"  # a SHA-256: the first 12 hex digits tell files apart
    return v  # type: ignore[return-value]


def _table(df: pd.DataFrame, max_rows: int = 50, max_chars: int = 200) -> str:
    if df.empty:
        return "<p><em>none</em></p>"
    head = "".join(f"<th scope='col'>{_e(c)}</th>" for c in df.columns)
    rows = []
    for r in df.head(max_rows).itertuples(index=False):
        cells = []
        for v in r:
            text = redact_text(str(_cell(v))) if _e(v) else ""
            if len(text) > max_chars:  # cut at a space (never inside an address or a number); the whole is the title
                cut = text[:max_chars].rsplit(" ", 1)[0] if " " in text[:max_chars] else text[:max_chars]
                cells.append(f"<td title='{html.escape(text)}'>{html.escape(cut)} …</td>")
            else:
                cells.append(f"<td>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = f"<p><em>{len(df) - max_rows} more rows not shown</em></p>" if len(df) > max_rows else ""
    return (f"<div class='scroll'><table class='sortable'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}"
            f"</tbody></table></div>{more}")


class _Appendix:
    """The report's appendix: for each cited (file, line), the file's lines around it, read once per file from the
    bundle, redacted and escaped like all output. A file that cannot be read again gets no link, never an error."""

    def __init__(self, bundle: Bundle) -> None:
        self._bundle = bundle
        self._lines: dict[str, list[str] | None] = {}
        self.anchors: dict[tuple[str, int], str] = {}
        self._cited_by: dict[str, list[tuple[str, str]]] = {}

    def _read(self, source: str) -> list[str] | None:
        if source not in self._lines:
            self._lines[source] = None
            try:
                from .textio import decode, split_lines

                files = [f for f in self._bundle._files if source in (f.source, f.path)]
                if files and files[0].encoding not in (None, "binary"):
                    data = self._bundle._src.read(files[0].path, self._bundle._max_file)
                    text = decode(data).text
                    # Masked as a whole file, so a secret that spans lines (a PEM block) is found even when the
                    # window shows only its tail; a mask that joined lines would shift the numbers: no context then.
                    lines, masked = split_lines(text), split_lines(redact_text(text))
                    self._lines[source] = masked if len(masked) == len(lines) else None
            except Exception:  # the appendix is a convenience: a file that fails here simply gets no context
                self._lines[source] = None
        return self._lines[source]

    def link(self, source: str, line: int, finding: tuple[str, str] | None = None) -> str | None:
        """The anchor of ``source``:``line`` in the appendix, or None when that line cannot be shown; ``finding``
        (its anchor and code) is listed under the lines as citing them."""
        key = (source, line)
        if key not in self.anchors:
            lines = self._read(source)
            if lines is None or not 1 <= line <= len(lines):
                return None
            self.anchors[key] = f"src-{len(self.anchors) + 1}"
        cited = self._cited_by.setdefault(self.anchors[key], [])
        if finding is not None and finding not in cited:
            cited.append(finding)
        return self.anchors[key]

    def html(self) -> str:
        out = []
        for (source, line), anchor in sorted(self.anchors.items()):
            lines = self._read(source) or []
            lo, hi = max(1, line - CONTEXT_LINES), min(len(lines), line + CONTEXT_LINES)
            width = len(str(hi))
            text = redact_text("\n".join(lines[lo - 1:hi])).split("\n")
            body = []
            for n, t in zip(range(lo, hi + 1), text, strict=False):
                row = f"<span class='ln'>{n:>{width}} </span>{html.escape(t)}"
                body.append(f"<mark>{row}</mark>" if n == line else row + "\n")
            by = ", ".join(f"<a href='#{a}'>{_e(code)}</a>" for a, code in self._cited_by.get(anchor, []))
            out.append(f"<div class='ctx' id='{anchor}'><h3>{_e(source)}:{line}</h3><pre>{''.join(body)}</pre>"
                       + (f"<p class='meta'>cited by {by}</p>" if by else "") + "</div>")
        return "".join(out)


def _evidence(evidence: list[dict], shown: dict[str, str], anchor: str, appendix: _Appendix | None = None,
              code: str = "") -> str:
    """Evidence rows: where (file:line, linked to the file's lines around it in the appendix), when, and the
    record's first line; a multi-line record (a stack trace) is collapsed under its first line, and one already
    shown by an earlier finding is linked, not repeated."""
    rows = []
    for ev in evidence:
        source = ev.get("source") or ev.get("artifact")
        where = _e(source)
        line = ev.get("line")
        if line is not None and not (isinstance(line, float) and line != line):
            where += f":{int(line)}"
            target = (appendix.link(str(source), int(line), (anchor, code))
                      if appendix is not None and source else None)
            if target:
                where = f"<a href='#{target}' title='the file around this line'>{where}</a>"
        ts = ev.get("ts")
        when = _e(pd.Timestamp(ts).strftime("%Y-%m-%d %H:%M:%S UTC")) if ts else ""
        text = str(ev.get("text") or "")
        first, _, rest = text.partition("\n")
        body = f"<span>{_e(first)}</span>"
        if rest.strip():
            key = text
            if key in shown:
                body += f" <a href='#{shown[key]}'>(full record shown above)</a>"
            else:
                shown[key] = anchor
                body += (f"<details><summary>full record ({text.count(chr(10)) + 1} lines)</summary>"
                         f"<pre>{_e(text)}</pre></details>")
        rows.append(f"<tr><td class='n'>{where}</td><td class='n'>{when}</td><td>{body}</td></tr>")
    return ("<div class='scroll'><table class='ev'><thead><tr><th>where</th><th>when</th><th>record</th></tr></thead>"
            "<tbody>" + "".join(rows) + "</tbody></table></div>")


_DPI = 100
_PAD_INCHES = 0.1  # savefig's default pad around a tight bounding box


def _fig_png(fig) -> str:
    """The figure as a PNG data URI, drawn once.

    ``savefig(bbox_inches="tight")`` draws a figure twice (once to measure it, once to save it); here it is drawn
    once on an Agg canvas, the tight bounding box is measured on that drawing, and the pixels are cropped to it
    (padded as savefig pads). Only a figure whose artists reach past its own edges (which cropping cannot show)
    is saved the two-draw way."""
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    buf = io.BytesIO()
    try:
        fig.set_dpi(_DPI)
        canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
        canvas.draw()
        box = fig.get_tightbbox(canvas.get_renderer()).padded(_PAD_INCHES)
        w, h = canvas.get_width_height()
        x0, x1 = int(np.floor(box.x0 * _DPI)), int(np.ceil(box.x1 * _DPI))
        top, bottom = int(np.floor(h - box.y1 * _DPI)), int(np.ceil(h - box.y0 * _DPI))
        if x0 >= 0 and top >= 0 and x1 <= w and bottom <= h:
            pixels = np.asarray(canvas.buffer_rgba())[top:bottom, x0:x1]
            Image.fromarray(pixels, "RGBA").save(buf, format="png")
        else:
            fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _plots(bundle: Bundle, findings: pd.DataFrame) -> list[tuple[str, str]]:
    try:
        from . import plots
    except ImportError:  # pragma: no cover
        return []
    out = []
    for title, fn in plots.REPORT_PLOTS:
        try:
            fig = fn(bundle, findings=findings)
        except Exception as exc:  # a plot must never sink the report
            out.append((title, f"error: {type(exc).__name__}: {exc}"))
            continue
        out.append((title, _fig_png(fig)))
    return out


def _routes(bundle: Bundle) -> str:
    """The route table of the routes plot (:func:`kit.plots.route_table`) as HTML: the effective routes for
    WireServer and IMDS highlighted, the primary NIC's IP in bold."""
    try:
        from .plots import ROUTE_COLUMNS, route_table

        table = route_table(bundle)
    except Exception as exc:  # like a plot, the table must never sink the report
        return f"<p>{_e(f'error: {type(exc).__name__}: {exc}')}</p>"
    if table is None:
        return "<p>No route table (route print / Get-NetRoute) in this bundle</p>"
    head = "".join(f"<th scope='col'>{_e(c)}</th>" for c in ROUTE_COLUMNS)
    rows = []
    for cells, effective, primary in zip(table.cells, table.effective, table.primary, strict=True):
        tds = "".join(f"<td><b>{_e(c)}</b></td>" if j == 2 and primary else f"<td>{_e(c)}</td>"
                      for j, c in enumerate(cells))
        rows.append(("<tr class='eff'>" if effective else "<tr>") + tds + "</tr>")
    title = table.title.removeprefix("Routes: ")
    caption = "<br>".join(_e(line) for line in (title[:1].upper() + title[1:]).split("\n"))
    return (f"<p class='meta'>{caption}</p><div class='scroll'><table class='routes'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def render_report(bundle: Bundle, findings: pd.DataFrame | None = None) -> str:
    """The report as an HTML string: the verdict (what is wrong, most severe first, each linked to its card), then
    each finding with its evidence and fix, the plots, the key frames and what could not be read."""
    from .diagnose import diagnose
    from .diagnose.symptoms import fix_text, symptom_seen

    if findings is None:
        findings = diagnose(bundle)
    counts = findings["severity"].value_counts()
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
             f"<title>guestagent-kit report: {_e(bundle.vm_name)}</title><style>{CSS}</style></head><body>",
             f"<h1>Azure VM Agent diagnosis: {_e(bundle.vm_name)}</h1>",
             f"<p class='meta'>Bundle <code>{_e(bundle.path)}</code> &middot; generated "
             f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} by guestagent-kit {__version__}</p>",
             *(f"<p class='incomplete'><strong>{_e(line)}</strong></p>" for line in bundle.incomplete()),
             "<p>" + " ".join(f"<span class='sev {s}'>{int(counts.get(s, 0))} {s}</span>"
                              for s in ("critical", "error", "warning", "info")) + "</p>",
             "<h2 id='verdict'>Verdict</h2>", f"<p><strong>Symptom:</strong> {_e(symptom_seen(findings, bundle))}</p>"]
    anchors = [f"finding-{i + 1}-{str(r.code).lower()}" for i, r in enumerate(findings.itertuples(index=False))]
    serious = [(a, r) for a, r in zip(anchors, findings.itertuples(index=False), strict=True)
               if str(r.severity) != "info"]
    if not serious:
        parts.append("<p>Nothing at warning or above: no fault found in what the bundle holds"
                     + (" (see the info notes below for what could not be checked)." if len(findings) else ".")
                     + "</p>")
    else:
        parts.append("<ol class='verdict'>" + "".join(
            f"<li><span class='sev {r.severity}'>{r.severity}</span> <a href='#{a}'>{_e(r.title)}</a>"
            f"<br>{_e(r.summary)}<br><strong>Fix:</strong> {_e(fix_text(r.remediation))}</li>"
            for a, r in serious) + "</ol>")
    plots = _plots(bundle, findings)
    frames = [(name, bundle.frame(name)) for name, _ in KEY_FRAMES]
    frames = [(name, df[[c for c in cols if c in df.columns]])
              for (name, df), (_, cols) in zip(frames, KEY_FRAMES, strict=True) if not df.empty]
    toc = ["<li><a href='#verdict'>Verdict</a></li>",
           "<li><a href='#findings'>Findings</a>" + ("<ol>" + "".join(
               f"<li><a href='#{a}'>{_e(r.title)}</a> <span class='code'>({_e(r.code)})</span></li>"
               for a, r in zip(anchors, findings.itertuples(index=False), strict=True)) + "</ol>"
               if len(findings) else "") + "</li>",
           "<li><a href='#plots'>Plots</a></li>" if plots else "",
           "<li><a href='#frames'>Key frames</a></li>" if frames else "",
           "<li><a href='#evidence-context'>Evidence in context</a></li>",
           "<li><a href='#bundle'>Bundle and files</a></li>"]
    parts += [f"<nav class='toc' aria-label='contents'><h2 id='contents'>Contents</h2><ol>{''.join(toc)}</ol></nav>",
              "<h2 id='findings'>Findings</h2>"]
    if findings.empty:
        parts.append("<p>No findings.</p>")
    shown: dict[str, str] = {}
    appendix = _Appendix(bundle)
    for a, r in zip(anchors, findings.itertuples(index=False), strict=True):
        sev = str(r.severity)
        ev = _evidence(list(r.evidence), shown, a, appendix, str(r.code)) if r.evidence_count else ""
        parts.append(
            f"<div class='finding {sev}' id='{a}'><h3><span class='sev {sev}'>{sev}</span> {_e(r.title)} "
            f"<span class='code'>({_e(r.code)})</span></h3><p>{_e(r.summary)}</p>"
            + (f"<details{' open' if sev != 'info' else ''}><summary>Evidence ({r.evidence_count} rows)</summary>"
               f"{ev}</details>" if r.evidence_count else "")
            + f"<p><b>Fix:</b> {_e(r.remediation)}</p><p><a href='{_e(r.docs)}'>{_e(r.docs)}</a></p></div>")
    if plots:
        parts.append("<h2 id='plots'>Plots</h2>")
    for title, src in plots:
        parts.append(f"<h3>{_e(title)}</h3>")
        parts.append(f"<img alt='{_e(title)}' src='{src}'>" if src.startswith("data:") else f"<p>{_e(src)}</p>")
    if plots:
        parts.append(f"<h3>Routes</h3>{_routes(bundle)}")
    if frames:
        parts.append("<h2 id='frames'>Key frames</h2>")
    for name, df in frames:
        parts.append(f"<h3>{_e(name)} ({len(df)} row{'' if len(df) == 1 else 's'})</h3>{_table(df)}")
    parts.append("<h2 id='evidence-context'>Evidence in context</h2>")
    parts.append(f"<p class='meta'>Each cited log line with {CONTEXT_LINES} lines of its file either side (secrets "
                 "masked).</p>" + appendix.html() if appendix.anchors
                 else "<p>No evidence cites a line of a text file.</p>")
    parts.append(f"<h2 id='bundle'>Bundle and files</h2><pre>{_e(bundle.summary())}</pre>")
    inv = bundle.inventory
    inv_cols = [c for c in ("path", "artifact", "status", "size", "rows", "issues", "encoding", "note")
                if c in inv.columns]
    parts.append("<h3>inventory</h3>" + _table(inv[inv_cols], max_rows=200))
    if not bundle.issues.empty:
        iss = bundle.issues
        parts.append("<h3>parse issues</h3>" + _table(iss[[c for c in ("source", "line", "kind", "message")
                                                           if c in iss.columns]], max_rows=100))
    parts.append(f"<script>{SCRIPT}</script></body></html>")
    return "\n".join(parts)


KEY_FRAMES: list[tuple[str, list[str]]] = [
    ("tcp_probes", ["target", "port", "endpoint", "attempt", "ok", "elapsed_ms", "outcome", "error"]),
    ("http_probes", ["endpoint", "url", "status", "outcome", "detail", "error"]),
    ("proxy", ["scope", "direct", "proxy_server", "bypass"]),
    ("routes", ["family", "destination", "gateway", "on_link", "interface", "if_index", "metric", "persistent",
                "origin"]),
    ("adapters", ["adapter", "description", "mac", "dhcp_enabled", "default_gateways", "ipv4_count"]),
    ("ext_status", ["extension", "ext_version", "seq", "timestamp", "operation", "status", "code", "message"]),
    # the extension operations as the rules judge them (kit.derive.operations): one row per operation
    ("extension_operations", ["extension", "version", "operation", "seq", "start", "end", "end_basis", "outcome",
                              "elapsed_min", "budget_min", "running_at_collection", "disagreement"]),
    ("services", ["name", "status", "start_type", "file_version"]),
    ("firewall_rules", ["display_name", "direction", "action", "protocol", "remote_address", "remote_port"]),
]


def write_report(bundle: Bundle, output: str | Path, findings: pd.DataFrame | None = None) -> Path:
    """Write the report; the file appears complete or not at all."""
    out = Path(output)
    text = render_report(bundle, findings)
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return out
