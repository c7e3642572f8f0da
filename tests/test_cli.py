"""The command line: exit codes and output (spec §4)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kam_core.cli import main

from .conftest import MINI_ACCOUNTS, ROOT, query, write


def test_load_ok_prints_per_file_counts(src: Path, tmp_path: Path, capsys) -> None:
    write(src, "accounts.csv", MINI_ACCOUNTS + "A-3,\n")
    db = tmp_path / "kam.duckdb"
    assert main(["load", str(src), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "accounts.csv -> accounts: 3 read, 2 loaded, 1 rejected" in out
    assert "accounts.csv row 4: name is blank (required)" in out
    assert query(db, "select count(*) from accounts") == [(2,)]


def test_load_prints_many_rejects_by_kind(src: Path, tmp_path: Path, capsys) -> None:
    """More rejects than --show-rejects: one line per kind of problem, the largest first, instead
    of the first rows of the first file."""
    write(src, "accounts.csv", "account_id,name,annual_revenue\n" + "".join(
        f"A-{i},Account {i},{'12x' if i % 3 == 0 else 100}\n" for i in range(1, 31)) + ",Nobody,5\n,Nobody,6\n")
    db = tmp_path / "kam.duckdb"
    assert main(["load", str(src), "--db", str(db), "--show-rejects", "5"]) == 0
    out = capsys.readouterr().out
    assert ("rejected rows (12), by kind of problem (every row: the Data page, or the tables rejects and "
            "warnings of the database):") in out
    kinds = [line.strip() for line in out.splitlines() if " rows of accounts.csv" in line]
    assert kinds == ["10 rows of accounts.csv, the first row 4: annual_revenue '12x' is not a number",
                     "2 rows of accounts.csv, the first row 32: account_id is blank (required)"]
    assert "accounts.csv row 4:" not in out  # not row by row

def test_load_fatal_file_exit_1_others_load(src: Path, tmp_path: Path, capsys) -> None:
    write(src, "accounts.csv", MINI_ACCOUNTS)
    write(src, "contacts.csv", "contact_id,name\nC-1,X\n")
    db = tmp_path / "kam.duckdb"
    assert main(["load", str(src), "--db", str(db)]) == 1
    captured = capsys.readouterr()
    assert "FATAL contacts.csv -> contacts: contacts.csv: required column account_id missing" in captured.out
    assert "1 file(s) could not be loaded" in captured.err
    assert query(db, "select count(*) from accounts") == [(2,)]


def test_load_without_accounts_exit_1_no_database(src: Path, tmp_path: Path, capsys) -> None:
    write(src, "contacts.csv", "contact_id,account_id,name\nC-1,A-1,X\n")
    db = tmp_path / "kam.duckdb"
    assert main(["load", str(src), "--db", str(db)]) == 1
    assert "nothing was built" in capsys.readouterr().err
    assert not db.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["load", "/nonexistent/folder", "--db", "x.duckdb"],
        ["load", "--db", "x.duckdb"],
        ["report", "portfolio"],
        ["report", "sideways", "--db", "x.duckdb"],
        ["report", "growth", "--db", "/nonexistent.duckdb"],
        ["demo"],
        ["demo", "--out", "x", "--accounts", "0"],
        ["frobnicate"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert not (tmp_path / "x.duckdb").exists()


def test_bad_config_exit_1(src: Path, tmp_path: Path, capsys) -> None:
    write(src, "accounts.csv", MINI_ACCOUNTS)
    cfg = tmp_path / "kam.toml"
    cfg.write_text("half_life_days = 0\n")
    assert main(["load", str(src), "--db", str(tmp_path / "k.duckdb"), "--config", str(cfg)]) == 1
    assert "half_life_days = 0 is not allowed" in capsys.readouterr().err


def test_module_entry_point(src: Path, tmp_path: Path) -> None:
    write(src, "accounts.csv", MINI_ACCOUNTS)
    db = tmp_path / "kam.duckdb"
    done = subprocess.run([sys.executable, "-m", "kam_core", "load", str(src), "--db", str(db)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "2 read, 2 loaded, 0 rejected" in done.stdout


def test_failed_table_exit_1_reported_first(src: Path, tmp_path: Path, capsys) -> None:
    write(src, "accounts.csv", MINI_ACCOUNTS)
    write(src, "revenue.csv", "account_id,period,product_line,revenue\nA-1,13/2024,S,1\nA-2,14/2024,S,2\n")
    db = tmp_path / "kam.duckdb"
    assert main(["load", str(src), "--db", str(db)]) == 1
    captured = capsys.readouterr()
    first = captured.out.splitlines()[0]
    assert first.startswith("FAILED revenue (revenue.csv): 2 of 2 rows rejected for one reason, e.g. period "
                            "'13/2024' is not a month")
    assert first.endswith("Fix: give the date format (date_format in a mapping file)")
    assert "1 table failed (see FAILED at the top)" in captured.err
    assert query(db, "select count(*) from accounts") == [(2,)]  # the database is written


def test_ignored_objects_are_one_line_unless_verbose(tmp_path: Path, capsys) -> None:
    export = ROOT / "tests" / "fixtures" / "salesforce_nul"
    assert main(["load", str(export), "--db", str(tmp_path / "k.duckdb")]) == 0
    out = capsys.readouterr().out
    ignored = [line for line in out.splitlines() if line.startswith("ignored:")]
    assert ignored == ["ignored: 6 files (Salesforce object not used by the KAM model): Asset.csv, Campaign.csv, "
                       "Case.csv, … (--verbose lists them all)",
                       "ignored: README.md (not a CSV, Excel (.xlsx) or Parquet file)"]
    assert main(["load", str(export), "--db", str(tmp_path / "k.duckdb"), "--verbose"]) == 0
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if line.startswith("ignored:")] == [
        f"ignored: {name}.csv (Salesforce object not used by the KAM model)"
        for name in ("Asset", "Campaign", "Case", "Lead", "Period", "Quote")] + [
        "ignored: README.md (not a CSV, Excel (.xlsx) or Parquet file)"]
