"""Reading untrusted zips safely: customer uploads and bundles streamed back from a VM.

Refused, with the member name and the reason: path traversal (``../``, also written with backslashes),
absolute paths (``/x``, ``C:\\x``, ``\\\\server\\share``), symbolic links and other non-regular entries, names
that collide after normalisation (case-insensitively, as on Windows, and a file whose name is also a folder of
another member), too many members, encrypted members, and members whose *actual* decompressed size passes the
per-file or total cap. Sizes are counted while streaming: a zip header's declared size is never trusted, and
reading stops as soon as a cap is passed. The total counts each member once, however often it is re-read
(``open_bundle`` reads a member's head to sniff it, then the whole member to parse it).
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from ..errors import UnsafeArchiveError

MiB = 1024 * 1024
DEFAULT_MAX_TOTAL = 1024 * MiB
DEFAULT_MAX_FILE = 512 * MiB
DEFAULT_MAX_MEMBERS = 100_000
_CHUNK = 1024 * 1024
_WINDOWS_DEVICES = {"con", "prn", "aux", "nul", "conin$", "conout$"} | {f"{d}{i}" for d in ("com", "lpt")
                                                                        for i in range(1, 10)}


def _human(n: int) -> str:
    return f"{n // MiB} MiB" if n >= MiB else f"{n} bytes"


def safe_member_name(name: str) -> str | None:
    """The member's normalised relative path (forward slashes), None for a directory entry.

    Raises :class:`UnsafeArchiveError` for names that could escape the destination. Backslashes (zips made on
    Windows) are separators, so ``..\\..\\x`` is traversal too.
    """
    raw = name.replace("\\", "/")
    if raw.endswith("/"):
        return None
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        # /x, //server/share (written \\\\server\\share), C:/x and the drive-relative C:x
        raise UnsafeArchiveError(f"member {name!r} has an absolute path")
    if "\x00" in raw:
        raise UnsafeArchiveError(f"member {name!r} has a NUL character in its name")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UnsafeArchiveError(f"member {name!r} escapes the bundle folder (contains '..')")
    if any(":" in p for p in parts):
        # C/x:stream or a drive letter further down: an NTFS alternate data stream or a path that Windows would
        # resolve elsewhere when the bundle is unpacked there.
        raise UnsafeArchiveError(f"member {name!r} has a ':' in its name (drive or alternate data stream)")
    for p in parts:
        if p.split(".")[0].rstrip(" ").lower() in _WINDOWS_DEVICES or p.endswith((".", " ")):
            # Windows would open a device (CON, NUL, COM1...) or silently strip the trailing dot/space (and
            # collide with another member) when the bundle is unpacked there.
            raise UnsafeArchiveError(f"member {name!r} has a name Windows cannot store ({p!r})")
    if not parts:
        return None
    return "/".join(parts)


def _check_characters(info: zipfile.ZipInfo) -> None:
    """Refuse a name holding a NUL or another control character. ``zipfile`` cuts a name at its first NUL
    (``orig_filename`` keeps it whole), so ``a.log\\0.exe`` would be listed as ``a.log``; other tools cut or show
    such names differently, and a terminal could be driven by them."""
    raw = info.orig_filename
    for i, ch in enumerate(raw):
        if ord(ch) < 32 or ord(ch) == 127:
            shown = raw.encode("unicode_escape").decode("ascii")  # NUL as \x00, never raw
            raise UnsafeArchiveError(f"member {shown!r} has a control character (U+{ord(ch):04X}) at position {i} "
                                     "of its name; zip tools read such names differently, so the zip is refused")


def _is_link_or_special(info: zipfile.ZipInfo) -> bool:
    mode = info.external_attr >> 16
    if stat.S_IFMT(mode) == 0:
        return False  # no file-type bits (zips made on Windows, or by zipfile.writestr): a regular file
    return stat.S_ISLNK(mode) or not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


class SafeZip:
    """A zip opened for reading with all the checks above. Use as a context manager.

    Member names are normalised (:func:`safe_member_name`); :meth:`names` returns them sorted, and
    :meth:`read` / :meth:`iter_chunks` / :meth:`read_head` take them.
    """

    def __init__(self, path: str | Path, *, max_total_bytes: int = DEFAULT_MAX_TOTAL,
                 max_file_bytes: int = DEFAULT_MAX_FILE, max_members: int = DEFAULT_MAX_MEMBERS) -> None:
        self.path = Path(path)
        self.max_total = max_total_bytes
        self.max_file = max_file_bytes
        try:
            self._zf = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise UnsafeArchiveError(f"{self.path.name}: not a readable zip file ({exc})", inner=exc) from exc
        try:
            self.members = self._check(self._zf.infolist(), max_members)
        except UnsafeArchiveError:
            self._zf.close()
            raise
        #: Actual decompressed bytes seen per member (the most read so far), and their sum.
        self._actual: dict[str, int] = {}
        self._total_read = 0

    def _check(self, infos: list[zipfile.ZipInfo], max_members: int) -> dict[str, zipfile.ZipInfo]:
        if len(infos) > max_members:
            raise UnsafeArchiveError(f"{self.path.name}: {len(infos)} members, more than the limit of {max_members}")
        members: dict[str, zipfile.ZipInfo] = {}
        seen_lower: dict[str, str] = {}
        for info in infos:
            _check_characters(info)
            name = safe_member_name(info.filename)
            if name is None:
                continue
            if _is_link_or_special(info):
                raise UnsafeArchiveError(f"member {info.filename!r} is a link or special file, not a regular file")
            if info.flag_bits & 0x1:
                raise UnsafeArchiveError(f"member {info.filename!r} is encrypted")
            low = name.lower()
            if low in seen_lower:
                raise UnsafeArchiveError(f"member {info.filename!r} has the same name as {seen_lower[low]!r} "
                                         "after normalisation")
            seen_lower[low] = info.filename
            members[name] = info
        folders = {p.lower() for n in members for p in _parents(n)}
        for name, info in members.items():
            if name.lower() in folders:
                raise UnsafeArchiveError(f"member {info.filename!r} is a file and also a folder of other members")
        return members

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._zf.close()

    def names(self) -> list[str]:
        return sorted(self.members)

    def declared_size(self, name: str) -> int:
        """The size the zip's header claims (not trusted for any limit)."""
        return self.members[name].file_size

    def iter_chunks(self, name: str) -> Iterator[bytes]:
        """Stream a member's bytes, enforcing the per-file and total caps on what is actually decompressed."""
        info = self.members[name]
        before = self._actual.get(name, 0)
        n = 0
        try:
            with self._zf.open(info) as fh:
                while True:
                    chunk = fh.read(_CHUNK)
                    if not chunk:
                        break
                    n += len(chunk)
                    if n > self.max_file:
                        raise UnsafeArchiveError(f"member {info.filename!r} expands past the per-file limit of "
                                                 f"{_human(self.max_file)} (zip bomb?)")
                    if self._total_read + max(0, n - before) > self.max_total:
                        raise UnsafeArchiveError(f"{self.path.name}: contents expand past the total limit of "
                                                 f"{_human(self.max_total)} (zip bomb?) while reading member "
                                                 f"{info.filename!r}")
                    yield chunk
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise UnsafeArchiveError(f"member {info.filename!r} is corrupt: {exc}", inner=exc) from exc
        except (NotImplementedError, RuntimeError) as exc:  # unsupported compression method, password needed
            raise UnsafeArchiveError(f"member {info.filename!r} cannot be read: {exc}", inner=exc) from exc
        finally:
            if n > before:
                self._actual[name] = n
                self._total_read += n - before

    def read(self, name: str) -> bytes:
        """A member's bytes. Written chunk by chunk into one growing buffer whose bytes are then handed over
        without a copy (``BytesIO.getvalue``), so a big member costs about its size once, not twice as a list of
        chunks plus their join would."""
        out = io.BytesIO()
        for chunk in self.iter_chunks(name):
            out.write(chunk)
        return out.getvalue()

    def read_head(self, name: str, size: int) -> bytes:
        """At most the first ``size`` bytes of a member (decompresses only about that much)."""
        out = bytearray()
        chunks = self.iter_chunks(name)
        try:
            for chunk in chunks:
                out += chunk
                if len(out) >= size:
                    break
        finally:
            chunks.close()
        return bytes(out[:size])


