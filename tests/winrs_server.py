"""A WS-Management (WinRS) server on 127.0.0.1 for the tests: real HTTP(S), real SOAP, driven by real pywinrm.

It speaks the remote-shell actions pywinrm 0.5 uses (MS-WSMV 3.1.4.5.2; shapes checked against
/work/shared/formats/winrm-wsman-notes.md 3.5 and pywinrm's protocol.py): Create, Command, Send, Receive, Signal,
Delete, with SOAP 1.2 faults as HTTP 500 (``w:TimedOut`` 2150858793 when a Receive finds no output within the
request's ``w:OperationTimeout``; ``w:InvalidSelectors`` for an unknown shell or command; ``a:ActionNotSupported``).
Every response carries ``a:RelatesTo`` = the request's ``a:MessageID`` and never exceeds the request's
``w:MaxEnvelopeSize`` (pywinrm asks for 153,600 bytes, so one Receive carries at most ~113 KB of output).
Authentication is Basic (pywinrm sends it pre-emptively; anything else gets 401 with ``WWW-Authenticate``), over
HTTP or HTTPS (a throwaway self-signed certificate, :func:`make_cert`); or, with ``auth="ntlm"``, what a Windows
VM's HTTP listener offers by default: ``WWW-Authenticate: Negotiate`` and ``Kerberos``, an NTLM acceptor
(pyspnego's, with a credential file in its ``NTLM_USER_FILE`` format holding the server's user) authenticating the
connection, then MS-WSMV 2.2.9.1.1 message encryption: every request and answer is a ``multipart/encrypted``
body with ``protocol="application/HTTP-SPNEGO-session-encrypted"``, sealed with the connection's NTLM context,
byte for byte the framing pywinrm 0.5's ``winrm/encryption.py`` builds and parses (a plain SOAP request on such
a connection is refused with HTTP 401, as ``AllowUnencrypted=false`` does).

What runs is pluggable: a *handler* gets ``start(command, arguments, env=..., codepage=..., console_mode_stdin=...,
skip_cmd_shell=...)`` and returns an object with ``feed_stdin(data, end)``, ``read(max_bytes, timeout_s) ->
(stdout, stderr, exit_code | None)`` and ``terminate()`` (see tests/vm_emulator.py).

Simplified against Windows: no Kerberos/CredSSP acceptor (``Kerberos`` is offered, never accepted), NTLM only
in the raw form requests_ntlm sends under the ``Negotiate`` scheme (no SPNEGO wrapping), no shell idle timeouts or
quotas, no Enumerate/Get/Put (pywinrm does not use them).

Faults for tests: ``stall_receive`` (every Receive times out), ``drop_after_receives=N`` (the connection is closed
without an answer on the N-th Receive), ``max_operation_wait_s`` (cap the server-side wait, to keep tests fast);
``encrypt_answers=False`` (an NTLM peer that reads encrypted requests but answers in plain SOAP: a peer that
refuses encryption).
Every request is recorded in ``requests`` (action, HTTP status, request and response sizes).
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import re
import ssl
import struct
import tempfile
import threading
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "p": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "x": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
}
SHELL = NS["rsp"]
ACTIONS = {
    "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create": "Create",
    "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete": "Delete",
    f"{SHELL}/Command": "Command",
    f"{SHELL}/Send": "Send",
    f"{SHELL}/Receive": "Receive",
    f"{SHELL}/Signal": "Signal",
}
RESPONSE_ACTION = {
    "Create": "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse",
    "Delete": "http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse",
    "Command": f"{SHELL}/CommandResponse",
    "Send": f"{SHELL}/SendResponse",
    "Receive": f"{SHELL}/ReceiveResponse",
    "Signal": f"{SHELL}/SignalResponse",
}
TIMED_OUT = 2150858793
INVALID_SELECTORS = 2150858843
#: MS-WSMV 2.2.9.1.1 framing, as pywinrm 0.5's winrm/encryption.py writes and reads it.
BOUNDARY = b"--Encrypted Boundary"
SPNEGO_ENCRYPTED = "application/HTTP-SPNEGO-session-encrypted"
ENCRYPTED_CONTENT_TYPE = f'multipart/encrypted;protocol="{SPNEGO_ENCRYPTED}";boundary="Encrypted Boundary"'
#: pyspnego's NTLM acceptor reads its users from the file named by NTLM_USER_FILE when it is created and when it
#: checks an AUTHENTICATE message; each server has its own file, so the variable is set around those calls only.
_NTLM_ENV_LOCK = threading.Lock()


@dataclass
class Request:
    action: str
    status: int
    request_bytes: int
    response_bytes: int
    encrypted: bool = False  # the request and its answer travelled as MS-WSMV encrypted bodies


@dataclass
class _Shell:
    codepage: int
    env: dict[str, str]
    commands: dict[str, Any] = field(default_factory=dict)


def _envelope(action: str, relates_to: str, body: str) -> str:
    return (
        f'<s:Envelope xml:lang="en-US" xmlns:s="{NS["s"]}" xmlns:a="{NS["a"]}" xmlns:x="{NS["x"]}" '
        f'xmlns:w="{NS["w"]}" xmlns:rsp="{NS["rsp"]}" xmlns:p="{NS["p"]}">'
        f"<s:Header><a:Action>{action}</a:Action><a:MessageID>uuid:{str(uuid.uuid4()).upper()}</a:MessageID>"
        f"<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>"
        f"<a:RelatesTo>{escape(relates_to)}</a:RelatesTo></s:Header><s:Body>{body}</s:Body></s:Envelope>"
    )


def _fault(relates_to: str, subcode: str, code: int, text: str) -> str:
    body = (
        f"<s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>{subcode}</s:Value></s:Subcode></s:Code>"
        f'<s:Reason><s:Text xml:lang="en-US">{escape(text)}</s:Text></s:Reason><s:Detail>'
        f'<f:WSManFault xmlns:f="{NS["f"]}" Code="{code}" Machine="127.0.0.1"><f:Message>{escape(text)}</f:Message>'
        f"</f:WSManFault></s:Detail></s:Fault>"
    )
    return _envelope("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", relates_to, body)


class _Fault(Exception):
    def __init__(self, subcode: str, code: int, text: str, *, message_id: str = "") -> None:
        super().__init__(text)
        self.subcode, self.code, self.text = subcode, code, text
        self.action, self.message_id = "unknown", message_id


class WinrsServer:
    """``with WinrsServer(handler, user="u", password="p") as srv: ... srv.port``."""

    def __init__(self, handler: Any, *, user: str = "vmkit", password: str = "correct horse",
                 certfile: str | Path | None = None, keyfile: str | Path | None = None,
                 stall_receive: bool = False, drop_after_receives: int | None = None,
                 max_operation_wait_s: float | None = None, auth: str = "basic", encrypt_answers: bool = True) -> None:
        if auth not in ("basic", "ntlm"):
            raise ValueError(f"auth must be basic or ntlm, not {auth!r}")
        self.handler = handler
        self.user, self.password = user, password
        self.auth, self.encrypt_answers = auth, encrypt_answers
        self._ntlm_file: str | None = None
        self.certfile, self.keyfile = certfile, keyfile
        self.stall_receive = stall_receive
        self.drop_after_receives = drop_after_receives
        self.max_operation_wait_s = max_operation_wait_s
        self.requests: list[Request] = []
        self.shells: dict[str, _Shell] = {}
        self._lock = threading.Lock()
        self._receives = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle
    def __enter__(self) -> WinrsServer:
        server = self

        class Handler(_RequestHandler):
            srv = server

        if self.auth == "ntlm":
            if ":" in self.user or ":" in self.password:
                raise ValueError("the NTLM user file cannot hold a ':' in a user name or password")
            fd, self._ntlm_file = tempfile.mkstemp(prefix="winrs-ntlm-", suffix=".txt")
            with os.fdopen(fd, "w", encoding="utf-8") as f:  # DOMAIN:USER:PASSWORD; "" and "." are the machine
                f.write(f":{self.user}:{self.password}\n.:{self.user}:{self.password}\n")
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        if self.certfile:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(self.certfile), str(self.keyfile) if self.keyfile else None)
            self._httpd.socket = ctx.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._ntlm_file:
            os.unlink(self._ntlm_file)
        for shell in self.shells.values():
            for cmd in shell.commands.values():
                cmd.terminate()

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return self._httpd.server_address[1]

    @property
    def scheme(self) -> str:
        return "https" if self.certfile else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/wsman"

    def ntlm_call(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` (creating or stepping an NTLM acceptor) with NTLM_USER_FILE naming this server's users."""
        with _NTLM_ENV_LOCK:
            old = os.environ.get("NTLM_USER_FILE")
            os.environ["NTLM_USER_FILE"] = self._ntlm_file or ""
            try:
                return fn(*args)
            finally:
                if old is None:
                    os.environ.pop("NTLM_USER_FILE", None)
                else:
                    os.environ["NTLM_USER_FILE"] = old

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.requests:
            out[r.action] = out.get(r.action, 0) + 1
        return out

    @classmethod
    def receive_room(cls, max_env: int = 153600) -> int:
        """Output bytes one Receive carries at most (ids have fixed lengths: uuid:<36> and <36>)."""
        skeleton = cls._receive_xml("uuid:" + "0" * 36, "0" * 36, b"", b"", 0, True)
        return max(0, (max_env - len(skeleton.encode()) - 64) // 4 * 3)

    # -- the protocol
    def dispatch(self, body: bytes) -> tuple[str, int, str]:
        """(action short name, HTTP status, response XML) for one request. Raises _Drop to close the connection."""
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            return "unknown", 400, _fault("", "w:SchemaValidationError", 2150858817, f"malformed SOAP: {exc}")
        action, message_id = "unknown", ""
        try:
            action, message_id, xml = self._dispatch(root)
            return action, 200, xml
        except _Fault as f:
            return action if action != "unknown" else f.action, 500, _fault(f.message_id or message_id, f.subcode,
                                                                            f.code, f.text)

    def _dispatch(self, root: ET.Element) -> tuple[str, str, str]:
        header = root.find("s:Header", NS)
        if header is None:
            raise _Fault("w:InvalidHeader", 2150858770, "The SOAP header is missing.")
        action_uri = (header.findtext("a:Action", "", NS) or "").strip()
        message_id = (header.findtext("a:MessageID", "", NS) or "").strip()
        action = ACTIONS.get(action_uri)
        if action is None:
            raise _Fault("a:ActionNotSupported", 2150858795, f"The action {action_uri} is not supported.",
                         message_id=message_id)
        timeout_s = _duration(header.findtext("w:OperationTimeout", "PT60S", NS))
        max_env = int(header.findtext("w:MaxEnvelopeSize", "153600", NS) or 153600)
        options = {o.get("Name"): (o.text or "") for o in header.findall("w:OptionSet/w:Option", NS)}
        shell_id = None
        for sel in header.findall("w:SelectorSet/w:Selector", NS):
            if sel.get("Name") == "ShellId":
                shell_id = (sel.text or "").strip()
        b = root.find("s:Body", NS)
        method = getattr(self, f"_on_{action.lower()}")
        try:
            out = method(b, shell_id=shell_id, options=options, timeout_s=timeout_s, max_env=max_env,
                         message_id=message_id)
        except _Fault as f:
            f.action, f.message_id = action, message_id
            raise
        return action, message_id, out

    def _shell(self, shell_id: str | None) -> _Shell:
        shell = self.shells.get(shell_id or "")
        if shell is None:
            raise _Fault("w:InvalidSelectors", INVALID_SELECTORS,
                         "The WS-Management service cannot process the request because the request contained "
                         "invalid selectors for the resource.")
        return shell

    def _command(self, shell: _Shell, command_id: str | None) -> Any:
        cmd = shell.commands.get(command_id or "")
        if cmd is None:
            raise _Fault("w:InvalidSelectors", INVALID_SELECTORS, f"Unknown CommandId {command_id}.")
        return cmd

    def _on_create(self, body: ET.Element, *, options: dict[str, str], message_id: str, **_: Any) -> str:
        env = {v.get("Name", ""): v.text or "" for v in body.findall("rsp:Shell/rsp:Environment/rsp:Variable", NS)}
        shell_id = str(uuid.uuid4()).upper()
        with self._lock:
            self.shells[shell_id] = _Shell(codepage=int(options.get("WINRS_CODEPAGE", "437") or 437), env=env)
        created = (
            f"<x:ResourceCreated><a:Address>{escape(self.url)}</a:Address><a:ReferenceParameters>"
            f"<w:ResourceURI>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd</w:ResourceURI>"
            f'<w:SelectorSet><w:Selector Name="ShellId">{shell_id}</w:Selector></w:SelectorSet>'
            f"</a:ReferenceParameters></x:ResourceCreated>"
            f"<rsp:Shell><rsp:ShellId>{shell_id}</rsp:ShellId><rsp:ResourceUri>"
            f"http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd</rsp:ResourceUri>"
            f"<rsp:Owner>{escape(self.user)}</rsp:Owner><rsp:InputStreams>stdin</rsp:InputStreams>"
            f"<rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>"
        )
        return _envelope(RESPONSE_ACTION["Create"], message_id, created)

    def _on_command(self, body: ET.Element, *, shell_id: str | None, options: dict[str, str], message_id: str,
                    **_: Any) -> str:
        shell = self._shell(shell_id)
        line = body.find("rsp:CommandLine", NS)
        command = (line.findtext("rsp:Command", "", NS) if line is not None else "").strip()
        arguments = [a.text or "" for a in (line.findall("rsp:Arguments", NS) if line is not None else [])]
        running = self.handler.start(
            command, arguments, env=dict(shell.env), codepage=shell.codepage,
            console_mode_stdin=options.get("WINRS_CONSOLEMODE_STDIN", "TRUE").upper() == "TRUE",
            skip_cmd_shell=options.get("WINRS_SKIP_CMD_SHELL", "FALSE").upper() == "TRUE")
        command_id = str(uuid.uuid4()).upper()
        with self._lock:
            shell.commands[command_id] = running
        return _envelope(RESPONSE_ACTION["Command"], message_id,
                         f"<rsp:CommandResponse><rsp:CommandId>{command_id}</rsp:CommandId></rsp:CommandResponse>")

    def _on_send(self, body: ET.Element, *, shell_id: str | None, message_id: str, **_: Any) -> str:
        shell = self._shell(shell_id)
        for stream in body.findall("rsp:Send/rsp:Stream", NS):
            cmd = self._command(shell, stream.get("CommandId"))
            data = base64.b64decode(stream.text or "")
            cmd.feed_stdin(data, (stream.get("End") or "").lower() == "true")
        return _envelope(RESPONSE_ACTION["Send"], message_id, "<rsp:SendResponse/>")

    def _on_receive(self, body: ET.Element, *, shell_id: str | None, timeout_s: float, max_env: int,
                    message_id: str, **_: Any) -> str:
        shell = self._shell(shell_id)
        desired = body.find("rsp:Receive/rsp:DesiredStream", NS)
        command_id = desired.get("CommandId") if desired is not None else None
        cmd = self._command(shell, command_id)
        with self._lock:
            self._receives += 1
            n = self._receives
        if self.drop_after_receives is not None and n >= self.drop_after_receives:
            raise _Drop()
        wait = timeout_s if self.max_operation_wait_s is None else min(timeout_s, self.max_operation_wait_s)
        if self.stall_receive:
            threading.Event().wait(wait)
            raise _Fault("w:TimedOut", TIMED_OUT, "The WS-Management service cannot complete the operation within "
                         "the time specified in OperationTimeout.")
        # How many output bytes fit: the envelope with empty streams, plus base64 of the data (4 chars per 3 bytes).
        room = self.receive_room(max_env)
        out, err, code = cmd.read(room, wait)
        if not out and not err and code is None:
            raise _Fault("w:TimedOut", TIMED_OUT, "The WS-Management service cannot complete the operation within "
                         "the time specified in OperationTimeout.")
        xml = self._receive_xml(message_id, command_id or "", out, err, code, code is not None)
        assert len(xml.encode()) <= max_env, (len(xml.encode()), max_env)
        return xml

    @staticmethod
    def _receive_xml(message_id: str, command_id: str, out: bytes, err: bytes, code: int | None, done: bool) -> str:
        cid = quoteattr(command_id)
        parts = []
        if out:
            parts.append(f'<rsp:Stream Name="stdout" CommandId={cid}>{base64.b64encode(out).decode()}</rsp:Stream>')
        if err:
            parts.append(f'<rsp:Stream Name="stderr" CommandId={cid}>{base64.b64encode(err).decode()}</rsp:Stream>')
        if done:
            parts.append(f'<rsp:Stream Name="stdout" CommandId={cid} End="true"></rsp:Stream>')
            parts.append(f'<rsp:Stream Name="stderr" CommandId={cid} End="true"></rsp:Stream>')
            parts.append(f'<rsp:CommandState CommandId={cid} State="{SHELL}/CommandState/Done">'
                         f"<rsp:ExitCode>{code}</rsp:ExitCode></rsp:CommandState>")
        else:
            parts.append(f'<rsp:CommandState CommandId={cid} State="{SHELL}/CommandState/Running"></rsp:CommandState>')
        return _envelope(RESPONSE_ACTION["Receive"], message_id,
                         f"<rsp:ReceiveResponse>{''.join(parts)}</rsp:ReceiveResponse>")

    def _on_signal(self, body: ET.Element, *, shell_id: str | None, message_id: str, **_: Any) -> str:
        shell = self._shell(shell_id)
        sig = body.find("rsp:Signal", NS)
        cmd = self._command(shell, sig.get("CommandId") if sig is not None else None)
        cmd.terminate()
        return _envelope(RESPONSE_ACTION["Signal"], message_id, "<rsp:SignalResponse/>")

    def _on_delete(self, body: ET.Element, *, shell_id: str | None, message_id: str, **_: Any) -> str:
        shell = self._shell(shell_id)
        for cmd in shell.commands.values():
            cmd.terminate()
        with self._lock:
            self.shells.pop(shell_id or "", None)
        return _envelope(RESPONSE_ACTION["Delete"], message_id, "")


class _Drop(Exception):
    """Close the connection without an answer (a network drop mid-transfer)."""


def _duration(text: str | None) -> float:
    """``PT20S`` / ``PT20.000S`` -> 20.0 (only the forms pywinrm sends)."""
    t = (text or "PT60S").strip().upper()
    if t.startswith("PT") and t.endswith("S"):
        try:
            return float(t[2:-1])
        except ValueError:
            pass
    return 60.0


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    srv: WinrsServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None, *,
              content_type: str | None = "application/soap+xml;charset=UTF-8") -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        srv = self.srv
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.rstrip("/").lower() != "/wsman":
            self._record("unknown", 404, raw, b"")
            self._send(404, b"")
            return
        if srv.auth == "ntlm":
            self._post_ntlm(raw)
            return
        expected = "Basic " + base64.b64encode(f"{srv.user}:{srv.password}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            self._record("auth", 401, raw, b"")
            self._send(401, b"", {"WWW-Authenticate": 'Basic realm="WSMAN"'})
            return
        self._answer(raw)

    def _answer(self, raw: bytes, *, seal: Any = None) -> None:
        """Dispatch one SOAP request and send the answer (sealed with ``seal`` when given)."""
        try:
            action, status, xml = self.srv.dispatch(raw)
        except _Drop:
            self._record("Receive", 0, raw, b"")
            self.close_connection = True
            self.connection.shutdown(2)
            return
        body = xml.encode("utf-8")
        self._record(action, status, raw, body, encrypted=seal is not None)
        if seal is not None:
            self._send(status, encrypt_message(seal, body), content_type=ENCRYPTED_CONTENT_TYPE)
        else:
            self._send(status, body)

    # -- NTLM (per connection, as WinRM authenticates the connection) and message encryption
    _ntlm: Any = None
    _ntlm_done: bool = False

    def _challenge(self, raw: bytes, token: str | None = None, scheme: str = "Negotiate") -> None:
        self._record("auth", 401, raw, b"")
        if token is None:  # what a Windows HTTP listener offers with Basic off: Negotiate and Kerberos
            self.send_response(401)
            self.send_header("WWW-Authenticate", "Negotiate")
            self.send_header("WWW-Authenticate", "Kerberos")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._send(401, b"", {"WWW-Authenticate": f"{scheme} {token}"}, content_type=None)

    def _post_ntlm(self, raw: bytes) -> None:
        import spnego
        from spnego.exceptions import SpnegoError

        srv = self.srv
        header = self.headers.get("Authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() in ("negotiate", "ntlm") and value.strip():
            try:
                token = base64.b64decode(value.strip(), validate=True)
            except ValueError:
                self._challenge(raw)
                return
            kind = struct.unpack("<I", token[8:12])[0] if token[:8] == b"NTLMSSP\x00" and len(token) >= 12 else 0
            if kind == 1:  # NEGOTIATE: a new context for this connection; answer its CHALLENGE
                self._ntlm_done = False
                self._ntlm = srv.ntlm_call(lambda: spnego.server(protocol="ntlm"))
                out = srv.ntlm_call(self._ntlm.step, token)
                self._challenge(raw, base64.b64encode(out or b"").decode(), scheme)
                return
            if kind == 3 and self._ntlm is not None:  # AUTHENTICATE: check it against the server's user
                try:
                    srv.ntlm_call(self._ntlm.step, token)
                except SpnegoError:
                    self._ntlm = None
                    self._challenge(raw)
                    return
                self._ntlm_done = True
            else:
                self._challenge(raw)
                return
        if not self._ntlm_done:
            self._challenge(raw)
            return
        if not raw:  # pywinrm's empty POST that sets up the security context
            self._record("auth", 200, raw, b"")
            self._send(200, b"", content_type=None)
            return
        ctype = self.headers.get("Content-Type") or ""
        if not ctype.lower().startswith("multipart/encrypted") or SPNEGO_ENCRYPTED.lower() not in ctype.lower():
            self._challenge(raw)  # unencrypted SOAP on HTTP, refused (AllowUnencrypted=false; status assumed)
            return
        try:
            plain = decrypt_message(self._ntlm, raw)
        except (ValueError, SpnegoError):
            self._record("unknown", 400, raw, b"")
            self._send(400, b"", content_type=None)
            return
        self._answer(plain, seal=self._ntlm if srv.encrypt_answers else None)

    def _record(self, action: str, status: int, raw: bytes, body: bytes, *, encrypted: bool = False) -> None:
        with self.srv._lock:
            self.srv.requests.append(Request(action, status, len(raw), len(body), encrypted))


def encrypt_message(ctx: Any, message: bytes) -> bytes:
    """A ``multipart/encrypted`` body: ``message`` sealed with the NTLM context ``ctx`` (MS-WSMV 2.2.9.1.1; the
    framing of pywinrm 0.5's ``Encryption._encrypt_message`` and ``_build_ntlm_message``)."""
    wrapped = ctx.wrap(message, encrypt=True).data
    signature, sealed = wrapped[:16], wrapped[16:]
    return (BOUNDARY + b"\r\n\tContent-Type: " + SPNEGO_ENCRYPTED.encode() + b"\r\n"
            b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=" + str(len(message)).encode() + b"\r\n"
            + BOUNDARY + b"\r\n\tContent-Type: application/octet-stream\r\n"
            + struct.pack("<i", len(signature)) + signature + sealed + BOUNDARY + b"--\r\n")


def decrypt_message(ctx: Any, body: bytes) -> bytes:
    """The SOAP message inside an encrypted body (the reverse of :func:`encrypt_message`). ValueError if the framing,
    the length or the signature is wrong."""
    parts = [p for p in body.split(BOUNDARY + b"\r\n") if p]
    if len(parts) != 2:
        raise ValueError(f"expected 2 MIME parts, found {len(parts)}")
    m = re.search(rb"Length=(\d+)", parts[0])
    if not m or SPNEGO_ENCRYPTED.encode() not in parts[0]:
        raise ValueError("expected the SPNEGO-session-encrypted header part")
    payload = parts[1]
    if not payload.endswith(BOUNDARY + b"--\r\n"):
        raise ValueError("expected the closing boundary")
    payload = payload[:-len(BOUNDARY + b"--\r\n")]
    prefix = b"\tContent-Type: application/octet-stream\r\n"
    if not payload.startswith(prefix):
        raise ValueError("expected the application/octet-stream part")
    payload = payload[len(prefix):]
    (sig_len,) = struct.unpack("<i", payload[:4])
    message = ctx.unwrap(payload[4:4 + sig_len] + payload[4 + sig_len:]).data
    if len(message) != int(m.group(1)):
        raise ValueError(f"expected {m.group(1)} bytes, decrypted {len(message)}")
    return message


def make_cert(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A throwaway self-signed certificate for ``host`` (and localhost): (cert.pem, key.pem)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "winrm-cert.pem", directory / "winrm-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path
