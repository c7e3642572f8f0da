"""``python -m kam_core overlay``: export, import, history, undo, orphans and their exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from kam_core.cli import main
from kam_core.workbench.edits import Workbench

from .conftest import ROOT
from .test_workbench import fresh_copy, make_db


@pytest.fixture(scope="module")
def loaded_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_db(tmp_path_factory.mktemp("cli"))


@pytest.fixture
def db(loaded_once: Path, tmp_path: Path) -> Path:
    return fresh_copy(loaded_once, tmp_path)


def edited_export(db: Path, tmp_path: Path, capsys) -> Path:
    out = tmp_path / "team.xlsx"
    assert main(["overlay", "export", "--db", str(db), "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"{out} written: contacts 5, relationships 4, plan_actions 2")
    return out


def test_export_edit_import_history_undo(db: Path, tmp_path: Path, capsys) -> None:
    path = edited_export(db, tmp_path, capsys)
    book = openpyxl.load_workbook(path)
    book["contacts"]["J2"] = "champion"   # C-1 attitude
    book.save(path)
    assert main(["overlay", "import", str(path), "--db", str(db), "--user", "T-02"]) == 0
    out = capsys.readouterr().out
    assert "contacts row 2: contacts C-1 attitude: supporter -> champion" in out
    assert "1 changes saved as save 1" in out
    assert Workbench(db).record("contacts", "C-1").values["attitude"] == "champion"

    assert main(["overlay", "history", "--db", str(db), "--account", "A-1"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.endswith("save 1 import by T-02: contacts C-1 attitude: supporter -> champion")
    assert main(["overlay", "history", "--db", str(db), "--account", "A-2"]) == 0
    assert capsys.readouterr().out == "no changes recorded for account A-2\n"
    assert main(["overlay", "history", "--db", str(db), "--format", "json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert (entry["actor"], entry["record"], entry["old_value"], entry["new_value"]) == ("T-02", "C-1", "supporter",
                                                                                         "champion")

    assert main(["overlay", "undo", "--db", str(db), "--user", "T-02"]) == 0
    assert "undone as save 2: 1 changes taken back" in capsys.readouterr().out
    assert main(["overlay", "undo", "--db", str(db), "--user", "T-02"]) == 1
    assert "error: nothing to undo: T-02 has no save that is not undone yet" in capsys.readouterr().err
    assert main(["overlay", "orphans", "--db", str(db)]) == 0
    assert capsys.readouterr().out == "every record of the team fits the export\n"


def test_import_with_a_refused_row_exits_1_and_saves_the_others(db: Path, tmp_path: Path, capsys) -> None:
    path = edited_export(db, tmp_path, capsys)
    book = openpyxl.load_workbook(path)
    book["contacts"]["J2"] = "champion"   # C-1: fine
    book["contacts"]["J4"] = "hostile"    # C-3: refused
    book["relationships"]["C2"] = 7       # T-01, C-1: refused
    book.save(path)
    assert main(["overlay", "import", str(path), "--db", str(db), "--user", "T-02", "--dry-run"]) == 1
    captured = capsys.readouterr()
    assert "dry run:" in captured.out and "nothing saved" in captured.out
    assert Workbench(db).history().empty
    assert main(["overlay", "import", str(path), "--db", str(db), "--user", "T-02"]) == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "refused rows (2), not saved:",
        "  contacts row 4 [attitude]: attitude 'hostile' is not one of: champion, supporter, neutral, skeptic, "
        "opponent",
        "  relationships row 2 [strength]: strength '7' is out of range (expected 0 to 4)",
    ]
    assert Workbench(db).record("contacts", "C-1").values["attitude"] == "champion"


@pytest.mark.parametrize("argv", [
    ["overlay"],
    ["overlay", "export", "--db", "{db}"],
    ["overlay", "export", "--db", "{tmp}/none.duckdb", "--out", "x.xlsx"],
    ["overlay", "import", "{tmp}/none.xlsx", "--db", "{db}", "--user", "T-01"],
    ["overlay", "import", "{tmp}/none.xlsx", "--db", "{db}"],
    ["overlay", "history", "--db", "{db}", "--format", "xml"],
    ["overlay", "history", "--db", "{db}", "--config", "{tmp}/none.toml"],
])
def test_bad_arguments_exit_2(argv: list[str], db: Path, tmp_path: Path) -> None:
    argv = [a.format(db=db, tmp=tmp_path) for a in argv]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


def test_store_from_the_settings(db: Path, tmp_path: Path, capsys) -> None:
    config = tmp_path / "kam.toml"
    config.write_text('workbench_path = "team/edits.sqlite"\n', encoding="utf-8")
    path = tmp_path / "partial.xlsx"
    book = openpyxl.Workbook()
    book.active.title = "potential"
    book.active.append(["account_id", "product_line", "annual_potential"])
    book.active.append(["A-2", "Services", 750])
    book.save(path)
    assert main(["overlay", "import", str(path), "--db", str(db), "--user", "T-01", "--config", str(config)]) == 0
    assert (db.parent / "team" / "edits.sqlite").is_file()
    assert not (db.parent / "kam.workbench.sqlite").exists()
    capsys.readouterr()
    assert main(["overlay", "history", "--db", str(db), "--config", str(config)]) == 0
    assert "potential A-2, Services annual_potential: 500 -> 750" in capsys.readouterr().out


def _with_reader_gone(argv: list[str]) -> tuple[int, str]:
    """Run the CLI with its stdout's reader gone before the first line (as ``… | head -1`` is
    once it has its line): exit code and stderr."""
    with subprocess.Popen([sys.executable, "-m", "kam_core", *argv], cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as proc:
        proc.stdout.close()
        err = proc.stderr.read()
        return proc.wait(timeout=120), err


def test_history_one_line_per_change_and_a_closed_stdout_is_no_error(db: Path, capsys) -> None:
    Workbench(db).update("T-02", "reviews", ("A-1", "2025-05-01"), {"notes": "Plan agreed.\r\nNext: visit\n\nCFO"})
    assert main(["overlay", "history", "--db", str(db)]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.endswith("save 1 edit by T-02: reviews A-1, 2025-05-01 notes: ok -> Plan agreed. ⏎ Next: visit "
                         "⏎  ⏎ CFO")
    assert _with_reader_gone(["overlay", "history", "--db", str(db)]) == (0, "")
    assert _with_reader_gone(["overlay", "undo", "--db", str(db), "--user", "T-02"]) == (0, "")
    assert Workbench(db).record("reviews", ("A-1", "2025-05-01")).values["notes"] == "ok"  # the undo is done
    assert main(["review", "add", "--db", str(db), "--account", "A-1", "--rating", "at_risk", "--notes", "thin",
                 "--user", "T-01", "--date", "2025-06-30"]) == 0
    assert _with_reader_gone(["review", "diff", "--db", str(db), "--account", "A-1"]) == (0, "")
