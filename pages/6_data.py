"""Data: what is loaded, the rejects with their reasons, and loading new exports by upload."""

import tempfile
from pathlib import Path

import streamlit as st

import ui
from kam_core.appdata import database_path
from kam_core.errors import KamError
from kam_core.export import to_csv_bytes
from kam_core.inventory import database_inventory
from kam_core.loader import load

ctx = ui.setup_page("Data", "🗄️", "What the dashboard is computed from — and every row it could not use, with the reason.")
inv = database_inventory(ctx.con, sample=100_000)

c1, c2, c3, c4 = st.columns(4)
c1.metric("Accounts", f"{inv.table_rows.get('accounts', 0):,}")
c2.metric("Rows loaded", f"{sum(inv.table_rows.values()):,}")
c3.metric("Rows rejected", f"{inv.rejects:,}")
c4.metric("As of", ctx.as_of.isoformat(), help="The date every metric is computed for: the latest date in "
          "the data (capped at today) unless the setting as_of says otherwise.")
st.caption(f"Loaded {inv.info.get('loaded_at', '–')} from {inv.info.get('sources', '–')} "
           f"in {inv.info.get('load_seconds', '–')} s · currency {ctx.settings.currency}")

st.subheader("Tables")
rows = [{"table": t, "rows": n} for t, n in inv.table_rows.items()]
st.dataframe(rows, hide_index=True, width=420)
if inv.missing_tables:
    ui.empty_state("Not loaded: " + ", ".join(f"**{t}**" for t in inv.missing_tables)
                   + ". Pages that need them say so; add such a file to the export to fill them.")

st.subheader("Files")
st.dataframe(inv.files, hide_index=True, width="stretch")

st.subheader(f"Rejected rows ({inv.rejects:,})")
if inv.rejects:
    st.caption("Each row that could not be loaded, with the file, the row number as a spreadsheet "
               "shows it, the raw row and the reason.")
    st.dataframe(inv.reject_sample, hide_index=True, width="stretch")
    st.download_button("Download rejects (CSV)", to_csv_bytes(inv.reject_sample), "rejects.csv",
                       "text/csv", icon=":material/download:")
else:
    st.success("Every input row was loaded.")
if inv.warnings:
    with st.expander(f"Warnings ({inv.warnings:,}): rows kept, but a reference does not resolve"):
        warnings = ctx.con.execute(
            "select source_file as file, row_number as row, message from warnings "
            "order by source_file, row_number limit 10000").df()
        st.dataframe(warnings, hide_index=True, width="stretch")

st.subheader("Load new exports")
st.caption("Upload a .zip of an export folder or several files named after their tables "
           "(accounts.csv, contacts.xlsx …). The database is rebuilt with the same loader; the "
           "current one stays in use until the new one is complete.")
uploads = st.file_uploader("Export files", accept_multiple_files=True,
                           type=["csv", "txt", "tsv", "xlsx", "xlsm", "parquet", "zip"], key="upload")
if uploads and st.button("Rebuild the database", type="primary", icon=":material/upload:"):
    with tempfile.TemporaryDirectory(prefix="kam-upload-") as tmp:
        paths = []
        for up in uploads:
            path = Path(tmp) / Path(up.name).name
            path.write_bytes(up.getbuffer())
            paths.append(path)
        with st.spinner("Loading …"):
            try:
                report = load(paths, database_path(), ctx.settings)
            except KamError as exc:
                report = None
                ui.show_error(exc)
                st.caption("The previous database is unchanged.")
    if report is not None:
        ui.release_connection()
        st.cache_data.clear()
        st.session_state["_load_report"] = report.lines()
        st.rerun()
if st.session_state.get("_load_report"):
    with st.expander("Last load", expanded=True):
        st.code("\n".join(st.session_state["_load_report"]), language=None)
