"""Snapshots: an account's figures and relationship map at each review, and every account's
figures at each load (the portfolio's history). Both live in the workbench store (version 2 of
``store.MIGRATIONS``), beside the team's edits, so that a new load never loses them.

- ``figures_frame(overview, health)`` — one row per account with the figures a snapshot keeps
  (``FIGURES``), from the account table (``account_overview``) and the health components;
  ``current_figures(con, settings, as_of)`` computes both.
- ``account_snapshot(con, settings, as_of, account_id, figures)`` — one account now: its figures,
  its contacts (piece, attitude), its relationships (strength, effective strength) and its plan.
- ``save_review_snapshot`` / ``review_snapshots`` — the snapshot taken when a review is recorded.
- ``take_portfolio_snapshot`` / ``portfolio_snapshots`` / ``snapshot_rows`` / ``account_history``
  — every account's figures per load, pruned to ``history_snapshots_kept``.
- ``tier_migration``, ``status_changes``, ``matrix_moves`` — two portfolio states compared, in
  DuckDB SQL.

>>> FIGURE_BY_NAME["key_person_dependency"].better
'lower'
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import sqlite3
import time
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from kam_core.errors import KamError
from kam_core.settings import Settings
from kam_core.sqlutil import fetch_frame, scratch
from kam_core.workbench.store import now_utc, open_store, read_store, write_transaction

# ---------------------------------------------------------------- the figures kept


@dataclass(frozen=True)
class Figure:
    """One figure of a snapshot: its column, how a person names it, its kind (how it is shown
    and compared: score 0-100, ratio 0-1, money, count, status, tier, text, list) and which
    direction is better (``higher``, ``lower`` or None when there is no order)."""

    name: str
    label: str
    kind: str
    better: str | None = "higher"


FIGURES: tuple[Figure, ...] = (
    Figure("health", "health", "score"),
    Figure("coverage_score", "coverage component", "score"),
    Figure("growth_score", "growth component", "score"),
    Figure("margin_score", "margin component", "score"),
    Figure("plan_score", "plan component", "score"),
    Figure("activity_score", "activity component", "score"),
    Figure("status", "status", "status", "lower"),
    Figure("reasons", "what is wrong", "list", None),
    Figure("latest_rating", "mentor's rating", "rating", "lower"),
    Figure("coverage", "relationship coverage", "score"),
    Figure("key_players_covered", "key players covered", "ratio"),
    Figure("threads", "threads", "count"),
    Figure("key_person_dependency", "key-person dependency", "ratio", "lower"),
    Figure("ttm_revenue", "revenue, last 12 months", "money"),
    Figure("revenue_growth", "revenue growth", "ratio"),
    Figure("gross_margin_pct", "gross margin", "ratio"),
    Figure("share_of_wallet", "share of wallet", "ratio"),
    Figure("open_pipeline", "open pipeline", "money"),
    Figure("weighted_pipeline", "weighted pipeline", "money"),
    Figure("attractiveness", "attractiveness (score)", "score"),
    Figure("strength", "strength (score)", "score"),
    Figure("tier", "tier", "tier", "lower"),
    Figure("quadrant", "quadrant", "text", None),
    Figure("open_actions", "open plan actions", "count", None),
    Figure("overdue_actions", "overdue plan actions", "count", "lower"),
)
FIGURE_BY_NAME: dict[str, Figure] = {f.name: f for f in FIGURES}

# The figures every load keeps for every account (the columns of portfolio_snapshot_rows).
PORTFOLIO_COLUMNS: tuple[str, ...] = (
    "health", "coverage_score", "growth_score", "margin_score", "plan_score", "activity_score",
    "status", "coverage", "threads", "key_person_dependency", "ttm_revenue", "revenue_growth",
    "gross_margin_pct", "share_of_wallet", "open_pipeline", "attractiveness", "strength", "tier",
    "quadrant",
)
_TEXT_COLUMNS = {"status", "tier", "quadrant", "latest_rating"}
_INT_COLUMNS = {"threads", "open_actions", "overdue_actions"}

# Worse status, higher number (the order of §3.4); "no data" has no place in it.
STATUS_ORDER = {"green": 0, "amber": 1, "red": 2}
RATING_ORDER = {"on_track": 0, "at_risk": 1, "off_track": 2}

HEALTH_COMPONENT_COLUMNS = ("coverage_score", "growth_score", "margin_score", "plan_score", "activity_score")


class SnapshotError(KamError):
    """A snapshot cannot be taken or read (the message says why and what to do)."""


def figures_frame(overview: pd.DataFrame, health: pd.DataFrame) -> pd.DataFrame:
    """One row per account: ``account_id``, ``name``, ``mentor_id``, ``tier_rank`` and every
    figure of ``FIGURES``, from the account table (``account_overview``) and the health frame
    (``BaseMetrics.health``, for the components)."""
    components = [c for c in HEALTH_COMPONENT_COLUMNS if c not in overview.columns]
    frame = overview.merge(health[["account_id", *components]], on="account_id", how="left") if components \
        else overview
    wanted = ["account_id", "name", "mentor_id", "tier_rank", *(f.name for f in FIGURES)]
    for column in wanted:
        if column not in frame.columns:
            frame = frame.assign(**{column: None})
    return frame[wanted].reset_index(drop=True)


def current_figures(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date) -> pd.DataFrame:
    """Every account's figures now: the metrics pipeline, the portfolio's scores, the account
    table (``figures_frame`` of them). Tier and quadrant need the whole portfolio (percent ranks)."""
    from kam_core.metrics.overview import account_overview, base_metrics

    base = base_metrics(con, settings, as_of)
    return figures_frame(account_overview(con, settings, base), base.health)


# ---------------------------------------------------------------- one account


@dataclass(frozen=True)
class AccountSnapshot:
    """One account at one moment: its figures (``FIGURES``), its contacts (``contact_id``,
    ``name``, ``title``, ``level``, ``piece``, ``attitude``, ``is_active``), the relationships to
    them (``member_id``, ``member_name``, ``contact_id``, ``strength``, ``effective_strength``,
    ``last_contact_date``) and the plan's actions (``action_id``, ``objective``, ``owner``,
    ``due_date``, ``status``, ``is_overdue``). ``review_date`` and ``taken_at`` are set for a
    snapshot stored at a review; "now" has neither."""

    account_id: str
    as_of: dt.date
    figures: dict[str, Any]
    contacts: list[dict[str, Any]] = field(default_factory=list)
    relationships: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    review_date: dt.date | None = None
    taken_at: str | None = None
    actor: str | None = None
    batch_id: int | None = None

    @property
    def label(self) -> str:
        """What the snapshot is, for a person: "the review of 2025-06-30" or "now (as of …)". A
        review recorded with an earlier date than the data's (a review entered afterwards)
        holds the figures of the data it was recorded with, and says so."""
        if self.review_date is not None:
            if self.as_of != self.review_date:
                return f"the review of {self.review_date.isoformat()}, figures as of {self.as_of.isoformat()}"
            return f"the review of {self.review_date.isoformat()}"
        return f"now (as of {self.as_of.isoformat()})"

    def to_dict(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "as_of": self.as_of.isoformat(),
                "review_date": self.review_date.isoformat() if self.review_date else None,
                "taken_at": self.taken_at, "actor": self.actor, "figures": self.figures,
                "contacts": self.contacts, "relationships": self.relationships, "actions": self.actions}


def plain(value: Any) -> Any:
    """A value as JSON keeps it: numpy and pandas scalars unwrapped, NaN/NA as None, dates as
    ISO text, Arrow lists as lists."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return plain(value.tolist())
    if hasattr(value, "item") and type(value).__module__ == "numpy":
        value = value.item()
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return round(value, 9)
    return value


