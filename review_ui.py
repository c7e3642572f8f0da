"""Streamlit sections of the mentor's review and the portfolio's history (issue 14): each
function renders one section and is called by a page in one line. The logic is in
``kam_core.workbench`` (``reviews``, ``snapshots``, ``review_diff``, ``pdf``); this module reads
widgets, calls it and renders.

- ``since_last_review(ctx, account_id)`` — top of the Account page: each figure then and now,
  contacts, relationships and actions changed; any two reviews compared;
- ``review_form(ctx, account_id)`` — record a review (rating, notes, decisions, plan actions,
  next date); opens by itself with ``?review=1`` (the cadence page links there);
- ``account_over_time(ctx, account_id)`` — health, coverage and revenue over the loads, the
  account's reviews, and the review PDF;
- ``portfolio_over_time(ctx, view)`` — Portfolio: the matrix with arrows from an earlier
  snapshot, the tier migration and the board pack;
- ``worse_since_last_load(ctx, view)`` — Home: accounts whose status worsened;
- ``cadence(ctx, view)`` — the Reviews page: per mentor, due, overdue and never reviewed.

The portfolio's history gets one snapshot per load: the CLI takes it after its load, and the
app on the first page run that sees a load without one (``ensure_history``).
"""

from __future__ import annotations

import datetime as dt
import threading

import pandas as pd
import streamlit as st

import ui
from kam_core import access
from kam_core.appdata import database_path
from kam_core.errors import KamError
from kam_core.workbench import snapshots as snap
from kam_core.workbench.edits import Create, Update
from kam_core.workbench.review_charts import history_figure, matrix_figure
from kam_core.workbench.review_diff import show, show_change
from kam_core.workbench.reviews import (
    cadence_by_mentor,
    diff,
    plan_of,
    record_review,
    review_cadence,
    review_of,
)

RATING_LABELS = {"on_track": "on track", "at_risk": "at risk", "off_track": "off track"}
DIRECTION_MARKS = {"better": "▲ better", "worse": "▼ worse", "changed": "changed", "same": ""}
_history_lock = threading.Lock()
_history_checked: set[tuple] = set()  # database versions whose snapshot is known to exist (this process)


# ---------------------------------------------------------------- shared


@st.cache_data(show_spinner=False, max_entries=8)
def _figures(db: tuple, settings_key: str, as_of: dt.date, _settings, _base, _scores, _con) -> pd.DataFrame:
    from kam_core.metrics.overview import account_overview

    return snap.figures_frame(account_overview(_con, _settings, _base, _scores), _base.health)


def figures(ctx: ui.PageContext) -> pd.DataFrame:
    """Every account's figures now (``snapshots.figures_frame``), cached with the metrics."""
    return _figures(ctx.db_key, ctx.settings_key, ctx.as_of, ctx.settings, ui.base_metrics(ctx), ui.scores(ctx),
                    ctx.con)


@st.cache_data(show_spinner=False, max_entries=64)
def _account_now(db: tuple, settings_key: str, as_of: dt.date, account_id: str, _settings, _row: dict, _con):
    return snap.account_snapshot(_con, _settings, as_of, account_id, _row)


def account_now(ctx: ui.PageContext, account_id: str) -> snap.AccountSnapshot | None:
    frame = figures(ctx)
    row = frame[frame["account_id"] == account_id]
    if row.empty:
        return None
    return _account_now(ctx.db_key, ctx.settings_key, ctx.as_of, account_id, ctx.settings, row.iloc[0].to_dict(),
                        ctx.con)


