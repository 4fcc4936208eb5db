"""One collection over WinRM: one shell, one command, the script on stdin, the zip streamed back.

Uses pywinrm's low-level :class:`winrm.protocol.Protocol` (not ``Session.run_ps``, which opens a new shell and
re-authenticates per call). The shell runs with code page 65001 (UTF-8). A hard deadline bounds the whole run
(pywinrm alone retries operation timeouts forever).

How the VM is reached (``ConnectOptions.scheme``):

* ``https``: port 5986, certificate checked (the recommended path; docs/collect.md says how to add the listener).
* ``http``: port 5985, only with NTLM/Kerberos **message encryption** (MS-WSMV 2.2.9.1): every message is sealed
  with the authenticated session's keys, and an answer that arrives unsealed is refused (pywinrm alone would take
  it). Basic/certificate over plain HTTP only with ``allow_unencrypted`` (labs, tests).
* ``auto`` (the default): HTTPS if something listens on 5986, else HTTP 5985 with NTLM message encryption, which
  is what an Azure Windows VM has out of the box. A one-time :class:`HttpEncryptionWarning` says what that
  protects and what it does not.

Never an environment proxy unless one is given. Ctrl-C stops a run within about a second: the command is signalled
and the shell deleted over a fresh connection with a short time limit (:class:`Cancel`).

HTTP round trips of one collection with Basic or certificate auth: Create + Command + ceil(stdin / 150,000 bytes)
Sends + one Receive per ~110 KB of output (or per operation timeout while the VM works) + Signal + Delete; NTLM adds
its handshake (three HTTP exchanges on the first connection).
"""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
import time
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import (
    AuthError,
    CollectionError,
    CollectionInterrupted,
    CollectionTimeout,
    ConfigError,
    EncryptionError,
    OutputError,
    ProtocolError,
    RemoteScriptError,
    TransferError,
    TransportError,
    redact,
)
from . import clixml, script
from .credentials import Credential
from .receiver import BundleReceiver

TRANSPORTS = ("ntlm", "kerberos", "credssp", "certificate", "basic")
SCHEMES = ("auto", "https", "http")
#: Authentications that seal messages over plain HTTP (MS-WSMV 2.2.9.1); CredSSP needs HTTPS here.
ENCRYPTING = ("ntlm", "kerberos")
#: Bytes of stdin per Send: base64 of 96 KiB stays well inside WinRM's default 500 KB envelope and pywinrm's
#: 153,600-byte MaxEnvelopeSize.
SEND_CHUNK = 96 * 1024
#: After Ctrl-C: how long the Signal + Delete on a fresh connection may take before the client stops waiting (the
#: VM reaps an idle shell on its own).
INTERRUPT_CLEANUP_S = 1.0
SOAP_ENVELOPE = "{http://www.w3.org/2003/05/soap-envelope}Envelope"


class HttpEncryptionWarning(UserWarning):
    """Shown once per process when a collection goes over plain HTTP with WinRM message encryption."""


HTTP_ENCRYPTION_WARNING = (
    "WinRM over plain HTTP ({endpoint}) with {transport} message encryption: every message is sealed and signed "
    "with the NTLM/Kerberos session keys, so the evidence and the commands cannot be read or altered on the way. "
    "It does NOT authenticate the server: with NTLM, a machine in the middle that answers for the VM's address is "
    "not detected. HTTPS on 5986 with the VM's certificate checked (--ca-file) is the recommended path; "
    "docs/collect.md shows how to add that listener with Run Command.")
_warned_http = False
_warn_lock = threading.Lock()


def _warn_http_once(endpoint: str, transport: str) -> str:
    """Warn (once per process) that HTTP + message encryption does not authenticate the server; returns the text."""
    global _warned_http
    text = HTTP_ENCRYPTION_WARNING.format(endpoint=endpoint, transport=transport.upper())
    with _warn_lock:
        first, _warned_http = not _warned_http, True
    if first:
        warnings.warn(text, HttpEncryptionWarning, stacklevel=2)
    return text


