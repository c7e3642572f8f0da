"""KAM dashboard — entry point and home page: ``streamlit run app.py``.

On first start, with no database present, the app builds ``data/kam.duckdb`` from the demo
CRM export in ``data/demo/`` by itself. The other pages are in ``pages/``.
"""

from __future__ import annotations

from urllib.parse import quote

import plotly.express as px
import streamlit as st

import review_ui
import ui
from kam_core.ingest.inventory import database_inventory
from kam_core.metrics.growth import portfolio_figures
from kam_core.metrics.portfolio import key_tiers

ctx = ui.setup_page(
    "Key Account Management",
    caption="Which customers are key and why, how well the team is connected to their decision "
    "makers, and where growth and profit come from — computed from your CRM exports.",
)
accounts = ui.account_table(ctx)
filters = ui.shared_filters(accounts)
view = accounts if ui.filtered_ids(accounts, filters) is None else accounts[
    accounts["account_id"].isin(ui.filtered_ids(accounts, filters))]
cur = ctx.settings.currency
top_tiers = key_tiers(ctx.settings)
figures = portfolio_figures(ctx.con, view)

c1, c2, c3, c4, c5 = st.columns(5)
c1.metric("Accounts", f"{len(view):,}")
c2.metric(f"In {' and '.join(ui.md(t) for t in top_tiers)}", f"{view['tier'].isin(top_tiers).sum():,}")
c3.metric("Revenue, last 12 months", ui.money(figures["ttm_revenue"], cur))
c4.metric("Gross margin", ui.pct(figures["gross_margin_pct"], 1))
c5.metric("Red accounts", f"{(view['status'] == 'red').sum():,}")

left, right = st.columns([3, 2])
with left:
    st.subheader("Needs attention")
    red = view[view["status"] == "red"].sort_values("ttm_revenue", ascending=False).head(10)
    if red.empty:
        st.success("No account is red under the current filters.")
    for row in red.itertuples():
        reasons = "; ".join(row.reasons[:3]) if isinstance(row.reasons, list | tuple) else ""
        st.markdown(f":red[●] **[{ui.md(row.name)}](/account?account={quote(str(row.account_id), safe='')})** · "
                    f"{ui.md(row.tier or '–')} · {ui.money(row.ttm_revenue, cur)} — {ui.md(reasons)}")
    review_ui.worse_since_last_load(ctx, view)  # status worse than at the previous load's snapshot
with right:
    st.subheader("Tiers at a glance")
    tiers = [name for name, _ in ctx.settings.tier_list]
    per_tier = (view.assign(tier=view["tier"].fillna("no tier")).groupby("tier", as_index=False)
                .agg(accounts=("account_id", "count"), revenue=("ttm_revenue", "sum")))
    fig = px.bar(per_tier, x="tier", y="revenue", text="accounts", color="tier",
                 category_orders={"tier": [*tiers, "no tier"]}, color_discrete_map=ui.tier_colour_map(tiers),
                 labels={"revenue": f"revenue, last 12 months ({cur})", "tier": ""})
    fig.update_traces(texttemplate="%{text} accounts", showlegend=False)
    ui.chart(fig, key="home_tiers", height=260)
    ui.explain("Revenue and number of accounts per tier.", "tier")
    st.subheader("Pages")
    st.page_link("pages/1_portfolio.py", label="Portfolio — which accounts are key and why", icon=":material/grid_view:")
    st.page_link("pages/2_account.py", label="Account — one account's health for the mentor", icon=":material/person_search:")
    st.page_link("pages/3_relationships.py", label="Relationships — coverage across the portfolio", icon=":material/hub:")
    st.page_link("pages/4_growth.py", label="Growth — revenue, margin, pipeline", icon=":material/trending_up:")
    st.page_link("pages/5_explore.py", label="Explore — tables, SQL, downloads", icon=":material/query_stats:")

inv = database_inventory(ctx.con, sample=0)
st.caption(
    f"Data as of {ctx.as_of.isoformat()} · {sum(inv.table_rows.values()):,} rows loaded, "
    f"{inv.rejects:,} rejected · loaded {ui.md(inv.info.get('loaded_at', '–'))} from "
    f"{ui.md(inv.info.get('sources', '–'))} "
    "· see the Data page"
)
