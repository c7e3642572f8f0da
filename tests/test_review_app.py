"""The review in the app (AppTest): recorded on the Account page, it changes the plan component
and the status at once (spec §3.4, numbers worked out in test_review_core); the Reviews page
shows the cadence; the Portfolio and Home pages show the history."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from kam_core.ingest.loader import load

from .conftest import ROOT
from .test_review_core import write_export


@pytest.fixture
def env(tmp_path: Path, monkeypatch) -> Path:
    db = tmp_path / "data" / "kam.duckdb"
    load([write_export(tmp_path / "export")], db)
    monkeypatch.setenv("KAM_DB", str(db))
    monkeypatch.setenv("KAM_CONFIG", str(tmp_path / "kam.toml"))
    return db


def run(page: str | None, query: dict) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    for k, v in query.items():
        at.query_params[k] = v
    at.session_state["_whoami"], at.session_state["_whoami_name"] = "T-01", "Anna Berg"  # "Who am I"
    if page:
        at.switch_page(page)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_a_review_recorded_on_the_account_page_changes_plan_and_status(env: Path) -> None:
    at = run("pages/2_account.py", {"account": "A-1", "review": "1"})
    assert ":orange-badge[amber]" in markdown(at)
    assert "- no review for 200 days" in markdown(at)
    assert any("No review of this account has been recorded in the app yet" in i.value for i in at.info)

    at.radio(key="rv_rating_A-1").set_value("on_track")
    at.date_input(key="rv_date_A-1").set_value(dt.date(2025, 6, 30))
    at.text_area(key="rv_notes_A-1").set_value("CFO met; plan agreed")
    at.text_area(key="rv_decisions_A-1").set_value("Second thread to the CFO")
    next(b for b in at.button if b.label == "Save the review").click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    saved = " ".join(s.value for s in at.success)
    assert "Review of 2025-06-30 saved (save 1, by Anna Berg (T-01))" in saved
    assert "plan component 0 → 100, status amber → green, health 69 → 84" in saved
    assert ":green-badge[green]" in markdown(at)
    assert "- no review for 200 days" not in markdown(at)
    assert any("Nothing stands out" in s.value for s in at.success)
    # "since the last review" now compares with it, naming who recorded it
    captions = [c.value for c in at.caption]
    assert "From the review of 2025-06-30 (recorded by Anna Berg (T-01)) to now (as of 2025-06-30): 0 days." in captions


def test_the_reviews_page_shows_the_cadence_with_links_into_the_form(env: Path) -> None:
    at = run("pages/9_reviews.py", {})
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Overdue"] == "1" and metrics["Never reviewed"] == "1"
    accounts = at.dataframe[1].value
    assert accounts["name"].tolist() == ["Alpha AG", "Beta GmbH"]
    assert accounts["cadence_status"].tolist() == ["overdue", "never reviewed"]
    # a click on a row opens that account with its review form, in this tab
    states = at._tree.get_widget_states()
    state = states.widgets.add()
    state.id = at.dataframe[1].proto.id
    state.string_value = json.dumps({"selection": {"rows": [], "columns": [], "cells": [[1, "name"]]}})
    at._run(states)
    assert not at.exception, [e.message for e in at.exception]
    assert at.query_params["account"] == "A-2" and at.query_params["review"] == "1"
    assert any(e.label == "Record a review" and e.proto.expanded for e in at.expander)


def test_home_and_portfolio_keep_the_history(env: Path) -> None:
    from kam_core.workbench.snapshots import portfolio_snapshots
    from kam_core.workbench.store import store_path_for

    at = run(None, {})
    assert any("The history starts with this load" in c.value for c in at.caption)
    # the first page of a load took its snapshot (the load was not made by the CLI)
    assert [s.source for s in portfolio_snapshots(store_path_for(env))] == ["app"]
    at = run("pages/1_portfolio.py", {})
    assert "Since an earlier snapshot" in [s.value for s in at.subheader]
    assert any("the next load adds an earlier snapshot" in c.value for c in at.caption)
    assert not at.get("plotly_chart")[1:]  # no second matrix until an earlier load exists
