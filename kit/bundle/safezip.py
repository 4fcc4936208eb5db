"""Reading untrusted zips safely: customer uploads and bundles streamed back from a VM.

Refused, with the member name and the reason: path traversal (``../``, also written with backslashes),
absolute paths (``/x``, ``C:\\x``, ``\\\\server\\share``), symbolic links and other non-regular entries, names
that collide after normalisation, too many members, and members whose *actual* decompressed size passes the
per-file or total cap (counted while streaming: a zip header's declared size is not trusted).
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from ..errors import UnsafeArchiveError

MiB = 1024 * 1024
DEFAULT_MAX_TOTAL = 1024 * MiB
DEFAULT_MAX_FILE = 512 * MiB
DEFAULT_MAX_MEMBERS = 100_000
_CHUNK = 1024 * 1024


def _human(n: int) -> str:
    return f"{n // MiB} MiB" if n >= MiB else f"{n} bytes"


def safe_member_name(name: str) -> str | None:
    """The member's normalised relative path (forward slashes), None for a directory entry.

    Raises :class:`UnsafeArchiveError` for names that could escape the destination.
    """
    raw = name.replace("\\", "/")
    if raw.endswith("/"):
        return None
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":") or raw.startswith("//"):
        raise UnsafeArchiveError(f"member {name!r} has an absolute path")
    parts = [p for p in PurePosixPath(raw).parts if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UnsafeArchiveError(f"member {name!r} escapes the bundle folder (contains '..')")
    if not parts:
        return None
    return "/".join(parts)


def _is_link_or_special(info: zipfile.ZipInfo) -> bool:
    mode = info.external_attr >> 16
    if stat.S_IFMT(mode) == 0:
        return False  # no file-type bits (zips made on Windows, or by zipfile.writestr): a regular file
    return stat.S_ISLNK(mode) or not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


class SafeZip:
    """A zip opened for reading with all the checks above. Use as a context manager."""

    def __init__(self, path: str | Path, *, max_total_bytes: int = DEFAULT_MAX_TOTAL,
                 max_file_bytes: int = DEFAULT_MAX_FILE, max_members: int = DEFAULT_MAX_MEMBERS) -> None:
        self.path = Path(path)
        self.max_total = max_total_bytes
        self.max_file = max_file_bytes
        try:
            self._zf = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise UnsafeArchiveError(f"{self.path.name}: not a readable zip file ({exc})", inner=exc) from exc
        infos = self._zf.infolist()
        if len(infos) > max_members:
            self._zf.close()
            raise UnsafeArchiveError(f"{self.path.name}: {len(infos)} members, more than the limit of {max_members}")
        self.members: dict[str, zipfile.ZipInfo] = {}
        seen_lower: dict[str, str] = {}
        try:
            for info in infos:
                name = safe_member_name(info.filename)
                if name is None:
                    continue
                if _is_link_or_special(info):
                    raise UnsafeArchiveError(f"member {info.filename!r} is a link or special file, not a regular file")
                low = name.lower()
                if low in seen_lower:
                    raise UnsafeArchiveError(f"member {info.filename!r} has the same name as {seen_lower[low]!r} "
                                             "after normalisation")
                seen_lower[low] = info.filename
                self.members[name] = info
        except UnsafeArchiveError:
            self._zf.close()
            raise
        self._total_read = 0

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._zf.close()

    def names(self) -> list[str]:
        return sorted(self.members)

    def iter_chunks(self, name: str) -> Iterator[bytes]:
        """Stream a member's bytes, enforcing the per-file and total caps on what is actually decompressed."""
        info = self.members[name]
        n = 0
        try:
            with self._zf.open(info) as fh:
                while True:
                    chunk = fh.read(_CHUNK)
                    if not chunk:
                        break
                    n += len(chunk)
                    self._total_read += len(chunk)
                    if n > self.max_file:
                        raise UnsafeArchiveError(f"member {info.filename!r} expands past the per-file limit of "
                                                 f"{_human(self.max_file)} (zip bomb?)")
                    if self._total_read > self.max_total:
                        raise UnsafeArchiveError(f"{self.path.name}: contents expand past the total limit of "
                                                 f"{_human(self.max_total)} (zip bomb?)")
                    yield chunk
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise UnsafeArchiveError(f"member {info.filename!r} is corrupt: {exc}", inner=exc) from exc

    def read(self, name: str) -> bytes:
        return b"".join(self.iter_chunks(name))


def extract_zip(zip_path: str | Path, dest_dir: str | Path, *, max_total_bytes: int = DEFAULT_MAX_TOTAL,
                max_file_bytes: int = DEFAULT_MAX_FILE, max_members: int = DEFAULT_MAX_MEMBERS) -> list[str]:
    """Extract ``zip_path`` into ``dest_dir`` (which must not exist yet) after checking every member.

    Extraction happens in a temporary folder beside ``dest_dir`` that is renamed on success, so a refused
    or failed zip leaves nothing behind. Returns the extracted relative paths.
    """
    dest = Path(dest_dir)
    if dest.exists() and any(dest.iterdir()):
        raise UnsafeArchiveError(f"destination {dest} exists and is not empty")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        with SafeZip(zip_path, max_total_bytes=max_total_bytes, max_file_bytes=max_file_bytes,
                     max_members=max_members) as z:
            names = z.names()
            for name in names:
                target = tmp.joinpath(*name.split("/"))
                if not str(target.resolve()).startswith(str(tmp.resolve()) + os.sep):
                    raise UnsafeArchiveError(f"member {name!r} escapes the bundle folder")
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "wb") as out:
                    for chunk in z.iter_chunks(name):
                        out.write(chunk)
        if dest.exists():
            dest.rmdir()
        tmp.rename(dest)
        return names
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
