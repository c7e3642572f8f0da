"""Account (the mentor's view): health and what is wrong, the relationship map, coverage gaps,
growth and whitespace, pipeline, the plan and its reviews, competitors."""

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

import charts
import review_ui
import ui
from kam_core.metrics.account import competitors, plan_actions, review_history
from kam_core.metrics.coverage import coverage_breakdown, dependency_by_member, gap_list, relationship_map
from kam_core.metrics.growth import monthly_revenue, pipeline, product_mix

ctx = ui.setup_page("Account", "🔍")
cur = ctx.settings.currency
accounts = ui.account_table(ctx)
filters = ui.shared_filters(accounts)
view, ids = ui.filtered_view(accounts, filters)
if view.empty:
    ui.empty_state("No account matches the filters.")
    st.stop()

names = view.set_index("account_id")["name"]
options = list(view.sort_values("name")["account_id"])
linked = st.query_params.get("account")
remembered = st.session_state.get("_account")
if "account_pick" not in st.session_state or st.session_state["account_pick"] not in options or (
        linked in options and linked != remembered):
    # a deep link (or a link from another page) picks the account; otherwise the last one shown
    st.session_state["account_pick"] = linked if linked in options else (
        remembered if remembered in options else options[0])
account_id = st.selectbox("Account", options, format_func=lambda a: f"{names[a]} ({a})", key="account_pick",
                          help="Type to search by name or ID.")
st.session_state["_account"] = account_id
st.query_params["account"] = account_id
row = view.set_index("account_id").loc[account_id]

status = row["status"]
st.markdown(
    f"## {ui.md(row['name'])} {ui.STATUS_BADGES.get(status, '')}\n"
    f"{ui.md(row['tier'] or 'no tier')} · {ui.md(row['quadrant'] or '–')} · phase **{ui.md(row['phase'] or '–')}** · "
    f"{ui.md(row['industry'] or '–')}, {ui.md(row['region'] or '–')} · account manager "
    f"**{ui.md(row['account_manager'] or '–')}** · mentor **{ui.md(row['mentor'] or '–')}**"
)
review_ui.since_last_review(ctx, account_id)  # the mentor's review (issue 14): what changed, record one
review_ui.review_form(ctx, account_id)

# ---- health
health = ui.base_metrics(ctx).health.set_index("account_id").loc[account_id]
c1, c2, c3, c4, c5 = st.columns(5)
c1.metric("Health", f"{health['health']:.0f} / 100" if pd.notna(health["health"]) else "–",
          help="Weighted mean of coverage, growth, margin, plan and activity; status caps apply.")
c2.metric("Revenue, last 12 months", ui.money(row["ttm_revenue"], cur),
          ui.pct(row["revenue_growth"], 1, True) if pd.notna(row["revenue_growth"]) else None)
c3.metric("Gross margin", ui.pct(row["gross_margin_pct"], 1), help=f"Target {ui.pct(ctx.settings.target_margin)}.")
c4.metric("Coverage", f"{row['coverage']:.0f} / 100" if pd.notna(row["coverage"]) else "–",
          f"{int(row['threads']) if pd.notna(row['threads']) else 0} thread(s)", delta_color="off", delta_arrow="off")
c5.metric("Days since last review", "never" if pd.isna(row["days_since_review"])
          else f"{int(row['days_since_review'])}", f"cadence {ctx.settings.review_cadence_days} days", delta_color="off", delta_arrow="off")

left, right = st.columns([3, 2])
with left:
    st.subheader("What is wrong")
    reasons = health["reasons"] if isinstance(health["reasons"], list | tuple) else []
    if len(reasons) == 0:
        st.success("Nothing stands out: every health component is fine.")
    for reason in reasons:
        st.markdown(f"- {ui.md(reason)}")
    ui.explain(f"Every condition that makes the account red or amber, in words (a component below "
               f"{ctx.settings.reason_below:g}, health below {ctx.settings.status_green:g}, …).", "reasons")
