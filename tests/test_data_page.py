"""The Data page (AppTest): what is missing for which analysis, uploads, and the mapping screen —
proposal, correction, preview with rejects, saving, loading with the mapping — and the pure
helpers behind the screen (kam_core.ingest.importers.mapping)."""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

import ui
from kam_core.access import local_actor
from kam_core.ingest import workspace
from kam_core.ingest.importers import missing_analyses
from kam_core.ingest.importers.mapping import (
    NO_SOURCE,
    Mapping,
    MappingError,
    TableMapping,
    edited_mapping,
    edited_table,
    needs_mapping,
    parse_defaults,
    propose_mapping,
    propose_table,
    save_mapping,
    saved_mappings,
    source_files,
    source_options,
)
from kam_core.ingest.loader import load
from kam_core.settings import Settings
from kam_core.sqlbox import open_locked

from .conftest import MINI_ACCOUNTS, ROOT

NORTHWIND = ROOT / "tests" / "fixtures" / "northwind"  # the public sample, committed (SOURCE.md)
NORTHWIND_MAPPING = ROOT / "mappings" / "northwind.toml"
SQL_CHOICE = "(SQL query)"


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def mini_db(tmp_path_factory) -> Path:
    """A database of two accounts (A-1, A-2): the 'old' database a load replaces."""
    folder = tmp_path_factory.mktemp("mini")
    (folder / "accounts.csv").write_text(MINI_ACCOUNTS, encoding="utf-8")
    db = folder / "kam.duckdb"
    load([folder], db)
    return db


@pytest.fixture
def env(mini_db: Path, tmp_path: Path, monkeypatch) -> dict[str, Path]:
    db = tmp_path / "kam.duckdb"
    shutil.copy(mini_db, db)
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    shutil.copy(NORTHWIND_MAPPING, mappings / "northwind.toml")
    monkeypatch.setenv("KAM_DB", str(db))
    monkeypatch.setenv("KAM_CONFIG", str(tmp_path / "kam.toml"))
    monkeypatch.setenv("KAM_MAPPINGS", str(mappings))
    upload = tmp_path / "upload"
    upload.mkdir()
    for p in NORTHWIND.glob("*.csv"):
        shutil.copy(p, upload / p.name)
    return {"db": db, "mappings": mappings, "upload": upload}


