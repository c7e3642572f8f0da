"""Portfolio (senior management): which accounts are key and why — weighted criteria, tiers,
the attractiveness × strength matrix, concentration, growth and profit."""

import streamlit as st

import charts
import review_ui
import ui
from kam_core.metrics.growth import portfolio_figures
from kam_core.metrics.portfolio import (
    contributions,
    key_tiers,
    portfolio_overview,
    tier_changes,
    weight_overrides,
    weights_in_force,
)

ctx = ui.setup_page("Portfolio", "♛", "Key accounts are chosen by weighted criteria, not by revenue alone.")
cur = ctx.settings.currency
criteria = ui.criteria_table(ctx)
if criteria is None:
    ui.empty_state("Scoring needs criteria.csv (criterion_id, name, axis, weight, source) and, for manual "
                   "criteria, criterion_scores.csv. Until then accounts have no tier or quadrant.")

# ---- weight editor: a session override of the criteria weights, re-scored live
saved_settings = ui.saved_settings()
if criteria is not None:
    with st.expander("Criteria and weights — change a weight to re-score live", expanded=False,
                     icon=":material/tune:"):
        shown = weights_in_force(criteria, ctx.settings)
        edited = st.data_editor(
            shown[["criterion_id", "name", "axis", "source", "weight"]], hide_index=True, width="stretch",
            disabled=["criterion_id", "name", "axis", "source"], key="weights",
            column_config={"weight": st.column_config.NumberColumn(min_value=0.0, step=0.5, format="%.2f")})
        override = weight_overrides(criteria, edited)
        if override != ctx.settings.criteria_weights:
            ui.set_session_override("criteria_weights", override)
            st.rerun()
        c1, c2 = st.columns([1, 4])
        if override and c1.button("Reset weights", icon=":material/restart_alt:"):
            ui.set_session_override("criteria_weights", {})
            st.session_state.pop("weights", None)
            st.rerun()
        c2.caption("Changes apply to this session; save them for everyone on the Settings page.")

accounts = ui.account_table(ctx)
filters = ui.shared_filters(accounts)
view, ids = ui.filtered_view(accounts, filters)
tier_names = [name for name, _ in ctx.settings.tier_list]

if ctx.settings != saved_settings:
    before = ui.scores(ctx, saved_settings)
    after = ui.scores(ctx)
    moved = tier_changes(before, after)
    moved = moved[moved["account_id"].isin(view["account_id"])]
    st.warning(f"Unsaved weight changes: {len(moved)} account(s) change tier.", icon=":material/sync_alt:")
    if not moved.empty:
        st.dataframe(moved[["name", "tier_before", "tier_after", "attractiveness_before", "attractiveness_after",
                            "direction"]], hide_index=True, width="stretch",
                     column_config={"attractiveness_before": st.column_config.NumberColumn(format="%.1f"),
                                    "attractiveness_after": st.column_config.NumberColumn(format="%.1f")})

if view.empty:
    ui.empty_state("No account matches the filters.")
    st.stop()

# ---- headline figures
top = key_tiers(ctx.settings)
key = view[view["tier"].isin(top)]
gold = view[view["tier"] == tier_names[0]]
figures = portfolio_figures(ctx.con, view)
ttm = figures["ttm_revenue"]
key_revenue = portfolio_figures(ctx.con, key)["ttm_revenue"]
c1, c2, c3, c4, c5 = st.columns(5)
c1.metric(f"{ui.md(tier_names[0])} accounts", f"{len(gold):,}", f"{len(key):,} with {tier_names[1]}, of {len(view):,}",
          delta_color="off", delta_arrow="off")
c2.metric("Revenue, last 12 months", ui.money(ttm, cur),
          ui.pct(figures["revenue_growth"], 1, True) if figures["revenue_growth"] is not None else None)
c3.metric("Gross margin", ui.money(figures["ttm_gross_margin"], cur),
          ui.pct(figures["gross_margin_pct"], 1) + " of revenue" if figures["gross_margin_pct"] is not None else None,
          delta_color="off", delta_arrow="off")
c4.metric(f"Revenue share of {' + '.join(ui.md(t) for t in top)}", ui.pct(key_revenue / ttm if ttm else None))
unstable = 1 - ctx.settings.borderline_stability
c5.metric("Borderline", f"{int(view['is_borderline'].fillna(False).sum()):,}",
          help=f"Accounts whose tier changes under more than {ui.pct(unstable)} of small weight perturbations.")

# ---- the matrix
st.subheader("Attractiveness × strength")
plotted = view.dropna(subset=["attractiveness", "strength"])
if plotted.empty:
    ui.empty_state("No account has both an attractiveness and a strength score (criteria for both axes needed).")