def _records(frame: pd.DataFrame | None, columns: Sequence[str]) -> list[dict[str, Any]]:
    if frame is None or frame.empty:
        return []
    present = [c for c in columns if c in frame.columns]
    return [{c: plain(v) for c, v in zip(present, row, strict=True)}
            for row in frame[present].itertuples(index=False, name=None)]


def account_snapshot(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date, account_id: str,
                     figures: Mapping[str, Any] | pd.Series) -> AccountSnapshot:
    """The account now: ``figures`` (its row of ``figures_frame``) with its relationship map and
    plan read from ``con``."""
    from kam_core.metrics.account import plan_actions
    from kam_core.metrics.coverage import relationship_map

    nodes, edges = relationship_map(con, settings, as_of, account_id)
    members = nodes[nodes["kind"] == "member"]
    names = dict(zip(members["node_id"], members["label"], strict=True))
    contacts = nodes[nodes["kind"] == "contact"].rename(columns={"node_id": "contact_id", "label": "name"})
    edges = edges.assign(member_name=[names.get(m, m) for m in edges["member_id"]])
    actions = plan_actions(con, account_id, as_of)
    values = {f.name: plain(figures.get(f.name)) for f in FIGURES}
    return AccountSnapshot(
        account_id=account_id, as_of=as_of, figures=values,
        contacts=_records(contacts, ("contact_id", "name", "title", "level", "piece", "attitude", "is_active")),
        relationships=_records(edges, ("member_id", "member_name", "contact_id", "strength", "effective_strength",
                                       "last_contact_date")),
        actions=_records(actions, ("action_id", "objective", "owner", "due_date", "status", "is_overdue")),
    )


