"""The workbench store: an embedded SQLite database beside the CRM database.

Why SQLite (stdlib ``sqlite3``): the app and the CLI write it from several processes at
once, and a load never rebuilds it. WAL mode with ``synchronous=FULL`` makes every
committed save durable, and a process killed mid-save loses that save only; each save is
one ``BEGIN IMMEDIATE`` transaction, so writers queue (``busy_timeout``) instead of failing.

Tables (version 1):

- ``batches``: one row per save — who (``actor``), when (UTC), what kind (edit, create,
  delete, import, undo), and for an undo the batch it undoes. Never updated.
- ``changes``: one row per changed cell — table, record key (JSON), account, column, the
  value before and after and whether the team had set it (``old_set``/``new_set``: unset
  means the export's value applies). Never updated: the history.
- ``cells``: the team's current values, one row per (table, key, column); kept in the same
  transaction as ``changes`` so reads need no replay. Pseudo-columns ``_created`` and
  ``_deleted`` mark records the team created or deleted.
- ``records``: per touched record its account, a version (saves so far) and the last batch,
  for optimistic concurrency ("changed by X at T").

Version 2 adds the snapshots of the mentor's review (``review_snapshots``: an account's figures,
relationship map and plan at each review) and the portfolio's history (``portfolio_snapshots`` and
``portfolio_snapshot_rows``: every account's figures at each load); ``kam_core.workbench.snapshots``
reads and writes them.

Migrations run by ``PRAGMA user_version``: ``MIGRATIONS[i]`` takes a store of version ``i``
to ``i + 1``, in one transaction. A later feature (reviews, snapshots) appends its own step.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "kam.workbench.sqlite"
>>> with open_store(path) as con:
...     con.execute("pragma user_version").fetchone()[0] == len(MIGRATIONS)
True
>>> store_version(path)[1]
0
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from kam_core.settings import Settings
from kam_core.workbench.errors import StoreError

BUSY_TIMEOUT_S = 30.0

V1 = (
    """create table batches (
        batch_id integer primary key,
        actor text not null,
        changed_at text not null,
        action text not null,
        source text,
        undoes integer references batches (batch_id)
    )""",
    """create table changes (
        change_id integer primary key,
        batch_id integer not null references batches (batch_id),
        table_name text not null,
        record_key text not null,
        account_id text,
        column_name text not null,
        old_set integer not null,
        old_value,
        new_set integer not null,
        new_value
    )""",
    "create index changes_by_batch on changes (batch_id)",
    "create index changes_by_record on changes (table_name, record_key)",
    "create index changes_by_account on changes (account_id)",
    """create table cells (
        table_name text not null,
        record_key text not null,
        column_name text not null,
        value,
        primary key (table_name, record_key, column_name)
    ) without rowid""",
    """create table records (
        table_name text not null,
        record_key text not null,
        account_id text,
        version integer not null,
        last_batch integer not null references batches (batch_id),
        primary key (table_name, record_key)
    ) without rowid""",
)

# Version 2 (the mentor's review, issue 14; docs/reviews.md): the account's figures and
# relationship map at each review, and every account's figures at each load (the portfolio's
# history). Snapshots are written once and never edited; they are not part of the history of
# changes (no batch), so taking one does not change ``store_version``.
V2 = (
    """create table review_snapshots (
        account_id text not null,
        review_date text not null,
        taken_at text not null,
        actor text not null,
        as_of text not null,
        batch_id integer references batches (batch_id),
        figures text not null,
        contacts text not null,
        relationships text not null,
        actions text not null,
        primary key (account_id, review_date)
    ) without rowid""",
    """create table portfolio_snapshots (
        snapshot_id integer primary key,
        load_id text not null unique,
        loaded_at text,
        taken_at text not null,
        as_of text not null,
        source text not null,
        accounts_count integer not null
    )""",
    """create table portfolio_snapshot_rows (
        snapshot_id integer not null references portfolio_snapshots (snapshot_id) on delete cascade,
        account_id text not null,
        health real,
        coverage_score real,
        growth_score real,
        margin_score real,
        plan_score real,
        activity_score real,
        status text,
        coverage real,
        threads integer,
        key_person_dependency real,
        ttm_revenue real,
        revenue_growth real,
        gross_margin_pct real,
        share_of_wallet real,
        open_pipeline real,
        attractiveness real,
        strength real,
        tier text,
        quadrant text,
        primary key (snapshot_id, account_id)
    ) without rowid""",
    "create index portfolio_rows_by_account on portfolio_snapshot_rows (account_id, snapshot_id)",
)

MIGRATIONS: list[tuple[str, ...]] = [V1, V2]


def store_path_for(db_path: Path | str, settings: Settings | None = None) -> Path:
    """Where the store of the CRM database ``db_path`` lives: the setting ``workbench_path``
    (relative to the database's folder), or beside the database (``kam.duckdb`` →
    ``kam.workbench.sqlite``).

    >>> store_path_for("data/kam.duckdb").as_posix()
    'data/kam.workbench.sqlite'
    >>> store_path_for("data/kam.duckdb", Settings({"workbench_path": "team/edits.sqlite"})).as_posix()
    'data/team/edits.sqlite'
    """
    db_path = Path(db_path)
    configured = (settings.workbench_path if settings is not None else "") or ""
    if configured:
        return db_path.parent / Path(configured).expanduser()
    return db_path.with_name(f"{db_path.stem}.workbench.sqlite")


def _connect(path: Path) -> sqlite3.Connection:
    try:
        con = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None,
                              check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreError(f"workbench store {path} cannot be opened ({exc})") from None
    try:
        con.execute("pragma journal_mode = wal")
        con.execute("pragma synchronous = full")
        con.execute("pragma foreign_keys = on")
    except sqlite3.DatabaseError as exc:
        con.close()
        raise StoreError(f"workbench store {path} is not a workbench store ({exc}); "
                         "move it away or set workbench_path to another file") from None
    return con


def migrate(con: sqlite3.Connection, target: int | None = None) -> int:
    """Bring the store to ``target`` (default: the newest version); returns the version."""
    target = len(MIGRATIONS) if target is None else target
    version = con.execute("pragma user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise StoreError(f"the workbench store is of version {version}, written by a newer version "
                         f"of this app (this one knows versions up to {len(MIGRATIONS)}); update the app")
    while version < target:
        con.execute("begin immediate")
        try:
            # another process may have migrated while we waited for the lock
            version = con.execute("pragma user_version").fetchone()[0]
            if version < target:
                for statement in MIGRATIONS[version]:
                    con.execute(statement)
                version += 1
                con.execute(f"pragma user_version = {version}")
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    return version


@contextlib.contextmanager
def open_store(path: Path | str) -> Iterator[sqlite3.Connection]:
    """The store at ``path`` (created and migrated as needed), closed on exit."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = _connect(path)
    try:
        try:
            migrate(con)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"workbench store {path} is not a workbench store ({exc})") from None
        yield con
    finally:
        con.close()


