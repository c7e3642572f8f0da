"""Issue 11 on the pages (AppTest): numbers people trust, on screens people can read in a meeting.

Green means no reasons; a figure whose export was not loaded shows "–" and the file, never 0;
the concentration follows the filters; a click on a bubble explains that account; links keep
the filters, and a bad link says so; the Account page opens on the most urgent account; the
SQL box answers from account_metrics; money carries the data's currency. Expectations are
computed here from the exports or the reports, not read back from the page's own helpers.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from urllib.parse import parse_qs

import duckdb
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from kam_core.appdata import DEMO_DIR
from kam_core.demo import write_demo
from kam_core.ingest.loader import load
from kam_core.metrics.report import build_report
from kam_core.settings import Settings

from .conftest import ROOT
from .test_pages import PAGES, metrics


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("db") / "kam.duckdb"
    load([DEMO_DIR], db)
    return db


@pytest.fixture(scope="module")
def reports(demo_db: Path) -> pd.DataFrame:
    """The health, growth and portfolio reports of the demo, one row per account."""
    with duckdb.connect(str(demo_db), read_only=True) as con:
        frames = [build_report(con, kind, Settings()).set_index("account_id")
                  for kind in ("health", "growth", "portfolio")]
    return frames[0].join(frames[1][["ttm_revenue"]]).join(frames[2][["tier"]])


@pytest.fixture
def env(demo_db: Path, tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("KAM_DB", str(demo_db))
    monkeypatch.setenv("KAM_CONFIG", str(tmp_path / "kam.toml"))
    return demo_db


def open_page(page: str | None = None, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    if page:
        at.switch_page(PAGES[page])
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def figure(at: AppTest, label: str) -> tuple[str, str]:
    """A headline figure's value and the line under it."""
    found = [(m.value, m.proto.delta) for m in at.metric if m.label == label]
    assert found, (label, [m.label for m in at.metric])
    return found[0]


def texts(at: AppTest) -> str:
    return " ".join(x.value for x in [*at.markdown, *at.caption, *at.info, *at.success, *at.warning])


# ---- green means no reasons


def test_a_green_account_shows_no_reason_and_an_amber_one_shows_why(env, reports: pd.DataFrame) -> None:
    green = reports.index[reports["status"] == "green"]
    amber = reports.index[reports["status"] == "amber"]
    assert len(green) and len(amber)
    for account in (green[0], green[-1]):
        at = open_page("account", {"account": account})
        assert any(s.value.startswith("Nothing stands out") for s in at.success), account
        assert not any(m.value.startswith("**Why it is") for m in at.markdown), account
    account = amber[0]
    at = open_page("account", {"account": account})
    shown = texts(at)
    assert "Why it is amber" in shown and not any(s.value.startswith("Nothing stands out") for s in at.success)
    for reason in reports.loc[account, "reasons"]:
        assert reason.split(" (")[0] in shown.replace("\\", "")


def test_home_lists_only_red_accounts_most_revenue_first(env, reports: pd.DataFrame) -> None:
    at = open_page()
    red = reports[reports["status"] == "red"].sort_values("ttm_revenue", ascending=False)
    links = [parse_qs(link.proto.query_string)["account"][0] for link in at.get("page_link")
             if "account=" in link.proto.query_string]
    assert links == list(red.index[:10])
    assert figure(at, "Red accounts") == (str(len(red)), f"{(reports['status'] == 'amber').sum()} amber, "
                                                          f"{(reports['status'] == 'green').sum()} green")


# ---- honest empties: an export without one optional table


def _export_without(tmp: Path, table: str) -> Path:
    src = tmp / f"without_{table}"
    write_demo(src, accounts=40, seed=7)
    (src / f"{table}.csv").unlink()
    db = tmp / f"without_{table}.duckdb"
    load([src], db)
    return db


