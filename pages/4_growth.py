"""Growth: revenue and gross margin over time, growth versus margin, product mix, whitespace,
pipeline and win rate, phase distribution."""

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

import ui
from kam_core.metrics.growth import missing_inputs, monthly_revenue, pipeline, portfolio_figures, product_mix
from kam_core.metrics.lifecycle import phase_distribution

ctx = ui.setup_page("Growth", "📈", "Profit matters more than volume, and the long term more than the short term.")
accounts = ui.account_table(ctx)
filters = ui.shared_filters(accounts)
view, ids = ui.filtered_view(accounts, filters)
cur = ctx.settings.currency
for text in missing_inputs(ctx.con):
    ui.empty_state(f"This page {text}.")
if view.empty:
    ui.empty_state("No account matches the filters.")
    st.stop()

figures = portfolio_figures(ctx.con, view)
c1, c2, c3, c4 = st.columns(4)
c1.metric("Revenue, last 12 months", ui.money(figures["ttm_revenue"], cur),
          ui.pct(figures["revenue_growth"], 1, signed=True) if figures["revenue_growth"] is not None else None,
          help="Against the 12 months before.")
c2.metric("Gross margin, last 12 months", ui.money(figures["ttm_gross_margin"], cur),
          ui.pct(figures["gross_margin_pct"], 1) + " of revenue" if figures["gross_margin_pct"] is not None else None,
          delta_color="off", delta_arrow="off")
c3.metric("Open pipeline", ui.money(figures["open_pipeline"], cur),
          "weighted " + ui.money(figures["weighted_pipeline"], cur), delta_color="off", delta_arrow="off")
c4.metric("Win rate, last 12 months", ui.pct(figures["win_rate"]), help="Won / (won + lost) over the selected accounts.")

st.subheader("Revenue and gross margin by month")
monthly = ui.cached(ctx, monthly_revenue, account_ids=ids)
fig = go.Figure()
fig.add_bar(x=monthly["period"], y=monthly["revenue"], name="Revenue", marker_color="#1F4E79")
fig.add_scatter(x=monthly["period"], y=monthly["gross_margin"], name="Gross margin", mode="lines+markers",
                line=dict(color="#2E8B57", width=3))
fig.update_yaxes(title=f"{cur} per month")
ui.chart(fig, key="monthly")
ui.explain("36 months up to the as-of month; gross margin is the absolute gross profit.", "ttm_revenue")

left, right = st.columns(2)
with left:
    st.subheader("By tier")
    measure = st.radio("Show", ["revenue", "gross_margin"], horizontal=True, key="tier_measure",
                       format_func=lambda m: m.replace("_", " "))
    tiers = [name for name, _ in ctx.settings.tier_list]
    frames = []
    for tier in tiers:
        tier_ids = view.loc[view["tier"] == tier, "account_id"].tolist()
        if tier_ids:
            m = ui.cached(ctx, monthly_revenue, account_ids=tier_ids)
            frames.append(m.assign(tier=tier))
    if frames:
        by_tier = pd.concat(frames)
        fig = px.area(by_tier, x="period", y=measure, color="tier", category_orders={"tier": tiers},
                      color_discrete_map=ui.tier_colour_map(tiers),
                      labels={measure: f"{measure.replace('_', ' ')}, {cur} per month", "period": ""})
        ui.chart(fig, key="by_tier")
        ui.explain("Monthly revenue or gross margin of the accounts in each tier (tiers as scored today).", "tier")
    else:
        ui.empty_state("No account has a tier: load criteria.csv to score the portfolio.")
with right:
    st.subheader("Growth versus margin")
    scatter = view.dropna(subset=["revenue_growth", "gross_margin_pct"])
    if scatter.empty:
        ui.empty_state("Needs revenue with gross margin in both years (revenue.csv).")
    else:
        scatter = scatter.assign(size=scatter["ttm_revenue"].clip(lower=0), growth_pct=scatter["revenue_growth"] * 100,
                                 margin_pct=scatter["gross_margin_pct"] * 100)
        fig = px.scatter(scatter, x="growth_pct", y="margin_pct", size="size", color="tier", hover_name="name",
                         category_orders={"tier": [n for n, _ in ctx.settings.tier_list]},
                         color_discrete_map=ui.tier_colour_map([n for n, _ in ctx.settings.tier_list]),
                         labels={"growth_pct": "revenue growth, % on last year", "margin_pct": "gross margin, % of revenue",
                                 "size": f"revenue ({cur})"}, size_max=40)
        fig.add_hline(y=ctx.settings.target_margin * 100, line_dash="dot", line_color="#888",
                      annotation_text="target margin")
        fig.add_vline(x=0, line_color="#888")
        lo, hi = scatter["growth_pct"].quantile([0.02, 0.98])
        lo, hi = min(lo, -20.0), max(hi, 20.0)
        pad = (hi - lo) * 0.1
        fig.update_xaxes(range=[lo - pad, hi + pad])
        outside = int(((scatter["growth_pct"] < lo - pad) | (scatter["growth_pct"] > hi + pad)).sum())
        ui.chart(fig, key="growth_margin")
        if outside:
            st.caption(f"{outside} account(s) outside the axis range (zoom out with a double click).")
        ui.explain("Each bubble is an account (size = revenue in the last 12 months). Top right: growing "
                   "and profitable; bottom left: shrinking and thin.", "revenue_growth")