# ---------------------------------------------------------------- snapshots at reviews


def save_review_snapshot(store_path: Path | str, snapshot: AccountSnapshot, review_date: dt.date, actor: str,
                         batch_id: int | None) -> AccountSnapshot:
    """Keep ``snapshot`` as the one of the account's review on ``review_date`` (a review saved
    again on the same day replaces it); returns it with its review date and time."""
    taken_at = now_utc()
    with open_store(store_path) as sq, write_transaction(sq):
        sq.execute(
            "insert or replace into review_snapshots (account_id, review_date, taken_at, actor, as_of, batch_id, "
            "figures, contacts, relationships, actions) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (snapshot.account_id, review_date.isoformat(), taken_at, actor, snapshot.as_of.isoformat(), batch_id,
             _json(snapshot.figures), _json(snapshot.contacts), _json(snapshot.relationships),
             _json(snapshot.actions)))
    return AccountSnapshot(snapshot.account_id, snapshot.as_of, snapshot.figures, snapshot.contacts,
                           snapshot.relationships, snapshot.actions, review_date, taken_at, actor, batch_id)


# a snapshot whose save was undone belongs to a review that was taken back: it is kept (the
# store never forgets) but no longer counts as a review
LIVE_SNAPSHOT = "not exists (select 1 from batches b where b.undoes = s.batch_id)"


def review_snapshots(store_path: Path | str, account_id: str) -> list[AccountSnapshot]:
    """The account's review snapshots, oldest review first ([] without a store); a review
    whose save was undone has none."""
    with read_store(store_path) as sq:
        if sq is None:
            return []
        rows = sq.execute(
            "select account_id, review_date, taken_at, actor, as_of, batch_id, figures, contacts, relationships, "
            f"actions from review_snapshots s where account_id = ? and {LIVE_SNAPSHOT} order by review_date",
            (account_id,)).fetchall()
    return [_review_snapshot(row) for row in rows]


def review_snapshot_dates(store_path: Path | str) -> pd.DataFrame:
    """Every review snapshot's account, review date, who and when (no figures): for lists."""
    columns = ["account_id", "review_date", "taken_at", "actor"]
    with read_store(store_path) as sq:
        rows = [] if sq is None else sq.execute(
            f"select account_id, review_date, taken_at, actor from review_snapshots s where {LIVE_SNAPSHOT} "
            "order by account_id, review_date").fetchall()
    frame = pd.DataFrame(rows, columns=columns)
    frame["review_date"] = pd.to_datetime(frame["review_date"]).astype("datetime64[us]")
    return frame


