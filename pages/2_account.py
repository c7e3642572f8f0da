"""Account (the mentor's view): one account at a time. At the top who it is, its colour and the
mentor's latest verdict; then four tabs: what is wrong (health and its reasons), relationships
(the map, coverage, gaps, who it hangs on), growth (revenue, margin, whitespace, pipeline,
competitors) and plan & reviews.

Layout for the editors: the team's records of an account are edited in the tab they belong to
(contacts and relationships under Relationships; potential and competitors under Growth; plan
actions and reviews under Plan & reviews), each at the end of its tab; what changed since the
last review goes under the header, beside the mentor's latest rating.
"""

import pandas as pd
import plotly.express as px
import streamlit as st

import charts
import review_ui
import ui
import workbench_ui
from kam_core.filters import most_urgent_first
from kam_core.metrics.account import competitors, plan_actions, review_history
from kam_core.metrics.coverage import coverage_breakdown, dependency_by_member, gap_list, relationship_map
from kam_core.metrics.growth import monthly_revenue, pipeline, product_mix

ctx = ui.setup_page("Account", "🔍")
cur = ctx.currency
accounts = ui.account_table(ctx)
filters = ui.shared_filters(accounts)
view, ids = ui.filtered_view(accounts, filters)

# ---- which account: the link's, else the one shown last, else the most urgent of the filters
known = set(ui.base_metrics(ctx).accounts["account_id"])  # every account of the data
ordered = most_urgent_first(view)
options = list(ordered["account_id"])
linked = st.query_params.get("account")
if linked is not None and linked not in options:
    if linked in set(accounts["account_id"]):  # outside the filters: the link names it, so show it
        options.append(linked)
        st.info(f"Account {ui.md(linked)} is outside the current filters; it is shown because the link names it.",
                icon=":material/filter_alt:")
    elif linked in known:  # not readable by this user (the sidebar says why)
        st.warning(f"Account {ui.md(linked)} is not one you can see. Choose one of yours below.",
                   icon=":material/lock:")
        linked = None
    else:
        st.warning(f"There is no account {ui.md(linked)} in the data (the link may be older than the last load). "
                   "Choose an account below.", icon=":material/link_off:")
        linked = None
        st.session_state["account_pick"] = None
if not options:
    ui.empty_state("No account matches the filters.")
    st.stop()
names = accounts.set_index("account_id")["name"]
statuses = accounts.set_index("account_id")["status"]
remembered = st.session_state.get("_account")
if linked is not None and linked != remembered:
    st.session_state["account_pick"] = linked  # a link (or a click on another page) picks the account
elif "account_pick" not in st.session_state or (st.session_state["account_pick"] not in options
                                                and st.session_state["account_pick"] is not None):
    st.session_state["account_pick"] = remembered if remembered in options else options[0]
account_id = st.selectbox("Account", options, key="account_pick", placeholder="choose an account",
                          format_func=lambda a: f"{names[a]} ({a}) · {ui.words(statuses[a])}",
                          help="The most urgent first (red, then amber, the most revenue at stake first). "
                          "Type to search by name or ID.")
if account_id is None:
    st.stop()
st.session_state["_account"] = account_id
st.query_params["account"] = account_id
row = accounts.set_index("account_id").loc[account_id]
health = ui.base_metrics(ctx).health.set_index("account_id").loc[account_id]

# ---- header: who, their colour, the mentor's latest verdict
status = row["status"]
where = ", ".join(ui.md(ui.text(row[c])) for c in ("industry", "region") if ui.text(row[c], "")) or "industry –"
st.markdown(
    f"## {ui.md(row['name'])} {ui.STATUS_BADGES.get(status, '')}\n"
    f"{ui.md(ui.text(row['tier'], 'no tier'))} · quadrant **{ui.md(ui.text(row['quadrant']))}** · phase "
    f"**{ui.md(ui.words(row['phase']))}** · {where} · "
    f"account manager **{ui.md(ui.text(row['account_manager']))}** · mentor **{ui.md(ui.text(row['mentor']))}**"
)
if ui.needs(ctx, "reviews"):
    st.caption(":material/rate_review: The mentor's rating needs reviews.csv.")
elif pd.isna(row["latest_rating"]):
    st.markdown(":material/rate_review: **The mentor's latest rating:** none yet — no review of this account has a "
                "rating.")
