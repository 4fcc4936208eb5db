"""The collection API behind :mod:`kit.collect` (imported on first use, so `vmkit` starts fast)."""

from __future__ import annotations

import contextlib
import re
import secrets as _secrets
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..errors import (
    AuthError,
    CollectionError,
    CollectionTimeout,
    CredentialError,
    RemoteScriptError,
    TransferError,
    TransportError,
    UnsafeArchiveError,
)
from . import script as _script
from .credentials import Credential, Secret, get_credential
from .remote import TRANSPORTS, ConnectOptions, RunStats, run_collector

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
    error_kind: str | None = None  # auth, tls, refused, network, timeout, transfer, script, credentials, error
    log: list[str] = field(default_factory=list)

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
    if isinstance(exc, CredentialError):
        return "credentials"
    if isinstance(exc, AuthError):
        return "auth"
    if isinstance(exc, TransportError):
        msg = str(exc)
        return "tls" if msg.startswith("TLS") else "refused" if "connection refused" in msg else "network"
    if isinstance(exc, CollectionTimeout):
        return "timeout"
    if isinstance(exc, TransferError | UnsafeArchiveError):
        return "transfer"
    if isinstance(exc, RemoteScriptError):
        return "script"
    return "error"


def collect(host: str, *, user: str | None = None, password: str | Secret | None = None,
            credential: Credential | None = None, out: str | Path = "bundles", transport: str = "ntlm",
            scheme: str = "https", port: int | None = None, insecure: bool = False, ca_file: str | None = None,
            cert_pem: str | None = None, cert_key_pem: str | None = None, proxy: str | None = None,
            deadline_s: float = 1800.0, operation_timeout_s: int = 20, read_timeout_s: int = 30,
            per_file_bytes: int = PER_FILE_BYTES, total_bytes: int = TOTAL_BYTES, interactive: bool | None = None,
            allow_unencrypted: bool = False, raise_on_error: bool = True,
            on_log: Callable[[str], None] | None = None,
            on_progress: Callable[[int, int | None], None] | None = None) -> CollectResult:
    """Collect one VM into ``out/<host>-<UTC time>/`` (the unpacked bundle) beside its verified ``.zip``.

    ``host`` may carry a port (``10.0.0.4:55986``, ``[fe80::1]:5986``), which wins over ``port``.

    The password comes from ``credential``/``password`` if given, else ``VMKIT_PASSWORD``, the keyring or a
    prompt (see :mod:`kit.collect.credentials`). Certificate auth needs ``cert_pem``/``cert_key_pem`` and no
    password. With ``raise_on_error`` (default) a failure raises a :class:`~kit.errors.CollectionError`;
    otherwise it is returned in the result. No partial bundle is ever left behind.
    """
    address, host_port = split_host(host)
    opts = ConnectOptions(transport=transport, scheme=scheme, port=host_port or port, insecure=insecure,
                          ca_file=ca_file, cert_pem=cert_pem, cert_key_pem=cert_key_pem, proxy=proxy,
                          deadline_s=deadline_s, operation_timeout_s=operation_timeout_s, read_timeout_s=read_timeout_s,
                          allow_unencrypted=allow_unencrypted)
    stats = RunStats()
    result = CollectResult(host=host, ok=False)
    started = time.monotonic()
    try:
        opts.check()
        cred = credential
        if cred is None and transport != "certificate":
            cred = get_credential(address, user, password=password, interactive=interactive)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        base = Path(out) / f"{_safe_name(host)}-{stamp}"
        zip_path = base.with_name(base.name + ".zip")
        if zip_path.exists() or base.exists():
            raise CollectionError(f"{zip_path} or {base} already exists; not overwriting a bundle")
        params = {"host": host, "kit_version": __version__, "script_sha256": _script.script_sha256(),
                  "per_file_bytes": int(per_file_bytes), "total_bytes": int(total_bytes),
                  "nonce": f"{_secrets.randbelow(10**10):010d}"}
        rec = run_collector(address, cred, opts, zip_path, params=params, on_log=on_log, on_progress=on_progress,
                            stats=stats)
        result.log = rec.log + [f"stray output: {s}" for s in rec.stray]
        from ..bundle.safezip import extract_zip

        try:
            extract_zip(zip_path, base)
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
    results: dict[str, CollectResult] = {}
    bar = None
    if progress and hosts:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(hosts), desc="collecting", unit="VM")
    try:
        with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
            futures = {pool.submit(collect, h, **kwargs): h for h in hosts}
            for fut in as_completed(futures):
                h = futures[fut]
                try:
                    results[h] = fut.result()
                except Exception as exc:  # a bug, not a VM failure: still report it per host
                    results[h] = CollectResult(host=h, ok=False, error=f"{type(exc).__name__}: {exc}",
                                               error_kind="error")
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix_str(f"{h}: {'ok' if results[h].ok else results[h].error_kind}")
    finally:
        if bar is not None:
            with contextlib.suppress(Exception):
                bar.close()
    return [results[h] for h in hosts]


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
