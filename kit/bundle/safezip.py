"""Reading untrusted zips safely: customer uploads and bundles streamed back from a VM.

Refused, with the member name and the reason: path traversal (``../``, also written with backslashes),
absolute paths (``/x``, ``C:\\x``, ``\\\\server\\share``), symbolic links and other non-regular entries, names
that collide after normalisation (case-insensitively, as on Windows, and a file whose name is also a folder of
another member), too many members, encrypted members, and members whose *actual* decompressed size passes the
per-file or total cap. Sizes are counted while streaming: a zip header's declared size is never trusted, and
reading stops as soon as a cap is passed. The total counts each member once, however often it is re-read
(``open_bundle`` reads a member's head to sniff it, then the whole member to parse it).

A zip whose central directory (the index at its end) is missing - a download or a copy cut short, the usual
damage of a customer upload - is not refused when it starts with a member: its members are found one after the
other from their local headers (PKWARE's APPNOTE.TXT, section 4.3.7 "Local file header", 4.3.9 "Data descriptor"),
the same checks apply to their names, every complete member is read and checked against its CRC-32, and the member
the file ends inside is read as far as it goes. :attr:`SafeZip.damage` says what happened, per member.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import struct
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
        #: (member or the zip's own name, what is wrong) for a zip without its central directory (see the module
        #: doc): the zip as a whole, each member cut short, and what could not be recovered; empty for a sound zip.
        self.damage: list[tuple[str, str]] = []
        self._zf: zipfile.ZipFile | None = None
        self._raw = None
        try:
            self._zf = zipfile.ZipFile(self.path)
            infos = self._zf.infolist()
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            infos = self._salvage(exc, max_members)
        try:
            self.members = self._check(infos, max_members)
        except UnsafeArchiveError:
            self.close()
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
        if self._zf is not None:
            self._zf.close()
        if self._raw is not None:
            self._raw.close()

    def _salvage(self, exc: Exception, max_members: int) -> list[zipfile.ZipInfo]:
        """The members of a zip without a usable central directory, from their local headers; re-raises ``exc``
        (as :class:`UnsafeArchiveError`) when the file does not start with one."""
        refusal = UnsafeArchiveError(f"{self.path.name}: not a readable zip file ({exc})", inner=exc)
        if isinstance(exc, OSError) or not isinstance(exc, zipfile.BadZipFile):
            raise refusal from exc
        try:
            raw = open(self.path, "rb")  # noqa: SIM115 - kept open for reading, closed by close()
        except OSError as exc2:
            raise refusal from exc2
        try:
            infos, notes = _local_members(raw, os.fstat(raw.fileno()).st_size, max_members, self.max_file)
        except BaseException:
            raw.close()
            raise
        if not infos:
            raw.close()
            raise refusal from exc
        self._raw = raw
        size = os.fstat(raw.fileno()).st_size
        self.damage.append((self.path.name, f"expected a zip with its central directory (the index at its end), "
                                            f"found none in its {size} bytes: the zip was cut short or damaged; "
                                            f"{len(infos)} file(s) recovered from their local headers, in order"))
        self.damage += notes
        return infos

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
            with (self._zf.open(info) if self._zf is not None else _LocalMember(self._raw, info)) as fh:
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


class _LocalInfo(zipfile.ZipInfo):
    """A member found from its local header: where its data starts, whether the file ends inside it, and whether
    its end cannot be found (sizes after the data, not deflated)."""

    __slots__ = ("_cut", "_data_offset", "_unreadable")

    def __init__(self, filename: str) -> None:
        super().__init__(filename)
        self._data_offset = 0
        self._cut = False
        self._unreadable = False


_LOCAL = b"PK\x03\x04"
_DESCRIPTOR = b"PK\x07\x08"
_CENTRAL = b"PK\x01\x02"


def _local_members(raw: io.BufferedReader, size: int, max_members: int,
                   max_file: int) -> tuple[list[_LocalInfo], list[tuple[str, str]]]:
    """Walk the local headers from offset 0 (APPNOTE.TXT 4.3.7): each member's name, method, sizes and where its
    data starts; a member whose data runs past the end of the file is marked ``cut``. A member written with a data
    descriptor (bit 3: sizes after the data) is measured by inflating it (deflate only). Stops at the central
    directory, at anything that is not a local header, or at the end of the file."""
    infos: list[_LocalInfo] = []
    notes: list[tuple[str, str]] = []
    pos = 0
    while pos + 30 <= size and len(infos) <= max_members:
        raw.seek(pos)
        head = raw.read(30)
        if head[:4] != _LOCAL:
            if head[:4] != _CENTRAL and infos:
                notes.append((infos[-1].filename, f"expected another local header or the central directory after "
                                                  f"this member, found other bytes at offset {pos}; what follows "
                                                  "is not read"))
            break
        (_, _, flags, method, mtime, mdate, crc, csize, usize, nlen, elen) = struct.unpack("<4sHHHHHIIIHH", head)
        name_b = raw.read(nlen)
        extra = raw.read(elen)
        if len(name_b) < nlen or len(extra) < elen:
            notes.append((f"offset {pos}", "the zip ends inside a member's header: that member is lost"))
            break
        if csize == 0xFFFFFFFF or usize == 0xFFFFFFFF:  # zip64: the sizes are in the extra field (id 1)
            usize, csize = _zip64_sizes(extra, usize, csize)
        info = _LocalInfo(name_b.decode("utf-8" if flags & 0x800 else "cp437", "replace"))
        info.flag_bits, info.compress_type, info.CRC = flags, method, crc
        info.compress_size, info.file_size = csize, usize
        info.date_time = _dos_time(mdate, mtime)
        info.header_offset = pos
        data = pos + 30 + nlen + elen
        info._data_offset = data
        if flags & 0x8:  # sizes follow the data
            end, corrupt = _inflated_end(raw, data, max_file) if method == zipfile.ZIP_DEFLATED else (None, False)
            nxt_head = _next_header(raw, data, size) if corrupt else None
            if nxt_head is not None:  # damaged data: this member is lost; the next header is where the zip goes on
                info._unreadable = True
                info.compress_size = nxt_head - data
                infos.append(info)
                notes.append((info.filename, "expected deflated data, found it damaged; the zip has no directory to "
                                             "say where it ends, so the next member is found by its header "
                                             "signature: this file is lost"))
                pos = nxt_head
                continue
            if end is None:
                info._cut = data >= size or method == zipfile.ZIP_DEFLATED
                info.compress_size = size - data
                infos.append(info)
                if method != zipfile.ZIP_DEFLATED:
                    notes.append((info.filename, f"expected sizes in the local header, found them after the data "
                                                 f"(compression method {method}): its end cannot be found without "
                                                 "the central directory; it and what follows are not read"))
                    info._unreadable = True
                break
            info.compress_size = end - data
            raw.seek(end)
            desc = raw.read(24)
            skip = 16 if desc[:4] == _DESCRIPTOR else 12
            if len(desc) >= skip:
                info.CRC = struct.unpack("<I", desc[skip - 12: skip - 8])[0]
                info.file_size = struct.unpack("<I", desc[skip - 4: skip])[0]
            nxt = end + skip
            if desc[skip: skip + 4] not in (_LOCAL, _CENTRAL) and desc[skip + 8: skip + 12] in (_LOCAL, _CENTRAL):
                nxt += 8  # zip64 descriptor: 8-byte sizes
            infos.append(info)
            pos = nxt
            continue
        if data + csize > size:
            info._cut = True
        infos.append(info)
        pos = data + csize
    for info in infos:
        if info._cut and not info._unreadable:
            notes.append((info.filename, f"expected {info.file_size or 'its'} bytes, found the zip ending inside "
                                         "this file: it is cut short; only what is there is read"))
    return infos, notes


def _zip64_sizes(extra: bytes, usize: int, csize: int) -> tuple[int, int]:
    i = 0
    while i + 4 <= len(extra):
        hid, hlen = struct.unpack("<HH", extra[i: i + 4])
        body = extra[i + 4: i + 4 + hlen]
        if hid == 1:
            vals = [struct.unpack("<Q", body[j: j + 8])[0] for j in range(0, len(body) - 7, 8)]
            if usize == 0xFFFFFFFF and vals:
                usize = vals.pop(0)
            if csize == 0xFFFFFFFF and vals:
                csize = vals.pop(0)
            break
        i += 4 + hlen
    return usize, csize


def _dos_time(d: int, t: int) -> tuple[int, int, int, int, int, int]:
    return ((d >> 9) + 1980, max(1, (d >> 5) & 0xF), max(1, d & 0x1F), t >> 11, (t >> 5) & 0x3F, (t & 0x1F) * 2)


def _inflated_end(raw: io.BufferedReader, start: int, max_file: int) -> tuple[int | None, bool]:
    """(where a deflated stream that starts at ``start`` ends, whether it is damaged): the end is None when the
    file ends first, the stream is damaged, or it inflates past ``max_file`` (the output is counted, not kept)."""
    d = zlib.decompressobj(-15)
    raw.seek(start)
    fed = 0
    try:
        while not d.eof:
            chunk = raw.read(_CHUNK)
            if not chunk:
                return None, False
            fed += len(chunk)
            out = d.decompress(chunk, _CHUNK)
            total = len(out)
            while d.unconsumed_tail and not d.eof:
                out = d.decompress(d.unconsumed_tail, _CHUNK)
                total += len(out)
                if total > max_file:
                    return None, False
    except zlib.error:
        return None, True
    return start + fed - len(d.unused_data), False


def _next_header(raw: io.BufferedReader, start: int, size: int) -> int | None:
    """The offset of the next plausible local header after ``start`` (its signature, a method the kit reads, a
    name of 1-1024 printable ASCII characters), or None; looked for in the next 64 MiB only."""
    raw.seek(start)
    buf = raw.read(min(size - start, 64 * _CHUNK))
    i = 0
    while (i := buf.find(_LOCAL, i + 1)) >= 0:
        head = buf[i: i + 30]
        if len(head) < 30:
            return None
        method, nlen = struct.unpack("<H", head[8:10])[0], struct.unpack("<H", head[26:28])[0]
        name = buf[i + 30: i + 30 + nlen]
        if method in (0, 8) and 0 < nlen <= 1024 and len(name) == nlen and name.isascii() and all(
                32 <= c < 127 for c in name):
            return start + i
    return None


class _LocalMember(io.RawIOBase):
    """A member found from its local header, read as ``ZipFile.open`` would: inflated (or stored), its CRC-32
    checked at its end; a member cut short ends where the file ends, without a CRC check."""

    def __init__(self, raw: io.BufferedReader | None, info: zipfile.ZipInfo) -> None:
        if raw is None or not isinstance(info, _LocalInfo):
            raise zipfile.BadZipFile("the zip is closed")
        if info._unreadable:
            raise zipfile.BadZipFile("its end cannot be found without the central directory")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise NotImplementedError(f"compression method {info.compress_type} is not read without the zip's "
                                      "central directory")
        self._raw, self._info = raw, info
        self._pos = info._data_offset
        self._left = info.compress_size
        self._d = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
        self._crc = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        while not self._done:
            want = _CHUNK if n < 0 else max(n, 1)
            self._raw.seek(self._pos)
            chunk = self._raw.read(min(want, self._left)) if self._left > 0 else b""
            self._pos += len(chunk)
            self._left -= len(chunk)
            if self._d is not None:
                out = self._d.decompress(chunk) if chunk else self._d.flush()
            else:
                out = chunk
            if not chunk or self._left <= 0 or (self._d is not None and self._d.eof):
                if chunk and self._d is not None and not self._d.eof and self._left <= 0:
                    out += self._d.flush()
                self._done = True
            self._crc = zlib.crc32(out, self._crc)
            if self._done and not self._info._cut and self._crc != self._info.CRC:
                raise zipfile.BadZipFile(f"Bad CRC-32 for file {self._info.filename!r}")
            if out:
                return out
        return b""


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