# table left out -> (page, figure label, file named under the "–")
EMPTIES = {
    "revenue": [(None, "Revenue, last 12 months", "needs revenue.csv"), (None, "Gross margin", "needs revenue.csv"),
                ("growth", "Revenue, last 12 months", "needs revenue.csv"),
                ("portfolio", "Revenue, last 12 months", "needs revenue.csv"),
                ("portfolio", "Top 10 share", "needs revenue.csv"),
                ("account", "Revenue, last 12 months", "needs revenue.csv")],
    "opportunities": [("growth", "Open pipeline", "needs opportunities.csv"),
                      ("growth", "Win rate, last 12 months", "needs opportunities.csv")],
    "criteria": [(None, "In Gold and Silver", "needs criteria.csv"), ("portfolio", "Gold accounts", "needs criteria.csv")],
    "reviews": [("account", "Last review", "needs reviews.csv")],
    "contacts": [("account", "Coverage", "needs contacts.csv")],
    "relationships": [("account", "Coverage", "needs relationships.csv")],
}
OTHERS = ["team", "activities", "potential", "criterion_scores", "plan_actions", "competitors"]
# pages that read each table beyond those above
READERS = {"team": ["account", "relationships"], "activities": ["account"], "potential": ["growth", "account"],
           "criterion_scores": ["portfolio"], "plan_actions": ["account"], "competitors": ["account"],
           "revenue": ["relationships", "explore"], "contacts": ["relationships", "portfolio"],
           "relationships": ["relationships"], "criteria": ["growth"], "opportunities": ["account"],
           "reviews": ["explore"]}


@pytest.mark.parametrize("table", [*EMPTIES, *OTHERS])
def test_pages_without_an_optional_table_show_a_dash_and_the_file(table: str, tmp_path: Path, monkeypatch) -> None:
    db = _export_without(tmp_path, table)
    monkeypatch.setenv("KAM_DB", str(db))
    monkeypatch.setenv("KAM_CONFIG", str(tmp_path / "kam.toml"))
    checked: dict[str | None, AppTest] = {}
    for page, label, needs in EMPTIES.get(table, []):
        at = checked.get(page) or open_page(page)
        checked[page] = at
        assert figure(at, label) == ("–", needs), (page, label)
    for page in READERS.get(table, []):
        if page not in checked:
            checked[page] = open_page(page)  # renders without an exception (asserted in open_page)
    for at in checked.values():  # no figure reads 0 for want of data
        zeros = [m.label for m in at.metric if m.value in ("0 EUR", "0.0 %", "0 / 100")]
        assert not zeros, zeros


def test_an_account_without_contacts_has_no_relationship_data(tmp_path: Path, monkeypatch) -> None:
    src = tmp_path / "src"
    write_demo(src, accounts=12, seed=7)
    contacts = pd.read_csv(src / "contacts.csv", dtype=str, keep_default_na=False)
    contacts = contacts[contacts["account_id"] != "A-0012"]
    contacts.to_csv(src / "contacts.csv", index=False)
    rel = pd.read_csv(src / "relationships.csv", dtype=str, keep_default_na=False)
    rel[rel["contact_id"].isin(contacts["contact_id"])].to_csv(src / "relationships.csv", index=False)
    act = pd.read_csv(src / "activities.csv", dtype=str, keep_default_na=False)
    act[(act["contact_id"] == "") | act["contact_id"].isin(contacts["contact_id"])].to_csv(
        src / "activities.csv", index=False)
    load([src], tmp_path / "kam.duckdb")
    monkeypatch.setenv("KAM_DB", str(tmp_path / "kam.duckdb"))
    monkeypatch.setenv("KAM_CONFIG", str(tmp_path / "kam.toml"))
    at = open_page("account", {"account": "A-0012"})
    assert figure(at, "Coverage") == ("–", "no relationship data")
    assert any("No relationship data for this account" in i.value for i in at.info)
    rel_page = open_page("relationships")
    assert "no relationship data" in texts(rel_page).lower()
    with duckdb.connect(str(tmp_path / "kam.duckdb"), read_only=True) as con:
        cov = build_report(con, "coverage", Settings()).set_index("account_id")
    with_contacts = cov[cov["contacts_count"] > 0]
    # the counts leave the account without contacts out
    assert figure(rel_page, "King not covered")[0] == str(int((with_contacts["king_covered"] == False).sum()))  # noqa: E712
    assert figure(rel_page, "Single-threaded")[0] == str(int(with_contacts["single_threaded"].sum()))


