"""The live case: probe a VM in seconds, watch a fix land, compare before with after.

    >>> from kit import live
    >>> vm = live.connect("10.0.0.4", user=".\\\\azureadmin")     # password: VMKIT_PASSWORD, keyring or a prompt
    >>> p = vm.probe()                     # seconds: WireServer :80, HostGAPlugin :32526, IMDS, routes, proxy
    >>> p.reachability                     # one verdict per endpoint (kit.derive.reachability)
    >>> p.bundle.routes                    # the same typed frames a collected bundle gives; every rule works
    >>> w = vm.watch(every=10, duration=600)   # repeat while the customer changes the firewall; Ctrl-C keeps rows
    >>> w.rows                             # one row per endpoint per probe
    >>> kit.compare(earlier_bundle, p.bundle)  # what the change resolved

**How a probe runs.** The kit's collector script runs on the VM with the ``probe`` profile: the network commands
(route print, ipconfig, netsh winhttp, Get-NetRoute, Get-NetIPAddress, the agent services, outbound block firewall
rules) and the probes from the VM (TCP to 168.63.129.16:80 and :32526 and 169.254.169.254:80; IMDS instance and
versions, WireServer ``?comp=versions``, all without a proxy), and none of the log files. It travels and is
verified like a collection (same authentication, credentials, error kinds: :mod:`kit.collect`), and the small zip
it returns opens as a bundle, so the frames, the derived ``reachability`` frame, the rules and the plots are the
ones a collected bundle gets.

**Time.** ``probed_at`` is the engineer's clock (UTC) when the probe's answer arrived: a watch is a timeline of
what the engineer saw, and the VM's own clock may be the problem.

**Watching.** :meth:`LiveSession.watch` repeats the probe every ``every`` seconds for ``duration`` seconds and
appends one row per endpoint per probe; a probe the VM did not answer is a row with verdict ``no-answer`` and the
error's kind, and the watch goes on. Ctrl-C (or a notebook's interrupt) stops it and keeps every row measured.
``on_change`` is called with a line each time an endpoint's verdict changes (what ``vmkit probe --watch`` prints);
``on_update`` with the rows so far after every probe (a notebook redraws its plot in place: :func:`notebook_plot`).
"""

from __future__ import annotations

import shutil
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .errors import CollectionError, KitError
from .schema import Col, FrameSchema

if TYPE_CHECKING:  # pragma: no cover
    from .bundle import Bundle
    from .collect.credentials import Credential
    from .collect.remote import ConnectOptions

#: The collector's parameter that limits it to the network commands and the probes.
PROBE_PROFILE = "probe"
#: Families whose findings a probe can decide (the others need the logs a probe does not fetch).
LIVE_FAMILIES = ("network", "routes", "hci")

WATCH_ROWS = FrameSchema(
    "watch_rows",
    "One row per endpoint per probe of a watch (`kit.live.LiveSession.watch`).",
    (Col("probed_at", "datetime", "The engineer's clock (UTC) when the probe's answer arrived.", False),
     Col("probe", "Int64", "The probe's number in the watch (1, 2, ...).", False),
     Col("endpoint", "str", "WireServer, HostGAPlugin or IMDS.", False),
     Col("verdict", "category", "reachable, answers-with-error, unreachable, cannot-tell, or no-answer (the VM did "
         "not answer the probe).", False),
     Col("tcp_ok", "Int64", "TCP connects that succeeded."),
     Col("tcp_attempts", "Int64", "TCP connects made."),
     Col("http_status", "str", "HTTP statuses, comma-separated."),
     Col("reason", "str", "The verdict in words (or the error for no-answer).", False),
     Col("error_kind", "str", "For no-answer: the error's kind (auth, transport, timeout, script, transfer...).")),
)
WATCH_VERDICTS = ("reachable", "answers-with-error", "unreachable", "cannot-tell", "no-answer")


