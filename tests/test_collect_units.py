"""Collector pieces that need no WinRM peer: the script and its framing, the receiver, CLIXML, credentials."""

from __future__ import annotations

import base64
import hashlib
import os
import re

import pytest

from kit.collect import credentials, read_inventory, script
from kit.collect.clixml import decode_stderr, error_text
from kit.collect.receiver import BundleReceiver
from kit.errors import CollectionError, CredentialError, RemoteScriptError, TransferError


def test_script_is_ascii_and_bootstrap_fits_cmd_line():
    data = script.script_bytes()
    # Windows PowerShell 5.1 reads a BOM-less .ps1 as ANSI: the script must be pure ASCII to run by hand too.
    assert all(b < 128 for b in data)
    line = " ".join([script.POWERSHELL, *script.command_arguments()])
    assert len(line) < 8191
    decoded = base64.b64decode(script.command_arguments()[-1]).decode("utf-16-le")
    assert decoded == script.BOOTSTRAP
    assert "-Stream" in decoded and "ReadLine" in decoded


def test_script_gathers_every_layout_artifact():
    text = script.script_text()
    for path in ["commands/route_print.txt", "commands/ipconfig_all.txt", "commands/netsh_winhttp_proxy.txt",
                 "commands/get_netroute.json", "commands/get_netipaddress.json", "commands/services.json",
                 "commands/firewall_rules.json", "probes/tcp.json", "probes/imds_instance.json",
                 "probes/imds_versions.json", "probes/imds_attested.json", "probes/wireserver_versions.json",
                 "probes/wireserver_versions.xml", "manifest.json"]:
        assert f"'{path}'" in text, path
    # read-only: shared read access, and only the staging folder is ever removed
    assert "[IO.FileShare]::ReadWrite -bor [IO.FileShare]::Delete" in text
    removes = re.findall(r"Remove-Item -LiteralPath (\S+)", text)
    assert removes and set(removes) == {"$Stage"}
    deletes = re.findall(r"\[IO\.File\]::Delete\((\$\w+)\)", text)
    assert set(deletes) == {"$dest", "$OutFile", "$zipPath"}  # a half-copied staged file, the zip being replaced
    assert not re.search(r"\b(Set-Content|Out-File|Set-ItemProperty|New-NetFirewallRule|route add|Stop-Service)\b",
                         text, flags=re.I)


def test_payload_round_trip():
    params = {"host": "vm1", "per_file_bytes": 5, "nonce": "0123456789"}
    payload = script.stdin_payload(params)
    got, body = script.split_payload(payload)
    assert got == params and body == script.script_bytes()
    assert b"password" not in payload.split(b"\n", 1)[0].lower()


def _stream(data: bytes, *, line: int = 57000, end: bool = True, sha: str | None = None) -> bytes:
    out = [b"GAKIT BEGIN 1", b"GAKIT LOG commands", f"GAKIT ZIP {len(data)} {sha or hashlib.sha256(data).hexdigest()}"
           .encode()]
    out += [base64.b64encode(data[i:i + line]) for i in range(0, len(data), line)]
    if end:
        out.append(b"GAKIT END")
    return b"\n".join(out) + b"\n"


@pytest.mark.parametrize("piece", [1, 7, 4096, 10**6])
def test_receiver_any_chunking(tmp_path, piece):
    data = os.urandom(200_000)
    stream = _stream(data)
    r = BundleReceiver(tmp_path / "b.zip")
    for i in range(0, len(stream), piece):
        r.feed(stream[i:i + piece])
    assert r.finish().read_bytes() == data
    assert r.log == ["commands"] and not (tmp_path / "b.zip.part").exists()


def test_receiver_refuses_cut_corrupt_and_failed(tmp_path):
    data = os.urandom(120_000)
    cut = BundleReceiver(tmp_path / "a.zip")
    cut.feed(_stream(data, end=False)[:-5000])
    with pytest.raises(TransferError, match=r"middle of a line|before the end"):
        cut.finish()
    assert list(tmp_path.iterdir()) == []

    bad = bytearray(_stream(data))
    i = bad.index(b"\n", bad.index(b"GAKIT ZIP")) + 100
    bad[i] = ord("A") if bad[i] != ord("A") else ord("B")  # still base64, different bytes
    r = BundleReceiver(tmp_path / "b.zip")
    r.feed(bytes(bad))
    with pytest.raises(TransferError, match="SHA-256"):
        r.finish()
    assert list(tmp_path.iterdir()) == []

    junk = BundleReceiver(tmp_path / "c.zip")
    with pytest.raises(TransferError, match="base64"):
        junk.feed(_stream(data).replace(b"GAKIT END", b"not base64 at all!"))
    assert list(tmp_path.iterdir()) == []

    failed = BundleReceiver(tmp_path / "d.zip")
    failed.feed(b"GAKIT BEGIN 1\nGAKIT FAIL Access to the path is denied. (line 12)\n")
    with pytest.raises(RemoteScriptError, match="Access to the path is denied"):
        failed.finish()


