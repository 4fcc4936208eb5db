"""guestagent-kit: troubleshoot the Azure Windows VM Agent and VM extensions from a log bundle.

    >>> import kit
    >>> b = kit.open_bundle("sample_logs/healthy")      # a folder, a .zip, or a customer's loose files
    >>> b.agent_log.head()                              # every artifact is a typed DataFrame
    >>> kit.diagnose(b)                                 # findings with codes, evidence and fixes
    >>> kit.compare("before.zip", "after.zip")          # what a change resolved, introduced, and changed
"""

from __future__ import annotations

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .bundle import Bundle, open_bundle
    from .comparison import compare


def __getattr__(name: str) -> Any:
    # Imported on first use so that `vmkit --help` and `import kit` stay fast.
    if name in ("open_bundle", "Bundle"):
        from . import bundle

        return getattr(bundle, name)
    if name == "compare":
        from .comparison import compare

        return compare
    if name == "diagnose":
        import importlib

        # A callable module: kit.diagnose(bundle) and kit.diagnose.network both work.
        return importlib.import_module(".diagnose", __name__)
    raise AttributeError(f"module 'kit' has no attribute {name!r}")


__all__ = ["Bundle", "__version__", "compare", "diagnose", "open_bundle"]
