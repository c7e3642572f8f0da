"""SQL helpers: quoting (the only way identifiers and code constants enter SQL text), and
fetching a result as a DataFrame.

Values from users always travel as DuckDB parameters; these helpers exist for identifiers
(column names of a Parquet file) and for literals that come from code (enumerations).

>>> quote_ident('we"ird')
'"we""ird"'
>>> quote_literal("it's")
"'it''s'"
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas and pyarrow load only when a frame is fetched (not for a load)
    import duckdb
    import pandas as pd


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def literal_list(values: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(quote_literal(v) for v in values) + "]"


_PARAMETER = re.compile(r"\$([a-z_][a-z0-9_]*)")


def used_params(sql: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """The parameters ``sql`` names (DuckDB refuses unused named parameters).

    >>> used_params("select $a + 1", {"a": 1, "b": 2})
    {'a': 1}
    """
    used = set(_PARAMETER.findall(sql))
    return {k: v for k, v in (params or {}).items() if k in used}


def run(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None
        ) -> duckdb.DuckDBPyConnection:
    """Execute ``sql`` with the parameters it names out of ``params``."""
    return con.execute(sql, used_params(sql, params) or None)


_SCRATCH: list[Any] = []  # the process's scratch database, made on first use
_SCRATCH_LOCK = threading.Lock()


@contextmanager
def scratch() -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor of the process's scratch database, for a query over frames of our own (register
    them, query, done) or for parsing: one in-memory DuckDB for the whole process, where a new
    instance per query cost 20-30 ms and 25 MB. A frame registered on the cursor is seen by that
    cursor only, and the cursor is closed after the block. The database reads no file (external
    access off, configuration locked).

    >>> import pandas as pd
    >>> with scratch() as con:
    ...     _ = con.register("frame", pd.DataFrame({"x": [1, 2]}))
    ...     con.execute("select sum(x) from frame").fetchall()
    [(3,)]
    """
    import duckdb

    with _SCRATCH_LOCK:
        if not _SCRATCH:
            con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False,
                                                     "autoload_known_extensions": False})
            con.execute("set enable_external_access = false")
            con.execute("set lock_configuration = true")
            _SCRATCH.append(con)
        cur = _SCRATCH[0].cursor()
    try:
        yield cur
    finally:
        cur.close()


def fetch_frame(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None,
                dtypes: Mapping[str, str] | None = None) -> pd.DataFrame:
    """A query's result as a DataFrame, through Arrow: several times faster than ``.df()``
    for text columns (pandas keeps text in Arrow arrays). Types as ``.df()`` gives them:
    dates as datetime64, integers and truth values with nulls as nullable dtypes, decimals
    and huge integers as float64, maps as dicts.

    ``dtypes`` names the pandas dtype of some columns, made during the conversion (no second
    pass): ``Int64``, ``boolean``, ``bool``, ``int64``, ``float64``, ``str``, ``datetime64[us]``,
    ``object`` for a list column as Python lists, or ``list`` for a list column kept in Arrow
    (an element reads as a Python list; no Python object per row is made).
    """
    con.complete()  # a result left unread by an earlier execute() would block con.sql
    table = con.sql(sql, params=used_params(sql, params) or None).to_arrow_table()
    return arrow_frame(table, dtypes)


def arrow_frame(table: Any, dtypes: Mapping[str, str] | None = None) -> pd.DataFrame:
    """An Arrow table as a DataFrame with the types of ``fetch_frame``.

    The columns pandas converts alike go through one ``to_pandas`` call (per-column Series
    and a DataFrame built from them cost several times more on small results); the few that
    need their own conversion (maps, Python lists, numpy integers and truth values) are put
    in afterwards.
    """
    import pandas as pd
    import pyarrow as pa

    wanted = dtypes or {}
    names = table.column_names
    common: dict[str, Any] = {}  # name -> Arrow column for the shared conversion
    apart: dict[str, Any] = {}  # name -> Series converted on its own
    for name, column in zip(names, table.columns, strict=True):
        kind = column.type
        target = wanted.get(name)
        if target is not None:
            arrow_type = _arrow_targets().get(target)
            if arrow_type is not None:
                common[name] = column.cast(arrow_type)
            elif target == "list" or (target == "str" and pa.types.is_string(kind)):
                common[name] = column
            else:
                apart[name] = _converted(column, target)
            continue
        if pa.types.is_decimal(kind):
            common[name] = column.cast(pa.float64())
        elif pa.types.is_date(kind):
            common[name] = column.cast(pa.timestamp("us"))
        elif pa.types.is_map(kind):  # as dicts, as .df() gives them (Arrow gives pairs)
            apart[name] = pd.Series([None if m is None else dict(m) for m in column.to_pylist()], dtype=object)
        elif kind in _nullable():  # integers and truth values: nullable only when they have nulls
            nullable = _nullable()[kind] if column.null_count else None
            apart[name] = column.to_pandas(types_mapper={kind: nullable}.get if nullable else None)
        elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
            apart[name] = column.to_pandas()
        else:
            common[name] = column
    if common:
        frame = pa.table(list(common.values()), names=list(common)).to_pandas(types_mapper=_common_dtype)
    else:
        frame = pd.DataFrame(index=range(table.num_rows))
    for name, series in apart.items():  # in column order: everything before it is in place
        frame.insert(names.index(name), name, series.set_axis(frame.index))
    return frame


def _common_dtype(kind: Any) -> Any:
    """pandas dtypes of the shared conversion: nullable integers and truth values (typed
    columns only reach it so), lists kept in Arrow."""
    import pandas as pd
    import pyarrow as pa

    if kind == pa.int64():
        return pd.Int64Dtype()
    if kind == pa.bool_():
        return pd.BooleanDtype()
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return pd.ArrowDtype(kind)
    return None


@cache
def _arrow_targets() -> dict[str, Any]:
    """The Arrow type a column is cast to for a pandas dtype the shared conversion makes."""
    import pyarrow as pa

    return {"Int64": pa.int64(), "boolean": pa.bool_(), "float64": pa.float64(),
            "datetime64[us]": pa.timestamp("us")}


def _converted(column: Any, target: str) -> Any:
    """An Arrow column as a pandas Series of the ``target`` dtype."""
    import pandas as pd
    import pyarrow as pa

    if target == "object":  # lists (and anything else) as Python objects
        return pd.Series(column.to_pylist(), dtype=object)
    if target == "list":
        return column.to_pandas(types_mapper=pd.ArrowDtype)
    if target in ("Int64", "boolean"):
        arrow_type = pa.int64() if target == "Int64" else pa.bool_()
        return column.cast(arrow_type).to_pandas(types_mapper={arrow_type: pd.api.types.pandas_dtype(target)}.get)
    if target == "datetime64[us]":
        return column.cast(pa.timestamp("us")).to_pandas()
    if target == "float64":
        return column.cast(pa.float64()).to_pandas()
    if target in ("bool", "int64"):
        return column.to_pandas().astype(target)
    return column.to_pandas().astype(target) if target != "str" else column.to_pandas()


@cache
def _nullable() -> dict:
    """The pandas dtype of an Arrow integer or truth-value column that has nulls."""
    import pandas as pd
    import pyarrow as pa

    return {
        pa.bool_(): pd.BooleanDtype(), pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(),
        pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype(), pa.uint8(): pd.UInt8Dtype(),
        pa.uint16(): pd.UInt16Dtype(), pa.uint32(): pd.UInt32Dtype(), pa.uint64(): pd.UInt64Dtype(),
    }
