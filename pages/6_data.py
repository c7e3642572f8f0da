"""Data: what is loaded, what is missing for which analysis, the rejects with their reasons,
and loading new exports by upload — with a mapping screen for files in no recognised format
(the upload and mapping screen live in ``mapping_ui``; this page stays thin).
"""

from pathlib import Path

import streamlit as st

import ui
from kam_core.access import Action, require
from kam_core.appdata import database_path
from kam_core.errors import KamError
from kam_core.export import to_csv_bytes
from kam_core.ingest.importers import missing_analyses
from kam_core.ingest.inventory import database_inventory
from kam_core.ingest.loader import load
from mapping_ui import UPLOAD_DIR, mapping_screen, scan_needs_mapping, stamp, store_uploads, upload_sources


def rebuild(sources: list[Path], mapping_path: Path | None = None) -> str | None:
    """Rebuild the database from the sources; reruns the page on success, else returns the error."""
    with st.spinner("Loading …"):
        try:
            require(ui.current_actor(), Action.LOAD_DATA)
            report = load(sources, database_path(), ctx.settings, mapping=mapping_path)
        except KamError as exc:
            ui.show_error(exc)
            st.caption("The previous database is unchanged.")
            return str(exc)
    st.cache_data.clear()
    st.session_state["_load_report"] = report.lines()
    st.rerun()
    return None


# ---------------------------------------------------------------- the page

ctx = ui.setup_page(
    "Data", "🗄️", "What the dashboard is computed from — and every row it could not use, with the reason."
)
inv = database_inventory(ctx.con, sample=100_000)

c1, c2, c3, c4 = st.columns(4)
c1.metric("Accounts", f"{inv.table_rows.get('accounts', 0):,}")
c2.metric("Rows loaded", f"{sum(inv.table_rows.values()):,}")
c3.metric("Rows rejected", f"{inv.rejects:,}")
c4.metric(
    "As of",
    ctx.as_of.isoformat(),
    help="The date every metric is computed for: the latest date in "
    "the data (capped at today) unless the setting as_of says otherwise.",
)
st.caption(
    f"Loaded {inv.info.get('loaded_at', '–')} from {inv.info.get('sources', '–')} "
    f"in {inv.info.get('load_seconds', '–')} s · currency {ctx.settings.currency}"
)

left, right = st.columns([1, 2])
with left:
    st.subheader("Tables")
    rows = [{"table": t, "rows": n} for t, n in inv.table_rows.items()]
    st.dataframe(rows, hide_index=True, width="stretch")
    if inv.missing_tables:
        st.caption("Not loaded: " + ", ".join(inv.missing_tables) + ".")
with right:
    st.subheader("Missing for an analysis")
    missing = missing_analyses(ctx.con)
    if missing:
        st.caption("What the loaded files leave out, and which file would fill it.")
        st.markdown("\n".join(f"- {m}" for m in missing))
    else:
        st.success("Every analysis has the data it needs.")

st.subheader("Files")
st.dataframe(inv.files, hide_index=True, width="stretch")

st.subheader(f"Rejected rows ({inv.rejects:,})")
if inv.rejects:
    st.caption(
        "Each row that could not be loaded, with the file, the row number as a spreadsheet "
        "shows it, the raw row and the reason."
    )
    st.dataframe(inv.reject_sample, hide_index=True, width="stretch")
    st.download_button(
        "Download rejects (CSV)",
        to_csv_bytes(inv.reject_sample),
        "rejects.csv",
        "text/csv",
        icon=":material/download:",
    )
else:
    st.success("Every input row was loaded.")
if inv.warnings:
    with st.expander(f"Warnings ({inv.warnings:,}): rows kept, but a reference does not resolve"):
        warnings = ctx.con.execute(
            "select source_file as file, row_number as row, message from warnings "
            "order by source_file, row_number limit 10000"
        ).df()
        st.dataframe(warnings, hide_index=True, width="stretch")

st.subheader("Load new exports")
st.caption(
    "Upload a .zip of an export folder or several files named after their tables "
    "(accounts.csv, contacts.xlsx …), a CRM export (Salesforce, HubSpot, Dynamics 365), or any "
    "other files and map their columns below. The database is rebuilt with the same loader; the "
    "current one stays in use until the new one is complete."
)
may_load = ui.permitted(Action.LOAD_DATA)  # else: which role loading needs
uploads = st.file_uploader(
    "Export files",
    accept_multiple_files=True,
    type=["csv", "txt", "tsv", "xlsx", "xlsm", "parquet", "zip"],
    key="upload",
    disabled=not may_load,
)
store_uploads(uploads, ctx.settings)
upload_dir = st.session_state.get(UPLOAD_DIR)
uploaded = upload_sources(upload_dir) if upload_dir else []
if uploaded:
    st.caption("Uploaded: " + ", ".join(p.name for p in uploaded))
    unrecognised = scan_needs_mapping(upload_dir, stamp(uploaded))
    if unrecognised:
        st.info(
            "These files are in no recognised format (no known CRM export, no accounts file with "
            "account_id): map their columns below.",
            icon=":material/info:",
        )
    elif st.button("Rebuild the database", type="primary", icon=":material/upload:", key="rebuild"):
        if rebuild(uploaded) is not None:
            st.session_state["_map_forced"] = True
    if (
        unrecognised
        or st.session_state.get("_map_forced")
        or st.toggle("Map the columns myself", key="map_open")
    ):
        mapping_screen(upload_dir, uploaded, ctx.settings, rebuild)
if st.session_state.get("_load_report"):
    with st.expander("Last load", expanded=True):
        st.code("\n".join(st.session_state["_load_report"]), language=None)
