"""The Excel round trip: effective values out, a (partial) workbook back in, through the same
checks and history; refused rows with sheet, row, column and reason."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest

from kam_core.workbench import excel
from kam_core.workbench.edits import Workbench
from kam_core.workbench.errors import ConflictError
from kam_core.workbench.excel import (
    META_SHEET,
    apply_import,
    export_workbook,
    import_workbook,
    preview_import,
)
from kam_core.workbench.tables import EDITABLE

from .test_workbench import fresh_copy, make_db


@pytest.fixture(scope="module")
def loaded_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_db(tmp_path_factory.mktemp("excel"))


@pytest.fixture
def wb(loaded_once: Path, tmp_path: Path) -> Workbench:
    return Workbench(fresh_copy(loaded_once, tmp_path))


def sheet_rows(path: Path, sheet: str) -> list[list]:
    book = openpyxl.load_workbook(path)
    try:
        return [list(r) for r in book[sheet].iter_rows(values_only=True)]
    finally:
        book.close()


def partial_workbook(path: Path, sheets: dict[str, list[list]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        ws = book.create_sheet(name)
        for row in rows:
            ws.append(row)
    book.save(path)
    return path


def test_export_writes_the_effective_values_one_sheet_per_table(wb: Workbench, tmp_path: Path) -> None:
    wb.update("T-01", "contacts", "C-1", {"attitude": "opponent"})
    new_id = wb.create("T-01", "contacts", {"account_id": "A-1", "name": "Zoe", "piece": "bishop"}).keys[0][0]
    wb.delete("T-01", "contacts", "C-2")
    wb.update("T-01", "reviews", ("A-1", "2025-05-01"), {"notes": "=HYPERLINK(\"x\")"})
    out = tmp_path / "out.xlsx"
    counts = export_workbook(wb, out)
    assert counts == {"contacts": 5, "relationships": 3, "plan_actions": 2, "potential": 2, "competitors": 2,
                      "criterion_scores": 2, "reviews": 1}
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == [*EDITABLE, META_SHEET]
    assert book[META_SHEET].sheet_state == "hidden"
    assert book["reviews"]["E2"].data_type == "s"  # formula-like text stays text
    book.close()
    contacts = sheet_rows(out, "contacts")
    assert contacts[0] == EDITABLE["contacts"].table.column_names
    assert [r[0] for r in contacts[1:]] == ["C-1", "C-3", "C-4", "C-5", new_id]
    assert contacts[1][9] == "opponent" and contacts[5][8] == "bishop" and contacts[5][10] is True
    assert sheet_rows(out, "relationships")[1:] == [["T-01", "C-1", 4, None],  # in key order
                                                    ["T-01", "C-5", 2, dt.datetime(2025, 6, 1)],
                                                    ["T-03", "C-1", 3, None]]
    # one account only
    counts = export_workbook(wb, tmp_path / "a1.xlsx", account_id="A-1")
    assert counts == {"contacts": 2, "relationships": 2, "plan_actions": 1, "potential": 1, "competitors": 2,
                      "criterion_scores": 1, "reviews": 1}


def test_exported_cells_keep_their_kind(wb: Workbench, tmp_path: Path) -> None:
    """Read back with openpyxl (not read-only): text that starts like a formula is a text cell,
    dates are date cells, numbers numbers, truth values booleans, nulls blank; the header is
    bold and frozen, the widths set, the size written up front, ``_kam`` hidden."""
    wb.update("T-01", "reviews", ("A-1", "2025-05-01"), {"notes": "=HYPERLINK(\"x\")", "decisions": "-1 +2 @all"})
    out = tmp_path / "kinds.xlsx"
    export_workbook(wb, out)
    book = openpyxl.load_workbook(out)
    reviews = book["reviews"]
    header = [c.value for c in reviews[1]]
    assert header == EDITABLE["reviews"].table.column_names
    row = dict(zip(header, reviews[2], strict=True))
    assert (row["notes"].data_type, row["notes"].value) == ("s", '=HYPERLINK("x")')  # text, never a formula
    assert (row["decisions"].data_type, row["decisions"].value) == ("s", "-1 +2 @all")
    assert row["review_date"].is_date and row["review_date"].value == dt.datetime(2025, 5, 1)
    assert row["review_date"].number_format.upper() == "YYYY-MM-DD"  # a date without a time
    relationships = book["relationships"]
    assert [c.data_type for c in relationships[2]] == ["s", "s", "n", "n"]  # T-01, C-1, 4, no date
    assert relationships["D2"].value is None and relationships["C2"].value == 4
    assert relationships["D3"].is_date and relationships["D3"].value == dt.datetime(2025, 6, 1)
    contacts = book["contacts"]
    assert contacts["K2"].data_type == "b" and contacts["K2"].value is True  # is_active
    assert all(c.font.bold for c in contacts[1]) and not contacts["A2"].font.bold
    for name in EDITABLE:
        ws = book[name]
        assert ws.freeze_panes == "A2"
        assert ws.column_dimensions["A"].width >= 12
        assert ws.sheet_state == "visible"
    assert book[META_SHEET].sheet_state == "hidden"
    meta = {r[0]: r[1] for r in book[META_SHEET].iter_rows(values_only=True)}
    assert meta["format"] == "kam-workbench-1" and meta["store_last_save"] == 1 and meta["account_id"] is None
    book.close()
    # the size is in the file: the read-only reader (the loader's) knows it without parsing the sheet
    book = openpyxl.load_workbook(out, read_only=True)
    assert book["contacts"].calculate_dimension() == "A1:L6"
    assert book["reviews"].calculate_dimension() == "A1:G2"
    book.close()


def test_round_trip_unchanged_records_nothing(wb: Workbench, tmp_path: Path) -> None:
    wb.update("T-01", "reviews", ("A-1", "2025-05-01"), {"notes": "=1+1"})
    export_workbook(wb, tmp_path / "out.xlsx")
    preview = preview_import(wb, tmp_path / "out.xlsx")
    assert preview.changes == [] and preview.refused == [] and preview.operations == []
    assert preview.rows_read == preview.rows_unchanged == 5 + 4 + 2 + 2 + 2 + 2 + 1  # the action without id too
    assert len(wb.history()) == 1


def test_whole_sheets_preview_as_row_by_row(wb: Workbench, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A whole sheet's unchanged rows are found in one query (``_unchanged_rows``); the preview
    is the one the row by row path gives, whatever the sheet holds."""
    wb.update("T-01", "contacts", "C-2", {"title": "Chief Financial Officer"})  # in the store
    out = tmp_path / "all.xlsx"
    export_workbook(wb, out)
    wb.update("T-03", "contacts", "C-4", {"title": "Head Buyer"})  # after the download
    wb.update("T-03", "relationships", ("T-01", "C-1"), {"strength": 2})  # after the download; the sheet has 4
    book = openpyxl.load_workbook(out)
    contacts = book["contacts"]
    contacts["A2"] = "  C-1 "        # C-1 with blanks around its id: unchanged
    contacts["J4"] = "Neutral"       # C-3: canonical after the checks, unchanged
    contacts["J5"] = "skeptic"       # C-4: changed in the app after the download: refused
    contacts["D6"] = "CTO"           # C-5: a change
    contacts.append(["C-3", "A-2", "Cy Crown", "CEO", None, "executive", None, None, "king", "neutral", True])  # duplicate
    contacts.append(["C-99", "A-1", "Nobody", None, None, None, None, None, None, None, True])  # unknown id
    contacts.append([None, "A-1", "Ada King", "CEO", None, "executive", None, None, "king", "supporter", True])  # known
    relationships = book["relationships"]
    relationships["C3"] = 9           # refused: out of range
    relationships["D4"] = "01.07.2025"  # a date as text: a change
    book["reviews"]["B2"] = "2025-05-01"  # the date key as text: unchanged
    book["potential"]["C3"] = "500"   # a number as text: unchanged
    book["plan_actions"]["F2"] = "Open"  # the action without id: its text differs, a new one like it exists
    book.save(out)

    found: list[int] = []
    shortcut = excel._unchanged_rows

    def spy(*args: object) -> set[int]:
        rows = shortcut(*args)
        found.append(len(rows))
        return rows

    monkeypatch.setattr(excel, "_unchanged_rows", spy)
    fast = preview_import(wb, out)
    monkeypatch.setattr(excel, "_unchanged_rows", lambda *args: set())
    slow = preview_import(wb, out)
    # one query found the plain rows; the action without id goes row by row
    assert found == [1, 1, 1, 2, 2, 2, 1]  # contacts: C-1 (C-3 twice, C-2 and C-4 in the store, C-5 changed)
    for part in ("changes", "refused", "notes", "operations", "rows_read", "rows_unchanged", "new_records"):
        assert getattr(fast, part) == getattr(slow, part), part
    assert [(c.record, c.column, c.new) for c in fast.changes] == [
        ("C-5", "title", "CTO"), ("T-02, C-2", "last_contact_date", dt.date(2025, 7, 1))]
    assert [(r.sheet, r.row, r.column) for r in fast.refused] == [
        ("contacts", 5, "title"), ("contacts", 7, "contact_id"), ("contacts", 8, "contact_id"),
        ("relationships", 2, "strength"), ("relationships", 3, "strength"), ("plan_actions", 2, "action_id")]
    assert "was changed by Cara Dunn (T-03)" in fast.refused[0].reason
    assert fast.rows_unchanged == 4 + 1 + 1 + 2 + 2 + 2 + 1  # C-1, C-2, C-3 and the one without id known


