"""Credentials for WinRM: an environment variable, then the keyring, then a prompt (only when someone can answer).

Never put a password in a notebook cell, a command line or a papermill parameter. Set ``VMKIT_PASSWORD``
(CI secrets, a ``.env`` you do not commit), or store it once in the OS keyring::

    python -c "import keyring, getpass; keyring.set_password('guestagent-kit', 'azureadmin', getpass.getpass())"

:class:`Secret` hides the value from ``repr``/``str``/f-strings, so a displayed object never shows it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from ..errors import CredentialError

KEYRING_SERVICE = "guestagent-kit"
ENV_USER = "VMKIT_USER"
ENV_PASSWORD = "VMKIT_PASSWORD"


class Secret:
    """A string that does not show itself. ``reveal()`` returns it, for the transport only."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self):  # pragma: no cover - refuse to be pickled into a notebook or a file
        raise TypeError("a Secret cannot be pickled")


@dataclass(frozen=True)
class Credential:
    """A user name and its password (masked in every representation)."""

    user: str
    password: Secret
    source: str  # "environment", "keyring", "prompt" or "argument"

    def __repr__(self) -> str:
        return f"Credential(user={self.user!r}, password=Secret('********'), source={self.source!r})"


def _interactive() -> bool:
    """True when a person can answer a prompt: a terminal, or a Jupyter frontend that accepts input."""
    try:
        from IPython import get_ipython  # type: ignore[import-not-found]

        ip = get_ipython()
    except ImportError:  # pragma: no cover - IPython is optional
        ip = None
    if ip is not None and getattr(ip, "kernel", None) is not None:
        return bool(getattr(ip.kernel, "_allow_stdin", False))
    return bool(sys.stdin is not None and sys.stdin.isatty())


def _from_keyring(service: str, names: list[str]) -> tuple[str, str] | None:
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError:  # pragma: no cover - keyring is a dependency
        return None
    for name in names:
        try:
            value = keyring.get_password(service, name)
        except (KeyringError, RuntimeError):  # no backend on a headless box
            return None
        if value:
            return name, value
    return None


def get_credential(host: str, user: str | None = None, *, interactive: bool | None = None,
                   password: str | Secret | None = None) -> Credential:
    """Find the credential for ``host``.

    Order: ``password`` given by the caller (already a Secret from elsewhere); ``VMKIT_PASSWORD`` (user from
    ``user`` or ``VMKIT_USER``); the keyring (service ``guestagent-kit``, key ``user@host`` then ``user``); a
    prompt, only when ``interactive`` (default: a terminal or a Jupyter frontend that takes input). A headless
    run without a credential gets a :class:`~kit.errors.CredentialError` saying where to put one.
    """
    user = user or os.environ.get(ENV_USER)
    if password is not None:
        if not user:
            raise CredentialError(f"a password was given for {host} but no user name (--user or {ENV_USER})")
        return Credential(user, password if isinstance(password, Secret) else Secret(password), "argument")
    env_pw = os.environ.get(ENV_PASSWORD)
    if env_pw:
        if not user:
            raise CredentialError(f"{ENV_PASSWORD} is set but no user name was given (--user or {ENV_USER})")
        return Credential(user, Secret(env_pw), "environment")
    if user:
        found = _from_keyring(KEYRING_SERVICE, [f"{user}@{host}", user])
        if found:
            return Credential(user, Secret(found[1]), "keyring")
    if interactive is None:
        interactive = _interactive()
    if not interactive:
        who = user or f"<user> (--user or {ENV_USER})"
        raise CredentialError(
            f"no credential for {host}: set {ENV_PASSWORD} (and {ENV_USER}), or store it in the keyring with "
            f"keyring.set_password('{KEYRING_SERVICE}', '{who}', ...); not prompting in a non-interactive run")
    import getpass

    if not user:
        user = input(f"User for {host}: ").strip()
        if not user:
            raise CredentialError(f"no user name given for {host}")
    try:
        value = getpass.getpass(f"Password for {user} on {host}: ")
    except Exception as exc:  # e.g. IPython's StdinNotImplementedError under papermill
        raise CredentialError(f"could not prompt for the password of {user} on {host} "
                              f"({type(exc).__name__}); set {ENV_PASSWORD} or use the keyring") from None
    if not value:
        raise CredentialError(f"an empty password was given for {user} on {host}")
    return Credential(user, Secret(value), "prompt")
