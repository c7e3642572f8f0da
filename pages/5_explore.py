"""Explore: browse every table with filters and sorting, a safe SQL box, downloads."""

import streamlit as st

import ui
from kam_core.access import Action, require
from kam_core.appdata import database_path
from kam_core.errors import KamError
from kam_core.explore import browsable_tables, browse
from kam_core.export import to_csv_bytes, to_excel_bytes
from kam_core.sqlbox import Limits, prestart, run_query

ctx = ui.setup_page("Explore", "🔎", "Every loaded table, filterable and downloadable, and a read-only SQL box.")
accounts = ui.account_table(ctx)
filters = ui.shared_filters(accounts)
ids = ui.filtered_ids(accounts, filters)

tab_browse, tab_sql = st.tabs(["Browse tables", "SQL"])

with tab_browse:
    tables = browsable_tables(ctx.con)
    c1, c2, c3 = st.columns([2, 3, 1])
    table = c1.selectbox("Table", tables, key="explore_table")
    search = c2.text_input("Contains", key="explore_search", placeholder="search every column")
    limit = c3.number_input("Rows", 100, 100_000, 5000, step=1000, key="explore_limit")
    try:
        page = browse(ctx.con, table, account_ids=ids, search=search, limit=int(limit))
    except KamError as exc:
        ui.show_error(exc)
    else:
        scope = " (shared filters applied)" if ids is not None and "account_id" in page.frame.columns else ""
        st.caption(f"{page.total:,} rows{scope}; showing {len(page.frame):,}. Click a column header to sort.")
        st.dataframe(page.frame, hide_index=True, width="stretch")
        d1, d2, _ = st.columns([1, 1, 4])
        d1.download_button("CSV", to_csv_bytes(page.frame), f"{table}.csv", "text/csv",
                           icon=":material/download:", key="dl_browse_csv")
        d2.download_button("Excel", to_excel_bytes(page.frame, table), f"{table}.xlsx",
                           icon=":material/download:", key="dl_browse_xlsx")

with tab_sql:
    may_sql = ui.permitted(Action.RUN_SQL)  # else: which roles the setting sql_roles lists
    limits = Limits.from_settings(ctx.settings)
    if may_sql:
        prestart(limits, database_path())  # the query's worker process is ready before the first click
    st.caption("One read-only SELECT over the loaded tables (no files, no network, no settings); "
               f"stopped after {limits.time_s:g} s or at {limits.memory_mb:,} MB of memory; at most "
               f"{limits.max_rows:,} rows (settings sql_time_limit_s, sql_memory_limit_mb and sql_max_rows).")
    sql = st.text_area("SQL", key="explore_sql", height=140,
                       value="select industry, count(*) as accounts, sum(annual_revenue) as customer_size\n"
                       "from accounts group by industry order by accounts desc")
    if st.button("Run", type="primary", key="explore_run", icon=":material/play_arrow:", disabled=not may_sql):
        try:
            require(ui.current_actor(), Action.RUN_SQL)
            result = run_query(database_path(), sql, limits, overlay=ui.dataset_overlay())
        except KamError as exc:
            st.session_state.pop("_sql_result", None)  # an old result under a new error misleads
            ui.show_error(exc)
        else:
            st.session_state["_sql_result"] = result
    result = st.session_state.get("_sql_result")
    if result is not None:
        more = " (row limit reached: more rows exist)" if result.truncated else ""
        st.caption(f"{len(result.frame):,} rows in {result.seconds:.2f} s{more}")
        st.dataframe(result.frame, hide_index=True, width="stretch")
        d1, d2, _ = st.columns([1, 1, 4])
        d1.download_button("CSV", to_csv_bytes(result.frame), "query.csv", "text/csv",
                           icon=":material/download:", key="dl_sql_csv")
        d2.download_button("Excel", to_excel_bytes(result.frame, "query"), "query.xlsx",
                           icon=":material/download:", key="dl_sql_xlsx")
