"""Tables that were not loaded: the one way the metrics handle them (spec §3: a metric whose
whole table was not loaded is null; a loaded but empty table gives 0).

Every query names its input tables by their bare names. Before it runs, ``reading(con)``
opens a private cursor on which each canonical table that was not loaded is a temporary,
empty view with the canonical columns and types of ``schema.TABLES`` — so one query serves
every combination of loaded tables — and ``table_flags`` gives the ``$has_<table>``
parameters that turn the metrics needing a missing table into null. ``FILLS`` is the one
list of what each table fills, behind every "needs X.csv" message.

>>> import duckdb
>>> from kam_core.ingest.schema import create_schema
>>> con = duckdb.connect()
>>> create_schema(con, tables=["accounts"])
>>> with reading(con) as cur:
...     cur.execute("select count(*) from revenue").fetchall()
[(0,)]
>>> missing_messages(loaded_inputs(con), "growth")[0]
'needs revenue.csv for ttm_revenue, revenue_growth, gross margin, share_of_wallet and whitespace'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb

from kam_core.ingest.schema import LOAD_ORDER, TABLES
from kam_core.sqlutil import quote_ident

# What each canonical table fills, by area of the app: the one list behind every message
# that names a file to load.
FILLS: dict[str, dict[str, str]] = {
    "growth": {
        "accounts": "every growth metric",
        "revenue": "ttm_revenue, revenue_growth, gross margin, share_of_wallet and whitespace",
        "opportunities": "open_pipeline, weighted_pipeline, win_rate",
        "potential": "share_of_wallet, whitespace, open_lines",
    },
    "plan": {
        "accounts": "every plan figure",
        "plan_actions": "open, overdue and done actions",
        "reviews": "last review, days since review and overdue reviews",
        "team": "mentor names",
    },
    "coverage": {
        "contacts": "relationship coverage",
        "relationships": "relationship coverage",
    },
    "health": {
        "contacts": "the coverage component and the king's attitude",
        "relationships": "the coverage component",
        "revenue": "the growth and margin components",
        "reviews": "the plan component and the mentor's latest rating",
        "plan_actions": "overdue plan actions",
        "activities": "the activity component",
    },
    "scores": {
        "criteria": "attractiveness, strength, tiers and quadrants",
        "criterion_scores": "the manual criteria's scores",
    },
}


# The tables and the views of the connection's databases, not its temporary ones (the
# stand-ins and step tables of a run are temporary: they never count as loaded); a view with
# its text.
RELATIONS_SQL = """
select
    table_name as name,
    database_name as catalog,
    database_name = current_database() as is_default,
    null as view_sql,
from duckdb_tables()
where schema_name = 'main'
    and not temporary
"""
# (two queries: one union of both planned and ran slower, 3.0 against 1.4 ms)
VIEWS_SQL = """
select
    view_name as name,
    database_name as catalog,
    database_name = current_database() as is_default,
    sql as view_sql,
from duckdb_views()
where schema_name = 'main'
    and not temporary
    and not internal
"""

# A view that reads a table of an attached database as it is (``kam_core.dataset``).
_PLAIN_VIEW = re.compile(r"create view (\w+) as select \* from (\w+)\.main\.(\w+);?", re.IGNORECASE)


@dataclass(frozen=True)
class Relations:
    """What the connection's bare table names read.

    ``present``: every table and view name (loaded or stored, not temporary). ``plain``: the
    names that read a database table unchanged — a table of the default database, or a view
    that is ``select * from <catalog>.main.<same name>`` (a dataset connection's plain view;
    a view the workbench laid the team's edits over is not plain) — each with the catalog of
    that table, so a stored result can be matched with the tables it was computed from.
    """

    present: frozenset[str]
    plain: Mapping[str, str]


def relations(con: duckdb.DuckDBPyConnection) -> Relations:
    """The connection's relations (two catalog queries: its tables and its views)."""
    present: set[str] = set()
    plain: dict[str, str] = {}
    rows = con.execute(RELATIONS_SQL).fetchall() + con.execute(VIEWS_SQL).fetchall()
    for name, catalog, is_default, view_sql in rows:
        present.add(name)
        if not is_default:  # a bare name reads the default database's relation
            continue
        if view_sql is None:
            plain[name] = catalog
            continue
        match = _PLAIN_VIEW.fullmatch(" ".join(view_sql.split()))
        if match and match.group(1) == name == match.group(3):
            plain[name] = match.group(2)
    return Relations(frozenset(present), plain)


def present_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Names of the tables and views of the connection's databases, not its temporary ones
    (the stand-ins and step tables of a run are temporary: they never count as loaded)."""
    return set(relations(con).present)


def loaded_inputs(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """The canonical tables that were loaded (a table not in the export is not created at
    all, so "not loaded" — null, with an explanation — differs from "loaded but empty" — 0)."""
    return frozenset(present_tables(con) & set(TABLES))


def missing_files(loaded: Iterable[str], area: str) -> list[str]:
    """The tables of ``area`` (a key of ``FILLS``) that were not loaded, in ``FILLS`` order."""
    present = set(loaded)
    return [table for table in FILLS[area] if table not in present]


def missing_messages(loaded: Iterable[str], area: str) -> list[str]:
    """One sentence per missing table of ``area``: ``needs revenue.csv for ...``."""
    return [f"needs {table}.csv for {FILLS[area][table]}" for table in missing_files(loaded, area)]


def table_flags(loaded: Iterable[str]) -> dict[str, bool]:
    """``has_<table>`` for every canonical table: the parameters queries test."""
    present = set(loaded)
    return {f"has_{name}": name in present for name in LOAD_ORDER}


STAND_IN_SQL = "create temp view {name} as select {columns} where false"


def stand_in_sql(table: str) -> str:
    """The empty stand-in of a canonical table: its columns and types, no rows."""
    columns = ", ".join(
        f"cast(null as {column.sql_type}) as {quote_ident(column.name)}" for column in TABLES[table].columns
    )
    return STAND_IN_SQL.format(name=quote_ident(table), columns=columns)


def add_stand_ins(cur: duckdb.DuckDBPyConnection, loaded: Iterable[str]) -> None:
    """Create the empty stand-in of every canonical table not in ``loaded`` on ``cur``.

    Temporary objects belong to the cursor that made them: other cursors of the connection
    (other sessions of the app) never see them.
    """
    present = set(loaded)
    for table in LOAD_ORDER:
        if table not in present:
            cur.execute(stand_in_sql(table))


@contextmanager
def reading(con: duckdb.DuckDBPyConnection, loaded: Iterable[str] | None = None
            ) -> Iterator[duckdb.DuckDBPyConnection]:
    """A private cursor of ``con`` on which every canonical table can be read, loaded or not.

    Closing it drops its temporary objects (stand-ins and step tables).
    """
    cur = con.cursor()
    try:
        add_stand_ins(cur, loaded_inputs(con) if loaded is None else loaded)
        yield cur
    finally:
        cur.close()
