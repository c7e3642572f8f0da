"""Edits of the team's records: validated, appended to the history, undoable.

``Workbench(db_path)`` is the one object the editors, the Excel round trip and the CLI use.
Every write takes the acting user (``actor``: a team member id, or the signed-in identity)
and plain values, runs in one ``BEGIN IMMEDIATE`` transaction of the store, and returns
what changed (``Saved``) or raises a ``WorkbenchError`` whose message the page shows as is:

- ``ValidationError``: a value breaks the schema's rules (the loader's checks and words);
- ``ConflictError``: the record changed since the user saw it ("changed by X at T");
- ``PermissionDenied``: the ``authorize`` hook (sign-in and roles) refused the write.

Reads: ``record`` (one record with its version, for an editor), ``records`` (a table's
effective rows with version and origin), ``history``, ``orphans`` and ``dataset`` (the
overlaid connection itself).
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from kam_core.dataset import CRM_CATALOG, crm_tables, open_dataset
from kam_core.ingest.schema import TABLES, loaded_tables, reference_noun
from kam_core.settings import Settings
from kam_core.sqlutil import fetch_frame, quote_ident
from kam_core.workbench import checks
from kam_core.workbench.errors import ConflictError, Problem, ValidationError, WorkbenchError
from kam_core.workbench.overlay import SCHEMA, apply_overlay, read_values
from kam_core.workbench.store import (
    now_utc,
    open_store,
    read_store,
    show_time,
    store_path_for,
    store_version,
    write_transaction,
)
from kam_core.workbench.tables import (
    CREATED,
    DELETED,
    EDITABLE,
    Editable,
    Key,
    decode_key,
    editable,
    encode_key,
    from_store,
    normalise_key,
    plain,
    show_key,
    to_store,
    to_text,
)

# ---------------------------------------------------------------- what goes in and out


@dataclass(frozen=True)
class Update:
    """Change some columns of an existing record. ``seen``: the record's ``version`` as the
    user saw it, or the values the user saw (column → value); None skips the check."""

    table: str
    key: Any
    values: Mapping[str, Any]
    seen: int | Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Create:
    """A record the CRM does not know. Contacts and plan actions get a generated id (leave
    ``contact_id`` / ``action_id`` out); the other tables need their key columns."""

    table: str
    values: Mapping[str, Any]


@dataclass(frozen=True)
class Delete:
    """Remove a record from the effective data (a contact takes its relationships along)."""

    table: str
    key: Any
    seen: int | Mapping[str, Any] | None = None


Operation = Update | Create | Delete


@dataclass(frozen=True)
class Change:
    """One changed cell. ``column`` is ``record`` for a record created, deleted or restored
    (``new`` is then ``created``, ``deleted`` or ``restored``)."""

    table: str
    key: Key
    column: str
    old: Any
    new: Any
    account_id: str | None


@dataclass(frozen=True)
class Saved:
    """What one save did: its number in the history, who, when, and every changed cell.
    ``keys`` lists the key of each record the operations addressed, in order (a created
    record's generated id included). A save that changed nothing has ``batch_id`` None."""

    batch_id: int | None
    actor: str
    changed_at: str | None
    action: str
    changes: list[Change]
    keys: list[Key] = field(default_factory=list)


@dataclass(frozen=True)
class Record:
    """One effective record for an editor: its values (export overlaid with the team's), the
    version to send back as ``seen``, who changed it last, and which columns the team set."""

    table: str
    key: Key
    values: dict[str, Any]
    version: int
    origin: str  # export, edited (export with team values) or team (created by the team)
    team_columns: tuple[str, ...]
    changed_by: str | None
    changed_at: str | None


@dataclass(frozen=True)
class WriteRequest:
    """What an ``authorize`` hook is asked before a record is written (sign-in and roles)."""

    actor: str
    action: str  # update, create, delete, undo
    table: str
    key: Key
    account_ids: tuple[str, ...]  # the account(s) the record belongs to, before and after


Authorize = Callable[[WriteRequest], None]

ACTIONS = ("edit", "create", "delete", "import", "undo")


# ---------------------------------------------------------------- the workbench


class Workbench:
    """The team's records of one CRM database.

    >>> import tempfile, pathlib
    >>> from kam_core.ingest.loader import load
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "accounts.csv").write_text("account_id,name\\nA-1,Alpha\\n")
    >>> _ = (folder / "contacts.csv").write_text("contact_id,account_id,name\\nC-1,A-1,Ada\\n")
    >>> _ = load([folder], folder / "kam.duckdb")
    >>> wb = Workbench(folder / "kam.duckdb")
    >>> saved = wb.update("T-01", "contacts", "C-1", {"piece": "King", "attitude": "opponent"}, seen=0)
    >>> [(c.column, c.old, c.new) for c in saved.changes]
    [('piece', 'pawn', 'king'), ('attitude', 'neutral', 'opponent')]
    >>> wb.update("T-02", "contacts", "C-1", {"attitude": "ally"})
    Traceback (most recent call last):
    ...
    kam_core.workbench.errors.ValidationError: contacts C-1: attitude 'ally' is not one of: champion, supporter, neutral, skeptic, opponent
    >>> wb.record("contacts", "C-1").values["attitude"], wb.record("contacts", "C-1").version
    ('opponent', 1)
    """

    def __init__(self, db_path: Path | str, store_path: Path | str | None = None, *,
                 settings: Settings | None = None, authorize: Authorize | None = None) -> None:
        self.db_path = Path(db_path)
        self.settings = settings or Settings()
        self.store_path = Path(store_path) if store_path is not None else store_path_for(db_path, self.settings)
        self.authorize = authorize
        self._state = _State()

    def with_authorize(self, authorize: Authorize | None) -> Workbench:
        """The same workbench — store, connection, caches and lock shared — whose writes ask
        ``authorize``: the app keeps one workbench per database and binds each user's check
        to it for their writes (``kam_core.workbench.roles.authorize_for``)."""
        bound = copy.copy(self)
        bound.authorize = authorize
        return bound

    @property
    def _lock(self) -> threading.RLock:
        return self._state.lock

    # ------------------------------------------------------------ connections

    def _crm_identity(self) -> tuple[int, int]:
        try:
            st = os.stat(self.db_path)
        except FileNotFoundError:
            raise WorkbenchError(f"database {self.db_path} does not exist; load a CRM export first "
                                 "(python -m kam_core load)") from None
        return (st.st_mtime_ns, st.st_ino)

    def _crm(self) -> duckdb.DuckDBPyConnection:
        """The connection with the CRM file attached (reopened when a load replaced it) and the
        loader's macros; the overlay is laid on by ``dataset``. Call with the lock held."""
        key = self._crm_identity()
        if self._state.con is None or key != self._state.crm_key:
            # the old connection is not closed: a cursor handed out by ``dataset`` may still read it
            self._state.con = open_dataset(self.db_path, lock=False)
            checks.prepare(self._state.con, self.settings)
            self._state.crm_key, self._state.store_key, self._state.ids = key, None, {}
            self._state.columns = {}
        return self._state.con

    def dataset(self) -> duckdb.DuckDBPyConnection:
        """A cursor on the overlaid dataset (export + the team's current values), for reads.

        It is unlocked (it also runs the checks); the app's readers use
        ``open_dataset(db_path, overlay_for(store_path))`` instead.
        """
        with self._lock:
            con = self._crm()
            version = store_version(self.store_path)
            if version != self._state.store_key:
                with read_store(self.store_path) as sq:
                    if sq is not None:
                        sq.execute("begin")
                        try:
                            apply_overlay(con, read_values(sq))
                        finally:
                            sq.execute("commit")
                self._state.store_key = version
            return con.cursor()

    # ------------------------------------------------------------ reads

    def record(self, table: str, key: Any) -> Record | None:
        """The effective record (None when it does not exist or was deleted)."""
        spec = editable(table)
        key = normalise_key(spec, key)
        with self._lock, read_store(self.store_path) as sq:
            txn = _Txn(self, sq, actor="", batch_id=None)
            current, st = txn.effective(spec, key)
            if current is None:
                return None
            origin = "team" if st.cells.get(CREATED) else "edited" if _value_cells(st) else "export"
            return Record(table, key, current, st.version, origin, tuple(_value_cells(st)),
                          st.changed_by, st.changed_at)

    def records(self, table: str, account_id: str | None = None) -> pd.DataFrame:
        """A table's effective rows (of one account, if given) with ``_version`` (send it back
        as ``seen``), ``_origin`` (export, edited, team), ``_changed_by``, ``_changed_at``."""
        spec = editable(table)
        cur = self.dataset()
        present = loaded_tables(cur)
        if table not in present:
            columns = [c.name for c in spec.columns] + ["_version", "_origin", "_changed_by", "_changed_at"]
            return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
        name = quote_ident(table)
        touched = _has_workbench_table(cur, table)
        if touched:
            flags = " or ".join(f"w.{quote_ident('set_' + c.name)}" for c in spec.value_columns)
            match = " and ".join(
                f"v.{quote_ident(k)} {'=' if spec.table.column(k).required else 'is not distinct from'} "
                f"w.{quote_ident(k)}" for k in spec.key)
            meta = (f"coalesce(w._version, 0) as _version, case when w._created then 'team' when {flags} "
                    f"then 'edited' else 'export' end as _origin, w._changed_by, w._changed_at")
            source = f"main.{name} as v left join {SCHEMA}.{name} as w on {match}"
        else:
            meta = "0 as _version, 'export' as _origin, null::varchar as _changed_by, null::varchar as _changed_at"
            source = f"main.{name} as v"
        where, params = "", {}
        if account_id is not None:
            params["account"] = account_id
            if "account_id" in spec.table.column_names:
                where = "where v.account_id = $account"
            elif table == "relationships" and "contacts" in present:
                where = "where v.contact_id in (select contact_id from main.contacts where account_id = $account)"
        order = ", ".join(f"v.{quote_ident(k)} nulls first" for k in spec.key)
        return fetch_frame(cur, f"select v.*, {meta} from {source} {where} order by {order}", params)

    def history(self, account_id: str | None = None, *, table: str | None = None, key: Any = None,
                limit: int | None = None) -> pd.DataFrame:
        """The changes, newest first: when, who, what (table, record, column, old → new).

        ``account_id`` selects one account's changes (its contacts, their relationships, its
        plan, potential, competitors, scores and reviews); ``undone`` marks changes an undo
        took back.
        """
        where, params = [], []
        if account_id is not None:
            where.append("c.account_id = ?")
            params.append(account_id)
        if table is not None:
            spec = editable(table)
            where.append("c.table_name = ?")
            params.append(table)
            if key is not None:
                where.append("c.record_key = ?")
                params.append(encode_key(spec, normalise_key(spec, key)))
        sql = f"""
            select b.batch_id, b.changed_at, b.actor, b.action, b.source, b.undoes,
                   c.table_name, c.record_key, c.account_id, c.column_name,
                   c.old_set, c.old_value, c.new_set, c.new_value,
                   exists (select 1 from batches u where u.undoes = b.batch_id) as undone
            from changes as c join batches as b on b.batch_id = c.batch_id
            {'where ' + ' and '.join(where) if where else ''}
            order by c.change_id desc {'limit ?' if limit else ''}"""
        if limit:
            params.append(int(limit))
        rows = []
        with read_store(self.store_path) as sq:
            fetched = sq.execute(sql, params).fetchall() if sq is not None else []
        for (batch_id, at, actor, action, source, undoes, tname, key_text, account, column,
             old_set, old_value, new_set, new_value, undone) in fetched:
            spec = EDITABLE.get(tname)
            if spec is None:
                continue
            shown_col, old, new = _display_change(spec, column, old_set, old_value, new_set, new_value)
            rows.append({
                "changed_at": dt.datetime.fromisoformat(at).replace(tzinfo=None),
                "actor": actor, "action": action, "table": tname,
                "record": show_key(spec, decode_key(spec, key_text)), "account_id": account,
                "column": shown_col, "old_value": old, "new_value": new,
                "batch_id": batch_id, "undoes": undoes, "undone": bool(undone), "source": source,
            })
        columns = ["changed_at", "actor", "action", "table", "record", "account_id", "column", "old_value",
                   "new_value", "batch_id", "undoes", "undone", "source"]
        frame = pd.DataFrame(rows, columns=columns)
        if frame.empty:
            frame["changed_at"] = pd.Series(dtype="datetime64[us]")
        return frame

    def team_members(self) -> pd.DataFrame:
        """The active team members (``member_id``, ``name``), for choosing who edits when there
        is no sign-in; empty without a team table."""
        cur = self.dataset()
        if "team" not in loaded_tables(cur):
            return pd.DataFrame({"member_id": pd.Series(dtype="str"), "name": pd.Series(dtype="str")})
        return fetch_frame(cur, "select member_id, name from team where is_active is not false order by name, member_id")

    def last_undoable(self, actor: str) -> int | None:
        """The save ``undo(actor)`` would take back (the actor's latest one not undone)."""
        with read_store(self.store_path) as sq:
            if sq is None:
                return None
            return _last_undoable(sq, actor)

    def orphans(self) -> pd.DataFrame:
        """The team's records that no longer fit the export: notes about accounts, contacts,
        team members or criteria that a later export no longer has. Never dropped: they stay
        in the store (and come back if the export has them again); the Data page lists them."""
        cur = self.dataset()
        out = []
        present = loaded_tables(cur)
        in_crm = set(crm_tables(cur))
        for name, spec in EDITABLE.items():
            if not _has_workbench_table(cur, name):
                continue
            q = quote_ident(name)
            wb = f"{SCHEMA}.{q}"
            keys = ", ".join(f"w.{quote_ident(k)}" for k in spec.key)
            flags = " or ".join(f"w.{quote_ident('set_' + c.name)}" for c in spec.value_columns)
            live = "w._deleted is not true"
            queries = []
            if name in in_crm:
                match = " and ".join(
                    f"w.{quote_ident(k)} {'=' if spec.table.column(k).required else 'is not distinct from'} "
                    f"e.{quote_ident(k)}" for k in spec.key)
                gone = f"not exists (select 1 from {CRM_CATALOG}.main.{q} as e where {match})"
            else:
                gone = "true"
            queries.append((f"select {keys}, w._changed_by, w._changed_at, null as value from {wb} as w "
                            f"where {live} and not w._created and ({flags}) and {gone}",
                            f"this {spec.noun} is no longer in the export"))
            for col in spec.value_columns + [spec.table.column(k) for k in spec.key]:
                if not col.ref:
                    continue
                ref_table, ref_col = col.ref.split(".")
                if ref_table not in present:
                    continue
                c = quote_ident(col.name)
                own = "w._created" if col.name in spec.key else f"(w._created or w.{quote_ident('set_' + col.name)})"
                queries.append((
                    f"select {keys}, w._changed_by, w._changed_at, w.{c}::varchar as value from {wb} as w "
                    f"where {live} and {own} and w.{c} is not null and not exists "
                    f"(select 1 from main.{quote_ident(ref_table)} as r where r.{quote_ident(ref_col)} = w.{c})",
                    f"its {reference_noun(ref_table)} {{value}} is no longer in the "
                    + ("export or was deleted" if ref_table in EDITABLE else "export")))
            for sql, reason in queries:
                for row in cur.execute(sql).fetchall():
                    key = tuple(row[:len(spec.key)])
                    changed_by, changed_at, value = row[len(spec.key):]
                    out.append({"table": name, "record": show_key(spec, key),
                                "reason": reason.replace("{value}", checks.show(value)),
                                "changed_by": changed_by, "changed_at": show_time(changed_at),
                                "key": key})
        frame = pd.DataFrame(out, columns=["table", "record", "reason", "changed_by", "changed_at", "key"])
        accounts = [self._account_of_key(t, k) for t, k in zip(frame["table"], frame["key"], strict=True)]
        frame.insert(2, "account_id", pd.Series(accounts, dtype="object"))
        return frame.drop(columns="key")

    def _account_of_key(self, table: str, key: Key) -> str | None:
        spec = EDITABLE[table]
        with read_store(self.store_path) as sq:
            row = sq.execute("select account_id from records where table_name = ? and record_key = ?",
                             (table, encode_key(spec, key))).fetchone()
        return row[0] if row else None

    # ------------------------------------------------------------ writes

    def update(self, actor: str, table: str, key: Any, values: Mapping[str, Any], *,
               seen: int | Mapping[str, Any] | None = None, source: str = "app") -> Saved:
        """Set columns of one record; returns the changed cells (none if nothing differs)."""
        return self.save(actor, [Update(table, key, values, seen)], source=source)

    def create(self, actor: str, table: str, values: Mapping[str, Any], *, source: str = "app") -> Saved:
        """Add a record the CRM does not know; ``Saved.keys[0]`` is its key (generated id)."""
        return self.save(actor, [Create(table, values)], source=source)

    def delete(self, actor: str, table: str, key: Any, *, seen: int | Mapping[str, Any] | None = None,
               source: str = "app") -> Saved:
        return self.save(actor, [Delete(table, key, seen)], source=source)

    def save(self, actor: str, operations: Sequence[Operation], *, source: str = "app",
             action: str | None = None) -> Saved:
        """Several operations as one save (one transaction, one entry to undo): all or none.

        Later operations see the earlier ones (a new contact, then a relationship to it).
        """
        actor = _actor(actor)
        if action is None:
            kinds = {type(op) for op in operations}
            action = {Update: "edit", Create: "create", Delete: "delete"}[kinds.pop()] if len(kinds) == 1 else "edit"
        if action not in ACTIONS:
            raise WorkbenchError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
        with self._lock, open_store(self.store_path) as sq:
            with _Saving(sq) as saving:
                batch_id, at = _new_batch(sq, actor, action, source)
                txn = _Txn(self, sq, actor, batch_id)
                keys = [txn.apply(op) for op in operations]
                if not txn.changes:
                    saving.discard()
                    return Saved(None, actor, None, action, [], keys)
            return Saved(batch_id, actor, at, action, txn.changes, keys)

    def undo(self, actor: str, batch_id: int | None = None) -> Saved:
        """Take back a save (default: the actor's latest one not yet undone), as a new save.

        Refused with "changed by X at T" when a cell it wrote was changed after it (and that
        change was not undone); changes to other columns of the same record do not matter.
        """
        actor = _actor(actor)
        with self._lock, open_store(self.store_path) as sq, write_transaction(sq):
            target = batch_id if batch_id is not None else _last_undoable(sq, actor)
            if target is None:
                raise WorkbenchError(f"nothing to undo: {actor} has no save that is not undone yet")
            row = sq.execute("select action, actor from batches where batch_id = ?", (target,)).fetchone()
            if row is None:
                raise WorkbenchError(f"there is no save number {target} in the history")
            if row[0] == "undo":
                raise WorkbenchError(f"save {target} is itself an undo; it cannot be undone")
            undone_by = sq.execute("select batch_id from batches where undoes = ?", (target,)).fetchone()
            if undone_by is not None:
                raise WorkbenchError(f"save {target} was already undone (by save {undone_by[0]})")
            changes = sq.execute(
                "select table_name, record_key, account_id, column_name, old_set, old_value, new_set, new_value "
                "from changes where batch_id = ? order by change_id desc", (target,)).fetchall()
            new_id, at = _new_batch(sq, actor, "undo", f"undo of save {target}", undoes=target)
            txn = _Txn(self, sq, actor, new_id)
            # every cell of the save must still hold what the save wrote: a later change by
            # anyone (not undone itself) would be overwritten silently otherwise
            checked: set[tuple[str, str, str]] = set()
            for tname, key_text, _account, column, _old_set, _old_value, new_set, new_value in changes:
                if (tname, key_text, column) in checked:
                    continue  # the save's last change of this cell is what it left there
                checked.add((tname, key_text, column))
                now = sq.execute("select value from cells where table_name = ? and record_key = ? and column_name = ?",
                                 (tname, key_text, column)).fetchone()
                if (now is not None) != bool(new_set) or (now is not None and now[0] != new_value):
                    spec = EDITABLE[tname]
                    who, when = sq.execute(
                        "select b.actor, b.changed_at from changes c join batches b on b.batch_id = c.batch_id "
                        "where c.table_name = ? and c.record_key = ? and c.column_name = ? and c.batch_id > ? "
                        "order by c.change_id desc limit 1", (tname, key_text, column, target)).fetchone()
                    raise ConflictError(
                        f"cannot undo save {target}: {tname} {show_key(spec, decode_key(spec, key_text))} was changed "
                        f"by {txn.who(who)} at {show_time(when)} after it", who, when)
            for tname, key_text in dict.fromkeys((c[0], c[1]) for c in changes):
                spec = EDITABLE[tname]
                accounts = {c[2] for c in changes if (c[0], c[1]) == (tname, key_text) and c[2]}
                txn.authorize("undo", spec, decode_key(spec, key_text), accounts)
            for tname, key_text, account, column, old_set, old_value, new_set, new_value in changes:
                spec = EDITABLE[tname]
                key = decode_key(spec, key_text)
                txn.write_cell(spec, key, account, column, bool(new_set), new_value, bool(old_set), old_value,
                               raw=True)
            return Saved(new_id, actor, at, "undo", txn.changes, [])


# ---------------------------------------------------------------- helpers


@dataclass
class _State:
    """What the workbench keeps between calls, shared by its ``with_authorize`` copies: the
    lock every write and read takes, the connection with the CRM file attached, which CRM
    file and store version it reflects, and the referenced ids of the export (cached)."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    con: duckdb.DuckDBPyConnection | None = None
    crm_key: tuple[int, int] | None = None
    store_key: tuple[int, int] | None = None
    ids: dict[tuple[str, str], set[Any]] = field(default_factory=dict)
    columns: dict[str, set[str]] = field(default_factory=dict)  # the export's columns per table


class _Saving:
    """``write_transaction`` with a way to roll back a save that changed nothing."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self.con = con
        self._discard = False

    def discard(self) -> None:
        self._discard = True

    def __enter__(self) -> _Saving:
        self.con.execute("begin immediate")
        return self

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: object) -> None:
        self.con.execute("rollback" if kind is not None or self._discard else "commit")


