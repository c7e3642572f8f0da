"""Portfolio (senior management): which accounts are key and why — weighted criteria, tiers,
the attractiveness × strength matrix, concentration, growth and profit."""

import streamlit as st

import charts
import review_ui
import ui
import workbench_ui
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
cur = ctx.currency
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
            column_config={"criterion_id": st.column_config.TextColumn("criterion", width="medium"),
                           "name": st.column_config.TextColumn("name", width="large"),
                           "weight": st.column_config.NumberColumn(min_value=0.0, step=0.5, format="%.2f")})
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
        ui.table(moved, {"name": ui.Col("account", width="large"), "tier_before": ui.Col("tier before"),
                         "tier_after": ui.Col("tier after"),
                         "attractiveness_before": ui.Col("attractiveness before", "score"),
                         "attractiveness_after": ui.Col("attractiveness after", "score"),
                         "direction": ui.Col("direction")}, cur, key="moved", open_account=True)

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
no_criteria, no_revenue = ui.needs(ctx, "criteria"), ui.needs(ctx, "revenue")
c1, c2, c3, c4, c5 = st.columns(5)
ui.figure(c1, f"{ui.md(tier_names[0])} accounts", ui.count(len(gold)), missing=no_criteria,
          note=f"{ui.count(len(key))} with {ui.md(tier_names[1])}, of {ui.count(len(view))}")
ui.figure(c2, "Revenue, last 12 months", ui.money(ttm, cur), missing=no_revenue,
          delta=ui.pct(figures["revenue_growth"], signed=True) if figures["revenue_growth"] is not None else None,
          help="Against the 12 months before.")
ui.figure(c3, "Gross margin", ui.pct(figures["gross_margin_pct"]),
          missing=ui.needs(ctx, "revenue", column="gross_margin"),
          note=f"{ui.money(figures['ttm_gross_margin'], cur)} gross profit", help="Of the revenue with a margin.")
ui.figure(c4, f"Revenue share of {' + '.join(ui.md(t) for t in top)}",
          ui.pct(key_revenue / ttm if ttm else None), missing=no_criteria or no_revenue)
unstable = 1 - ctx.settings.borderline_stability
ui.figure(c5, "Borderline", ui.count(view["is_borderline"].fillna(False).sum()), missing=no_criteria,
          note="tier may change",
          help=f"Accounts whose tier changes under more than {ui.pct(unstable)} of small weight perturbations.")

# ---- the matrix
st.subheader("Attractiveness × strength")
plotted = view.dropna(subset=["attractiveness", "strength"])
if plotted.empty:
    ui.empty_state("No account has both an attractiveness and a strength score (criteria for both axes needed).")
else:
    fig = charts.portfolio_matrix(plotted, tier_names, ctx.settings.quadrant_strength,
                                  ctx.settings.quadrant_attractiveness, cur,
                                  labelled=charts.matrix_labels(plotted, tier_names[0]))
    event = ui.chart(fig, key="matrix", height=560, on_select="rerun", selection_mode="points")
    ui.explain("McDonald's portfolio matrix: up = how attractive the customer is for us, right = how strong "
               f"our position is. Bubble = revenue in the last 12 months; colour = tier; every "
               f"{ui.md(tier_names[0])} account and the largest ones are named. Click a bubble to explain its "
               "score below.", "quadrant")
    picked = ui.selected_account(event)
    if picked and picked != st.session_state.get("_matrix_pick"):
        # a new click explains that account (the selectbox below follows it)
        st.session_state["_matrix_pick"] = picked
        st.session_state["explain_account"] = picked

review_ui.portfolio_over_time(ctx, view, ids)  # arrows from an earlier snapshot, tier migration, board pack

# ---- tier and quadrant summary, concentration
overview = portfolio_overview(ctx.con, ctx.settings, ctx.as_of, scores=view, growth=view)
summary_cols = {"accounts_count": ui.Col("accounts", "count", width=75),
                "ttm_revenue": ui.Col("revenue", "money", width=115),
                "ttm_gross_margin": ui.Col("gross profit", "money", width=115)}