def _parents(name: str) -> list[str]:
    parts = name.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def extract_zip(zip_path: str | Path, dest_dir: str | Path, *, max_total_bytes: int = DEFAULT_MAX_TOTAL,
                max_file_bytes: int = DEFAULT_MAX_FILE, max_members: int = DEFAULT_MAX_MEMBERS) -> list[str]:
    """Extract ``zip_path`` into ``dest_dir`` (which must not exist yet, or be empty) after checking every member.

    Every member name is checked before anything is written; then members are streamed into a temporary folder
    beside ``dest_dir``, counting actual decompressed bytes, and the folder is renamed to ``dest_dir`` on
    success. A refused or failed zip leaves nothing behind. Returns the extracted relative paths (normalised,
    forward slashes, sorted). Raises :class:`~kit.errors.UnsafeArchiveError` with the member and the reason.
    """
    dest = Path(dest_dir)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UnsafeArchiveError(f"destination {dest} exists and is not an empty folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    try:
        with SafeZip(zip_path, max_total_bytes=max_total_bytes, max_file_bytes=max_file_bytes,
                     max_members=max_members) as z:
            names = z.names()
            root = tmp.resolve()
            for name in names:
                target = tmp.joinpath(*name.split("/"))
                if not str(target.resolve()).startswith(str(root) + os.sep):  # defence in depth
                    raise UnsafeArchiveError(f"member {name!r} escapes the bundle folder")
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "xb") as out:
                    for chunk in z.iter_chunks(name):
                        out.write(chunk)
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes it 0700
        if dest.exists():
            dest.rmdir()
        tmp.rename(dest)
        return names
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
