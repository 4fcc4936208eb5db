"""Live collection from Azure Windows VMs over WinRM: one verified bundle per VM.

    >>> from kit.collect import collect
    >>> r = collect("10.1.0.4", user="azureadmin")        # password: VMKIT_PASSWORD, keyring, or a prompt
    >>> r.bundle                                            # the unpacked bundle folder; kit.open_bundle(r.bundle)

For many VMs: :func:`collect_many` (bounded concurrency, a progress bar, one VM's failure does not stop the
others, a summary frame). No WinRM path to the VM? Copy ``Collect-GuestAgentKit.ps1`` (``script_path()``) to it
and run it there by hand: it writes the same bundle zip (docs/collect.md).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .api import (
        PER_FILE_BYTES,
        TOTAL_BYTES,
        TRANSPORTS,
        CollectResult,
        ConnectOptions,
        Credential,
        Secret,
        collect,
        collect_many,
        get_credential,
        read_inventory,
        script_path,
        split_host,
        summary,
    )

__all__ = ["PER_FILE_BYTES", "TOTAL_BYTES", "TRANSPORTS", "CollectResult", "ConnectOptions", "Credential",
           "Secret", "collect", "collect_many", "get_credential", "read_inventory", "script_path", "split_host",
           "summary"]


def __getattr__(name: str) -> Any:
    # The API (pywinrm, requests, XML) loads on first use: `vmkit diagnose` never pays for it.
    if name in __all__:
        return getattr(importlib.import_module(".api", __name__), name)
    try:
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