@dataclass
class ConnectOptions:
    """How to reach one VM. ``insecure`` skips TLS validation (a lab VM with a self-signed certificate)."""

    transport: str = "ntlm"
    scheme: str = "auto"
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
    probe_timeout_s: float = 5.0  # scheme "auto": how long to wait for 5986 to accept a TCP connection
    fell_back: bool = False  # set by resolve(): "auto" found nothing on 5986 and chose HTTP 5985

    #: WinRM's default ports (class attributes, so tests can point "auto" at a local peer).
    HTTPS_PORT = 5986
    HTTP_PORT = 5985

    def endpoint(self, host: str) -> str:
        scheme = "http" if self.scheme == "http" else "https"
        port = self.port or (self.HTTPS_PORT if scheme == "https" else self.HTTP_PORT)
        h = f"[{host}]" if ":" in host and not host.startswith("[") else host
        return f"{scheme}://{h}:{port}/wsman"

    @property
    def encrypted_http(self) -> bool:
        """Plain HTTP with WinRM message encryption."""
        return self.scheme == "http" and self.transport in ENCRYPTING

    def check(self) -> None:
        if self.transport not in TRANSPORTS:
            raise ConfigError(f"unknown transport {self.transport!r}; expected one of {', '.join(TRANSPORTS)}")
        if self.scheme not in SCHEMES:
            raise ConfigError(f"expected scheme auto, https or http, found {self.scheme!r}")
        if self.scheme == "http" and self.transport in ("basic", "certificate") and not self.allow_unencrypted:
            raise ConfigError(f"{self.transport} over plain HTTP would send credentials and evidence unencrypted; "
                              "use HTTPS (port 5986) or NTLM/Kerberos, which encrypt messages over HTTP")
        if self.transport == "credssp" and self.scheme == "http":
            raise ConfigError("CredSSP needs HTTPS")
        if not (self.read_timeout_s > self.operation_timeout_s >= 1):
            raise ConfigError("expected read_timeout_s > operation_timeout_s >= 1")

    def resolve(self, host: str) -> ConnectOptions:
        """The concrete options for ``host``: ``auto`` becomes ``https`` or ``http``.

        ``auto`` with an explicit port means HTTPS (HTTP if it is 5985); with a proxy, or an authentication that
        cannot seal messages over HTTP (basic, certificate, credssp), HTTPS. Otherwise a TCP connect to 5986 decides:
        accepted -> HTTPS; refused, unreachable or no answer within ``probe_timeout_s`` (Windows Firewall drops
        what no rule allows) -> HTTP 5985 with message encryption.
        """
        if self.scheme != "auto":
            return self
        if self.port is not None:
            return replace(self, scheme="http" if self.port == self.HTTP_PORT else "https")
        if self.proxy or self.transport not in ENCRYPTING:
            return replace(self, scheme="https")
        try:
            with socket.create_connection((host, self.HTTPS_PORT), timeout=self.probe_timeout_s):
                return replace(self, scheme="https")
        except socket.gaierror:
            return replace(self, scheme="https")  # the name does not resolve: the HTTPS attempt will say so
        except OSError:
            return replace(self, scheme="http", fell_back=True)


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


def _protocol(host: str, cred: Credential | None, opts: ConnectOptions, *, read_timeout_s: int | None = None,
              operation_timeout_s: int | None = None) -> Any:
    import winrm.transport as wt
    from winrm.protocol import Protocol

    if opts.transport == "kerberos" and not wt.HAVE_KERBEROS:
        raise ConfigError("Kerberos needs pywinrm's kerberos extra: pip install 'guestagent-kit[kerberos]' (and a "
                          "ticket from kinit)")
    if opts.transport == "credssp" and not wt.HAVE_CREDSSP:
        raise ConfigError("CredSSP needs pywinrm's credssp extra: pip install 'guestagent-kit[credssp]'")
    kwargs: dict[str, Any] = {
        "endpoint": opts.endpoint(host),
        "transport": opts.transport,
        "username": cred.user if cred else None,
        "password": cred.password.reveal() if cred else None,
        "server_cert_validation": "ignore" if opts.insecure else "validate",
        "ca_trust_path": opts.ca_file,  # None: the system trust store, never REQUESTS_CA_BUNDLE by accident
        "read_timeout_sec": read_timeout_s or opts.read_timeout_s,
        "operation_timeout_sec": operation_timeout_s or opts.operation_timeout_s,
        "message_encryption": "always" if opts.scheme == "http" and opts.transport in (*ENCRYPTING, "credssp")
        else "never",
        "proxy": opts.proxy,
    }
    if opts.transport == "certificate":
        kwargs.update(cert_pem=opts.cert_pem, cert_key_pem=opts.cert_key_pem)
    proto = Protocol(**kwargs)
    _strict_answers(proto, host, opts)
    return proto