def ensure_history(ctx: ui.PageContext) -> snap.LoadIdentity | None:
    """The load in force, after making sure it has its portfolio snapshot: taken here from the
    figures the page computes anyway when no one (the CLI, another session) took it yet. Only
    with the settings saved for everyone (a session's weight experiment is not history)."""
    identity = snap.load_identity(ctx.con)
    file_key = ctx.db_key[:3]
    if identity is None or file_key in _history_checked:
        return identity
    settings = ui.saved_settings()
    if settings.history_snapshots_kept <= 0 or ctx.settings != settings:
        return identity
    store = ui.workbench_store()
    with _history_lock:
        if not snap.has_portfolio_snapshot(store, identity.load_id):
            try:
                snap.take_portfolio_snapshot(store, identity, ctx.as_of, figures(ctx), source="app",
                                             keep=settings.history_snapshots_kept)
            except KamError as exc:
                st.warning(f"The portfolio snapshot of this load could not be kept: {ui.md(exc)}")
                return identity
        _history_checked.add(file_key)
    return identity


def _who(ctx: ui.PageContext, actor: str | None) -> str:
    """An actor as a person reads it: the team member's name when it is a member id."""
    names = dict(access.team_members(ctx.con))
    return f"{names[actor]} ({actor})" if actor in names else (actor or "–")


# ---------------------------------------------------------------- since the last review


def since_last_review(ctx: ui.PageContext, account_id: str) -> None:
    """"Since the last review": the account's last review snapshot against now, or any two."""
    st.subheader("Since the last review")
    now = account_now(ctx, account_id)
    if now is None:
        return
    reviews = snap.review_snapshots(ui.workbench_store(), account_id)
    if not reviews:
        ui.empty_state("No review of this account has been recorded in the app yet, so there is nothing to compare "
                       "with. Record one below: from then on this section shows what changed since.")
        return
    from kam_core.workbench.reviews import baseline

    default = baseline(reviews, ctx.as_of)
    if default is None:
        ui.empty_state(f"The reviews of this account recorded in the app are dated after the data's as-of date "
                       f"({ctx.as_of.isoformat()}): they count, and this section compares with them, once the data "
                       "reaches their date (a newer export, or the setting as_of).")
        return
    reviews = [r for r in reviews if r.review_date <= ctx.as_of]
    dates = [r.review_date for r in reviews]
    with st.expander("Compare other reviews", icon=":material/compare_arrows:"):
        c1, c2 = st.columns(2)
        start = c1.selectbox("From the review of", dates, index=dates.index(default.review_date),
                             format_func=lambda d: d.isoformat(), key=f"rv_from_{account_id}")
        later = [d for d in dates if d > start]
        end = c2.selectbox("To", ["now", *later], format_func=lambda d: d if d == "now" else f"the review of {d}",
                           key=f"rv_to_{account_id}")
    then = reviews[dates.index(start)]
    after = now if end == "now" else reviews[dates.index(end)]
    d = diff(then, after, ctx.settings)
    who = f" (recorded by {ui.md(_who(ctx, then.actor))})" if then.actor else ""
    st.caption(f"From {ui.md(d.then_label)}{who} to {ui.md(d.now_label)}: {d.days} days.")
    cur = ctx.settings.currency
    cols = st.columns(4)
    for col, name in zip(cols, ("health", "coverage", "ttm_revenue", "status"), strict=True):
        f = d.figure(name)
        delta = None if f.direction == "same" else show_change(f, cur)
        col.metric(f"{f.label} (now)", show(f.now, f.kind, cur), delta, delta_color=_delta_colour(f),
                   delta_arrow="off" if f.change is None else "auto",
                   help=f"At {d.then_label}: {show(f.then, f.kind, cur)}")
    changed = [f for f in d.figures if f.direction != "same" and f.name not in ("health", "coverage", "ttm_revenue",
                                                                                 "status")]
    left, right = st.columns([3, 2])
    with left:
        if changed:
            ui.dataframe(pd.DataFrame({
                "figure": [f.label for f in changed], "then": [show(f.then, f.kind, cur) for f in changed],
                "now": [show(f.now, f.kind, cur) for f in changed], "change": [show_change(f, cur) for f in changed],
                "": [DIRECTION_MARKS[f.direction] for f in changed]}), hide_index=True, width="stretch",
                key=f"rv_figures_{account_id}")
        else:
            st.caption("No other figure changed.")
        for label, items in (("New problems", d.reasons_added), ("Resolved", d.reasons_resolved)):
            if items:
                st.markdown(f"**{label}:** " + "; ".join(ui.md(r) for r in items))
    with right:
        _change_lists(d)


