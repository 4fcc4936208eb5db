"""Derived facts: frames computed from other frames, in one place, once per bundle.

Rules (:mod:`kit.diagnose`), plots, the report, the fleet export and the notebooks read these frames; none of them
computes a derived fact of its own, and none imports another's module. Each derived frame has a schema (documented
in docs/frames.md) and a builder that takes a frame getter, so it can read several frames, other derived frames, and
the replacement frames a test or a what-if run passes to :func:`kit.diagnose.diagnose`.

    >>> bundle.frame("extension_history")      # parsed and derived frames are asked for the same way
    >>> from kit.derive import DERIVED, derive
    >>> derive("keyvault_certificates", bundle.frame)

Modules:

* :mod:`kit.derive.history` - ``extension_history``: extension version changes (auto-upgrades) from the agent log;
* :mod:`kit.derive.operations` - ``extension_operations``: one reconciled row per extension operation (handler
  log, .status files, aggregate-status snapshots, the agent's kill lines), with its budget and outcome;
* :mod:`kit.derive.keyvault` - ``keyvault_certificates``: the Key Vault extension's settings per certificate;
* :mod:`kit.derive.effective` - ``effective_routes``: the route Windows uses for WireServer and IMDS, and whether it
  leaves through the primary NIC;
* :mod:`kit.derive.reachability` - ``reachability``: one verdict per platform endpoint from the VM's probes;
* :mod:`kit.derive.routes` - how Windows picks a route, and which NIC/IP is the primary one;
* :mod:`kit.derive.filters` - row filters shared by derived frames and rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from ..schema import FrameSchema

FrameGetter = Callable[[str], pd.DataFrame]


@dataclass(frozen=True)
class Derivation:
    """How one derived frame is made: its schema, the frames it reads, and the builder."""

    schema: FrameSchema
    inputs: tuple[str, ...]
    build: Callable[[FrameGetter], pd.DataFrame]
    function: str  # the public function a notebook calls directly, for the docs
    #: Built by ``build_at(get, time_reference)`` instead: the frame depends on the collection time too.
    build_at: Callable[[FrameGetter, pd.Timestamp | None], pd.DataFrame] | None = None


def _registry() -> dict[str, Derivation]:
    from .effective import EFFECTIVE_ROUTES, effective_routes
    from .history import EXTENSION_HISTORY, extension_history
    from .keyvault import KEYVAULT_CERTIFICATES, keyvault_certificates
    from .operations import EXTENSION_OPERATIONS, extension_operations
    from .reachability import REACHABILITY, reachability

    return {
        "extension_history": Derivation(EXTENSION_HISTORY, ("agent_log",),
                                        lambda get: extension_history(get("agent_log")),
                                        "kit.derive.history.extension_history"),
        "keyvault_certificates": Derivation(KEYVAULT_CERTIFICATES, ("ext_settings",),
                                            lambda get: keyvault_certificates(get("ext_settings")),
                                            "kit.derive.keyvault.keyvault_certificates"),
        "effective_routes": Derivation(EFFECTIVE_ROUTES, ("routes", "imds_network", "adapters", "ip_addresses"),
                                       effective_routes, "kit.derive.effective.effective_routes"),
        "extension_operations": Derivation(
            EXTENSION_OPERATIONS, ("handler_log", "ext_status", "handler_status", "agent_log"),
            lambda get: extension_operations(get), "kit.derive.operations.extension_operations",
            build_at=lambda get, ref: extension_operations(get, time_reference=ref)),
        "reachability": Derivation(REACHABILITY, ("tcp_probes", "http_probes"),
                                   lambda get: reachability(get("tcp_probes"), get("http_probes")),
                                   "kit.derive.reachability.reachability"),
    }


#: Every derived frame by name.
DERIVED: dict[str, Derivation] = _registry()


_OWNER = object()


def derive(name: str, get: FrameGetter, *, time_reference: object = _OWNER) -> pd.DataFrame:
    """The derived frame ``name`` built from the frames ``get`` returns (``bundle.frame`` or a rule context's).

    A frame that depends on the collection time (``Derivation.build_at``) is judged at ``time_reference``; left out,
    that is the ``time_reference`` of the object ``get`` belongs to (``bundle.frame`` -> the bundle's), else None
    (not known). The frame records it in ``df.attrs["time_reference"]``.

    Raises KeyError for a name that is not a derived frame."""
    d = DERIVED[name]
    if d.build_at is None:
        return d.build(get)
    if time_reference is _OWNER:
        time_reference = getattr(getattr(get, "__self__", None), "time_reference", None)
    df = d.build_at(get, time_reference)  # type: ignore[arg-type]
    df.attrs["time_reference"] = time_reference
    return df


__all__ = ["DERIVED", "Derivation", "FrameGetter", "derive"]