def _strict_answers(proto: Any, host: str, opts: ConnectOptions) -> None:
    """Make every answer prove it is WS-Management (and, over encrypted HTTP, that it was sealed).

    pywinrm parses answers with ``next(...)`` and ``ET.fromstring``, so an HTML page or a cut answer surfaces as
    ``StopIteration`` or a bare ``ParseError``; and with message encryption it silently accepts an answer that was
    not encrypted. Here, every answer is checked first: :class:`~kit.errors.ProtocolError` or
    :class:`~kit.errors.EncryptionError` say what came back instead.
    """
    where = opts.endpoint(host)
    transport = proto.transport
    read_body = getattr(transport, "_get_message_response_text", None)  # pywinrm 0.5's; checked, not assumed

    def checked_body(response: Any) -> bytes:
        if transport.encryption is not None and response.status_code == 200:
            ctype = response.headers.get("Content-Type", "")
            if "multipart/encrypted" not in ctype.lower() and "multipart/x-multi-encrypted" not in ctype.lower():
                if _looks_html(response.content):
                    raise ProtocolError(f"{where} answered with {_describe(response.content)}, not WS-Management: "
                                        "a proxy or a web server answered for the VM")
                raise EncryptionError(f"{where} answered in plain text ({ctype or 'no Content-Type'}) although the "
                                      "messages are encrypted: the peer does not use WinRM message encryption. The "
                                      "answer was refused; use HTTPS (port 5986) for this VM")
        return read_body(response)

    if callable(read_body):
        transport._get_message_response_text = checked_body
    send = proto.send_message

    def checked_send(message: str) -> bytes:
        answer = send(message)
        _check_soap(answer, where)
        return answer

    proto.send_message = checked_send


def _looks_html(body: bytes) -> bool:
    head = body[:512].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head or b"<body" in head


def _describe(body: bytes) -> str:
    """What a non-WS-Management answer is, in a few words (a title or the first characters, redacted)."""
    import re

    if not body.strip():
        return "an empty body"
    text = body[:4096].decode("utf-8", errors="replace")
    if _looks_html(body):
        m = re.search(r"(?is)<title[^>]*>(.*?)</title>", text)
        title = " ".join(m.group(1).split())[:120] if m else ""
        return f"an HTML page ({redact(title)!r})" if title else "an HTML page"
    first = " ".join(text.split())[:80]
    return f"{len(body):,} bytes starting {redact(first)!r}"


def _check_soap(answer: bytes, where: str) -> None:
    if _looks_html(answer):
        raise ProtocolError(f"{where} answered with {_describe(answer)}, not WS-Management: a proxy or a web server "
                            "answered for the VM (check the port, --proxy, and that WinRM listens there)")
    try:
        root = ET.fromstring(answer)
    except ET.ParseError as exc:
        if not answer.strip():
            raise ProtocolError(f"{where} answered HTTP 200 with an empty body, not a SOAP envelope") from None
        line, col = exc.position
        cut = "no element found" in str(exc) or "unclosed token" in str(exc)
        what = "XML cut short" if cut else "text that is not well-formed XML"
        raise ProtocolError(f"{where} answered with {what} ({len(answer):,} bytes; the XML parser stopped at line "
                            f"{line}, column {col}): not a whole WS-Management answer") from None
    if root.tag != SOAP_ENVELOPE:
        raise ProtocolError(f"{where} answered with XML whose root is <{root.tag}>, not a SOAP 1.2 Envelope: "
                            "not a WS-Management answer")


#: What pywinrm looks for in each answer (a missing one surfaces as StopIteration from its ``next(...)``).
_EXPECTED = {"Create": "a ShellId", "Command": "a CommandId", "Send": "a SendResponse",
             "Receive": "an ExitCode for the finished command", "Signal": "a RelatesTo", "Delete": "a RelatesTo"}


def _cut(err: CollectionError) -> bool:
    """Whether ``err`` cut the transfer short (the bundle stopped arriving), as opposed to damaging it (a wrong
    length or SHA-256, a corrupt line), the script failing, or the local disk refusing it."""
    if isinstance(err, CollectionTimeout):
        return True
    if isinstance(err, TransportError):
        return err.kind in ("network", "timeout")
    return isinstance(err, TransferError) and "stopped before the end" in str(err)


