"""What the notebooks call first: frames shown whole and readable, and a bundle path found wherever the notebook
runs from. Nothing here runs on import: a notebook calls :func:`setup` explicitly.

    >>> import kit.notebook
    >>> BUNDLE = kit.notebook.setup(BUNDLE)   # display options + the bundle path resolved (or a clear error)
"""

from __future__ import annotations

from pathlib import Path

from .errors import BundleError

#: Readable tables in Jupyter: long text wraps inside its cell instead of widening the table, left-aligned,
#: and a wide table scrolls inside the output instead of the page.
_CSS = """<style>
.kit-frames table.dataframe td, .jp-RenderedHTMLCommon table.dataframe td, table.dataframe td {
  white-space: pre-wrap; word-break: break-word; text-align: left; max-width: 60em; vertical-align: top }
table.dataframe th { text-align: left }
</style>"""

ROOT = Path(__file__).resolve().parent.parent


def setup(bundle: str | Path | None = None) -> Path | None:
    """Show text columns whole (pandas cuts them at 50 characters: every summary and evidence line became ``...``),
    wrap long cells, and return ``bundle`` resolved (see :func:`find_bundle`); None when no bundle is given."""
    import pandas as pd

    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.max_columns", 60)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_rows", 200)
    try:
        from IPython.display import HTML, display

        display(HTML(_CSS))
    except ImportError:  # pragma: no cover - outside IPython the options are enough
        pass
    return None if bundle in (None, "") else find_bundle(bundle)


def find_bundle(path: str | Path) -> Path:
    """``path`` as given, else relative to the repository's ``notebooks/`` folder or its root (papermill runs a
    notebook from wherever it was started, and the notebooks' defaults are written relative to ``notebooks/``).
    Raises :class:`~kit.errors.BundleError` naming every place it looked."""
    p = Path(path).expanduser()
    tried = [p.resolve()]
    if p.exists():
        return p
    if not p.is_absolute():
        for base in (ROOT / "notebooks", ROOT):
            candidate = (base / p).resolve()
            tried.append(candidate)
            if candidate.exists():
                return candidate
        if p.parts and p.parts[0] == "..":  # "../sample_logs/x" written for notebooks/, run from the root
            candidate = (ROOT / Path(*p.parts[1:])).resolve()
            tried.append(candidate)
            if candidate.exists():
                return candidate
    raise BundleError(f"bundle {str(path)!r} not found; looked in: " + ", ".join(str(t) for t in dict.fromkeys(tried)))
