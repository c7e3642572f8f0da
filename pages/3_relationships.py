"""Relationships across the portfolio: coverage versus revenue, single-threaded accounts,
uncovered kings, high-influence opponents, who the portfolio depends on, team × account map."""

import plotly.express as px
import streamlit as st

import ui
from kam_core.metrics.coverage import (
    dependency_by_member,
    member_exposure,
    missing_inputs_message,
    opponent_list,
    team_account_matrix,
)

ctx = ui.setup_page("Relationships", "🕸️", "People buy from people: how well the team reaches the "
                    "customers' decision makers — and where it hangs on a single thread.")
accounts = ui.account_table(ctx)
filters = ui.shared_filters(accounts)
view, ids = ui.filtered_view(accounts, filters)
cur = ctx.settings.currency
missing = missing_inputs_message(ctx.con)
if missing:
    ui.empty_state(missing + " Export contacts with their chess piece and attitude, and who knows whom.")
    st.stop()
if view.empty:
    ui.empty_state("No account matches the filters.")
    st.stop()


def account_link(frame):
    return frame.assign(account=[f"/account?account={a}" for a in frame["account_id"]])


LINK = st.column_config.LinkColumn("account", display_text=r"account=(.*)$", width="small")

c1, c2, c3, c4 = st.columns(4)
c1.metric("Average coverage", f"{view['coverage'].mean():.0f} / 100" if view["coverage"].notna().any() else "–")
c2.metric("Single-threaded", f"{int(view['single_threaded'].fillna(False).sum()):,}",
          help="Accounts where at most one team member has a trusted relationship "
               f"(strength ≥ {ctx.settings.thread_strength}).")
c3.metric("King not covered", f"{int((view['king_covered'] == False).sum()):,}",  # noqa: E712
          help="No active king, or nobody reaches the king with effective strength "
               f"≥ {ctx.settings.covered_threshold:g}.")
c4.metric("High-influence opponents", f"{int(view['high_influence_opponents'].fillna(0).sum()):,}")

st.subheader("Coverage versus revenue")
x_choice = st.radio("Against", ["revenue, last 12 months", "attractiveness"], horizontal=True, key="rel_x")
x = "ttm_revenue" if x_choice.startswith("revenue") else "attractiveness"
plot = view.dropna(subset=["coverage", x])
plot = plot.assign(threading=plot["single_threaded"].map({True: "single-threaded", False: "several threads"}))
fig = px.scatter(plot, x=x, y="coverage", color="status", hover_name="name",
                 color_discrete_map=ui.STATUS_COLOURS, symbol="threading",
                 symbol_map={"single-threaded": "diamond", "several threads": "circle"},
                 hover_data={"threads": True, "tier": True, "threading": False},
                 labels={"ttm_revenue": f"revenue, last 12 months ({cur})", "attractiveness": "attractiveness (0–100)",
                         "coverage": "coverage (0–100)", "single_threaded": "single-threaded", "status": "health"})
if x == "ttm_revenue":
    fig.update_xaxes(type="log")
ui.chart(fig, key="cov_rev")
ui.explain("Big accounts low on the chart are the risk: much revenue, few strong relationships "
           "(diamonds are single-threaded).", "coverage")

left, right = st.columns(2)
table_cols = ["account", "name", "tier", "ttm_revenue", "coverage", "threads", "king_covered", "status"]
config = {"account": LINK, "ttm_revenue": st.column_config.NumberColumn(f"revenue ({cur})", format="compact"),
          "coverage": st.column_config.ProgressColumn("coverage", min_value=0, max_value=100, format="%.0f")}
with left:
    st.subheader("Single-threaded accounts")
    single = view[view["single_threaded"].fillna(False)].sort_values("ttm_revenue", ascending=False)
    st.dataframe(account_link(single)[table_cols], hide_index=True, width="stretch", column_config=config, height=320)
    ui.explain("At most one team member with a trusted relationship: if that person leaves, the account is exposed.",
               "single_threaded")