def test_receiver_keeps_stray_lines(tmp_path):
    r = BundleReceiver(tmp_path / "b.zip")
    r.feed(b"Welcome from a profile\r\n" + _stream(b"PK"))
    r.finish()
    assert r.stray == ["Welcome from a profile"]


def test_clixml_streams():
    raw = (b'\xef\xbb\xbf#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
           b'<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T></TN>'
           b'<MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules for first use.</AV></PR></MS></Obj>'
           b'<S S="Error">Get-Item : Cannot find path \'C:\\x\' because it does not exist._x000D__x000A_</S>'
           b'<S S="Warning">careful_x000D__x000A_</S></Objs>')
    s = decode_stderr(raw)
    assert s["error"] == "Get-Item : Cannot find path 'C:\\x' because it does not exist."
    assert s["warning"] == "careful"
    assert error_text(b"plain text error\r\n") == "plain text error"
    # cut short: what the open string holds, marked, and nothing invented
    assert error_text(b"#< CLIXML\r\n<Objs><S S=\"Error\">broken") == "broken [CLIXML cut short]"
    assert decode_stderr(b"#< CLIXML\r\n<Objs><Obj S=\"progress\"><MS><I64 N=\"Sour") == {
        "other": "[CLIXML cut short]"}
    # complete strings before the cut are kept whole; entities and _xHHHH_ escapes decoded
    cut = decode_stderr(b'#< CLIXML\r\n<Objs Version="1.1.0.1"><S S="Error">a &lt;b&gt;_x000D__x000A_</S>'
                        b'<S S="Warning">half of it')
    assert cut == {"error": "a <b>", "warning": "half of it [CLIXML cut short]"}


def test_clixml_keeps_text_around_the_blocks():
    raw = (b'#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
           b'<S S="Error">first_x000D__x000A_</S></Objs>\r\nAccess is denied.\r\n'
           b'#< CLIXML\r\n<Objs Version="1.1.0.1"><S S="Error">second_x000D__x000A_</S></Objs>\r\ntrailing words\r\n')
    s = decode_stderr(raw)
    assert s["error"] == "first\r\nsecond"
    assert s["other"] == "Access is denied.\ntrailing words"


def test_secret_never_shows(monkeypatch):
    monkeypatch.setenv("VMKIT_PASSWORD", "Hunter2-very-secret")
    monkeypatch.delenv("VMKIT_USER", raising=False)
    cred = credentials.get_credential("vm1", "azureadmin", interactive=False)
    assert cred.source == "environment" and cred.password.reveal() == "Hunter2-very-secret"
    for shown in (repr(cred), str(cred), f"{cred.password}", repr([cred]), str(cred.__dict__)):
        assert "Hunter2" not in shown


def test_headless_without_credential_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("VMKIT_PASSWORD", raising=False)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    with pytest.raises(CredentialError, match=r"VMKIT_PASSWORD.*not prompting"):
        credentials.get_credential("vm1", "azureadmin", interactive=False)
    monkeypatch.setenv("VMKIT_PASSWORD", "x")
    with pytest.raises(CredentialError, match="no user name"):
        credentials.get_credential("vm1", None, interactive=False)


def test_inventory(tmp_path):
    f = tmp_path / "hosts.csv"
    f.write_text("host,notes\n10.0.0.4,web\n# comment\n\nvm-02.contoso.local  # db\n", encoding="utf-8")
    assert read_inventory(f) == ["10.0.0.4", "vm-02.contoso.local"]
    f.write_text("10.0.0.4\nweb 01\n", encoding="utf-8")
    with pytest.raises(CollectionError, match="line 2"):
        read_inventory(f)


def test_receiver_keeps_a_cut_transfer_only_when_it_holds_a_whole_file(tmp_path):
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", b'{"kit": "guestagent-kit"}')
        z.writestr("C/WindowsAzure/Logs/WaAppAgent.log", os.urandom(50_000))  # incompressible: arrives in lines
    data = buf.getvalue()
    stream = _stream(data, line=5700, end=False)
    r = BundleReceiver(tmp_path / "vm-1.zip")
    r.feed(stream[: len(stream) * 2 // 3 // 7700 * 7700])  # whole lines, the zip cut inside its second member
    kept = r.keep_partial("network")
    assert kept == tmp_path / "vm-1.partial.zip" and kept.read_bytes() == data[: r.received]
    assert [p.name for p in tmp_path.iterdir()] == ["vm-1.partial.zip"]
    assert "partial bundle kept (network)" in r.log[-1] and "1 whole file(s)" in r.log[-1]

    early = BundleReceiver(tmp_path / "vm-2.zip")  # only part of the first member: nothing worth keeping
    lines = _stream(data, line=20, end=False).split(b"\n")
    early.feed(b"\n".join(lines[:5]) + b"\n")  # the header lines and 40 bytes: inside the first member's header
    assert early.received == 40 and early.keep_partial("timeout") is None
    assert not list(tmp_path.glob("vm-2*"))

    done = BundleReceiver(tmp_path / "vm-3.zip")  # it ended: a mismatch afterwards is damage, never kept
    done.feed(_stream(data))
    assert done.keep_partial("network") is None and not list(tmp_path.glob("vm-3*"))