@contextlib.contextmanager
def read_store(path: Path | str) -> Iterator[sqlite3.Connection | None]:
    """The store for reading, or ``None`` when there is none yet (a read never creates it).

    The caller reads inside one transaction (``begin`` … ``commit``) for a consistent view.
    """
    path = Path(path)
    if not path.is_file():
        yield None
        return
    with open_store(path) as con:
        yield con


@contextlib.contextmanager
def write_transaction(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One save: ``BEGIN IMMEDIATE`` (waits for other writers), commit, or roll back on error."""
    con.execute("begin immediate")
    try:
        yield con
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


def store_version(path: Path | str) -> tuple[int, int]:
    """A cheap version of the store for cache keys: (file identity, last save's number).

    Every save (undo included) adds a batch with a higher number, so the pair changes with
    every committed change; (0, 0) when there is no store. About a tenth of a millisecond.
    """
    path = Path(path)
    try:
        inode = os.stat(path).st_ino
    except FileNotFoundError:
        return (0, 0)
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
    try:
        try:
            row = con.execute("select coalesce(max(batch_id), 0) from batches").fetchone()
        except sqlite3.OperationalError:  # a store not migrated yet: nothing saved
            return (inode, 0)
    finally:
        con.close()
    return (inode, int(row[0]))


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def show_time(stamp: str | None) -> str:
    """A store time stamp as a person reads it: ``2025-06-30 14:02 UTC``."""
    if not stamp:
        return "an unknown time"
    return dt.datetime.fromisoformat(stamp).strftime("%Y-%m-%d %H:%M UTC")
