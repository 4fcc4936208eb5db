"""What the notebooks call first: frames shown whole and readable, and a bundle path found wherever the notebook
runs from. Nothing here runs on import: a notebook calls :func:`setup` explicitly.

    >>> import kit.notebook
    >>> BUNDLE = kit.notebook.setup(BUNDLE)   # display options + the bundle path resolved (or a clear error)
    >>> kit.notebook.show(bundle.routes, "no route table in this bundle", columns=["destination", "gateway"])
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .errors import BundleError

#: Readable tables in Jupyter: long text wraps inside its cell instead of widening the table, left-aligned,
#: and a wide table scrolls inside the output instead of the page.
_CSS = """<style>
.kit-frames table.dataframe td, .jp-RenderedHTMLCommon table.dataframe td, table.dataframe td {
  white-space: pre-wrap; overflow-wrap: break-word; word-break: normal; text-align: left; max-width: 60em;
  vertical-align: top }
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


def _duration(v: pd.Timedelta) -> str:
    """'1 h 30 min', '20 min', '45 s', '2 d 3 h': the two largest units, as an engineer says them."""
    total = int(v.total_seconds())
    sign, total = ("-", -total) if total < 0 else ("", total)
    parts = [(total // 86400, "d"), (total % 86400 // 3600, "h"), (total % 3600 // 60, "min"), (total % 60, "s")]
    shown = [f"{n} {u}" for n, u in parts if n]
    return sign + (" ".join(shown[:2]) if shown else "0 s")


class Shown:
    """A frame as a notebook shows it (:func:`show`): the table, or, when it has no row, one sentence saying why."""

    def __init__(self, frame: pd.DataFrame, empty: str, title: str | None = None, note: str = "") -> None:
        self.frame, self.empty, self.title, self.note = frame, empty, title, note

    def __len__(self) -> int:
        return len(self.frame)

    def _blank_gaps(self) -> pd.DataFrame:
        """A missing value as an empty cell (pandas mixes NaN, <NA> and NaT); a UTC time as 'YYYY-MM-DD HH:MM:SS.fff
        UTC' (pandas writes '+00:00' and six fraction digits)."""
        out = self.frame.astype(object).where(self.frame.notna(), "")
        for c in self.frame.columns:
            col = self.frame[c]
            if isinstance(col.dtype, pd.DatetimeTZDtype) and str(col.dt.tz) == "UTC":
                text = col.dt.strftime("%Y-%m-%d %H:%M:%S.%f").str[:-3] + " UTC"
                out[c] = text.where(col.notna(), "").str.replace(".000 UTC", " UTC", regex=False)
            elif pd.api.types.is_timedelta64_dtype(col):
                out[c] = [_duration(v) if pd.notna(v) else "" for v in col]
        return out

    def _text(self) -> str:
        if self.frame.empty:
            return f"{self.empty} (0 rows)"
        with pd.option_context("display.max_colwidth", None):
            return self._blank_gaps().to_string(index=False)

    def __repr__(self) -> str:
        head = f"{self.title}\n" if self.title else ""
        return head + self._text() + (f"\n{self.note}" if self.note else "")

    def _repr_html_(self) -> str:
        head = f"<h4>{html.escape(self.title)}</h4>" if self.title else ""
        if self.frame.empty:
            body = f"<p class='kit-empty'><em>{html.escape(self.empty)}</em> (0 rows)</p>"
        else:
            with pd.option_context("display.max_colwidth", None):  # text whole, wrapped by setup()'s style
                table = self._blank_gaps().to_html(index=False, justify="left")
            # a long path or URL may break after a slash instead of widening the table past the page
            table = re.sub(r"(?<!<)([/\\])(?!>)", r"\1<wbr>", table)
            body = f"<div class='kit-frames' style='overflow-x:auto'>{table}</div>"
        return head + body + (f"<p><em>{html.escape(self.note)}</em></p>" if self.note else "")


def show(df: pd.DataFrame | None, empty: str, *, columns: Sequence[str] | None = None, title: str | None = None,
         max_rows: int | None = None) -> Shown:
    """``df`` for a notebook cell: the ``columns`` that exist (in that order), counts as integers (a float column
    whose values are all whole numbers, as pandas makes of an integer column with a gap, shows ``3`` not ``3.0``),
    at most ``max_rows`` rows with a note of how many were left out, and, when there is no row, the sentence
    ``empty`` saying why (e.g. "no network finding: the probes and the agent log show no failure") instead of an
    empty table that says nothing."""
    import pandas as pd

    frame = pd.DataFrame() if df is None else df
    note = ""
    if columns is not None:
        missing = [c for c in columns if c not in frame.columns]
        frame = frame[[c for c in columns if c in frame.columns]]
        if missing and not frame.empty:
            note = "not in this bundle's frame: " + ", ".join(missing)
    frame = frame.copy()
    for c in frame.columns:
        col = frame[c]
        if pd.api.types.is_float_dtype(col) and col.notna().any() and (col.dropna() % 1 == 0).all():
            frame[c] = col.astype("Int64")
    if max_rows is not None and len(frame) > max_rows:
        note = "; ".join(filter(None, [note, f"{len(frame) - max_rows} more rows not shown"]))
        frame = frame.head(max_rows)
    return Shown(frame.reset_index(drop=True), empty, title, note)


def verify(before, *, host: str | None = None, after: str | Path | None = None, watch_minutes: float = 0,
           every: float = 10, **connect: object):
    """A notebook's "Fix and verify" step, after the customer changed something: compare ``before`` (the bundle the
    notebook diagnosed) with what is true now.

    * ``host``: probe the VM now over WinRM (:func:`kit.live.connect`; ``connect`` takes its options, e.g.
      ``user=``, ``port=``, ``ca_file=``), with ``watch_minutes`` > 0 watch it first while the change is made (a plot
      redrawn in place; interrupt the kernel to stop early, the rows are kept), then compare with the last probe;
    * ``after``: compare with a later bundle (a folder or zip collected after the change);
    * neither: say what to set, and return None.

    Returns the :class:`kit.comparison.Comparison` (its ``text()`` is printed): resolved, new and remaining findings
    with the changed facts as evidence."""
    from .comparison import compare

    if host:
        from . import live

        with live.connect(host, **connect) as vm:  # type: ignore[arg-type]
            if watch_minutes > 0:
                w = vm.watch(every=every, duration=watch_minutes * 60, on_update=live.notebook_plot())
                print(f"{w.probes} probe(s), stopped: {w.stopped}")
            now = vm.probe().bundle
    elif after:
        now = find_bundle(after)
    else:
        print("To verify a fix: set VERIFY_HOST to the VM's address to probe it now (and VERIFY_WATCH_MINUTES to "
              "watch it while the customer changes it), or VERIFY_AFTER to a bundle collected after the change. "
              "The kit then lists the findings the change resolved, those it introduced, and what changed.")
        return None
    c = compare(before, now)
    print(c.text())
    return c


def compare_earlier(earlier: str | Path | None, bundle):
    """The start notebook's "compare with an earlier bundle": ``earlier`` (a bundle of the same VM from before,
    e.g. the customer's first upload) against ``bundle``; None says what to set and returns None."""
    if not earlier:
        print("To see what changed since an earlier bundle of this VM, set EARLIER to its folder or zip: the kit "
              "lists the findings resolved since then, the new ones and those still there, with what changed.")
        return None
    from .comparison import compare

    c = compare(find_bundle(earlier), bundle)
    print(c.text())
    return c
