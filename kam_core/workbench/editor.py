"""What the app's table editors need from the workbench, without Streamlit: the rows an editor
shows (with what to send back) and the operations a user's edits of them amount to.

An editor shows a snapshot of rows — the effective records of one account, and for the
potential and the manual scores also the rows that have no record yet (a product line the
customer buys without a potential, a manual criterion without a score) — and gets back what
the user changed: cells of existing rows, rows added, rows deleted (the shape of
``st.data_editor``'s state). ``operations`` turns that into the workbench's ``Update``,
``Create`` and ``Delete`` — with each record's ``version`` as seen, so a record another
session changed in between is refused with "changed by X at T" —, saved as one save.

Every snapshot row carries ``_exists`` (a record is there) and ``_version`` besides the
table's columns.

>>> import pandas as pd
>>> base = pd.DataFrame({"account_id": ["A-1", "A-1"], "criterion_id": ["fit", "size"], "score": [5.0, None],
...                      "_exists": [True, False], "_version": [2, 0]})
>>> ops = operations("criterion_scores", base, {"edited_rows": {0: {"score": None}, 1: {"score": 7}}})
>>> [type(op).__name__ for op in ops], ops[0].key, ops[0].seen, dict(ops[1].values)
(['Delete', 'Create'], ('A-1', 'fit'), 2, {'account_id': 'A-1', 'criterion_id': 'size', 'score': 7})
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from kam_core.ingest.schema import loaded_tables
from kam_core.sqlutil import fetch_frame
from kam_core.workbench.edits import Create, Delete, Operation, Update, Workbench
from kam_core.workbench.tables import EDITABLE, plain

# Tables whose one value is the record: clearing it removes the record (a manual score, a
# potential), instead of being refused as a blank required value.
CLEAR_DELETES = frozenset({"criterion_scores", "potential"})

_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]")


def editor_value(value: Any) -> Any:
    """A cell as an editor sends it, as the workbench takes it: blanks (``""``, NaN, NA) are
    None, a date-time of a date column is its day."""
    value = plain(value)
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None
        if _ISO_DATETIME.match(value):
            return value[:10]
    if isinstance(value, dt.datetime):
        return value.date()
    return value


def _key(table: str, row: Mapping[str, Any]) -> tuple:
    return tuple(editor_value(row[k]) for k in EDITABLE[table].key)


def operations(table: str, base: pd.DataFrame, edits: Mapping[str, Any] | None,
               defaults: Mapping[str, Any] | None = None) -> list[Operation]:
    """The operations that the user's ``edits`` of the snapshot ``base`` amount to.

    ``edits`` has ``edited_rows`` (row position → column → value), ``added_rows`` (a list of
    column → value) and ``deleted_rows`` (row positions); ``defaults`` fill added rows (the
    account they belong to). Columns that are not the table's (labels an editor shows) are
    ignored. A changed key column (a relationship moved to another team member, a competitor
    renamed) is the old record deleted and a new one added, in the same save.
    """
    spec = EDITABLE[table]
    columns = set(spec.table.column_names)
    edits = edits or {}
    defaults = dict(defaults or {})
    ops: list[Operation] = []
    deleted = {int(p) for p in edits.get("deleted_rows") or []}
    for pos, cells in sorted(((int(p), c) for p, c in (edits.get("edited_rows") or {}).items()),
                             key=lambda item: item[0]):
        if pos in deleted or pos >= len(base):
            continue
        row = base.iloc[pos]
        changes = {c: editor_value(v) for c, v in cells.items() if c in columns}
        if not changes:
            continue
        current = {c: editor_value(row[c]) for c in spec.table.column_names if c in base.columns}
        if not bool(row["_exists"]):
            values = {**defaults, **{k: v for k, v in current.items() if v is not None}, **changes}
            if all(values.get(c.name) is None for c in spec.value_columns if c.name in base.columns):
                continue  # a row without a record, left blank: nothing to add
            ops.append(Create(table, _without_generated(spec.generated, values)))
            continue
        key = _key(table, row)
        version = int(row["_version"])
        if any(k in changes and changes[k] != current.get(k) for k in spec.key):
            ops.append(Delete(table, key, seen=version))
            ops.append(Create(table, _without_generated(spec.generated, {**current, **changes})))
            continue
        shown_values = [c.name for c in spec.value_columns if c.name in base.columns and c.name not in defaults]
        if table in CLEAR_DELETES and all({**current, **changes}.get(c) is None for c in shown_values):
            ops.append(Delete(table, key, seen=version))
            continue
        ops.append(Update(table, key, {c: v for c, v in changes.items() if c not in spec.key}, seen=version))
    for added in edits.get("added_rows") or []:
        values = {c: editor_value(v) for c, v in added.items() if c in columns}
        if all(v is None for v in values.values()):
            continue  # an empty row the user added and left
        ops.append(Create(table, _without_generated(spec.generated, {**defaults, **values})))
    for pos in sorted(deleted):
        if pos < len(base) and bool(base.iloc[pos]["_exists"]):
            ops.append(Delete(table, _key(table, base.iloc[pos]), seen=int(base.iloc[pos]["_version"])))
    return ops


def _without_generated(generated: str | None, values: dict[str, Any]) -> dict[str, Any]:
    # a generated id (contact_id, action_id) is the workbench's to give
    return {c: v for c, v in values.items() if c != generated}


def pending(edits: Mapping[str, Any] | None) -> int:
    """How many rows the user changed, added or deleted (0: nothing to save)."""
    if not edits:
        return 0
    added = [r for r in edits.get("added_rows") or [] if any(editor_value(v) is not None for v in r.values())]
    return len(edits.get("edited_rows") or {}) + len(added) + len(edits.get("deleted_rows") or [])


# ---------------------------------------------------------------- the rows an editor shows


def editor_rows(workbench: Workbench, table: str, account_id: str) -> pd.DataFrame:
    """The effective records of ``table`` for one account, with ``_exists`` and ``_version``
    (and ``_origin``, ``_changed_by``, ``_changed_at``); for the potential and the manual
    scores also a row for each product line or manual criterion without a record."""
    rows = workbench.records(table, account_id)
    rows.insert(len(rows.columns), "_exists", True)
    if table == "potential":
        return _with_missing(rows, _product_lines(workbench, account_id), "product_line", account_id)
    if table == "criterion_scores":
        frame = _with_missing(rows, manual_criteria(workbench)["criterion_id"].tolist(), "criterion_id",
                              account_id)
        manual = set(manual_criteria(workbench)["criterion_id"])
        return frame[frame["criterion_id"].isin(manual)].reset_index(drop=True)
    return rows.reset_index(drop=True)


def _with_missing(rows: pd.DataFrame, wanted: list[str], column: str, account_id: str) -> pd.DataFrame:
    missing = [v for v in wanted if v not in set(rows[column].dropna())]
    if not missing:
        return rows.reset_index(drop=True)
    extra = pd.DataFrame({c: [None] * len(missing) for c in rows.columns}, dtype=object)
    extra["account_id"] = account_id
    extra[column] = missing
    extra["_exists"] = False
    extra["_version"] = 0
    extra["_origin"] = "none"
    combined = pd.concat([rows.astype(object), extra], ignore_index=True).infer_objects()
    text = {c: rows[c].dtype for c in rows.columns if pd.api.types.is_string_dtype(rows[c].dtype)}
    return combined.astype(text).sort_values(column, kind="stable").reset_index(drop=True)


PRODUCT_LINES_SQL = """
select distinct product_line
from {table}
where account_id = $account and product_line is not null
"""


def _product_lines(workbench: Workbench, account_id: str) -> list[str]:
    """The product lines the account buys or is offered (revenue, opportunities)."""
    cur = workbench.dataset()
    present = loaded_tables(cur)
    lines: set[str] = set()
    for table in ("revenue", "opportunities"):
        if table in present:
            lines |= {r[0] for r in cur.execute(PRODUCT_LINES_SQL.format(table=table),
                                                {"account": account_id}).fetchall()}
    return sorted(lines)


MANUAL_CRITERIA_SQL = """
select criterion_id, name, axis, weight
from criteria
where coalesce(source, 'manual') = 'manual'
order by axis, criterion_id
"""


def manual_criteria(workbench: Workbench) -> pd.DataFrame:
    """The criteria scored by hand (``source`` manual): the ones a manual score counts for."""
    cur = workbench.dataset()
    if "criteria" not in loaded_tables(cur):
        return pd.DataFrame({"criterion_id": pd.Series(dtype="str"), "name": pd.Series(dtype="str"),
                             "axis": pd.Series(dtype="str"), "weight": pd.Series(dtype="float64")})
    return fetch_frame(cur, MANUAL_CRITERIA_SQL)
