"""The mentor's review: recorded in the workbench, with a snapshot of the account at that
moment, compared with the last one, and the cadence of reviews per mentor (docs/reviews.md).

- ``record_review(db_path, actor, account_id, rating=..., ...)`` — checks the role
  (``Action.RECORD_REVIEW``), saves the review (rating, notes, decisions, next review date) and
  any new or changed plan actions as one save of the workbench (who and when in its history; one
  undo takes it all back), then keeps the account's snapshot (figures, relationship map, plan).
  The review counts in health at once: every reader lays the store over the export.
- ``since_last_review(...)`` — the account's last review snapshot against now (``ReviewDiff``).
- ``review_cadence(con, settings, as_of)`` / ``cadence_by_mentor`` — per account when the next
  review is due; per mentor how many are due, overdue or never reviewed.

>>> next_due(dt.date(2025, 3, 1), None, 90)
datetime.date(2025, 5, 30)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from kam_core.access import AccessDenied, Action, Actor, account_owner, require
from kam_core.asof import resolve_as_of
from kam_core.ingest.schema import RATINGS
from kam_core.metrics.sources import loaded_inputs, reading
from kam_core.settings import Settings
from kam_core.sqlutil import fetch_frame, scratch
from kam_core.workbench.edits import Create, Operation, Saved, Update, Workbench, WriteRequest
from kam_core.workbench.errors import PermissionDenied, WorkbenchError
from kam_core.workbench.review_diff import ReviewDiff, diff_snapshots
from kam_core.workbench.snapshots import (
    AccountSnapshot,
    account_snapshot,
    current_figures,
    review_snapshots,
    save_review_snapshot,
)

# Tables a review may write: the review itself and the plan's actions decided in it.
REVIEW_TABLES = ("reviews", "plan_actions")


@dataclass(frozen=True)
class RecordedReview:
    """What ``record_review`` did: the save (``batch_id``, changes) and the snapshot kept; when
    the snapshot could not be taken, ``snapshot`` is None and ``snapshot_problem`` says why
    (the review itself is saved and counts)."""

    saved: Saved
    review_date: dt.date
    snapshot: AccountSnapshot | None
    snapshot_problem: str | None = None


def next_due(last_review: dt.date | None, next_review: dt.date | None, cadence_days: int) -> dt.date | None:
    """When the next review is due: the date set at the last review, else the last review plus
    ``review_cadence_days``; None when never reviewed."""
    if next_review is not None:
        return next_review
    if last_review is None:
        return None
    return last_review + dt.timedelta(days=cadence_days)


def _review_authorizer(actor: Actor, wb: Workbench):
    """The workbench's hook for a review's save: only the review and plan actions, and only of
    accounts the actor may review (management every account, mentors and account managers theirs)."""

    def authorize(request: WriteRequest) -> None:
        if request.table not in REVIEW_TABLES:
            raise PermissionDenied(f"a review saves reviews and plan actions only, not {request.table}")
        con = wb.dataset()
        for account_id in request.account_ids:
            try:
                require(actor, Action.RECORD_REVIEW, account_owner(con, account_id) or {"account_id": account_id})
            except AccessDenied as exc:
                raise PermissionDenied(str(exc)) from None

    return authorize


def record_review(db_path: Path | str, actor: Actor, account_id: str, *, rating: str, notes: str | None = None,
                  decisions: str | None = None, next_review_date: dt.date | str | None = None,
                  review_date: dt.date | str | None = None, actions: Sequence[Operation] = (),
                  settings: Settings | None = None, store_path: Path | str | None = None,
                  seen: int | Mapping[str, Any] | None = None, source: str = "app") -> RecordedReview:
    """Record the mentor's review of ``account_id`` (see the module).

    ``review_date`` defaults to today, or to the data's as-of date when that is earlier (a review
    dated after it counts once the data reaches it); a future date is refused. A review of the
    same account and day is changed (pass the version the user saw as ``seen``), not added twice. ``actions`` are ``Create``/``Update``
    operations on ``plan_actions`` of this account, saved in the same save. ``mentor_id`` is the
    actor's team member id (None for a signed-in user without one). Raises ``AccessDenied`` when
    the actor may not review the account, ``ValidationError`` (with the loader's words) for a
    value that breaks the schema, ``ConflictError`` when the review changed since ``seen``.
    """
    settings = settings or Settings()
    wb = Workbench(db_path, store_path, settings=settings)
    wb.authorize = _review_authorizer(actor, wb)
    con = wb.dataset()
    owner = account_owner(con, account_id)
    if owner is None:
        raise WorkbenchError(f"account {account_id!r} is not in the data; nothing was saved")
    require(actor, Action.RECORD_REVIEW, owner)
    today = dt.date.today()
    # by default the day of the data (its as-of date) when the data is older than today: a
    # review dated after the as-of date counts only once the data reaches it
    review_date = _date(review_date, "review_date") or min(today, resolve_as_of(con, settings))
    if review_date > today:
        raise WorkbenchError(f"review_date {review_date.isoformat()} is in the future: a review is recorded on "
                             "the day it took place or later")
    next_review_date = _date(next_review_date, "next_review_date")
    rating = (rating or "").strip().lower().replace(" ", "_")
    if rating not in RATINGS:
        raise WorkbenchError(f"a review needs a rating: one of {', '.join(RATINGS)} (got {rating or 'none'!r})")
    if next_review_date is not None and next_review_date <= review_date:
        raise WorkbenchError(f"the next review ({next_review_date.isoformat()}) must come after this one "
                             f"({review_date.isoformat()})")
    for op in actions:
        if op.table != "plan_actions":
            raise WorkbenchError(f"a review saves plan actions with it, not {op.table}")
        if isinstance(op, Create) and op.values.get("account_id") not in (None, account_id):
            raise WorkbenchError(f"a plan action of this review belongs to account {account_id}")
    values: dict[str, Any] = {"mentor_id": actor.member_id, "rating": rating, "notes": _text(notes),
                              "decisions": _text(decisions), "next_review_date": next_review_date}
    key = (account_id, review_date)
    existing = wb.record("reviews", key)
    review_op: Operation = (Update("reviews", key, values, seen) if existing is not None
                            else Create("reviews", {"account_id": account_id, "review_date": review_date, **values}))
    plan_ops = [Create("plan_actions", {"account_id": account_id, **op.values}) if isinstance(op, Create) else op
                for op in actions]
    saved = wb.save(actor.identity, [review_op, *plan_ops], source=source)
    try:
        snapshot = review_snapshot_now(wb, settings, account_id)
    except Exception as exc:  # the review is saved and counts; the snapshot is what is missing
        return RecordedReview(saved, review_date, None, f"the snapshot of the account could not be taken ({exc})")
    # the review's own words beside the figures (``latest_rating`` is the latest verdict in force)
    snapshot.figures["review"] = {"rating": rating, "notes": values["notes"], "decisions": values["decisions"],
                                  "next_review_date": next_review_date.isoformat() if next_review_date else None}
    kept = save_review_snapshot(wb.store_path, snapshot, review_date, actor.identity, saved.batch_id)
    return RecordedReview(saved, review_date, kept)


def review_snapshot_now(wb: Workbench, settings: Settings, account_id: str) -> AccountSnapshot:
    """The account now, on the workbench's overlaid data (every account's metrics are computed:
    tiers and quadrants rank the whole portfolio)."""
    con = wb.dataset()
    as_of = resolve_as_of(con, settings)
    figures = current_figures(con, settings, as_of)
    row = figures[figures["account_id"] == account_id]
    if row.empty:
        raise WorkbenchError(f"account {account_id!r} is not in the data")
    return account_snapshot(con, settings, as_of, account_id, row.iloc[0].to_dict())


def _date(value: dt.date | str | None, name: str) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise WorkbenchError(f"{name} {value!r} is not a date (YYYY-MM-DD)") from None


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    return value or None


PLAN_SQL = """
select
    action_id,
    objective,
    owner_id,
    due_date,
    coalesce(status, 'open') as status,