def _review_snapshot(row: Sequence[Any]) -> AccountSnapshot:
    account_id, review_date, taken_at, actor, as_of, batch_id, figures, contacts, relationships, actions = row
    return AccountSnapshot(account_id, dt.date.fromisoformat(as_of), json.loads(figures), json.loads(contacts),
                           json.loads(relationships), json.loads(actions), dt.date.fromisoformat(review_date),
                           taken_at, actor, batch_id)


def _json(value: Any) -> str:
    return json.dumps(plain(value) if not isinstance(value, dict) else {k: plain(v) for k, v in value.items()},
                      ensure_ascii=False, separators=(",", ":"))


# ---------------------------------------------------------------- the portfolio's history


@dataclass(frozen=True)
class LoadIdentity:
    """Which load a database holds: ``load_id`` (unique per load) and when it was loaded."""

    load_id: str
    loaded_at: str | None


def load_identity(con: duckdb.DuckDBPyConnection) -> LoadIdentity | None:
    """The load a dataset connection reads, from its ``load_info`` (None for a database that was
    not built by the loader)."""
    from kam_core.metrics.sources import present_tables

    if "load_info" not in present_tables(con):
        return None
    info = dict(con.execute("select key, value from load_info").fetchall())
    if not info.get("loaded_at"):
        return None
    # the time (to the second), the sources, the seconds it took and the file itself (a load
    # writes a new file; a restored backup is the old file again): two loads never share all
    parts = [str(info.get(k) or "") for k in ("loaded_at", "sources", "load_seconds")]
    path = con.execute("select path from duckdb_databases() where database_name = 'crm'").fetchall()
    if path and path[0][0]:
        try:
            parts.append(str(os.stat(path[0][0]).st_ino))
        except OSError:
            pass
    return LoadIdentity(" | ".join(parts), info.get("loaded_at"))


@dataclass(frozen=True)
class PortfolioSnapshot:
    """One snapshot of the portfolio: its id, the load it was taken of, when, the as-of date of
    its figures, who took it (``cli`` after a load, ``app`` on the first page of a new load) and
    how many accounts it holds; when it was just taken, ``seconds`` it took to write and how many
    old snapshots were ``pruned`` (``history_snapshots_kept``)."""

    snapshot_id: int
    load_id: str
    loaded_at: str | None
    taken_at: str
    as_of: dt.date
    source: str
    accounts_count: int
    seconds: float | None = None
    pruned: int = 0

    @property
    def label(self) -> str:
        when = (self.loaded_at or self.taken_at)[:16].replace("T", " ")
        return f"load of {when} (as of {self.as_of.isoformat()})"


def has_portfolio_snapshot(store_path: Path | str, load_id: str) -> bool:
    """Whether the load ``load_id`` has its snapshot (a read; never creates the store)."""
    path = Path(store_path)
    if not path.is_file():
        return False
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        try:
            row = con.execute("select 1 from portfolio_snapshots where load_id = ?", (load_id,)).fetchone()
        except sqlite3.OperationalError:  # a store of version 1: no snapshot yet
            return False
    finally:
        con.close()
    return row is not None