@dataclass
class ProbeResult:
    """One probe of one VM: the bundle it returned, and what it says."""

    host: str
    probed_at: pd.Timestamp
    seconds: float
    bundle: Bundle
    findings: pd.DataFrame
    #: The folder the probe's bundle was unpacked into; removed when this result is garbage-collected.
    _files: Any = field(default=None, repr=False)

    @property
    def reachability(self) -> pd.DataFrame:
        return self.bundle.frame("reachability")

    def text(self) -> str:
        """The verdict per endpoint and the network findings, for a terminal."""
        lines = [f"{self.host}: probed at {self.probed_at:%Y-%m-%d %H:%M:%S} UTC (your clock) in "
                 f"{self.seconds:.1f} s"]
        for r in self.reachability.itertuples():
            where = f"{r.address}:{r.port}"
            lines.append(f"  {r.endpoint:<13} {where:<20} {str(r.verdict).upper():<19} {r.reason}")
        f = self.findings
        shown = f[f["severity"] >= "warning"]
        if len(shown):
            lines.append("")
            for r in shown.itertuples():
                lines.append(f"  [{str(r.severity).upper():8}] {r.code}")
                lines.append(textwrap.fill(str(r.summary), width=110, initial_indent="             ",
                                           subsequent_indent="             "))
        return "\n".join(lines)


@dataclass
class WatchResult:
    """Rows measured by a watch, and why it stopped (``duration``, ``interrupted``)."""

    rows: pd.DataFrame
    stopped: str
    probes: int
    changes: list[str] = field(default_factory=list)


def _kind(exc: BaseException) -> str:
    from .collect.api import _kind as kind

    return kind(exc)


def _now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


class LiveSession:
    """A VM to probe, with the credential asked for once. Use :func:`connect`."""

    def __init__(self, host: str, address: str, cred: Credential | None, opts: ConnectOptions, *,
                 probe_attempts: int = 2, probe_timeout_ms: int = 2000, keep: str | Path | None = None) -> None:
        self.host, self.address, self._cred, self.opts = host, address, cred, opts
        self.probe_attempts, self.probe_timeout_ms = probe_attempts, probe_timeout_ms
        self._keep = Path(keep) if keep is not None else None
        self._n = 0

    def probe(self) -> ProbeResult:
        """Probe the VM now (raises :class:`~kit.errors.CollectionError` when it cannot)."""
        import secrets

        from . import __version__
        from .bundle import open_bundle
        from .bundle.safezip import extract_zip
        from .collect import script
        from .collect.remote import RunStats, run_collector
        from .diagnose import diagnose

        self._n += 1
        files = tempfile.TemporaryDirectory(prefix="vmkit-probe-")
        target = Path(files.name) / "probe.zip"
        params = {"host": self.host, "kit_version": __version__, "script_sha256": script.script_sha256(),
                  "profile": PROBE_PROFILE, "probe_attempts": self.probe_attempts,
                  "probe_timeout_ms": self.probe_timeout_ms, "deadline_s": script.script_deadline(self.opts.deadline_s),
                  "nonce": f"{secrets.randbelow(10**10):010d}"}
        stats = RunStats()
        started = time.monotonic()
        run_collector(self.address, self._cred, self.opts, target, params=params, stats=stats)
        when = _now()
        if self._keep is not None:
            self._keep.mkdir(parents=True, exist_ok=True)
            shutil.copy2(target, self._keep / f"{_safe(self.host)}-{when:%Y%m%dT%H%M%SZ}-probe.zip")
        extract_zip(target, Path(files.name) / "bundle")
        bundle = open_bundle(Path(files.name) / "bundle")
        findings = diagnose(bundle)
        findings = findings[findings["family"].astype("object").isin(LIVE_FAMILIES)].reset_index(drop=True)
        return ProbeResult(host=self.host, probed_at=when, seconds=time.monotonic() - started, bundle=bundle,
                           findings=findings, _files=files)

    def watch(self, every: float = 10.0, duration: float = 300.0, *,
              on_change: Callable[[str], None] | None = None,
              on_update: Callable[[pd.DataFrame], None] | None = None,
              sleep: Callable[[float], None] = time.sleep) -> WatchResult:
        """Probe every ``every`` seconds for ``duration`` seconds (see the module documentation)."""
        rows: list[dict[str, Any]] = []
        last: dict[str, str] = {}
        changes: list[str] = []
        end = time.monotonic() + duration
        stopped, n = "duration", 0
        try:
            while True:
                t0 = time.monotonic()
                n += 1
                new = self._watch_rows(n)
                rows += new
                for r in new:
                    before = last.get(r["endpoint"])
                    if before != r["verdict"]:
                        line = (f"{r['probed_at']:%H:%M:%S} {r['endpoint']}: "
                                + (f"{before} -> " if before is not None else "") + f"{r['verdict']} ({r['reason']})")
                        changes.append(line)
                        if on_change is not None:
                            on_change(line)
                    last[r["endpoint"]] = r["verdict"]
                if on_update is not None:
                    on_update(_rows_frame(rows))
                if time.monotonic() + every > end:
                    break
                sleep(max(0.0, every - (time.monotonic() - t0)))
        except KeyboardInterrupt:
            stopped = "interrupted"
        return WatchResult(rows=_rows_frame(rows), stopped=stopped, probes=n, changes=changes)

    def _watch_rows(self, n: int) -> list[dict[str, Any]]:
        from .derive.reachability import ENDPOINTS

        try:
            p = self.probe()
        except (CollectionError, KitError, OSError) as exc:
            when = _now()
            from .redact import redact_text

            reason = redact_text(f"the VM did not answer the probe: {exc}")
            return [{"probed_at": when, "probe": n, "endpoint": name, "verdict": "no-answer", "reason": reason,
                     "error_kind": _kind(exc)} for name, *_ in ENDPOINTS]
        return [{"probed_at": p.probed_at, "probe": n, "endpoint": r["endpoint"], "verdict": str(r["verdict"]),
                 "tcp_ok": r["tcp_ok"], "tcp_attempts": r["tcp_attempts"], "http_status": r["http_status"],
                 "reason": r["reason"]} for r in p.reachability.to_dict("records")]

    def close(self) -> None:
        """Nothing stays open between probes (each probe is its own WinRM shell); kept for ``with`` blocks. A
        probe's files live as long as its :class:`ProbeResult`."""

    def __enter__(self) -> LiveSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _rows_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = WATCH_ROWS.from_records(rows)
    df["verdict"] = df["verdict"].cat.set_categories(WATCH_VERDICTS)
    return df


