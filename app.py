"""KAM dashboard — entry point and home page: ``streamlit run app.py``.

On first start, with no database present, the app builds ``data/kam.duckdb`` from the demo
CRM export in ``data/demo/`` by itself. The other pages are in ``pages/``.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import review_ui
import ui
from kam_core.filters import most_urgent_first
from kam_core.ingest.inventory import load_summary
from kam_core.metrics.growth import portfolio_figures
from kam_core.metrics.portfolio import key_tiers

ctx = ui.setup_page(
    "Key Account Management",
    caption="Which customers are key and why, how well the team is connected to their decision "
    "makers, and where growth and profit come from — computed from your CRM exports.",
)
accounts = ui.account_table(ctx)
filters = ui.shared_filters(accounts)
view, ids = ui.filtered_view(accounts, filters)
cur = ctx.currency
top_tiers = key_tiers(ctx.settings)
figures = portfolio_figures(ctx.con, view)
rated = view["status"].isin(["green", "amber", "red"])

c1, c2, c3, c4, c5 = st.columns(5)
ui.figure(c1, "Accounts", ui.count(len(view)))
ui.figure(c2, f"In {' and '.join(ui.md(t) for t in top_tiers)}", ui.count(view["tier"].isin(top_tiers).sum()),
          missing=ui.needs(ctx, "criteria"))
ui.figure(c3, "Revenue, last 12 months", ui.money(figures["ttm_revenue"], cur), missing=ui.needs(ctx, "revenue"))
ui.figure(c4, "Gross margin", ui.pct(figures["gross_margin_pct"]),
          missing=ui.needs(ctx, "revenue", column="gross_margin"),
          note="of the revenue with a margin" if figures["gross_margin_pct"] is not None else None)
ui.figure(c5, "Red accounts", ui.count((view["status"] == "red").sum()) if rated.any() else "–",
          note=f"{ui.count((view['status'] == 'amber').sum())} amber, {ui.count((view['status'] == 'green').sum())} "
          "green" if rated.any() else "no account has health data")

left, right = st.columns([3, 2])
with left:
    st.subheader("Needs attention")
    red = most_urgent_first(view[view["status"] == "red"]).head(10)
    if not rated.any():
        ui.empty_state("No account has health data yet: health needs contacts.csv and relationships.csv, "
                       "revenue.csv, reviews.csv or activities.csv.")
    elif red.empty:
        st.success("No account is red under the current filters.")
    for row in red.itertuples():
        revenue = "" if pd.isna(row.ttm_revenue) else f" · {ui.money(row.ttm_revenue, cur)}"  # (no revenue.csv: none)
        ui.account_link(f"**{ui.md(row.name)}** · {ui.md(ui.text(row.tier, 'no tier'))}{revenue}", row.account_id)
        reasons = ui.reason_list(row.reasons)
        reasons.sort(key=lambda r: not ui.makes_red(r, ctx.settings.status_amber))  # what makes it red first, then the rest
        st.caption("; ".join(ui.md(r) for r in reasons[:3]) + (" …" if len(reasons) > 3 else ""))
    if len(red):
        ui.explain("The red accounts of the filters, the most revenue at stake first; a name opens the account.",
                   "status")
    review_ui.worse_since_last_load(ctx, view)  # status worse than at the previous load's snapshot
with right:
    st.subheader("Tiers at a glance")
    tiers = [name for name, _ in ctx.settings.tier_list]
    if ui.needs(ctx, "criteria"):
        ui.empty_state("Tiers need criteria.csv (criterion_id, name, axis, weight, source).")
    else:
        per_tier = (view.assign(tier=view["tier"].fillna("no tier")).groupby("tier", as_index=False)
                    .agg(accounts=("account_id", "count"), revenue=("ttm_revenue", "sum")))
        by_revenue = ui.needs(ctx, "revenue") is None
        # (plotly.graph_objects, not plotly.express: the first page does not wait for px's import)
        order = [*tiers, "no tier"]
        per_tier = per_tier.sort_values("tier", key=lambda t: t.map({name: i for i, name in enumerate(order)}))
        colours = ui.tier_colour_map(tiers)
        measure = "revenue" if by_revenue else "accounts"
        fig = go.Figure(go.Bar(
            x=per_tier["tier"], y=per_tier[measure], text=per_tier["accounts"], texttemplate="%{text:,} accounts",
            marker_color=[colours.get(t, "#BDBDBD") for t in per_tier["tier"]],
            hovertemplate=("%{x}: %{y:,.0f} " + cur if by_revenue else "%{x}: %{y:,} accounts") + "<extra></extra>"))
        fig.update_layout(xaxis=dict(categoryorder="array", categoryarray=order),
                          yaxis_title=f"revenue, last 12 months ({cur})" if by_revenue else "accounts")
        ui.chart(fig, key="home_tiers", height=260)
        ui.explain("Revenue and number of accounts per tier." if by_revenue else
                   "Accounts per tier (revenue needs revenue.csv).", "tier")
    st.subheader("Pages")
    st.page_link("pages/1_portfolio.py", label="Portfolio — which accounts are key and why",
                 icon=":material/grid_view:", query_params=ui.filter_params())
    st.page_link("pages/2_account.py", label="Account — one account's health for the mentor",
                 icon=":material/person_search:", query_params=ui.filter_params())
    st.page_link("pages/3_relationships.py", label="Relationships — coverage across the portfolio",
                 icon=":material/hub:", query_params=ui.filter_params())
    st.page_link("pages/4_growth.py", label="Growth — revenue, margin, pipeline", icon=":material/trending_up:",
                 query_params=ui.filter_params())
    st.page_link("pages/5_explore.py", label="Explore — tables, SQL, downloads", icon=":material/query_stats:",
                 query_params=ui.filter_params())

loaded = load_summary(ctx.con)
st.caption(
    f"Data as of {ctx.as_of.isoformat()} · amounts in {ui.md(cur)} · {loaded.rows_loaded:,} rows loaded, "
    f"{loaded.rejects:,} rejected · loaded {ui.md(loaded.info.get('loaded_at', '–'))} from "
    f"{ui.md(loaded.info.get('sources', '–'))} "
    "· see the Data page"
)