def open_data_page(upload: Path | None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    if upload is not None:
        at.session_state["_upload_dir"] = str(upload)
    at.switch_page("pages/6_data.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def query(db: Path, sql: str) -> list[tuple]:
    """Read the database as the app does (DuckDB refuses a second configuration in one process)."""
    con = open_locked(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def texts(at: AppTest) -> str:
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption])


def preview_table(at: AppTest, first_column: str):
    """The preview's table whose first column is ``first_column`` (tabs are all rendered)."""
    frames = [d.value for d in at.dataframe if list(d.value.columns)[:1] == [first_column]]
    assert frames, f"no preview table starting with {first_column}"
    return frames[-1]


def preview_rejects(at: AppTest):
    frames = [
        d.value
        for d in at.dataframe
        if list(d.value.columns) == ["file", "row", "table", "reason", "raw row"]
    ]
    return frames[-1] if frames else None


# ---------------------------------------------------------------- the page


def test_screen_proposes_accounts_from_customers(env) -> None:
    at = open_data_page(env["upload"])
    assert any("no recognised format" in i.value for i in at.info)
    assert at.selectbox(key="map_start").value == "(proposal)"
    assert at.selectbox(key="map_w_accounts_file").value == "customers.csv"
    assert at.selectbox(key="map_w_accounts_col_account_id").value == "customerID"
    assert at.selectbox(key="map_w_accounts_col_name").value == "companyName"
    assert at.selectbox(key="map_w_team_file").value == "employees.csv"
    # the two-header name of the team and the confidences shown under the choices
    assert at.selectbox(key="map_w_team_col_name").value == "firstName + lastName"
    shown = texts(at)
    assert "**accounts** ← customers.csv" in shown
    assert "confidence 0.90 · known synonym" in shown and "confidence 1.00 · exact name" in shown
    # the choices are the file's headers plus "(none)"
    options = at.selectbox(key="map_w_accounts_col_account_id").options
    assert options[0] == NO_SOURCE and "contactName" in options and "fax" in options
    # orders.csv gives activities: who (employeeID) met which customer when (orderDate)
    assert at.multiselect(key="map_w_tables").value == ["team", "accounts", "activities"]
    assert at.selectbox(key="map_w_activities_col_date").value == "orderDate"


def test_changing_a_column_changes_the_preview(env) -> None:
    at = open_data_page(env["upload"])
    at.button(key="map_preview").click()
    run(at)
    accounts = preview_table(at, "account_id")
    assert "team 9 rows · accounts 91 rows" in texts(at)
    assert accounts.loc[accounts["account_id"] == "ALFKI", "name"].tolist() == ["Alfreds Futterkiste"]
    assert any(s.value == "No row would be rejected." for s in at.success)

    at.selectbox(key="map_w_accounts_col_name").set_value("contactName")
    run(at)
    assert any("changed since this preview" in w.value for w in at.warning)
    assert "chosen by hand" in texts(at)
    at.button(key="map_preview").click()
    run(at)
    assert not any("changed since this preview" in w.value for w in at.warning)
    accounts = preview_table(at, "account_id")
    assert accounts.loc[accounts["account_id"] == "ALFKI", "name"].tolist() == ["Maria Anders"]


def test_preview_shows_the_rejects_of_a_bad_file(env) -> None:
    customers = env["upload"] / "customers.csv"
    text = customers.read_text(encoding="utf-8")
    # 91 data rows are spreadsheet rows 2..92; the copy of ALFKI is row 93
    customers.write_text(
        text + "ALFKI,Alfreds Copy,Maria,Owner,Street,Berlin,NULL,1,Germany,1,NULL\n", encoding="utf-8"
    )
    at = open_data_page(env["upload"])
    at.button(key="map_preview").click()
    run(at)
    rejects = preview_rejects(at)
    assert rejects is not None and len(rejects) == 1
    row = rejects.iloc[0]
    assert (row["file"], int(row["row"]), row["table"]) == ("customers.csv", 93, "accounts")
    assert "duplicate key account_id 'ALFKI'" in row["reason"] and "row 2" in row["reason"]
    assert "1 rejected" in texts(at)
    assert "accounts 91 rows" in texts(at)  # the first ALFKI is kept


def test_save_writes_a_mapping_that_reads_back(env) -> None:
    at = open_data_page(env["upload"])
    at.selectbox(key="map_w_accounts_col_region").set_value(NO_SOURCE)
    at.text_input(key="map_w_null_values").set_value("NULL")
    for bad in ("my crm!", "../evil", ""):
        at.text_input(key="map_name").set_value(bad)
        at.button(key="map_save").click()
        run(at)
        assert any("letters, digits" in e.value for e in at.error), bad
    at.text_input(key="map_name").set_value("my-northwind")
    at.button(key="map_save").click()
    run(at)
    path = env["mappings"] / "my-northwind.toml"
    assert path.is_file() and any("Saved as" in s.value for s in at.success)
    saved = Mapping.from_file(path)
    expected = propose_mapping(sorted(env["upload"].glob("*.csv")))
    del expected.tables["accounts"].columns["region"]
    expected.null_values = ["NULL"]
    assert saved == expected
    assert at.get("download_button")[0].proto.label == "Download mapping.toml"
    assert f"uses {path}" in texts(at)
    # the same name again: refused without the checkbox, replaced with it
    at.selectbox(key="map_w_accounts_col_region").set_value("region")
    at.button(key="map_save").click()
    run(at)
    assert any("exists already" in e.value for e in at.error)
    assert Mapping.from_file(path) == saved
    at.checkbox(key="map_overwrite").check()
    at.button(key="map_save").click()
    run(at)
    assert Mapping.from_file(path).tables["accounts"].columns["region"] == "region"
    # and it can be picked to start from
    assert "the saved mapping my-northwind" in at.selectbox(key="map_start").options


def test_load_with_this_mapping_replaces_the_database(env) -> None:
    at = open_data_page(env["upload"])
    assert metric(at, "Accounts") == "2"
    at.text_input(key="map_name").set_value("nw")
    at.button(key="map_save").click()
    run(at)
    at.button(key="map_load").click()
    run(at)
    at.button(key="replace_confirm").click()  # replacing all data asks first
    run(at)
    assert metric(at, "Accounts") == "91"
    assert query(env["db"], "select count(*) from accounts") == [(91,)]
    assert query(env["db"], "select name from team where member_id = '2'") == [("Andrew Fuller",)]
    report = at.code[-1].value
    assert "accounts" in report and "mapping" in report


def test_a_failing_load_keeps_the_old_database(env) -> None:
    at = open_data_page(env["upload"])
    at.selectbox(key="map_w_accounts_col_account_id").set_value(NO_SOURCE)
    run(at)
    assert "required — no source" in texts(at)
    at.button(key="map_load").click()
    run(at)
    at.button(key="replace_confirm").click()  # replacing all data asks first
    run(at)
    assert any("nothing was built" in e.value and "account_id" in e.value for e in at.error)
    assert "The previous database is unchanged." in texts(at)
    assert metric(at, "Accounts") == "2"
    assert query(env["db"], "select account_id from accounts order by 1") == [("A-1",), ("A-2",)]


def test_start_from_a_saved_mapping(env) -> None:
    at = open_data_page(env["upload"])
    at.selectbox(key="map_start").set_value("northwind")
    run(at)
    assert at.multiselect(key="map_w_tables").value == [
        "team",
        "accounts",
        "contacts",
        "activities",
        "revenue",
    ]
    assert at.selectbox(key="map_w_accounts_file").value == SQL_CHOICE
    assert "account_manager" in at.text_area(key="map_w_accounts_sql").value
    assert at.selectbox(key="map_w_contacts_col_name").value == "contactName"
    assert at.text_area(key="map_w_activities_defaults").value == "type = order"
    assert at.text_input(key="map_w_null_values").value == "NULL"
    at.button(key="map_preview").click()
    run(at)
    assert preview_rejects(at) is None
    assert "accounts 91 rows" in texts(at) and "revenue 1,000+ rows" in texts(at)
    assert set(preview_table(at, "activity_id")["type"]) == {"order"}
    # back to the proposal: the screen starts afresh
    at.selectbox(key="map_start").set_value("(proposal)")
    run(at)
    assert at.selectbox(key="map_w_accounts_file").value == "customers.csv"
    assert at.multiselect(key="map_w_tables").value == ["team", "accounts", "activities"]


def test_adding_a_table_proposes_its_file(env) -> None:
    at = open_data_page(env["upload"])
    at.multiselect(key="map_w_tables").select("revenue")
    run(at)
    assert at.selectbox(key="map_w_revenue_file").value == "orders.csv"
    assert at.selectbox(key="map_w_revenue_col_period").value == "orderDate"  # a known synonym
    assert at.selectbox(key="map_w_revenue_col_revenue").value == NO_SOURCE  # orders carry no amount
    assert "required — no source" in texts(at)
    at.selectbox(key="map_w_revenue_col_revenue").set_value("freight")
    run(at)
    assert "chosen by hand" in texts(at)
    # another file for it: its columns are proposed afresh
    at.selectbox(key="map_w_revenue_file").set_value("customers.csv")
    run(at)
    assert at.selectbox(key="map_w_revenue_col_period").value == NO_SOURCE
    assert at.selectbox(key="map_w_revenue_col_account_id").value == "customerID"


def test_canonical_upload_rebuilds_without_a_mapping(env, tmp_path: Path) -> None:
    upload = tmp_path / "canonical"
    upload.mkdir()
    (upload / "accounts.csv").write_text("account_id,name\nK-1,One\nK-2,Two\nK-3,Three\n", encoding="utf-8")
    at = open_data_page(upload)
    assert not any("no recognised format" in i.value for i in at.info)
    assert "map_start" not in [s.key for s in at.selectbox]
    at.toggle(key="map_open").set_value(True)
    run(at)
    assert at.selectbox(key="map_w_accounts_col_account_id").value == "account_id"
    at.button(key="rebuild").click()
    run(at)
    at.button(key="replace_confirm").click()  # replacing all data asks first
    run(at)
    assert metric(at, "Accounts") == "3"


def test_missing_analyses_for_northwind(tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "northwind.duckdb"
    load([NORTHWIND], db, mapping=NORTHWIND_MAPPING)
    con = duckdb.connect(str(db), read_only=True)
    try:
        expected = missing_analyses(con)
    finally:
        con.close()
    monkeypatch.setenv("KAM_DB", str(db))
    monkeypatch.setenv("KAM_CONFIG", str(tmp_path / "kam.toml"))
    at = open_data_page(None)
    listed = next(m.value for m in at.markdown if m.value.startswith("- "))
    assert listed.splitlines() == [f"- {ui.md(m)}" for m in expected]  # data in markdown is escaped
    # Northwind has no relationships, criteria, pieces or attitudes
    assert any(m.startswith("relationships.csv would fill relationship coverage") for m in expected)
    assert any(m.startswith("criteria.csv would fill attractiveness, strength, tiers and quadrants") for m in expected)
    assert any("contacts' chess pieces" in m for m in expected)
    assert not any(m.startswith("revenue.csv would fill") for m in expected)
    assert metric(at, "Accounts") == "91"


# ---------------------------------------------------------------- the helpers behind the screen


def test_edited_table_keeps_value_maps_and_reads_the_choices() -> None:
    base = TableMapping(
        "contacts",
        file="people.csv",
        sheet="S",
        columns={"contact_id": "Id", "level": "Rank"},
        values={"level": {"Boss": "executive"}},
        defaults={"piece": "pawn"},
        confidence={"contact_id": 0.9, "level": 0.5},
    )
    tm = edited_table(
        base,
        file="people.csv",
        headers=["Id", "Rank", "First", "Last"],
        sources={"contact_id": "Id", "level": "(none)", "name": "First + Last"},
    )
    assert tm.columns == {"contact_id": "Id", "name": ["First", "Last"]}
    assert tm.values == {"level": {"Boss": "executive"}} and tm.defaults == {"piece": "pawn"}
    assert tm.sheet == "S" and tm.confidence == {"contact_id": 0.9}
    moved = edited_table(base, file="other.csv", sources={"contact_id": "Id"})
    assert moved.sheet is None and moved.file == "other.csv"
    sql = edited_table(base, sql="select 1 as contact_id")
    assert sql.file is None and sql.columns == {} and sql.values == base.values
    # a header that itself contains " + " stays one header
    assert (
        edited_table(base, file="p.csv", headers=["A + B"], sources={"name": "A + B"}).columns["name"]
        == "A + B"
    )
    assert source_options(["Id", "", "Id", "Rank"], ["First", "Last"]) == [
        NO_SOURCE,
        "Id",
        "Rank",
        "First + Last",
    ]


def test_edited_mapping_is_checked_like_a_file() -> None:
    base = Mapping(null_values=["NULL"], files={"od": "Order Details.csv"})
    ok = edited_mapping(base, [TableMapping("accounts", file="a.csv", columns={"account_id": "Nr"})], ["-"])
    assert ok.null_values == ["-"] and ok.files == {"od": "Order Details.csv"}
    assert Mapping.from_toml(ok.to_toml()) == ok
    with pytest.raises(MappingError, match="only a single SELECT is allowed"):
        edited_mapping(base, [TableMapping("accounts", sql="delete from x")])


@pytest.mark.parametrize(
    ("text", "message"),
    [("type order", "expected column = value"), ("colour = red", "activities has no column 'colour'")],
)
def test_parse_defaults_refuses(text: str, message: str) -> None:
    with pytest.raises(MappingError, match=message):
        parse_defaults(text, "activities")


def test_save_mapping_names_and_overwrite(tmp_path: Path) -> None:
    m = Mapping(tables={"accounts": TableMapping("accounts", file="a.csv", columns={"account_id": "Nr"})})
    path = save_mapping(m, tmp_path / "maps", "crm_1.toml", actor=local_actor())
    assert path == tmp_path / "maps" / "crm_1.toml" and Mapping.from_file(path) == m
    assert saved_mappings(tmp_path / "maps") == {"crm_1": path}
    assert saved_mappings(tmp_path / "absent") == {}
    for bad in ("a b", "../x", "ä", ""):
        with pytest.raises(MappingError, match="letters, digits"):
            save_mapping(m, tmp_path / "maps", bad, actor=local_actor())
    with pytest.raises(MappingError, match="tick overwrite"):
        save_mapping(m, tmp_path / "maps", "crm_1", actor=local_actor())
    assert save_mapping(Mapping(), tmp_path / "maps", "crm_1", overwrite=True, actor=local_actor()) == path
    assert Mapping.from_file(path) == Mapping()


def test_needs_mapping_and_source_files(tmp_path: Path) -> None:
    canonical = tmp_path / "canonical"
    canonical.mkdir()
    (canonical / "accounts.csv").write_text(MINI_ACCOUNTS, encoding="utf-8")
    (canonical / "kunden.csv").write_text("Nr,Firma\n1,A\n", encoding="utf-8")
    assert not needs_mapping(sorted(canonical.iterdir()))
    # customers.csv is named like accounts but has no account_id column
    assert needs_mapping(sorted(NORTHWIND.glob("*.csv")))
    assert needs_mapping([canonical / "kunden.csv"])
    assert not needs_mapping([])
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("export/kunden.csv", "Nr,Firma\n1,A\n")
        zf.writestr("__MACOSX/._kunden.csv", "junk")
    work = tmp_path / "work"
    files = source_files([archive, canonical / "accounts.csv"], work)
    assert [p.name for p in files] == ["kunden.csv", "accounts.csv"]
    assert source_files([archive], work) == files[:1]  # unpacked once, reused


def test_propose_table_picks_the_best_file() -> None:
    files = sorted(NORTHWIND.glob("*.csv"))
    tm = propose_table("activities", files)
    assert tm.file == "orders.csv"
    # customers.csv has customerID too, but orders.csv also has employeeID (more columns found)
    assert tm.columns == {"date": "orderDate", "account_id": "customerID", "member_id": "employeeID"}
    assert propose_table("accounts", []).file is None


# ---------------------------------------------------------------- uploads: unpacked once, removed with the session


class Upload:
    """What st.file_uploader hands over."""

    def __init__(self, path: Path) -> None:
        self.name, self.size, self.file_id = path.name, path.stat().st_size, f"id-{path.name}"
        self._data = path.read_bytes()

    def getbuffer(self) -> memoryview:
        return memoryview(self._data)


@pytest.fixture
def session(monkeypatch, tmp_path: Path):
    import mapping_ui

    state: dict = {}
    monkeypatch.setattr(mapping_ui.st, "session_state", state)
    monkeypatch.setattr(mapping_ui.ui, "show_error", lambda exc: state.setdefault("_shown", []).append(str(exc)))
    temp_root = tmp_path / "systemp"
    temp_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp_root))
    return mapping_ui, state, temp_root


