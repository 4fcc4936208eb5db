"""A Windows VM for the WS-Management test server, whose disk and network answers are a sample bundle.

It plays ``powershell.exe`` running the kit's collector: it accepts exactly the kit's bootstrap command line and,
on stdin, one line of JSON parameters followed by the kit's script (byte for byte - anything else is answered the
way PowerShell answers a failing script: CLIXML on stderr, exit code 1). It then answers as
``Collect-GuestAgentKit.ps1`` would on such a VM, mirroring the script step by step:

* the VM's ``C:\\`` is the sample's ``C/`` folder; ``route print`` etc. print the sample's ``commands/*.txt``;
  the cmdlets and probes give the sample's ``commands/*.json`` and ``probes/*`` (a probe file the sample lacks is
  not invented: the entry is left out);
* the same priority order and caps as the script (must-collect files, then extension logs and rotated agent logs
  newest first; the tail of a file over ``per_file_bytes``; ``skipped`` once ``total_bytes`` is reached);
* the same stdout protocol (kit/collect/script.py): BEGIN, LOG lines, ZIP length+SHA-256, 57,000-byte base64 lines,
  END; exit code 0.

It also answers the two PowerShell one-liners a per-file fetch sends through ``Session.run_ps`` (the baseline of
benchmarks/bench_collect.py, "one PowerShell call per 512 KiB chunk, as common tools do"): a recursive file listing
and a base64 read of one chunk of one file (see :data:`LIST_PS` and :data:`CHUNK_PS`).

With the parameter ``profile`` = ``probe`` (kit.live) it answers as the script does: the commands and the probes,
no files. ``bundle_dir`` may be changed between runs (a fix applied on the VM while a watch runs).

Knobs for failure tests: ``corrupt`` flips one base64 character of the zip (a corrupted chunk), ``fail`` makes the
script stop with an error record, ``stall`` never produces output after BEGIN, ``delay_s`` keeps the VM busy
that long before any output (Receives time out meanwhile, as on a slow VM).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import queue
import re
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

from kit.collect import script

MUST_FIXED = ("WaAppAgent.log", "TransparentInstaller.log")
#: The per-file fetch's one-liners (format with ``path``, ``offset``, ``length``).
LIST_PS = ("Get-ChildItem -LiteralPath '{path}' -Recurse -File -Force | "
           "ForEach-Object {{ '{{0}}`t{{1}}' -f $_.Length, $_.FullName }}")
CHUNK_PS = ("$fs = [IO.File]::Open('{path}', 'Open', 'Read', 'ReadWrite'); try {{ $null = $fs.Seek({offset}, 'Begin'); "
            "$b = New-Object byte[] {length}; $n = $fs.Read($b, 0, {length}); [Convert]::ToBase64String($b, 0, $n) }} "
            "finally {{ $fs.Dispose() }}")
_LIST_RE = re.compile(r"^Get-ChildItem -LiteralPath '(?P<path>[^']+)' -Recurse -File -Force \| ")
_CHUNK_RE = re.compile(r"^\$fs = \[IO\.File\]::Open\('(?P<path>[^']+)', 'Open', 'Read', 'ReadWrite'\); try \{ "
                       r"\$null = \$fs\.Seek\((?P<offset>\d+), 'Begin'\); \$b = New-Object byte\[\] (?P<length>\d+);")
LINE_BYTES = 57000


def _clixml_error(text: str) -> bytes:
    esc = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r\n", "_x000D__x000A_")
    return (b"#< CLIXML\r\n" + b'<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
            + f'<S S="Error">{esc}_x000D__x000A_</S></Objs>'.encode())


@dataclass
class SampleVm:
    """The command handler (see tests/wsman) for one VM backed by ``bundle_dir``."""

    bundle_dir: Path
    corrupt: bool = False
    fail: str | None = None
    stall: bool = False
    delay_s: float = 0.0

    def __post_init__(self) -> None:
        self.bundle_dir = Path(self.bundle_dir)
        self.commands: list[tuple[str, list[str]]] = []
        self.runs: list[_Run] = []

    def last_run(self) -> _Run:
        return self.runs[-1]

    def start(self, command: str, arguments: list[str], *, env: dict[str, str] | None = None, codepage: int = 437,
              console_mode_stdin: bool = True, skip_cmd_shell: bool = False) -> _Run:
        self.commands.append((command, list(arguments)))
        run = _Run(self, command, list(arguments), codepage)
        self.runs.append(run)
        return run

    # -- what the script would produce on this VM
    def _files(self) -> list[tuple[str, bool]]:
        """(layout path, must) in the script's order."""
        c = self.bundle_dir / "C"
        out: list[tuple[str, bool]] = []
        logs = c / "WindowsAzure" / "Logs"
        for name in MUST_FIXED:
            out.append((f"C/WindowsAzure/Logs/{name}", True))
        agg = logs / "AggregateStatus"
        if agg.is_dir():
            out += [(self._rel(p), True) for p in sorted(agg.glob("aggregatestatus*.json"))]
        pk = c / "Packages" / "Plugins"
        if pk.is_dir():
            for ext in sorted(p for p in pk.iterdir() if p.is_dir()):
                for ver in sorted(p for p in ext.iterdir() if p.is_dir()):
                    for n in ("HandlerManifest.json", "HandlerEnvironment.json"):
                        if (ver / n).is_file():
                            out.append((self._rel(ver / n), True))
                    st, rs = ver / "Status", ver / "RuntimeSettings"
                    if st.is_dir():
                        out += [(self._rel(p), True) for p in sorted(st.glob("*.status"))]
                        out += [(self._rel(p), True) for p in sorted(st.glob("HeartBeat.Json"))]
                    if rs.is_dir():
                        out += [(self._rel(p), True) for p in sorted(rs.glob("*.settings"))]
        plugins = logs / "Plugins"
        if plugins.is_dir():
            files = [p for p in plugins.rglob("*") if p.is_file()]
            files.sort(key=lambda p: (-p.stat().st_mtime, str(p)))
            out += [(self._rel(p), False) for p in files]
        if (logs / "Telemetry.log").is_file():
            out.append(("C/WindowsAzure/Logs/Telemetry.log", False))
        if logs.is_dir():
            rot = [p for p in logs.glob("WaAppAgent*.log") if p.name != "WaAppAgent.log"]
            rot.sort(key=lambda p: (-p.stat().st_mtime, str(p)))
            out += [(self._rel(p), False) for p in rot]
        return out

    def _rel(self, p: Path) -> str:
        return p.relative_to(self.bundle_dir).as_posix()

    def build_zip(self, params: dict) -> tuple[bytes, list[str]]:
        per_file = int(params.get("per_file_bytes", 31457280))
        total = int(params.get("total_bytes", 157286400))
        old = {}
        mpath = self.bundle_dir / "manifest.json"
        if mpath.is_file():
            old = json.loads(mpath.read_text(encoding="utf-8"))
        arts: list[dict] = []
        used = 0
        log: list[str] = []
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            def add(path: str, data: bytes, origin: str, status: str = "collected", original: int | None = None,
                    note: str | None = None) -> None:
                nonlocal used
                z.writestr(path, data)
                used += len(data)
                arts.append({"path": path, "origin": origin, "status": status, "size": len(data),
                             "original_size": len(data) if original is None else original,
                             "sha256": hashlib.sha256(data).hexdigest(), "note": note})

            log.append("commands: route print, ipconfig /all, netsh winhttp show proxy")
            for name, origin in (("route_print.txt", "route print"), ("ipconfig_all.txt", "ipconfig /all"),
                                 ("netsh_winhttp_proxy.txt", "netsh winhttp show proxy")):
                p = self.bundle_dir / "commands" / name
                if p.is_file():
                    add(f"commands/{name}", p.read_bytes(), origin)
            log.append("commands: Get-NetRoute, Get-NetIPAddress, services, firewall rules")
            for name, origin in (("get_netroute.json", "Get-NetRoute"), ("get_netipaddress.json", "Get-NetIPAddress"),
                                 ("services.json", "Get-Service, Win32_Service"),
                                 ("firewall_rules.json",
                                  "Get-NetFirewallRule -Enabled True -Direction Outbound -Action Block")):
                p = self.bundle_dir / "commands" / name
                if p.is_file():
                    add(f"commands/{name}", p.read_bytes(), origin)
            log.append("probes: TCP 168.63.129.16:80, 168.63.129.16:32526, 169.254.169.254:80 x 3")
            log.append("probes: IMDS instance, versions, attested document; WireServer versions")
            for name in ("tcp.json", "imds_instance.json", "imds_versions.json", "imds_attested.json",
                         "wireserver_versions.json", "wireserver_versions.xml"):
                p = self.bundle_dir / "probes" / name
                if p.is_file():
                    add(f"probes/{name}", p.read_bytes(), f"probes/{name}")
            log.append("files: agent log and extension state")
            for rel, must in ([] if params.get("profile") == "probe" else self._files()):
                src = self.bundle_dir / rel
                origin = "C:\\" + rel[2:].replace("/", "\\")
                if not src.is_file():
                    arts.append({"path": rel, "origin": origin, "status": "missing", "size": 0, "original_size": 0,
                                 "sha256": None, "note": "not present on the VM"})
                    continue
                data = src.read_bytes()
                n = len(data)
                want = min(n, per_file)
                if not must and used + want > total:
                    arts.append({"path": rel, "origin": origin, "status": "skipped", "size": 0, "original_size": n,
                                 "sha256": None, "note": f"total cap of {total} bytes reached"})
                    continue
                if n > per_file:
                    start = n - per_file
                    if data[:2] in (b"\xff\xfe", b"\xfe\xff") and start % 2:
                        start += 1
                    add(rel, data[start:], origin, "truncated", n,
                        f"per-file cap of {per_file} bytes: kept the last {n - start} of {n} bytes")
                else:
                    add(rel, data, origin)
            if params.get("profile") != "probe":  # 'files: event logs': wevtutil epl exports, when the sample has them
                for p in sorted((self.bundle_dir / "events").glob("*.evtx")):
                    add(f"events/{p.name}", p.read_bytes(), "wevtutil epl " + p.stem)
            add("collect.log", ("\r\n".join(f"2024-01-01T00:00:00.000Z {m}" for m in log) + "\r\n").encode(),
                "collector log")
            vm = dict(old.get("vm") or {})
            vm["host"] = params.get("host")
            manifest = {"format": "guestagent-kit-bundle", "format_version": 1,
                        "collector": {"name": "guestagent-kit", "version": params.get("kit_version"),
                                      "script_sha256": params.get("script_sha256"), "mode": "winrm",
                                      "profile": params.get("profile", "full")},
                        "vm": vm, "collected_at": old.get("collected_at"),
                        "limits": {"per_file_bytes": per_file, "total_bytes": total}, "artifacts": arts}
            z.writestr("manifest.json", json.dumps(manifest, indent=4))
        return buf.getvalue(), log