def test_an_account_with_no_data_says_so(tmp_path: Path, monkeypatch) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "accounts.csv").write_text("account_id,name\nA-1,Alpha\n")
    load([src], tmp_path / "kam.duckdb")
    monkeypatch.setenv("KAM_DB", str(tmp_path / "kam.duckdb"))
    monkeypatch.setenv("KAM_CONFIG", str(tmp_path / "kam.toml"))
    at = open_page("account")
    assert any(i.value.startswith("No data for this account") for i in at.info)
    assert not any("Nothing stands out" in s.value for s in at.success)
    assert figure(at, "Health") == ("–", "no data")


# ---- the portfolio follows the filters


def test_concentration_is_computed_on_the_filtered_accounts(env: Path, reports: pd.DataFrame) -> None:
    with duckdb.connect(str(env), read_only=True) as con:  # the revenue of the last 12 months, from the export
        ttm = con.execute("select account_id, sum(revenue) from revenue where period >= date '2025-11-01' "
                          "group by account_id").df().set_index("account_id").iloc[:, 0]
    silver = ttm[ttm.index.isin(reports.index[reports["tier"] == "Silver"])]
    silver = silver[silver > 0].sort_values(ascending=False)
    share = silver.head(10).sum() / silver.sum()
    herfindahl = ((silver / silver.sum()) ** 2).sum()
    everyone = open_page("portfolio")
    at = open_page("portfolio", {"tier": "Silver"})
    assert figure(at, "Top 10 share")[0] == f"{share * 100:.1f} %"
    assert figure(at, "Herfindahl")[0] == f"{herfindahl:.3f}"
    assert figure(at, "Top 10 share")[0] != figure(everyone, "Top 10 share")[0]


def _matrix(at: AppTest):
    return next(c for c in at.get("plotly_chart") if "customdata" in json.loads(c.proto.spec)["data"][0])


def _click_bubble(at: AppTest, account: str) -> AppTest:
    """What the browser sends when a bubble of the matrix is clicked (a point selection)."""
    states = at._tree.get_widget_states()
    state = states.widgets.add()
    state.id = _matrix(at).proto.id
    state.string_value = json.dumps({"selection": {
        "points": [{"curve_number": 0, "point_number": 0, "point_index": 0, "customdata": [account, 0, "star", 1]}],
        "point_indices": [0], "box": [], "lasso": []}})
    at._run(states)
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_a_click_on_a_bubble_explains_that_account(env) -> None:
    at = open_page("portfolio")
    first = at.selectbox(key="explain_account").value
    _click_bubble(at, "A-0005")
    assert at.selectbox(key="explain_account").value == "A-0005"
    assert any(m.value.startswith("**Ebro Distribución S.A.**") for m in at.markdown)
    _click_bubble(at, "A-0003")  # a second click: that account, not the first one kept
    assert at.selectbox(key="explain_account").value == "A-0003" != first
    at.selectbox(key="explain_account").set_value("A-0002").run()  # the list still works after a click
    assert at.selectbox(key="explain_account").value == "A-0002"


def test_the_matrix_names_the_top_tier_and_the_largest_accounts(env, reports: pd.DataFrame) -> None:
    at = open_page("portfolio")
    spec = json.loads(_matrix(at).proto.spec)
    named = {t for trace in spec["data"] for t in trace.get("text", []) if t}
    names = pd.read_csv(DEMO_DIR / "accounts.csv").set_index("account_id")["name"]
    gold = set(names[reports.index[reports["tier"] == "Gold"]])
    largest = set(names[reports.sort_values("ttm_revenue", ascending=False).index[:10]])
    assert gold and gold | largest == named


# ---- links


def test_links_to_an_account_keep_the_filters(env) -> None:
    at = open_page(None, {"tier": "Silver", "present": "1"})
    links = [parse_qs(link.proto.query_string) for link in at.get("page_link") if "account=" in link.proto.query_string]
    assert links and all(q["tier"] == ["Silver"] and q["present"] == ["1"] for q in links)
    for link in at.get("page_link"):
        assert not link.proto.external  # every link opens in this tab


