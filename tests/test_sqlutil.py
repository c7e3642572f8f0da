"""fetch_frame: the same DataFrame as DuckDB's .df(), through Arrow."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from kam_core.sqlutil import fetch_frame

QUERY = """
select * from (values
    (1, 'a', date '2024-01-02', 1.5, true, [1, 2], ['x', 'y'], 7::bigint, 1.25::decimal(10, 2),
     map(['k'], [2.5]), {'p': 1}),
    (null, null, null, null, null, null, null, null, null, null, null),
    (3, 'ü', date '1999-12-31', -2.0, false, [], [], 9, 0, map(['a', 'b'], [1.0, 2.0]), {'p': 2})
) t(i, s, d, f, b, l, ls, bi, dec, m, st)
"""


@pytest.mark.parametrize("sql", [
    QUERY,
    "select sum(i) as total, count(*) as n from range(10) r(i)",  # a huge integer sum
    "select 1 as a, 'x' as b where false",  # no rows
    "select i::integer as i, i % 2 = 0 as even from range(5) r(i)",  # no nulls: plain dtypes
])
def test_same_frame_as_df(sql: str) -> None:
    con = duckdb.connect()
    expected = con.execute(sql).df()
    got = fetch_frame(con, sql)
    if len(expected):  # (no rows: .df() types text as object, fetch_frame as str)
        assert got.dtypes.to_dict() == expected.dtypes.to_dict()
    assert list(got.columns) == list(expected.columns)
    assert len(got) == len(expected)
    for column in got.columns:
        for a, b in zip(got[column], expected[column], strict=True):
            if hasattr(a, "tolist"):
                a, b = a.tolist(), b.tolist()
            assert (pd.isna(a) and pd.isna(b)) if not isinstance(a, (list, dict)) and pd.isna(b) else a == b


def test_parameters_and_a_result_left_unread() -> None:
    con = duckdb.connect()
    con.execute("select 1").fetchone()  # an unfinished result must not get in the way
    got = fetch_frame(con, "select $x::integer + 1 as y", {"x": 41})
    assert got["y"].tolist() == [42]


def test_scratch_cursors_share_one_database_and_nothing_else() -> None:
    # one in-memory DuckDB per process (a new one per query cost 20-30 ms on the first page)
    import threading

    from kam_core import sqlutil
    from kam_core.sqlutil import scratch

    seen = []

    def query(value: int) -> None:
        with scratch() as con:
            con.register("frame", pd.DataFrame({"x": [value]}))
            seen.append(con.execute("select x from frame").fetchall()[0][0])

    threads = [threading.Thread(target=query, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(seen) == list(range(8))  # each cursor read its own frame
    assert len(sqlutil._SCRATCH) == 1
    with scratch() as con:
        with pytest.raises(duckdb.CatalogException):
            con.execute("select * from frame")  # another cursor's frame is not seen
        with pytest.raises(duckdb.PermissionException):
            con.execute("select * from read_csv('/etc/passwd')")
        with pytest.raises(duckdb.Error):
            con.execute("set enable_external_access = true")
