"""The team's editors in the app: what no CRM export holds, edited where it is looked at.

Each editor is one function that takes the page's context and an account and renders one
table of the workbench (``docs/workbench.md``) as an ``st.data_editor`` with Save and
Discard; the pages call them next to what they edit:

- Account page: ``contacts_editor`` (the relationship map's people: piece, attitude, buying
  role, level, department, reports-to, active; rows added for people the CRM does not know),
  ``relationships_editor`` (team member ↔ contact, strength, last contact), ``plan_editor``,
  ``potential_editor``, ``competitors_editor``, ``account_history`` (with "undo the last
  change") and ``excel_round_trip``;
- Portfolio page: ``criterion_scores_editor`` (the manual criterion scores of one account);
- Data page: ``orphans`` and ``excel_round_trip`` for every account.

How an edit travels: the editor shows a snapshot of the effective rows (kept in the session
while the user has unsaved input, so another session's save never wipes it); Save turns the
input into the workbench's operations (``kam_core.workbench.editor.operations``) and saves
them as one save, in a button callback — before the page is drawn, so the same run already
computes with the edit (``ui.dataset()``'s key holds the store's version). The workbench
checks every value with the loader's rules and the role with ``kam_core.access`` (its
``authorize`` hook, ``kam_core.workbench.roles``); a refusal is shown with its message and the
input stays on screen. Without sign-in, the first save asks who is saving ("Who am I").
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import streamlit as st

import ui
from kam_core import access
from kam_core.appdata import database_path
from kam_core.errors import KamError
from kam_core.ingest.schema import ACTION_STATUSES, ATTITUDES, BUYING_ROLES, LEVELS, PIECES, TABLES
from kam_core.workbench.editor import editor_rows, manual_criteria, operations, pending
from kam_core.workbench.edits import Operation, Workbench
from kam_core.workbench.errors import ConflictError, ValidationError
from kam_core.workbench.roles import action_for, authorize_for, may_write_any

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
STRENGTHS = {0: "0 · none", 1: "1 · aware", 2: "2 · acquainted", 3: "3 · trusted", 4: "4 · advocate"}
ORIGINS = {"export": "CRM", "edited": "CRM, edited", "team": "team", "none": "–"}
ASK = "_wb_ask"  # session key: the save waiting for "who am I"


# ---------------------------------------------------------------- the workbench of this database


@st.cache_resource(show_spinner=False, max_entries=8)
def _shared_workbench(db: str, store: str, settings_key: str, _settings) -> Workbench:
    # one per database and store, shared by every session: its connection and caches are
    # thread-safe behind the workbench's lock
    return Workbench(db, store, settings=_settings)


def workbench() -> Workbench:
    """The workbench of the database in use, its writes checked against the current user's
    role (``kam_core.workbench.roles.authorize_for``)."""
    settings = ui.saved_settings()
    shared = _shared_workbench(str(database_path()), str(ui.workbench_store()), settings.cache_key(), settings)
    return shared.with_authorize(authorize_for(ui.current_actor(), shared))


def identity() -> str | None:
    """Who the history will name for a save: the signed-in user, or the team member (or name)
    chosen in the sidebar; None when nobody said who they are yet (then the save asks)."""
    actor = ui.current_actor()
    if not actor.signed_in and not st.session_state.get("_whoami") and not st.session_state.get("_whoami_name"):
        return None
    return actor.identity


def _account_ref(ctx: ui.PageContext, account_id: str) -> access.AccountRef:
    return access.account_owner(ctx.con, account_id) or access.AccountRef(account_id)


def _refusal(ctx: ui.PageContext, table: str, account_id: str) -> str | None:
    return access.refusal(ui.current_actor(), action_for(table), _account_ref(ctx, account_id))


# ---------------------------------------------------------------- one editor's state


@dataclass
class _Editor:
    """A table editor's state in the session: the rows shown (a snapshot: kept while the user
    has unsaved input), the data version they came from, the widget's generation (a new one
    after a save or a discard empties the widget), and the last refusal."""

    name: str  # its session key
    table: str
    account_id: str
    defaults: dict[str, Any]
    rows: pd.DataFrame | None = None
    data_key: tuple | None = None
    gen: int = 0
    errors: list[str] = field(default_factory=list)
    conflict: bool = False

    @property
    def widget(self) -> str:
        """The data editor's key (its state: the user's unsaved input)."""
        return f"{self.name}_{self.gen}"


def _editor_state(name: str, table: str, account_id: str, defaults: dict[str, Any]) -> _Editor:
    key = f"wb_{name}_{account_id}"
    state = st.session_state.get(key)
    if state is None:
        state = _Editor(key, table, account_id, defaults)
        st.session_state[key] = state
    return state


def _edits(state: _Editor) -> dict[str, Any] | None:
    value = st.session_state.get(state.widget)
    return value if isinstance(value, dict) else None


def _flash(state_key: str, text: str) -> None:
    st.session_state[f"{state_key}_flash"] = text


def _show_flash(state_key: str) -> None:
    text = st.session_state.pop(f"{state_key}_flash", None)
    if text:
        st.success(text, icon=":material/check_circle:")


def _reset(state: _Editor) -> None:
    """Forget the input: the next run shows the current rows in a fresh widget."""
    st.session_state.pop(state.widget, None)
    state.gen += 1
    state.rows = None
    state.errors = []
    state.conflict = False


def _save(state_key: str, *, force: bool = False) -> None:
    """Save an editor's input (a button's callback: runs before the page is drawn)."""
    state: _Editor = st.session_state[state_key]
    who = identity()
    if who is None:
        st.session_state[ASK] = ("save", state_key, force)
        return
    ops = operations(state.table, state.rows, _edits(state), state.defaults)
    if force:  # "save mine over theirs": the user saw the conflict and decided
        ops = [_unseen(op) for op in ops]
    _write(state, lambda wb: wb.save(who, ops))


def _unseen(op: Operation) -> Operation:
    import dataclasses

    return dataclasses.replace(op, seen=None) if hasattr(op, "seen") else op


def _write(state: _Editor, write: Callable[[Workbench], Any]) -> None:
    try:
        saved = write(workbench())
    except ConflictError as exc:
        state.errors, state.conflict = [str(exc)], True
    except ValidationError as exc:
        state.errors, state.conflict = [str(p) for p in exc.problems], False
    except KamError as exc:  # PermissionDenied, a record gone, a store that cannot be written …
        state.errors, state.conflict = [str(exc)], False
    else:
        n = len(saved.changes)
        _flash(state.name, f"Saved: {n} change{'s' if n != 1 else ''} (save {saved.batch_id})." if n
               else "Nothing to save: the values are the same.")
        _reset(state)


def _discard(state_key: str) -> None:
    _reset(st.session_state[state_key])


def _table_editor(ctx: ui.PageContext, *, name: str, table: str, account_id: str, title: str,
                  columns: list[str], column_config: dict[str, Any], editable: list[str],
                  num_rows: str = "dynamic", defaults: dict[str, Any] | None = None,
                  decorate: Callable[[pd.DataFrame], pd.DataFrame] | None = None, help_text: str = "",
                  expanded: bool = False, more: Sequence[str] = ()) -> None:
    """One table of the workbench for one account, as a data editor with Save and Discard.

    ``more``: columns shown only when the user asks for all of them (a toggle), so that the
    grid fits a 1280 px screen without scrolling sideways; the save reads the whole snapshot
    either way, so an edit is kept when the toggle changes."""
    state = _editor_state(name, table, account_id,
                          dict(defaults) if defaults is not None else {"account_id": account_id})
    n = pending(_edits(state))
    if state.rows is None or (state.data_key != ctx.db_key and not n):
        if state.rows is not None:  # newer data and no input: a fresh widget for it
            st.session_state.pop(state.widget, None)
            state.gen += 1
        state.rows = editor_rows(workbench(), table, account_id)
        state.data_key = ctx.db_key
    if st.session_state.get(ASK, (None, None))[1] == state.name:
        _who_dialog()
    refused = _refusal(ctx, table, account_id)
    flash = bool(st.session_state.get(f"{state.name}_flash"))
    with st.expander(title, expanded=expanded or bool(n or state.errors or flash), icon=":material/edit:"):
        if help_text:
            st.caption(help_text)
        _show_flash(state.name)
        if more:
            labels = ", ".join(column_config[c]["label"] if column_config.get(c, {}).get("label") else c
                               for c in more)
            if not st.toggle(f"Show all columns (also {labels})", key=f"{state.name}_all",
                             disabled=bool(n), help="Save or discard your changes first"
                             if n else "The grid then needs sideways scrolling on a small screen."):
                columns = [c for c in columns if c not in more]
        shown = state.rows
        shown = decorate(shown) if decorate else shown
        for column in columns:
            if column not in shown.columns:  # a database loaded before the column existed
                shown = shown.assign(**{column: pd.Series([None] * len(shown), dtype="object")})
        shown = _nullable(shown[columns])
        config = {c: _help(table, c, cfg) for c, cfg in column_config.items()}
        st.data_editor(shown, key=state.widget, hide_index=True, width="stretch", num_rows=num_rows,
                       column_config=config, disabled=True if refused else [c for c in columns if c not in editable],
                       placeholder="")
        for line in state.errors:
            st.error(ui.md(line), icon=":material/error:")
        if state.conflict:
            st.caption("Your input is kept above. Save it over the current values, or discard it to see them.")
        if refused:
            st.caption(f":material/lock: {ui.md(refused)}")
            return
        bar = st.container(horizontal=True, vertical_alignment="center")  # buttons as wide as their labels
        bar.button("Save changes", type="primary", icon=":material/save:", key=f"{state.name}_save",
                   disabled=not n, on_click=_save, args=(state.name,))
        bar.button("Discard", key=f"{state.name}_discard", disabled=not (n or state.errors), on_click=_discard,
                   args=(state.name,))
        if state.conflict:
            bar.button("Save mine over the current values", key=f"{state.name}_force", on_click=_save,
                       args=(state.name,), kwargs={"force": True})
        elif n:
            bar.caption(f"{n} row{'s' if n != 1 else ''} changed, not saved yet.")


def _nullable(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns that take a blank in a row the user adds: text and days as objects, whole
    numbers and truth values as pandas' nullable types (Streamlit adds the row with ``df.loc``)."""
    kinds = {}
    frame = frame.copy()
    for name, dtype in frame.dtypes.items():
        if pd.api.types.is_datetime64_any_dtype(dtype):  # a day column: dates, not time stamps
            frame[name] = pd.Series([None if pd.isna(v) else v.date() for v in frame[name]], index=frame.index,
                                    dtype=object)
        elif pd.api.types.is_bool_dtype(dtype):
            kinds[name] = "boolean"
        elif pd.api.types.is_integer_dtype(dtype):
            kinds[name] = "Int64"
        elif pd.api.types.is_string_dtype(dtype):
            kinds[name] = object
    return frame.astype(kinds)


