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
@media print{{details{{display:block}} .scroll{{overflow:visible}} a{{color:{TEXT}}}}}
"""


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
    head = "".join(f"<th>{_e(c)}</th>" for c in df.columns)
    rows = []
    for r in df.head(max_rows).itertuples(index=False):
        cells = []
        for v in r:
            s = _e(_cell(v))
            cells.append(f"<td>{s[:max_chars] + ('…' if len(s) > max_chars else '')}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = f"<p><em>{len(df) - max_rows} more rows not shown</em></p>" if len(df) > max_rows else ""
    return f"<div class='scroll'><table><tr>{head}</tr>{''.join(rows)}</table></div>{more}"


def _evidence(evidence: list[dict], shown: dict[str, str], anchor: str) -> str:
    """Evidence rows: where (file:line), when, and the record's first line; a multi-line record (a stack trace)
    is collapsed under its first line, and one already shown by an earlier finding is linked, not repeated."""
    rows = []
    for ev in evidence:
        where = _e(ev.get("source") or ev.get("artifact"))
        if ev.get("line") is not None:
            where += f":{int(ev['line'])}"
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
    return ("<div class='scroll'><table class='ev'><tr><th>where</th><th>when</th><th>record</th></tr>"
            + "".join(rows) + "</table></div>")


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


def render_report(bundle: Bundle, findings: pd.DataFrame | None = None) -> str:
    """The report as an HTML string: the verdict (what is wrong, most severe first, each linked to its card), then
    each finding with its evidence and fix, the plots, the key frames and what could not be read."""
    from .diagnose import diagnose

    if findings is None:
        findings = diagnose(bundle)
    counts = findings["severity"].value_counts()
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
             f"<title>guestagent-kit report: {_e(bundle.vm_name)}</title><style>{CSS}</style></head><body>",
             f"<h1>Azure VM Agent diagnosis: {_e(bundle.vm_name)}</h1>",
             f"<p class='meta'>Bundle <code>{_e(bundle.path)}</code> &middot; generated "
             f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} by guestagent-kit {__version__}</p>",
             "<p>" + " ".join(f"<span class='sev {s}'>{int(counts.get(s, 0))} {s}</span>"
                              for s in ("critical", "error", "warning", "info")) + "</p>",
             "<h2 id='verdict'>Verdict</h2>"]
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
            f"<br>{_e(r.summary)}</li>" for a, r in serious) + "</ol>")
    parts += ["<p><a href='#findings'>Findings</a> &middot; <a href='#plots'>Plots</a> &middot; "
              "<a href='#frames'>Key frames</a> &middot; <a href='#bundle'>Bundle and files</a></p>",
              "<h2 id='findings'>Findings</h2>"]
    if findings.empty:
        parts.append("<p>No findings.</p>")
    shown: dict[str, str] = {}
    for a, r in zip(anchors, findings.itertuples(index=False), strict=True):
        sev = str(r.severity)
        ev = _evidence(list(r.evidence), shown, a) if r.evidence_count else ""
        parts.append(
            f"<div class='finding {sev}' id='{a}'><h3><span class='sev {sev}'>{sev}</span> {_e(r.title)} "
            f"<span class='code'>({_e(r.code)})</span></h3><p>{_e(r.summary)}</p>"
            + (f"<details{' open' if sev != 'info' else ''}><summary>Evidence ({r.evidence_count} rows)</summary>"
               f"{ev}</details>" if r.evidence_count else "")
            + f"<p><b>Fix:</b> {_e(r.remediation)}</p><p><a href='{_e(r.docs)}'>{_e(r.docs)}</a></p></div>")
    plots = _plots(bundle, findings)
    parts.append("<h2 id='plots'>Plots</h2>")
    for title, src in plots:
        parts.append(f"<h3>{_e(title)}</h3>")
        parts.append(f"<img alt='{_e(title)}' src='{src}'>" if src.startswith("data:") else f"<p>{_e(src)}</p>")
    parts.append("<h2 id='frames'>Key frames</h2>")
    for name, cols in KEY_FRAMES:
        df = bundle.frame(name)
        if df.empty:
            continue
        cols = [c for c in cols if c in df.columns]
        parts.append(f"<h3>{_e(name)} ({len(df)} rows)</h3>{_table(df[cols])}")
    parts.append(f"<h2 id='bundle'>Bundle and files</h2><pre>{_e(bundle.summary())}</pre>")
    inv = bundle.inventory
    inv_cols = [c for c in ("path", "artifact", "status", "size", "rows", "issues", "encoding", "note")
                if c in inv.columns]
    parts.append("<h3>inventory</h3>" + _table(inv[inv_cols], max_rows=200))
    if not bundle.issues.empty:
        iss = bundle.issues
        parts.append("<h3>parse issues</h3>" + _table(iss[[c for c in ("source", "line", "kind", "message")
                                                           if c in iss.columns]], max_rows=100))
    parts.append("</body></html>")
    return "\n".join(parts)


KEY_FRAMES: list[tuple[str, list[str]]] = [
    ("tcp_probes", ["target", "port", "endpoint", "attempt", "ok", "elapsed_ms", "outcome", "error"]),
    ("http_probes", ["endpoint", "url", "status", "outcome", "detail", "error"]),
    ("proxy", ["scope", "direct", "proxy_server", "bypass"]),
    ("routes", ["family", "destination", "gateway", "on_link", "interface", "if_index", "metric", "persistent",
                "origin"]),
    ("adapters", ["adapter", "description", "mac", "dhcp_enabled", "default_gateways", "ipv4_count"]),
    ("ext_status", ["extension", "ext_version", "seq", "timestamp", "operation", "status", "code", "message"]),
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
