"""Explore: the meeting's questions — one row per account (``account_metrics``) and every loaded
table, filterable and downloadable, and a read-only SQL box over both."""

from functools import partial

import streamlit as st

import ui
from kam_core.access import Action, require
from kam_core.appdata import database_path
from kam_core.errors import KamError
from kam_core.explore import (
    ACCOUNT_METRICS,
    account_metrics_frame,
    browsable_tables,
    browse,
    missing_inputs_by_column,
    table_columns,
)
from kam_core.export import XLSX_MIME, to_csv_bytes, to_excel_bytes
from kam_core.sqlbox import Limits, prestart, run_query

ctx = ui.setup_page("Explore", "🔎", "One row per account with what a meeting asks about, every loaded table, "
                    "and a read-only SQL box over both — filterable and downloadable.")
accounts = ui.account_table(ctx)
filters = ui.shared_filters(accounts)
ids = ui.filtered_ids(accounts, filters)
views = {ACCOUNT_METRICS: account_metrics_frame(accounts)}  # the accounts this user may see, as the pages show them
missing = missing_inputs_by_column(list(views[ACCOUNT_METRICS].columns), ui.loaded(ctx))

tab_browse, tab_sql = st.tabs(["Browse", "SQL"])

with tab_browse:
    tables = browsable_tables(ctx.con, views)
    c1, c2, c3 = st.columns([2, 3, 1])
    table = c1.selectbox("Table", tables, key="explore_table",
                         format_func=lambda t: "account_metrics — one row per account" if t == ACCOUNT_METRICS else t)
    search = c2.text_input("Contains", key="explore_search", placeholder="search every column")
    limit = c3.number_input("Rows", 100, 100_000, 5000, step=1000, key="explore_limit")
    try:
        page = browse(ctx.con, table, account_ids=ids, search=search, limit=int(limit), views=views)
    except KamError as exc:
        ui.show_error(exc)
    else:
        scope = " (shared filters applied)" if ids is not None and "account_id" in page.frame.columns else ""
        st.caption(f"{page.total:,} rows{scope}; showing {len(page.frame):,}. Click a column header to sort; "
                   f"amounts in {ui.md(ctx.currency)}.")
        empty = missing if table == ACCOUNT_METRICS else {}
        if empty:
            st.caption("Empty here because the export was not loaded: "
                       + "; ".join(f"{ui.md(c)} ({ui.md(w)})" for c, w in empty.items()) + ".")
        st.dataframe(page.frame, hide_index=True, width="stretch", column_config=ui.result_config(page.frame),
                     placeholder="null")
        d1, d2, _ = st.columns([1, 1, 4])
        # the files are written on the click (in a thread of their own), not on every run of the page
        d1.download_button("CSV", partial(to_csv_bytes, page.frame, empty), f"{table}.csv", "text/csv",
                           icon=":material/download:", key="dl_browse_csv", on_click="ignore")
        d2.download_button("Excel", partial(to_excel_bytes, page.frame, table, empty), f"{table}.xlsx", XLSX_MIME,
                           icon=":material/download:", key="dl_browse_xlsx", on_click="ignore")

with tab_sql:
    may_sql = ui.permitted(Action.RUN_SQL)  # else: which roles the setting sql_roles lists
    limits = Limits.from_settings(ctx.settings)
    if may_sql:
        prestart(limits, database_path())  # the query's worker process is ready before the first click
    st.caption("One read-only SELECT over account_metrics and the loaded tables (no files, no network, no "
               f"settings); stopped after {limits.time_s:g} s or at {limits.memory_mb:,} MB of memory; at most "
               f"{limits.max_rows:,} rows (settings sql_time_limit_s, sql_memory_limit_mb and sql_max_rows). "
               f"Amounts in {ui.md(ctx.currency)}.")
    with st.expander("Tables you can query", icon=":material/table:"):
        for name, columns in table_columns(ctx.con, views).items():
            st.markdown(f"**{ui.md(name)}** — " + ", ".join(ui.md(c) for c, _ in columns))
    sql = st.text_area("SQL", key="explore_sql", height=140,
                       value="select tier, status, count(*) as accounts, sum(ttm_revenue) as revenue\n"
                       "from account_metrics group by tier, status order by tier, status")
    if st.button("Run", type="primary", key="explore_run", icon=":material/play_arrow:", disabled=not may_sql):
        try:
            require(ui.current_actor(), Action.RUN_SQL)
            # account_metrics goes with the query only when the query reads it
            wanted = {n: f for n, f in views.items() if n in sql.lower()}
            result = run_query(database_path(), sql, limits, overlay=ui.dataset_overlay(), views=wanted or None)
        except KamError as exc:
            st.session_state.pop("_sql_result", None)  # an old result under a new error misleads
            ui.show_error(exc)
        else:
            st.session_state["_sql_result"] = result
    result = st.session_state.get("_sql_result")
    if result is not None:
        more = " (row limit reached: more rows exist)" if result.truncated else ""
        st.caption(f"{len(result.frame):,} rows in {result.seconds:.2f} s{more}")
        st.dataframe(result.frame, hide_index=True, width="stretch", column_config=ui.result_config(result.frame),
                     placeholder="null")
        d1, d2, _ = st.columns([1, 1, 4])
        d1.download_button("CSV", partial(to_csv_bytes, result.frame), "query.csv", "text/csv",
                           icon=":material/download:", key="dl_sql_csv", on_click="ignore")
        d2.download_button("Excel", partial(to_excel_bytes, result.frame, "query"), "query.xlsx", XLSX_MIME,
                           icon=":material/download:", key="dl_sql_xlsx", on_click="ignore")
