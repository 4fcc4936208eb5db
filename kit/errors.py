"""One error hierarchy for everything the kit raises at its boundary.

Every error keeps an optional ``inner`` exception and never carries a secret: messages are built by the
kit from facts it chose to show (file names, line numbers, host names), and :func:`redact` scrubs anything
that looks like a credential from text that came from elsewhere (a remote error, an HTTP body).
"""

from __future__ import annotations

import errno as _errno
from pathlib import Path


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with the given ``secrets`` (e.g. the password in use) and every credential-shaped substring masked.

    One masking scheme for the whole kit: the known values become :data:`kit.redact.MASK`, then
    :func:`kit.redact.redact_text` masks what its rules recognise (``password=...``, ``-Password ...``,
    ``Authorization: Negotiate ...``, ``sig=``, JWTs, private keys...). Ordinary words (``the token expired``,
    ``Secret: the key was missing``) stay.
    """
    from .redact import MASK, redact_text  # numpy/pandas: loaded only when an error is being worded

    for s in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(s, MASK)
    return redact_text(text)


class KitError(Exception):
    """Base of every error the kit raises on purpose."""

    def __init__(self, message: str, *, inner: BaseException | None = None) -> None:
        super().__init__(message)
        self.inner = inner


class BundleError(KitError):
    """A bundle (folder or zip) could not be opened at all."""


class NotABundle(BundleError):
    """The path opened, but no file in it is recognised as any agent artifact: it is not a bundle."""


class UnsafeArchiveError(BundleError):
    """A zip was refused: path traversal, absolute path, link, or too large when unpacked (zip bomb)."""


class ParseError(KitError):
    """An artifact could not be parsed; carries the file and line when known."""

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None,
                 inner: BaseException | None = None) -> None:
        where = source or "<input>"
        if line is not None:
            where += f", line {line}"
        super().__init__(f"{where}: {message}", inner=inner)
        self.source = source
        self.line = line


class UnknownFormat(ParseError):
    """No parser recognised the content of a file."""


class SchemaError(KitError):
    """A frame does not match its documented schema."""


class CollectionError(KitError):
    """Live collection from a VM failed. ``kind`` is its documented error kind (docs/collect.md, "Failures")."""

    kind = "error"

    def __init__(self, message: str, *, inner: BaseException | None = None, kind: str | None = None) -> None:
        super().__init__(message, inner=inner)
        if kind:
            self.kind = kind


class ConfigError(CollectionError):
    """The options cannot work (unknown transport, Basic over plain HTTP, CredSSP without HTTPS) or an optional
    package the chosen authentication needs is not installed."""

    kind = "config"


class AuthError(CollectionError):
    """The VM refused the credentials."""

    kind = "auth"


class TransportError(CollectionError):
    """Network or TLS failure talking to the VM (``kind``: ``tls``, ``refused`` or ``network``)."""

    kind = "network"


class EncryptionError(TransportError):
    """WinRM message encryption over HTTP could not be used: the peer answered in plain text, or refused encrypted
    messages. Nothing is sent or accepted unencrypted instead."""

    kind = "encryption"


class ProtocolError(CollectionError):
    """The peer answered, but not as WS-Management does: an HTML page (a proxy, a web server), XML cut short, XML
    that is not SOAP, or a SOAP answer without what the protocol requires (a ShellId, a CommandId, an ExitCode)."""

    kind = "protocol"


class CollectionTimeout(CollectionError):
    """The overall deadline for a collection passed."""

    kind = "timeout"


class RemoteScriptError(CollectionError):
    """The collector script failed on the VM; the message holds its decoded error text."""

    kind = "script"


class CredentialError(CollectionError):
    """No credential could be found without prompting (headless run)."""

    kind = "credentials"


class TransferError(CollectionError):
    """The bundle did not arrive whole: cut short, or its length or SHA-256 does not match what the VM announced."""

    kind = "transfer"


#: errno -> (error kind, what it means for the output folder). Kinds are documented in docs/collect.md.
_LOCAL_KINDS = {
    _errno.ENOSPC: ("disk-full", "the disk is full"),
    _errno.EDQUOT: ("quota", "the disk quota of this user is exhausted"),
    _errno.EROFS: ("read-only", "the file system is read-only"),
    _errno.EACCES: ("permission", "permission denied"),
    _errno.EPERM: ("permission", "operation not permitted"),
    _errno.ENOTDIR: ("not-a-folder", "a part of the path is a file, not a folder"),
    _errno.EEXIST: ("not-a-folder", "a file of that name is in the way of the folder"),
    _errno.EFBIG: ("disk-full", "the file is larger than this process or file system may write"),
}


class OutputError(CollectionError):
    """The bundle could not be written on this machine. ``kind`` says why (``disk-full``, ``quota``, ``read-only``,
    ``permission``, ``not-a-folder``, or ``local`` for any other OS error) and ``path`` where."""

    kind = "local"

    def __init__(self, message: str, *, path: str | Path | None = None, inner: BaseException | None = None,
                 kind: str | None = None) -> None:
        super().__init__(message, inner=inner, kind=kind)
        self.path = str(path) if path is not None else None

    @classmethod
    def from_os_error(cls, exc: OSError, path: str | Path, doing: str) -> OutputError:
        """``exc`` (raised while ``doing`` something with ``path``) as an OutputError naming the path; the OS's
        own wording is kept in brackets (it holds no secret: a local path and an errno text)."""
        where = Path(exc.filename) if isinstance(exc.filename, str) and exc.filename else Path(path)
        kind, meaning = _LOCAL_KINDS.get(exc.errno or -1, ("local", exc.strerror or type(exc).__name__))
        if isinstance(exc, FileExistsError | NotADirectoryError) and kind not in ("not-a-folder",):
            kind, meaning = "not-a-folder", "a file of that name is in the way of the folder"
        return cls(f"could not {doing} {where}: {meaning} ({exc.strerror or exc})", path=where, kind=kind,
                   inner=None)


class CollectionInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) stopped a collection: the command on the VM was signalled and its shell deleted (best effort,
    bounded), and what was received was removed or kept as a partial bundle (``left``: the paths kept, if any).

    A :class:`KeyboardInterrupt`, not a :class:`KitError`, on purpose: ``except Exception`` must not swallow the
    engineer's Ctrl-C. ``results`` holds the per-VM results of :func:`kit.collect.collect_many` (the VMs that were
    still running have ``error_kind == "interrupted"``).
    """

    kind = "interrupted"

    def __init__(self, message: str, *, left: list[Path] | None = None, results: list | None = None) -> None:
        super().__init__(message)
        self.left = list(left or [])
        self.results = list(results or [])