def _safe(host: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "_" for c in host)


def connect(host: str, *, user: str | None = None, password: Any = None, credential: Credential | None = None,
            transport: str = "ntlm", scheme: str = "auto", port: int | None = None, insecure: bool = False,
            ca_file: str | None = None, cert_pem: str | None = None, cert_key_pem: str | None = None,
            proxy: str | None = None, deadline_s: float = 90.0, operation_timeout_s: int = 20,
            read_timeout_s: int = 30, allow_unencrypted: bool = False, interactive: bool | None = None,
            probe_attempts: int = 2, probe_timeout_ms: int = 2000,
            keep: str | Path | None = None) -> LiveSession:
    """A :class:`LiveSession` for ``host``: the same options, credentials and errors as :func:`kit.collect.collect`.

    ``deadline_s`` bounds each probe (90 s by default; a probe takes seconds). ``keep``: a folder to keep every
    probe's zip in (evidence for the case); by default they are temporary."""
    from .collect.api import split_host
    from .collect.credentials import get_credential
    from .collect.remote import ConnectOptions

    address, host_port = split_host(host)
    opts = ConnectOptions(transport=transport, scheme=scheme, port=host_port or port, insecure=insecure,
                          ca_file=ca_file, cert_pem=cert_pem, cert_key_pem=cert_key_pem, proxy=proxy,
                          deadline_s=deadline_s, operation_timeout_s=operation_timeout_s,
                          read_timeout_s=read_timeout_s, allow_unencrypted=allow_unencrypted)
    opts.check()
    opts = opts.resolve(address)  # "auto": HTTPS when 5986 answers, else HTTP 5985 with encryption; decided once
    if opts.scheme == "http" and not opts.allow_unencrypted:
        from .collect.remote import _warn_http_once

        _warn_http_once(opts.endpoint(address), opts.transport)
    cred = credential
    if cred is None and transport != "certificate":
        cred = get_credential(address, user, password=password, interactive=interactive)
    return LiveSession(host, address, cred, opts, probe_attempts=probe_attempts, probe_timeout_ms=probe_timeout_ms,
                       keep=keep)


def notebook_plot(title: str = "Reachability from the VM") -> Callable[[pd.DataFrame], None]:
    """An ``on_update`` for :meth:`LiveSession.watch` in a notebook: one figure, redrawn in place after each
    probe (:func:`kit.plots.watch`)."""
    from IPython.display import display

    from . import plots

    handle = None

    def update(rows: pd.DataFrame) -> None:
        nonlocal handle
        import matplotlib.pyplot as plt

        fig = plots.watch(rows, title=title)
        if handle is None:
            handle = display(fig, display_id=True)
        else:
            handle.update(fig)
        plt.close(fig)

    return update


__all__ = ["LIVE_FAMILIES", "PROBE_PROFILE", "WATCH_ROWS", "LiveSession", "ProbeResult", "WatchResult", "connect",
           "notebook_plot"]
