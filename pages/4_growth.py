"""Growth: revenue and gross margin over time, growth versus margin, product mix, whitespace,
pipeline and win rate, phase distribution."""

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

import charts
import ui
from kam_core.metrics.growth import missing_inputs, monthly_revenue, pipeline, portfolio_figures, product_mix
from kam_core.metrics.lifecycle import phase_distribution

ctx = ui.setup_page("Growth", "📈", "Profit matters more than volume, and the long term more than the short term.")
accounts = ui.account_table(ctx)
filters = ui.shared_filters(accounts)
view, ids = ui.filtered_view(accounts, filters)
cur = ctx.currency
for text in missing_inputs(ctx.con):
    ui.empty_state(f"This page {text}.")
if view.empty:
    ui.empty_state("No account matches the filters.")
    st.stop()

no_revenue, no_opportunities = ui.needs(ctx, "revenue"), ui.needs(ctx, "opportunities")
figures = portfolio_figures(ctx.con, view)
c1, c2, c3, c4 = st.columns(4)
ui.figure(c1, "Revenue, last 12 months", ui.money(figures["ttm_revenue"], cur), missing=no_revenue,
          delta=ui.pct(figures["revenue_growth"], signed=True) if figures["revenue_growth"] is not None else None,
          help="Against the 12 months before.")
ui.figure(c2, "Gross margin, last 12 months", ui.pct(figures["gross_margin_pct"]),
          missing=ui.needs(ctx, "revenue", column="gross_margin"),
          note=f"{ui.money(figures['ttm_gross_margin'], cur)} gross profit", help="Of the revenue with a margin.")
ui.figure(c3, "Open pipeline", ui.money(figures["open_pipeline"], cur), missing=no_opportunities,
          note=(f"weighted {ui.money(figures['weighted_pipeline'], cur)}" if figures["weighted_pipeline"] is not None
                else f"weighted – ({ui.needs(ctx, 'opportunities', column='probability')})")
          + (f" · {ui.count(figures['open_deals_without_amount'])} without amount"
             if figures.get("open_deals_without_amount") else ""))
ui.figure(c4, "Win rate, last 12 months", ui.pct(figures["win_rate"]), missing=no_opportunities,
          note=None if figures["win_rate"] is not None else "no deal closed in 12 months",
          help="Won / (won + lost) over the selected accounts.")

st.subheader("Revenue and gross margin by month")
if no_revenue:
    ui.empty_state("Needs revenue.csv.")
else:
    monthly = ui.cached(ctx, monthly_revenue, account_ids=ids)
    fig = go.Figure()
    fig.add_bar(x=monthly["period"], y=monthly["revenue"], name="revenue", marker_color=ui.SERIES_COLOURS["revenue"])
    fig.add_scatter(x=monthly["period"], y=monthly["gross_margin"], name="gross margin", mode="lines+markers",
                    line=dict(color=ui.SERIES_COLOURS["gross margin"], width=3, dash="dot"))
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
    for tier in ([] if no_revenue else tiers):
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
        ui.empty_state("Needs revenue.csv." if no_revenue else
                       "No account has a tier: load criteria.csv to score the portfolio.")
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
        # the usual range: a few new or collapsing accounts would squeeze everyone else to a line
        lo, hi = scatter["growth_pct"].quantile([0.05, 0.95])
        lo, hi = min(max(lo, -60.0), -20.0), max(min(hi, 80.0), 20.0)
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
    lines = pd.DataFrame() if no_revenue else ui.cached(ctx, monthly_revenue, account_ids=ids, by="product_line")
    if lines.empty:
        ui.empty_state("Needs revenue.csv." if no_revenue else "No revenue in the last 36 months.")
    else:
        ui.chart(charts.revenue_by_line(lines, cur), key="mix")
        ui.explain("Revenue by product line per month; the dotted line is the month's gross margin.", "ttm_revenue")
with right:
    mix = ui.cached(ctx, product_mix, account_ids=ids)
    if ui.needs(ctx, "potential") or mix.empty:
        ui.empty_state("Whitespace needs potential.csv (the customers' estimated yearly spend per product line).")
    else:
        fig = go.Figure()
        fig.add_bar(y=mix["product_line"], x=mix["ttm_revenue"], name="revenue, last 12 months", orientation="h",
                    marker_color=ui.SERIES_COLOURS["revenue"])
        fig.add_bar(y=mix["product_line"], x=mix["whitespace"], name="whitespace", orientation="h",
                    marker_color=ui.SERIES_COLOURS["whitespace"])
        fig.update_layout(barmode="stack")
        fig.update_xaxes(title=cur)
        ui.chart(fig, key="whitespace")
        ui.explain("Whitespace = potential not yet won (Σ max(potential − revenue, 0) per account and line).",
                   "whitespace")
        ui.table(mix, {"product_line": ui.Col("line", width=85), "ttm_revenue": ui.Col("revenue", "money", width=105),
                       "share_of_wallet": ui.Col("share", "pct", width=70, help="Share of wallet: revenue / potential."),
                       "whitespace": ui.Col("whitespace", "money", width=110)},
                 cur, key="mix_table")

left, right = st.columns(2)
with left:
    st.subheader("Pipeline")
    pipe = pd.DataFrame() if no_opportunities else ui.cached(ctx, pipeline, account_ids=ids)
    if pipe.empty:
        ui.empty_state("Needs opportunities.csv." if no_opportunities else "No open opportunities.")
    else:
        by_stage = (pipe.assign(stage=pipe["stage"].fillna("(no stage)"))
                    .groupby("stage", as_index=False)
                    .agg(amount=("amount", "sum"), weighted_amount=("weighted_amount", "sum"),
                         probability=("probability", "mean"))
                    .sort_values("probability"))
        fig = go.Figure()
        fig.add_bar(x=by_stage["stage"], y=by_stage["amount"], name="amount", marker_color=ui.SERIES_COLOURS["amount"])
        fig.add_bar(x=by_stage["stage"], y=by_stage["weighted_amount"], name="weighted by probability",
                    marker_color=ui.SERIES_COLOURS["weighted"])
        fig.update_yaxes(title=cur)
        ui.chart(fig, key="pipeline")
        ui.explain("Open opportunities by stage; weighted = amount × probability.", "open_pipeline")
with right:
    st.subheader("Lifecycle phases")
    phases = ui.cached(ctx, phase_distribution)
    if ids is not None:
        counts = view["phase"].fillna("unknown").value_counts()
        phases = phases.assign(accounts_count=phases["phase"].map(counts).fillna(0).astype(int))
    phases = phases.assign(phase=phases["phase"].map(ui.words))
    fig = px.bar(phases, x="phase", y="accounts_count", labels={"accounts_count": "accounts", "phase": ""},
                 color_discrete_sequence=[ui.SERIES_COLOURS["revenue"]])
    ui.chart(fig, key="phases")
    ui.explain("Pre-sales, negotiation, delivery, review, growth: where each account is in its process.", "phase")