def _actor(actor: str) -> str:
    if not isinstance(actor, str) or not actor.strip():
        raise WorkbenchError("every change needs the acting user: choose a team member (or sign in)")
    return actor.strip()


def _new_batch(sq: sqlite3.Connection, actor: str, action: str, source: str | None,
               undoes: int | None = None) -> tuple[int, str]:
    at = now_utc()
    cur = sq.execute("insert into batches (actor, changed_at, action, source, undoes) values (?, ?, ?, ?, ?)",
                     (actor, at, action, source, undoes))
    return int(cur.lastrowid), at


def _last_undoable(sq: sqlite3.Connection, actor: str) -> int | None:
    row = sq.execute(
        """select batch_id from batches b
           where actor = ? and action <> 'undo'
             and not exists (select 1 from batches u where u.undoes = b.batch_id)
           order by batch_id desc limit 1""", (actor,)).fetchone()
    return row[0] if row else None


def _has_workbench_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(con.execute(
        "select count(*) from duckdb_tables() where database_name = current_database() "
        "and schema_name = ? and table_name = ?", [SCHEMA, table]).fetchone()[0])


def _value_cells(st: _Stored) -> list[str]:
    return [c for c in st.cells if c not in (CREATED, DELETED)]


def _display_change(spec: Editable, column: str, old_set: int, old_value: Any, new_set: int,
                    new_value: Any) -> tuple[str, str | None, str | None]:
    if column == CREATED:
        return "record", None if new_set else "created", "created" if new_set else "removed"
    if column == DELETED:
        return "record", "deleted" if old_set else None, "deleted" if new_set else "restored"
    try:
        col = spec.table.column(column)
    except KeyError:
        col = None
    return column, to_text(from_store(col, old_value)), to_text(from_store(col, new_value))


