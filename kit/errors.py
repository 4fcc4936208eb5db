"""One error hierarchy for everything the kit raises at its boundary.

Every error keeps an optional ``inner`` exception and never carries a secret: messages are built by the
kit from facts it chose to show (file names, line numbers, host names), and :func:`redact` scrubs anything
that looks like a credential from text that came from elsewhere (a remote error, an HTTP body).
"""

from __future__ import annotations

import re

_SECRET_PATTERNS = [
    re.compile(r"(?i)(authorization:\s*)(basic|negotiate|ntlm|kerberos|bearer)\s+[A-Za-z0-9+/=._-]+"),
    re.compile(r"(?i)((?:password|passwd|pwd|secret|token|protectedSettings)\"?\s*[:=]\s*\"?)([^\"\s,;}]+)"),
    re.compile(r"(?i)(sig=)[A-Za-z0-9%+/=]+"),
]


def redact(text: str, *secrets: str | None) -> str:
    """Remove known secrets and credential-shaped substrings from ``text``."""
    for s in secrets:
        if s:
            text = text.replace(s, "********")
    for pat in _SECRET_PATTERNS:
        text = pat.sub(lambda m: m.group(1) + "********", text)
    return text


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
    """Live collection from a VM failed."""


class AuthError(CollectionError):
    """The VM refused the credentials."""


class TransportError(CollectionError):
    """Network or TLS failure talking to the VM."""


class CollectionTimeout(CollectionError):
    """The overall deadline for a collection passed."""


class RemoteScriptError(CollectionError):
    """The collector script failed on the VM; the message holds its decoded error text."""


class CredentialError(CollectionError):
    """No credential could be found without prompting (headless run)."""


class TransferError(CollectionError):
    """The bundle did not arrive whole: cut short, or its length or SHA-256 does not match what the VM announced."""