st.subheader("Product lines")
left, right = st.columns(2)
with left:
    lines = ui.cached(ctx, monthly_revenue, account_ids=ids, by="product_line")
    if lines.empty:
        ui.empty_state("Needs revenue.csv.")
    else:
        fig = px.bar(lines, x="period", y="revenue", color="product_line",
                     labels={"revenue": f"{cur} per month", "period": "", "product_line": "product line"})
        ui.chart(fig, key="mix")
        ui.explain("Revenue mix by product line over time.", "ttm_revenue")
with right:
    mix = ui.cached(ctx, product_mix, account_ids=ids)
    if mix.empty or mix["annual_potential"].isna().all():
        ui.empty_state("Whitespace needs potential.csv (the customers' estimated yearly spend per product line).")
    else:
        fig = go.Figure()
        fig.add_bar(y=mix["product_line"], x=mix["ttm_revenue"], name="Revenue, last 12 months", orientation="h",
                    marker_color="#1F4E79")
        fig.add_bar(y=mix["product_line"], x=mix["whitespace"], name="Whitespace", orientation="h",
                    marker_color="#C9D6E3")
        fig.update_layout(barmode="stack")
        fig.update_xaxes(title=cur)
        ui.chart(fig, key="whitespace")
        ui.explain("Whitespace = potential not yet won (Σ max(potential − revenue, 0) per account and line).",
                   "whitespace")
        shown = mix[["product_line", "ttm_revenue", "annual_potential", "share_of_wallet", "whitespace", "open_accounts"]]
        st.dataframe(shown, hide_index=True, width="stretch", column_config={
            "ttm_revenue": st.column_config.NumberColumn(f"revenue ({cur})", format="compact"),
            "annual_potential": st.column_config.NumberColumn(f"potential ({cur})", format="compact"),
            "share_of_wallet": st.column_config.NumberColumn("share of wallet", format="percent"),
            "whitespace": st.column_config.NumberColumn(f"whitespace ({cur})", format="compact"),
            "open_accounts": st.column_config.NumberColumn("accounts not buying it"),
        })

left, right = st.columns(2)
with left:
    st.subheader("Pipeline")
    pipe = ui.cached(ctx, pipeline, account_ids=ids)
    if pipe.empty:
        ui.empty_state("No open opportunities (opportunities.csv).")
    else:
        by_stage = (pipe.assign(stage=pipe["stage"].fillna("(no stage)"))
                    .groupby("stage", as_index=False)
                    .agg(amount=("amount", "sum"), weighted_amount=("weighted_amount", "sum"),
                         probability=("probability", "mean"))
                    .sort_values("probability"))
        fig = go.Figure()
        fig.add_bar(x=by_stage["stage"], y=by_stage["amount"], name="Amount", marker_color="#8E9AAF")
        fig.add_bar(x=by_stage["stage"], y=by_stage["weighted_amount"], name="Weighted by probability",
                    marker_color="#1F4E79")
        fig.update_yaxes(title=cur)
        ui.chart(fig, key="pipeline")
        ui.explain("Open opportunities by stage; weighted = amount × probability.", "open_pipeline")
with right:
    st.subheader("Lifecycle phases")
    phases = ui.cached(ctx, phase_distribution)
    if ids is not None:
        counts = view["phase"].fillna("unknown").value_counts()
        phases = phases.assign(accounts_count=phases["phase"].map(counts).fillna(0).astype(int))
    fig = px.bar(phases, x="phase", y="accounts_count", labels={"accounts_count": "accounts", "phase": ""},
                 color_discrete_sequence=["#1F4E79"])
    ui.chart(fig, key="phases")
    ui.explain("Pre-sales, negotiation, delivery, review, growth: where each account is in its process.", "phase")