def _delta_colour(f) -> str:
    if f.direction in ("same", "changed"):
        return "off"
    # a worse status or tier is an increase of its order: the colour follows better/worse
    up = (f.change or 0) > 0 if f.change is not None else f.direction == "worse"
    return "normal" if (f.direction == "better") == up else "inverse"


def _change_lists(d) -> None:
    lines = []
    for c in d.contacts:
        name = ui.md(c.name or c.contact_id)
        if c.change in ("added", "back"):
            lines.append(f":green[+] contact {name} ({ui.md(c.piece or 'pawn')}, {ui.md(c.attitude or 'neutral')})"
                         + (" is active again" if c.change == "back" else " added"))
        elif c.change == "lost":
            lines.append(f":red[−] contact {name} ({ui.md(c.piece or 'pawn')}) lost")
        else:
            lines.append(f"{ui.md(c.change)} of {name}: {ui.md(ui.text(c.then))} → {ui.md(ui.text(c.now))}")
    for r in d.relationships:
        pair = f"{ui.md(r.member_name or r.member_id)} – {ui.md(r.contact_name or r.contact_id)}"
        values = f"{show(r.effective_then, 'ratio')} → {show(r.effective_now, 'ratio')}"
        mark = ":green[▲]" if r.change in ("added", "strengthened") else ":red[▼]"
        lines.append(f"{mark} relationship {pair} {r.change} ({values})")
    for a in d.actions:
        what = ui.md(a.objective or a.action_id)
        if a.change == "overdue":
            lines.append(f":red[!] {what} overdue (due {ui.md(ui.text(a.due_date))})"
                         + ("" if a.was_overdue else ", newly"))
        else:
            lines.append(f"action {what} {a.change}")
    if not lines:
        st.caption("No contact, relationship or plan action changed.")
    for line in lines[:15]:
        st.markdown(f"- {line}")
    if len(lines) > 15:
        st.caption(f"and {len(lines) - 15} more changes")


# ---------------------------------------------------------------- recording a review


