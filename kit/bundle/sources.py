"""Where a bundle's bytes come from: a folder on disk or a zip read in place (never extracted).

Both sources list regular files only, with bundle-relative forward-slash paths as stored, and read them with
the same limits. A folder's symbolic links, junctions and special files (FIFOs, devices) are listed as
*refused* rather than followed: a customer's folder must not make the kit read outside it, or block forever on
a pipe.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..errors import UnsafeArchiveError
from .safezip import SafeZip

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Entry:
    """One file of a source: its path as stored (forward slashes), its size in bytes (a zip's declared size
    until the member has been read) and, for a zip member, the modification time its header records (local time
    of the machine that zipped it, no zone: ``(year, month, day, hour, minute, second)``)."""

    path: str
    size: int
    mtime: tuple[int, int, int, int, int, int] | None = None


class Source(Protocol):
    refused: list[tuple[str, str]]
    #: (path, what is wrong) for damage found while listing (a zip cut short: :attr:`SafeZip.damage`)
    damage: list[tuple[str, str]]

    def list(self) -> list[Entry]: ...
    def read(self, path: str, limit: int) -> bytes: ...
    def read_head(self, path: str, size: int) -> bytes: ...
    def sha256(self, path: str, limit: int) -> tuple[str, int]: ...
    def close(self) -> None: ...


class TooLarge(Exception):
    """A file turned out larger than the per-file limit while it was being read."""


class FolderSource:
    """Files under a folder; links and special files are refused (see :attr:`refused`)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.refused: list[tuple[str, str]] = []
        self.damage: list[tuple[str, str]] = []

    def list(self) -> list[Entry]:
        out: list[Entry] = []
        # os.path on the strings os.walk gives (pathlib objects per file cost more than the walk itself)
        skip = len(os.path.join(os.fspath(self.root), ""))

        def rel_of(path: str) -> str:
            return path[skip:].replace(os.sep, "/")

        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            for d in list(dirnames):
                p = os.path.join(dirpath, d)
                if os.path.islink(p) or _is_junction(p):
                    dirnames.remove(d)
                    self.refused.append((rel_of(p), "a link to a folder: not followed"))
            for f in filenames:
                p = os.path.join(dirpath, f)
                rel = rel_of(p)
                st = os.lstat(p)
                if stat.S_ISLNK(st.st_mode):
                    self.refused.append((rel, "a symbolic link: not followed"))
                elif not stat.S_ISREG(st.st_mode):
                    self.refused.append((rel, "not a regular file (pipe, device or socket): not read"))
                else:
                    out.append(Entry(rel, st.st_size))
        return sorted(out, key=lambda e: e.path)

    def _open(self, path: str):
        return open(self.root.joinpath(*path.split("/")), "rb")

    def read(self, path: str, limit: int) -> bytes:
        with self._open(path) as fh:
            data = fh.read(limit + 1)  # a file still being written may have grown since it was listed
        if len(data) > limit:
            raise TooLarge(path)
        return data

    def read_head(self, path: str, size: int) -> bytes:
        with self._open(path) as fh:
            return fh.read(size)

    def sha256(self, path: str, limit: int) -> tuple[str, int]:
        h, n = hashlib.sha256(), 0
        with self._open(path) as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
                n += len(chunk)
        return h.hexdigest(), n

    def close(self) -> None:
        pass


def _is_junction(p: str | Path) -> bool:  # NTFS junctions are not symlinks to os.path.islink before Python 3.12
    isjunction = getattr(os.path, "isjunction", None)
    return bool(isjunction and isjunction(p))


class ZipSource:
    """Members of a zip, read in place through :class:`~kit.bundle.safezip.SafeZip` (all its checks apply)."""

    def __init__(self, path: Path, *, max_total_bytes: int, max_file_bytes: int) -> None:
        self.zip = SafeZip(path, max_total_bytes=max_total_bytes, max_file_bytes=max_file_bytes)
        self.refused: list[tuple[str, str]] = []
        self.damage = self.zip.damage

    def list(self) -> list[Entry]:
        return [Entry(n, self.zip.declared_size(n), tuple(self.zip.members[n].date_time))  # type: ignore[arg-type]
                for n in self.zip.names()]

    def read(self, path: str, limit: int) -> bytes:
        try:
            return self.zip.read(path)
        except UnsafeArchiveError as exc:
            if "per-file limit" in str(exc):
                raise TooLarge(path) from exc
            raise

    def read_head(self, path: str, size: int) -> bytes:
        return self.zip.read_head(path, size)

    def sha256(self, path: str, limit: int) -> tuple[str, int]:
        h, n = hashlib.sha256(), 0
        try:
            for chunk in self.zip.iter_chunks(path):
                h.update(chunk)
                n += len(chunk)
        except UnsafeArchiveError as exc:
            if "per-file limit" in str(exc):
                raise TooLarge(path) from exc
            raise
        return h.hexdigest(), n

    def close(self) -> None:
        self.zip.close()
