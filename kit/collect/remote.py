"""One collection over WinRM: one shell, one command, the script on stdin, the zip streamed back.

Uses pywinrm's low-level :class:`winrm.protocol.Protocol` (not ``Session.run_ps``, which opens a new shell and
re-authenticates per call). HTTPS on 5986 with certificate validation by default; plain HTTP only with message
encryption (NTLM, Kerberos, CredSSP); never an environment proxy unless one is given. The shell runs with code
page 65001 (UTF-8). A hard deadline bounds the whole run (pywinrm alone retries operation timeouts forever).

HTTP round trips of one collection with Basic or certificate auth: Create + Command + ceil(stdin / 150,000 bytes)
Sends + one Receive per ~110 KB of output (or per operation timeout while the VM works) + Signal + Delete.
"""

from __future__ import annotations

import contextlib
import errno
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import (
    AuthError,
    CollectionError,
    CollectionTimeout,
    RemoteScriptError,
    TransferError,
    TransportError,
    redact,
)
from . import clixml, script
from .credentials import Credential
from .receiver import BundleReceiver

TRANSPORTS = ("ntlm", "kerberos", "credssp", "certificate", "basic")
#: Bytes of stdin per Send: base64 of 96 KiB stays well inside WinRM's default 500 KB envelope and pywinrm's
#: 153,600-byte MaxEnvelopeSize.
SEND_CHUNK = 96 * 1024


@dataclass
class ConnectOptions:
    """How to reach one VM. ``insecure`` skips TLS validation (a lab VM with a self-signed certificate)."""

    transport: str = "ntlm"
    scheme: str = "https"
    port: int | None = None
    insecure: bool = False
    ca_file: str | None = None
    cert_pem: str | None = None
    cert_key_pem: str | None = None
    proxy: str | None = None  # explicit proxy URL; never taken from the environment
    operation_timeout_s: int = 20
    read_timeout_s: int = 30
    deadline_s: float = 1800.0
    allow_unencrypted: bool = False  # Basic over plain HTTP, like WinRM's own AllowUnencrypted (tests, labs)

    def endpoint(self, host: str) -> str:
        port = self.port or (5986 if self.scheme == "https" else 5985)
        h = f"[{host}]" if ":" in host and not host.startswith("[") else host
        return f"{self.scheme}://{h}:{port}/wsman"

    def check(self) -> None:
        if self.transport not in TRANSPORTS:
            raise CollectionError(f"unknown transport {self.transport!r}; expected one of {', '.join(TRANSPORTS)}")
        if self.scheme not in ("https", "http"):
            raise CollectionError(f"expected scheme https or http, found {self.scheme!r}")
        if self.scheme == "http" and self.transport in ("basic", "certificate") and not self.allow_unencrypted:
            raise CollectionError(f"{self.transport} over plain HTTP would send credentials and evidence unencrypted; "
                                  "use HTTPS (port 5986) or NTLM/Kerberos, which encrypt messages over HTTP")
        if self.transport == "credssp" and self.scheme != "https":
            raise CollectionError("CredSSP needs HTTPS")
        if not (self.read_timeout_s > self.operation_timeout_s >= 1):
            raise CollectionError("expected read_timeout_s > operation_timeout_s >= 1")


@dataclass
class RunStats:
    """What a collection cost, counted on the client."""

    round_trips: dict[str, int] = field(default_factory=dict)
    stdout_bytes: int = 0
    seconds: float = 0.0

    def count(self, action: str) -> None:
        self.round_trips[action] = self.round_trips.get(action, 0) + 1

    @property
    def total_round_trips(self) -> int:
        return sum(self.round_trips.values())


def _protocol(host: str, cred: Credential | None, opts: ConnectOptions) -> Any:
    from winrm.protocol import Protocol

    kwargs: dict[str, Any] = {
        "endpoint": opts.endpoint(host),
        "transport": opts.transport,
        "username": cred.user if cred else None,
        "password": cred.password.reveal() if cred else None,
        "server_cert_validation": "ignore" if opts.insecure else "validate",
        "ca_trust_path": opts.ca_file,  # None: the system trust store, never REQUESTS_CA_BUNDLE by accident
        "read_timeout_sec": opts.read_timeout_s,
        "operation_timeout_sec": opts.operation_timeout_s,
        "message_encryption": "never" if opts.scheme == "https" else "auto",
        "proxy": opts.proxy,
    }
    if opts.transport == "certificate":
        kwargs.update(cert_pem=opts.cert_pem, cert_key_pem=opts.cert_key_pem)
    if opts.scheme == "http" and opts.transport in ("ntlm", "kerberos", "credssp"):
        kwargs["message_encryption"] = "always"
    return Protocol(**kwargs)