def review_form(ctx: ui.PageContext, account_id: str) -> None:
    """Record a review of the account: rating, notes, decisions, the plan's actions, next date."""
    saved_note = st.session_state.pop("_review_saved", None)
    if saved_note:
        st.success(saved_note, icon=":material/check_circle:")
    owner = access.account_owner(ctx.con, account_id)
    opened = st.query_params.get("review") == "1" or bool(saved_note) or f"_review_error_{account_id}" in st.session_state
    with st.expander("Record a review", expanded=opened, icon=":material/rate_review:"):
        if not ui.permitted(access.Action.RECORD_REVIEW, owner):
            return
        today = dt.date.today()
        # the data's as-of date when the data is older than today: a review dated after it would
        # not count until a newer export arrives (events after the as-of date are ignored)
        default_date = min(today, ctx.as_of)
        anonymous = not _identified()
        existing = review_of(ctx.con, account_id, default_date)
        seen = None if existing is None else {k: existing.get(k) for k in ("rating", "notes", "decisions",
                                                                            "next_review_date", "mentor_id")}
        if existing is not None:
            st.caption(f"This account has a review of {default_date.isoformat()} already: saving changes it.")
        elif default_date < today:
            st.caption(f"Dated {default_date.isoformat()}, the day the data describes (its as-of date), so that it "
                       "counts with this data; a later date counts once a newer export reaches it.")
        actions = plan_of(ctx.con, account_id)
        team = dict(access.team_members(ctx.con))
        with st.form(f"review_form_{account_id}"):
            if anonymous:  # every review is recorded with who made it: ask once, in the form
                who, who_name = _who_field(team, account_id)
            c1, c2, c3 = st.columns([2, 1, 1])
            ratings = list(RATING_LABELS)
            rating = c1.radio("Rating", ratings, format_func=RATING_LABELS.get, horizontal=True,
                              index=ratings.index(existing["rating"]) if existing and existing.get("rating") in ratings
                              else None, key=f"rv_rating_{account_id}")
            day = c2.date_input("Review date", value=default_date, max_value=today, key=f"rv_date_{account_id}")
            proposed = (existing or {}).get("next_review_date") or default_date + dt.timedelta(
                days=ctx.settings.review_cadence_days)
            next_day = c3.date_input("Next review", value=proposed, key=f"rv_next_{account_id}",
                                     help=f"Default: {ctx.settings.review_cadence_days} days later "
                                     "(review_cadence_days).")
            notes = st.text_area("Notes", value=(existing or {}).get("notes") or "", key=f"rv_notes_{account_id}",
                                 placeholder="What did the review find?")
            decisions = st.text_area("Decisions", value=(existing or {}).get("decisions") or "",
                                     key=f"rv_decisions_{account_id}", placeholder="What was decided?")
            st.markdown("**Plan actions** — change an action's status, owner or due date, or add a row")
            editable = actions[actions["action_id"].notna()].reset_index(drop=True)
            shown = editable.assign(owner=[_member_label(team, o) for o in editable["owner_id"]])[
                ["action_id", "objective", "owner", "due_date", "status"]]
            edited = st.data_editor(
                shown, num_rows="add", hide_index=True, width="stretch", key=f"rv_actions_{account_id}",
                disabled=["action_id"], placeholder="",  # an empty cell to fill in, as in the team's tables
                column_config={
                    "action_id": st.column_config.TextColumn("id", width="small"),
                    "objective": st.column_config.TextColumn("objective", width="large"),
                    "owner": st.column_config.SelectboxColumn("owner", options=[_member_label(team, m) for m in team]),
                    "due_date": st.column_config.DateColumn("due"),
                    "status": st.column_config.SelectboxColumn("status", options=["open", "done"], default="open"),
                })
            if len(actions) > len(editable):
                st.caption(f"{len(actions) - len(editable)} action(s) of the export have no action_id and cannot be "
                           "changed here.")
            submitted = st.form_submit_button("Save the review", type="primary", icon=":material/save:")
        if not submitted:
            return
        if rating is None:
            st.error("Choose a rating: on track, at risk or off track.", icon=":material/error:")
            return
        if anonymous:
            if not (who or who_name):
                st.error("Say who you are (Recorded by): every review is recorded with who made it.",
                         icon=":material/error:")
                return
            st.session_state["_whoami"], st.session_state["_whoami_name"] = who, who_name
            if who is None:
                st.session_state.pop("_whoami", None)
        operations = _action_operations(editable, edited, {_member_label(team, m): m for m in team})
        before = figures(ctx)
        before = before[before["account_id"] == account_id].iloc[0]
        actor = ui.current_actor()
        try:
            done = record_review(database_path(), actor, account_id, rating=rating, notes=notes, decisions=decisions,
                                 next_review_date=next_day, review_date=day, actions=operations,
                                 settings=ui.saved_settings(), store_path=ui.workbench_store(),
                                 seen=seen if existing is not None and day == default_date else None)
        except KamError as exc:
            st.session_state[f"_review_error_{account_id}"] = True
            ui.show_error(exc)
            return
        st.session_state.pop(f"_review_error_{account_id}", None)
        message = (f"Review of {day.isoformat()} saved (save {done.saved.batch_id}, by {ui.md(actor.label)}): "
                   f"rating {RATING_LABELS[rating]}")
        if done.snapshot is not None:
            f = done.snapshot.figures
            message += (f"; plan component {show(before['plan_score'], 'score')} → {show(f.get('plan_score'), 'score')}, "
                        f"status {ui.md(before['status'])} → {ui.md(f.get('status') or 'no data')}, health "
                        f"{show(before['health'], 'score')} → {show(f.get('health'), 'score')}.")
        else:
            message += f". {ui.md(done.snapshot_problem)}"
        if day > ctx.as_of:
            message += (f" It is dated after the data's as-of date ({ctx.as_of.isoformat()}): it counts once the "
                        "data reaches its date (a newer export, or the setting as_of).")
        st.session_state["_review_saved"] = message
        st.rerun()