from plan_actions
where account_id = $account_id
order by (coalesce(status, 'open') = 'open') desc, due_date nulls last, action_id
"""

REVIEW_SQL = """
select
    *,
from reviews
where account_id = $account_id
    and review_date = $review_date
limit 1
"""


def plan_of(con: duckdb.DuckDBPyConnection, account_id: str) -> pd.DataFrame:
    """The account's plan actions as the review form edits them (``action_id``, ``objective``,
    ``owner_id``, ``due_date``, ``status``), open ones first; empty without a plan_actions table."""
    loaded = loaded_inputs(con)
    with reading(con, loaded) as cur:
        return fetch_frame(cur, PLAN_SQL, {"account_id": account_id})


def review_of(con: duckdb.DuckDBPyConnection, account_id: str, review_date: dt.date) -> dict[str, Any] | None:
    """The account's review of ``review_date`` as the data has it now (every column), or None."""
    loaded = loaded_inputs(con)
    if "reviews" not in loaded:
        return None
    with reading(con, loaded) as cur:
        frame = fetch_frame(cur, REVIEW_SQL, {"account_id": account_id, "review_date": review_date})
    if frame.empty:
        return None
    return {k: (None if pd.isna(v) else v) for k, v in frame.iloc[0].to_dict().items()}


# ---------------------------------------------------------------- since the last review


def baseline(snapshots: Sequence[AccountSnapshot], as_of: dt.date) -> AccountSnapshot | None:
    """The review to compare "now" with: the latest review before the as-of date (so that on the
    day of a review, the page shows what changed since the one before), else one of that day;
    a review dated after the as-of date is not one yet (the data has not reached it)."""
    counted = [s for s in snapshots if s.review_date is not None and s.review_date <= as_of]
    if not counted:
        return None
    earlier = [s for s in counted if s.review_date < as_of]
    return (earlier or counted)[-1]


