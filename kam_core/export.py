"""Downloads: CSV and Excel bytes, with cells neutralised against formula injection.

A cell text beginning with ``=``, ``+``, ``-`` or ``@`` (also after a tab, carriage return or
line feed) would be run as a formula by a spreadsheet; it is prefixed with an apostrophe. Numbers
are left as numbers, so a negative amount stays a number.

In a CSV file a carriage return or line feed inside a value would start a new spreadsheet row
whose first cell could be a formula (``ok`` CR ``=HYPERLINK(...)``): every field holding either is
quoted, so it stays one cell (rows end in CRLF, as RFC 4180 has it).

>>> neutralise(pd.DataFrame({"a": ["=1+2", "ok", "-x", "@SUM(A1)"], "n": [-1, 2, 3, 4]})).to_dict("list")
{'a': ["'=1+2", 'ok', "'-x", "'@SUM(A1)"], 'n': [-1, 2, 3, 4]}
"""

from __future__ import annotations

import io

import pandas as pd

DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def _safe(value: object) -> object:
    if isinstance(value, str) and value.startswith(DANGEROUS_START):
        return "'" + value
    return value


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(_safe, na_action="ignore")
    out.columns = [str(_safe(str(c))) for c in out.columns]
    return out


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """UTF-8 with BOM so that Excel shows umlauts and € correctly.

    The csv module quotes a field that contains a character of the line terminator, so with
    CRLF as terminator every field holding a CR or an LF is quoted.
    """
    return neutralise(frame).to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")


def to_excel_bytes(frame: pd.DataFrame, sheet: str = "data") -> bytes:
    buf = io.BytesIO()
    safe = neutralise(frame)
    for col in safe.columns:  # Excel has no time zones
        if isinstance(safe[col].dtype, pd.DatetimeTZDtype):
            safe[col] = safe[col].dt.tz_localize(None)
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        safe.to_excel(writer, sheet_name=sheet[:31], index=False)
    return buf.getvalue()