def _identified() -> bool:
    """Whether the history can name the user: signed in, or chosen in the sidebar's Who am I."""
    actor = ui.current_actor()
    return actor.signed_in or bool(st.session_state.get("_whoami") or st.session_state.get("_whoami_name"))


def _who_field(team: dict[str, str], account_id: str) -> tuple[str | None, str | None]:
    """The "Recorded by" field of a form for a user who has not said who they are: a team
    member (or a name, without a team table); it sets the sidebar's Who am I for the session."""
    if team:
        chosen = st.selectbox("Recorded by (who am I)", list(team), format_func=lambda m: f"{team[m]} ({m})",
                              index=None, placeholder="choose yourself", key=f"rv_who_{account_id}",
                              help="Every review is recorded with who made it; chosen once for this session.")
        return chosen, team.get(chosen) if chosen else None
    name = st.text_input("Recorded by (your name)", key=f"rv_who_name_{account_id}", placeholder="named in the history")
    return None, name.strip() or None


def _member_label(team: dict[str, str], member_id) -> str | None:
    if member_id is None or (isinstance(member_id, float) and member_id != member_id) or member_id is pd.NA:
        return None
    return f"{team[member_id]} ({member_id})" if member_id in team else str(member_id)


def _action_operations(original: pd.DataFrame, edited: pd.DataFrame, members: dict[str, str]) -> list:
    """The plan actions the form changed or added, as workbench operations (``seen``: the
    values shown, so a change made meanwhile by someone else is refused, not overwritten)."""
    ops: list = []
    by_id = {r["action_id"]: r for r in original.to_dict("records")}
    for row in edited.to_dict("records"):
        owner = members.get(row.get("owner"), row.get("owner"))
        owner = None if owner is None or (isinstance(owner, float) and owner != owner) else owner
        values = {"objective": _blank(row.get("objective")), "owner_id": owner,
                  "due_date": _day(row.get("due_date")), "status": _blank(row.get("status")) or "open"}
        action_id = _blank(row.get("action_id"))
        if action_id is None:
            if values["objective"] is not None:
                ops.append(Create("plan_actions", values))
            continue
        old = by_id.get(action_id)
        if old is None:
            continue
        seen = {"objective": old["objective"], "owner_id": _blank(old["owner_id"]), "due_date": _day(old["due_date"]),
                "status": old["status"]}
        changed = {k: v for k, v in values.items() if v != seen[k]}
        if changed:
            ops.append(Update("plan_actions", action_id, changed, seen))
    return ops


def _blank(value):
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    return text or None


def _day(value) -> dt.date | None:
    if value is None or value is pd.NaT or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return pd.Timestamp(value).date()


# ---------------------------------------------------------------- over time, reviews, PDF