class _Run:
    """One running ``powershell.exe``: collects stdin, then produces the script's output in a background thread."""

    def __init__(self, vm: SampleVm, command: str, arguments: list[str], codepage: int) -> None:
        self.vm, self.command, self.arguments, self.codepage = vm, command, arguments, codepage
        self.stdin = bytearray()
        self.out: queue.Queue[tuple[bytes, bytes, int | None]] = queue.Queue()
        self._pending_out = bytearray()
        self._pending_err = bytearray()
        self._exit: int | None = None
        self._finished = False
        self._terminated = threading.Event()
        self._lock = threading.Lock()
        self.stdout_total = 0
        if command.lower().startswith("powershell -encodedcommand ") and not arguments:
            self._one_liner(base64.b64decode(command.split()[-1]).decode("utf-16-le"))
        elif command.lower() != script.POWERSHELL or " ".join(arguments) != " ".join(script.command_arguments()):
            # pywinrm sends all arguments space-joined in one rsp:Arguments element
            self._finish(b"", _clixml_error(f"'{command}' with these arguments is not the kit's collector"), 1)

    def _disk(self, win_path: str) -> Path:
        if not win_path.upper().startswith("C:\\"):
            raise FileNotFoundError(win_path)
        return self.vm.bundle_dir / "C" / Path(*win_path[3:].split("\\"))

    def _one_liner(self, ps: str) -> None:
        """``Session.run_ps`` of the per-file fetch: a listing or one chunk, as PowerShell would print them."""
        try:
            if m := _LIST_RE.match(ps):
                root = self._disk(m["path"])
                base = m["path"].rstrip("\\")
                lines = [f"{p.stat().st_size}\t{base}\\" + p.relative_to(root).as_posix().replace("/", "\\")
                         for p in sorted(root.rglob("*")) if p.is_file()]
                self._finish(("\r\n".join(lines) + "\r\n").encode(), b"", 0)
            elif m := _CHUNK_RE.match(ps):
                with open(self._disk(m["path"]), "rb") as f:
                    f.seek(int(m["offset"]))
                    data = f.read(int(m["length"]))
                self._finish(base64.b64encode(data) + b"\r\n", b"", 0)
            else:
                self._finish(b"", _clixml_error("The term is not recognized as the name of a cmdlet"), 1)
        except OSError as exc:
            self._finish(b"", _clixml_error(f"Cannot find path because it does not exist. ({exc})"), 1)

    def feed_stdin(self, data: bytes, end: bool) -> None:
        self.stdin += data
        if end and not self._finished:
            threading.Thread(target=self._run, daemon=True).start()

    def _emit(self, data: bytes) -> None:
        with self._lock:
            self._pending_out += data

    def _finish(self, out: bytes, err: bytes, code: int) -> None:
        with self._lock:
            self._pending_out += out
            self._pending_err += err
            self._exit = code
            self._finished = True

    def _run(self) -> None:
        try:
            params, body = script.split_payload(bytes(self.stdin))
        except ValueError as exc:
            self._finish(b"", _clixml_error(f"ConvertFrom-Json : Invalid JSON primitive. ({exc})"), 1)
            return
        if hashlib.sha256(body).hexdigest() != script.script_sha256():
            self._finish(b"", _clixml_error("the script received is not the kit's collector script"), 1)
            return
        if self.vm.stall:
            self._emit(b"GAKIT BEGIN 1\n")
            return  # output never comes; the client's deadline must end this
        if self.vm.delay_s:
            self._terminated.wait(self.vm.delay_s)  # the VM is busy: Receives time out meanwhile
        if self.vm.fail:
            msg = self.vm.fail
            self._finish(f"GAKIT BEGIN 1\nGAKIT FAIL {msg}\n".encode(), _clixml_error(msg), 1)
            return
        # The whole output is produced before any of it is visible, so the number of Receives it takes is
        # deterministic (tests assert it): ceil(len(stdout) / what fits in one Receive).
        data, log = self.vm.build_zip(params)
        lines = [base64.b64encode(data[i:i + LINE_BYTES]) for i in range(0, len(data), LINE_BYTES)]
        if self.vm.corrupt and lines:
            j = len(lines) // 2
            line = bytearray(lines[j])
            k = len(line) // 2
            line[k] = ord("A") if line[k] != ord("A") else ord("B")
            lines[j] = bytes(line)
        out = [b"GAKIT BEGIN 1"] + [f"GAKIT LOG {m}".encode() for m in log]
        out.append(f"GAKIT ZIP {len(data)} {hashlib.sha256(data).hexdigest()}".encode())
        out += lines
        out.append(b"GAKIT END")
        self.stdout_total = sum(len(x) + 1 for x in out)
        if not self._terminated.is_set():
            self._finish(b"\n".join(out) + b"\n", b"", 0)

    def read(self, max_bytes: int, timeout_s: float) -> tuple[bytes, bytes, int | None]:
        deadline = threading.Event()
        waited = 0.0
        step = 0.01
        while True:
            with self._lock:
                if self._pending_out or self._pending_err or self._finished:
                    err = bytes(self._pending_err[:max_bytes])
                    del self._pending_err[:len(err)]
                    room = max_bytes - len(err)
                    out = bytes(self._pending_out[:room])
                    del self._pending_out[:len(out)]
                    done = self._finished and not self._pending_out and not self._pending_err
                    if out or err or done:
                        return out, err, (self._exit if done else None)
            if waited >= timeout_s:
                return b"", b"", None
            deadline.wait(step)
            waited += step

    def terminate(self) -> None:
        self._terminated.set()