def test_a_link_to_an_unknown_account_says_so_and_shows_no_other(env) -> None:
    at = open_page("account", {"account": "A-9999"})
    assert any("There is no account A-9999" in w.value for w in at.warning)
    assert at.selectbox(key="account_pick").value is None
    assert not at.metric  # no other account's figures


def test_a_link_with_an_unknown_filter_value_says_so(env) -> None:
    at = open_page("growth", {"region": ["DACH", "Narnia"]})
    assert any("“Narnia” matches no account" in w.value for w in at.warning)
    assert at.sidebar.multiselect(key="w_region").value == ["DACH"]


def test_a_link_to_an_account_outside_the_filters_shows_it_and_says_so(env, reports: pd.DataFrame) -> None:
    tier = reports.loc["A-0001", "tier"]
    other = next(t for t in ("Gold", "Silver", "Bronze") if t != tier)
    at = open_page("account", {"account": "A-0001", "tier": other})
    assert at.selectbox(key="account_pick").value == "A-0001"
    assert any("outside the current filters" in i.value for i in at.info)


def test_without_a_link_the_account_page_opens_on_the_most_urgent_account(env, reports: pd.DataFrame) -> None:
    for tier in (None, "Gold", "Bronze"):
        selected = reports if tier is None else reports[reports["tier"] == tier]
        rank = selected["status"].map({"red": 0, "amber": 1, "green": 2})
        expected = selected.assign(rank=rank).sort_values(["rank", "ttm_revenue"], ascending=[True, False]).index[0]
        at = open_page("account", {"tier": tier} if tier else None)
        assert at.selectbox(key="account_pick").value == expected, tier


def test_the_account_page_heads_with_the_mentors_latest_rating(env, reports: pd.DataFrame) -> None:
    at = open_page("account", {"account": "A-0007"})
    date = pd.Timestamp(reports.loc["A-0007", "latest_rating_date"])
    days = (pd.Timestamp("2026-10-31") - date).days  # the demo's as-of date
    header = [m.value for m in at.markdown if "latest rating" in m.value]
    assert header == [f":material/rate_review: **The mentor's latest rating:** :red-badge[off track] on "
                      f"{date.date().isoformat()} ({days} days ago)"]
    # codes in words: the phase and the rating
    assert "phase **review**" in texts(at) and "off\\_track" not in texts(at) and "off_track" not in texts(at)


def test_presentation_mode_from_the_url_survives_a_page_switch(env) -> None:
    at = open_page(None, {"present": "1"})
    assert at.sidebar.toggle(key="w_present").value is True
    styles = [h.proto.body for h in at.get("html")]
    assert any("html { font-size: 19px; }" in s for s in styles)
    at.switch_page(PAGES["growth"]).run()
    assert at.query_params["present"] in ("1", ["1"])
    at.sidebar.toggle(key="w_present").set_value(False).run()
    assert "present" not in at.query_params
    assert not any("font-size: 19px" in h.proto.body for h in at.get("html"))


# ---- Explore


def test_explore_opens_on_accounts_and_the_sql_box_reads_account_metrics(env, reports: pd.DataFrame) -> None:
    at = open_page("explore")
    assert at.selectbox(key="explore_table").value == "account_metrics"
    assert at.selectbox(key="explore_table").options[:2] == ["account_metrics — one row per account", "accounts"]
    assert not any(o.startswith("kam_step") for o in at.selectbox(key="explore_table").options)
    listed = " ".join(m.value for m in at.markdown)
    assert "**account_metrics**" in listed and "**accounts**" in listed and "kam_step" not in listed
    at.text_area(key="explore_sql").set_value(
        "select status, count(*) as accounts, sum(ttm_revenue) as revenue from account_metrics group by status "
        "order by status")
    at.button(key="explore_run").click().run()
    assert not at.error, [e.value for e in at.error]
    result = at.dataframe[-1].value.set_index("status")
    expected = reports.groupby("status")["ttm_revenue"].agg(["count", "sum"])
    assert result["accounts"].to_dict() == expected["count"].to_dict()
    assert result["revenue"].round(2).to_dict() == expected["sum"].round(2).to_dict()