def account_over_time(ctx: ui.PageContext, account_id: str, account_row: pd.Series) -> None:
    """Health, coverage and revenue at each load and now; the reviews with who recorded them;
    the review PDF."""
    ensure_history(ctx)
    store = ui.workbench_store()
    st.subheader("Over time")
    history = snap.account_history(store, account_id)
    now = account_now(ctx, account_id)
    points = history[["as_of", "health", "coverage", "ttm_revenue"]]
    if now is not None:
        live = pd.DataFrame([{"as_of": pd.Timestamp(ctx.as_of), "health": now.figures.get("health"),
                              "coverage": now.figures.get("coverage"), "ttm_revenue": now.figures.get("ttm_revenue")}])
        points = pd.concat([points.astype({"as_of": "datetime64[us]"}), live.astype({"as_of": "datetime64[us]"})]) \
            .drop_duplicates("as_of", keep="last").sort_values("as_of")
    reviews = snap.review_snapshots(store, account_id)
    if len(points) < 2:
        ui.empty_state("The history starts with this load: every load keeps a snapshot of every account's figures "
                       "(history_snapshots_kept), and the next one draws the line.")
    else:
        ui.chart(history_figure(points, ctx.settings.currency, [r.review_date for r in reviews]),
                 key=f"rv_history_{account_id}", height=300)
        ui.explain("Health and coverage (0–100) and revenue of the last 12 months at each load's as-of date, and now; "
                   "dotted lines: reviews recorded in the app.", "health")
    if reviews:
        st.markdown("**Reviews recorded in the app**")
        ui.dataframe(pd.DataFrame({
            "review": [r.review_date for r in reviews],
            "rating": [RATING_LABELS.get((r.figures.get("review") or {}).get("rating"), "–") for r in reviews],
            "health then": [r.figures.get("health") for r in reviews],
            "status then": [r.figures.get("status") for r in reviews],
            "recorded by": [_who(ctx, r.actor) for r in reviews],
            "at (UTC)": [(r.taken_at or "")[:16].replace("T", " ") for r in reviews]}).iloc[::-1],
            hide_index=True, width="stretch", key=f"rv_list_{account_id}",
            column_config={"health then": st.column_config.NumberColumn(format="%.0f"),
                           "review": st.column_config.DateColumn("review")})
    _review_pdf(ctx, account_id, account_row, now, reviews)


def _review_pdf(ctx: ui.PageContext, account_id: str, account_row: pd.Series, now, reviews) -> None:
    from kam_core.workbench.pdf import build_review_document, latest_review, review_pdf

    slot = f"_review_pdf_{account_id}"
    c1, c2 = st.columns([1, 3])
    if c1.button("Prepare the review PDF", icon=":material/picture_as_pdf:", key=f"rv_pdf_{account_id}"):
        with st.spinner("Drawing the relationship map and writing the PDF …"):
            review = latest_review(ctx.con, account_id, ctx.as_of)
            doc = build_review_document(account_row.to_dict(), now, review, reviews, ctx.settings, ui.workbench_store(),
                                        prepared_by=ui.current_actor().label)
            st.session_state[slot] = (ctx.db_key, review_pdf(doc, ctx.settings))
    kept = st.session_state.get(slot)
    if kept and kept[0] == ctx.db_key:
        c2.download_button("Download the review (PDF)", kept[1], file_name=f"review-{account_id}-{ctx.as_of}.pdf",
                           mime="application/pdf", on_click="ignore", icon=":material/download:",
                           key=f"rv_pdf_download_{account_id}")
    else:
        c2.caption("One page for the meeting and the file: header, health, what is wrong, the relationship map, "
                   "since the last review, the plan.")


# ---------------------------------------------------------------- the portfolio over time


