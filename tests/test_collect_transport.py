"""Collection over what Azure Windows VMs have (HTTP 5985, NTLM, message encryption) and a client that answers the
engineer: Ctrl-C, local disk failures, answers that are not WS-Management, precise redaction.

The peer is tests/winrs_server.py (``auth="ntlm"``: pyspnego's NTLM acceptor and MS-WSMV message encryption) in
front of tests/vm_emulator.py; the client is the real pywinrm/requests_ntlm stack.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import kit
from kit.collect import collect, collect_many, remote
from kit.collect import receiver as receiver_module
from kit.collect.remote import ConnectOptions, HttpEncryptionWarning
from kit.errors import (
    CollectionInterrupted,
    CollectionTimeout,
    ConfigError,
    EncryptionError,
    OutputError,
    redact,
)

from .vm_emulator import SampleVm
from .winrs_server import WinrsServer, make_cert

ROOT = Path(__file__).resolve().parents[1]
HEALTHY = ROOT / "sample_logs" / "healthy"
USER, PASSWORD = "vmkit", "S3cret-Pa55-do-not-log"
NOT_VM_FILES = {"README.md", "scenario.json", "manifest.json", "collect.log"}


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    return make_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture(autouse=True)
def _fresh_warning(monkeypatch):
    monkeypatch.setattr(remote, "_warned_http", False)  # the warning is once per process; each test sees it anew


def _ntlm(srv: WinrsServer, out: Path, **kw):
    args = dict(port=srv.port, user=USER, password=PASSWORD, transport="ntlm", scheme="http", out=out,
                interactive=False)
    args.update(kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HttpEncryptionWarning)
        return collect("127.0.0.1", **args)


def _vm_files(bundle: Path) -> dict[str, bytes]:
    return {p.relative_to(bundle).as_posix(): p.read_bytes() for p in bundle.rglob("*")
            if p.is_file() and p.name not in NOT_VM_FILES}


def _files(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*")) if out.exists() else []


def _codes(bundle: Path) -> list[tuple[str, str]]:
    f = kit.diagnose(kit.open_bundle(bundle))
    return sorted(zip(f["code"].astype(str), f["severity"].astype(str), strict=True))


# -- 1. NTLM + message encryption, end to end ------------------------------------------------------------------------

def test_ntlm_with_message_encryption_gives_the_same_bundle_as_basic_over_https(cert, tmp_path):
    with WinrsServer(SampleVm(HEALTHY), user=USER, password=PASSWORD, auth="ntlm") as srv:
        with pytest.warns(HttpEncryptionWarning, match="does NOT authenticate the server"):
            r = collect("127.0.0.1", port=srv.port, user=USER, password=PASSWORD, transport="ntlm", scheme="http",
                        out=tmp_path / "ntlm", interactive=False)
        reqs = list(srv.requests)
    assert r.ok, r.error
    assert r.endpoint == f"http://127.0.0.1:{srv.port}/wsman"
    # the NTLM handshake (401 NEGOTIATE->CHALLENGE, then AUTHENTICATE on pywinrm's empty POST), then only sealed SOAP
    assert [(q.action, q.status) for q in reqs[:3]] == [("auth", 401), ("auth", 401), ("auth", 200)]
    soap = [q for q in reqs if q.action != "auth"]
    assert [q.action for q in soap][:3] == ["Create", "Command", "Send"] and soap[-1].action == "Delete"
    assert all(q.encrypted and q.status == 200 for q in soap)
    assert any("does NOT authenticate the server" in line for line in r.log)

    with WinrsServer(SampleVm(HEALTHY), user=USER, password=PASSWORD, certfile=cert[0], keyfile=cert[1]) as srv:
        b = collect("127.0.0.1", port=srv.port, user=USER, password=PASSWORD, transport="basic", scheme="https",
                    ca_file=str(cert[0]), out=tmp_path / "basic", interactive=False)
    assert b.ok, b.error
    assert _vm_files(r.bundle) == _vm_files(b.bundle)  # byte for byte, file for file
    assert _vm_files(r.bundle).keys() >= {"C/WindowsAzure/Logs/WaAppAgent.log"}
    assert _codes(r.bundle) == _codes(b.bundle) == _codes(HEALTHY)


def test_cli_default_transport_over_http_is_ntlm_with_encryption(tmp_path, monkeypatch, capsys):
    from kit.cli import main as vmkit

    monkeypatch.setenv("VMKIT_PASSWORD", PASSWORD)
    monkeypatch.setenv("VMKIT_USER", USER)
    with WinrsServer(SampleVm(HEALTHY), user=USER, password=PASSWORD, auth="ntlm") as srv:
        rc = vmkit(["collect", "127.0.0.1", "--http", "--port", str(srv.port), "--out", str(tmp_path),
                    "--no-progress"])
        assert all(q.encrypted for q in srv.requests if q.action != "auth")
    out, err = capsys.readouterr()
    assert rc == 0 and "1 of 1 VMs collected" in out
    # the warning as one plain line on stderr, once
    assert err.count("warning: WinRM over plain HTTP") == 1 and "does NOT authenticate the server" in err
    assert "remote.py" not in err
    assert len(list(tmp_path.glob("*.zip"))) == 1


def test_scheme_auto_falls_back_to_http_when_nothing_listens_on_5986(tmp_path, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with WinrsServer(SampleVm(HEALTHY), user=USER, password=PASSWORD, auth="ntlm") as srv:
        monkeypatch.setattr(ConnectOptions, "HTTPS_PORT", closed)
        monkeypatch.setattr(ConnectOptions, "HTTP_PORT", srv.port)
        with pytest.warns(HttpEncryptionWarning):
            r = collect("127.0.0.1", user=USER, password=PASSWORD, out=tmp_path, interactive=False)
    assert r.ok, r.error
    assert r.endpoint == f"http://127.0.0.1:{srv.port}/wsman"
    monkeypatch.setattr(ConnectOptions, "HTTP_PORT", closed)  # nothing on either port
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HttpEncryptionWarning)
        r = collect("127.0.0.1", user=USER, password=PASSWORD, out=tmp_path / "second", interactive=False,
                    raise_on_error=False)  # its own folder: bundle names have a resolution of one second
    assert r.error_kind == "refused" and f"HTTPS {closed} did not accept a connection either" in r.error, r.error


def test_scheme_auto_prefers_https_when_it_listens(cert, tmp_path, monkeypatch):
    with WinrsServer(SampleVm(HEALTHY), user=USER, password=PASSWORD, certfile=cert[0], keyfile=cert[1]) as srv:
        monkeypatch.setattr(ConnectOptions, "HTTPS_PORT", srv.port)
        with warnings.catch_warnings():
            warnings.simplefilter("error", HttpEncryptionWarning)  # no HTTP, so no warning
            r = collect("127.0.0.1", user=USER, password=PASSWORD, transport="basic", ca_file=str(cert[0]),
                        out=tmp_path, interactive=False)
    assert r.ok and r.endpoint == f"https://127.0.0.1:{srv.port}/wsman"
    # an explicit port: HTTPS there, never a probe or a fallback; 5985 itself means HTTP
    assert ConnectOptions(port=1234).resolve("h").endpoint("h") == "https://h:1234/wsman"
    assert ConnectOptions(port=5985).resolve("h").endpoint("h") == "http://h:5985/wsman"
    assert ConnectOptions(transport="basic").resolve("h").scheme == "https"  # Basic never falls back to HTTP


def test_the_http_warning_is_shown_once_per_process(tmp_path):
    with WinrsServer(SampleVm(HEALTHY), user=USER, password=PASSWORD, auth="ntlm") as srv, \
            warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for i in range(2):
            assert collect("127.0.0.1", port=srv.port, user=USER, password=PASSWORD, scheme="http",
                           out=tmp_path / str(i), interactive=False).ok
    assert len([w for w in seen if issubclass(w.category, HttpEncryptionWarning)]) == 1


def test_ntlm_wrong_password_is_an_auth_error(tmp_path):
    with WinrsServer(SampleVm(HEALTHY), user=USER, password=PASSWORD, auth="ntlm") as srv:
        r = _ntlm(srv, tmp_path, password="wrong-password-xyz", raise_on_error=False)
        assert "Create" not in srv.counts()  # nothing but the handshake happened
    assert not r.ok and r.error_kind == "auth" and "refused the credentials" in r.error
    assert "wrong-password-xyz" not in r.error
    assert _files(tmp_path) == []


def test_peer_that_answers_unencrypted_is_refused(tmp_path):
    with WinrsServer(SampleVm(HEALTHY), user=USER, password=PASSWORD, auth="ntlm", encrypt_answers=False) as srv:
        with pytest.raises(EncryptionError, match="answered in plain text") as ei:
            _ntlm(srv, tmp_path)
        assert srv.counts().get("Command") is None  # the first (plain) answer stopped it
    assert ei.value.kind == "encryption"
    assert _files(tmp_path) == []


def test_an_altered_encrypted_answer_is_refused(tmp_path, monkeypatch):
    from . import winrs_server

    real = winrs_server.encrypt_message

    def tampered(ctx, message):  # one byte of the sealed message flipped on the way (a machine in the middle)
        body = bytearray(real(ctx, message))
        i = len(body) - len(winrs_server.BOUNDARY) - 10
        body[i] ^= 0x01
        return bytes(body)

    monkeypatch.setattr(winrs_server, "encrypt_message", tampered)
    with WinrsServer(SampleVm(HEALTHY), user=USER, password=PASSWORD, auth="ntlm") as srv:
        r = _ntlm(srv, tmp_path, raise_on_error=False)
    assert r.error_kind == "encryption" and "did not verify" in r.error, r
    assert _files(tmp_path) == []


def test_peer_that_offers_no_ntlm_is_an_auth_error_saying_so(tmp_path):
    # a Basic-only listener over HTTP (AllowUnencrypted + Basic): the NTLM client finds no Negotiate/NTLM challenge
    with WinrsServer(SampleVm(HEALTHY), user=USER, password=PASSWORD) as srv:
        r = _ntlm(srv, tmp_path, raise_on_error=False)
    assert r.error_kind == "auth" and "does not offer Negotiate/NTLM" in r.error


def test_kerberos_and_credssp_are_plumbed_and_name_their_extra(monkeypatch):
    import winrm.protocol
    import winrm.transport

    from kit.collect.credentials import Credential, Secret

    seen: list[dict] = []

    class FakeProtocol:
        def __init__(self, **kw):
            seen.append(kw)
            self.transport = type("T", (), {"_get_message_response_text": None, "encryption": None})()

        def send_message(self, message):  # pragma: no cover - never called here
            raise AssertionError

    monkeypatch.setattr(winrm.protocol, "Protocol", FakeProtocol)
    cred = Credential("u@CONTOSO.COM", Secret("pw"), "argument")
    monkeypatch.setattr(winrm.transport, "HAVE_KERBEROS", False)
    with pytest.raises(ConfigError, match=r"guestagent-kit\[kerberos\]") as ei:
        remote._protocol("vm1", cred, ConnectOptions(transport="kerberos", scheme="http"))
    assert ei.value.kind == "config"
    monkeypatch.setattr(winrm.transport, "HAVE_KERBEROS", True)
    monkeypatch.setattr(winrm.transport, "HAVE_CREDSSP", True)
    remote._protocol("vm1", cred, ConnectOptions(transport="kerberos", scheme="http"))
    remote._protocol("vm1", cred, ConnectOptions(transport="credssp", scheme="https"))
    assert [(k["transport"], k["endpoint"], k["message_encryption"]) for k in seen] == [
        ("kerberos", "http://vm1:5985/wsman", "always"), ("credssp", "https://vm1:5986/wsman", "never")]
    with pytest.raises(ConfigError, match="CredSSP needs HTTPS"):
        ConnectOptions(transport="credssp", scheme="http").check()


# -- 2. answers that are not WS-Management --------------------------------------------------------------------------

class _Canned:
    """An HTTP server answering every POST with one canned (status, content type, body)."""

    def __init__(self, status: int, ctype: str, body: bytes) -> None:
        canned = (status, ctype, body)
        self.hits = 0

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(h):
                h.rfile.read(int(h.headers.get("Content-Length") or 0))
                self.hits += 1
                h.send_response(canned[0])
                h.send_header("Content-Type", canned[1])
                h.send_header("Content-Length", str(len(canned[2])))
                h.end_headers()
                h.wfile.write(canned[2])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *a):
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]


# The title is Squid's error-page title (its ERR_* templates); the rest of the page is generic.
SQUID = (b"<!DOCTYPE html PUBLIC \"-//W3C//DTD HTML 4.01//EN\" \"http://www.w3.org/TR/html4/strict.dtd\">\n<html><head>"
         b"<title>ERROR: The requested URL could not be retrieved</title></head><body>"
         b"<p>Proxy-Authorization: Basic dXNlcjpodW50ZXIy</p></body></html>")
CREATE_OK = (b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:w="http://schemas.dmtf.org/wbem/'
             b'wsman/1/wsman.xsd"><s:Body><w:Selector Name="ShellId">ABC</w:Selector></s:Body></s:Envelope>')


@pytest.mark.parametrize(("status", "ctype", "body", "said"), [
    (200, "text/html", SQUID, "an HTML page ('ERROR: The requested URL could not be retrieved')"),
    (502, "text/html", SQUID, "HTTP 502 with an HTML page"),
    (200, "application/soap+xml", CREATE_OK[:70], "XML cut short"),
    (200, "application/xml", b'<?xml version="1.0"?><status>ok</status>', "root is <status>, not a SOAP 1.2"),
    (200, "application/soap+xml", b"", "an empty body"),
    (200, "text/plain", b"OK", "not well-formed XML"),
], ids=["html-200", "proxy-502", "truncated-xml", "xml-not-soap", "empty-200", "text-200"])
def test_answers_that_are_not_ws_management(tmp_path, status, ctype, body, said):
    with _Canned(status, ctype, body) as srv:
        r = collect("127.0.0.1", port=srv.port, user=USER, password=PASSWORD, transport="basic", scheme="http",
                    allow_unencrypted=True, out=tmp_path, interactive=False, raise_on_error=False)
    assert not r.ok and r.error_kind == "protocol", r
    assert said in r.error
    assert "StopIteration" not in r.error and "dXNlcjpodW50ZXIy" not in r.error
    assert _files(tmp_path) == []


def test_html_page_instead_of_an_ntlm_challenge(tmp_path):
    with _Canned(200, "text/html", SQUID) as srv:
        r = _ntlm(srv, tmp_path, raise_on_error=False)
    assert r.error_kind == "protocol" and "without an NTLM challenge" in r.error


class _NoExitCode(WinrsServer):
    @staticmethod
    def _receive_xml(message_id, command_id, out, err, code, done):
        xml = WinrsServer._receive_xml(message_id, command_id, out, err, code, done)
        return xml.replace(f"<rsp:ExitCode>{code}</rsp:ExitCode>", "") if done else xml


class _NoShellId(WinrsServer):
    def _on_create(self, body, *, message_id, **kw):
        return super()._on_create(body, message_id=message_id, **kw).replace('Name="ShellId"', 'Name="Other"')


def test_soap_answers_missing_what_the_protocol_needs(tmp_path):
    with _NoExitCode(SampleVm(HEALTHY), user=USER, password=PASSWORD, auth="ntlm") as srv:
        r = _ntlm(srv, tmp_path, raise_on_error=False)
    assert r.error_kind == "protocol" and "without an ExitCode" in r.error and "StopIteration" not in r.error
    with _NoShellId(SampleVm(HEALTHY), user=USER, password=PASSWORD, auth="ntlm") as srv:
        r = _ntlm(srv, tmp_path, raise_on_error=False)
    assert r.error_kind == "protocol" and "Create request without a ShellId" in r.error
    assert _files(tmp_path) == []


# -- 3. local failures ------------------------------------------------------------------------------------------------

def _failing_open(code: int, after_bytes: int = 0):
    real_open = open

    class Failing:
        def __init__(self, f):
            self.f, self.n = f, 0

        def write(self, data):
            if self.n + len(data) > after_bytes:
                raise OSError(code, os.strerror(code))
            self.n += len(data)
            return self.f.write(data)

        def __getattr__(self, name):
            return getattr(self.f, name)

    def fake_open(path, mode="r", *a, **kw):
        f = real_open(path, mode, *a, **kw)
        return Failing(f) if "w" in mode else f

    return fake_open


@pytest.mark.parametrize(("code", "kind"), [(errno.ENOSPC, "disk-full"), (errno.EDQUOT, "quota")])
def test_disk_full_and_quota_while_receiving(tmp_path, monkeypatch, code, kind):
    monkeypatch.setattr(receiver_module, "open", _failing_open(code), raising=False)
    with WinrsServer(SampleVm(HEALTHY), user=USER, password=PASSWORD, auth="ntlm") as srv:
        r = _ntlm(srv, tmp_path / "out", raise_on_error=False)
        assert srv.counts()["Delete"] == 1 and not srv.shells  # the VM was cleaned up
    assert r.error_kind == kind and str(tmp_path / "out") in r.error and ".zip.part" in r.error
    assert _files(tmp_path / "out") == []


def test_read_only_out_folder_and_permission(tmp_path, monkeypatch):
    real_mkdir = Path.mkdir

    def mkdir(self, *a, **kw):
        if self == tmp_path / "ro":
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        if self == tmp_path / "denied":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_mkdir(self, *a, **kw)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    for name, kind in [("ro", "read-only"), ("denied", "permission")]:
        with pytest.raises(OutputError) as ei:
            collect("127.0.0.1", user=USER, password=PASSWORD, out=tmp_path / name, interactive=False)
        assert ei.value.kind == kind and ei.value.path == str(tmp_path / name) and str(tmp_path / name) in str(ei.value)


def test_out_folder_is_a_file(tmp_path):
    (tmp_path / "bundles").write_text("not a folder", encoding="utf-8")
    r = collect("127.0.0.1", user=USER, password=PASSWORD, out=tmp_path / "bundles", interactive=False,
                raise_on_error=False)
    assert r.error_kind == "not-a-folder" and str(tmp_path / "bundles") in r.error
    r = collect("127.0.0.1", user=USER, password=PASSWORD, out=tmp_path / "bundles" / "sub", interactive=False,
                raise_on_error=False)
    assert r.error_kind == "not-a-folder"


def test_file_size_limit_in_a_child_process(tmp_path):
    """A real OS refusal, not a mock: RLIMIT_FSIZE makes the kernel refuse the write (EFBIG), as a full disk does."""
    code = f"""