def classify(exc: BaseException, host: str, opts: ConnectOptions, secrets: tuple[str, ...] = ()) -> CollectionError:
    """A pywinrm/requests exception as the kit's error with a message an engineer can act on (no secrets)."""
    import requests
    from winrm.exceptions import InvalidCredentialsError, WinRMError, WinRMTransportError, WSManFaultError

    if isinstance(exc, CollectionError):
        return exc
    where = opts.endpoint(host)
    text = redact(f"{type(exc).__name__}: {exc}", *secrets)
    if isinstance(exc, InvalidCredentialsError):
        return AuthError(f"{where} refused the credentials (HTTP 401) with {opts.transport} authentication: check "
                         "the user name (DOMAIN\\user or .\\user for a local account), the password, and that the "
                         f"WinRM service allows {opts.transport}", inner=None)
    if isinstance(exc, requests.exceptions.SSLError):
        return TransportError(f"TLS with {where} failed: the VM's certificate is not trusted or does not match the "
                              "host name. Pass --ca-file with the VM's certificate (or its CA), or --insecure for a "
                              f"lab VM. ({text})", inner=None)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return TransportError(f"no answer from {where} (connect timed out): check the NSG/firewall for port "
                              f"{opts.port or (5986 if opts.scheme == 'https' else 5985)} and the VPN/bastion path",
                              inner=None)
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return CollectionTimeout(f"{where} stopped answering (no reply within {opts.read_timeout_s} s)", inner=None)
    if isinstance(exc, requests.exceptions.ConnectionError):
        refused = _is_refused(exc)
        if refused:
            return TransportError(f"connection refused by {where}: nothing listens there. Enable a WinRM listener "
                                  "on the VM (winrm quickconfig -transport:https, or Enable-PSRemoting) and check the "
                                  "port", inner=None)
        return TransportError(f"the connection to {where} failed or was dropped ({text})", inner=None)
    if isinstance(exc, WSManFaultError):
        return CollectionError(f"{where} answered with a WS-Management fault: {redact(str(exc.reason), *secrets)} "
                               f"(code {exc.wsman_fault_code})", inner=None)
    if isinstance(exc, WinRMTransportError):
        return TransportError(f"{where} answered HTTP {exc.code}: {redact(exc.message or '', *secrets)[:300]}",
                              inner=None)
    if isinstance(exc, WinRMError):
        return CollectionError(f"WinRM error with {where}: {text}", inner=None)
    return CollectionError(f"collection from {where} failed: {text}", inner=None)


def _is_refused(exc: BaseException) -> bool:
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, ConnectionRefusedError) or getattr(e, "errno", None) == errno.ECONNREFUSED:
            return True
        if "Connection refused" in str(e) or "actively refused" in str(e):
            return True
        e = e.__cause__ or e.__context__ or (e.args[0] if e.args and isinstance(e.args[0], BaseException) else None)
    return False


def run_collector(host: str, cred: Credential | None, opts: ConnectOptions, target, *, params: dict[str, Any],
                  on_log: Callable[[str], None] | None = None,
                  on_progress: Callable[[int, int | None], None] | None = None,
                  stats: RunStats | None = None) -> BundleReceiver:
    """Run the collector on ``host`` and receive its zip into ``target`` (verified). Returns the receiver.

    Raises a :class:`~kit.errors.CollectionError` subclass; on any failure no file is left at ``target``.
    """
    from winrm.exceptions import WinRMOperationTimeoutError

    opts.check()
    stats = stats or RunStats()
    secrets = (cred.password.reveal(),) if cred else ()
    started = time.monotonic()
    deadline = started + opts.deadline_s
    receiver = BundleReceiver(target, on_log=on_log, on_progress=on_progress)
    proto = None
    shell_id = command_id = None
    stderr = bytearray()
    rc: int | None = None
    try:
        proto = _protocol(host, cred, opts)
        stats.count("Create")
        shell_id = proto.open_shell(codepage=65001, noprofile=True)
        stats.count("Command")
        command_id = proto.run_command(shell_id, script.POWERSHELL, script.command_arguments(),
                                       console_mode_stdin=False, skip_cmd_shell=True)
        payload = script.stdin_payload(params)
        for i in range(0, len(payload), SEND_CHUNK):
            stats.count("Send")
            chunk = payload[i:i + SEND_CHUNK]
            proto.send_command_input(shell_id, command_id, chunk, end=i + SEND_CHUNK >= len(payload))
        done = False
        while not done:
            if time.monotonic() > deadline:
                raise CollectionTimeout(f"{opts.endpoint(host)}: the collection did not finish within the "
                                        f"{opts.deadline_s:.0f} s deadline ({receiver.received} bytes of the bundle "
                                        "had arrived)")
            stats.count("Receive")
            try:
                out, err, code, done = proto.get_command_output_raw(shell_id, command_id)
            except WinRMOperationTimeoutError:
                continue  # the VM is still working; the deadline above bounds this
            stats.stdout_bytes += len(out)
            receiver.feed(out)
            if err:
                stderr += err
            if done:
                rc = code
        if rc not in (0, None) or receiver.failure is not None:
            detail = clixml.error_text(bytes(stderr)) or receiver.failure or "(no error text)"
            raise RemoteScriptError(f"the collector script failed on {host} (exit code {rc}): "
                                    f"{redact(detail, *secrets)}")
        receiver.finish()
        return receiver
    except BaseException as exc:
        receiver.abort()
        if isinstance(exc, CollectionError):
            raise
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        raise classify(exc, host, opts, secrets) from None
    finally:
        stats.seconds = time.monotonic() - started
        if proto is not None:
            _cleanup(proto, shell_id, command_id, stats)


def _cleanup(proto: Any, shell_id: str | None, command_id: str | None, stats: RunStats) -> None:
    """Stop the command and delete the shell; best effort (a dropped connection fails here too, and the VM reaps
    idle shells itself)."""
    if shell_id and command_id:
        stats.count("Signal")
        with contextlib.suppress(Exception):
            proto.cleanup_command(shell_id, command_id)
    if shell_id:
        stats.count("Delete")
        with contextlib.suppress(Exception):
            proto.close_shell(shell_id)
    else:
        with contextlib.suppress(Exception):
            proto.transport.close_session()


__all__ = ["TRANSPORTS", "ConnectOptions", "RunStats", "TransferError", "classify", "run_collector"]
