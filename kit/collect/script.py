"""The collector script and how it travels to the VM.

The work on the VM is one Windows PowerShell 5.1 script, ``Collect-GuestAgentKit.ps1`` in this package. Over
WinRM it is not put on the command line (cmd.exe caps a command line at 8191 characters, about 3,000 characters of
``-EncodedCommand`` script): a tiny bootstrap goes on the command line and the script follows on stdin, UTF-8,
after one line of JSON parameters. The same file can be copied to a VM and run there by hand.

Protocol on the script's stdout (UTF-8, LF), one line each::

    GAKIT BEGIN 1                       the script started (version of this protocol)
    GAKIT LOG <text>                    progress, any number
    GAKIT ZIP <length> <sha256>         the bundle zip follows: its byte length and SHA-256 (hex)
    <base64>                            the zip, 57,000 bytes per line (whole base64 groups)
    GAKIT END                           the zip is complete
    GAKIT FAIL <text>                   the script failed (exit code 1; stderr has the error record)

Anything else on stdout (a stray line a profile or a module printed) is kept in the collection log.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache
from importlib import resources

SCRIPT_NAME = "Collect-GuestAgentKit.ps1"
PROTOCOL_VERSION = "1"

#: The command line: read stdin as UTF-8, first line = parameters JSON, rest = the script; run it streaming.
BOOTSTRAP = (
    "$ProgressPreference='SilentlyContinue';"
    "$r=New-Object IO.StreamReader([Console]::OpenStandardInput(),(New-Object Text.UTF8Encoding $false));"
    "$p=$r.ReadLine();$s=$r.ReadToEnd();"
    "& ([ScriptBlock]::Create($s)) -ParamsJson $p -Stream"
)

POWERSHELL = "powershell.exe"


@cache
def script_bytes() -> bytes:
    """The collector script as shipped (UTF-8, as it is sent on stdin)."""
    return resources.files(__package__).joinpath(SCRIPT_NAME).read_bytes()


def script_text() -> str:
    return script_bytes().decode("utf-8")


@cache
def script_sha256() -> str:
    return hashlib.sha256(script_bytes()).hexdigest()


def encoded_command(script: str = BOOTSTRAP) -> str:
    """PowerShell's ``-EncodedCommand`` form: base64 of the UTF-16LE text."""
    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


def command_arguments() -> list[str]:
    """Arguments of ``powershell.exe`` for the bootstrap (well under cmd.exe's 8191-character limit)."""
    return ["-NoLogo", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass",
            "-EncodedCommand", encoded_command()]


def script_deadline(client_deadline_s: float) -> int:
    """The deadline the script is given (``deadline_s``): under the client's by a fifth, at most two minutes, so
    that the script stops its steps, marks the bundle partial and sends it before the client gives up on it."""
    return int(max(5.0, client_deadline_s - min(120.0, client_deadline_s * 0.2)))


def stdin_payload(params: dict[str, object]) -> bytes:
    """What the client writes to the script's stdin: one line of JSON parameters, then the script.

    Parameters hold limits and probe settings only, never a credential.
    """
    line = json.dumps(params, separators=(",", ":"), sort_keys=True)
    if "\n" in line or "\r" in line:  # pragma: no cover - json.dumps never emits raw newlines
        raise ValueError("parameters must fit on one line")
    return line.encode("utf-8") + b"\n" + script_bytes()


def split_payload(payload: bytes) -> tuple[dict[str, object], bytes]:
    """The inverse of :func:`stdin_payload` (used by the test VM and to check a payload)."""
    head, _, script = payload.partition(b"\n")
    return json.loads(head.decode("utf-8")), script
