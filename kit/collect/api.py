"""The collection API behind :mod:`kit.collect` (imported on first use, so `vmkit` starts fast)."""

from __future__ import annotations

import contextlib
import queue
import re
import secrets as _secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..errors import (
    CollectionError,
    CollectionInterrupted,
    CredentialError,
    OutputError,
    UnsafeArchiveError,
)
from . import script as _script
from .credentials import Credential, Secret, get_credential
from .remote import TRANSPORTS, Cancel, ConnectOptions, RunStats, _warn_http_once, run_collector

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

#: Caps like the platform's own log collectors (30 MiB per file, 150 MiB in total).
PER_FILE_BYTES = 30 * 1024 * 1024
TOTAL_BYTES = 150 * 1024 * 1024


@dataclass
class CollectResult:
    """The outcome of collecting one VM. ``ok`` with ``bundle`` set, or ``error``/``error_kind`` saying why not."""

    host: str
    ok: bool
    bundle: Path | None = None
    zip_path: Path | None = None
    sha256: str | None = None
    size: int | None = None
    seconds: float = 0.0
    round_trips: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    #: credentials, config, auth, tls, refused, network, encryption, protocol, fault, timeout, transfer, script,
    #: disk-full, quota, read-only, permission, not-a-folder, local, interrupted, error (docs/collect.md)
    error_kind: str | None = None
    log: list[str] = field(default_factory=list)
    endpoint: str | None = None  # the WinRM URL used (scheme "auto" picks https or http)

    @property
    def total_round_trips(self) -> int:
        return sum(self.round_trips.values())

    def __str__(self) -> str:
        if self.ok:
            return (f"{self.host}: ok - {self.bundle} ({self.size:,} bytes zipped, {self.seconds:.1f} s, "
                    f"{self.total_round_trips} round trips)")
        return f"{self.host}: FAILED ({self.error_kind}) - {self.error}"


def script_path() -> Path:
    """The collector script, to copy to a VM and run by hand."""
    from importlib import resources

    return Path(str(resources.files(__package__).joinpath(_script.SCRIPT_NAME)))


def split_host(host: str) -> tuple[str, int | None]:
    """``vm1`` -> (vm1, None); ``10.0.0.4:55986`` -> (10.0.0.4, 55986) (a NAT or jump-box port); ``[fe80::1]:5986``
    -> (fe80::1, 5986). A bare IPv6 address stays whole."""
    h = host.strip()
    if h.startswith("["):
        addr, _, rest = h[1:].partition("]")
        return addr, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    if h.count(":") == 1:
        name, _, port = h.partition(":")
        if port.isdigit():
            return name, int(port)
    return h, None