def classify(exc: BaseException, host: str, opts: ConnectOptions, secrets: tuple[str, ...] = (),
             step: str | None = None) -> CollectionError:
    """A pywinrm/requests exception as the kit's error with a message an engineer can act on (no secrets)."""
    import requests
    from winrm.exceptions import InvalidCredentialsError, WinRMError, WinRMTransportError, WSManFaultError

    if isinstance(exc, CollectionError):
        return exc
    where = opts.endpoint(host)
    if opts.fell_back:
        where += f" (HTTPS {opts.HTTPS_PORT} did not accept a connection either)"
    text = redact(f"{type(exc).__name__}: {exc}", *secrets)
    if (isinstance(exc, StopIteration | ValueError | ET.ParseError) and step
            and not isinstance(exc, requests.RequestException)):
        return ProtocolError(f"{where} answered the {step} request without {_EXPECTED.get(step, 'what it needs')}: "
                             "not a complete WS-Management answer", inner=None)
    if isinstance(exc, InvalidCredentialsError):
        hint = (" (or the listener does not offer Negotiate/NTLM: a Windows HTTP listener does by default)"
                if opts.encrypted_http else "")
        return AuthError(f"{where} refused the credentials (HTTP 401) with {opts.transport} authentication: check "
                         "the user name (DOMAIN\\user or .\\user for a local account), the password, and that the "
                         f"WinRM service allows {opts.transport}{hint}", inner=None)
    if isinstance(exc, requests.exceptions.SSLError):
        return TransportError(f"TLS with {where} failed: the VM's certificate is not trusted or does not match the "
                              "host name. Pass --ca-file with the VM's certificate (or its CA), or --insecure for a "
                              f"lab VM. ({text})", inner=None, kind="tls")
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return TransportError(f"no answer from {where} (connect timed out): check the NSG/firewall for port "
                              f"{opts.port or (opts.HTTPS_PORT if opts.scheme != 'http' else opts.HTTP_PORT)} and "
                              "the VPN/bastion path", inner=None, kind="network")
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return CollectionTimeout(f"{where} stopped answering (no reply within {opts.read_timeout_s} s)", inner=None)
    if isinstance(exc, requests.exceptions.ConnectionError):
        if _is_refused(exc):
            return TransportError(f"connection refused by {where}: nothing listens there. Enable a WinRM listener "
                                  "on the VM (winrm quickconfig -transport:https, or Enable-PSRemoting) and check the "
                                  "port", inner=None, kind="refused")
        return TransportError(f"the connection to {where} failed or was dropped ({text})", inner=None, kind="network")
    if isinstance(exc, WSManFaultError):
        return CollectionError(f"{where} answered with a WS-Management fault: {redact(str(exc.reason), *secrets)} "
                               f"(code {exc.wsman_fault_code})", inner=None, kind="fault")
    if isinstance(exc, WinRMTransportError):
        body = (exc.response_text or "").encode("utf-8", errors="replace")
        if _looks_html(body):
            return ProtocolError(f"{where} answered HTTP {exc.code} with {_describe(body)}, not WS-Management: a "
                                 "proxy or a web server answered for the VM", inner=None)
        if opts.encrypted_http and exc.code in (400, 415):
            return EncryptionError(f"{where} refused the encrypted message (HTTP {exc.code}): the peer does not "
                                   "take WinRM message encryption; use HTTPS (port 5986) for this VM", inner=None)
        return TransportError(f"{where} answered HTTP {exc.code}: {redact(exc.message or '', *secrets)[:300]}",
                              inner=None, kind="network")
    if type(exc).__module__.split(".")[0] == "spnego":  # pyspnego: a sealed answer whose signature did not verify
        return EncryptionError(f"an encrypted answer from {where} did not verify ({type(exc).__name__}): it was "
                               "altered on the way, or does not belong to this NTLM session. Nothing of it was "
                               "used", inner=None)
    if isinstance(exc, WinRMError):
        if "encrypt" in str(exc).lower():
            return EncryptionError(f"WinRM message encryption with {where} failed: {text}", inner=None)
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


