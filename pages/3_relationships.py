"""Relationships across the portfolio: coverage versus revenue, single-threaded accounts,
uncovered kings, high-influence opponents, who the portfolio depends on, team × account map.

An account without contacts has no relationship data: it is counted apart, never as
"single-threaded" or "king not covered"."""

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
cur = ctx.currency
missing = missing_inputs_message(ctx.con)
if missing:
    ui.empty_state(missing + " Export contacts with their chess piece and attitude, and who knows whom.")
    st.stop()
if view.empty:
    ui.empty_state("No account matches the filters.")
    st.stop()

with_data = view[view["contacts_count"].fillna(0) > 0]  # accounts with relationship data
without = len(view) - len(with_data)
no_revenue = ui.needs(ctx, "revenue")

c1, c2, c3, c4 = st.columns(4)
ui.figure(c1, "Average coverage", ui.score(with_data["coverage"].mean()) if with_data["coverage"].notna().any()
          else "–", note=f"{ui.count(without)} without relationship data" if without else None)
ui.figure(c2, "Single-threaded", ui.count(with_data["single_threaded"].fillna(False).sum()),
          note=f"of {ui.count(len(with_data))} accounts with contacts",
          help="Accounts where at most one team member has a trusted relationship "
               f"(strength ≥ {ctx.settings.thread_strength}).")
ui.figure(c3, "King not covered", ui.count((with_data["king_covered"] == False).sum()),  # noqa: E712
          note=f"of {ui.count(len(with_data))} accounts with contacts",
          help="No active king identified, or nobody reaches the king with effective strength "
               f"≥ {ctx.settings.covered_threshold:g}.")
ui.figure(c4, "High-influence opponents", ui.count(with_data["high_influence_opponents"].fillna(0).sum()),
          note="kings, queens, rooks against us")
if without:
    names = view.loc[view["contacts_count"].fillna(0) == 0, "name"].sort_values()
    st.caption(f"No relationship data (no contacts recorded): {ui.count(without)} account(s) — "
               + ", ".join(ui.md(n) for n in names.head(8)) + (" …" if without > 8 else "")
               + ". They are not counted above.")

st.subheader("Coverage versus revenue")
x_choice = st.radio("Against", ["revenue, last 12 months", "attractiveness"], horizontal=True, key="rel_x",
                    index=1 if no_revenue else 0)
x = "ttm_revenue" if x_choice.startswith("revenue") else "attractiveness"
plot = with_data.dropna(subset=["coverage", x])
if plot.empty:
    ui.empty_state("Needs revenue.csv." if x == "ttm_revenue" and no_revenue else
                   "Needs criteria.csv." if x == "attractiveness" and ui.needs(ctx, "criteria") else
                   "No account has both values.")
else:
    plot = plot.assign(threading=plot["single_threaded"].map({True: "single-threaded", False: "several threads"}),
                       health=plot["status"])
    fig = px.scatter(plot, x=x, y="coverage", color="health", hover_name="name",
                     color_discrete_map=ui.STATUS_COLOURS, symbol="threading",
                     category_orders={"health": ["red", "amber", "green", "no data"]},
                     symbol_map={"single-threaded": "diamond", "several threads": "circle"},
                     hover_data={"threads": True, "tier": True, "threading": False},
                     labels={"ttm_revenue": f"revenue, last 12 months ({cur}, log scale)",
                             "attractiveness": "attractiveness (0–100)", "coverage": "coverage (0–100)"})
    if x == "ttm_revenue":
        fig.update_xaxes(type="log")
    ui.chart(fig, key="cov_rev")
    ui.explain("Big accounts low on the chart are the risk: much revenue, few strong relationships "
               "(diamonds are single-threaded; colour = health).", "coverage")

table_cols = {"name": ui.Col("account", width=165), "ttm_revenue": ui.Col("revenue", "money", width=100),
              "coverage": ui.Col("coverage", "bar", width=70), "threads": ui.Col("threads", "count", width=55)}