def _same(a: Any, b: Any) -> bool:
    a, b = plain(a), plain(b)
    if isinstance(a, str):
        a = a.strip() or None
    if isinstance(b, str):
        b = b.strip() or None
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)))
    return to_text(a) == to_text(b)


@dataclass
class _Stored:
    version: int = 0
    last_batch: int | None = None
    changed_by: str | None = None
    changed_at: str | None = None
    cells: dict[str, Any] = field(default_factory=dict)


class _Txn:
    """The state of one save (or one read): the store inside its transaction and the export."""

    def __init__(self, wb: Workbench, sq: sqlite3.Connection | None, actor: str, batch_id: int | None) -> None:
        self.wb = wb
        self.sq = sq
        self.actor = actor
        self.batch_id = batch_id
        self.con = wb._crm()
        self.crm = set(crm_tables(self.con))
        self.changes: list[Change] = []
        self._export: dict[tuple[str, Key], dict[str, Any] | None] = {}
        # contacts as an import's earlier accepted rows will leave them (id → values): the org
        # chart check of a later row sees them, so a sheet cannot close a loop over two rows
        self.planned: dict[Any, dict[str, Any]] = {}

    # ---- reading

    def export_row(self, spec: Editable, key: Key) -> dict[str, Any] | None:
        cached = (spec.name, key)
        if cached in self._export:
            return self._export[cached]
        row = None
        if spec.name in self.crm and all(v is not None for k, v in zip(spec.key, key, strict=True)
                                         if spec.table.column(k).required):
            conds, params = [], {}
            for i, (name, value) in enumerate(zip(spec.key, key, strict=True)):
                conds.append(f"{quote_ident(name)} is not distinct from $k{i}")
                params[f"k{i}"] = value
            columns = [c.name for c in spec.columns]  # export_select: every canonical column
            cur = self.con.execute(
                f"select {self.export_select(spec, 'e')} from {CRM_CATALOG}.main.{quote_ident(spec.name)} as e "
                f"where {' and '.join(conds)} limit 1", params)
            found = cur.fetchall()
            if found:
                row = {c.name: None for c in spec.columns} | dict(zip(columns, found[0], strict=True))
        self._export[cached] = row
        return row

    def prefetch(self, spec: Editable, keys: list[Key]) -> None:
        """Export rows of many keys in one query (the Excel import)."""
        import pyarrow as pa

        todo = [k for k in dict.fromkeys(keys) if (spec.name, k) not in self._export]
        if not todo:
            return
        for k in todo:
            self._export[(spec.name, k)] = None
        if spec.name not in self.crm:
            return
        arrays = {}
        for i, name in enumerate(spec.key):
            kind = spec.table.column(name).sql_type
            arrays[name] = pa.array([k[i] for k in todo], type=pa.date32() if kind == "DATE" else pa.string())
        self.con.register("wb_keys", pa.table(arrays))
        try:
            columns = [c.name for c in spec.columns]  # export_select: every canonical column
            match = " and ".join(f"e.{quote_ident(k)} is not distinct from k.{quote_ident(k)}" for k in spec.key)
            rows = self.con.execute(
                f"select {self.export_select(spec, 'e')} "
                f"from {CRM_CATALOG}.main.{quote_ident(spec.name)} as e join wb_keys as k on {match}").fetchall()
        finally:
            self.con.unregister("wb_keys")
        for found in rows:
            row = {c.name: None for c in spec.columns} | dict(zip(columns, found, strict=True))
            key = tuple(row[k] for k in spec.key)
            if self._export.get((spec.name, key)) is None:
                self._export[(spec.name, key)] = row

    def export_select(self, spec: Editable, alias: str) -> str:
        """The canonical columns of the export's table, in order; a column the loaded database
        lacks (loaded before the schema gained it, e.g. ``contacts.reports_to``) reads as null."""
        present = self.wb._state.columns.get(spec.name)
        if present is None:
            present = {r[0] for r in self.con.execute(
                "select column_name from duckdb_columns() where database_name = ? and schema_name = 'main' "
                "and table_name = ?", [CRM_CATALOG, spec.name]).fetchall()}
            self.wb._state.columns[spec.name] = present
        return ", ".join(f"{alias}.{quote_ident(c.name)}" if c.name in present
                         else f"null::{c.sql_type} as {quote_ident(c.name)}" for c in spec.columns)

    def stored(self, spec: Editable, key: Key) -> _Stored:
        if self.sq is None:
            return _Stored()
        key_text = encode_key(spec, key)
        row = self.sq.execute(
            "select r.version, r.last_batch, b.actor, b.changed_at from records r "
            "join batches b on b.batch_id = r.last_batch where r.table_name = ? and r.record_key = ?",
            (spec.name, key_text)).fetchone()
        if row is None:
            return _Stored()
        st = _Stored(*row)
        for column, value in self.sq.execute(
                "select column_name, value from cells where table_name = ? and record_key = ?", (spec.name, key_text)):
            if column in (CREATED, DELETED):
                st.cells[column] = bool(value)
            else:
                try:
                    st.cells[column] = from_store(spec.table.column(column), value)
                except KeyError:
                    continue
        return st

    def effective(self, spec: Editable, key: Key) -> tuple[dict[str, Any] | None, _Stored]:
        """The record as the metrics see it (None: not there, or deleted), and its store state."""
        st = self.stored(spec, key)
        if st.cells.get(DELETED):
            return None, st
        row = self.export_row(spec, key)
        if row is None and not st.cells.get(CREATED):
            return None, st
        values = dict(row) if row is not None else {c.name: None for c in spec.columns}
        values.update(dict(zip(spec.key, key, strict=True)))
        for column, value in st.cells.items():
            if column in values:
                values[column] = value
        if row is None:
            # as the overlay's view: a record of the team's whose account (contact, member,
            # criterion) is gone is not in the data; ``orphans`` lists it
            required = {c.name for c in spec.columns if c.ref and c.required}
            if self.reference_problems(spec, values, required, "", existence_only=True):
                return None, st
        return values, st

    def who(self, actor: str | None) -> str:
        """An actor as a person reads it: the team member's name when the actor is a member id."""
        if actor and "team" in self.crm:
            found = self.con.execute(f"select name from {CRM_CATALOG}.main.team where member_id = $m limit 1",
                                     {"m": actor}).fetchall()
            if found and found[0][0]:
                return f"{found[0][0]} ({actor})"
        return actor or "someone"

    def account_of(self, spec: Editable, values: Mapping[str, Any]) -> str | None:
        if "account_id" in values:
            return values.get("account_id")
        if spec.name == "relationships" and values.get("contact_id") is not None:
            contact, _ = self.effective(EDITABLE["contacts"], (values["contact_id"],))
            return contact.get("account_id") if contact else None
        return None

    def ids(self, table: str, column: str) -> set[Any] | None:
        """The values of a referenced column of a table the team does not edit (cached per
        loaded database); None when the export lacks the table (references are not checked)."""
        if table not in self.crm:
            return None
        cached = self.wb._state.ids.get((table, column))
        if cached is None:
            cached = {r[0] for r in self.con.execute(
                f"select distinct {quote_ident(column)} from {CRM_CATALOG}.main.{quote_ident(table)}").fetchall()}
            self.wb._state.ids[(table, column)] = cached
        return cached

    # ---- checking

    def check(self, spec: Editable, row: Mapping[str, Any], key: Key, changed: set[str]) -> dict[str, Any]:
        """The row's canonical values after the loader's checks and the reference checks;
        raises ``ValidationError`` naming every refused column."""
        text = {c.name: to_text(row.get(c.name)) for c in spec.columns}
        result = checks.check_rows(self.con, spec.table, [text], [1])[0]
        shown = show_key(spec, key) if all(v is not None for v in key) else ""
        problems = [Problem(spec.name, shown, column, reason) for column, reason in result.problems]
        if result.values is not None:
            problems += self.reference_problems(spec, result.values, changed, shown)
        if problems:
            raise ValidationError(problems)
        return result.values

    def reference_problems(self, spec: Editable, values: Mapping[str, Any], changed: set[str],
                           shown: str, *, existence_only: bool = False) -> list[Problem]:
        """References of the changed columns (all, for a new record) that have no target."""
        problems = []
        for col in spec.columns:
            value = values.get(col.name)
            if not col.ref or col.name not in changed or value is None:
                continue
            ref_table, ref_col = col.ref.split(".")
            if ref_table == "contacts":
                exists: bool | None = self.effective(EDITABLE["contacts"], (value,))[0] is not None
                if not exists and "contacts" not in self.crm and not self._team_has("contacts"):
                    exists = None  # no contacts at all: not checked, as the loader does
            else:
                known = self.ids(ref_table, ref_col)
                exists = None if known is None else value in known
            if exists is False:
                problems.append(Problem(spec.name, shown, col.name,
                                        f"{col.name} {checks.show(value)} has no {reference_noun(ref_table)} "
                                        f"in {ref_table}"))
        if (spec.name == "contacts" and not existence_only and not problems and values.get("reports_to") is not None
                and changed & {"reports_to", "account_id"}):
            problems += self.org_chart_problems(spec, values, shown)
        if (spec.name == "criterion_scores" and "criterion_id" in changed and "criteria" in self.crm
                and not existence_only):
            source = self.con.execute(
                f"select source from {CRM_CATALOG}.main.criteria where criterion_id = $c limit 1",
                {"c": values.get("criterion_id")}).fetchall()
            source = source[0] if source else None
            if source is not None and source[0] not in (None, "manual"):
                problems.append(Problem(spec.name, shown, "criterion_id",
                                        f"criterion {checks.show(values['criterion_id'])} is derived from the "
                                        f"metric {source[0]}; a manual score would be ignored"))
        return problems

    def org_chart_problems(self, spec: Editable, values: Mapping[str, Any], shown: str) -> list[Problem]:
        """A contact's manager must be another contact of the same account, and not someone who
        (through their own managers) reports to the contact: the org chart is a tree per account.

        Checked only when the team sets ``reports_to`` or moves the contact to another account:
        an export's own odd chart (a loop, a manager at another customer) is the export's, and
        does not block an unrelated edit of the contact."""
        me, boss, account = values.get("contact_id"), values["reports_to"], values.get("account_id")

        def problem(reason: str) -> list[Problem]:
            return [Problem(spec.name, shown, "reports_to", f"reports_to {checks.show(boss)} {reason}")]

        if boss == me:
            return problem(f"is the contact itself (expected another contact of account {checks.show(account)})")
        manager = self._chart_row(spec, boss)
        if manager is None:
            return []  # not there: the reference check names it
        if manager.get("account_id") != account:
            return problem(f"is a contact of account {checks.show(manager.get('account_id'))} "
                           f"(expected a contact of account {checks.show(account)})")
        chain, above = [me, boss], manager.get("reports_to")
        while above is not None and above not in chain[1:]:  # a loop above the manager is the export's
            chain.append(above)
            if above == me:
                return problem(f"makes a loop {' → '.join(map(str, chain))} (expected a manager who does not "
                               "report to this contact)")
            row = self._chart_row(spec, above)
            above = None if row is None else row.get("reports_to")
        return []

    def _chart_row(self, spec: Editable, contact_id: Any) -> dict[str, Any] | None:
        planned = self.planned.get(contact_id)
        return planned if planned is not None else self.effective(spec, (contact_id,))[0]

    def _team_has(self, table: str) -> bool:
        if self.sq is None:
            return False
        return self.sq.execute("select 1 from cells where table_name = ? and column_name = ? limit 1",
                               (table, CREATED)).fetchone() is not None

    def check_seen(self, spec: Editable, key: Key, st: _Stored, current: Mapping[str, Any],
                   seen: int | Mapping[str, Any] | None) -> None:
        if seen is None:
            return
        shown = f"{spec.name} {show_key(spec, key)}"
        if isinstance(seen, Mapping):
            differs = [c for c, v in seen.items() if c in current and not _same(current[c], v)]
            if not differs:
                return
            if st.version and st.changed_by and self._team_changed(spec, key, st, differs):
                raise ConflictError(f"{shown} was changed by {self.who(st.changed_by)} at {show_time(st.changed_at)} "
                                    f"since you opened it ({', '.join(differs)}); nothing was saved: "
                                    "check the current values and save again", st.changed_by, st.changed_at)
            loaded = self.con.execute(
                f"select value from {CRM_CATALOG}.main.load_info where key = 'loaded_at'").fetchall() \
                if "load_info" in self.crm else []
            at = loaded[0][0] if loaded else None
            raise ConflictError(f"{shown} was changed by a new CRM export (loaded {show_time(at)}) since you "
                                f"opened it ({', '.join(differs)}); nothing was saved: check the current values "
                                "and save again", "the CRM export", at)
        if isinstance(seen, bool) or not isinstance(seen, int):
            raise WorkbenchError(f"seen must be the record's version (a whole number) or the values seen; got {seen!r}")
        if st.version != seen:
            raise ConflictError(f"{shown} was changed by {self.who(st.changed_by)} at {show_time(st.changed_at)} "
                                "since you opened it; nothing was saved: check the current values and save again",
                                st.changed_by, st.changed_at)

    def _team_changed(self, spec: Editable, key: Key, st: _Stored, columns: list[str]) -> bool:
        """Whether the differing values are the team's doing (a value the team set, or one its
        last save took back) rather than a new export's."""
        if any(c in st.cells for c in columns):
            return True
        marks = ", ".join("?" for _ in columns)
        return self.sq.execute(
            f"select 1 from changes where batch_id = ? and table_name = ? and record_key = ? "
            f"and column_name in ({marks}) limit 1",
            (st.last_batch, spec.name, encode_key(spec, key), *columns)).fetchone() is not None

    def authorize(self, action: str, spec: Editable, key: Key, accounts: set[str | None]) -> None:
        if self.wb.authorize is not None:
            self.wb.authorize(WriteRequest(self.actor, action, spec.name, key,
                                           tuple(sorted(a for a in accounts if a))))

    # ---- operations

    def apply(self, op: Operation) -> Key:
        spec = editable(op.table)
        if isinstance(op, Update):
            return self.update(spec, normalise_key(spec, op.key), op.values, op.seen)
        if isinstance(op, Create):
            return self.create(spec, op.values)
        if isinstance(op, Delete):
            return self.delete(spec, normalise_key(spec, op.key), op.seen)
        raise WorkbenchError(f"not an operation: {op!r}")

    def _columns_given(self, spec: Editable, values: Mapping[str, Any]) -> None:
        unknown = [c for c in values if c not in spec.table.column_names]
        if unknown:
            raise WorkbenchError(f"{spec.name} has no column {', '.join(map(repr, unknown))}; columns: "
                                 f"{', '.join(spec.table.column_names)}")

    def _require(self, spec: Editable, key: Key) -> tuple[dict[str, Any], _Stored]:
        if spec.generated and key[spec.key.index(spec.generated)] is None:
            raise WorkbenchError(f"{spec.name}: a {spec.noun} without {spec.generated} cannot be changed; "
                                 f"add a new one instead")
        current, st = self.effective(spec, key)
        if current is None:
            raise WorkbenchError(f"{spec.name} {show_key(spec, key)}: no such {spec.noun} "
                                 "(not in the export, or deleted)")
        return current, st

    def update(self, spec: Editable, key: Key, values: Mapping[str, Any], seen: Any) -> Key:
        self._columns_given(spec, values)
        current, st = self._require(spec, key)
        self.check_seen(spec, key, st, current, seen)
        for k, key_value in zip(spec.key, key, strict=True):
            if k in values and not _same(values[k], key_value):
                raise WorkbenchError(f"{spec.name} {show_key(spec, key)}: {k} is the key and cannot be changed; "
                                     f"delete the {spec.noun} and add a new one")
        given = {c: v for c, v in values.items() if c not in spec.key}
        row = {**current, **given}
        new = self.check(spec, row, key, set(given))
        diffs = [c.name for c in spec.value_columns if c.name in given and new[c.name] != current[c.name]]
        if not diffs:
            return key
        accounts = {self.account_of(spec, current), self.account_of(spec, new)}
        self.authorize("update", spec, key, accounts)
        account = self.account_of(spec, new)
        for column in diffs:
            self.write_cell(spec, key, account, column, column in st.cells, current[column], True, new[column])
        return key

    def create(self, spec: Editable, values: Mapping[str, Any]) -> Key:
        self._columns_given(spec, values)
        row = dict(values)
        if spec.generated:
            if to_text(row.get(spec.generated)) not in (None, ""):
                raise WorkbenchError(f"{spec.name}: {spec.generated} of a new {spec.noun} is given by the "
                                     f"workbench; leave it blank")
            while True:  # a generated id is practically unique; make sure anyway
                row[spec.generated] = spec.new_id()
                probe = tuple(row.get(k) for k in spec.key)
                if self.export_row(spec, probe) is None and not self.stored(spec, probe).version:
                    break
        # a generated id means nothing to the user yet: the messages name the table only
        shown_key = (None,) if spec.generated else tuple(to_text(row.get(k)) for k in spec.key)
        new = self.check(spec, row, shown_key, {c.name for c in spec.columns})
        key = tuple(new[k] for k in spec.key)
        current, st = self.effective(spec, key)
        if current is not None:
            raise WorkbenchError(f"{spec.name} {show_key(spec, key)}: this {spec.noun} already exists; "
                                 "change it instead")
        account = self.account_of(spec, new)
        self.authorize("create", spec, key, {account})
        if st.cells.get(DELETED):
            self.write_cell(spec, key, account, DELETED, True, True, False, None)
        in_export = self.export_row(spec, key) is not None
        if not in_export and not st.cells.get(CREATED):
            self.write_cell(spec, key, account, CREATED, CREATED in st.cells, st.cells.get(CREATED), True, True)
        for col in spec.value_columns:
            # a blank column of a record only the team has is blank anyway: no cell, no history line
            if new[col.name] is None and not in_export and col.name not in st.cells:
                continue
            self.write_cell(spec, key, account, col.name, col.name in st.cells, st.cells.get(col.name),
                            True, new[col.name])
        return key

    def delete(self, spec: Editable, key: Key, seen: Any) -> Key:
        current, st = self._require(spec, key)
        self.check_seen(spec, key, st, current, seen)
        account = self.account_of(spec, current)
        self.authorize("delete", spec, key, {account})
        if spec.name == "contacts":  # a relationship needs its contact (the loader rejects it without)
            rel = EDITABLE["relationships"]
            for member in self._members_of_contact(key[0]):
                if self.effective(rel, (member, key[0]))[0] is not None:
                    self.delete(rel, (member, key[0]), None)
        self.write_cell(spec, key, account, DELETED, DELETED in st.cells, st.cells.get(DELETED), True, True)
        return key

    def _members_of_contact(self, contact_id: str) -> list[str]:
        members: list[str] = []
        if "relationships" in self.crm:
            members += [r[0] for r in self.con.execute(
                f"select member_id from {CRM_CATALOG}.main.relationships where contact_id = $c", {"c": contact_id}
            ).fetchall()]
        rel = EDITABLE["relationships"]
        for (key_text,) in self.sq.execute("select record_key from records where table_name = 'relationships'"):
            member, contact = decode_key(rel, key_text)
            if contact == contact_id:
                members.append(member)
        return list(dict.fromkeys(members))

    # ---- writing

    def write_cell(self, spec: Editable, key: Key, account: str | None, column: str, old_set: bool, old: Any,
                   new_set: bool, new: Any, *, raw: bool = False) -> None:
        """Append one change and keep the current cell (``raw``: values already as stored)."""
        col = None if column in (CREATED, DELETED) else spec.table.column(column)
        old_stored = old if raw else to_store(col, old)
        new_stored = new if raw else to_store(col, new)
        key_text = encode_key(spec, key)
        self.sq.execute(
            "insert into changes (batch_id, table_name, record_key, account_id, column_name, old_set, old_value, "
            "new_set, new_value) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (self.batch_id, spec.name, key_text, account, column, int(old_set), old_stored, int(new_set), new_stored))
        if new_set:
            self.sq.execute("insert or replace into cells values (?, ?, ?, ?)", (spec.name, key_text, column, new_stored))
        else:
            self.sq.execute("delete from cells where table_name = ? and record_key = ? and column_name = ?",
                            (spec.name, key_text, column))
        self.sq.execute(
            """insert into records (table_name, record_key, account_id, version, last_batch) values (?, ?, ?, 1, ?)
               on conflict (table_name, record_key) do update set
                   version = version + (last_batch <> excluded.last_batch),
                   last_batch = excluded.last_batch,
                   account_id = coalesce(excluded.account_id, account_id)""",
            (spec.name, key_text, account, self.batch_id))
        shown_col, old_text, new_text = _display_change(spec, column, int(old_set), old_stored, int(new_set),
                                                         new_stored)
        if column in (CREATED, DELETED):
            old_value, new_value = old_text, new_text
        else:
            old_value, new_value = from_store(col, old_stored), from_store(col, new_stored)
        self.changes.append(Change(spec.name, key, shown_col, old_value, new_value, account))


def editable_tables() -> list[str]:
    """The tables the workbench edits, in the order their editors come."""
    return list(EDITABLE)


assert set(EDITABLE) <= set(TABLES)