class _Run:
    """One collection in flight, as the Ctrl-C path sees it: where it is, and how to stop it from any thread."""

    def __init__(self, host: str, cred: Credential | None, opts: ConnectOptions, receiver: BundleReceiver,
                 label: str | None = None) -> None:
        self.host, self.cred, self.opts, self.receiver = host, cred, opts, receiver
        self.label = label or host
        self.shell_id: str | None = None
        self.command_id: str | None = None
        self.lock = threading.Lock()  # held while the receiver writes; the interrupter takes it to stop the writes
        self.stopped = False
        self.left: list[Path] = []

    def stop(self, budget_s: float = INTERRUPT_CLEANUP_S) -> list[Path]:
        """Stop receiving, drop or keep what arrived, and signal + delete on the VM within ``budget_s``. Idempotent.

        What arrived so far is a zip cut short (the collector streams one zip): the receiver keeps it as a partial
        bundle when it holds a whole file (``keep_partial(reason)`` returns its path, which is returned here), and
        removes it otherwise.
        """
        with self.lock:
            if self.stopped:
                return self.left
            self.stopped = True
            keep = getattr(self.receiver, "keep_partial", None)
            kept = None
            if callable(keep):
                with contextlib.suppress(Exception):
                    kept = keep("interrupted by Ctrl-C on the client")
            if kept:
                self.left = [Path(kept)]
            else:
                self.receiver.abort()
        if self.shell_id:
            t = threading.Thread(target=self._remote_cleanup, name="vmkit-interrupt-cleanup", daemon=True)
            t.start()
            t.join(budget_s)
        return self.left

    def _remote_cleanup(self) -> None:
        # A fresh connection: the one in use may be blocked in a Receive, and with message encryption its sealing
        # state belongs to that connection (Ansible's winrm plugin notes the same for its cleanup after a timeout).
        with contextlib.suppress(BaseException):
            proto = _protocol(self.host, self.cred, self.opts, read_timeout_s=2, operation_timeout_s=1)
            try:
                if self.command_id:
                    with contextlib.suppress(Exception):
                        proto.cleanup_command(self.shell_id, self.command_id)
                with contextlib.suppress(Exception):
                    proto.close_shell(self.shell_id)
            finally:
                with contextlib.suppress(Exception):
                    proto.transport.close_session()