def _help(table: str, column: str, cfg: Any) -> Any:
    """A column's tooltip from the schema (what the column means), unless the editor set one."""
    try:
        text = TABLES[table].column(column).help
    except KeyError:
        return cfg
    if isinstance(cfg, dict) and not cfg.get("help") and text:
        return {**cfg, "help": text}
    return cfg


# ---------------------------------------------------------------- "who am I" before the first save


def _cancel_ask() -> None:
    st.session_state.pop(ASK, None)


@st.dialog("Who is saving?", on_dismiss=_cancel_ask)
def _who_dialog() -> None:
    st.markdown("Every change is recorded with who made it. Choose yourself once for this session "
                "(the sidebar's **Who am I**).")
    members = access.team_members(ui.connection())
    if members:
        names = dict(members)
        chosen = st.selectbox("Who am I", list(names), format_func=lambda m: f"{names[m]} ({m})", index=None,
                              key="wb_who_pick", placeholder="choose yourself")
        name = names.get(chosen)
    else:
        chosen = None
        name = st.text_input("Your name", key="wb_who_name", placeholder="named in the history").strip() or None
    if st.button("Save", type="primary", disabled=not (chosen or name), key="wb_who_save"):
        st.session_state["_whoami"], st.session_state["_whoami_name"] = chosen, name
        if chosen is None:
            st.session_state.pop("_whoami", None)
        kind, target, force = st.session_state.pop(ASK)
        if kind == "save":
            _save(target, force=force)
        elif kind == "undo":
            _undo(*target)
        elif kind == "import":
            _apply_import(target)
        st.rerun()


