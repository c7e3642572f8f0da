"""The as-of date every metric is computed for (spec §2)."""

from __future__ import annotations

import datetime as dt

import duckdb

from kam_core.metrics.sources import loaded_inputs
from kam_core.settings import Settings

# Each candidate: (table, SQL expression of a date). Only loaded tables take part.
_CANDIDATES: tuple[tuple[str, str], ...] = (
    ("activities", "select max(date) from activities"),
    ("revenue", "select max(period) from revenue"),
    ("opportunities", "select max(created_date) from opportunities"),
    ("opportunities", "select max(close_date) from opportunities where status in ('won', 'lost')"),
    ("reviews", "select max(review_date) from reviews"),
)


EXPORT_TABLES_SQL = """
select table_name
from duckdb_tables()
where database_name = $catalog
    and schema_name = 'main'
"""


def data_as_of(con: duckdb.DuckDBPyConnection, today: dt.date | None = None) -> dt.date:
    """Latest date in the data, capped at today; today when there is no date at all.

    Periods count as the first day of their month (they are stored that way). The dates are
    the export's: on a dataset connection (``kam_core.dataset``) the attached CRM file's own
    tables, so that what the team records in the app — a review dated today — never moves the
    as-of date of every account (a review recorded after it counts once the data reaches it).
    """
    from kam_core.dataset import CRM_CATALOG

    today = today or dt.date.today()
    tables = loaded_inputs(con)
    export = {name for (name,) in con.execute(EXPORT_TABLES_SQL, {"catalog": CRM_CATALOG}).fetchall()}
    dates = []
    for table, sql in _CANDIDATES:
        if export:  # a dataset connection: the export's rows, without the team's entries
            if table not in export:
                continue
            sql = sql.replace(f"from {table}", f"from {CRM_CATALOG}.main.{table}")
        elif table not in tables:
            continue
        value = con.execute(sql).fetchone()[0]
        if value is not None:
            dates.append(value)
    return min(max(dates), today) if dates else today


def resolve_as_of(
    con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date | str | None = None
) -> dt.date:
    """The as-of date in force: an explicit argument, else the setting, else the data's own."""
    if isinstance(as_of, str):
        as_of = dt.date.fromisoformat(as_of)
    return as_of or settings.as_of or data_as_of(con)