def test_partial_sheet_changes_only_what_it_names(wb: Workbench, tmp_path: Path) -> None:
    path = partial_workbook(tmp_path / "partial.xlsx", {
        "contacts": [
            ["contact_id", "attitude", "comment"],
            ["C-1", "champion", "met at the fair"],   # row 2: changes supporter -> champion
            ["C-2", "Neutral", None],                  # row 3: unchanged (canonical after the checks)
            ["C-3", "hostile", None],                  # row 4: refused
            ["C-99", "neutral", None],                 # row 5: refused (unknown id)
            ["C-1", "opponent", None],                 # row 6: refused (duplicate)
        ],
        "Relationships": [
            ["member_id", "contact_id", "strength"],
            ["T-02", "C-3", 3],   # row 2: a new relationship
            ["T-01", "C-1", 4],   # row 3: unchanged
            ["T-01", "C-4", 9],   # row 4: refused
        ],
        "accounts": [["account_id", "name"], ["A-1", "Renamed"]],
    })
    preview = preview_import(wb, path)
    assert [(c.sheet, c.row, c.record, c.column, c.old, c.new) for c in preview.changes] == [
        ("contacts", 2, "C-1", "attitude", "supporter", "champion"),
        ("Relationships", 2, "T-02, C-3", "record", None, "created"),
        ("Relationships", 2, "T-02, C-3", "strength", None, 3),
    ]
    assert [(r.sheet, r.row, r.column, r.reason) for r in preview.refused] == [
        ("contacts", 4, "attitude", "attitude 'hostile' is not one of: champion, supporter, neutral, skeptic, opponent"),
        ("contacts", 5, "contact_id", "contact_id 'C-99' is neither in the export nor in the workbench; leave "
                                      "contact_id blank to add a new contact"),
        ("contacts", 6, "contact_id", "duplicate key contact_id 'C-1': first kept (row 2)"),
        ("Relationships", 4, "strength", "strength '9' is out of range (expected 0 to 4)"),
    ]
    assert str(preview.refused[0]) == ("contacts row 4: attitude 'hostile' is not one of: champion, supporter, "
                                       "neutral, skeptic, opponent")
    assert preview.notes == [
        "sheet contacts: columns outside the model, ignored: comment",
        "sheet 'accounts' ignored (not editable in the workbench; editable: contacts, relationships, plan_actions, "
        "potential, competitors, criterion_scores, reviews)",
    ]
    assert preview.summary() == ("partial.xlsx: 8 rows read; 3 cells to change in 2 records (1 new), 2 rows "
                                 "unchanged, 4 rows refused")
    assert wb.history().empty  # a preview writes nothing
    saved = apply_import(wb, preview, "T-02")
    assert saved.action == "import"
    assert wb.record("contacts", "C-1").values["attitude"] == "champion"
    assert wb.record("contacts", "C-3").values["attitude"] == "neutral"
    assert wb.record("relationships", ("T-02", "C-3")).values["strength"] == 3
    history = wb.history()
    assert set(history["source"]) == {"excel import partial.xlsx"} and set(history["actor"]) == {"T-02"}
    # importing the same workbook again changes nothing
    again = preview_import(wb, path)
    assert again.changes == [] and len(again.refused) == 4


