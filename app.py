"""KAM dashboard — entry point: ``streamlit run app.py``.

On first start, with no database present, the app builds ``data/kam.duckdb`` from the demo
CRM export in ``data/demo/`` by itself.
"""

from __future__ import annotations

import streamlit as st

from kam_core.appdata import connect_read_only, database_path, ensure_database
from kam_core.inventory import database_inventory

st.set_page_config(page_title="KAM dashboard", page_icon="♚", layout="wide")


@st.cache_resource(show_spinner="Building the database from the demo CRM export …")
def _ensure(db: str) -> None:
    ensure_database()


db = database_path()
_ensure(str(db))

st.title("Key Account Management dashboard")
st.caption(
    "Which customers are key and why, how well the team is connected to their decision makers, "
    "and where growth and profit come from — computed from your CRM exports."
)

con = connect_read_only(db)
try:
    inv = database_inventory(con)
finally:
    con.close()

c1, c2, c3, c4 = st.columns(4)
c1.metric("Accounts", f"{inv.table_rows.get('accounts', 0):,}")
c2.metric("Rows loaded", f"{sum(inv.table_rows.values()):,}")
c3.metric("Rows rejected", f"{inv.rejects:,}")
c4.metric("Data as of", inv.info.get("data_as_of", "–"))

st.subheader("What was loaded")
st.dataframe(inv.files, hide_index=True, width="stretch")
if inv.missing_tables:
    st.info(
        "Not loaded: " + ", ".join(f"{t}.csv" for t in inv.missing_tables)
        + " — the analyses that need them stay empty until such a file is loaded."
    )
if inv.rejects:
    st.subheader("Rejected rows")
    st.caption("Every input row is either loaded or kept here with the reason.")
    st.dataframe(inv.reject_sample, hide_index=True, width="stretch")
st.caption(f"Database: {db.name} · loaded {inv.info.get('loaded_at', '–')} from {inv.info.get('sources', '–')}")
