"""Turn the collector script's stdout (see :mod:`kit.collect.script`) into a verified zip on disk.

Memory stays bounded: at most one partial line plus one WinRM Receive is held; the zip goes to a ``.part``
file as it arrives, hashed on the way. Only :meth:`BundleReceiver.finish` with the END line seen, the length and
the SHA-256 matching, renames the file into place. A transfer cut short (Ctrl-C, the deadline, a dropped
connection) keeps what arrived as ``<name>.partial.zip`` when it holds at least one whole file
(:meth:`BundleReceiver.keep_partial`; ``open_bundle`` reads a zip cut short, see :mod:`kit.bundle.safezip`);
anything else removes it.
"""

from __future__ import annotations

import binascii
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from ..errors import RemoteScriptError, TransferError

MAX_LINE = 1 << 20  # a base64 line is 76,000 characters; anything far longer is not our protocol


class BundleReceiver:
    """Feed it stdout bytes as they arrive; it writes the zip to ``target`` (via ``target.part``)."""

    def __init__(self, target: Path, *, on_log: Callable[[str], None] | None = None,
                 on_progress: Callable[[int, int | None], None] | None = None) -> None:
        self.target = Path(target)
        self.part = self.target.with_name(self.target.name + ".part")
        self.on_log = on_log
        self.on_progress = on_progress
        self._buf = bytearray()
        self._file = None
        self._sha = hashlib.sha256()
        self.expected_length: int | None = None
        self.expected_sha256: str | None = None
        self.received = 0
        self.begun = False
        self.ended = False
        self.failure: str | None = None
        self.log: list[str] = []
        self.stray: list[str] = []

    # -- feeding
    def feed(self, data: bytes) -> None:
        if not data:
            return
        self._buf += data
        start = 0
        while True:
            nl = self._buf.find(b"\n", start)
            if nl < 0:
                break
            self._line(bytes(self._buf[start:nl]).rstrip(b"\r"))
            start = nl + 1
        del self._buf[:start]
        if len(self._buf) > MAX_LINE:
            self.abort()
            raise TransferError(f"expected lines of at most {MAX_LINE} bytes from the collector script, found "
                                f"{len(self._buf)} bytes without a line end")

    def _line(self, line: bytes) -> None:
        if self._file is not None and not line.startswith(b"GAKIT "):
            try:
                chunk = binascii.a2b_base64(line, strict_mode=True)
            except binascii.Error as exc:
                self.abort()
                raise TransferError(f"expected base64 zip data after {self.received} bytes, found a damaged line "
                                    f"({exc}): the transfer was corrupted") from None
            self._file.write(chunk)
            self._sha.update(chunk)
            self.received += len(chunk)
            if self.expected_length is not None and self.received > self.expected_length:
                self.abort()
                raise TransferError(f"received more than the {self.expected_length} bytes the VM announced")
            if self.on_progress:
                self.on_progress(self.received, self.expected_length)
            return
        text = line.decode("utf-8", errors="replace")
        if text.startswith("GAKIT BEGIN"):
            self.begun = True
        elif text.startswith("GAKIT LOG "):
            self.log.append(text[10:])
            if self.on_log:
                self.on_log(text[10:])
        elif text.startswith("GAKIT ZIP "):
            parts = text.split()
            if len(parts) != 4 or not parts[2].isdigit() or len(parts[3]) != 64:
                raise TransferError(f"expected 'GAKIT ZIP <length> <sha256>' from the collector, found {text!r}")
            self.expected_length, self.expected_sha256 = int(parts[2]), parts[3].lower()
            self.target.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.part, "wb")  # noqa: SIM115 - closed in finish/abort
        elif text == "GAKIT END":
            if self._file is None:
                raise TransferError("the collector ended without sending a bundle")
            self._file.close()
            self.ended = True
        elif text.startswith("GAKIT FAIL"):
            self.failure = text[10:].strip()
        elif text.strip():
            self.stray.append(text)

    # -- ending
    def abort(self) -> None:
        """Drop whatever arrived: no partial bundle is ever left behind."""
        if self._file is not None and not self._file.closed:
            self._file.close()
        self._file = None
        self.part.unlink(missing_ok=True)

    def keep_partial(self, reason: str) -> Path | None:
        """Keep what arrived of a transfer cut short as ``<target stem>.partial.zip`` when it is a zip that holds at
        least one whole file (its CRC-32 checked); else drop it (:meth:`abort`). Returns the path kept, or None.
        Never for a transfer that ended (a wrong length or SHA-256 is damage, not a cut)."""
        if self._file is not None and not self._file.closed:
            self._file.close()
        self._file = None
        if self.ended or self.received == 0 or not self.part.exists():
            self.abort()
            return None
        from ..bundle.safezip import SafeZip
        from ..errors import UnsafeArchiveError

        whole = 0
        try:
            with SafeZip(self.part) as z:
                for name in z.names():
                    if getattr(z.members[name], "_cut", False):
                        continue
                    z.read(name)  # reads and checks the CRC-32
                    whole += 1
        except (UnsafeArchiveError, OSError):
            whole = 0
        if not whole:
            self.abort()
            return None
        kept = self.target.with_name(self.target.stem + ".partial.zip")
        os.replace(self.part, kept)
        self.log.append(f"partial bundle kept ({reason}): {kept.name}, {self.received} of "
                        f"{self.expected_length} bytes, {whole} whole file(s)")
        return kept

    def finish(self) -> Path:
        """Check the END line, length and SHA-256, then move the zip into place. Raises on any mismatch."""
        try:
            if self.failure is not None:
                raise RemoteScriptError(f"the collector script failed on the VM: {self.failure}")
            if self._buf.strip():
                raise TransferError(f"the output ended in the middle of a line after {self.received} bytes")
            if not self.ended:
                got = f"{self.received} of {self.expected_length}" if self.expected_length is not None else "no"
                raise TransferError(f"the transfer stopped before the end: {got} bytes of the bundle arrived")
            if self.received != self.expected_length:
                raise TransferError(f"the bundle should be {self.expected_length} bytes, {self.received} arrived")
            digest = self._sha.hexdigest()
            if digest != self.expected_sha256:
                raise TransferError(f"the bundle's SHA-256 is {digest}, the VM announced {self.expected_sha256}: "
                                    "the transfer was corrupted")
        except BaseException:
            self.abort()
            raise
        os.replace(self.part, self.target)
        self._file = None
        return self.target

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()