def test_a_zip_is_unpacked_once_when_it_is_uploaded(session, tmp_path: Path, monkeypatch) -> None:
    mapping_ui, state, temp_root = session
    calls = []
    real = mapping_ui.unpack_zip
    monkeypatch.setattr(mapping_ui, "unpack_zip", lambda *a, **k: calls.append(a[0].name) or real(*a, **k))
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in NORTHWIND.glob("*.csv"):
            zf.write(p, f"northwind/{p.name}")
    mapping_ui.store_uploads([Upload(archive)], Settings())
    folder = Path(state["_upload_dir"])
    assert folder.parent == temp_root and folder.name.startswith(f"kam-upload-{os.getpid()}-")
    assert [p.name for p in mapping_ui.upload_sources(str(folder))] == ["export"]  # the zip itself is gone
    files = mapping_ui.source_files(mapping_ui.upload_sources(str(folder)), folder / ".kam")
    assert len(files) == 11 and not (folder / ".kam").exists()  # nothing unpacked again
    report = load(mapping_ui.upload_sources(str(folder)), tmp_path / "kam.duckdb", mapping=NORTHWIND_MAPPING)
    assert report.table_rows["accounts"] == 91
    assert calls == ["export.zip"]  # once, at the upload; the load read the unpacked folder
    # the same upload again (a rerun): nothing is unpacked again
    mapping_ui.store_uploads([Upload(archive)], Settings())
    assert calls == ["export.zip"]
    mapping_ui.drop_uploads()
    assert not folder.exists() and "_upload_dir" not in state