else:
    days = (pd.Timestamp(ctx.as_of) - pd.Timestamp(row["latest_rating_date"])).days
    st.markdown(f":material/rate_review: **The mentor's latest rating:** {ui.RATING_BADGES[row['latest_rating']]} on "
                f"{pd.Timestamp(row['latest_rating_date']).date().isoformat()} ({ui.count(days)} days ago)")

no_coverage = ui.needs(ctx, "contacts", "relationships")
c1, c2, c3, c4, c5 = st.columns(5)
ui.figure(c1, "Health", ui.score(health["health"]), note=None if pd.notna(health["health"]) else "no data",
          help="Weighted mean of coverage, growth, margin, plan and activity (the components with data).")
ui.figure(c2, "Revenue, last 12 months", ui.money(row["ttm_revenue"], cur), missing=ui.needs(ctx, "revenue"),
          delta=ui.pct(row["revenue_growth"], signed=True) if pd.notna(row["revenue_growth"]) else None,
          note=None if pd.notna(row["revenue_growth"]) else ("new account" if (row["ttm_revenue"] or 0) > 0
                                                             else "no revenue rows"))
ui.figure(c3, "Gross margin", ui.pct(row["gross_margin_pct"]), missing=ui.needs(ctx, "revenue", column="gross_margin"),
          note=f"target {ui.pct(ctx.settings.target_margin, 0)}" if pd.notna(row["gross_margin_pct"])
          else "no margin given")
ui.figure(c4, "Coverage", ui.score(row["coverage"]), missing=no_coverage,
          note=f"{ui.count(row['threads'])} thread(s)" if pd.notna(row["coverage"]) else "no relationship data")
ui.figure(c5, "Last review", "never" if pd.isna(row["days_since_review"]) else
          f"{ui.count(row['days_since_review'])} days ago", missing=ui.needs(ctx, "reviews"),
          note=f"cadence {ctx.settings.review_cadence_days} days")
# the mentor's review: what changed since the last one, and recording one (review_ui)
review_ui.since_last_review(ctx, account_id)
review_ui.review_form(ctx, account_id)

tab_wrong, tab_people, tab_growth, tab_plan = st.tabs(
    [":material/health_and_safety: What is wrong", ":material/hub: Relationships", ":material/trending_up: Growth",
     ":material/event_note: Plan & reviews"])

# ---- what is wrong
with tab_wrong:
    left, right = st.columns([3, 2])
    with left:
        reasons = ui.reason_list(health["reasons"])
        notes = ui.reason_list(health["notes"])
        if pd.isna(health["health"]):
            ui.empty_state("No data for this account: no relationships, revenue, reviews or activities are recorded "
                           "for it, so its health cannot be judged. Record its contacts and relationships, or check "
                           "that its exports carry its account_id.")
        elif not reasons:
            st.success("Nothing stands out: health is at least "
                       f"{ctx.settings.status_green:g}, every component with data is fine, the king is covered, "
                       "there are several threads and no action is overdue.", icon=":material/check_circle:")
        else:
            st.markdown(f"**Why it is {ui.md(status)}**")
            st.markdown("\n".join(f"- {ui.md(reason)}" for reason in reasons))
        if notes:
            st.markdown("**Also worth knowing**")
            st.markdown("\n".join(f"- {ui.md(note)}" for note in notes))
        ui.explain(f"Every condition that makes the account red or amber, in words (a component below "
                   f"{ctx.settings.reason_below:g}, health below {ctx.settings.status_green:g}, …).", "reasons")
    with right:
        components = {k: health[f"{k}_score"] for k in ("coverage", "growth", "margin", "plan", "activity")}
        fig = charts.health_components(components, ctx.settings.reason_below, ctx.settings.status_green,
                                       ui.STATUS_COLOURS)
        ui.chart(fig, key="components", height=260)
        ui.explain("Health = weighted mean of the components that have data; grey = no data.", "health")