with right:
    st.subheader("Accounts without a covered king")
    kingless = view[view["king_covered"] == False].sort_values("ttm_revenue", ascending=False)  # noqa: E712
    st.dataframe(account_link(kingless)[table_cols], hide_index=True, width="stretch", column_config=config, height=320)
    ui.explain("Nobody reaches the economic decision maker — or no king is identified, which is itself a finding.",
               "king_covered")

st.subheader("High-influence opponents")
opponents = ui.cached(ctx, opponent_list)
opponents = opponents[opponents["account_id"].isin(view["account_id"])]
if opponents.empty:
    st.success("No high-influence opponent in the selected accounts.")
else:
    names = view.set_index("account_id")["name"]
    shown = account_link(opponents.assign(account_name=opponents["account_id"].map(names)))
    st.dataframe(shown[["account", "account_name", "name", "title", "piece", "attitude", "best_strength", "best_member_id"]],
                 hide_index=True, width="stretch", column_config={
                     "account": LINK, "name": "contact",
                     "best_strength": st.column_config.NumberColumn("our best relationship (0–1)", format="%.2f")})
ui.explain("Kings, queens and rooks whose attitude is skeptic or opponent.", "high_influence_opponents")

st.subheader("If this person left")
dep = ui.cached(ctx, dependency_by_member)
dep = dep[dep["account_id"].isin(view["account_id"])]
if dep.empty:
    ui.empty_state("No relationships between active team members and the selected accounts.")
else:
    per_member = member_exposure(dep, view, ctx.settings)
    st.dataframe(per_member, hide_index=True, width="stretch", column_config={
        "member_name": "team member",
        "accounts_dependent": f"accounts losing ≥ {ui.pct(ctx.settings.key_person_reason)} of coverage",
        "coverage_points_lost": st.column_config.NumberColumn("coverage points lost (sum)", format="%.0f"),
        "revenue_weighted_exposure": st.column_config.NumberColumn(f"revenue × share lost ({cur})", format="compact")})
    member_names = per_member["member_name"].fillna(per_member["member_id"]).tolist()
    who = st.selectbox("Which accounts depend on …", member_names, key="rel_member")
    chosen = dep[dep["member_name"].fillna(dep["member_id"]) == who].sort_values("share_lost", ascending=False)
    names = view.set_index("account_id")["name"]
    chosen = account_link(chosen.assign(name=chosen["account_id"].map(names)))
    st.dataframe(chosen[["account", "name", "coverage", "coverage_without", "share_lost"]], hide_index=True,
                 width="stretch", column_config={"account": LINK,
                                                 "share_lost": st.column_config.ProgressColumn("share of coverage lost", min_value=0, max_value=1, format="percent"),
                                                 "coverage": st.column_config.NumberColumn(format="%.0f"),
                                                 "coverage_without": st.column_config.NumberColumn("coverage without them", format="%.0f")})
ui.explain("Coverage is recomputed without the person's relationships; the share lost is the key-person dependency.",
           "key_person_dependency")

st.subheader("Team × account")
matrix = ui.cached(ctx, team_account_matrix)
top = view.sort_values("ttm_revenue", ascending=False).head(40)
matrix = matrix[matrix["account_id"].isin(top["account_id"])]
if matrix.empty:
    ui.empty_state("No relationships to show.")
else:
    names = top.set_index("account_id")["name"]
    grid = matrix.assign(account=matrix["account_id"].map(names), member=matrix["member_name"].fillna(matrix["member_id"]))
    pivot = grid.pivot_table(index="member", columns="account", values="coverage_alone", aggfunc="max")
    pivot = pivot.reindex(columns=[n for n in names if n in pivot.columns])
    fig = px.imshow(pivot, color_continuous_scale="Blues", aspect="auto", zmin=0, zmax=100,
                    labels={"color": "coverage alone", "x": "", "y": ""})
    fig.update_xaxes(tickangle=-45)
    ui.chart(fig, key="heatmap", height=460)
    ui.explain(f"The {len(top)} largest selected accounts by revenue; each cell is the coverage (0–100) the "
               "account would have with only this team member's relationships.", "coverage")
