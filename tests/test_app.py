"""The app starts on a fresh checkout: no database yet -> built from data/demo on first run."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from kam_core.appdata import DEMO_DIR

from .conftest import ROOT, query


def test_first_start_builds_the_database_from_the_demo(tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "kam.duckdb"
    monkeypatch.setenv("KAM_DB", str(db))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    assert not at.exception, at.exception
    assert db.is_file()
    accounts = query(db, "select count(*) from accounts")[0][0]
    assert accounts == len((DEMO_DIR / "accounts.csv").read_text(encoding="utf-8").splitlines()) - 1
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Accounts"] == f"{accounts:,}"
    assert metrics["Rows rejected"] == "0"
    files = at.dataframe[0].value
    assert set(files["table"]) >= {"accounts", "contacts", "relationships", "revenue"}
    assert (files["rows_read"] == files["rows_loaded"] + files["rows_rejected"]).all()