def portfolio_over_time(ctx: ui.PageContext, view: pd.DataFrame, ids: list[str] | None) -> None:
    """The matrix with arrows from a chosen earlier snapshot to now, the tier migration, and the
    board pack (Portfolio page)."""
    identity = ensure_history(ctx)
    store = ui.workbench_store()
    st.subheader("Since an earlier snapshot")
    snapshots = snap.portfolio_snapshots(store)
    if not snapshots:
        ui.empty_state("No snapshot of the portfolio yet: every load keeps one (history_snapshots_kept).")
        return
    earlier = [s for s in snapshots if identity is None or s.load_id != identity.load_id]
    choices = earlier or snapshots
    picked = st.selectbox("Compare now with the snapshot of the", choices, format_func=lambda s: s.label,
                          key="rv_portfolio_since") if earlier else choices[0]
    then = snap.snapshot_rows(store, picked.snapshot_id)
    if not earlier:
        # the matrix above is the only one worth drawing until there is an earlier load to compare with
        st.caption("The history starts with this load: the next load adds an earlier snapshot, and then this "
                   "section draws each account's move in the matrix and the tier migration.")
        _board_pack(ctx, view, then, picked)
        return
    if ids is not None:
        then = then[then["account_id"].isin(ids)]
    tier_names = [name for name, _ in ctx.settings.tier_list]
    moves = snap.matrix_moves(then, view, ctx.con)
    plotted = view.dropna(subset=["attractiveness", "strength"])
    left, right = st.columns([3, 2])
    with left:
        if plotted.empty:
            ui.empty_state("No account has both an attractiveness and a strength score.")
        else:
            ui.chart(matrix_figure(plotted, tier_names, ctx.settings.quadrant_strength,
                                   ctx.settings.quadrant_attractiveness, moves), key="rv_matrix_moves", height=520)
            moved = int((moves["distance"] > 0.5).sum()) if not moves.empty else 0
            ui.explain(f"Arrows: {moved:,} account(s) moved more than half a point since the {picked.label} "
                       "(the 300 largest moves are drawn).", "quadrant")
    with right:
        st.markdown("**Tier migration**")
        migration = snap.tier_migration(then, view, tier_names, ctx.con)
        changed = migration[migration["tier_from"] != migration["tier_to"]]
        if changed.empty:
            st.success("No account changed tier.")
        else:
            ui.dataframe(changed, hide_index=True, width="stretch", key="rv_migration", column_config={
                "tier_from": "from", "tier_to": "to", "accounts_count": "accounts",
                "ttm_revenue_then": st.column_config.NumberColumn(f"revenue then ({ctx.settings.currency})",
                                                                  format="compact"),
                "ttm_revenue_now": st.column_config.NumberColumn(f"revenue now ({ctx.settings.currency})",
                                                                 format="compact")})
        kept = int(migration.loc[migration["tier_from"] == migration["tier_to"], "accounts_count"].sum())
        st.caption(f"{kept:,} account(s) kept their tier.")
        _board_pack(ctx, view, then, picked)


def _board_pack(ctx: ui.PageContext, view: pd.DataFrame, then: pd.DataFrame, picked) -> None:
    from kam_core.metrics.growth import portfolio_figures
    from kam_core.metrics.portfolio import portfolio_overview
    from kam_core.workbench.pdf import BoardPack, board_pack_pdf

    if st.button("Prepare the board pack (PDF)", icon=":material/picture_as_pdf:", key="rv_board_pack"):
        with st.spinner("Drawing the matrix and writing the PDF …"):
            by_tier = portfolio_overview(ctx.con, ctx.settings, ctx.as_of, scores=view, growth=view).by_tier
            pack = BoardPack(ctx.as_of, view, by_tier, dict(portfolio_figures(ctx.con, view)),
                             [name for name, _ in ctx.settings.tier_list], then, picked.label, ctx.settings.currency)
            st.session_state["_board_pack"] = ((ctx.db_key, picked.snapshot_id, len(view)),
                                               board_pack_pdf(pack, ctx.settings))
    kept = st.session_state.get("_board_pack")
    if kept and kept[0] == (ctx.db_key, picked.snapshot_id, len(view)):
        st.download_button("Download the board pack (PDF)", kept[1], file_name=f"board-pack-{ctx.as_of}.pdf",
                           mime="application/pdf", on_click="ignore", icon=":material/download:", key="rv_board_dl")