# ---- relationships
with tab_people:
    nodes, edges = relationship_map(ctx.con, ctx.settings, ctx.as_of, account_id)
    if ui.needs(ctx, "contacts"):
        ui.empty_state("The relationship map needs contacts.csv (with piece and attitude) and relationships.csv.")
    elif nodes.empty or (nodes["kind"] == "contact").sum() == 0:
        ui.empty_state("No relationship data for this account: no contacts are recorded for it.")
    else:
        st.subheader("Relationship map")
        member_names = dict(zip(nodes.loc[nodes["kind"] == "member", "node_id"],
                                nodes.loc[nodes["kind"] == "member", "label"], strict=True))
        n_contacts = int((nodes["kind"] == "contact").sum())
        ui.chart(charts.relationship_network(nodes, edges, member_names), key="network",
                 height=max(420, 34 * n_contacts // 2))
        ui.explain("Shape = chess piece (★ king, ◆ queen, ■ rook, ▲ bishop, ⬟ knight, ● pawn), size = influence, "
                   "colour = attitude (green on our side, red against us); line width = relationship strength, "
                   "faded when the last contact is long ago. Greyed: inactive.", "coverage")
        left, right = st.columns(2)
        with left:
            st.markdown("**Coverage by**")
            by = st.radio("Coverage by", ["level", "department", "location"], horizontal=True, key="acc_by",
                          label_visibility="collapsed")
            breakdown = coverage_breakdown(ctx.con, ctx.settings, ctx.as_of, by, account_id)
            breakdown = breakdown.assign(contacts=[f"{n} contact{'s' if n != 1 else ''}"
                                                   for n in breakdown["contacts_count"]])
            fig = px.bar(breakdown.fillna({by: "unknown"}), x=by, y="coverage", text="contacts",
                         labels={"coverage": "coverage (0–100)", by: "", "contacts_count": "contacts"},
                         color_discrete_sequence=[ui.SERIES_COLOURS["revenue"]], range_y=[0, 100],
                         category_orders={"level": [*charts.LEVELS, "unknown"]})
            ui.chart(fig, key="breakdown", height=300)
        with right:
            st.markdown("**If one person left**")
            dep = ui.cached(ctx, dependency_by_member)
            dep = dep[dep["account_id"] == account_id].sort_values("share_lost", ascending=False)
            if dep.empty:
                ui.empty_state("No active team member has a relationship here.")
            else:
                dep = dep.assign(member=dep["member_name"].fillna(dep["member_id"]))
                ui.table(dep, {"member": ui.Col("team member", width=160),
                               "coverage_without": ui.Col("coverage without", "score", width=115),
                               "share_lost": ui.Col("coverage lost", "pct", width=100)}, cur, key="acc_dep")
        st.markdown("**Gaps: influential people nobody reaches**")
        gaps = gap_list(ctx.con, ctx.settings, ctx.as_of, account_id)
        if gaps.empty:
            st.success("Every king, queen and rook is covered.")
        else:
            ui.table(gaps.assign(best=gaps["best_strength"] * 100), {
                "name": ui.Col("contact", width="medium"), "title": ui.Col("title", width="medium"),
                "piece": ui.Col("piece", "code", width=70), "attitude": ui.Col("attitude", "code", width=85),
                "best": ui.Col("best tie (0–100)", "score", width=115)}, cur, key="acc_gaps")
        ui.explain(f"Gap list: contacts of piece value {ctx.settings.high_influence_value:g} or more (kings, queens, "
                   f"rooks by default) whose best relationship is below {ctx.settings.covered_threshold * 100:g} of "
                   "100.", "gap_list")
    # the team's contacts and relationships are edited here (workbench_ui)
    workbench_ui.contacts_editor(ctx, account_id)
    workbench_ui.relationships_editor(ctx, account_id)

# ---- growth
with tab_growth:
    lines = monthly_revenue(ctx.con, ctx.settings, ctx.as_of, account_ids=[account_id], by="product_line")
    left, right = st.columns([3, 2])
    with left:
        st.subheader("Revenue and margin by month")
        if ui.needs(ctx, "revenue"):
            ui.empty_state("Needs revenue.csv.")
        elif lines.empty:
            ui.empty_state("No revenue rows for this account in the last 36 months.")
        else:
            ui.chart(charts.revenue_by_line(lines, cur), key="acc_revenue", height=340)
    with right:
        st.subheader("Share of wallet")
        mix = product_mix(ctx.con, ctx.settings, ctx.as_of, account_id=account_id)
        if ui.needs(ctx, "potential"):
            ui.empty_state("Share of wallet and whitespace need potential.csv (the customer's estimated yearly "
                           "spend per product line).")
        elif mix.empty:
            ui.empty_state("No revenue or potential for this account.")
        else:
            ui.figure(st, "Share of wallet", ui.pct(row["share_of_wallet"]),
                      note=f"whitespace {ui.money(row['whitespace'], cur)}")
            ui.table(mix, {"product_line": ui.Col("line", width=70), "ttm_revenue": ui.Col("revenue", "money", width=90),
                           "annual_potential": ui.Col("potential", "money", width=95),
                           "share_of_wallet": ui.Col("share", "pct", width=60)}, cur, key="acc_mix")
    ui.explain("Share of wallet = revenue / potential; whitespace = potential not yet won, per product line.",
               "share_of_wallet")
    left, right = st.columns([3, 2])
    with left:
        st.subheader("Open opportunities")
        pipe = pipeline(ctx.con, ctx.settings, ctx.as_of, account_id=account_id)
        if ui.needs(ctx, "opportunities"):
            ui.empty_state("Needs opportunities.csv.")
        elif pipe.empty:
            st.caption("No open opportunities.")
        else:
            ui.table(pipe, {"name": ui.Col("opportunity", "wrap", width=160),
                            "stage": ui.Col("stage", width=90), "amount": ui.Col("amount", "money", width=90),
                            "probability": ui.Col("chance", "pct", width=60),
                            "close_date": ui.Col("close", "date", width=80)}, cur, key="acc_pipe")
    with right:
        st.subheader("Competitors")
        comp = competitors(ctx.con, account_id)
        if comp is None:
            ui.empty_state("Needs competitors.csv.")
        elif comp.empty:
            st.caption("No competitor recorded for this account.")
        else:
            ui.table(comp, {"competitor": ui.Col("competitor", width=160), "product_line": ui.Col("line", width=90),
                            "est_share": ui.Col("share", "pct", width=60)}, cur, key="acc_comp")
    # the team's potential and competitors are edited here (workbench_ui)
    workbench_ui.potential_editor(ctx, account_id)
    workbench_ui.competitors_editor(ctx, account_id)

# ---- plan and reviews
with tab_plan:
    st.subheader("Account plan")
    actions = plan_actions(ctx.con, account_id, ctx.as_of)
    if actions is None:
        ui.empty_state("Needs plan_actions.csv.")
    elif actions.empty:
        st.caption("No plan action recorded for this account.")
    else:
        overdue = int(actions["is_overdue"].sum())
        st.caption(f"{ui.count((actions['status'] == 'open').sum())} open, {ui.count(overdue)} overdue")
        ui.table(actions.assign(overdue=actions["is_overdue"].map({True: "⚠ overdue", False: ""})), {
            "objective": ui.Col("objective", "wrap", width=360), "owner": ui.Col("owner", width=150),
            "due_date": ui.Col("due", "date", width=90), "status": ui.Col("status", width=65),
            "overdue": ui.Col("", width=90)}, cur, key="acc_actions")
    # the team's plan actions are edited here (workbench_ui)
    workbench_ui.plan_editor(ctx, account_id)
    st.subheader("Reviews")
    reviews = review_history(ctx.con, account_id, ctx.as_of)
    if reviews is None:
        ui.empty_state("Needs reviews.csv.")
    elif reviews.empty:
        st.caption("Never reviewed by a mentor.")
    else:
        ui.table(reviews, {"review_date": ui.Col("date", "date", width=90), "mentor": ui.Col("mentor", width=130),
                           "rating": ui.Col("rating", "code", width=80), "notes": ui.Col("notes", "wrap", width=450)},
                 cur, key="acc_reviews")
    ui.explain(f"The plan is reviewed every {ctx.settings.review_cadence_days} days; the plan score falls to 0 at "
               f"{ctx.settings.review_zero_days} days.", "plan_score")
    # the mentor's reviews over time: health, coverage, revenue; the review PDF (review_ui)
    review_ui.account_over_time(ctx, account_id, row)
    # the team's changes to this account: history, undo, Excel
    workbench_ui.account_history(ctx, account_id)
    workbench_ui.excel_round_trip(ctx, account_id)
