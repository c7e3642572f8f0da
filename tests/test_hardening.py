"""Issue 10, hardening: one test per attack, each with the attack's input.

The SQL box's bombs are in ``test_sqlbox.py`` and reloads under load in ``test_concurrency.py``;
here are the downloads, the settings, markdown from data and the safeguards of the Data and
Settings pages.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from kam_core.errors import SettingsError
from kam_core.export import to_csv_bytes, to_excel_bytes
from kam_core.settings import Settings

# ---------------------------------------------------------------- 3. CSV injection through CR/LF

CRLF_ATTACKS = [
    "\r=HYPERLINK(\"http://evil.example/x\",\"click\")",  # led by CR: a row of its own in Excel
    "\n=cmd|' /C calc'!A0",  # led by LF
    "\r\n+1+1",
    "ok\r=HYPERLINK(\"http://evil.example/x\")",  # CR inside: would start a new row with a formula
    "ok\n@SUM(A1:A9)",
    "two\r\nlines\r\n-2+3",
]


def _spreadsheet_rows(data: bytes) -> list[list[str]]:
    """The rows a spreadsheet reads from the CSV bytes (RFC 4180 parsing, as Excel does)."""
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_csv_values_with_cr_or_lf_stay_one_cell_and_never_lead_with_a_formula() -> None:
    frame = pd.DataFrame({"name": CRLF_ATTACKS, "amount": [1.5, -2.0, 3.0, 4.0, 5.0, 6.0]})
    data = to_csv_bytes(frame)
    rows = _spreadsheet_rows(data)
    assert len(rows) == 1 + len(CRLF_ATTACKS)  # no value started a row of its own
    names = [r[0] for r in rows[1:]]
    # led by CR/LF: neutralised with an apostrophe; CR/LF inside: kept, as one (quoted) cell
    assert names == ["'" + CRLF_ATTACKS[0], "'" + CRLF_ATTACKS[1], "'" + CRLF_ATTACKS[2], *CRLF_ATTACKS[3:]]
    assert [r[1] for r in rows[1:]] == ["1.5", "-2.0", "3.0", "4.0", "5.0", "6.0"]  # numbers stay numbers
    text = data.decode("utf-8-sig")
    for value in CRLF_ATTACKS:  # every field holding CR or LF is quoted in the file itself
        stored = value if value[0] not in "\r\n" else "'" + value
        assert '"' + stored.replace('"', '""') + '"' in text


def test_csv_header_led_by_cr_is_neutralised() -> None:
    frame = pd.DataFrame({"\r=1+2": ["x"]})
    assert _spreadsheet_rows(to_csv_bytes(frame))[0] == ["'\r=1+2"]


def test_excel_keeps_cr_lf_values_as_text() -> None:
    frame = pd.DataFrame({"name": CRLF_ATTACKS})
    book = openpyxl.load_workbook(io.BytesIO(to_excel_bytes(frame)))
    cells = [c for c in book.active["A"]][1:]
    assert [c.data_type for c in cells] == ["s"] * len(CRLF_ATTACKS)  # text, never a formula
    # (XML turns CR into LF on reading; what matters is the apostrophe in front)
    assert [c.value[0] for c in cells[:3]] == ["'", "'", "'"]


# ---------------------------------------------------------------- 8. settings: nan and inf


@pytest.mark.parametrize(
    ("toml", "key", "shown"),
    [
        ("sql_time_limit_s = nan", "sql_time_limit_s", "nan"),  # would lift the SQL box's time limit
        ("sql_time_limit_s = inf", "sql_time_limit_s", "inf"),
        ("half_life_days = +inf", "half_life_days", "inf"),
        ("status_green = -nan", "status_green", "nan"),
        ("target_margin = -inf", "target_margin", "-inf"),
        ("[health_weights]\ncoverage = nan", "health_weights", "{'coverage': nan}"),
        ("[criteria_weights]\nfit = inf", "criteria_weights", "{'fit': inf}"),
        ('tiers = [["A", nan], ["B", 0]]', "tiers", "[['A', nan], ['B', 0]]"),
    ],
)
def test_settings_refuse_non_finite_numbers(tmp_path: Path, toml: str, key: str, shown: str) -> None:
    path = tmp_path / "kam.toml"
    path.write_text(toml + "\n", encoding="utf-8")
    with pytest.raises(SettingsError) as exc:
        Settings.from_file(path)
    assert str(exc.value) == (
        f"kam.toml: {key} = {shown} is not allowed: expected a finite number, not nan or inf"
    )


def test_settings_refuse_non_finite_numbers_from_the_app() -> None:
    with pytest.raises(SettingsError, match="sql_memory_limit_mb = inf is not allowed"):
        Settings().replace(sql_memory_limit_mb=float("inf"))
    assert Settings({"sql_time_limit_s": 2.5}).sql_time_limit_s == 2.5  # finite numbers still pass