def test_new_contacts_from_a_sheet_are_created_once(wb: Workbench, tmp_path: Path) -> None:
    path = partial_workbook(tmp_path / "new.xlsx", {"contacts": [
        ["contact_id", "account_id", "name", "piece"],
        [None, "A-2", "Nia New", "queen"],
        [None, "A-2", "", "pawn"],
        [None, "A-1", "Ada King", "pawn"],
    ]})
    preview, saved = import_workbook(wb, path, "T-01")
    assert [(r.row, r.reason) for r in preview.refused] == [
        (3, "name is blank (required)"),
        (4, "a contact with account_id 'A-1' and name 'Ada King' already exists (C-1); give its contact_id to "
            "change it"),
    ]
    new_ids = [k[0] for k in saved.keys]
    assert len(new_ids) == 1 and new_ids[0].startswith("C-team-")
    assert wb.record("contacts", new_ids[0]).values["piece"] == "queen"
    again, saved_again = import_workbook(wb, path, "T-01")
    assert again.rows_unchanged == 1 and saved_again.batch_id is None


def test_workbook_older_than_an_app_edit_cannot_undo_it(wb: Workbench, tmp_path: Path) -> None:
    export_workbook(wb, tmp_path / "old.xlsx")
    wb.update("T-01", "contacts", "C-2", {"attitude": "champion"})
    book = openpyxl.load_workbook(tmp_path / "old.xlsx")
    book["contacts"]["D3"] = "Chief Financial Officer"  # C-2's title; its attitude is the old one
    book["contacts"]["D2"] = "Chief Executive"  # C-1, untouched in the app
    book.save(tmp_path / "old.xlsx")
    preview, _ = import_workbook(wb, tmp_path / "old.xlsx", "T-02")
    assert len(preview.refused) == 1
    refused = preview.refused[0]
    assert (refused.sheet, refused.row, refused.column) == ("contacts", 3, "title")
    assert "contact C-2 was changed by Anna Berg (T-01) at " in refused.reason
    assert refused.reason.endswith("after this workbook was downloaded; download a fresh workbook (or enter the "
                                   "change in the app)")
    assert wb.record("contacts", "C-2").values["attitude"] == "champion"
    assert wb.record("contacts", "C-1").values["title"] == "Chief Executive"