def test_explore_writes_its_downloads_on_the_click_not_on_every_run(env, monkeypatch) -> None:
    """The page hands the downloads over as callables (Streamlit runs one when its button is
    clicked, in a thread of its own): a run of the page writes no file, and the Excel file
    the click gets is the workbook of the rows shown."""
    import io

    import openpyxl
    from streamlit.runtime.media_file_manager import MediaFileManager

    import kam_core.export as export

    written: list[str] = []
    for name in ("to_csv_bytes", "to_excel_bytes"):
        real = getattr(export, name)
        monkeypatch.setattr(export, name, lambda *a, _real=real, _name=name, **k: written.append(_name) or _real(*a, **k))
    deferred: dict[str, object] = {}
    add_deferred = MediaFileManager.add_deferred

    def remember(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        deferred[file_name] = data_callable
        return add_deferred(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", remember)
    at = open_page("explore")
    assert not at.exception
    buttons = {b.proto.label: b.proto for b in at.get("download_button")}
    assert buttons["Excel"].deferred_file_id and buttons["CSV"].deferred_file_id
    assert buttons["Excel"].ignore_rerun  # the click does not run the page again
    assert written == []  # the run wrote neither file
    sheet = openpyxl.load_workbook(io.BytesIO(deferred["account_metrics.xlsx"]())).active
    assert written == ["to_excel_bytes"]
    shown = at.dataframe[0].value
    assert sheet.title == "account_metrics" and sheet.max_row == len(shown) + 1
    assert [c.value for c in sheet[1]] == list(shown.columns)
    assert [c.value for c in sheet["A"][1:]] == shown["account_id"].tolist()


# ---- the data's currency


def test_money_is_labelled_with_the_currency_the_data_is_in(demo_db: Path, tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "usd.duckdb"
    shutil.copy(demo_db, db)
    with duckdb.connect(str(db)) as con:  # what a Salesforce load without `currency` records
        con.execute("update load_info set value = 'USD' where key = 'currency'")
    monkeypatch.setenv("KAM_DB", str(db))
    monkeypatch.setenv("KAM_CONFIG", str(tmp_path / "kam.toml"))
    home = open_page()
    assert metrics(home)["Revenue, last 12 months"].endswith(" USD")
    assert "amounts in USD" in " ".join(c.value for c in home.caption)
    growth = open_page("growth")
    assert metrics(growth)["Open pipeline"].endswith(" USD")
    portfolio = open_page("portfolio")
    by_tier = next(d for d in portfolio.dataframe if "accounts_count" in d.value.columns)
    assert "revenue (USD)" in json.dumps(json.loads(by_tier.proto.columns))


def test_a_download_marks_the_columns_whose_export_was_not_loaded(tmp_path: Path) -> None:
    import io

    from kam_core.dataset import open_dataset
    from kam_core.explore import account_metrics_frame, missing_inputs_by_column
    from kam_core.export import to_csv_bytes
    from kam_core.metrics.overview import account_overview, base_metrics
    from kam_core.metrics.sources import loaded_inputs

    db = _export_without(tmp_path, "revenue")
    con = open_dataset(db)
    try:
        settings = Settings()
        base = base_metrics(con, settings, pd.Timestamp("2026-10-31").date())
        frame = account_metrics_frame(account_overview(con, settings, base))
        missing = missing_inputs_by_column(list(frame.columns), loaded_inputs(con))
    finally:
        con.close()
    assert missing["ttm_revenue"] == "needs revenue.csv" and "coverage" not in missing
    written = pd.read_csv(io.BytesIO(to_csv_bytes(frame, missing)), encoding="utf-8-sig", dtype=str,
                          keep_default_na=False)
    assert set(written["ttm_revenue"]) == {"– (needs revenue.csv)"}  # never a blank that sums as 0
    assert set(written["gross_margin_pct"]) == {"– (needs revenue.csv)"}
    assert (written["coverage"] != "").all() and not written["coverage"].str.startswith("–").any()