def worse_since_last_load(ctx: ui.PageContext, view: pd.DataFrame) -> None:
    """Home: the accounts whose status worsened since the previous load's snapshot."""
    identity = ensure_history(ctx)
    store = ui.workbench_store()
    previous = snap.previous_snapshot(store, identity.load_id if identity else None)
    st.subheader("Worse since the last load")
    if previous is None:
        st.caption("The history starts with this load: the next load shows which accounts got worse.")
        return
    changes = snap.status_changes(snap.snapshot_rows(store, previous.snapshot_id), view, ctx.con)
    worse = changes[changes["is_worse"]].merge(view[["account_id", "name", "reasons", "ttm_revenue"]], on="account_id")
    st.caption(f"Status compared with the snapshot of the {ui.md(previous.label)}.")
    if worse.empty:
        st.success("No account's status got worse.")
        return
    for row in worse.head(10).itertuples():
        reasons = row.reasons.tolist() if hasattr(row.reasons, "tolist") else list(row.reasons or [])
        ui.account_link(f"**{ui.md(row.name)}** · {ui.md(ui.words(row.status_then))} → "
                        f"**{ui.md(ui.words(row.status_now))}** · health {show(row.health_then, 'score')} → "
                        f"{show(row.health_now, 'score')}", row.account_id)
        if reasons:
            st.caption(ui.md("; ".join(reasons[:2])))
    if len(worse) > 10:
        st.caption(f"and {len(worse) - 10:,} more")


# ---------------------------------------------------------------- the cadence


def cadence(ctx: ui.PageContext, view: pd.DataFrame) -> None:
    """Per mentor: accounts due, overdue and never reviewed; every account with a link straight
    into its review form."""
    frame = ui.cached(ctx, review_cadence)
    frame = frame[frame["account_id"].isin(view["account_id"])]
    counts = frame["cadence_status"].value_counts()
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Overdue", f"{int(counts.get('overdue', 0)):,}", help="The next review's date has passed.")
    c2.metric("Never reviewed", f"{int(counts.get('never reviewed', 0)):,}")
    c3.metric("Due", f"{int(counts.get('due', 0)):,}",
              help=f"Due within {ctx.settings.review_due_soon_days} days (review_due_soon_days).")
    c4.metric("Scheduled", f"{int(counts.get('scheduled', 0)):,}")
    st.subheader("Per mentor")
    ui.dataframe(cadence_by_mentor(frame).drop(columns=["mentor_id"]), hide_index=True, width="stretch",
                 key="rv_cadence_mentors", column_config={
                     "accounts_count": "accounts", "overdue_count": "overdue", "never_reviewed_count": "never reviewed",
                     "due_count": "due", "scheduled_count": "scheduled"})
    ui.explain(f"Due: the next review date set at the last review, else {ctx.settings.review_cadence_days} days after "
               "it (review_cadence_days). The plan component of health counts the days since the last review.",
               "plan_score")
    st.subheader("Accounts")
    shown_statuses = st.multiselect("Show", ["overdue", "never reviewed", "due", "scheduled"],
                                    default=["overdue", "never reviewed", "due"], key="rv_cadence_show")
    part = frame[frame["cadence_status"].isin(shown_statuses)]
    if part.empty:
        ui.empty_state("No account in these groups.")
        return
    ui.table(part.assign(last_rating=part["last_rating"].map(RATING_LABELS)), {
        "name": ui.Col("account", width=190), "mentor": ui.Col("mentor", width=120),
        "cadence_status": ui.Col("status", "code", width=80), "last_review_date": ui.Col("last review", "date", width=90),
        "last_rating": ui.Col("rating", width=75), "next_due_date": ui.Col("due", "date", width=90),
        "days_until_due": ui.Col("days to due", "count", width=85, help="Negative: overdue by so many days")},
        ctx.currency, key="rv_cadence_accounts", open_account=True, open_review=True)
    ui.explain("Click an account to open it with its review form (in this tab, the filters kept).", "plan_score")


__all__ = ["account_over_time", "cadence", "ensure_history", "portfolio_over_time", "review_form", "since_last_review",
           "worse_since_last_load"]
