"""Many bundles at once: postmortems across VMs (a scale set, a cluster, the VMs of one incident).

    >>> from kit import fleet
    >>> fleet.run(["cases/12345/", "more/*.zip"], "out/")       # every core; Parquet written as results arrive
    >>> data = fleet.load("out/")                                # bundles, findings and the fleet frames
    >>> fleet.code_counts(data)                                  # which codes hit how many VMs (long form)
    >>> fleet.onset(data)                                        # when each code first appeared across the fleet
    >>> fleet.by_group(data, "agent_version")                    # code x agent version, VMs hit (long form)

:func:`run` opens and diagnoses each bundle in a worker process (``concurrent.futures``; all cores by default) or
on a Dask cluster (``scheduler=`` address or ``client=``), and writes what each returns to Parquet datasets under
the output folder as results arrive: ``bundles.parquet`` (one row per bundle, including those that could not be
read and why), ``findings.parquet`` and one dataset per frame in :data:`FLEET_FRAMES`. Each is a folder of part
files that ``pandas.read_parquet`` reads as one frame; every column has an explicit Arrow type (docs/scale.md).
A bundle is keyed by a content hash (:func:`bundle_hash`); a bundle already in the output is skipped, so an
interrupted run continues where it stopped. :func:`diagnose_many` is the in-memory form for a handful of bundles.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from .errors import BundleError, KitError, NotABundle, UnsafeArchiveError
from .schema import Col, FrameSchema, column_arrays

#: The frames written next to the findings, one Parquet dataset each, by frame name: what a fleet question needs
#: (agent version and health, extension status and operations, services, probes, routes). A name the bundle does
#: not know (``extension_operations`` on a kit without that frame) is left out without a word.
FLEET_FRAMES: tuple[str, ...] = ("agent_status", "handler_status", "ext_status", "extension_operations", "services",
                                 "tcp_probes", "http_probes", "routes")

#: How a bundle that gave no findings failed (``bundles.error_kind``).
ERROR_KINDS = {
    "not-a-bundle": "the path is not a folder or a zip, or holds nothing the kit reads (BundleError)",
    "unsafe-archive": "a zip refused by kit.bundle.safezip: damaged, hostile or over the size limits",
    "kit-error": "the kit refused the bundle with another documented error (KitError)",
    "os-error": "the file could not be read (permissions, vanished, I/O error)",
    "crash": "an unexpected exception inside the kit: a bug; the type and the masked message are recorded",
    "worker-died": "the worker process ended while on this bundle, twice (out of memory, killed)",
}

SEVERITIES = ("critical", "error", "warning", "info")

BUNDLES = FrameSchema(
    "fleet_bundles",
    "`DIR/bundles.parquet`: one row per bundle given to `vmkit fleet` / `kit.fleet.run`, read or not.",
    (
        Col("bundle_hash", "str", "SHA-256 of the bundle's content (kit.fleet.bundle_hash): the key every other "
            "dataset joins on, and what a resumed run skips.", False),
        Col("vm", "str", "The VM's computer name (manifest), else the bundle's file or folder name.", False),
        Col("path", "str", "The bundle's absolute path, as the workers opened it.", False),
        Col("layout", "str", "Bundle kind (kit, guest-log-collector, logs-folder, ...); NA when unreadable."),
        Col("collected_at", "datetime", "Collection time from the manifest; NA when unknown."),
        Col("time_reference", "datetime", "Collection time, else the bundle's best stand-in (kit.bundle "
            "time_reference); NA when none."),
        Col("os", "str", "The manifest's vm.os; NA when the bundle does not say."),
        Col("agent_version", "str", "Guest agent version of the newest aggregate status snapshot; NA when none."),
        Col("files", "Int64", "Files in the bundle; NA when unreadable."),
        Col("issues", "Int64", "Read issues of the bundle (Bundle.issues rows); NA when unreadable."),
        Col("ok", "bool", "The bundle was opened and diagnosed.", False),
        Col("error_kind", "str", "Why not (kit.fleet.ERROR_KINDS); NA when ok."),
        Col("error", "str", "The error message, secrets masked; NA when ok."),
        Col("n_critical", "int64", "Findings at critical.", False),
        Col("n_error", "int64", "Findings at error.", False),
        Col("n_warning", "int64", "Findings at warning.", False),
        Col("n_info", "int64", "Findings at info.", False),
        Col("seconds", "float64", "Wall time to open and diagnose the bundle in its worker.", False),
    ),
)

FINDINGS = FrameSchema(
    "fleet_findings",
    "`DIR/findings.parquet`: every finding of every bundle (kit.diagnose's findings frame) with its VM.",
    (
        Col("bundle_hash", "str", "The bundle (bundles.parquet).", False),
        Col("vm", "str", "The VM.", False),
        Col("code", "str", "Finding code (kit/catalog/findings.yaml).", False),
        Col("severity", "str", "critical, error, warning or info (kit.fleet.load makes it an ordered category).",
            False),
        Col("family", "str", "Rule family.", False),
        Col("title", "str", "Catalog title.", False),
        Col("summary", "str", "This VM's specifics.", False),
        Col("evidence_count", "int64", "Evidence rows.", False),
        Col("first_seen", "datetime", "Earliest time among the evidence rows; NA when none has a time."),
        Col("last_seen", "datetime", "Latest time among the evidence rows; NA when none has a time."),
        Col("evidence", "str", "The evidence rows as a JSON list (artifact, source, line, ts, text).", False),
        Col("remediation", "str", "The fix.", False),
        Col("docs", "str", "Microsoft Learn article.", False),
    ),
)

#: Columns put in front of every frame written by :func:`run`.
KEY_COLUMNS = (BUNDLES.col("bundle_hash"), BUNDLES.col("vm"))

_ARROW = {"datetime": pa.timestamp("ns", tz="UTC"), "str": pa.string(), "category": pa.string(),
          "level": pa.string(), "object": pa.string(), "Int64": pa.int64(), "int64": pa.int64(),
          "float64": pa.float64(), "boolean": pa.bool_(), "bool": pa.bool_()}


def arrow_schema(schema: FrameSchema, *, keys: bool = False) -> pa.Schema:
    """The Arrow schema a fleet dataset is written with: the frame schema's columns (categories and nested
    objects as strings), after ``bundle_hash`` and ``vm`` when ``keys``."""
    cols = (*KEY_COLUMNS, *schema.columns) if keys else schema.columns
    return pa.schema([pa.field(c.name, _ARROW[c.dtype], nullable=c.nullable) for c in cols])


_BUNDLES_ARROW = arrow_schema(BUNDLES)
_FINDINGS_ARROW = arrow_schema(FINDINGS, keys=False)
_FRAME_ARROW: dict[FrameSchema, pa.Schema] = {}


# -- finding the bundles ---------------------------------------------------------------------------------------------
def find_bundles(folder: str | Path) -> list[Path]:
    """Bundles directly under ``folder``: sub-folders and ``.zip`` files, sorted by name.

    A folder that is itself a bundle (has a manifest.json) is returned alone.
    """
    root = Path(folder)
    if not root.is_dir():
        raise KitError(f"{root}: not a folder")
    if (root / "manifest.json").is_file():
        return [root]
    return sorted(p for p in root.iterdir()
                  if (p.is_dir() and not p.name.startswith((".", "_"))) or p.suffix.lower() == ".zip")


def expand(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    """Bundles named by ``paths``: a zip or a bundle folder as such, a folder of bundles expanded as
    :func:`find_bundles` does, a glob pattern (``cases/*/*.zip``) expanded first. Order kept, repeats dropped.
    A name that matches nothing stays in the list (it becomes a ``not-a-bundle`` row, not a silent gap)."""
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    out: list[Path] = []
    for item in items:
        text = str(item)
        matches = sorted(glob.glob(text)) if glob.has_magic(text) else [text]
        for m in matches or [text]:
            p = Path(m)
            if p.is_dir() and not _is_one_bundle(p):
                out.extend(find_bundles(p) or [p])  # an empty folder stays: a not-a-bundle row, not a gap
            else:
                out.append(p)
    seen: set[str] = set()
    return [p for p in out if not (str(p) in seen or seen.add(str(p)))]


#: Names at a folder's top that make it one bundle (a kit bundle's C\\, a copy of C:\\WindowsAzure\\Logs, ...)
#: rather than a folder of bundles.
_BUNDLE_TOP = ("manifest.json", "c", "windowsazure", "logs", "packages", "plugins", "waappagent.log",
               "aggregatestatus", "vmagentlogs", "device_0")


#: Files at a folder's top that make it one bundle (agent logs, status, event logs, pasted output).
_ARTIFACT_SUFFIXES = (".log", ".json", ".evtx", ".xml", ".status", ".settings", ".txt")


def _is_one_bundle(folder: Path) -> bool:
    return any(p.name.lower() in _BUNDLE_TOP or (p.is_file() and p.suffix.lower() in _ARTIFACT_SUFFIXES)
               for p in folder.iterdir())


def bundle_hash(path: str | Path) -> str:
    """SHA-256 of a bundle's content: a zip's bytes, or a folder's files (sorted relative paths, each path then
    its size then its bytes; links are not followed). Renaming or moving the bundle keeps its hash."""
    p = Path(path)
    h = hashlib.sha256()
    if p.is_file():
        with p.open("rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    files = []
    for dirpath, dirnames, filenames in os.walk(p, followlinks=False):
        dirnames.sort()
        for name in filenames:
            full = Path(dirpath, name)
            if full.is_file() and not full.is_symlink():
                files.append((full.relative_to(p).as_posix(), full))
    for rel, full in sorted(files):
        h.update(rel.encode("utf-8", "surrogateescape") + b"\0" + str(full.stat().st_size).encode() + b"\0")
        with full.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


# -- one bundle (runs in a worker) -----------------------------------------------------------------------------------
@dataclass
class BundleResult:
    """What one bundle gives: its bundles row, its findings (pandas, evidence as lists) and its fleet frames."""

    row: dict[str, Any]
    findings: pd.DataFrame | None = None
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)


def _masked(text: str) -> str:
    from .redact import redact_text

    return redact_text(text)


def _error_row(path: Path, key: str, kind: str, message: str, seconds: float) -> dict[str, Any]:
    return {"bundle_hash": key, "vm": path.stem or str(path), "path": str(path), "ok": False, "error_kind": kind,
            "error": _masked(message)[:2000], **{f"n_{s}": 0 for s in SEVERITIES}, "seconds": seconds}


def diagnose_bundle(path: str | Path, key: str | None = None, *, frames: Sequence[str] = FLEET_FRAMES,
                    min_severity: str | None = None) -> BundleResult:
    """Open and diagnose one bundle; never raises: a failure is a row with ``ok`` False and its ``error_kind``."""
    from .bundle import open_bundle
    from .diagnose import diagnose

    p = Path(path)
    t0 = time.perf_counter()
    key = key or _safe_hash(p)
    try:
        with open_bundle(p) as b:
            if not any(f.artifact for f in b._files):  # as `vmkit diagnose`: nothing recognised is no bundle
                n = len(b._files)
                seen = f"{n} file(s), none of them recognised" if n else "no files at all"
                raise NotABundle(f"{p}: not a bundle: {seen}; `vmkit inspect` lists what is there")
            f = diagnose(b, min_severity=min_severity)
            vm = b.vm_name
            row: dict[str, Any] = {
                "bundle_hash": key, "vm": vm, "path": str(p), "layout": b.kind, "collected_at": b.collected_at,
                "time_reference": b.time_reference, "os": _manifest_os(b), "agent_version": _agent_version(b),
                "files": len(b._files), "issues": len(b.issues), "ok": True}
            counts = f["severity"].astype(str).value_counts()
            row.update({f"n_{s}": int(counts.get(s, 0)) for s in SEVERITIES})
            out: dict[str, pd.DataFrame] = {}
            for name in frames:
                df = _bundle_frame(b, name)
                if df is not None and not df.empty:
                    out[name] = df
    except UnsafeArchiveError as exc:
        return BundleResult(_error_row(p, key, "unsafe-archive", str(exc), time.perf_counter() - t0))
    except BundleError as exc:
        return BundleResult(_error_row(p, key, "not-a-bundle", str(exc), time.perf_counter() - t0))
    except KitError as exc:
        return BundleResult(_error_row(p, key, "kit-error", str(exc), time.perf_counter() - t0))
    except OSError as exc:
        return BundleResult(_error_row(p, key, "os-error", f"{type(exc).__name__}: {exc}", time.perf_counter() - t0))
    except Exception as exc:  # a bug in the kit must not stop a fleet run: recorded, kind "crash"
        return BundleResult(_error_row(p, key, "crash", f"{type(exc).__name__}: {exc}", time.perf_counter() - t0))
    row["seconds"] = time.perf_counter() - t0
    return BundleResult(row, f.assign(bundle_hash=key, vm=vm), out)


def _derived() -> dict[str, Any]:
    """kit.derive's registry of derived frames (``extension_operations``, ``extension_history``, ...), if any."""
    try:
        from .derive import DERIVED
    except ImportError:  # a kit without kit.derive
        return {}
    return DERIVED


def _bundle_frame(b: Any, name: str) -> pd.DataFrame | None:
    """The bundle's frame ``name`` (a parsed or a derived one, masked as ``bundle.frame`` gives it); None when
    this kit has no frame of that name."""
    try:
        return b.frame(name)
    except KeyError:
        pass
    derivation = _derived().get(name)
    if derivation is None:
        return None
    from .redact import redact_frame

    return redact_frame(derivation.build(b.frame))  # built from masked frames; masked once more as a frame


def _schema_of(name: str) -> FrameSchema | None:
    """The FrameSchema of a fleet frame: a parser's or a derivation's; None when neither declares it."""
    from .parse import frame_schemas

    known = frame_schemas().get(name)
    if known is None and name in _derived():
        known = _derived()[name].schema
    return known


def _safe_hash(p: Path) -> str:
    try:
        return bundle_hash(p)
    except OSError:
        return hashlib.sha256(("unreadable:" + str(p)).encode("utf-8", "surrogateescape")).hexdigest()


def _manifest_os(b: Any) -> str | None:
    vm = (b.manifest or {}).get("vm") if isinstance(b.manifest, dict) else None
    v = vm.get("os") if isinstance(vm, dict) else None
    return str(v) if v else None


def _agent_version(b: Any) -> str | None:
    st = b.frame("agent_status")
    st = st[st["agent_version"].notna()]
    if st.empty:
        return None
    return str(st.sort_values("snapshot_time", na_position="first")["agent_version"].iloc[-1])


# -- to Arrow ----------------------------------------------------------------------------------------------------------
def _json_default(o: object) -> str:
    return o.isoformat() if isinstance(o, pd.Timestamp) else str(o)


def _jsonish(v: object) -> str | None:
    if v is None or isinstance(v, str):
        return v
    if not isinstance(v, (list, dict, tuple)) and pd.isna(v):
        return None
    return json.dumps(v, default=_json_default, ensure_ascii=False)


def to_table(df: pd.DataFrame, schema: pa.Schema, consts: dict[str, str] | None = None) -> pa.Table:
    """``df`` as an Arrow table of exactly ``schema``: ``consts`` give whole columns of one value (the bundle's key
    and VM), a column neither has is all null; categories become strings, nested objects JSON text. Each column goes
    to Arrow from its array (Arrow-backed strings without a copy); ``Table.from_pandas`` costs ~1.7x more here."""
    n = len(df)
    consts = consts or {}
    cols = dict(zip(df.columns, column_arrays(df), strict=True))  # no Series per column (~10 us each)
    arrays = []
    for f in schema:
        if f.name in consts:
            arrays.append(pa.array([consts[f.name]] * n, type=f.type))
            continue
        a = cols.get(f.name)
        if a is None:
            arrays.append(pa.nulls(n, type=f.type))
            continue
        if isinstance(a, pd.Categorical):
            x = pa.DictionaryArray.from_arrays(pa.array(a.codes, mask=a.codes < 0),
                                               pa.array(a.categories.array)).cast(f.type)
        elif a.dtype == object:
            x = pa.array([_jsonish(v) for v in a], type=pa.string())
        else:
            x = pa.array(a, from_pandas=True)
        arrays.append(x if x.type == f.type else x.cast(f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _frame_schema(name: str, df: pd.DataFrame) -> pa.Schema:
    known = _schema_of(name)
    if known is not None:
        if known not in _FRAME_ARROW:
            _FRAME_ARROW[known] = arrow_schema(known, keys=True)
        return _FRAME_ARROW[known]
    # a frame whose schema lives elsewhere: its typed pandas columns decide (they come from its FrameSchema)
    fields = [pa.field(c.name, _ARROW[c.dtype], nullable=c.nullable) for c in KEY_COLUMNS]
    for col, dt in df.dtypes.items():
        if col in ("bundle_hash", "vm"):
            continue
        fields.append(pa.field(str(col), _arrow_of(dt)))
    return pa.schema(fields)


def _arrow_of(dt: Any) -> pa.DataType:
    if isinstance(dt, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(dt):
        return pa.timestamp("ns", tz="UTC")
    if pd.api.types.is_bool_dtype(dt):
        return pa.bool_()
    if pd.api.types.is_integer_dtype(dt):
        return pa.int64()
    if pd.api.types.is_float_dtype(dt):
        return pa.float64()
    return pa.string()


def _findings_frame(f: pd.DataFrame) -> pd.DataFrame:
    first, last, ev = [], [], []
    for evs in f["evidence"]:
        ts = [pd.Timestamp(e["ts"]) for e in evs if isinstance(e, dict) and e.get("ts")]
        ts = [t if t.tzinfo is not None else t.tz_localize("UTC") for t in ts]
        first.append(min(ts) if ts else pd.NaT)
        last.append(max(ts) if ts else pd.NaT)
        ev.append(json.dumps(list(evs), default=_json_default, ensure_ascii=False))
    out = f.drop(columns=["evidence"]).assign(evidence=ev)
    out["first_seen"] = pd.to_datetime(pd.Series(first, index=out.index, dtype=object), utc=True)
    out["last_seen"] = pd.to_datetime(pd.Series(last, index=out.index, dtype=object), utc=True)
    return out


def result_tables(res: BundleResult) -> dict[str, pa.Table]:
    """One bundle's result as Arrow tables by dataset name (``bundles``, ``findings`` and frame names)."""
    row = res.row
    out = {"bundles": pa.Table.from_pylist([{f.name: row.get(f.name) for f in _BUNDLES_ARROW}],
                                           schema=_BUNDLES_ARROW)}
    keys = {"bundle_hash": row["bundle_hash"], "vm": row["vm"]}
    if res.findings is not None and not res.findings.empty:
        out["findings"] = to_table(_findings_frame(res.findings.drop(columns=["bundle_hash", "vm"], errors="ignore")),
                                   _FINDINGS_ARROW, keys)
    for name, df in res.frames.items():
        out[name] = to_table(df, _frame_schema(name, df), keys)
    return out


def _work(path: str, key: str, frames: tuple[str, ...], min_severity: str | None) -> dict[str, bytes]:
    """The task a worker runs (a process of the pool or a Dask worker): small Arrow tables back, each as an Arrow
    IPC stream (:func:`from_ipc` reads them). Pickling a ``pa.Table`` costs ~8x more for tables this small (about
    7 ms against 0.8 ms per bundle, both ways, measured on the samples)."""
    return to_ipc(result_tables(diagnose_bundle(path, key, frames=frames, min_severity=min_severity)))


def to_ipc(tables: dict[str, pa.Table]) -> dict[str, bytes]:
    """Each table as the bytes of an Arrow IPC stream."""
    out = {}
    for name, t in tables.items():
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, t.schema) as w:
            w.write_table(t)
        out[name] = sink.getvalue().to_pybytes()
    return out


def from_ipc(blobs: dict[str, bytes]) -> dict[str, pa.Table]:
    """The tables :func:`to_ipc` wrote, schemas and values as they were."""
    return {name: pa.ipc.open_stream(b).read_all() for name, b in blobs.items()}


# -- writing -----------------------------------------------------------------------------------------------------------
class ParquetSink:
    """Parquet datasets under ``out``: one folder ``<name>.parquet`` per dataset, one part file per batch.

    A batch's frame parts are written first and its ``bundles`` part last, each through a temporary name, so a
    bundle is in ``bundles.parquet`` only once everything it gave is on disk; parts left by a run stopped
    between the two are removed when the next run starts (:meth:`done`)."""

    def __init__(self, out: str | Path, *, batch: int = 64, every_s: float = 10.0) -> None:
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.batch, self.every_s = batch, every_s
        self._run = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        self._n = 0
        self._pending: dict[str, list[pa.Table]] = {}
        self._count = 0
        self._last = time.monotonic()

    def done(self) -> set[str]:
        """Hashes of the bundles already written (removing parts of batches that never committed)."""
        bdir = self.out / "bundles.parquet"
        committed = {p.stem for p in bdir.glob("part-*.parquet")} if bdir.is_dir() else set()
        for d in self.out.glob("*.parquet"):
            if d.is_dir():
                for part in d.glob("part-*"):
                    if part.suffix != ".parquet" or part.stem not in committed:
                        part.unlink()  # a temporary file, or a part whose batch has no bundles rows
        if not committed:
            return set()
        import pyarrow.parquet as pq

        keys: set[str] = set()
        for part in sorted(bdir.glob("part-*.parquet")):
            keys.update(pq.read_table(part, columns=["bundle_hash"]).column(0).to_pylist())
        return keys

    def add(self, tables: dict[str, pa.Table]) -> None:
        for name, t in tables.items():
            self._pending.setdefault(name, []).append(t)
        self._count += 1
        if self._count >= self.batch or time.monotonic() - self._last >= self.every_s:
            self.flush()

    def flush(self) -> None:
        if not self._count:
            return
        import pyarrow.parquet as pq

        stem = f"part-{self._run}-{self._n:05d}"
        names = [*sorted(n for n in self._pending if n != "bundles"), "bundles"]
        for name in names:
            parts = self._pending.get(name)
            if not parts:
                continue
            d = self.out / f"{name}.parquet"
            d.mkdir(exist_ok=True)
            table = pa.concat_tables(parts, promote_options="permissive") if len(parts) > 1 else parts[0]
            tmp = d / f"{stem}.tmp"
            pq.write_table(table, tmp, compression="zstd")
            os.replace(tmp, d / f"{stem}.parquet")
        self._n += 1
        self._pending.clear()
        self._count = 0
        self._last = time.monotonic()


# -- running -----------------------------------------------------------------------------------------------------------
@dataclass
class RunSummary:
    """What :func:`run` did."""

    out: Path
    total: int          # bundles named
    done: int           # diagnosed now (ok or not)
    failed: int         # of those, not ok
    skipped: int        # already in the output (resume)
    duplicates: int     # same content as another bundle of this run
    seconds: float
    html: Path | None = None
    html_error: str | None = None   # why summary.html could not be written

    def __str__(self) -> str:
        return (f"{self.total} bundle(s): {self.done} diagnosed ({self.failed} could not be read), {self.skipped} "
                f"already in {self.out}, {self.duplicates} duplicate(s); {self.seconds:.1f} s"
                + (f"; summary.html not written: {self.html_error}" if self.html_error else ""))


def _progress(total: int, show: bool | None):
    from tqdm.auto import tqdm

    if show is None:
        show = sys.stderr.isatty()
    return tqdm(total=total, disable=not show, file=sys.stderr, unit="bundle", smoothing=0.05)


def run(paths: str | Path | Iterable[str | Path], out: str | Path, *, workers: int | None = None,
        scheduler: str | None = None, client: Any = None, frames: Sequence[str] = FLEET_FRAMES,
        min_severity: str | None = None, progress: bool | None = None, html: bool = True,
        batch: int = 64) -> RunSummary:
    """Diagnose every bundle named by ``paths`` (see :func:`expand`) into Parquet datasets under ``out``.

    ``workers``: processes (default: every core; 1 runs in this process). ``scheduler`` (a Dask scheduler address)
    or ``client`` (a ``dask.distributed.Client``) runs the same tasks on a Dask cluster instead. One bundle that
    fails is a row in ``bundles.parquet`` with its ``error_kind``; the others go on. A bundle whose content hash is
    already in ``out`` is skipped. ``html`` writes ``out/summary.html`` at the end (:mod:`kit.fleet_report`).
    """
    t0 = time.perf_counter()
    if client is None and scheduler is not None:
        from distributed import Client

        with Client(scheduler) as own:
            return run(paths, out, client=own, frames=frames, min_severity=min_severity, progress=progress,
                       html=html, batch=batch)
    bundles = [p.absolute() for p in expand(paths)]  # as every worker (a Dask worker too) must find it
    sink = ParquetSink(out, batch=batch)
    frames = tuple(frames)
    already = sink.done()
    todo: list[tuple[str, str]] = []
    seen: set[str] = set()
    skipped = dupes = 0
    for p, key in zip(bundles, _hash_all(bundles, workers, client), strict=True):
        if key in already:
            skipped += 1
        elif key in seen:
            dupes += 1
        else:
            seen.add(key)
            todo.append((str(p), key))
    failed = 0
    try:
        with _progress(len(todo), progress) as bar:
            for tables in _results(todo, frames, min_severity, workers=workers, client=client):
                sink.add(tables)
                failed += not tables["bundles"].column("ok")[0].as_py()
                bar.update(1)
    finally:  # Ctrl-C or a lost cluster: what arrived is kept, and the next run resumes after it
        sink.flush()
    summary = RunSummary(Path(out), len(bundles), len(todo), failed, skipped, dupes, time.perf_counter() - t0)
    if html:
        from .fleet_report import write_summary

        try:
            summary.html = write_summary(load(out), Path(out) / "summary.html")
        except Exception as exc:  # the Parquet output is what counts: a summary that fails is said, not raised
            summary.html_error = _masked(f"{type(exc).__name__}: {exc}")
    return summary


def _hash_all(bundles: list[Path], workers: int | None, client: Any) -> list[str]:
    """Every bundle's :func:`bundle_hash`, read where the work runs: on the Dask cluster, or on the local cores
    when there are many bundles (hashing reads every byte: for large bundles that is not free)."""
    paths = [str(p) for p in bundles]
    if client is not None and paths:
        return list(client.gather(client.map(_safe_hash, paths, pure=False)))
    n = min(workers or os.cpu_count() or 1, len(paths))
    if n <= 1 or len(paths) < 8 * n:
        return [_safe_hash(Path(p)) for p in paths]
    import concurrent.futures as cf

    with cf.ProcessPoolExecutor(max_workers=n) as pool:
        return list(pool.map(_safe_hash, paths, chunksize=max(1, len(paths) // (8 * n))))


def _results(todo: list[tuple[str, str]], frames: tuple[str, ...], min_severity: str | None, *,
             workers: int | None, client: Any) -> Iterator[dict[str, pa.Table]]:
    if not todo:
        return
    if client is not None:
        yield from _dask_results(todo, frames, min_severity, client)
        return
    import gc

    n = workers or os.cpu_count() or 1
    _warm()
    # The imported modules' objects (pandas, pyarrow, the kit: ~60,000) go to the collector's permanent generation
    # before the work starts (and the workers fork): collections then skip them (~5-10 % of a bundle's CPU on the
    # samples) and their pages stay shared with the forked workers instead of being touched by each one's collector.
    gc.collect()
    gc.freeze()
    # A bundle makes ~100,000 small objects, nearly all freed by reference counting: collecting the youngest
    # generation every 20,000 allocations instead of 700 saves another ~5-10 % (the samples, same run).
    threshold = gc.get_threshold()
    gc.set_threshold(20_000, 20, 20)
    try:
        if n <= 1 or len(todo) == 1:
            for path, key in todo:
                yield result_tables(diagnose_bundle(path, key, frames=frames, min_severity=min_severity))
        else:
            yield from _pool_results(todo, frames, min_severity, min(n, len(todo)))
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _warm() -> None:
    """Import the parsers and rule modules here, before the workers start: forked workers inherit them instead of
    each importing them on its first bundle (about a second each)."""
    import importlib

    from .diagnose import RULE_MODULES
    from .parse import frame_schemas

    frame_schemas()
    for name in RULE_MODULES:
        importlib.import_module(name if "." in name else f"kit.diagnose.{name}")


def _pool_results(todo: list[tuple[str, str]], frames: tuple[str, ...], min_severity: str | None,
                  n: int) -> Iterator[dict[str, pa.Table]]:
    """A process pool with a bounded number of bundles in flight (memory stays flat). A worker that dies breaks the
    pool, which is made again; the bundles that were in flight are then tried one at a time, so the one that kills
    its worker again is recorded as ``worker-died`` and the others are diagnosed."""
    import concurrent.futures as cf
    from concurrent.futures.process import BrokenProcessPool

    queue = list(reversed(todo))
    suspects: list[tuple[str, str]] = []
    while queue or suspects:
        pool = cf.ProcessPoolExecutor(max_workers=n)
        inflight: dict[cf.Future, tuple[str, str]] = {}
        broken = False
        try:
            while (queue or suspects or inflight) and not broken:
                alone = bool(suspects)
                while not alone and queue and len(inflight) < 2 * n:
                    path, key = queue.pop()
                    inflight[pool.submit(_work, path, key, frames, min_severity)] = (path, key)
                if alone and not inflight:
                    path, key = suspects.pop()
                    inflight[pool.submit(_work, path, key, frames, min_severity)] = (path, key)
                if not inflight:
                    break
                finished, _ = cf.wait(inflight, return_when=cf.FIRST_COMPLETED)
                for fut in finished:
                    path, key = inflight.pop(fut)
                    try:
                        tables = from_ipc(fut.result())
                    except BrokenProcessPool:
                        broken = True
                        if alone:
                            yield result_tables(BundleResult(_error_row(
                                Path(path), key, "worker-died", "the worker process ended while reading this "
                                "bundle alone: out of memory or killed", 0.0)))
                        else:
                            suspects.append((path, key))
                        continue
                    yield tables
            if broken:  # the rest in flight are suspects too: each is tried alone in the next pool
                suspects.extend(inflight.values())
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _dask_results(todo: list[tuple[str, str]], frames: tuple[str, ...], min_severity: str | None,
                  client: Any) -> Iterator[dict[str, pa.Table]]:
    """The same tasks on a Dask cluster, a bounded number in flight, results as they complete. A task the cluster
    gives up on (its workers died: KilledWorker) is a ``worker-died`` row."""
    from distributed import as_completed

    window = max(4, 4 * sum(client.nthreads().values()))
    queue = list(reversed(todo))
    meta: dict[str, tuple[str, str]] = {}

    def submit(path: str, key: str):
        fut = client.submit(_work, path, key, frames, min_severity, key=f"vmkit-fleet-{key}-{uuid.uuid4().hex}",
                            pure=False)
        meta[fut.key] = (path, key)
        return fut

    ac = as_completed([submit(*queue.pop()) for _ in range(min(window, len(queue)))])
    for fut in ac:
        path, key = meta.pop(fut.key)
        try:
            tables = from_ipc(fut.result())
        except Exception as exc:  # the task never raises itself: this is the cluster losing it
            tables = result_tables(BundleResult(_error_row(Path(path), key, "worker-died",
                                                           f"the Dask cluster lost the task: {type(exc).__name__}: "
                                                           f"{exc}", 0.0)))
        yield tables
        fut.release()
        if queue:
            ac.add(submit(*queue.pop()))


# -- reading back --------------------------------------------------------------------------------------------------
@dataclass
class FleetData:
    """A fleet output folder, read back: ``bundles``, ``findings`` (severity an ordered category) and the frames."""

    out: Path
    bundles: pd.DataFrame
    findings: pd.DataFrame

    def frame(self, name: str) -> pd.DataFrame:
        """A fleet frame (``routes``, ``services``, ...); empty when no bundle had it."""
        known = _schema_of(name)
        schema = None if known is None else FrameSchema(name, known.description, (*KEY_COLUMNS, *known.columns))
        d = self.out / f"{name}.parquet"
        if schema is None and not any(d.glob("part-*.parquet")):
            return pd.DataFrame({c.name: pd.Series(dtype="str") for c in KEY_COLUMNS})
        return _read(d, schema)


def _read(d: Path, schema: FrameSchema | None = None) -> pd.DataFrame:
    """A dataset folder as a frame with the schema's pandas dtypes (Parquet keeps Arrow types: an integer column
    with a missing value would come back as float, a category as text)."""
    if d.is_dir() and any(d.glob("part-*.parquet")):
        df = pd.read_parquet(d)
    elif schema is not None:
        return schema.empty()
    else:
        return pd.DataFrame()
    return df if schema is None else schema.coerce(df)


def load(out: str | Path) -> FleetData:
    """Read a :func:`run` output folder."""
    from .diagnose.model import SEVERITY_DTYPE

    root = Path(out)
    bundles = _read(root / "bundles.parquet", BUNDLES)
    findings = _read(root / "findings.parquet", FINDINGS)
    findings["severity"] = findings["severity"].astype(str).astype(SEVERITY_DTYPE)
    return FleetData(root, bundles.reset_index(drop=True), findings.reset_index(drop=True))


def _at_least(findings: pd.DataFrame, min_severity: str | None) -> pd.DataFrame:
    return findings if min_severity is None else findings[findings["severity"] >= min_severity]


def code_counts(data: FleetData, min_severity: str | None = "warning") -> pd.DataFrame:
    """Long form, one row per code: severity, VMs hit, their share of the bundles read, findings (rows)."""
    f = _at_least(data.findings, min_severity)
    read = int(data.bundles["ok"].sum()) if not data.bundles.empty else 0
    if f.empty:
        return pd.DataFrame({"code": pd.Series(dtype="str"), "severity": pd.Series(dtype="str"),
                             "vms": pd.Series(dtype="int64"), "share": pd.Series(dtype="float64"),
                             "findings": pd.Series(dtype="int64")})
    g = f.groupby("code", observed=True)
    out = pd.DataFrame({"severity": g["severity"].max().astype(str), "vms": g["bundle_hash"].nunique(),
                        "findings": g.size()}).reset_index()
    out["share"] = out["vms"] / max(read, 1)
    out = out[["code", "severity", "vms", "share", "findings"]].astype(
        {"code": "str", "severity": "str", "vms": "int64", "share": "float64", "findings": "int64"})
    return out.sort_values(["vms", "code"], ascending=[False, True]).reset_index(drop=True)


def onset(data: FleetData, min_severity: str | None = "warning") -> pd.DataFrame:
    """When each code first appeared across the fleet: the earliest evidence time of any of its findings (else the
    bundle's time reference, flagged ``from_evidence`` False), the VM it was on, and how many VMs it reached.
    Codes with no time at all are left out."""
    f = _at_least(data.findings, min_severity)
    cols = {"code": "str", "first_seen": "datetime64[ns, UTC]", "first_vm": "str", "from_evidence": "bool",
            "vms": "int64"}
    if f.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in cols.items()})
    ref = data.bundles.set_index("bundle_hash")["time_reference"]
    when = f["first_seen"].copy()
    from_ev = when.notna()
    when = when.where(from_ev, f["bundle_hash"].map(ref))
    g = f.assign(_when=when, _ev=from_ev).dropna(subset=["_when"]).sort_values(["_when", "vm"])
    first = g.groupby("code", sort=False).head(1).set_index("code")
    vms = f.groupby("code", observed=True)["bundle_hash"].nunique()
    out = pd.DataFrame({"code": first.index, "first_seen": first["_when"].to_numpy(),
                        "first_vm": first["vm"].to_numpy(), "from_evidence": first["_ev"].to_numpy(),
                        "vms": vms.reindex(first.index).to_numpy()})
    return out.astype(cols).sort_values(["first_seen", "code"]).reset_index(drop=True)


#: Groups :func:`by_group` knows besides the bundles columns: an extension's handler version on each VM.
EXTENSION_VERSION = "ext_version"


def by_group(data: FleetData, by: str, min_severity: str | None = "warning", *,
             extension: str | None = None) -> pd.DataFrame:
    """Long form: code x group value, VMs hit, VMs in the group, and their ratio. ``by`` is a bundles column
    (``agent_version``, ``os``, ``layout``) or ``"ext_version"``: the handler version of ``extension`` (or, when None,
    "Publisher.Type version" of every extension: a VM then counts once per extension version it runs) from
    handler_status and ext_status.
    A VM whose group value is unknown is counted under ``"(unknown)"``, never dropped."""
    groups = _groups(data, by, extension)
    f = _at_least(data.findings, min_severity)
    sizes = groups.groupby("group")["bundle_hash"].nunique().rename("group_vms")
    types = {"code": "str", "group": "str", "vms": "int64", "group_vms": "int64", "share": "float64"}
    hit = f[["bundle_hash", "code"]].drop_duplicates().merge(groups, on="bundle_hash")
    if hit.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in types.items()})
    out = hit.groupby(["code", "group"]).size().rename("vms").reset_index()
    out["group_vms"] = out["group"].map(sizes).to_numpy()
    out["share"] = out["vms"] / out["group_vms"]
    return out.astype(types).sort_values(["code", "group"]).reset_index(drop=True)


def _groups(data: FleetData, by: str, extension: str | None) -> pd.DataFrame:
    ok = data.bundles[data.bundles["ok"]]
    if by != EXTENSION_VERSION:
        if by not in ok.columns:
            raise KitError(f"cannot group by {by!r}: a bundles.parquet column (e.g. agent_version, os, layout) or "
                           f"{EXTENSION_VERSION!r} expected")
        vals = ok[by].astype("str").fillna("(unknown)")
        return pd.DataFrame({"bundle_hash": ok["bundle_hash"].to_numpy(), "group": vals.to_numpy()})
    parts = []
    for name, ext_col, ver_col in (("handler_status", "handler_name", "handler_version"),
                                   ("ext_status", "extension", "ext_version")):
        fr = data.frame(name)
        if ext_col in fr.columns:
            if extension is None:  # every extension: the group names it ("Publisher.Type 1.10.15")
                parts.append(pd.DataFrame({"bundle_hash": fr["bundle_hash"],
                                           "group": fr[ext_col].astype("str") + " " + fr[ver_col].astype("str")}))
            else:
                sel = fr[fr[ext_col].str.lower() == extension.lower()]
                parts.append(pd.DataFrame({"bundle_hash": sel["bundle_hash"], "group": sel[ver_col]}))
    versions = pd.concat(parts).dropna().drop_duplicates() if parts else pd.DataFrame(columns=["bundle_hash", "group"])
    unknown = ok.loc[~ok["bundle_hash"].isin(versions["bundle_hash"]), ["bundle_hash"]].assign(group="(unknown)")
    return pd.concat([versions, unknown], ignore_index=True).astype({"bundle_hash": "str", "group": "str"})


def outliers(data: FleetData, min_severity: str | None = "warning", *, rare: float = 0.05) -> pd.DataFrame:
    """VMs that stand out, long form (vm, code, vms with that code, why): a code that hit at most ``rare`` of the
    bundles read (or a single VM), on the VMs it hit. A fleet-wide failure is not an outlier; this lists what
    only a few VMs show."""
    counts = code_counts(data, min_severity)
    read = max(int(data.bundles["ok"].sum()) if not data.bundles.empty else 0, 1)
    few = counts[(counts["vms"] <= max(1, int(rare * read)))]
    f = _at_least(data.findings, min_severity)
    hit = f[f["code"].isin(few["code"])][["vm", "bundle_hash", "code"]].drop_duplicates()
    out = hit.merge(few[["code", "vms"]], on="code")
    out["why"] = [f"{c} on {n} of {read} VM(s)" for c, n in zip(out["code"], out["vms"], strict=True)]
    out = out.astype({"vm": "str", "bundle_hash": "str", "code": "str", "vms": "int64", "why": "str"})
    return out.sort_values(["vms", "code", "vm"]).reset_index(drop=True)


# -- in memory (a handful of bundles) ------------------------------------------------------------------------------
@dataclass
class FleetResult:
    """Findings of every bundle that could be read, and why the others could not."""

    findings: pd.DataFrame   # the findings frame plus `vm`, `bundle` and `bundle_hash` columns
    bundles: pd.DataFrame    # one row per bundle: vm, bundle, kind, collected_at, ok, error, counts by severity
    failures: pd.DataFrame   # bundle, error

    def counts(self) -> pd.DataFrame:
        """Long form: one row per code at warning or above, with the number of VMs and findings
        (one column per VM does not read at 10,000 VMs; pivot this if you want that)."""
        f = self.findings[self.findings["severity"] >= "warning"]
        if f.empty:
            return pd.DataFrame({"code": pd.Series(dtype="str"), "vms": pd.Series(dtype="int64"),
                                 "findings": pd.Series(dtype="int64")})
        g = f.groupby("code")
        out = pd.DataFrame({"vms": g["vm"].nunique(), "findings": g.size()}).reset_index()
        return out.sort_values(["vms", "code"], ascending=[False, True]).reset_index(drop=True)


def diagnose_many(folder: str | Path | list[str | Path], *, min_severity: str | None = None,
                  on_result: Callable[[BundleResult], None] | None = None) -> FleetResult:
    """Open and diagnose every bundle in this process, results in memory; one unreadable bundle does not stop the
    others. For hundreds of bundles use :func:`run` (every core, Parquet)."""
    from .diagnose import FINDINGS as FINDINGS_SCHEMA

    paths = [Path(p) for p in folder] if isinstance(folder, list) else expand(folder)
    frames, rows, failures = [], [], []
    for p in paths:
        res = diagnose_bundle(p, frames=(), min_severity=min_severity)
        if on_result is not None:
            on_result(res)
        r = res.row
        row = {"vm": r["vm"], "bundle": str(p), "kind": r.get("layout"), "collected_at": r.get("collected_at"),
               "ok": r["ok"], "error": r.get("error"), **{s: r[f"n_{s}"] for s in SEVERITIES},
               "error_kind": r.get("error_kind"), "bundle_hash": r["bundle_hash"]}
        rows.append(row)
        if not r["ok"]:
            failures.append({"bundle": str(p), "error": r["error"], "error_kind": r["error_kind"]})
        elif res.findings is not None:
            frames.append(res.findings.assign(bundle=str(p)))
    if frames:
        findings = pd.concat(frames, ignore_index=True)
        findings["severity"] = findings["severity"].astype(str).astype(frames[0]["severity"].dtype)
    else:
        findings = FINDINGS_SCHEMA.empty().assign(vm=[], bundle=[], bundle_hash=[])
    bundles = pd.DataFrame(rows)
    if not bundles.empty:
        bundles["collected_at"] = pd.to_datetime(bundles["collected_at"], utc=True)
    return FleetResult(findings=findings, bundles=bundles,
                       failures=pd.DataFrame(failures, columns=["bundle", "error", "error_kind"]))


def evidence_timeline(result: FleetResult, min_severity: str = "warning") -> pd.DataFrame:
    """Every timestamped evidence row of findings at or above ``min_severity``, across VMs, in time order."""
    from .diagnose import evidence_frame

    out = []
    f = result.findings[result.findings["severity"] >= min_severity]
    for vm, g in f.groupby("vm", sort=False):
        ev = evidence_frame(g)
        out.append(ev.assign(vm=vm))
    if not out:
        return pd.DataFrame(columns=["vm", "ts", "code", "source", "line", "text"])
    ev = pd.concat(out, ignore_index=True).dropna(subset=["ts"])
    return ev[["vm", "ts", "code", "source", "line", "text"]].sort_values("ts").reset_index(drop=True)


__all__ = ["BUNDLES", "ERROR_KINDS", "FINDINGS", "FLEET_FRAMES", "BundleResult", "FleetData", "FleetResult",
           "ParquetSink", "RunSummary", "bundle_hash", "by_group", "code_counts", "diagnose_bundle", "diagnose_many",
           "evidence_timeline", "expand", "find_bundles", "load", "onset", "outliers", "run"]