# ---------------------------------------------------------------- the Account page's editors


def _members(ctx: ui.PageContext) -> dict[str, str]:
    return dict(access.team_members(ctx.con))


def _contact_names(account_id: str) -> dict[str, str]:
    """The account's contacts as the team sees them (its own included): id → name."""
    contacts = workbench().records("contacts", account_id)
    return dict(zip(contacts["contact_id"], contacts["name"], strict=True))


def _label(names: dict[str, str]) -> Callable[[Any], str]:
    return lambda v: "–" if v is None or v != v else f"{names[v]} ({v})" if v in names else str(v)


def contacts_editor(ctx: ui.PageContext, account_id: str) -> None:
    """The account's contacts: the chess piece and attitude of the relationship map, level,
    department, reports-to and whether they are still there (title, buying role, location on
    asking: the grid fits a projector's screen); add the people the CRM does not know (a row at
    the bottom), remove a contact (with their relationships)."""
    names = _contact_names(account_id)
    _table_editor(
        ctx, name="contacts", table="contacts", account_id=account_id,
        title="Edit the contacts: piece, attitude, role, who reports to whom",
        help_text="Change a cell and save: coverage, health and the map use the team's values at once. "
                  "Add a person the CRM does not know in the empty row at the bottom; a deleted contact takes "
                  "their relationships along (undo brings both back).",
        columns=["name", "title", "piece", "attitude", "level", "department", "buying_role", "reports_to",
                 "location", "is_active", "source", "contact_id"],
        editable=["name", "title", "department", "level", "buying_role", "piece", "attitude", "reports_to",
                  "location", "is_active"],
        more=("title", "buying_role", "location", "source", "contact_id"),
        decorate=_with_source,
        # widths in pixels: the seven columns of the map fit a 1280 px screen beside the sidebar
        column_config={
            "name": st.column_config.TextColumn("name", required=True, width=140),
            "title": st.column_config.TextColumn("title", width=160),
            "level": st.column_config.SelectboxColumn("level", options=list(LEVELS), width=95),
            "department": st.column_config.TextColumn("department", width=115),
            "buying_role": st.column_config.SelectboxColumn("buying role", options=list(BUYING_ROLES), width=120,
                                                            format_func=lambda v: str(v).replace("_", " ")),
            "piece": st.column_config.SelectboxColumn("piece", options=list(PIECES), default="pawn", width=75),
            "attitude": st.column_config.SelectboxColumn("attitude", options=list(ATTITUDES), default="neutral",
                                                         width=90),
            "reports_to": st.column_config.SelectboxColumn("reports to", options=list(names), width=140,
                                                           format_func=_short_label(names)),
            "is_active": st.column_config.CheckboxColumn("active", default=True, width=60),
            "source": st.column_config.TextColumn("source", help="CRM: the export's values; CRM, edited: the "
                                                  "team changed some; team: a contact the team added"),
            "contact_id": st.column_config.TextColumn("id"),
        })