with right:
    components = {k: (float(health[f"{k}_score"]) if pd.notna(health[f"{k}_score"]) else float("nan"))
                  for k in ("coverage", "growth", "margin", "plan", "activity")}
    fig = go.Figure(go.Bar(
        x=[v if v == v else 0 for v in components.values()], y=list(components), orientation="h",
        marker_color=[ui.STATUS_COLOURS["red"] if v < ctx.settings.reason_below else
                      ui.STATUS_COLOURS["amber"] if v < ctx.settings.status_green else
                      ui.STATUS_COLOURS["green"] if v == v else "#DDD" for v in components.values()],
        text=[f"{v:.0f}" if v == v else "no data" for v in components.values()], textposition="auto"))
    fig.update_xaxes(range=[0, 100], title="score (0–100)")
    fig.update_yaxes(autorange="reversed")
    ui.chart(fig, key="components", height=260)
    ui.explain("Health = weighted mean of the components that have data.", "health")

# ---- relationships
st.subheader("Relationship map")
nodes, edges = relationship_map(ctx.con, ctx.settings, ctx.as_of, account_id)
if nodes.empty or (nodes["kind"] == "contact").sum() == 0:
    ui.empty_state("No contacts for this account (contacts.csv with piece and attitude, relationships.csv).")
else:
    member_names = dict(zip(nodes.loc[nodes["kind"] == "member", "node_id"],
                            nodes.loc[nodes["kind"] == "member", "label"], strict=True))
    n_contacts = int((nodes["kind"] == "contact").sum())
    ui.chart(charts.relationship_network(nodes, edges, member_names), key="network",
             height=max(420, 34 * n_contacts // 2))
    ui.explain("Shape = chess piece (★ king, ◆ queen, ■ rook, ▲ bishop, ⬟ knight, ● pawn), size = influence, "
               "colour = attitude; line width = relationship strength, faded when the last contact is long ago. "
               "Greyed: inactive.", "coverage")

    left, right = st.columns(2)
    with left:
        by = st.radio("Coverage by", ["level", "department", "location"], horizontal=True, key="acc_by")
        breakdown = coverage_breakdown(ctx.con, ctx.settings, ctx.as_of, by, account_id)
        fig = px.bar(breakdown.fillna({by: "unknown"}), x=by, y="coverage", text="contacts_count",
                     labels={"coverage": "coverage (0–100)", by: "", "contacts_count": "contacts"},
                     color_discrete_sequence=["#1F4E79"], range_y=[0, 100],
                     category_orders={"level": [*charts.LEVELS, "unknown"]})
        fig.update_traces(texttemplate="%{text} contacts")
        ui.chart(fig, key="breakdown", height=300)
    with right:
        st.markdown("**Gaps: influential people nobody reaches**")
        gaps = gap_list(ctx.con, ctx.settings, ctx.as_of, account_id)
        if gaps.empty:
            st.success("Every king, queen and rook is covered.")
        else:
            st.dataframe(gaps[["name", "title", "piece", "attitude", "best_strength", "best_member_id"]],
                         hide_index=True, width="stretch",
                         column_config={"best_strength": st.column_config.NumberColumn("best (0–1)", format="%.2f")})
        dep = ui.cached(ctx, dependency_by_member)
        dep = dep[dep["account_id"] == account_id].sort_values("share_lost", ascending=False)
        if not dep.empty:
            st.markdown("**If one person left**")
            st.dataframe(dep[["member_name", "coverage_without", "share_lost"]], hide_index=True, width="stretch",
                         column_config={"member_name": "team member",
                                        "coverage_without": st.column_config.NumberColumn("coverage without", format="%.0f"),
                                        "share_lost": st.column_config.ProgressColumn("coverage lost", min_value=0,
                                                                                      max_value=1, format="percent")})
    ui.explain(f"Gap list: contacts of piece value {ctx.settings.high_influence_value:g} or more (kings, queens, "
               f"rooks by default) with effective strength below {ctx.settings.covered_threshold:g}.", "gap_list")

# ---- growth
st.subheader("Revenue and margin")
left, right = st.columns([3, 2])
with left:
    lines = monthly_revenue(ctx.con, ctx.settings, ctx.as_of, account_ids=[account_id], by="product_line")
    if lines.empty:
        ui.empty_state("No revenue rows (revenue.csv).")
    else:
        fig = px.bar(lines, x="period", y="revenue", color="product_line",
                     labels={"revenue": f"{cur} per month", "period": "", "product_line": "product line"})
        margin = lines.groupby("period", as_index=False)["gross_margin"].sum(min_count=1)
        fig.add_scatter(x=margin["period"], y=margin["gross_margin"], name="gross margin", mode="lines",
                        line=dict(color="#2E8B57", width=3))
        ui.chart(fig, key="acc_revenue", height=340)
with right:
    mix = product_mix(ctx.con, ctx.settings, ctx.as_of, account_id=account_id)
    if mix.empty:
        ui.empty_state("No revenue or potential for this account.")
    else:
        st.metric("Share of wallet", ui.pct(row["share_of_wallet"]), f"whitespace {ui.money(row['whitespace'], cur)}",
                  delta_color="off", delta_arrow="off")
        st.dataframe(mix[["product_line", "ttm_revenue", "annual_potential", "share_of_wallet", "whitespace"]],
                     hide_index=True, width="stretch", column_config={
                         "ttm_revenue": st.column_config.NumberColumn(f"revenue ({cur})", format="compact"),
                         "annual_potential": st.column_config.NumberColumn("potential", format="compact"),
                         "share_of_wallet": st.column_config.NumberColumn("share", format="percent"),
                         "whitespace": st.column_config.NumberColumn("whitespace", format="compact")})
ui.explain("Share of wallet = revenue / potential; whitespace = potential not yet won, per product line.",
           "share_of_wallet")

# ---- pipeline, plan, reviews, competitors
left, right = st.columns(2)
with left:
    st.subheader("Open opportunities")
    pipe = pipeline(ctx.con, ctx.settings, ctx.as_of, account_id=account_id)
    if pipe.empty:
        ui.empty_state("No open opportunities.")
    else:
        st.dataframe(pipe[["name", "product_line", "stage", "amount", "probability", "close_date"]], hide_index=True,
                     width="stretch", column_config={
                         "amount": st.column_config.NumberColumn(f"amount ({cur})", format="compact"),
                         "probability": st.column_config.NumberColumn(format="percent"),
                         "close_date": st.column_config.DateColumn("close")})
    st.subheader("Competitors")
    comp = competitors(ctx.con, account_id)
    if comp is None or comp.empty:
        ui.empty_state("No competitors recorded (competitors.csv).")
    else:
        st.dataframe(comp, hide_index=True, width="stretch",
                     column_config={"est_share": st.column_config.NumberColumn("estimated share", format="percent")})
with right:
    st.subheader("Account plan")
    actions = plan_actions(ctx.con, account_id, ctx.as_of)
    if actions is None or actions.empty:
        ui.empty_state("No plan actions (plan_actions.csv).")
    else:
        overdue = int(actions["is_overdue"].sum())
        st.caption(f"{int((actions['status'] == 'open').sum())} open, {overdue} overdue")
        st.dataframe(actions.assign(overdue=actions["is_overdue"].map({True: "⚠ overdue", False: ""}))[
            ["objective", "owner", "due_date", "status", "overdue"]], hide_index=True, width="stretch",
            column_config={"due_date": st.column_config.DateColumn("due")})
    st.subheader("Reviews")
    reviews = review_history(ctx.con, account_id, ctx.as_of)
    if reviews is None or reviews.empty:
        ui.empty_state("Never reviewed by a mentor (reviews.csv).")
    else:
        st.dataframe(reviews[["review_date", "mentor", "rating", "notes", "days_ago"]], hide_index=True,
                     width="stretch", column_config={"review_date": st.column_config.DateColumn("date")})
    ui.explain(f"The plan is reviewed every {ctx.settings.review_cadence_days} days; the plan score falls to 0 at "
               f"{ctx.settings.review_zero_days} days.", "plan_score")
review_ui.account_over_time(ctx, account_id, row)  # health, coverage, revenue over time; the review PDF