def _safe_name(host: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", host).strip("._") or "host"


def _kind(exc: BaseException) -> str:
    if isinstance(exc, UnsafeArchiveError):
        return "transfer"
    return str(getattr(exc, "kind", "error"))


def _prepare_out(out: Path) -> None:
    """Create the output folder, or say precisely why it cannot be (before the VM is asked for anything)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError.from_os_error(exc, out, "create the output folder") from None
    if not out.is_dir():  # pragma: no cover - mkdir(exist_ok=True) raises FileExistsError for a file
        raise OutputError(f"could not use {out}: it is a file, not a folder", path=out, kind="not-a-folder")


def collect(host: str, *, user: str | None = None, password: str | Secret | None = None,
            credential: Credential | None = None, out: str | Path = "bundles", transport: str = "ntlm",
            scheme: str = "auto", port: int | None = None, insecure: bool = False, ca_file: str | None = None,
            cert_pem: str | None = None, cert_key_pem: str | None = None, proxy: str | None = None,
            deadline_s: float = 1800.0, operation_timeout_s: int = 20, read_timeout_s: int = 30,
            per_file_bytes: int = PER_FILE_BYTES, total_bytes: int = TOTAL_BYTES, interactive: bool | None = None,
            allow_unencrypted: bool = False, raise_on_error: bool = True,
            on_log: Callable[[str], None] | None = None,
            on_progress: Callable[[int, int | None], None] | None = None,
            cancel: Cancel | None = None) -> CollectResult:
    """Collect one VM into ``out/<host>-<UTC time>/`` (the unpacked bundle) beside its verified ``.zip``.

    ``host`` may carry a port (``10.0.0.4:55986``, ``[fe80::1]:5986``), which wins over ``port``.

    ``scheme``: ``"auto"`` (default) uses HTTPS on 5986 when something listens there, else HTTP 5985 with NTLM
    message encryption (what an Azure Windows VM has by default; a one-time warning says that this does not
    authenticate the VM); ``"https"`` or ``"http"`` force one. Ctrl-C stops the collection within about a second
    and raises :class:`~kit.errors.CollectionInterrupted` (a ``KeyboardInterrupt``) after signalling the command
    and deleting the shell on the VM; what arrived of the zip is kept as ``<host>-<time>.partial.zip`` when it holds
    a whole file (``left``). Local failures (disk full, quota,
    read-only, permission, the output folder is a file) raise :class:`~kit.errors.OutputError` naming the path.

    The password comes from ``credential``/``password`` if given, else ``VMKIT_PASSWORD``, the keyring or a
    prompt (see :mod:`kit.collect.credentials`). Certificate auth needs ``cert_pem``/``cert_key_pem`` and no
    password. With ``raise_on_error`` (default) a failure raises a :class:`~kit.errors.CollectionError`;
    otherwise it is returned in the result. No partial bundle is left behind, except what arrived of a transfer cut
    short (Ctrl-C, the deadline, a dropped connection) that holds a whole file: ``<host>-<time>.partial.zip``, named
    in the error (docs/collect.md).
    """
    address, host_port = split_host(host)
    opts = ConnectOptions(transport=transport, scheme=scheme, port=host_port or port, insecure=insecure,
                          ca_file=ca_file, cert_pem=cert_pem, cert_key_pem=cert_key_pem, proxy=proxy,
                          deadline_s=deadline_s, operation_timeout_s=operation_timeout_s, read_timeout_s=read_timeout_s,
                          allow_unencrypted=allow_unencrypted)
    stats = RunStats()
    result = CollectResult(host=host, ok=False)
    started = time.monotonic()
    notes: list[str] = []
    try:
        opts.check()
        cred = credential
        if cred is None and transport != "certificate":
            cred = get_credential(address, user, password=password, interactive=interactive)
        _prepare_out(Path(out))
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        base = Path(out) / f"{_safe_name(host)}-{stamp}"
        zip_path = base.with_name(base.name + ".zip")
        if zip_path.exists() or base.exists():
            raise CollectionError(f"{zip_path} or {base} already exists; not overwriting a bundle")
        params = {"host": host, "kit_version": __version__, "script_sha256": _script.script_sha256(),
                  "per_file_bytes": int(per_file_bytes), "total_bytes": int(total_bytes),
                  "deadline_s": _script.script_deadline(deadline_s),
                  "nonce": f"{_secrets.randbelow(10**10):010d}"}
        opts = opts.resolve(address)
        result.endpoint = opts.endpoint(address)
        if opts.encrypted_http:
            notes.append("warning: " + _warn_http_once(result.endpoint, opts.transport))
        rec = run_collector(address, cred, opts, zip_path, params=params, on_log=on_log, on_progress=on_progress,
                            stats=stats, cancel=cancel, label=host)
        result.log = notes + rec.log + [f"stray output: {s}" for s in rec.stray]
        from ..bundle.safezip import extract_zip

        try:
            extract_zip(zip_path, base)
        except OSError as exc:
            zip_path.unlink(missing_ok=True)
            raise OutputError.from_os_error(exc, base, "unpack the bundle into") from None
        except BaseException:
            zip_path.unlink(missing_ok=True)
            raise
        result.ok, result.bundle, result.zip_path = True, base, zip_path
        result.sha256, result.size = rec.sha256, rec.received
    except (CollectionError, UnsafeArchiveError) as exc:
        result.error, result.error_kind = str(exc), _kind(exc)
        if raise_on_error:
            raise
    finally:
        result.seconds = time.monotonic() - started
        result.round_trips = dict(stats.round_trips)
    return result


def read_inventory(path: str | Path) -> list[str]:
    """Hosts from an inventory file: one per line; blank lines and ``#`` comments ignored; a CSV's first column."""
    hosts: list[str] = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8-sig").splitlines(), 1):
        s = line.split("#", 1)[0].strip()
        if not s:
            continue
        s = s.split(",", 1)[0].strip()
        if n == 1 and s.lower() in ("host", "hostname", "name", "address"):
            continue  # a CSV header
        if any(c.isspace() for c in s):
            raise CollectionError(f"{path}, line {n}: expected one host name or address, found {s!r}")
        hosts.append(s)
    return hosts


def collect_many(hosts: Iterable[str], *, max_workers: int = 4, progress: bool = True,
                 **kwargs: Any) -> list[CollectResult]:
    """Collect several VMs at once (at most ``max_workers`` in flight). Never raises for one VM's failure.

    Every VM is tried; each result says what happened. ``kwargs`` are those of :func:`collect`. Credentials
    are looked up once per user before the threads start (a prompt, if any, happens once).

    Ctrl-C stops every collection in flight within about a second (each command signalled, each shell deleted,
    what arrived of a zip kept as a partial bundle when it holds a whole file) and raises
    :class:`~kit.errors.CollectionInterrupted` whose ``results`` hold every VM's result: finished ones as they
    ended, the others with ``error_kind == "interrupted"``.
    """
    hosts = list(dict.fromkeys(hosts))
    kwargs = dict(kwargs)
    kwargs["raise_on_error"] = False
    if kwargs.get("credential") is None and kwargs.get("transport", "ntlm") != "certificate" and hosts:
        try:
            kwargs["credential"] = get_credential(hosts[0], kwargs.pop("user", None),
                                                  password=kwargs.pop("password", None),
                                                  interactive=kwargs.pop("interactive", None))
        except CredentialError as exc:
            return [CollectResult(host=h, ok=False, error=str(exc), error_kind="credentials") for h in hosts]
    cancel = kwargs.pop("cancel", None) or Cancel()
    kwargs["cancel"] = cancel
    results: dict[str, CollectResult] = {}
    todo: queue.SimpleQueue[str] = queue.SimpleQueue()
    for h in hosts:
        todo.put(h)
    done: queue.SimpleQueue[tuple[str, CollectResult]] = queue.SimpleQueue()
    busy: set[str] = set()

    def worker() -> None:
        # Daemon threads, not a ThreadPoolExecutor: after Ctrl-C the process must not wait at exit for a worker that
        # is blocked in a WinRM Receive (up to the operation timeout).
        while not cancel.is_set():
            try:
                h = todo.get_nowait()
            except queue.Empty:
                return
            busy.add(h)
            try:
                r = collect(h, **kwargs)
            except CollectionInterrupted as exc:
                r = CollectResult(host=h, ok=False, error=str(exc), error_kind="interrupted")
            except Exception as exc:  # a bug, not a VM failure: still report it per host
                r = CollectResult(host=h, ok=False, error=f"{type(exc).__name__}: {exc}", error_kind="error")
            done.put((h, r))
            busy.discard(h)

    bar = None
    if progress and hosts:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(hosts), desc="collecting", unit="VM")
    threads = [threading.Thread(target=worker, name=f"vmkit-collect-{i}", daemon=True)
               for i in range(min(max(1, max_workers), len(hosts)))]
    try:
        for t in threads:
            t.start()
        while len(results) < len(hosts):
            try:
                h, r = done.get(timeout=0.1)
            except queue.Empty:
                if not any(t.is_alive() for t in threads) and done.empty():  # pragma: no cover - a worker died
                    break
                continue
            results[h] = r
            if bar is not None:
                bar.update(1)
                bar.set_postfix_str(f"{h}: {'ok' if r.ok else r.error_kind}")
    except KeyboardInterrupt:
        pressed = time.monotonic()
        left = cancel.interrupt()
        # A VM whose bundle had fully arrived is only being unpacked: give it until ~1.5 s after Ctrl-C to finish.
        while set(busy) - cancel.stopped - results.keys() and time.monotonic() < pressed + 1.5:
            with contextlib.suppress(queue.Empty):
                h, r = done.get(timeout=0.05)
                results.setdefault(h, r)
        while not done.empty():  # results that arrived meanwhile
            h, r = done.get_nowait()
            results.setdefault(h, r)
        out = [results.get(h) or CollectResult(host=h, ok=False, error_kind="interrupted",
                                               error="interrupted by Ctrl-C before it finished") for h in hosts]
        running = sum(1 for r in out if r.error_kind == "interrupted")
        raise CollectionInterrupted(f"collection interrupted (Ctrl-C): {len(hosts) - running} of {len(hosts)} VMs "
                                    f"had finished; {running} stopped (commands signalled, shells deleted"
                                    + (f"; partial bundles kept: {', '.join(map(str, left))})" if left
                                       else "; nothing of theirs was kept)"),
                                    left=left, results=out) from None
    finally:
        if bar is not None:
            with contextlib.suppress(Exception):
                bar.close()
    return [results.get(h) or CollectResult(host=h, ok=False, error="the worker stopped without a result",
                                            error_kind="error") for h in hosts]


def summary(results: Iterable[CollectResult]) -> pd.DataFrame:
    """One row per VM: host, ok, error_kind, error, bundle, size, seconds, round_trips."""
    import pandas as pd

    rows = [{"host": r.host, "ok": r.ok, "error_kind": r.error_kind, "error": r.error,
             "bundle": str(r.bundle) if r.bundle else None, "size": r.size, "seconds": round(r.seconds, 2),
             "round_trips": r.total_round_trips} for r in results]
    df = pd.DataFrame(rows, columns=["host", "ok", "error_kind", "error", "bundle", "size", "seconds",
                                     "round_trips"])
    return df.astype({"host": "string", "ok": "bool", "error_kind": "category", "error": "string",
                      "bundle": "string", "size": "Int64", "seconds": "float64", "round_trips": "int64"})


__all__ = ["PER_FILE_BYTES", "TOTAL_BYTES", "TRANSPORTS", "CollectResult", "ConnectOptions", "Credential",
           "Secret", "collect", "collect_many", "get_credential", "read_inventory", "script_path", "summary"]
