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

CSS = """
body{font-family:Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1200px;color:#1b1b1b;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em} h2{border-bottom:2px solid #0078d4;padding-bottom:.2em;margin-top:2em}
.meta{color:#555} pre{background:#f5f5f5;padding:.6em;overflow-x:auto;font-size:.85em;white-space:pre-wrap}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0;width:100%} th,td{border:1px solid #ddd;padding:3px 6px;
text-align:left;vertical-align:top} th{background:#f0f0f0} .sev{font-weight:bold;padding:2px 6px;border-radius:3px;
color:#fff} .critical{background:#6b0000} .error{background:#c50f1f}
.warning{background:#bc4b09} .info{background:#5c5c5c}
.finding{border:1px solid #ddd;border-left:6px solid #999;padding:.5em 1em;margin:1em 0}
.finding.critical{border-left-color:#6b0000} .finding.error{border-left-color:#c50f1f}
.finding.warning{border-left-color:#bc4b09} img{max-width:100%;border:1px solid #eee}
"""


def _e(x: object) -> str:
    if x is None or (not isinstance(x, (list, dict)) and pd.isna(x)):
        return ""
    return html.escape(redact_text(str(x)))


def _table(df: pd.DataFrame, max_rows: int = 50, max_chars: int = 200) -> str:
    if df.empty:
        return "<p><em>none</em></p>"
    head = "".join(f"<th>{_e(c)}</th>" for c in df.columns)
    rows = []
    for r in df.head(max_rows).itertuples(index=False):
        cells = []
        for v in r:
            s = _e(v)
            cells.append(f"<td>{s[:max_chars] + ('…' if len(s) > max_chars else '')}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = f"<p><em>{len(df) - max_rows} more rows not shown</em></p>" if len(df) > max_rows else ""
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>{more}"


def _fig_png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

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
    """The report as an HTML string."""
    from .diagnose import diagnose

    if findings is None:
        findings = diagnose(bundle)
    counts = findings["severity"].value_counts()
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>guestagent-kit report: "
             f"{_e(bundle.path)}</title><style>{CSS}</style></head><body>",
             "<h1>Azure VM Agent diagnosis</h1>",
             f"<p class='meta'>Bundle <code>{_e(bundle.path)}</code> &middot; generated "
             f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} by guestagent-kit {__version__}</p>",
             "<p>" + " ".join(f"<span class='sev {s}'>{int(counts.get(s, 0))} {s}</span>"
                              for s in ("critical", "error", "warning", "info")) + "</p>",
             "<h2>Summary</h2>", f"<pre>{_e(bundle.summary())}</pre>",
             "<h2>Findings</h2>"]
    if findings.empty:
        parts.append("<p>No findings.</p>")
    for r in findings.itertuples(index=False):
        sev = str(r.severity)
        ev = pd.DataFrame(list(r.evidence)) if r.evidence_count else pd.DataFrame()
        parts.append(
            f"<div class='finding {sev}'><p><span class='sev {sev}'>{sev}</span> <b>{_e(r.code)}</b>: "
            f"{_e(r.title)}</p><p>{_e(r.summary)}</p>"
            + (f"<details{' open' if sev != 'info' else ''}><summary>Evidence ({r.evidence_count} rows)</summary>"
               f"{_table(ev, max_chars=600)}</details>" if r.evidence_count else "")
            + f"<p><b>Fix:</b> {_e(r.remediation)}</p><p><a href='{_e(r.docs)}'>{_e(r.docs)}</a></p></div>")
    plots = _plots(bundle, findings)
    if plots:
        parts.append("<h2>Plots</h2>")
        for title, src in plots:
            parts.append(f"<h3>{_e(title)}</h3>")
            parts.append(f"<img alt='{_e(title)}' src='{src}'>" if src.startswith("data:") else f"<p>{_e(src)}</p>")
    parts.append("<h2>Key frames</h2>")
    for name, cols in KEY_FRAMES:
        df = bundle.frame(name)
        if df.empty:
            continue
        cols = [c for c in cols if c in df.columns]
        parts.append(f"<h3>{_e(name)} ({len(df)} rows)</h3>{_table(df[cols])}")
    parts.append("<h3>inventory</h3>" + _table(bundle.inventory, max_rows=200))
    if not bundle.issues.empty:
        parts.append("<h3>parse issues</h3>" + _table(bundle.issues, max_rows=100))
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