def test_apply_refuses_when_the_record_changed_after_the_preview(wb: Workbench, tmp_path: Path) -> None:
    path = partial_workbook(tmp_path / "p.xlsx", {"potential": [
        ["account_id", "product_line", "annual_potential"], ["A-1", "Software", 2000]]})
    preview = preview_import(wb, path)
    wb.update("T-03", "potential", ("A-1", "Software"), {"annual_potential": 1200})
    with pytest.raises(ConflictError, match=r"changed by Cara Dunn \(T-03\) at .*\(preview the import again\)"):
        apply_import(wb, preview, "T-01")
    assert wb.record("potential", ("A-1", "Software")).values["annual_potential"] == 1200


def test_sheet_without_its_key_is_refused(wb: Workbench, tmp_path: Path) -> None:
    path = partial_workbook(tmp_path / "k.xlsx", {"relationships": [["contact_id", "strength"], ["C-1", 2]]})
    preview = preview_import(wb, path)
    assert [(r.sheet, r.row, r.column, r.reason) for r in preview.refused] == [
        ("relationships", 1, "member_id", "key column member_id missing; a sheet needs the key (member_id, "
                                          "contact_id) and the columns to change")]


def test_reports_to_from_a_sheet_is_checked_like_an_edit(wb: Workbench, tmp_path: Path) -> None:
    path = partial_workbook(tmp_path / "chart.xlsx", {"contacts": [
        ["contact_id", "account_id", "name", "reports_to"],
        ["C-1", "A-1", "Ada King", "C-1"],     # row 2: itself
        ["C-3", "A-2", "Cy Crown", "C-1"],     # row 3: a contact of another account
        ["C-2", "A-1", "Bob Queen", "C-1"],    # row 4: accepted
        ["C-1", "A-1", "Ada King", "C-2"],     # row 5: a duplicate key (first kept)
        [None, "A-1", "Eve New", "C-4"],       # row 6: new, manager at another account
    ]})
    preview = preview_import(wb, path)
    assert [(r.row, r.column, r.reason) for r in preview.refused] == [
        (2, "reports_to", "reports_to 'C-1' is the contact itself (expected another contact of account 'A-1')"),
        (3, "reports_to", "reports_to 'C-1' is a contact of account 'A-1' (expected a contact of account 'A-2')"),
        (5, "contact_id", "duplicate key contact_id 'C-1': first kept (row 2)"),
        (6, "reports_to", "reports_to 'C-4' is a contact of account 'A-2' (expected a contact of account 'A-1')"),
    ]
    assert [(c.record, c.column, c.new) for c in preview.changes] == [("C-2", "reports_to", "C-1")]
    # a loop over two rows: the second row sees the first
    loop = partial_workbook(tmp_path / "loop.xlsx", {"contacts": [
        ["contact_id", "reports_to"], ["C-2", "C-1"], ["C-1", "C-2"]]})
    assert [(r.row, r.reason) for r in preview_import(wb, loop).refused] == [
        (3, "reports_to 'C-2' makes a loop C-1 → C-2 → C-1 (expected a manager who does not report to this contact)")]