left, right = st.columns(2)
with left:
    st.markdown("**Tiers**")
    ui.table(overview.by_tier.fillna({"tier": "no tier"}), {"tier": ui.Col("tier", width=80), **summary_cols}, cur,
             key="by_tier")
with right:
    st.markdown("**Quadrants**")
    ui.table(overview.by_quadrant.fillna({"quadrant": "no quadrant"}),
             {"quadrant": ui.Col("quadrant", width=80), **summary_cols}, cur, key="by_quadrant")
ui.explain("Totals per tier and quadrant over the filtered accounts; gross profit is the absolute gross margin.",
           "portfolio_overview")

st.markdown("**Concentration** (over the filtered accounts)")
left, right = st.columns([1, 2])
with left:
    ui.figure(st, "Top 10 share", ui.pct(overview.top10_share), missing=no_revenue,
              help="Share of revenue of the 10 largest of the filtered accounts.")
    ui.figure(st, "Herfindahl", f"{overview.herfindahl:.3f}" if overview.herfindahl is not None else "–",
              missing=no_revenue,
              help="Σ of squared revenue shares: 1/N when spread evenly, 1 when one account has everything.")
with right:
    if no_revenue:
        ui.empty_state("The concentration curve needs revenue.csv.")
    else:
        ui.chart(charts.concentration_curve(view["ttm_revenue"]), key="lorenz", height=260)
ui.explain("How much of the revenue the largest accounts bring.", "top10_share")

# ---- ranked account table
st.subheader("Accounts ranked by attractiveness")
ranked = view.sort_values(["attractiveness", "ttm_revenue"], ascending=False, na_position="last")
ranked = ranked.assign(borderline=ranked["is_borderline"].map({True: "⚠ borderline", False: ""}))
ui.table(ranked, {
    "name": ui.Col("account", width=195, pinned=True),
    "tier": ui.Col("tier", width=65),
    "attractiveness": ui.Col("attractiveness", "bar", width=105),
    "strength": ui.Col("strength", "bar", width=85),
    "ttm_revenue": ui.Col("revenue", "money", width=110),
    "gross_margin_pct": ui.Col("margin", "pct", width=65),
    "tier_stability": ui.Col("stability", "pct", width=80,
                             help="Tier stability: the share of random weight changes under which the account "
                             "keeps its tier."),
    "status": ui.Col("health", "code", width=65),
}, cur, key="ranked", height=420, open_account=True)
ui.explain(f"Click an account to open it. Tier stability = share of {ctx.settings.stability_runs} random "
           f"±{ui.pct(ctx.settings.stability_spread, 0)} weight changes under which the account keeps its tier; "
           f"below {ui.pct(ctx.settings.borderline_stability, 0)} it is borderline.", "tier_stability")

# ---- score explanation
st.subheader("Why this score?")
names = ranked.set_index("account_id")["name"]
options = list(names.index)
if st.session_state.get("explain_account") not in options:
    st.session_state["explain_account"] = options[0]
chosen = st.selectbox("Account", options, format_func=lambda a: f"{names[a]} ({a})", key="explain_account",
                      help="Or click a bubble in the matrix.")
if criteria is not None and chosen:
    contrib = contributions(ctx.con, ctx.settings, ctx.as_of, metrics=ui.base_metrics(ctx).metrics,
                            account_ids=[chosen])
    row = ranked.set_index("account_id").loc[chosen]
    st.markdown(f"**{ui.md(row['name'])}** — attractiveness **{ui.score(row['attractiveness'])}**, strength "
                f"**{ui.score(row['strength'])}** → tier **{ui.md(ui.text(row['tier']))}**, quadrant "
                f"**{ui.md(ui.text(row['quadrant']))}**")
    ui.chart(charts.contribution_bars(contrib), key="contrib", height=80 + 28 * len(contrib))
    missing = contrib[contrib["is_missing"].fillna(False)]
    if not missing.empty:
        st.caption("No score given (counts 0): " + ", ".join(ui.md(n) for n in missing["name"]))
    ui.explain("Each bar is weight × score / Σ weights × 10; the bars of one axis add up to its score.",
               "contributions")
    workbench_ui.criterion_scores_editor(ctx, chosen)