def _short_label(names: dict[str, str]) -> Callable[[Any], str]:
    """A contact by name alone (narrow column); with the id where two contacts share the name."""
    twice = {n for n, count in Counter(names.values()).items() if count > 1}
    full = _label(names)
    return lambda v: full(v) if v not in names or names[v] in twice else str(names[v])


def _with_source(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.assign(source=rows["_origin"].map(ORIGINS).fillna("–"))


def relationships_editor(ctx: ui.PageContext, account_id: str) -> None:
    """Who in the team knows whom at the customer: strength 0–4 and the last contact."""
    members, names = _members(ctx), _contact_names(account_id)
    _table_editor(
        ctx, name="relationships", table="relationships", account_id=account_id,
        title="Edit the relationships: who knows whom, how well",
        help_text="One row per team member and contact. Strength: 0 none, 1 aware, 2 acquainted, 3 trusted, "
                  "4 advocate; it decays with the time since the last contact.",
        columns=["member_id", "contact_id", "strength", "last_contact_date"],
        editable=["member_id", "contact_id", "strength", "last_contact_date"],
        defaults={},
        column_config={
            "member_id": st.column_config.SelectboxColumn("team member", options=list(members),
                                                          format_func=_label(members), required=True),
            "contact_id": st.column_config.SelectboxColumn("contact", options=list(names),
                                                           format_func=_label(names), required=True),
            "strength": st.column_config.SelectboxColumn("strength", options=list(STRENGTHS),
                                                         format_func=lambda v: STRENGTHS.get(v, str(v)),
                                                         required=True),
            "last_contact_date": st.column_config.DateColumn("last contact", format="YYYY-MM-DD"),
        })


def plan_editor(ctx: ui.PageContext, account_id: str) -> None:
    """The account plan's actions: add one, assign it, set its due date, mark it done."""
    members = _members(ctx)
    _table_editor(
        ctx, name="plan", table="plan_actions", account_id=account_id,
        title="Edit the plan: add actions, assign them, mark them done",
        help_text="An open action past its due date is overdue; done actions count for the plan score.",
        columns=["objective", "owner_id", "due_date", "status", "source"],
        editable=["objective", "owner_id", "due_date", "status"],
        decorate=_with_source,
        column_config={
            "objective": st.column_config.TextColumn("objective", required=True, width="medium"),
            "owner_id": st.column_config.SelectboxColumn("owner", options=list(members), format_func=_label(members)),
            "due_date": st.column_config.DateColumn("due", format="YYYY-MM-DD"),
            "status": st.column_config.SelectboxColumn("status", options=list(ACTION_STATUSES), default="open"),
            "source": st.column_config.TextColumn("source"),
        })


def potential_editor(ctx: ui.PageContext, account_id: str) -> None:
    """The customer's yearly potential per product line (share of wallet and whitespace)."""
    cur = ctx.settings.currency
    _table_editor(
        ctx, name="potential", table="potential", account_id=account_id,
        title="Edit the potential per product line",
        help_text=f"What the customer spends per year in each product line, with us and others ({cur}). "
                  "Clear a value to remove it; add a product line in the empty row at the bottom.",
        columns=["product_line", "annual_potential"],
        editable=["product_line", "annual_potential"], num_rows="add",
        column_config={
            "product_line": st.column_config.TextColumn("product line", required=True),
            "annual_potential": st.column_config.NumberColumn(f"potential per year ({cur})", min_value=0,
                                                              format="localized"),
        })


def competitors_editor(ctx: ui.PageContext, account_id: str) -> None:
    """Who else sells to the customer, per product line, with their estimated share."""
    _table_editor(
        ctx, name="competitors", table="competitors", account_id=account_id,
        title="Edit the competitors",
        help_text="The estimated share is of the customer's spend in that product line (0–100 %).",
        columns=["competitor", "product_line", "est_share"],
        editable=["competitor", "product_line", "est_share"],
        column_config={
            "competitor": st.column_config.TextColumn("competitor", required=True),
            "product_line": st.column_config.TextColumn("product line"),
            "est_share": st.column_config.NumberColumn("estimated share", min_value=0.0, max_value=1.0, step=0.01,
                                                       format="percent"),
        })


# ---------------------------------------------------------------- the Portfolio page's editor


def criterion_scores_editor(ctx: ui.PageContext, account_id: str) -> None:
    """The manual criterion scores (0–10) of one account; clear a score to remove it."""
    criteria = manual_criteria(workbench()).set_index("criterion_id")
    if criteria.empty:
        return

    def decorate(rows: pd.DataFrame) -> pd.DataFrame:
        ids = rows["criterion_id"]
        return rows.assign(criterion=ids.map(criteria["name"]), axis=ids.map(criteria["axis"]),
                           weight=ids.map(criteria["weight"]))

    _table_editor(
        ctx, name="scores", table="criterion_scores", account_id=account_id,
        title="Edit the manual scores of this account",
        help_text="The team's judgement per manual criterion, 0–10; a criterion without a score counts 0 "
                  "(and is listed as missing). Scores, tiers and the matrix follow at once.",
        columns=["criterion", "axis", "weight", "score"], editable=["score"], num_rows="fixed",
        decorate=decorate,
        column_config={
            "criterion": st.column_config.TextColumn("criterion"),
            "weight": st.column_config.NumberColumn("weight", format="%.2f"),
            "score": st.column_config.NumberColumn("score (0–10)", min_value=0.0, max_value=10.0, step=0.5),
        })


# ---------------------------------------------------------------- history and undo


def _batch_label(rows: pd.DataFrame, members: dict[str, str]) -> str:
    first = rows.iloc[0]
    who = _label(members)(first["actor"]) if first["actor"] in members else str(first["actor"])
    what = "; ".join(f"{r.table} {r.record}: {r.column} {r.old_value or '–'} → {r.new_value or '–'}"
                     for r in rows.head(3).itertuples())
    more = f" and {len(rows) - 3} more" if len(rows) > 3 else ""
    return f"{who}, {first['changed_at']:%Y-%m-%d %H:%M} UTC: {what}{more}"


def _undo(account_id: str, batch_id: int) -> None:
    key = f"wb_undo_{account_id}"
    who = identity()
    if who is None:
        st.session_state[ASK] = ("undo", (account_id, batch_id), False)
        return
    try:
        saved = workbench().undo(who, batch_id)
    except KamError as exc:
        st.session_state[f"{key}_error"] = str(exc)
    else:
        st.session_state.pop(f"{key}_error", None)
        _flash(key, f"Undone: save {batch_id} ({len(saved.changes)} change{'s' if len(saved.changes) != 1 else ''}).")


def account_history(ctx: ui.PageContext, account_id: str) -> None:
    """The account's changes, newest first (who, when, what: before → after), and "undo the
    last change" (the newest save on this account that is not undone yet, as a new save)."""
    key = f"wb_undo_{account_id}"
    history = workbench().history(account_id)
    if st.session_state.get(ASK, (None, None))[0] == "undo":
        _who_dialog()
    with st.expander(f"History of the team's changes ({len(history):,})", icon=":material/history:",
                     expanded=bool(st.session_state.get(f"{key}_error") or st.session_state.get(f"{key}_flash"))):
        _show_flash(key)
        if st.session_state.get(f"{key}_error"):
            st.error(ui.md(st.session_state[f"{key}_error"]), icon=":material/error:")
        if history.empty:
            st.caption("No change recorded for this account yet: every value is the CRM export's.")
            return
        members = _members(ctx)
        undoable = history[(history["action"] != "undo") & ~history["undone"]]
        if not undoable.empty:
            batch = int(undoable["batch_id"].max())
            st.caption("Last change: " + ui.md(_batch_label(undoable[undoable["batch_id"] == batch], members)))
            refused = _refusal(ctx, "contacts", account_id)
            if refused:
                st.caption(f":material/lock: {ui.md(refused)}")
            st.button("Undo the last change", icon=":material/undo:", key=f"{key}_button", disabled=bool(refused),
                      on_click=_undo, args=(account_id, batch))
        shown = history.assign(
            who=history["actor"].map(lambda a: _label(members)(a) if a in members else a),
            record=history["table"] + " " + history["record"],
            undone=history["undone"].map({True: "undone", False: ""}))
        ui.dataframe(shown[["changed_at", "who", "action", "record", "column", "old_value", "new_value", "undone"]],
                     hide_index=True, width="stretch", height=min(400, 38 + 35 * len(shown)),
                     column_config={"changed_at": st.column_config.DatetimeColumn("when (UTC)",
                                                                                  format="YYYY-MM-DD HH:mm"),
                                    "old_value": "before", "new_value": "after"})


# ---------------------------------------------------------------- the Data page


def orphans(ctx: ui.PageContext) -> None:
    """The team's notes about accounts, contacts, team members or criteria no longer in the
    export: kept (they come back when a later export has them again), never dropped."""
    st.subheader("Notes about accounts/contacts no longer in the export")
    found = workbench().orphans()
    if found.empty:
        st.success("Every record of the team refers to data the export has.", icon=":material/check_circle:")
        return
    st.caption("The team's records whose account, contact, team member or criterion the loaded export no longer "
               "has. They are kept and left out of the figures; when a later export has them again, they count again.")
    members = _members(ctx)
    found = found.assign(changed_by=found["changed_by"].map(lambda a: _label(members)(a) if a in members else a))
    ui.dataframe(found.rename(columns={"changed_by": "last changed by", "changed_at": "when"}), hide_index=True,
                 width="stretch")


# ---------------------------------------------------------------- the Excel round trip


def _import_key(account_id: str | None) -> str:
    return f"wb_xl_{account_id or 'all'}"


def _apply_import(key: str) -> None:
    who = identity()
    if who is None:
        st.session_state[ASK] = ("import", key, False)
        return
    from kam_core.workbench.excel import apply_import

    preview = st.session_state.get(f"{key}_preview")
    if preview is None:
        return
    try:
        saved = apply_import(workbench(), preview[1], who)
    except KamError as exc:
        st.session_state[f"{key}_error"] = str(exc)
        return
    st.session_state.pop(f"{key}_preview", None)
    st.session_state.pop(f"{key}_error", None)
    st.session_state[f"{key}_gen"] = st.session_state.get(f"{key}_gen", 0) + 1  # an empty uploader
    n = len(saved.changes)
    _flash(key, f"Imported: {n} change{'s' if n != 1 else ''} saved (save {saved.batch_id}).")


def excel_round_trip(ctx: ui.PageContext, account_id: str | None = None) -> None:
    """Download the effective values of the editable tables (one account, or every account),
    upload an edited workbook, see what would change and what is refused, apply."""
    from kam_core.workbench.excel import export_workbook_bytes, preview_import

    key = _import_key(account_id)
    scope = f"account {account_id}" if account_id else "every account"
    if st.session_state.get(ASK, (None, None))[:2] == ("import", key):
        _who_dialog()
    with st.expander(f"Excel: download and upload the team's tables ({scope})", icon=":material/table_view:",
                     expanded=bool(st.session_state.get(f"{key}_preview") or st.session_state.get(f"{key}_flash"))):
        _show_flash(key)
        st.caption("One sheet per table, the CRM export overlaid with the team's values. Change cells (a sheet may "
                   "keep only the key columns and the columns you change), add rows, upload it: every row is checked "
                   "like a loaded file, and nothing is saved before you apply the preview."
                   + ("" if account_id else " The whole portfolio takes a while to write; an account's workbook "
                      "(Account page) is quicker."))
        wb = workbench()
        stamp = dt.date.today().isoformat()
        st.download_button("Download the workbook", data=lambda: export_workbook_bytes(wb, account_id=account_id),
                           file_name=f"kam-team-{account_id or 'all'}-{stamp}.xlsx", mime=XLSX,
                           icon=":material/download:", key=f"{key}_download", on_click="ignore")
        actor = ui.current_actor()
        if not may_write_any(actor):
            st.caption(f":material/lock: Uploading changes needs the role mentor or account manager of the accounts "
                       f"(management: reviews); you are {ui.md(actor.label)}, role {ui.md(actor.role_label)}.")
            return
        upload = st.file_uploader("Upload an edited workbook", type=["xlsx"],
                                  key=f"{key}_upload_{st.session_state.get(f'{key}_gen', 0)}")
        if upload is None:
            st.session_state.pop(f"{key}_preview", None)
            return
        cached = st.session_state.get(f"{key}_preview")
        if cached is None or cached[0] != upload.file_id:
            try:
                preview = preview_import(wb, upload.getvalue(), name=upload.name,
                                         actor=identity() or ui.current_actor().identity)
            except KamError as exc:
                ui.show_error(exc)
                return
            st.session_state[f"{key}_preview"] = cached = (upload.file_id, preview)
            st.session_state.pop(f"{key}_error", None)
        preview = cached[1]
        st.markdown(f"**Preview** — {ui.md(preview.summary())}")
        for note in preview.notes:
            st.caption(ui.md(note))
        if preview.changes:
            ui.dataframe(preview.frame(), hide_index=True, width="stretch")
        if preview.refused:
            st.markdown(f"**Refused rows ({len(preview.refused)})** — not imported; fix them in the workbook and "
                        "upload it again:")
            ui.dataframe(preview.refused_frame(), hide_index=True, width="stretch")
        if st.session_state.get(f"{key}_error"):
            st.error(ui.md(st.session_state[f"{key}_error"]), icon=":material/error:")
        st.button(f"Apply {len(preview.changes)} change{'s' if len(preview.changes) != 1 else ''}", type="primary",
                  icon=":material/publish:", key=f"{key}_apply", disabled=not preview.operations,
                  on_click=_apply_import, args=(key,))