def test_an_uploaded_zip_bomb_is_refused_and_leaves_nothing(session, tmp_path: Path) -> None:
    mapping_ui, state, temp_root = session
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("accounts.csv", "w") as fh:
        for _ in range(50):
            fh.write(b"\0" * (1 << 20))
    mapping_ui.store_uploads([Upload(archive)], Settings())
    assert state["_shown"][0].startswith("bomb.zip expands")
    assert "zip_max_ratio" in state["_shown"][0]
    assert mapping_ui.upload_sources(state["_upload_dir"]) == []


def test_the_upload_folder_goes_when_the_session_goes(session) -> None:
    mapping_ui, state, temp_root = session
    owner = mapping_ui.UploadFolder(workspace.work_dir("upload"))
    (owner.path / "accounts.csv").write_text(MINI_ACCOUNTS, encoding="utf-8")
    state["_upload_owner"] = owner
    path = owner.path
    del owner
    state.clear()  # the session ended: Streamlit drops its state
    gc.collect()
    assert not path.exists()
    assert list(temp_root.iterdir()) == []


def test_the_screen_shows_what_it_keeps_from_a_declarative_mapping(env) -> None:
    at = open_data_page(env["upload"])
    at.selectbox(key="map_start").set_value("northwind")
    run(at)
    assert at.selectbox(key="map_w_revenue_file").value == "order_details.csv"
    shown = texts(at)
    assert ("Kept from the mapping (edit them in the file): one row per account_id, period, product_line (revenue "
            "sum); lookup ord in orders.csv by orderID = orderID") in shown
    # (a formula from the file is data: escaped, it shows as written)
    assert "formula: unitPrice \\* quantity \\* (1 - discount)" in shown