rank_by = "ttm_revenue" if not no_revenue else "coverage"
left, right = st.columns(2)
with left:
    st.subheader("Single-threaded accounts")
    single = with_data[with_data["single_threaded"].fillna(False)].sort_values(rank_by, ascending=False)
    if single.empty:
        st.success("No selected account hangs on a single thread.")
    else:
        ui.table(single, table_cols, cur, key="single", height=320, open_account=True)
    ui.explain("At most one team member with a trusted relationship: if that person leaves, the account is exposed. "
               "Click an account to open it.", "single_threaded")
with right:
    st.subheader("Accounts without a covered king")
    kingless = with_data[with_data["king_covered"] == False].sort_values(rank_by, ascending=False)  # noqa: E712
    if kingless.empty:
        st.success("Every selected account's king is covered.")
    else:
        ui.table(kingless, table_cols, cur, key="kingless", height=320, open_account=True)
    ui.explain("Nobody reaches the economic decision maker — or no king is identified, which is itself a finding.",
               "king_covered")

st.subheader("High-influence opponents")
opponents = ui.cached(ctx, opponent_list)
opponents = opponents[opponents["account_id"].isin(view["account_id"])]
if opponents.empty:
    st.success("No high-influence opponent in the selected accounts.")
else:
    names = view.set_index("account_id")["name"]
    shown = opponents.assign(account_name=opponents["account_id"].map(names), best=opponents["best_strength"] * 100)
    ui.table(shown, {"account_name": ui.Col("account", width=195), "name": ui.Col("contact", width=155),
                     "title": ui.Col("title", width=160), "piece": ui.Col("piece", "code", width=65),
                     "attitude": ui.Col("attitude", "code", width=75),
                     "best": ui.Col("our best tie (0–100)", "score", width=130)}, cur, key="opponents",
             open_account=True)
ui.explain("Kings, queens and rooks whose attitude is skeptic or opponent. Click a row to open the account.",
           "high_influence_opponents")

st.subheader("If this person left")
dep = ui.cached(ctx, dependency_by_member)
dep = dep[dep["account_id"].isin(view["account_id"])]
if dep.empty:
    ui.empty_state("No relationships between active team members and the selected accounts.")
else:
    per_member = member_exposure(dep, view, ctx.settings)
    per_member = per_member.assign(member=per_member["member_name"].fillna(per_member["member_id"]))
    ui.table(per_member, {
        "member": ui.Col("team member", width=170), "accounts": ui.Col("accounts", "count", width=80),
        "accounts_dependent": ui.Col(f"carries ≥ {ui.pct(ctx.settings.key_person_reason, 0)}", "count", width=120,
                                     help="Accounts that would lose at least this share of their coverage."),
        "coverage_points_lost": ui.Col("coverage points lost", "score", width=150),
        "revenue_weighted_exposure": ui.Col("revenue × share lost", "money", width=190)}, cur, key="members")
    member_names = per_member["member"].tolist()
    who = st.selectbox("Which accounts depend on …", member_names, key="rel_member")
    chosen = dep[dep["member_name"].fillna(dep["member_id"]) == who].sort_values("share_lost", ascending=False)
    names = view.set_index("account_id")["name"]
    chosen = chosen.assign(name=chosen["account_id"].map(names))
    ui.table(chosen, {"name": ui.Col("account", width=200), "coverage": ui.Col("coverage", "score", width=90),
                      "coverage_without": ui.Col("coverage without them", "score", width=170),
                      "share_lost": ui.Col("share of coverage lost", "pct", width=160)}, cur, key="member_accounts",
             open_account=True)
ui.explain("Coverage is recomputed without the person's relationships; the share lost is the key-person dependency.",
           "key_person_dependency")

st.subheader("Team × account")
matrix = ui.cached(ctx, team_account_matrix)
# the largest accounts by revenue; without revenue, those with the most relationship data
related = with_data[with_data["account_id"].isin(matrix["account_id"])]
top = related.sort_values(["ttm_revenue", "coverage"] if not no_revenue else ["contacts_count", "coverage"],
                          ascending=False, na_position="last").head(40)
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
    chosen_by = "revenue" if not no_revenue else "contacts recorded (no revenue.csv)"
    ui.explain(f"The {len(top)} largest selected accounts by {chosen_by}; each cell is the coverage (0–100) the "
               "account would have with only this team member's relationships.", "coverage")
