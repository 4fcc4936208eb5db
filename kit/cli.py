"""`vmkit`: the command line over the same functions the notebooks call.

    vmkit diagnose PATH [--json] [--min-severity S]   the causes of "agent Not Ready" ranked, then the findings
                                                        (--json: the findings only); exit 0 = nothing at error or above,
                                                        1 = findings at error or above, 2 = bundle unreadable
    vmkit report PATH -o report.html                  one self-contained HTML report
    vmkit inspect PATH                                what the bundle holds: recognised files, frames, issues
    vmkit parse FILE [--format KIND] [--csv OUT]      parse one file and print its frame(s)
    vmkit redact BUNDLE -o OUT.zip [--pseudonymize]   a copy safe to share: secrets removed (names replaced)
    vmkit redact --check PATH                         scan a file or bundle for secrets; exit 1 when any
    vmkit collect HOST... [options]                   collect a bundle from VMs over WinRM
    vmkit diff BEFORE AFTER [--json]                  findings resolved / new / still there, and what changed;
                                                        exit 1 = a new finding at error or above
    vmkit probe HOST [--watch]                        reachability from the VM now, in seconds; --watch: a line
                                                        per change until --duration or Ctrl-C
    vmkit fleet PATH... --out DIR [--workers N]       many bundles on every core (or --scheduler ADDRESS: a Dask
                                                        cluster) into Parquet + DIR/summary.html; resumable
"""

from __future__ import annotations

import argparse
import atexit
import collections
import contextlib
import gc
import importlib
import json
import os
import sys
import textwrap
from collections.abc import Sequence

from . import __version__
from .errors import KitError

EXIT_OK, EXIT_FINDINGS, EXIT_UNREADABLE = 0, 1, 2

# Every output of this module is masked (kit.redact): what it prints comes from frames that are already redacted,
# and _safe() is applied once more at the print points, so an exception text or a path cannot carry a secret either.


def _safe(text: str) -> str:
    from .redact import redact_text

    return redact_text(text)


def _err(prefix: str, exc: BaseException) -> None:
    print(f"vmkit: {prefix}{_safe(str(exc))}", file=sys.stderr)


def _open(path: str):
    """Open a bundle; a path in which no file is recognised as any agent artifact is not a bundle (NotABundle)."""
    from .bundle import open_bundle

    bundle = open_bundle(path)
    _require_artifacts(bundle, path)
    return bundle


def _require_artifacts(bundle, path: str) -> None:
    from .bundle.layout import EXPECTED
    from .errors import NotABundle

    inv = bundle.inventory
    if not inv["artifact"].notna().any():
        seen = "no files at all" if inv.empty else f"{len(inv)} file(s), none of them recognised"
        zips = [str(p) for p, n in zip(inv["path"], inv["note"], strict=True) if "a zip inside the bundle" in str(n)]
        if zips:
            seen += f"; it holds {len(zips)} zip archive(s) ({', '.join(zips[:3])}): open that instead"
        looked = ", ".join(f"{k} ({where})" for k, where, _ in EXPECTED)
        raise NotABundle(f"{path}: not a bundle: {seen}. Looked for agent artifacts by path and by content: "
                         f"{looked}, handler logs, status and settings files, event logs, pasted console output. "
                         "`vmkit inspect` lists what is there")


def _wrap(text: str, indent: str, width: int = 100) -> str:
    return textwrap.fill(text, width=width, initial_indent=indent, subsequent_indent=indent)


#: Evidence text is wrapped at spaces (an address, number or path is never split) onto at most this many lines;
#: a longer text ends at a space with " …" and the count of characters left out.
EVIDENCE_WRAP_LINES = 4


def _evidence_lines(text: str, indent: str = "             ", width: int = 110) -> list[str]:
    lines = textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=indent,
                          break_long_words=False, break_on_hyphens=False)
    if len(lines) <= EVIDENCE_WRAP_LINES:
        return lines
    kept = lines[:EVIDENCE_WRAP_LINES]
    shown = sum(len(x.strip()) + 1 for x in kept)
    kept[-1] += f" … ({max(len(text) - shown, 0)} more characters)"
    return kept