def take_portfolio_snapshot(store_path: Path | str, identity: LoadIdentity, as_of: dt.date, figures: pd.DataFrame,
                            *, source: str, keep: int) -> PortfolioSnapshot | None:
    """Keep every account's figures (``figures_frame``) as the snapshot of the load ``identity``,
    and delete the oldest beyond ``keep``. None when that load has its snapshot already (another
    process took it: the check and the write are one transaction) or ``keep`` is 0."""
    if keep <= 0:
        return None
    started = time.perf_counter()
    rows = _portfolio_rows(figures)
    with open_store(store_path) as sq, write_transaction(sq):
        if sq.execute("select 1 from portfolio_snapshots where load_id = ?", (identity.load_id,)).fetchone():
            return None
        taken_at = now_utc()
        cur = sq.execute(
            "insert into portfolio_snapshots (load_id, loaded_at, taken_at, as_of, source, accounts_count) "
            "values (?, ?, ?, ?, ?, ?)",
            (identity.load_id, identity.loaded_at, taken_at, as_of.isoformat(), source, len(rows)))
        snapshot_id = int(cur.lastrowid)
        marks = ", ".join("?" for _ in range(len(PORTFOLIO_COLUMNS) + 2))
        sq.executemany(f"insert into portfolio_snapshot_rows (snapshot_id, account_id, {', '.join(PORTFOLIO_COLUMNS)}) "
                       f"values ({marks})", ((snapshot_id, *row) for row in rows))
        old = [r[0] for r in sq.execute(
            "select snapshot_id from portfolio_snapshots order by snapshot_id desc limit -1 offset ?", (keep,))]
        for old_id in old:
            sq.execute("delete from portfolio_snapshot_rows where snapshot_id = ?", (old_id,))
            sq.execute("delete from portfolio_snapshots where snapshot_id = ?", (old_id,))
    return PortfolioSnapshot(snapshot_id, identity.load_id, identity.loaded_at, taken_at, as_of, source, len(rows),
                             time.perf_counter() - started, len(old))


def _portfolio_rows(figures: pd.DataFrame) -> list[tuple[Any, ...]]:
    columns = ["account_id", *PORTFOLIO_COLUMNS]
    frame = figures[columns]
    out = []
    for row in frame.itertuples(index=False, name=None):
        values = []
        for name, value in zip(columns, row, strict=True):
            value = plain(value)
            if name == "status" and value == "no data":
                value = None
            if isinstance(value, float):
                value = round(value, 6)  # every figure is compared at 6 decimals (spec §3.1)
            values.append(value)
        out.append(tuple(values))
    return out


def portfolio_snapshots(store_path: Path | str) -> list[PortfolioSnapshot]:
    """The portfolio's snapshots, newest first ([] without a store)."""
    with read_store(store_path) as sq:
        if sq is None:
            return []
        rows = sq.execute("select snapshot_id, load_id, loaded_at, taken_at, as_of, source, accounts_count "
                          "from portfolio_snapshots order by snapshot_id desc").fetchall()
    return [PortfolioSnapshot(r[0], r[1], r[2], r[3], dt.date.fromisoformat(r[4]), r[5], r[6]) for r in rows]


def previous_snapshot(store_path: Path | str, load_id: str | None) -> PortfolioSnapshot | None:
    """The newest snapshot of another load than ``load_id`` (the one before the data in force)."""
    return next((s for s in portfolio_snapshots(store_path) if s.load_id != load_id), None)


def snapshot_rows(store_path: Path | str, snapshot_id: int) -> pd.DataFrame:
    """Every account's figures of one portfolio snapshot (``account_id`` and ``PORTFOLIO_COLUMNS``)."""
    columns = ["account_id", *PORTFOLIO_COLUMNS]
    with read_store(store_path) as sq:
        rows = [] if sq is None else sq.execute(
            f"select {', '.join(columns)} from portfolio_snapshot_rows where snapshot_id = ? order by account_id",
            (int(snapshot_id),)).fetchall()
    return _typed(pd.DataFrame(rows, columns=columns))


