"""Typed, documented frame schemas.

Each frame the kit produces has one :class:`FrameSchema`: its columns, their pandas dtypes and a sentence
about each. Schemas are plain data so that importing the kit stays fast; :meth:`FrameSchema.validate`
builds a `pandera <https://pandera.readthedocs.io>`_ schema from the same data on demand (tests and
``vmkit`` developers use it), and ``docs/frames.md`` is generated from it (``python -m kit.docs``).

Dtype words used in schemas:

=====================  ==================================================================
``datetime``           ``datetime64[ns, UTC]`` - always timezone-aware UTC
``str``                pandas' string dtype (Arrow-backed), missing values are NA
``category``           pandas categorical
``level``              categorical of log levels in severity order (see :data:`LEVELS`)
``Int64``              nullable integer
``int64``              integer, never missing
``float64``            float (NaN for missing)
``boolean``            nullable boolean
``bool``               boolean, never missing
``object``             Python objects (used only for nested evidence lists in findings)
=====================  ==================================================================
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from .errors import SchemaError

#: Log levels in increasing severity. ``UNKNOWN`` marks a record whose level could not be read. A level
#: tag the kit has never seen is kept (appended as an extra category), never dropped.
LEVELS: tuple[str, ...] = ("TRACE", "VERBOSE", "DEBUG", "INFO", "HEART", "WARN", "ERROR", "FATAL", "UNKNOWN")

_PANDAS_DTYPE = {
    "datetime": "datetime64[ns, UTC]",
    "str": "str",
    "category": "category",
    "level": "category",
    "Int64": "Int64",
    "int64": "int64",
    "float64": "float64",
    "boolean": "boolean",
    "bool": "bool",
    "object": "object",
}


@dataclass(frozen=True)
class Col:
    """One column: name, dtype word (see module doc), description, and whether it may be missing."""

    name: str
    dtype: str
    description: str
    nullable: bool = True

    def __post_init__(self) -> None:
        if self.dtype not in _PANDAS_DTYPE:
            raise ValueError(f"column {self.name!r}: unknown dtype word {self.dtype!r}")


#: Provenance columns every frame carries, so a finding can cite the exact place.
SOURCE = Col("source", "str", "Bundle-relative path of the file the row came from (forward slashes).", False)
LINE = Col("line", "Int64", "1-based line number in `source` where the row starts (NA for rows from JSON "
           "or XML documents that have no meaningful line).")


def level_dtype(extra: Iterable[str] = ()) -> pd.CategoricalDtype:
    """The ordered level categorical, with any unexpected tags appended after ``UNKNOWN``."""
    return _cat_dtype((*LEVELS, *sorted({e for e in extra if e not in LEVELS})), True)[0]


@functools.lru_cache(maxsize=1024)
def _cat_dtype(categories: tuple[str, ...], ordered: bool) -> tuple[pd.CategoricalDtype, dict[str, int]]:
    """A categorical dtype and its code for each category, built once per distinct set (building a dtype checks
    its categories through an Index: ~0.15 ms, more than the rest of a small column's work). Dtypes are
    immutable, so sharing one between frames is safe."""
    # categories as the str dtype even when there are none, as ``astype("str").astype("category")`` gives
    cats = pd.Index(list(categories), dtype="str")
    return pd.CategoricalDtype(cats, ordered=ordered), {c: i for i, c in enumerate(categories)}


def categorical(values: Sequence[str | None], dtype: pd.CategoricalDtype | None = None) -> pd.Categorical:
    """The categorical ``pd.Series(values).astype("str").astype("category")`` gives (categories: the distinct
    values, sorted, str dtype even when there are none), or ``pd.Categorical(values, dtype)`` (a value outside its
    categories becomes NA), for strings and None, without pandas' inference: on the few dozen rows of most frames
    here that is ~50x cheaper."""
    if dtype is None:
        cats = tuple(sorted({v for v in values if v is not None}))
        dt, code = _cat_dtype(cats, False)
    else:
        dt, code = _cat_dtype(tuple(dtype.categories), bool(dtype.ordered))
    codes = np.fromiter((-1 if v is None else code.get(v, -1) for v in values), np.int32, len(values))
    return pd.Categorical.from_codes(codes, dtype=dt, validate=False)


@dataclass(frozen=True)
class FrameSchema:
    """A frame's name, purpose and columns (in order)."""

    name: str
    description: str
    columns: tuple[Col, ...]
    notes: str = ""
    index: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"schema {self.name}: duplicate column names")

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def col(self, name: str) -> Col:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}; columns: {', '.join(self.names)}")

    # -- building frames -------------------------------------------------------------------------
    def empty(self) -> pd.DataFrame:
        """A frame with no rows and the right columns and dtypes."""
        cached = _EMPTY.get(id(self))
        if cached is None or cached[0] is not self:
            cached = (self, pd.DataFrame({c.name: _fast_column([], c) for c in self.columns}, copy=False))
            _EMPTY[id(self)] = cached
        return cached[1].copy(deep=False)  # no rows: nothing a caller could change in place is shared

    def from_records(self, records: Iterable[Mapping[str, object]], *,
                     categories: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
        """Build a typed frame from dicts; missing keys become NA. Unknown keys are an error. ``categories`` gives
        the full, ordered category list of some category columns (a value outside it becomes NA), as
        ``df[name].cat.set_categories(categories[name])`` after the build would, without rebuilding the column."""
        rows = list(records)
        if not rows and not categories:
            return self.empty()
        known = set(self.names)
        for i, r in enumerate(rows):
            extra = set(r) - known
            if extra:
                raise SchemaError(f"{self.name}: record {i} has unknown columns {sorted(extra)}")
        data: dict[str, object] = {}
        lost: list[str] = []
        for c in self.columns:
            values = [r.get(c.name) for r in rows]
            if categories and c.name in categories:
                data[c.name] = _fixed_categories(values, c, categories[c.name])
                continue
            try:
                data[c.name] = _fast_column(values, c)
            except (TypeError, ValueError, OverflowError) as exc:
                if c.dtype not in _LENIENT:
                    raise SchemaError(f"{self.name}.{c.name}: cannot cast to {c.dtype}: {exc}") from exc
                data[c.name], note = _lenient_column(values, c, self.name)
                lost.append(note)
        df = self.assemble(list(data.values()))
        if lost:  # the rows are kept, the values a column cannot hold are missing; the bundle reports these
            df.attrs[LOST_VALUES] = lost
        return df

    def coerce(self, df: pd.DataFrame) -> pd.DataFrame:
        """Return ``df`` with exactly the schema's columns, in order, cast to their dtypes."""
        missing = [c for c in self.names if c not in df.columns]
        if missing:
            raise SchemaError(f"{self.name}: missing columns {missing}")
        extra = [c for c in df.columns if c not in self.names]
        if extra:
            raise SchemaError(f"{self.name}: unexpected columns {extra}")
        out = {}
        for c in self.columns:
            s = df[c.name]
            if _dtype_matches(s.dtype, c) and c.dtype != "level":
                out[c.name] = s  # already right: no copy, no re-cast
                continue
            try:
                out[c.name] = _cast(s, c)
            except (TypeError, ValueError) as exc:
                raise SchemaError(f"{self.name}.{c.name}: cannot cast to {c.dtype}: {exc}") from exc
        res = pd.DataFrame(out, index=df.index, copy=False)
        if isinstance(df.index, pd.RangeIndex) and df.index.start == 0 and df.index.step == 1:
            return res
        return res.reset_index(drop=True)

    def concat(self, frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
        """``self.coerce(pd.concat(frames, ignore_index=True))``: the frames one below the other, typed.

        When every frame already has the schema's columns and dtypes (what a parser's frames have once the bundle
        checked them) the columns are joined array by array: ``pd.concat`` and ``coerce`` of a few frames of a few
        dozen rows cost ~0.8 ms, mostly per-column Series and block bookkeeping, this ~0.2 ms. Categorical columns
        whose categories differ between frames get the categories ``coerce`` gives them (the values present,
        sorted; log levels first for a ``level`` column), as ``pd.concat`` turns them into plain strings first.
        """
        columns = self._concat_columns(frames)
        if columns is None:
            return self.coerce(pd.concat(frames, ignore_index=True))
        return self.assemble(columns)

    def assemble(self, columns: Sequence) -> pd.DataFrame:
        """``pd.DataFrame(dict(zip(self.names, columns)))`` for new column arrays, one per schema column, in order,
        all as long (arrays nothing else holds: the frame takes them as they are, no copy).

        NumPy numbers and booleans and pandas extension arrays go to pandas' array constructor with the schema's
        column index built once: the dict constructor checks and wraps each array again and infers the column
        labels' dtype, ~0.1 ms a frame, about what the rest of building a small frame costs. Anything else (a
        Series, an object array) goes the dict way."""
        arrays = [_array_of(c) for c in columns]
        n = len(arrays[0]) if arrays else 0
        build = getattr(pd.DataFrame, "_from_arrays", None)
        if build is not None and len(arrays) == len(self.columns) and all(
                len(a) == n and ((isinstance(a, np.ndarray) and a.ndim == 1 and a.dtype.kind in "biuf")
                                 or isinstance(a, pd.api.extensions.ExtensionArray)) for a in arrays):
            return build(arrays, columns=self._column_index, index=pd.RangeIndex(n), verify_integrity=False)
        return pd.DataFrame(dict(zip(self.names, columns, strict=True)), copy=False)

    @functools.cached_property
    def _column_index(self) -> pd.Index:
        return pd.Index(self.names)

    def _concat_columns(self, frames: Sequence[pd.DataFrame]) -> list | None:
        """The joined columns of :meth:`concat`, or None when some frame is not in the schema's shape (then
        ``pd.concat`` and :meth:`coerce` decide)."""
        if not frames or any(f.columns.tolist() != self.names for f in frames):
            return None
        parts = [column_arrays(f) for f in frames]
        out = []
        for i, c in enumerate(self.columns):
            arrays = [p[i] for p in parts]
            first = arrays[0].dtype
            if not all(_dtype_matches(a.dtype, c) for a in arrays):
                return None
            if all(a.dtype == first for a in arrays):
                out.append(np.concatenate(arrays) if isinstance(arrays[0], np.ndarray)
                           else type(arrays[0])._concat_same_type(arrays))
            elif c.dtype in ("category", "level") and all(_str_categories(a) for a in arrays):
                values = [v if isinstance(v, str) else None for a in arrays for v in a.tolist()]
                dtype = level_dtype(v for v in values if v is not None) if c.dtype == "level" else None
                out.append(categorical(values, dtype))
            else:
                return None
        return out

    def coerce_lenient(self, df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
        """:meth:`coerce`, except that a value a column cannot take (a time outside pandas' 1677-2262 range, a
        number too big for Int64) becomes missing instead of failing the whole frame. Returns the frame and one
        sentence per column that lost values (what, how many)."""
        try:
            return self.coerce(df), []
        except SchemaError:
            pass
        notes: list[str] = []
        fixed = {}
        for c in self.columns:
            if c.name not in df.columns:
                continue
            s = df[c.name]
            try:
                _cast(s, c)
                fixed[c.name] = s
                continue
            except (TypeError, ValueError, OverflowError):
                pass
            if c.dtype == "datetime":
                t = lenient_datetime(s)
            elif c.dtype in ("Int64", "int64", "float64"):
                t = pd.to_numeric(s, errors="coerce")
                if c.dtype != "float64":
                    t = t.where(t.abs() < 2**63).astype("float64")
            else:
                t = s.astype("str")
            lost = int((t.isna() & s.notna()).sum())
            notes.append(f"{lost} value(s) in {self.name}.{c.name} could not be read as {c.dtype} (e.g. "
                         f"{str(s[t.isna() & s.notna()].iloc[0])[:60]!r}): kept the rows, those values unknown")
            fixed[c.name] = t
        return self.coerce(pd.DataFrame(fixed, index=df.index)[[c for c in df.columns if c in fixed]]), notes

    # -- checking ---------------------------------------------------------------------------------
    def check_dtypes(self, df: pd.DataFrame) -> list[str]:
        """Cheap structural check without pandera: returns a list of problems (empty when fine)."""
        problems = []
        if df.columns.tolist() != self.names:  # tolist: iterating a str Index goes through Arrow, 2x slower
            problems.append(f"{self.name}: columns {list(df.columns)} != schema {self.names}")
            return problems
        for c, arr in zip(self.columns, column_arrays(df), strict=True):  # arrays: no Series per column
            if not _dtype_matches(arr.dtype, c):
                problems.append(f"{self.name}.{c.name}: dtype {arr.dtype} != {c.dtype}")
            if not c.nullable and len(df) and _has_na(arr):
                problems.append(f"{self.name}.{c.name}: has missing values but is not nullable")
        return problems

    def to_pandera(self):  # pragma: no cover - exercised in tests where pandera is installed
        import pandera.pandas as pa

        cols = {}
        for c in self.columns:
            dtype = None if c.dtype in ("category", "level", "str") else _PANDAS_DTYPE[c.dtype]
            cols[c.name] = pa.Column(dtype, nullable=c.nullable, description=c.description,
                                     checks=[_dtype_check(c)])
        return pa.DataFrameSchema(cols, strict=True, ordered=True, name=self.name)

    def validate(self, df: pd.DataFrame) -> pd.DataFrame:
        """Validate with pandera (lazy: all problems reported at once). Raises :class:`SchemaError`."""
        import pandera.errors

        try:
            return self.to_pandera().validate(df, lazy=True)
        except pandera.errors.SchemaErrors as exc:
            raise SchemaError(f"{self.name} does not match its schema:\n{exc.failure_cases}") from exc

    # -- documenting ------------------------------------------------------------------------------
    def to_markdown(self) -> str:
        lines = [f"### `{self.name}`", "", self.description, ""]
        if self.notes:
            lines += [self.notes, ""]
        lines += ["| column | dtype | nullable | description |", "|---|---|---|---|"]
        for c in self.columns:
            dt = _PANDAS_DTYPE[c.dtype] if c.dtype != "level" else "category (ordered levels)"
            lines.append(f"| `{c.name}` | `{dt}` | {'yes' if c.nullable else 'no'} | {c.description} |")
        return "\n".join(lines) + "\n"


_EMPTY: dict[int, tuple[FrameSchema, pd.DataFrame]] = {}


def _fast_column(values: list, c: Col):
    """A typed column straight from Python values, same result as ``_cast(pd.Series(values), c)``.

    The common shapes (strings or None; ints or None; floats; bools or None; Timestamps or None) skip pandas'
    object inference, which costs 0.1-0.3 ms per column (most frames here have tens of rows, so that overhead was
    most of the time spent building them); anything else goes the general way.
    """
    kind = c.dtype
    if kind == "str" and all(v is None or type(v) is str for v in values):
        return str_array(values)
    if kind == "category" and all(v is None or type(v) is str for v in values):
        return categorical(values)
    if kind == "level" and all(v is None or type(v) is str for v in values):
        return categorical(values, level_dtype(v for v in values if v is not None))
    if kind == "int64" and all(type(v) is int for v in values):
        return np.array(values, dtype=np.int64)  # NumPy's own array: what pd.array wraps (and ~20x cheaper)
    if kind == "Int64" and all(v is None or type(v) is int for v in values):
        try:
            data = np.fromiter((0 if v is None else v for v in values), np.int64, len(values))
        except OverflowError:
            pass  # beyond int64: let pandas say so
        else:
            return pd.arrays.IntegerArray(data, np.fromiter((v is None for v in values), bool, len(values)))
    if kind == "float64" and all(v is None or type(v) in (float, int) for v in values):
        return np.array([float("nan") if v is None else float(v) for v in values], dtype=np.float64)
    if kind == "bool" and all(type(v) is bool for v in values):
        return np.array(values, dtype=bool)
    if kind == "boolean" and all(v is None or type(v) is bool for v in values):
        return pd.arrays.BooleanArray(np.fromiter((v is True for v in values), bool, len(values)),
                                      np.fromiter((v is None for v in values), bool, len(values)))
    if kind == "datetime" and all(v is None or v is pd.NaT or type(v) is pd.Timestamp for v in values):
        try:  # Timestamp.value is nanoseconds since the epoch in UTC (naive stamps: their wall time, as to_datetime)
            ns = np.fromiter((_NAT if v is None or v is pd.NaT else v.value for v in values), np.int64, len(values))
        except OverflowError:
            pass  # outside datetime64[ns]: let pandas say so
        else:
            return pd.array(ns.view("M8[ns]")).tz_localize("UTC")
    return _cast(pd.Series(values, dtype=object if kind in ("str", "category", "level") else None), c)


_NAT = np.iinfo(np.int64).min
_STR = pd.array([], dtype="str").dtype


def str_array(values: Sequence[str | None] | pa.Array | pa.ChunkedArray) -> pd.api.extensions.ExtensionArray:
    """``pd.array(values, dtype="str")`` for strings and None, or an Arrow string array, straight through Arrow
    (3-7x cheaper)."""
    if _STR.storage == "pyarrow":
        if isinstance(values, (pa.Array, pa.ChunkedArray)):
            arr = values if values.type == pa.large_string() else values.cast(pa.large_string())
        else:
            arr = pa.array(values, type=pa.large_string())
        return pd.arrays.ArrowStringArray(arr, dtype=_STR)
    return pd.array(values, dtype="str")  # pragma: no cover - pandas without pyarrow


#: ``DataFrame.attrs`` key under which :meth:`FrameSchema.from_records` lists values it could not hold.
LOST_VALUES = "kit_lost_values"
_LENIENT = ("datetime", "Int64", "int64", "float64")


def lenient_datetime(s: pd.Series) -> pd.Series:
    """Times as UTC nanoseconds; a value that is not a time, or lies outside 1677-2262, becomes NaT."""
    col = pd.to_datetime(s, utc=True, errors="coerce", format="mixed")
    lo, hi = pd.Timestamp.min.tz_localize("UTC"), pd.Timestamp.max.tz_localize("UTC")
    return col.where((col >= lo) & (col <= hi)).astype("datetime64[ns, UTC]")


def _lenient_column(values: list, c: Col, frame: str):
    """A column for values some of which its dtype cannot hold (a time outside 1677-2262, an integer past int64):
    those become missing. Returns (column, what was lost)."""
    s = pd.Series(values, dtype="object")
    if c.dtype == "datetime":
        col = lenient_datetime(s)
    else:
        num = pd.to_numeric(s, errors="coerce")
        num = num.where(num.abs() < 2**63)
        col = num.astype("float64") if c.dtype == "float64" else num.astype("Int64")
    bad = col.isna() & s.notna()
    example = str(s[bad].iloc[0])[:60] if bad.any() else ""
    return col, (f"{int(bad.sum())} value(s) of {frame}.{c.name} could not be held as {c.dtype} (e.g. {example!r}): "
                 "the rows are kept, those values are unknown")


def _cast(s: pd.Series, c: Col) -> pd.Series:
    if c.dtype == "datetime":
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            return s.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
        try:
            return pd.to_datetime(s, utc=True, errors="raise").astype("datetime64[ns, UTC]")
        except ValueError:  # ISO 8601 texts with and without fractions: pandas infers one format from the first
            return pd.to_datetime(s, utc=True, errors="raise", format="ISO8601").astype("datetime64[ns, UTC]")
    if c.dtype == "level":
        if isinstance(s.dtype, pd.CategoricalDtype) and _starts_with_levels(s.dtype):
            return s
        vals = s.astype("str")
        return vals.astype(level_dtype(vals.dropna().unique()))
    if c.dtype == "category":
        if isinstance(s.dtype, pd.CategoricalDtype):
            return s
        values = [v if isinstance(v, str) else None for v in s.astype("str").tolist()]
        return pd.Series(categorical(values), index=s.index, name=s.name)
    if c.dtype == "str":
        return s.astype("str") if s.dtype != "str" else s
    if c.dtype == "bool" and s.dtype != bool:
        return s.astype("boolean").astype(bool)
    return s.astype(_PANDAS_DTYPE[c.dtype])


@functools.lru_cache(maxsize=256)
def _starts_with_levels(dtype: pd.CategoricalDtype) -> bool:
    return list(dtype.categories[: len(LEVELS)]) == list(LEVELS)


def _has_na(arr) -> bool:
    """Whether a column's array holds a missing value (the array's own test: a Series' isna costs 10x more; an
    Arrow string column's null count, kept by Arrow, another 10x less)."""
    if isinstance(arr, pd.arrays.ArrowStringArray):
        return pa.array(arr).null_count > 0
    return bool(np.asarray(pd.isna(arr) if isinstance(arr, np.ndarray) else arr.isna()).any())


def column_arrays(df: pd.DataFrame) -> list:
    """The frame's columns as arrays, in order: a NumPy array for a NumPy dtype, else the extension array (what
    ``df[c].array`` holds). Through pandas' own column iterator when it has one: ``df[c]`` builds a Series (~10 us)
    per column, which on the few dozen rows of most frames here is most of the cost of checking or joining them."""
    it = getattr(df, "_iter_column_arrays", None)
    if it is not None:
        return list(it())
    arrays = [df.iloc[:, i].array for i in range(df.shape[1])]  # pragma: no cover - pandas without the iterator
    return [a.to_numpy() if isinstance(a, pd.arrays.NumpyExtensionArray) else a for a in arrays]


def _fixed_categories(values: list, c: Col, categories: Sequence[str]):
    """A category column of ``values`` whose categories are ``categories`` (values outside them become NA)."""
    if c.dtype != "category":
        raise SchemaError(f"{c.name}: categories given for a {c.dtype} column")
    if all(v is None or type(v) is str for v in values) and all(type(v) is str for v in categories):
        return categorical(values, _cat_dtype(tuple(categories), False)[0])
    return pd.Series(_fast_column(values, c)).cat.set_categories(list(categories)).array


def _array_of(column):
    """The array behind a column (a Series' array; NumPy's own array for a NumPy dtype)."""
    arr = column.array if isinstance(column, pd.Series) else column
    return arr.to_numpy() if isinstance(arr, pd.arrays.NumpyExtensionArray) else arr


def _str_categories(arr) -> bool:
    """Whether ``arr`` is a categorical whose categories are all strings."""
    return isinstance(arr.dtype, pd.CategoricalDtype) and all(isinstance(v, str) for v in arr.dtype.categories)


def _dtype_matches(got, c: Col) -> bool:
    if c.dtype == "datetime":
        return isinstance(got, pd.DatetimeTZDtype) and str(got.tz) == "UTC"
    if c.dtype in ("category", "level"):
        ok = isinstance(got, pd.CategoricalDtype)
        if ok and c.dtype == "level":
            ok = got.ordered and _starts_with_levels(got)
        return ok
    if c.dtype == "str":
        return isinstance(got, pd.StringDtype)
    return str(got) == _PANDAS_DTYPE[c.dtype]


def _dtype_check(c: Col):  # pragma: no cover - tests only
    import pandera.pandas as pa

    return pa.Check(lambda s: _dtype_matches(s.dtype, c), element_wise=False,
                    error=f"dtype must be {c.dtype}")