def format_findings(findings, *, evidence_lines: int = 3) -> str:
    """A readable plain-text rendering of a findings frame (what `vmkit diagnose` prints)."""
    if findings.empty:
        return "No findings."
    out = []
    # the columns as lists (itertuples builds a tuple of every column per row: ~1 ms for a few findings)
    cols = ("severity", "code", "title", "summary", "evidence", "evidence_count", "remediation", "docs")
    for severity, code, title, summary, evidence, evidence_count, remediation, docs in zip(
            *(findings[c].tolist() for c in cols), strict=True):
        out.append(f"[{str(severity).upper():8}] {code}: {title}")
        out.append(_wrap(summary, "           "))
        for ev in list(evidence)[:evidence_lines]:
            where = ev.get("source") or ev.get("artifact")
            if ev.get("line") is not None:
                where += f":{ev['line']}"
            first = (ev.get("text") or "").splitlines()[0] if ev.get("text") else ""
            out.append(f"           > {where}")
            out += _evidence_lines(first)
        if evidence_count > evidence_lines:
            out.append(f"           > ... {evidence_count - evidence_lines} more evidence rows")
        if str(severity) != "info":
            out.append(_wrap("Fix: " + remediation, "           "))
            out.append(f"           Docs: {docs}")
        out.append("")
    counts = collections.Counter(findings["severity"].tolist())
    out.append("Summary: " + ", ".join(f"{int(counts.get(s, 0))} {s}" for s in
                                       ("critical", "error", "warning", "info")))
    return "\n".join(out)


