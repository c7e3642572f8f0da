"""The app starts on a fresh checkout: no database yet -> built from data/demo on first run."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from kam_core.appdata import DEMO_DIR
from kam_core.sqlbox import open_locked

from .conftest import ROOT


def test_first_start_builds_the_database_from_the_demo(tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "kam.duckdb"
    monkeypatch.setenv("KAM_DB", str(db))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    assert not at.exception, at.exception
    assert db.is_file()
    # the app holds the file open with its locked configuration; DuckDB wants the same one
    con = open_locked(db)
    accounts = con.execute("select count(*) from accounts").fetchone()[0]
    con.close()
    assert accounts == len((DEMO_DIR / "accounts.csv").read_text(encoding="utf-8").splitlines()) - 1
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Accounts"] == f"{accounts:,}"
    captions = " ".join(c.value for c in at.caption)
    assert "0 rejected" in captions and "Data as of 2026-10-31" in captions
    assert at.get("plotly_chart"), "the home page shows the tiers chart"