import json, resource, signal, sys
sys.path[:0] = [{str(ROOT)!r}]
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
from kit.collect import collect
from tests.vm_emulator import SampleVm
from tests.winrs_server import WinrsServer
with WinrsServer(SampleVm({str(HEALTHY)!r}), user="u", password="p", auth="ntlm") as srv:
    r = collect("127.0.0.1", port=srv.port, user="u", password="p", scheme="http", out={str(tmp_path / 'o')!r},
                interactive=False, raise_on_error=False)
print(json.dumps([r.error_kind, r.error]))
"""
    p = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert p.returncode == 0, p.stderr[-2000:]
    kind, error = json.loads(p.stdout.strip().splitlines()[-1])
    assert kind == "disk-full" and str(tmp_path / "o") in error
    assert _files(tmp_path / "o") == []


# -- 4. Ctrl-C and stalls ---------------------------------------------------------------------------------------------

class _HoldBack:
    """A VM that sends all but the last bytes of its output, then goes silent (a hang mid-transfer)."""

    def __init__(self, vm: SampleVm, hold: int = 20) -> None:
        self.vm, self.hold = vm, hold
        self.terminated = threading.Event()
        self.silent = threading.Event()  # a Receive is waiting on the silent VM (requests are recorded when answered)

    def start(self, *a, **kw):
        outer, run = self, self.vm.start(*a, **kw)

        class Run:
            buf = bytearray()

            def feed_stdin(self, data, end):
                run.feed_stdin(data, end)

            def read(self, max_bytes, timeout_s):
                out, err, _code = run.read(max_bytes, min(timeout_s, 0.2))
                self.buf += out
                give = bytes(self.buf[:max(0, min(max_bytes, len(self.buf) - outer.hold))])
                del self.buf[:len(give)]
                if not give and not err:
                    outer.silent.set()
                    outer.terminated.wait(timeout_s)
                return give, err, None

            def terminate(self):
                outer.terminated.set()
                run.terminate()

        return Run()


def _wait_for(pred, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_ctrl_c_stops_vmkit_collect_within_two_seconds(tmp_path):
    out = tmp_path / "out"
    vm = _HoldBack(SampleVm(HEALTHY))
    with WinrsServer(vm, user=USER, password=PASSWORD, auth="ntlm") as srv:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "VMKIT_USER": USER, "VMKIT_PASSWORD": PASSWORD}
        proc = subprocess.Popen([sys.executable, "-c", "from kit.cli import run; run()", "collect", "127.0.0.1",
                                 "--http", "--port", str(srv.port), "--out", str(out), "--no-progress",
                                 "--operation-timeout", "20"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            # the bundle is arriving (its .part exists) and the VM has gone silent in the middle of it
            assert _wait_for(lambda: list(out.glob("*.zip.part")) and vm.silent.is_set()), \
                proc.stderr.read() if proc.poll() is not None else "no transfer started"
            time.sleep(0.3)
            started = time.monotonic()
            proc.send_signal(signal.SIGINT)
            stdout, stderr = proc.communicate(timeout=10)
            took = time.monotonic() - started
        finally:
            if proc.poll() is None:
                proc.kill()
        counts = srv.counts()
        shells = dict(srv.shells)
    assert took < 2.0, took
    assert proc.returncode == 130, (stdout, stderr)
    assert "collection interrupted (Ctrl-C)" in stderr and "interrupted" in stderr
    assert "nothing of theirs was kept" in stderr
    assert PASSWORD not in stdout + stderr
    assert counts.get("Signal") == 1 and counts.get("Delete") == 1 and shells == {}  # stopped on the VM too
    assert vm.terminated.is_set()
    assert _files(out) == []  # nothing left: a zip cut short is no bundle


def test_ctrl_c_in_a_notebook_call_raises_collection_interrupted(tmp_path):
    vm = _HoldBack(SampleVm(HEALTHY))
    main = threading.main_thread().ident
    pressed: list[float] = []
    with WinrsServer(vm, user=USER, password=PASSWORD, auth="ntlm") as srv:
        def press_ctrl_c():
            _wait_for(lambda: list((tmp_path / "out").glob("*.zip.part")) and vm.silent.is_set())
            time.sleep(0.2)
            pressed.append(time.monotonic())
            signal.pthread_kill(main, signal.SIGINT)

        threading.Thread(target=press_ctrl_c, daemon=True).start()
        with pytest.raises(CollectionInterrupted, match="collection interrupted") as ei:
            _ntlm(srv, tmp_path / "out", operation_timeout_s=20, read_timeout_s=30)
        took = time.monotonic() - pressed[0]
        assert _wait_for(lambda: not srv.shells, 2)
    assert isinstance(ei.value, KeyboardInterrupt) and ei.value.left == []
    assert took < 2  # not the 20 s the Receive in flight would have lasted
    assert _files(tmp_path / "out") == []


def test_interrupt_keeps_a_partial_bundle_when_the_receiver_can(tmp_path):
    class Keeping:
        received = 10

        def keep_partial(self, reason):
            p = tmp_path / "vm-partial"
            p.mkdir()
            (p / "PARTIAL").write_text(reason, encoding="utf-8")
            return p

        def abort(self):  # pragma: no cover - must not be called when a partial bundle was kept
            raise AssertionError

    run = remote._Run("h", None, ConnectOptions(scheme="http"), Keeping())
    assert run.stop(0) == [tmp_path / "vm-partial"] and run.stop(0) == [tmp_path / "vm-partial"]
    assert (tmp_path / "vm-partial" / "PARTIAL").read_text(encoding="utf-8") == "interrupted by Ctrl-C on the client"


def test_collect_many_interrupt_reports_every_vm(tmp_path):
    vm = _HoldBack(SampleVm(HEALTHY))
    main = threading.main_thread().ident
    pressed: list[float] = []
    with WinrsServer(SampleVm(HEALTHY), user=USER, password=PASSWORD, auth="ntlm") as fast, \
            WinrsServer(vm, user=USER, password=PASSWORD, auth="ntlm") as slow:
        def press_ctrl_c():
            _wait_for(lambda: vm.silent.is_set() and fast.counts().get("Delete", 0) >= 1)
            time.sleep(0.2)
            pressed.append(time.monotonic())
            signal.pthread_kill(main, signal.SIGINT)

        threading.Thread(target=press_ctrl_c, daemon=True).start()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", HttpEncryptionWarning)
            with pytest.raises(CollectionInterrupted) as ei:
                collect_many([f"127.0.0.1:{fast.port}", f"127.0.0.1:{slow.port}"], user=USER, password=PASSWORD,
                             scheme="http", out=tmp_path, interactive=False, progress=False, operation_timeout_s=20,
                             read_timeout_s=30)
        took = time.monotonic() - pressed[0]
    ok, stopped = ei.value.results
    assert ok.ok and stopped.error_kind == "interrupted"
    assert "1 of 2 VMs had finished" in str(ei.value)
    assert took < 2
    assert not list(tmp_path.glob("*.part"))


def test_stalled_vm_over_ntlm_hits_the_deadline(tmp_path):
    with WinrsServer(SampleVm(HEALTHY, stall=True), user=USER, password=PASSWORD, auth="ntlm",
                     max_operation_wait_s=0.2) as srv:
        with pytest.raises(CollectionTimeout, match="deadline") as ei:
            _ntlm(srv, tmp_path, operation_timeout_s=1, read_timeout_s=2, deadline_s=1.5)
        assert srv.counts()["Delete"] == 1
    assert ei.value.kind == "timeout"
    assert _files(tmp_path) == []


# -- 5. redaction: secrets masked, ordinary words kept -----------------------------------------------------------------

def test_error_redaction_is_precise_and_uses_kit_redact():
    from kit.redact import MASK

    assert redact("the token expired; Secret: the key was missing") == "the token expired; Secret: the key was missing"
    assert redact("not well-formed (invalid token): line 1, column 0") == \
        "not well-formed (invalid token): line 1, column 0"
    assert redact("logon failed for vmkit with Hunter2-pw", "Hunter2-pw") == f"logon failed for vmkit with {MASK}"
    assert redact("Authorization: Negotiate TlRMTVNTUAABAAAAB4IIog==") == f"Authorization: Negotiate {MASK}"
    assert redact("net use /user:x /p:Hunter2") == f"net use /user:x /p:{MASK}"
    assert redact("http://u:pw1@proxy:8080") == f"http://u:{MASK}@proxy:8080"
    assert redact("x", None, "") == "x"


def test_soap_fault_text_is_not_over_redacted(tmp_path):
    class Faulty(WinrsServer):
        def _on_command(self, body, **kw):
            from .winrs_server import _Fault

            raise _Fault("w:InternalError", 2150858882, "The token: 'PowerShell' was not recognised; password=abc123")

    with Faulty(SampleVm(HEALTHY), user=USER, password=PASSWORD, auth="ntlm") as srv:
        r = _ntlm(srv, tmp_path, raise_on_error=False)
    assert r.error_kind == "fault"
    assert "The token: 'PowerShell' was not recognised" in r.error and "abc123" not in r.error