def account_history(store_path: Path | str, account_id: str) -> pd.DataFrame:
    """One account's figures in every portfolio snapshot, oldest first: ``snapshot_id``,
    ``taken_at``, ``loaded_at``, ``as_of`` and ``PORTFOLIO_COLUMNS``."""
    columns = ["snapshot_id", "taken_at", "loaded_at", "as_of", *PORTFOLIO_COLUMNS]
    with read_store(store_path) as sq:
        rows = [] if sq is None else sq.execute(
            f"select s.snapshot_id, s.taken_at, s.loaded_at, s.as_of, "
            f"{', '.join('r.' + c for c in PORTFOLIO_COLUMNS)} from portfolio_snapshot_rows as r "
            "join portfolio_snapshots as s on s.snapshot_id = r.snapshot_id where r.account_id = ? "
            "order by s.snapshot_id", (account_id,)).fetchall()
    frame = _typed(pd.DataFrame(rows, columns=columns))
    frame["as_of"] = pd.to_datetime(frame["as_of"]).astype("datetime64[us]")
    frame["taken_at"] = pd.to_datetime(frame["taken_at"], utc=True).dt.tz_localize(None).astype("datetime64[us]")
    return frame


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    for column in frame.columns:
        if column in _TEXT_COLUMNS or column in ("account_id", "load_id", "loaded_at", "taken_at", "as_of"):
            frame[column] = frame[column].astype("str" if column == "account_id" else "object")
        elif column in _INT_COLUMNS:
            frame[column] = frame[column].astype("Int64")
        elif column != "snapshot_id":
            frame[column] = frame[column].astype("float64")
    return frame


def snapshot_after_load(db_path: Path | str, settings: Settings | None = None, store_path: Path | str | None = None,
                        *, source: str = "cli") -> PortfolioSnapshot | None:
    """The snapshot of the load now in ``db_path`` (the CLI calls it after a load): the figures
    of every account, computed with the team's edits laid over the export, as the app shows them.
    None when the load has its snapshot already, the database has no load identity, or the
    history is switched off (``history_snapshots_kept = 0``)."""
    from kam_core.asof import resolve_as_of
    from kam_core.dataset import open_dataset
    from kam_core.workbench.overlay import overlay_for
    from kam_core.workbench.store import store_path_for

    settings = settings or Settings()
    if settings.history_snapshots_kept <= 0:
        return None
    store = Path(store_path) if store_path is not None else store_path_for(db_path, settings)
    con = open_dataset(db_path, overlay_for(store))
    try:
        identity = load_identity(con)
        if identity is None or has_portfolio_snapshot(store, identity.load_id):
            return None
        as_of = resolve_as_of(con, settings)
        figures = current_figures(con, settings, as_of)
    finally:
        con.close()
    return take_portfolio_snapshot(store, identity, as_of, figures, source=source,
                                   keep=settings.history_snapshots_kept)


# ---------------------------------------------------------------- two portfolio states compared

TIER_MIGRATION_SQL = """
with

pairs as (
    select
        coalesce(t.account_id, n.account_id) as account_id,
        case when t.account_id is null then 'new account' else coalesce(t.tier, 'no tier') end as tier_from,
        case when n.account_id is null then 'no longer in the data' else coalesce(n.tier, 'no tier') end
            as tier_to,
        t.ttm_revenue as revenue_then,
        n.ttm_revenue as revenue_now,
    from then_rows as t
    full outer join now_rows as n
        on n.account_id = t.account_id
),

final as (
    select
        tier_from,
        tier_to,
        count(*) as accounts_count,
        sum(revenue_then) as ttm_revenue_then,
        sum(revenue_now) as ttm_revenue_now,
    from pairs
    group by tier_from, tier_to
)

select * from final
"""

STATUS_CHANGES_SQL = """
with

pairs as (
    select
        n.account_id,
        t.status as status_then,
        n.status as status_now,
        t.health as health_then,
        n.health as health_now,
        t.tier as tier_then,
        n.tier as tier_now,
        case t.status when 'green' then 0 when 'amber' then 1 when 'red' then 2 end as severity_then,
        case n.status when 'green' then 0 when 'amber' then 1 when 'red' then 2 end as severity_now,
    from now_rows as n
    join then_rows as t
        on t.account_id = n.account_id
),

final as (
    select
        account_id,
        status_then,
        status_now,
        health_then,
        health_now,
        health_now - health_then as health_change,
        tier_then,
        tier_now,
        coalesce(severity_now > severity_then, false) as is_worse,
        coalesce(severity_now < severity_then, false) as is_better,
    from pairs
)

select * from final
order by
    is_worse desc,
    case status_now when 'red' then 0 when 'amber' then 1 when 'green' then 2 else 3 end,
    health_change nulls last,
    account_id
"""