class Cancel:
    """Ctrl-C for many collections at once (:func:`kit.collect.collect_many`): :meth:`interrupt` stops every run in
    flight from the calling thread, in parallel, within about :data:`INTERRUPT_CLEANUP_S`."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._runs: set[_Run] = set()
        self._lock = threading.Lock()
        self.stopped: set[str] = set()  # labels of the runs interrupt() stopped

    def is_set(self) -> bool:
        return self.event.is_set()

    def add(self, run: _Run) -> None:
        with self._lock:
            self._runs.add(run)
        if self.event.is_set():
            run.stop(0)

    def discard(self, run: _Run) -> None:
        with self._lock:
            self._runs.discard(run)

    def interrupt(self, budget_s: float = INTERRUPT_CLEANUP_S) -> list[Path]:
        """Stop every run; the paths of partial bundles kept (none with today's single-zip stream)."""
        self.event.set()
        with self._lock:
            runs = list(self._runs)
            self.stopped.update(r.label for r in runs)
        left: list[Path] = []
        threads = [threading.Thread(target=lambda r=r: left.extend(r.stop(budget_s)), daemon=True) for r in runs]
        for t in threads:
            t.start()
        end = time.monotonic() + budget_s + 0.2
        for t in threads:
            t.join(max(0.0, end - time.monotonic()))
        return left


def run_collector(host: str, cred: Credential | None, opts: ConnectOptions, target, *, params: dict[str, Any],
                  on_log: Callable[[str], None] | None = None,
                  on_progress: Callable[[int, int | None], None] | None = None,
                  stats: RunStats | None = None, cancel: Cancel | None = None,
                  label: str | None = None) -> BundleReceiver:
    """Run the collector on ``host`` and receive its zip into ``target`` (verified). Returns the receiver.

    ``opts.scheme`` must be concrete (``https``/``http``; see :meth:`ConnectOptions.resolve`). Raises a
    :class:`~kit.errors.CollectionError` subclass, or :class:`~kit.errors.CollectionInterrupted` on Ctrl-C (or when
    ``cancel`` is set); on any failure no file is left at ``target``. A transfer cut short (Ctrl-C, the deadline, a
    dropped or timed-out connection) leaves ``<target stem>.partial.zip`` when what arrived holds a whole file; the
    error's message names it (and ``CollectionInterrupted.left`` / the error's ``partial`` attribute hold its path).
    """
    from winrm.exceptions import WinRMOperationTimeoutError

    opts.check()
    if opts.scheme == "auto":
        opts = opts.resolve(host)
    stats = stats or RunStats()
    secrets = (cred.password.reveal(),) if cred else ()
    started = time.monotonic()
    deadline = started + opts.deadline_s
    receiver = BundleReceiver(target, on_log=on_log, on_progress=on_progress)
    run = _Run(host, cred, opts, receiver, label)
    proto = None
    stderr = bytearray()
    rc: int | None = None
    step = "Create"

    def interrupted() -> CollectionInterrupted:
        left = run.stop()
        kept = f"; a partial bundle was kept: {', '.join(map(str, left))}" if left else "; nothing was kept"
        return CollectionInterrupted(f"{opts.endpoint(host)}: collection interrupted (Ctrl-C) after "
                                     f"{receiver.received:,} bytes of the bundle; the command on the VM was signalled "
                                     f"and its shell deleted{kept}", left=left)

    if cancel is not None:
        cancel.add(run)
    try:
        proto = _protocol(host, cred, opts)
        if opts.encrypted_http:
            _warn_http_once(opts.endpoint(host), opts.transport)
            proto.transport.build_session()  # the NTLM/Kerberos handshake that keys the encryption
            auth = proto.transport.session.auth
            if opts.transport == "ntlm" and getattr(auth, "session_security", None) is None:
                raise ProtocolError(f"{opts.endpoint(host)} accepted the first request without an NTLM challenge: "
                                    "it is not a WinRM listener (a proxy or a web server?), and nothing was sent")
        stats.count("Create")
        run.shell_id = proto.open_shell(codepage=65001, noprofile=True)
        step = "Command"
        stats.count("Command")
        run.command_id = proto.run_command(run.shell_id, script.POWERSHELL, script.command_arguments(),
                                           console_mode_stdin=False, skip_cmd_shell=True)
        step = "Send"
        payload = script.stdin_payload(params)
        for i in range(0, len(payload), SEND_CHUNK):
            if run.stopped:
                raise KeyboardInterrupt
            stats.count("Send")
            chunk = payload[i:i + SEND_CHUNK]
            proto.send_command_input(run.shell_id, run.command_id, chunk, end=i + SEND_CHUNK >= len(payload))
        step = "Receive"
        done = False
        while not done:
            if run.stopped:
                raise KeyboardInterrupt
            if time.monotonic() > deadline:
                raise CollectionTimeout(f"{opts.endpoint(host)}: the collection did not finish within the "
                                        f"{opts.deadline_s:.0f} s deadline ({receiver.received} bytes of the bundle "
                                        "had arrived)")
            stats.count("Receive")
            try:
                out, err, code, done = proto.get_command_output_raw(run.shell_id, run.command_id)
            except WinRMOperationTimeoutError:
                continue  # the VM is still working; the deadline above bounds this
            stats.stdout_bytes += len(out)
            with run.lock:
                if run.stopped:
                    raise KeyboardInterrupt
                try:
                    receiver.feed(out)
                except OSError as exc:
                    raise OutputError.from_os_error(exc, receiver.part, "write the bundle to") from None
            if err:
                stderr += err
            if done:
                rc = code
        step = "finish"
        if rc not in (0, None) or receiver.failure is not None:
            detail = clixml.error_text(bytes(stderr)) or receiver.failure or "(no error text)"
            raise RemoteScriptError(f"the collector script failed on {host} (exit code {rc}): "
                                    f"{redact(detail, *secrets)}")
        with run.lock:
            if run.stopped:
                raise KeyboardInterrupt
            try:
                receiver.finish()
            except OSError as exc:
                raise OutputError.from_os_error(exc, receiver.target, "write the bundle to") from None
        return receiver
    except KeyboardInterrupt:
        raise interrupted() from None
    except BaseException as exc:
        if run.stopped:  # stopped from another thread (collect_many's Ctrl-C): whatever broke here is a symptom
            raise interrupted() from None
        if isinstance(exc, SystemExit):
            receiver.abort()
            raise
        err = classify(exc, host, opts, secrets, step=step)
        kept = None
        if step in ("Receive", "finish") and _cut(err):
            kept = receiver.keep_partial(err.kind)
        else:
            receiver.abort()
        if kept is not None:
            err.partial = kept  # type: ignore[attr-defined]
            err.args = (f"{err.args[0]}; a partial bundle was kept: {kept} (what arrived, {receiver.received:,} "
                        f"bytes; open it with vmkit diagnose)",)
        if err is exc:
            raise
        raise err from None
    finally:
        stats.seconds = time.monotonic() - started
        if cancel is not None:
            cancel.discard(run)
        if proto is not None and not run.stopped:
            _cleanup(proto, run.shell_id, run.command_id, stats)


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


__all__ = ["ENCRYPTING", "HTTP_ENCRYPTION_WARNING", "INTERRUPT_CLEANUP_S", "SCHEMES", "TRANSPORTS", "Cancel",
           "ConnectOptions", "HttpEncryptionWarning", "RunStats", "TransferError", "classify", "run_collector"]