def test_a_text_longer_than_a_cell_is_not_cut_by_the_round_trip(wb: Workbench, tmp_path: Path) -> None:
    """A cell holds 32,767 characters: the export cuts a longer text there, and the workbook
    back unchanged must not propose to cut it in the app; a real change of the row still counts."""
    long_notes = "Minutes of the account review. " * 1500  # 46,500 characters
    wb.update("T-01", "reviews", ("A-1", "2025-05-01"), {"notes": long_notes})
    out = export_workbook(wb, tmp_path / "all.xlsx") and tmp_path / "all.xlsx"
    row = next(r for r in sheet_rows(out, "reviews")[1:] if r[0] == "A-1")
    assert any(isinstance(v, str) and len(v) == excel.EXCEL_CELL_CHARS for v in row)  # cut on export
    preview = preview_import(wb, out)
    assert not preview.changes, preview.changes
    assert preview.cut_texts == 1
    assert "1 text longer than an Excel cell's 32,767 characters was cut in the workbook: kept whole" in preview.notes[-1]
    # the same row with its rating changed: one change, the notes kept whole
    book = openpyxl.load_workbook(out)
    ws = book["reviews"]
    header = [c.value for c in ws[1]]
    for cells in ws.iter_rows(min_row=2):
        if cells[header.index("account_id")].value == "A-1" and cells[header.index("notes")].value:
            cells[header.index("rating")].value = "off_track"
    book.save(out)
    preview = preview_import(wb, out)
    assert [(c.record, c.column) for c in preview.changes] == [("A-1, 2025-05-01", "rating")]
    apply_import(wb, preview, "T-02")
    record = wb.record("reviews", ("A-1", "2025-05-01"))
    assert record.values["rating"] == "off_track" and record.values["notes"] == long_notes