MATRIX_MOVES_SQL = """
select
    n.account_id,
    t.strength as strength_then,
    t.attractiveness as attractiveness_then,
    n.strength as strength_now,
    n.attractiveness as attractiveness_now,
    t.tier as tier_then,
    n.tier as tier_now,
    t.quadrant as quadrant_then,
    n.quadrant as quadrant_now,
    sqrt(pow(n.strength - t.strength, 2) + pow(n.attractiveness - t.attractiveness, 2)) as distance,
from now_rows as n
join then_rows as t
    on t.account_id = n.account_id
where n.strength is not null
    and n.attractiveness is not null
    and t.strength is not null
    and t.attractiveness is not null
order by distance desc, n.account_id
"""


def _compare(sql: str, then: pd.DataFrame, now: pd.DataFrame,
             con: duckdb.DuckDBPyConnection | None = None) -> pd.DataFrame:
    """Run one comparison over two frames of figures (``account_id`` and figure columns), on a
    cursor of ``con`` (a page's dataset connection: no DuckDB started for it) or of the scratch
    database."""
    columns = ["account_id", *PORTFOLIO_COLUMNS]

    def conformed(frame: pd.DataFrame) -> pd.DataFrame:
        # (made at once: a column added at a time took 13 ms a frame)
        data = {c: frame[c] if c in frame.columns else np.full(len(frame), None, dtype=object) for c in columns}
        if "status" in frame.columns:
            data["status"] = frame["status"].astype("object").where(frame["status"] != "no data", None)
        return pd.DataFrame(data, index=frame.index)

    with closing(con.cursor()) if con is not None else scratch() as cur:
        cur.register("then_rows", conformed(then))
        cur.register("now_rows", conformed(now))
        return fetch_frame(cur, sql)


def tier_migration(then: pd.DataFrame, now: pd.DataFrame, tier_names: Sequence[str],
                   con: duckdb.DuckDBPyConnection | None = None) -> pd.DataFrame:
    """Accounts per (tier then → tier now), with their revenue of the last 12 months then and
    now; ``tier_from`` is "new account" for accounts not in the earlier state, ``tier_to`` "no
    longer in the data" for accounts gone. Ordered by the tiers' rank (best first). ``con``: as
    for ``status_changes``."""
    frame = _compare(TIER_MIGRATION_SQL, then, now, con)
    order = {name: i for i, name in enumerate([*tier_names, "no tier", "new account", "no longer in the data"])}
    frame = frame.assign(_from=frame["tier_from"].map(order).fillna(len(order)),
                         _to=frame["tier_to"].map(order).fillna(len(order)))
    frame = frame.sort_values(["_from", "_to"]).drop(columns=["_from", "_to"]).reset_index(drop=True)
    frame["accounts_count"] = frame["accounts_count"].astype("int64")
    return frame


def status_changes(then: pd.DataFrame, now: pd.DataFrame, con: duckdb.DuckDBPyConnection | None = None
                   ) -> pd.DataFrame:
    """Per account in both states: status and health then and now, tier then and now, and
    whether the status got worse (green → amber → red) or better; the worse first. ``con``:
    a connection to compare on (``_compare``)."""
    return _compare(STATUS_CHANGES_SQL, then, now, con)


def matrix_moves(then: pd.DataFrame, now: pd.DataFrame, con: duckdb.DuckDBPyConnection | None = None
                 ) -> pd.DataFrame:
    """Per account scored in both states: strength and attractiveness then and now and the
    distance moved in the matrix (points), the largest move first. ``con``: as for
    ``status_changes``."""
    return _compare(MATRIX_MOVES_SQL, then, now, con)
