"""The Excel download written by XlsxWriter reads back with the cells pandas wrote with openpyxl
before: formulas neutralised, "– (needs revenue.csv)" markers, lists flattened, dates as dates,
numbers as numbers, nulls blank, the column names in row 1, no widths set.

The expected cells below are what the earlier writer (pandas' ``to_excel`` with openpyxl) gave
for this frame, read back with openpyxl; the one change on purpose is that a list held as a
numpy array (as DuckDB hands a list column to pandas: ``account_metrics.reasons``) is flattened
too, where the earlier writer wrote numpy's text of it (``['a' 'b']``).
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from kam_core.export import flatten_lists, mark_missing, neutralise, to_csv_bytes, to_excel_bytes

D = dt.datetime


def every_kind() -> tuple[pd.DataFrame, dict[str, str]]:
    frame = pd.DataFrame({
        "name": pd.Series(['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "Müller & Söhne <GmbH>", None], dtype="str"),
        "reasons": pd.Series([["health 38 of 100 is below 40", "=1+2"], ("one",), [], None,
                              np.array(["a", "b"], dtype=object), ["x"]], dtype=object),
        "ttm_revenue": [1234567.89, None, -5.0, 0.1 + 0.2, 123456789012345.67, float("nan")],
        "open_deals": pd.Series([3, None, 9_007_199_254_740_993, -2, 0, 10**15], dtype="Int64"),
        "is_borderline": [True, False, True, False, True, False],
        "latest_rating_date": pd.to_datetime(["2026-10-04", None, "2026-01-02 03:04:05", "1900-01-15",
                                              "2026-12-31 23:59:59", "2000-02-29"], format="ISO8601"),
        "key_account_since": [dt.date(2015, 3, 1), None, dt.date(2026, 10, 31), dt.date(1999, 12, 31),
                              dt.date(2026, 1, 1), dt.date(2020, 2, 29)],
        "mixed": ["text", 42, 2.5, None, True, "-minus"],
        "=evil": ["x", "y", "z", "w", "v", "u"],
    })
    return frame, {"ttm_revenue": "needs revenue.csv", "open_deals": "needs opportunities.csv"}


G, DATE, STAMP = "General", "YYYY-MM-DD", "YYYY-MM-DD HH:MM:SS"
NEEDS_REVENUE = ("– (needs revenue.csv)", "s", G)

# (value, data type, number format) per cell as openpyxl reads them back; None: a blank cell
EXPECTED = [
    [("name", "s", G), ("reasons", "s", G), ("ttm_revenue", "s", G), ("open_deals", "s", G),
     ("is_borderline", "s", G), ("latest_rating_date", "s", G), ("key_account_since", "s", G), ("mixed", "s", G),
     ("'=evil", "s", G)],
    [("'=HYPERLINK(\"http://x\")", "s", G), ("health 38 of 100 is below 40; =1+2", "s", G), (1234567.89, "n", G),
     (3, "n", G), (True, "b", G), (D(2026, 10, 4), "d", STAMP), (D(2015, 3, 1), "d", DATE), ("text", "s", G),
     ("x", "s", G)],
    [("'+1", "s", G), ("one", "s", G), NEEDS_REVENUE, ("– (needs opportunities.csv)", "s", G), (False, "b", G),
     None, None, (42, "n", G), ("y", "s", G)],
    [("'-2", "s", G), None, (-5, "n", G), (9007199254740992, "n", G), (True, "b", G),
     (D(2026, 1, 2, 3, 4, 5), "d", STAMP), (D(2026, 10, 31), "d", DATE), (2.5, "n", G), ("z", "s", G)],
    [("'@SUM(A1)", "s", G), None, (0.3, "n", G), (-2, "n", G), (False, "b", G), (D(1900, 1, 15), "d", STAMP),
     (D(1999, 12, 31), "d", DATE), None, ("w", "s", G)],
    [("Müller & Söhne <GmbH>", "s", G), ("a; b", "s", G), (123456789012345.7, "n", G), (0, "n", G),
     (True, "b", G), (D(2026, 12, 31, 23, 59, 59), "d", STAMP), (D(2026, 1, 1), "d", DATE), (True, "b", G),
     ("v", "s", G)],
    [None, ("x", "s", G), NEEDS_REVENUE, (1000000000000000, "n", G), (False, "b", G), (D(2000, 2, 29), "d", STAMP),
     (D(2020, 2, 29), "d", DATE), ("'-minus", "s", G), ("u", "s", G)],
]


def read_back(data: bytes) -> tuple[openpyxl.worksheet.worksheet.Worksheet, list[list[tuple | None]]]:
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    rows = [[None if c.value is None else (c.value, c.data_type, c.number_format) for c in row]
            for row in sheet.iter_rows(min_row=1, max_row=sheet.max_row, max_col=sheet.max_column)]
    return sheet, rows


def test_excel_reads_back_the_same_cells_as_before_for_every_kind_of_value() -> None:
    frame, missing = every_kind()
    sheet, rows = read_back(to_excel_bytes(frame, "account_metrics", missing))
    assert sheet.title == "account_metrics"
    assert rows == EXPECTED
    assert not any(c.data_type == "f" for row in sheet.iter_rows() for c in row)  # no formula anywhere
    assert dict(sheet.column_dimensions) == {} and sheet.freeze_panes is None  # no widths set, as before
    assert not any(c.font.b for c in sheet[1])  # plain column names, as before


def test_excel_reads_back_as_the_earlier_writer_wrote_the_same_prepared_frame() -> None:
    """Cell for cell against pandas' openpyxl writer (the earlier code) on the same flattened,
    marked and neutralised frame: values and number formats; a null the earlier writer wrote
    as an empty text is a blank cell now (both read back as None)."""
    frame, missing = every_kind()
    safe = neutralise(mark_missing(flatten_lists(frame), missing))
    earlier = io.BytesIO()
    with pd.ExcelWriter(earlier, engine="openpyxl") as writer:
        safe.to_excel(writer, sheet_name="data", index=False)

    def values(data: bytes) -> list[list[tuple | None]]:
        return [[None if cell is None else (cell[0], cell[2]) for cell in row] for row in read_back(data)[1]]

    assert values(to_excel_bytes(frame, missing=missing)) == values(earlier.getvalue())


def test_long_and_control_character_text_is_written_not_refused() -> None:
    """A control character (from a pasted note) is escaped as Excel writes it (the earlier
    writer refused the whole download); a text longer than a cell holds is cut at 32,767
    characters, as before; a leading CR still gets the apostrophe."""
    frame = pd.DataFrame({"notes": ["bell\x07here", "x" * 40_000, "\r=1+2"]})
    data = to_excel_bytes(frame)
    _, rows = read_back(data)
    assert rows[1][0][0] == "bell_x0007_here"  # Excel shows the character itself
    assert len(rows[2][0][0]) == 32_767
    assert rows[3][0][0].startswith("'")
    strings = zipfile.ZipFile(io.BytesIO(data)).read("xl/sharedStrings.xml").decode()
    assert "\x07" not in strings and "'_x000D_=1+2" in strings


def test_numpy_lists_are_flattened_in_csv_too() -> None:
    frame = pd.DataFrame({"reasons": pd.Series([np.array(["health 38 of 100 is below 40", "=1+2"]), None],
                                               dtype=object)})
    text = to_csv_bytes(frame).decode("utf-8-sig")
    assert text.splitlines()[1] == "health 38 of 100 is below 40; =1+2"


def test_an_empty_frame_and_duplicate_column_names() -> None:
    _, rows = read_back(to_excel_bytes(pd.DataFrame({"a": pd.Series([], dtype="str")})))
    assert rows == [[("a", "s", G)]]
    frame = pd.DataFrame([["=x", 1.5]], columns=["n", "n"])
    _, rows = read_back(to_excel_bytes(frame))
    assert rows == [[("n", "s", G), ("n", "s", G)], [("'=x", "s", G), (1.5, "n", G)]]


@pytest.fixture(scope="module")
def demo_account_metrics(tmp_path_factory) -> pd.DataFrame:
    """The demo's account_metrics as Explore downloads it (through ``browse``)."""
    from kam_core.appdata import DEMO_DIR
    from kam_core.asof import resolve_as_of
    from kam_core.dataset import open_dataset
    from kam_core.explore import ACCOUNT_METRICS, account_metrics_frame, browse
    from kam_core.ingest.loader import load
    from kam_core.metrics.overview import account_overview, base_metrics
    from kam_core.settings import Settings

    db: Path = tmp_path_factory.mktemp("db") / "kam.duckdb"
    load([DEMO_DIR], db)
    con = open_dataset(db)
    try:
        settings = Settings()
        base = base_metrics(con, settings, resolve_as_of(con, settings))
        views = {ACCOUNT_METRICS: account_metrics_frame(account_overview(con, settings, base))}
        return browse(con, ACCOUNT_METRICS, views=views, limit=10_000).frame
    finally:
        con.close()


def test_the_demos_account_metrics_read_back_as_the_earlier_writer_wrote_them(demo_account_metrics) -> None:
    frame = demo_account_metrics
    assert isinstance(frame["reasons"].dropna().iloc[0], np.ndarray)  # as DuckDB hands a list over
    safe = neutralise(mark_missing(flatten_lists(frame), {}))
    earlier = io.BytesIO()
    with pd.ExcelWriter(earlier, engine="openpyxl") as writer:
        safe.to_excel(writer, sheet_name="account_metrics", index=False)
    ours = read_back(to_excel_bytes(frame, "account_metrics"))[1]
    theirs = read_back(earlier.getvalue())[1]
    assert [[c and (c[0], c[2]) for c in row] for row in ours] == [[c and (c[0], c[2]) for c in row] for row in theirs]
    reasons = [row[list(frame.columns).index("reasons")] for row in ours[1:]]
    assert any(r and "; " in r[0] for r in reasons) and not any(r and r[0].startswith("[") for r in reasons)