else:
    fig = charts.portfolio_matrix(plotted, tier_names, ctx.settings.quadrant_strength,
                                  ctx.settings.quadrant_attractiveness, cur)
    event = ui.chart(fig, key="matrix", height=560, on_select="rerun", selection_mode="points")
    ui.explain("McDonald's portfolio matrix: up = how attractive the customer is for us, right = how strong "
               "our position is. Bubble = revenue in the last 12 months; colour = tier. Click a bubble to "
               "explain its score.", "quadrant")
    picked = ui.selected_account(event)
    if picked:
        st.session_state["portfolio_explain"] = picked

review_ui.portfolio_over_time(ctx, view, ids)  # arrows from an earlier snapshot, tier migration, board pack

# ---- tier and quadrant summary, concentration
overview = portfolio_overview(ctx.con, ctx.settings, ctx.as_of, scores=view, growth=view)
left, mid, right = st.columns(3)
money_cfg = {"ttm_revenue": st.column_config.NumberColumn(f"revenue ({cur})", format="compact"),
             "ttm_gross_margin": st.column_config.NumberColumn(f"gross margin ({cur})", format="compact"),
             "accounts_count": "accounts"}
with left:
    st.markdown("**Tiers**")
    st.dataframe(overview.by_tier.drop(columns=["tier_rank"]).fillna({"tier": "no tier"}), hide_index=True,
                 width="stretch", column_config=money_cfg)
with mid:
    st.markdown("**Quadrants**")
    st.dataframe(overview.by_quadrant.fillna({"quadrant": "no quadrant"}), hide_index=True, width="stretch",
                 column_config=money_cfg)
with right:
    st.markdown("**Concentration**")
    c1, c2 = st.columns(2)
    c1.metric("Top 10 share", ui.pct(overview.top10_share), help="Share of revenue of the 10 largest accounts.")
    c2.metric("Herfindahl", f"{overview.herfindahl:.3f}" if overview.herfindahl is not None else "–",
              help="Σ of squared revenue shares: 1/N when spread evenly, 1 when one account has everything.")
    ui.chart(charts.concentration_curve(view["ttm_revenue"]), key="lorenz", height=230)
ui.explain("Totals per tier and quadrant over the filtered accounts.", "tier")

# ---- ranked account table
st.subheader("Accounts ranked by attractiveness")
ranked = view.sort_values(["attractiveness", "ttm_revenue"], ascending=False, na_position="last")
ranked = ranked.assign(account=[f"/account?account={a}" for a in ranked["account_id"]],
                       stability=ranked["tier_stability"],
                       borderline=ranked["is_borderline"].map({True: "⚠ borderline", False: ""}),
                       health=ranked["status"])
st.dataframe(
    ranked[["account", "name", "attractiveness", "strength", "tier", "quadrant", "stability", "borderline",
            "missing_criteria", "ttm_revenue", "revenue_growth", "gross_margin_pct", "health"]],
    hide_index=True, width="stretch", height=420,
    column_config={
        "account": st.column_config.LinkColumn("account", display_text=r"account=(.*)$", width="small"),
        "attractiveness": st.column_config.ProgressColumn(min_value=0, max_value=100, format="%.0f"),
        "strength": st.column_config.ProgressColumn(min_value=0, max_value=100, format="%.0f"),
        "stability": st.column_config.NumberColumn("tier stability", format="percent"),
        "missing_criteria": st.column_config.NumberColumn("missing scores"),
        "ttm_revenue": st.column_config.NumberColumn(f"revenue ({cur})", format="compact"),
        "revenue_growth": st.column_config.NumberColumn("growth", format="percent"),
        "gross_margin_pct": st.column_config.NumberColumn("margin", format="percent"),
    })
ui.explain(f"Tier stability = share of {ctx.settings.stability_runs} random ±{ui.pct(ctx.settings.stability_spread)} "
           "weight changes under which the account keeps its tier; below "
           f"{ui.pct(ctx.settings.borderline_stability)} it is borderline.", "tier_stability")

# ---- score explanation
st.subheader("Why this score?")
names = ranked.set_index("account_id")["name"]
default = st.session_state.get("portfolio_explain")
options = list(names.index)
chosen = st.selectbox("Account", options, index=options.index(default) if default in options else 0,
                      format_func=lambda a: f"{names[a]} ({a})", key="explain_account")
if criteria is not None and chosen:
    contrib = contributions(ctx.con, ctx.settings, ctx.as_of, metrics=ui.base_metrics(ctx).metrics,
                            account_ids=[chosen])
    row = ranked.set_index("account_id").loc[chosen]
    st.markdown(f"**{ui.md(row['name'])}** — attractiveness **{row['attractiveness']:.1f}**, strength "
                f"**{row['strength']:.1f}** → tier **{ui.md(row['tier'])}**, quadrant **{ui.md(row['quadrant'])}**")
    ui.chart(charts.contribution_bars(contrib), key="contrib", height=80 + 28 * len(contrib))
    missing = contrib[contrib["is_missing"].fillna(False)]
    if not missing.empty:
        st.caption("No score given (counts 0): " + ", ".join(ui.md(n) for n in missing["name"]))
    ui.explain("Each bar is weight × score / Σ weights × 10; the bars of one axis add up to its score.",
               "contributions")