def test_the_page_groups_the_rejects_by_kind(tmp_path: Path, monkeypatch) -> None:
    """A load with rejects of two kinds: the page lists the kinds (largest first) above the rows,
    and offers every reject for download."""
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "accounts.csv").write_text(
        "account_id,name,annual_revenue\nA-1,Alpha,1000\nA-2,Beta,12x\nA-3,Gamma,7y\nA-4,Delta,9z\n,Nobody,5\n",
        encoding="utf-8")
    (folder / "contacts.csv").write_text("contact_id,account_id,name,reports_to\nC-1,A-1,Ann,C-9\n", encoding="utf-8")
    db = tmp_path / "kam.duckdb"
    load([folder], db)
    monkeypatch.setenv("KAM_DB", str(db))
    monkeypatch.setenv("KAM_CONFIG", str(tmp_path / "kam.toml"))
    at = open_data_page(None)
    kinds = [d.value for d in at.dataframe if list(d.value.columns) == ["file", "table", "rows", "first_row", "reason"]]
    assert kinds, "no table of the rejects by kind"
    assert kinds[0]["rows"].tolist() == [3, 1]
    assert kinds[0]["first_row"].tolist() == [3, 6]
    assert kinds[0]["reason"].tolist() == ["annual_revenue '12x' is not a number", "account_id is blank (required)"]
    assert "Why, by kind of problem" in texts(at)
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Download all 4 rejects (CSV)" in labels
    # the warnings, by kind too: one contact reports to a contact the export does not have
    warning_kinds = [d.value for d in at.dataframe
                     if list(d.value.columns) == ["file", "table", "rows", "first_row", "message"]]
    assert warning_kinds and warning_kinds[0]["message"].tolist() == ["reports_to 'C-9' has no contact in contacts (kept)"]
    assert "Download the warning (CSV)" in labels