def cmd_diagnose(args: argparse.Namespace) -> int:
    from .diagnose import diagnose, findings_to_json

    def diagnose_filter(df, min_severity):
        return df if min_severity is None else df[df["severity"] >= min_severity].reset_index(drop=True)

    try:
        bundle = _open(args.path)
        every = diagnose(bundle)
        findings = diagnose_filter(every, args.min_severity)
    except (KitError, OSError) as exc:
        _err("cannot read bundle: ", exc)
        return EXIT_UNREADABLE
    if args.json:
        from .redact import redact_obj

        json.dump(redact_obj(findings_to_json(findings)), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        when = (bundle.collected_at.strftime("%Y-%m-%d %H:%M:%S UTC") if bundle.collected_at is not None
                else "at an unknown time")
        print(_safe(f"Bundle {bundle.path} ({bundle.kind}) - VM {bundle.vm_name}, collected {when}"))
        for line in bundle.incomplete():
            print(_safe(textwrap.fill(line[:-1] + " (INPUT_DAMAGED below).", 120, subsequent_indent="  ")))
        print()
        try:  # symptom first (issue 15 part 4): the causes of "agent Not Ready", ranked from every finding
            from .diagnose.symptoms import format_symptoms, symptoms

            block = format_symptoms(symptoms(every, bundle))
        except Exception as exc:  # the findings below stand on their own
            block = f"Symptom: agent Not Ready - the causes could not be ranked ({type(exc).__name__})."
        if block:
            print(_safe(block))
            print()
            print("Findings:")
        print(_safe(format_findings(findings)))
        hidden = len(every) - len(findings)
        if hidden:
            counts = every.loc[every["severity"] < args.min_severity, "severity"].value_counts()
            what = ", ".join(f"{int(n)} {sev}" for sev, n in counts.items() if n)
            print(f"Hidden by --min-severity {args.min_severity}: {hidden} finding(s) ({what}).")
    bad = findings["severity"].isin(["error", "critical"]).any()
    return EXIT_FINDINGS if bad else EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    from .comparison import compare

    try:
        before, after = _open(args.before), _open(args.after)
        c = compare(before, after)
    except (KitError, OSError) as exc:
        _err("cannot read bundle: ", exc)
        return EXIT_UNREADABLE
    if args.json:
        from .redact import redact_obj

        doc = {"before": c.before_label, "after": c.after_label, "notes": c.notes, "counts": c.counts(),
               "findings": json.loads(c.findings.to_json(orient="records", date_format="iso")),
               "changes": json.loads(c.changes.to_json(orient="records", date_format="iso"))}
        json.dump(redact_obj(doc), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(_safe(c.text(min_severity=args.min_severity)))
    new = c.findings[c.findings["status"] == "new"]
    return EXIT_FINDINGS if new["severity_after"].isin(["error", "critical"]).any() else EXIT_OK


def cmd_probe(args: argparse.Namespace) -> int:
    from .collect.cli import plain_http_warning
    from .errors import CollectionError
    from .live import connect

    if args.http and args.https:
        print("vmkit probe: --http and --https exclude each other", file=sys.stderr)
        return EXIT_UNREADABLE
    if args.insecure:
        print("warning: --insecure: the VM's TLS certificate is not checked", file=sys.stderr)
    scheme = "http" if args.http else "https" if args.https else "auto"
    try:
        with plain_http_warning():
            session = connect(args.host, user=args.user, transport=args.transport, scheme=scheme, port=args.port,
                              insecure=args.insecure, ca_file=args.ca_file, cert_pem=args.cert,
                              cert_key_pem=args.cert_key, proxy=args.proxy, deadline_s=args.deadline,
                              operation_timeout_s=args.operation_timeout,
                              read_timeout_s=args.operation_timeout + 10, keep=args.keep)
    except (CollectionError, KitError) as exc:
        _err("", exc)
        return EXIT_UNREADABLE
    with session:
        if args.watch:
            print(f"Watching {args.host} every {args.every:g} s for {args.duration:g} s (Ctrl-C stops; a line per "
                  "change)", flush=True)
            w = session.watch(every=args.every, duration=args.duration,
                              on_change=lambda line: print(_safe(line), flush=True))
            last = w.rows.groupby("endpoint", sort=False).tail(1)
            print(f"{w.probes} probe(s), stopped: {w.stopped}; last: "
                  + ", ".join(f"{r.endpoint} {r.verdict}" for r in last.itertuples()))
            return EXIT_OK if (last["verdict"] == "reachable").all() else EXIT_FINDINGS
        try:
            p = session.probe()
        except (CollectionError, KitError) as exc:
            _err("probe failed: ", exc)
            return EXIT_UNREADABLE
        print(_safe(p.text()))
        return EXIT_OK if (p.reachability["verdict"] == "reachable").all() else EXIT_FINDINGS


def cmd_report(args: argparse.Namespace) -> int:
    from .report import write_report

    try:
        bundle = _open(args.path)
        out = write_report(bundle, args.output)
    except (KitError, OSError) as exc:
        _err("cannot read bundle: ", exc)
        return EXIT_UNREADABLE
    print(f"wrote {out}")
    return EXIT_OK


def cmd_inspect(args: argparse.Namespace) -> int:
    from .bundle import open_bundle

    try:
        bundle = open_bundle(args.path)
        print(_safe(bundle.summary()))
        _require_artifacts(bundle, args.path)
        inv = bundle.inventory
    except (KitError, OSError) as exc:
        _err("cannot read bundle: ", exc)
        return EXIT_UNREADABLE
    print()
    print(f"Layout: {bundle.kind}" + (f" - {bundle.layout.note}" if bundle.layout.note else ""))
    print(f"Time reference basis: {bundle.time_reference_basis}")
    print("Files (artifact, status, path; '-> layout path [how]' where the file was mapped from another layout):")
    width = max((len(str(a)) for a in inv["artifact"].dropna()), default=1)
    for r in inv.itertuples(index=False):
        what = r.artifact if isinstance(r.artifact, str) else "-"
        line = f"  {what:<{width}}  {r.status:<18}  {r.path}"
        if isinstance(r.layout_path, str) and r.layout_path != r.path:
            how = r.mapped_by if isinstance(r.mapped_by, str) else "?"
            line += f"  -> {r.layout_path} [{how}]"
        print(line)
    return EXIT_OK


def _show_value(v: object, width: int = 40) -> str:
    """A cell as a person reads it: blank for missing, whole numbers without '.0', one line, cut with '…'."""
    import pandas as pd

    if v is None or (not isinstance(v, (list, dict, tuple)) and pd.isna(v)):
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, pd.Timestamp):
        v = v.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if v.tzinfo is not None else "")
    text = " ".join(str(v).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def render_frame(df, *, rows: int = 20, width: int = 120) -> str:
    """A frame as a readable text table: the provenance ``source`` column and all-empty columns left out, missing
    values blank; when the table is wider than ``width``, one block of ``column: value`` lines per row."""
    shown = df.head(rows)
    cols = [c for c in shown.columns if c != "source" and shown[c].notna().any()]
    same: list[str] = []
    if len(shown) > 1:  # a value every row shares is said once, above the table
        for c in list(cols):
            values = {_show_value(v) for v in shown[c]}
            if len(values) == 1 and c not in ("line", "end_line"):
                same.append(f"{c}={values.pop()}")
                cols.remove(c)
    head = [f"same in every row shown: {', '.join(same)}"] if same else []
    cells = [[_show_value(v) for v in shown[c]] for c in cols]
    widths = [max([len(c), *(len(x) for x in col)]) for c, col in zip(cols, cells, strict=True)]
    if sum(widths) + 2 * len(cols) <= width:
        lines = [*head, "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip(),
                 "  ".join("-" * w for w in widths)]
        for i in range(len(shown)):
            lines.append("  ".join(col[i].ljust(w) for col, w in zip(cells, widths, strict=True)).rstrip())
        return "\n".join(lines)
    label = max((len(c) for c in cols), default=0)
    blocks = head[:]
    for i in range(len(shown)):
        blocks.append("\n".join(f"{c.rjust(label)}: {_show_value(shown[c].iloc[i], width - label - 2)}"
                                for c in cols if _show_value(shown[c].iloc[i])))
    return "\n\n".join(blocks)


def cmd_parse(args: argparse.Namespace) -> int:
    import shutil
    from pathlib import Path

    from .parse import parse_bytes
    from .redact import redact_frame

    try:
        data = Path(args.file).read_bytes()
        result = parse_bytes(data, source=Path(args.file).name, format=args.format)
    except (KitError, OSError) as exc:
        _err("", exc)
        return EXIT_UNREADABLE
    safe = (lambda t: t) if args.raw else _safe
    fmt = "csv" if args.csv else args.output_format
    out_base = args.csv or args.output
    if fmt == "parquet" and not out_base:
        print("vmkit parse: --format parquet needs -o OUT", file=sys.stderr)
        return EXIT_UNREADABLE
    frames = {name: (df if args.raw else redact_frame(df)) for name, df in result.frames.items()}
    if fmt == "table":
        width = shutil.get_terminal_size((160, 24)).columns if sys.stdout.isatty() else 160
        for name, df in frames.items():
            more = f", showing the first {args.rows}" if len(df) > args.rows else ""
            print(f"== {name}: {len(df)} row(s){more} from {Path(args.file).name}")
            if not df.empty:
                print(safe(render_frame(df, rows=args.rows, width=width)))
            print()
    else:
        for name, df in frames.items():
            if out_base:
                out = f"{out_base}.{name}.{fmt}" if len(frames) > 1 else out_base
                _write_frame(df, out, fmt)
                print(f"{name}: {len(df)} row(s) written to {out}", file=sys.stderr)
            else:  # csv / json to stdout, for piping
                sys.stdout.write(safe(df.to_csv(index=False) if fmt == "csv" else
                                      df.to_json(orient="records", date_format="iso", lines=True)))
    for issue in result.issues:
        print(safe(f"issue: {issue}"), file=sys.stderr if fmt != "table" else sys.stdout)
    return EXIT_OK


def _write_frame(df, out: str, fmt: str) -> None:
    if fmt == "csv":
        df.to_csv(out, index=False)
    elif fmt == "json":
        df.to_json(out, orient="records", date_format="iso", lines=True)
    else:
        df.to_parquet(out, index=False)


def cmd_redact(args: argparse.Namespace) -> int:
    from .redact import detect_secrets_available, load_salt, redact_bundle, scan_path

    if args.check:
        try:
            hits = scan_path(args.path)
        except (KitError, OSError) as exc:
            _err("cannot read: ", exc)
            return EXIT_UNREADABLE
        for h in hits:
            print(h)  # file, line and kind: never the value
        if not detect_secrets_available():
            print("vmkit: detect-secrets is not installed: only the kit's own patterns were used", file=sys.stderr)
        print(f"{len(hits)} secret(s) found" if hits else "no secrets found", file=sys.stderr)
        return 1 if hits else EXIT_OK
    if not args.output:
        print("vmkit redact: -o OUT.zip is required (or --check PATH)", file=sys.stderr)
        return EXIT_UNREADABLE
    salt = None
    if args.pseudonymize:
        try:
            salt, created = load_salt(args.salt_file)
        except (OSError, ValueError) as exc:
            _err("salt: ", exc)
            return EXIT_UNREADABLE
        if created:
            print(f"created the salt file {args.salt_file}: keep it (and keep it private) to map the same VM to the "
                  "same names in later bundles", file=sys.stderr)
    try:
        rep = redact_bundle(args.path, args.output, pseudonymize=args.pseudonymize, salt=salt)
    except (KitError, OSError) as exc:
        _err("cannot read bundle: ", exc)
        return EXIT_UNREADABLE
    print(f"wrote {rep.output}: {rep.files} files, {len(rep.changed)} changed"
          + (f", {rep.pseudonyms} names and ids pseudonymized" if args.pseudonymize else "")
          + f"; manifest sha256 updated for {rep.hashes_updated}")
    for path, why in rep.dropped:
        print(_safe(f"dropped {path}: {why}"))
    if rep.manifest_note:
        print(f"note: {rep.manifest_note}")
    left = scan_path(rep.output)  # the same scan as --check, on what was written
    for h in left:
        print(f"still found: {h}", file=sys.stderr)
    if left:
        print(f"vmkit: {rep.output} still holds {len(left)} secret(s): do not share it", file=sys.stderr)
        return 1
    print("checked: no secrets found in the copy")
    return EXIT_OK


def _output_args(p: argparse.ArgumentParser, json_help: str) -> None:
    p.add_argument("--json", action="store_true", help=json_help)
    p.add_argument("--min-severity", choices=["info", "warning", "error", "critical"], default=None,
                   help="hide findings below this severity")


# -- vmkit fleet (issue 16) --------------------------------------------------------------------------------------------
def cmd_fleet(args: argparse.Namespace) -> int:
    """Exit 0: every bundle in DIR read, none with a finding at error or above; 1: findings at error or above on at
    least one VM; 2: a bundle could not be read (the others were diagnosed), no bundle named, or DIR not usable."""
    from . import fleet

    try:
        summary = fleet.run(args.paths, args.out, workers=args.workers, scheduler=args.scheduler,
                            min_severity=args.min_severity, html=not args.no_html)
        data = fleet.load(args.out)
    except (KitError, OSError) as exc:
        _err("fleet: ", exc)
        return EXIT_UNREADABLE
    print(_safe(str(summary)))
    if not summary.total:
        print("vmkit: no bundle found in " + _safe(", ".join(args.paths)), file=sys.stderr)
        return EXIT_UNREADABLE
    b = data.bundles
    for r in b[~b["ok"]].head(20).itertuples(index=False):
        print(_safe(f"  could not read {r.path}: [{r.error_kind}] {r.error}"), file=sys.stderr)
    counts = fleet.code_counts(data)
    if len(counts):
        read = int(b["ok"].sum())
        print(f"\nCodes at warning or above, by VMs hit (of {read} read):")
        for r in counts.head(15).itertuples(index=False):
            print(f"  {r.vms:>6}  {r.share:>4.0%}  {r.severity:<8} {r.code}")
        if len(counts) > 15:
            print(f"  ... {len(counts) - 15} more: fleet.code_counts(fleet.load(DIR)) or the summary")
    else:
        print("\nNo finding at warning or above on any VM.")
    if summary.html is not None:
        print(f"wrote {summary.html}")
    if not b["ok"].all():
        return EXIT_UNREADABLE
    return EXIT_FINDINGS if (b["n_error"] + b["n_critical"]).gt(0).any() else EXIT_OK


def _register_fleet(sub) -> None:
    fl = sub.add_parser("fleet", help="diagnose many bundles into Parquet (every core, or a Dask cluster)",
                        description="Open and diagnose every bundle (folders, zips, globs; a folder of bundles is "
                        "expanded) in parallel, writing DIR/bundles.parquet, DIR/findings.parquet, the fleet frames "
                        "and DIR/summary.html. A bundle already in DIR (same content hash) is skipped.")
    fl.add_argument("paths", nargs="+", metavar="PATH", help="bundle folder or zip, a folder of them, or a glob")
    fl.add_argument("--out", "-o", required=True, metavar="DIR", help="output folder (created; reused to resume)")
    fl.add_argument("--workers", "-j", type=int, default=None, help="worker processes (default: every core)")
    fl.add_argument("--scheduler", default=None, metavar="ADDRESS",
                    help="run on this Dask scheduler (tcp://host:8786) instead of local processes")
    fl.add_argument("--min-severity", choices=["info", "warning", "error", "critical"], default=None,
                    help="keep only findings at or above this severity")
    fl.add_argument("--no-html", action="store_true", help="do not write DIR/summary.html")
    fl.set_defaults(func=cmd_fleet, imports=("kit.fleet",))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vmkit", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"guestagent-kit {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("diagnose", help="run the diagnosis rules over a bundle")
    d.add_argument("path", help="bundle folder or .zip")
    _output_args(d, "machine-readable list of findings")
    d.set_defaults(func=cmd_diagnose, imports=("kit.bundle", "kit.diagnose", RULE_FAMILIES))

    df = sub.add_parser("diff", help="compare two bundles: findings resolved, new, still there; what changed",
                        description="Compare BEFORE with AFTER (bundle folders or zips): which findings a change "
                        "resolved, which it introduced, which remain, and what changed in the frames that decide "
                        "them (routes, proxy, firewall rules, services, probes, agent and extension versions), each "
                        "with its evidence. Exit 1 when AFTER has a new finding at error or above.")
    df.add_argument("before", help="the earlier bundle")
    df.add_argument("after", help="the later bundle")
    _output_args(df, "machine-readable comparison")
    df.set_defaults(func=cmd_diff, imports=("kit.comparison",))

    pr = sub.add_parser("probe", help="probe a VM now: WireServer, HostGAPlugin and IMDS from the VM, in seconds",
                        description="Run the collector's network commands and probes on HOST over WinRM (no log "
                        "files) and print the verdict per endpoint, or with --watch repeat it and print a line each "
                        "time a verdict changes. Exit 0 when every endpoint is reachable, 1 otherwise, 2 when the VM "
                        "cannot be probed.")
    pr.add_argument("host", metavar="HOST", help="VM host name or IP address (host:port allowed)")
    from .collect.cli import connection_args

    connection_args(pr)
    pr.add_argument("--watch", action="store_true", help="repeat the probe; print a line per change")
    pr.add_argument("--every", type=float, default=10.0, help="seconds between probes with --watch (10)")
    pr.add_argument("--duration", type=float, default=600.0, help="seconds to watch (600); Ctrl-C stops earlier")
    pr.add_argument("--deadline", type=float, default=90.0, help="give up on one probe after this many seconds (90)")
    pr.add_argument("--operation-timeout", type=int, default=20, help="WinRM operation timeout in seconds (20)")
    pr.add_argument("--keep", metavar="DIR", default=None, help="keep each probe's zip in DIR (evidence)")
    pr.set_defaults(func=cmd_probe, imports=("kit.live",))

    r = sub.add_parser("report", help="write a self-contained HTML report")
    r.add_argument("path", help="bundle folder or .zip")
    r.add_argument("-o", "--output", default="report.html", help="output file (default: report.html)")
    r.set_defaults(func=cmd_report, imports=("kit.report",))

    i = sub.add_parser("inspect", help="what the bundle holds")
    i.add_argument("path", help="bundle folder or .zip")
    i.set_defaults(func=cmd_inspect, imports=("kit.bundle",))

    pa = sub.add_parser("parse", help="parse one file and show its frames")
    pa.add_argument("file")
    pa.add_argument("--format", default=None, help="artifact kind (skip content sniffing); see kit.parse.PARSERS")
    pa.add_argument("--rows", type=int, default=20, help="rows to show (default 20)")
    pa.add_argument("--csv", default=None, help="write the frame(s) to this CSV file (same as --format csv -o)")
    pa.add_argument("--output-format", "-f", choices=["table", "csv", "json", "parquet"], default="table",
                    help="table (readable, default), csv or json (JSON lines) to stdout or -o, parquet (needs -o)")
    pa.add_argument("--output", "-o", default=None, help="write the frame(s) here (one file per frame: OUT.<frame>"
                    ".<fmt> when there are several)")
    pa.add_argument("--raw", action="store_true", help="show secrets as the file holds them (default: masked)")
    pa.set_defaults(func=cmd_parse, imports=("kit.parse",))

    rd = sub.add_parser("redact", help="a copy of a bundle safe to share; --check scans for secrets",
                        description="Write a copy of BUNDLE with secrets removed (and, with --pseudonymize, "
                        "subscription ids, resource/VM/host/user names and private IPs replaced consistently), or "
                        "with --check scan a file or bundle and exit 1 when it holds a secret.")
    rd.add_argument("path", help="bundle folder or .zip (with --check: any file too)")
    rd.add_argument("-o", "--output", default=None, help="the redacted bundle (.zip)")
    rd.add_argument("--check", action="store_true", help="scan PATH for secrets: file and line, never the value")
    rd.add_argument("--pseudonymize", action="store_true", help="also replace names, ids and private addresses")
    rd.add_argument("--salt-file", default="vmkit-redact.salt",
                    help="the salt that keys the pseudonyms; created when absent (default: ./vmkit-redact.salt)")
    rd.set_defaults(func=cmd_redact, imports=("kit.redact",))

    _register_fleet(sub)

    try:
        from .collect.cli import register
    except ImportError:  # pragma: no cover - the collector is part of the package; guard for partial installs
        register = None
    if register is not None:
        register(sub)
    return p


#: In a command's ``imports``: every rule family of :mod:`kit.diagnose` (``engine.RULE_MODULES``), which
#: ``diagnose()`` would otherwise import during the run, with the collector on and their objects left in its sight.
RULE_FAMILIES = "kit.diagnose:RULE_MODULES"


def _import(modules: Sequence[str], *, freeze: bool) -> None:
    """Import what a command needs with the cyclic garbage collector paused: importing pandas and pyarrow creates
    about a million long-lived objects and almost no garbage, and the collections it triggers cost ~35 ms. With
    ``freeze`` (a ``vmkit`` process, not a caller's interpreter) those objects are also moved out of the collector's
    sight for the rest of the run."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        for name in modules:
            if name == RULE_FAMILIES:
                for family in importlib.import_module("kit.diagnose.engine").RULE_MODULES:
                    importlib.import_module(family)
                continue
            importlib.import_module(name)
    finally:
        if freeze:
            gc.freeze()
        if enabled:
            gc.enable()


def main(argv: Sequence[str] | None = None, *, _process: bool = False) -> int:
    """Run one ``vmkit`` command; returns its exit status (tests and notebooks call this)."""
    args = build_parser().parse_args(argv)
    _import(getattr(args, "imports", ()), freeze=_process)
    return int(args.func(args) or 0)


def run() -> None:
    """The ``vmkit`` console entry point: :func:`main`, then exit without tearing the interpreter down.

    Freeing pandas' and pyarrow's modules one by one at exit takes ~0.1 s, as long as some commands' whole work.
    Every command has finished and closed its files when :func:`main` returns; stdout and stderr are flushed and the
    ``atexit`` handlers (logging, temporary folders, coverage) still run, then the process ends with main's status.
    """
    try:
        code = main(_process=True)
        sys.stdout.flush()
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):  # as the interpreter does: print it, status 1
            print(exc.code, file=sys.stderr)
    except KeyboardInterrupt:
        print("vmkit: interrupted", file=sys.stderr)
        code = 130
    except BrokenPipeError:  # vmkit diagnose ... | head: the reader left; exit as a tool killed by SIGPIPE would
        code = 141
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more can be written
            stream.flush()
    run_exitfuncs = getattr(atexit, "_run_exitfuncs", None)  # CPython's; elsewhere exit the ordinary way
    if run_exitfuncs is None:  # pragma: no cover
        sys.exit(code)
    run_exitfuncs()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
