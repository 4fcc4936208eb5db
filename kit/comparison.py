"""Before and after: which findings a change resolved, which it introduced, and what changed in the frames that
decide them.

    >>> import kit
    >>> c = kit.compare("case/before.zip", "case/after.zip")   # paths or Bundles
    >>> c.findings          # one row per finding: resolved, new or remains, with both severities
    >>> c.changes           # one row per changed fact: routes, proxy, firewall rules, services, probes, versions
    >>> print(c.text())     # what `vmkit diff BEFORE AFTER` prints

**Findings** are matched by code. Where a code appears more than once on a side (one finding per extension, say),
the findings are paired by the evidence files they cite, then by how alike their summaries are; what is left
unpaired is resolved (before only) or new (after only).

**Changes** compare the frames listed in :data:`COMPARED` row by row on a key (a route's destination, prefix,
gateway and interface; a firewall rule's name; a service's name; a probe's target and port), so a fact counts as
changed only when both bundles read it: a frame one bundle lacks is reported as *not compared* (with the reason),
never as everything removed or added. Each change carries its evidence (file and line in the bundle it comes from).
A resolved or new finding lists the changes in the frames its evidence cites (``related_changes``): the firewall
rule that disappeared is the evidence that a firewall finding was resolved.

A *before* and an *after* of different VMs (another VM name or VM id) are compared all the same, with a note: a
rebuilt VM is a legitimate after, a bundle of another VM is a mistake the engineer should see.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .schema import Col, FrameSchema

if TYPE_CHECKING:  # pragma: no cover
    from .bundle import Bundle


@dataclass(frozen=True)
class Compared:
    """How one frame is compared: the columns that identify a row, the columns whose values matter, and how a row
    is named for a person."""

    frame: str
    keys: tuple[str, ...]
    values: tuple[str, ...]
    label: Callable[[dict[str, Any]], str]
    #: Summarise the rows of one key into one value (probes: "3/3 ok") instead of comparing row by row.
    aggregate: Callable[[pd.DataFrame], dict[str, Any]] | None = None


def _s(v: Any) -> str:
    return "" if v is None or (not isinstance(v, list | tuple | dict) and pd.isna(v)) else str(v)


def _route_label(r: dict[str, Any]) -> str:
    dest = _s(r.get("destination"))
    plen = _s(r.get("prefix_len"))
    via = _s(r.get("gateway")) or "on-link"
    return f"{dest}/{plen} via {via} on {_s(r.get('interface')) or '?'}" + (
        " (persistent)" if r.get("persistent") is True else "")


def _probe_summary(rows: pd.DataFrame) -> dict[str, Any]:
    ok = rows["ok"].dropna()
    outcomes = ", ".join(sorted({_s(o) for o in rows.get("outcome", pd.Series(dtype=object)).dropna()} - {""}))
    if ok.empty:
        return {"result": pd.NA, "outcomes": outcomes or pd.NA}
    return {"result": f"{int(ok.sum())}/{len(ok)} ok", "outcomes": outcomes or pd.NA}


def _http_summary(rows: pd.DataFrame) -> dict[str, Any]:
    st = rows["status"].dropna()
    out = _probe_summary(rows)
    out["status"] = ", ".join(str(int(s)) for s in sorted(set(st))) if not st.empty else pd.NA
    return out


#: The frames that decide a network or agent case, compared between two bundles (issue: "routes, proxy, firewall
#: rules, services, probe outcomes, agent and extension versions").
COMPARED: tuple[Compared, ...] = (
    Compared("routes", ("destination", "prefix_len", "gateway", "interface", "persistent"), ("metric",),
             _route_label),
    Compared("proxy", ("scope",), ("direct", "proxy_server", "bypass"),
             lambda r: f"{_s(r.get('scope')) or 'proxy'} proxy"),
    Compared("firewall_rules", ("name",), ("display_name", "enabled", "direction", "action", "protocol",
                                           "remote_address", "remote_port", "program"),
             lambda r: f"firewall rule '{_s(r.get('display_name')) or _s(r.get('name'))}'"),
    Compared("services", ("name",), ("status", "start_type", "file_version"),
             lambda r: f"service {_s(r.get('name'))}"),
    Compared("tcp_probes", ("target", "port"), ("result", "outcomes"),
             lambda r: f"TCP {_s(r.get('target'))}:{_s(r.get('port'))}", _probe_summary),
    Compared("http_probes", ("endpoint", "path"), ("result", "status", "outcomes"),
             lambda r: f"HTTP {_s(r.get('endpoint'))} {_s(r.get('path'))}".rstrip(), _http_summary),
    Compared("agent_status", (), ("agent_version", "agent_status"), lambda r: "agent",
             lambda rows: {k: _s(rows.iloc[-1][k]) or pd.NA for k in ("agent_version", "agent_status")}),
    Compared("handler_status", ("handler_name",), ("handler_version", "handler_status"),
             lambda r: f"extension {_s(r.get('handler_name'))}",
             lambda rows: {k: _s(rows.iloc[-1][k]) or pd.NA for k in ("handler_version", "handler_status")}),
)

FINDING_CHANGES = FrameSchema(
    "finding_changes",
    "One row per finding of either bundle (`kit.compare(...).findings`): resolved (before only), new (after only) or "
    "remains (both).",
    (Col("status", "category", "resolved, new or remains.", False),
     Col("code", "str", "Finding code.", False),
     Col("severity_before", "category", "Severity in the before bundle; NA when new."),
     Col("severity_after", "category", "Severity in the after bundle; NA when resolved."),
     Col("title", "str", "The catalog title.", False),
     Col("summary_before", "str", "The before finding's summary."),
     Col("summary_after", "str", "The after finding's summary."),
     Col("evidence_sources", "str", "Files the finding cites (both sides), comma-separated."),
     Col("related_changes", "str", "Changes (rows of `changes`) in the frames the finding's evidence comes from, "
         "one per line.")),
)

CHANGES = FrameSchema(
    "changes",
    "One row per fact that differs between the bundles in the frames that decide a case (`kit.compare(...).changes`; "
    "see kit.comparison.COMPARED); a frame only one bundle read is one `not-compared` row.",
    (Col("frame", "str", "The frame compared (routes, proxy, firewall_rules, services, tcp_probes, ...).", False),
     Col("item", "str", "What the row is, for a person (a route, a rule's name, a probe's endpoint).", False),
     Col("change", "category", "added, removed, changed or not-compared.", False),
     Col("field", "str", "The value that changed (for `changed`)."),
     Col("before", "str", "Its value before (NA when added)."),
     Col("after", "str", "Its value after (NA when removed)."),
     Col("evidence", "str", "Where it is read: `before: file:line` and/or `after: file:line`."),
     Col("note", "str", "Why a frame was not compared.")),
)

_STATUS = ("resolved", "new", "remains")
_CHANGE = ("added", "removed", "changed", "not-compared")


@dataclass
class Comparison:
    """The result of :func:`compare`."""

    before: str
    after: str
    findings: pd.DataFrame
    changes: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    before_label: str = ""
    after_label: str = ""

    def counts(self) -> dict[str, int]:
        """Findings per status (resolved, new, remains)."""
        vc = self.findings["status"].value_counts()
        return {s: int(vc.get(s, 0)) for s in _STATUS}

    def text(self, *, min_severity: str | None = None, width: int = 110) -> str:
        """A plain-text account (what ``vmkit diff`` prints)."""
        return _text(self, min_severity=min_severity, width=width)


# -- findings -----------------------------------------------------------------------------------------------------
def _sources(f: pd.Series) -> set[str]:
    ev = f.get("evidence")
    if not isinstance(ev, list | tuple):
        return set()
    return {str(e.get("source")) for e in ev if isinstance(e, dict) and e.get("source")}


def _artifacts(f: pd.Series) -> set[str]:
    ev = f.get("evidence")
    if not isinstance(ev, list | tuple):
        return set()
    return {str(e.get("artifact")) for e in ev if isinstance(e, dict) and e.get("artifact")}


def _pair(before: list[pd.Series], after: list[pd.Series]) -> tuple[list[tuple[pd.Series, pd.Series]],
                                                                     list[pd.Series], list[pd.Series]]:
    """Pair same-code findings: most shared evidence files first, then most alike summaries."""
    scored = []
    for i, b in enumerate(before):
        for j, a in enumerate(after):
            shared = len(_sources(b) & _sources(a))
            alike = difflib.SequenceMatcher(None, str(b["summary"]), str(a["summary"])).ratio()
            scored.append((-shared, -alike, i, j))
    scored.sort()
    used_b: set[int] = set()
    used_a: set[int] = set()
    pairs = []
    for _, _, i, j in scored:
        if i in used_b or j in used_a:
            continue
        used_b.add(i)
        used_a.add(j)
        pairs.append((before[i], after[j]))
    return (pairs, [b for i, b in enumerate(before) if i not in used_b],
            [a for j, a in enumerate(after) if j not in used_a])


def _finding_rows(fb: pd.DataFrame, fa: pd.DataFrame) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    codes = list(dict.fromkeys([*fb["code"], *fa["code"]]))
    for code in codes:
        b = [r for _, r in fb[fb["code"] == code].iterrows()]
        a = [r for _, r in fa[fa["code"] == code].iterrows()]
        pairs, gone, came = _pair(b, a)
        for rb, ra in pairs:
            rows.append(_frow("remains", rb, ra))
        rows += [_frow("resolved", r, None) for r in gone]
        rows += [_frow("new", None, r) for r in came]
    return rows


def _frow(status: str, b: pd.Series | None, a: pd.Series | None) -> dict[str, Any]:
    one = a if a is not None else b
    assert one is not None
    srcs = sorted((_sources(b) if b is not None else set()) | (_sources(a) if a is not None else set()))
    return {"status": status, "code": one["code"], "title": one["title"],
            "severity_before": b["severity"] if b is not None else None,
            "severity_after": a["severity"] if a is not None else None,
            "summary_before": b["summary"] if b is not None else None,
            "summary_after": a["summary"] if a is not None else None,
            "evidence_sources": ", ".join(srcs) or None,
            "_artifacts": (_artifacts(b) if b is not None else set()) | (_artifacts(a) if a is not None else set())}


# -- frames -------------------------------------------------------------------------------------------------------
def _where(row: dict[str, Any]) -> str:
    src = _s(row.get("source"))
    line = row.get("line")
    return f"{src}:{int(line)}" if src and line is not None and not pd.isna(line) else src


def _keyed(df: pd.DataFrame, spec: Compared) -> dict[tuple, dict[str, Any]]:
    """Rows by key; the first row of a key wins (a route read by both route print and Get-NetRoute is one row)."""
    present = [k for k in spec.keys if k in df.columns]
    out: dict[tuple, dict[str, Any]] = {}
    if spec.aggregate is not None:
        groups = df.groupby(present, sort=False, dropna=False) if present else [((), df)]
        for key, rows in groups:
            key = key if isinstance(key, tuple) else (key,)
            first = rows.iloc[0].to_dict()
            first.update(spec.aggregate(rows))
            out[tuple(_s(k) for k in key)] = first
        return out
    for r in df.to_dict("records"):
        key = tuple(_s(r.get(k)) for k in present)
        out.setdefault(key, r)
    return out


def _frame_changes(spec: Compared, b: pd.DataFrame, a: pd.DataFrame) -> list[dict[str, Any]]:
    kb, ka = _keyed(b, spec), _keyed(a, spec)
    rows: list[dict[str, Any]] = []
    for key, rb in kb.items():
        if key not in ka:
            rows.append({"frame": spec.frame, "item": spec.label(rb), "change": "removed",
                         "before": _values(rb, spec), "evidence": "before: " + _where(rb)})
            continue
        ra = ka[key]
        for col in spec.values:
            vb, va = _s(rb.get(col)), _s(ra.get(col))
            if vb == va or not vb or not va:  # a value one side did not read is not a change
                continue
            rows.append({"frame": spec.frame, "item": spec.label(ra), "change": "changed", "field": col,
                         "before": vb, "after": va,
                         "evidence": f"before: {_where(rb)}; after: {_where(ra)}"})
    for key, ra in ka.items():
        if key not in kb:
            rows.append({"frame": spec.frame, "item": spec.label(ra), "change": "added",
                         "after": _values(ra, spec), "evidence": "after: " + _where(ra)})
    return rows


def _values(r: dict[str, Any], spec: Compared) -> str:
    label = spec.label(r)
    return ", ".join(f"{c}={_s(r.get(c))}" for c in spec.values if _s(r.get(c)) and _s(r.get(c)) not in label)


# -- entry point --------------------------------------------------------------------------------------------------
def _as_bundle(x: Bundle | str | Path) -> Bundle:
    if hasattr(x, "frame"):
        return x  # type: ignore[return-value]
    from .bundle import open_bundle

    return open_bundle(x)


def _label(b: Bundle) -> str:
    when = b.time_reference
    return f"{b.path} (VM {b.vm_name}, " + (f"collected {when:%Y-%m-%d %H:%M} UTC)" if when is not None
                                            else "collection time unknown)")


def _vm_ids(b: Bundle) -> set[str]:
    try:
        df = b.frame("imds_compute")
    except KeyError:
        return set()
    return {str(v) for v in df.get("vm_id", pd.Series(dtype=object)).dropna()}


def compare(before: Bundle | str | Path, after: Bundle | str | Path, *,
            findings_before: pd.DataFrame | None = None,
            findings_after: pd.DataFrame | None = None) -> Comparison:
    """Compare two bundles (paths or Bundles). ``findings_before``/``findings_after``: findings already computed
    (``kit.diagnose(bundle)``), to skip diagnosing again."""
    from .diagnose import diagnose

    bb, ba = _as_bundle(before), _as_bundle(after)
    fb = findings_before if findings_before is not None else diagnose(bb)
    fa = findings_after if findings_after is not None else diagnose(ba)
    notes: list[str] = []
    if bb.vm_name != ba.vm_name and "?" not in (bb.vm_name, ba.vm_name):
        notes.append(f"The bundles are of different VMs ({bb.vm_name} before, {ba.vm_name} after): right for a "
                     "rebuilt VM, a mistake otherwise.")
    elif (ib := _vm_ids(bb)) and (ia := _vm_ids(ba)) and not ib & ia:
        notes.append("The bundles carry different IMDS VM ids: right for a rebuilt VM, a mistake otherwise.")
    tb, ta = bb.time_reference, ba.time_reference
    if tb is not None and ta is not None and ta < tb:
        notes.append(f"The 'after' bundle is older than the 'before' one ({ta:%Y-%m-%d %H:%M} < "
                     f"{tb:%Y-%m-%d %H:%M} UTC): are they the right way round?")

    changes: list[dict[str, Any]] = []
    for spec in COMPARED:
        dfb, dfa = _frame_or_empty(bb, spec.frame), _frame_or_empty(ba, spec.frame)
        if dfb.empty and dfa.empty:
            continue
        unread = [w for w, b, df in (("before", bb, dfb), ("after", ba, dfa)) if df.empty and not _read(b, spec.frame)]
        if unread:
            changes.append({"frame": spec.frame, "item": spec.frame, "change": "not-compared",
                            "note": f"the {unread[0]} bundle has no readable file for {spec.frame}: nothing can be "
                                    "said about what changed there"})
            continue
        changes += _frame_changes(spec, dfb, dfa)
    ch = CHANGES.from_records(changes)
    ch["change"] = ch["change"].cat.set_categories(_CHANGE)

    frows = _finding_rows(fb, fa)
    for r in frows:
        arts = r.pop("_artifacts")
        if r["status"] == "remains":
            continue
        rel = ch[ch["frame"].isin(arts) & (ch["change"] != "not-compared")]
        r["related_changes"] = "\n".join(_change_line(c) for c in rel.to_dict("records")) or None
    fdf = FINDING_CHANGES.from_records(frows)
    fdf["status"] = fdf["status"].cat.set_categories(_STATUS)
    sev = fb["severity"].cat.categories if len(fb) else fa["severity"].cat.categories
    for col in ("severity_before", "severity_after"):
        fdf[col] = pd.Categorical(fdf[col].astype("object"), categories=list(sev), ordered=True)
    order = {"new": 0, "resolved": 1, "remains": 2}
    top = fdf[["severity_after", "severity_before"]].apply(
        lambda s: max((x for x in s if not pd.isna(x)), key=list(sev).index, default=sev[0]), axis=1)
    fdf = fdf.assign(_o=fdf["status"].map(order).astype(int), _s=[-list(sev).index(x) for x in top]).sort_values(
        ["_o", "_s"], kind="stable").drop(columns=["_o", "_s"]).reset_index(drop=True)
    return Comparison(before=str(bb.path), after=str(ba.path), findings=fdf, changes=ch, notes=notes,
                      before_label=_label(bb), after_label=_label(ba))


def _read(b: Bundle, frame: str) -> bool:
    """Whether the bundle holds a usable file that fills ``frame`` (then no rows means none, e.g. no block rule)."""
    from . import parse

    kinds = [k for k in parse.PARSERS if frame in getattr(parse.get_parser(k), "FRAMES", {})]
    return any(b.has(k) for k in kinds)


def _frame_or_empty(b: Bundle, name: str) -> pd.DataFrame:
    try:
        return b.frame(name)
    except KeyError:
        return pd.DataFrame()


def _change_line(c: dict[str, Any]) -> str:
    if c["change"] == "changed":
        what = f"{c['item']}: {c['field']} {c['before']} -> {c['after']}"
    elif c["change"] == "removed":
        what = f"{c['item']} removed ({c['before']})" if _s(c.get("before")) else f"{c['item']} removed"
    else:
        what = f"{c['item']} added ({c['after']})" if _s(c.get("after")) else f"{c['item']} added"
    return f"{what} [{c['evidence']}]"


# -- text ---------------------------------------------------------------------------------------------------------
def _text(c: Comparison, *, min_severity: str | None, width: int) -> str:
    import textwrap

    f = c.findings
    if min_severity is not None:
        keep = [max((x for x in (r.severity_after, r.severity_before) if not pd.isna(x)), default=None)
                for r in f.itertuples()]
        cats = list(f["severity_after"].cat.categories)
        f = f[[k is not None and cats.index(k) >= cats.index(min_severity) for k in keep]]
    out = [f"Before: {c.before_label}", f"After:  {c.after_label}"]
    out += [textwrap.fill("Note: " + n, width=width, subsequent_indent="      ") for n in c.notes]
    hidden = len(c.findings) - len(f)
    for status, head in (("resolved", "Resolved"), ("new", "New"), ("remains", "Still there")):
        part = f[f["status"] == status]
        out.append("")
        out.append(f"{head} ({len(part)}):" if len(part) else f"{head}: none")
        for r in part.itertuples():
            sev = r.severity_after if status != "resolved" else r.severity_before
            if status == "remains" and r.severity_before != r.severity_after:
                sev = f"{r.severity_before} -> {r.severity_after}"
            out.append(f"  [{str(sev).upper():8}] {r.code}: {r.title}")
            summary = r.summary_after if status != "resolved" else r.summary_before
            if _s(summary) and status != "remains":
                out.append(textwrap.fill(str(summary), width=width, initial_indent="             ",
                                         subsequent_indent="             "))
            if _s(r.related_changes):
                out.append("             because:")
                for line in str(r.related_changes).split("\n"):
                    out.append(textwrap.fill(line, width=width, initial_indent="               - ",
                                             subsequent_indent="                 "))
    if hidden:
        out.append(f"\n({hidden} finding(s) below {min_severity} not shown)")
    ch = c.changes
    real = ch[ch["change"] != "not-compared"]
    out.append("")
    out.append(f"What changed ({len(real)}):" if len(real) else "What changed: nothing in the compared frames")
    for r in real.to_dict("records"):
        out.append(textwrap.fill(f"{r['frame']}: {_change_line(r)}", width=width, initial_indent="  ",
                                 subsequent_indent="      "))
    nc = ch[ch["change"] == "not-compared"]
    for r in nc.to_dict("records"):
        out.append(textwrap.fill(f"{r['frame']}: not compared - {r['note']}", width=width, initial_indent="  ",
                                 subsequent_indent="      "))
    return "\n".join(out)


__all__ = ["CHANGES", "COMPARED", "FINDING_CHANGES", "Compared", "Comparison", "compare"]