def since_last_review(store_path: Path | str, now: AccountSnapshot, settings: Settings,
                      snapshots: Sequence[AccountSnapshot] | None = None) -> tuple[ReviewDiff, AccountSnapshot] | None:
    """What changed since the account's last review (``baseline``) until ``now``, and that
    review's snapshot; None when no review of the account has a snapshot."""
    snapshots = review_snapshots(store_path, now.account_id) if snapshots is None else snapshots
    then = baseline(snapshots, now.as_of)
    if then is None:
        return None
    return diff(then, now, settings), then


def diff(then: AccountSnapshot, now: AccountSnapshot, settings: Settings) -> ReviewDiff:
    """``diff_snapshots`` with the settings' tiers and strength threshold."""
    return diff_snapshots(then, now, tier_names=[name for name, _ in settings.tier_list],
                          strength_change=settings.review_strength_change)


def account_now(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date, account_id: str,
                figures: pd.DataFrame | None = None) -> AccountSnapshot:
    """The account now as a snapshot (``figures``: the ``figures_frame`` if computed already)."""
    if figures is None:
        figures = current_figures(con, settings, as_of)
    row = figures[figures["account_id"] == account_id]
    if row.empty:
        raise WorkbenchError(f"account {account_id!r} is not in the data")
    return account_snapshot(con, settings, as_of, account_id, row.iloc[0].to_dict())


# ---------------------------------------------------------------- the cadence

CADENCE_SQL = """
with

reviews_as_of as (
    select
        account_id,
        review_date,
        rating,
        {next_review_date} as next_review_date,
    from reviews
    where review_date <= $as_of
),

latest as (
    select
        account_id,
        count(*) as reviews_count,
        max(review_date) as last_review_date,
        arg_max(rating, review_date) as last_rating,
        -- the next date set at the latest review (several that day: the earliest they set)
        min(next_review_date) filter (where review_date = last_review_date) as next_review_date,
    from (select *, max(review_date) over (partition by account_id) as last_review_date from reviews_as_of)
    group by account_id
),

due as (
    select
        accounts.account_id,
        accounts.name,
        accounts.mentor_id,
        coalesce(mentor.name, accounts.mentor_id) as mentor,
        coalesce(latest.reviews_count, 0) as reviews_count,
        latest.last_review_date,
        latest.last_rating,
        latest.next_review_date,
        coalesce(latest.next_review_date,
                 latest.last_review_date + to_days($review_cadence_days)) as next_due_date,
    from accounts
    left join latest
        on latest.account_id = accounts.account_id
    left join team as mentor
        on mentor.member_id = accounts.mentor_id
),

final as (
    select
        *,
        date_diff('day', $as_of::date, next_due_date) as days_until_due,
        case
            when last_review_date is null then 'never reviewed'
            when next_due_date < $as_of then 'overdue'
            when next_due_date <= $as_of + to_days($review_due_soon_days) then 'due'
            else 'scheduled'
        end as cadence_status,
    from due
)

select * from final
order by
    case cadence_status when 'overdue' then 0 when 'never reviewed' then 1 when 'due' then 2 else 3 end,
    next_due_date nulls last,
    name,
    account_id
"""

CADENCE_STATUSES = ("overdue", "never reviewed", "due", "scheduled")


def review_cadence(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date) -> pd.DataFrame:
    """Per account: mentor, reviews so far, the last review and its rating, the next date set
    then, when the next review is due (``next_due``) and ``cadence_status``: overdue (due before
    the as-of date), never reviewed, due (within ``review_due_soon_days``) or scheduled. Without
    a reviews table every account is "never reviewed"."""
    loaded = loaded_inputs(con)
    with reading(con, loaded) as cur:
        columns = {r[0] for r in cur.execute(
            "select column_name from information_schema.columns where table_name = 'reviews'").fetchall()}
        # a database loaded before the column existed has none: the cadence decides
        next_column = "next_review_date" if "next_review_date" in columns else "null::date"
        sql = CADENCE_SQL.replace("{next_review_date}", next_column)
        frame = fetch_frame(cur, sql, {"as_of": as_of, "review_cadence_days": settings.review_cadence_days,
                                       "review_due_soon_days": settings.review_due_soon_days})
    return frame


def cadence_by_mentor(cadence: pd.DataFrame) -> pd.DataFrame:
    """Per mentor (``no mentor`` for accounts without one): accounts, overdue, never reviewed,
    due and scheduled; the mentors with the most overdue first."""
    with scratch() as con:
        con.register("cadence", cadence[["mentor_id", "mentor", "cadence_status"]])
        return fetch_frame(con, """
            select
                mentor_id,
                coalesce(mentor, 'no mentor') as mentor,
                count(*) as accounts_count,
                count(*) filter (where cadence_status = 'overdue') as overdue_count,
                count(*) filter (where cadence_status = 'never reviewed') as never_reviewed_count,
                count(*) filter (where cadence_status = 'due') as due_count,
                count(*) filter (where cadence_status = 'scheduled') as scheduled_count,
            from cadence
            group by mentor_id, mentor
            order by overdue_count desc, never_reviewed_count desc, due_count desc, mentor
        """)
