"""The canonical data model (spec §1): the one place that knows every table and column.

Everything else — the DDL, the loader's parsing and checks, the demo generator's column
order, the Data page — reads from ``TABLES``.

>>> TABLES["accounts"].key
('account_id',)
>>> [c.name for c in TABLES["relationships"].required]
['member_id', 'contact_id', 'strength']
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

# Enumerations: stored lower-case (spec §1).
PHASES = ("pre_sales", "negotiation", "delivery", "review", "growth")
LEVELS = ("executive", "senior", "manager", "operational")
BUYING_ROLES = (
    "economic_buyer",
    "decision_maker",
    "technical_buyer",
    "user",
    "influencer",
    "gatekeeper",
    "coach",
)
PIECES = ("king", "queen", "rook", "bishop", "knight", "pawn")
ATTITUDES = ("champion", "supporter", "neutral", "skeptic", "opponent")
OPPORTUNITY_STATUSES = ("open", "won", "lost")
AXES = ("attractiveness", "strength")
RATINGS = ("on_track", "at_risk", "off_track")
ACTION_STATUSES = ("open", "done")

# Names a criterion's `source` may take besides `manual` (spec §3.1).
DERIVED_METRICS = (
    "annual_revenue",
    "coverage",
    "key_players_covered",
    "threads",
    "support_balance",
    "ttm_revenue",
    "revenue_growth",
    "ttm_gross_margin",
    "gross_margin_pct",
    "gross_margin_growth",
    "share_of_wallet",
    "whitespace",
    "open_pipeline",
    "weighted_pipeline",
    "win_rate",
)
CRITERION_SOURCES = ("manual", *DERIVED_METRICS)

# Accepted spellings that are not the canonical value (after trimming, lower-casing and
# turning spaces and hyphens into underscores). German names follow the seed's phases.
ENUM_ALIASES: dict[str, dict[str, str]] = {
    "phase": {
        "presales": "pre_sales",
        "vorverkauf": "pre_sales",
        "vertragsverhandlung": "negotiation",
        "verhandlung": "negotiation",
        "implementierung": "delivery",
        "lieferung": "delivery",
        "implementierung/lieferung": "delivery",
        "überprüfung": "review",
        "ueberpruefung": "review",
        "ausbeutung": "growth",
        "wachstum": "growth",
    },
    "attitude": {"supporter": "supporter", "skeptical": "skeptic", "sceptic": "skeptic"},
    "status": {"closed_won": "won", "closed_lost": "lost", "offen": "open", "erledigt": "done"},
}


@dataclass(frozen=True)
class Column:
    """One column of the canonical model.

    ``kind`` is the logical type the loader parses text into: text, id, enum, int, float,
    date, month, bool. ``ref`` names ``table.column`` for a foreign key.
    """

    name: str
    kind: str = "text"
    required: bool = False
    enum: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    ref: str | None = None
    default: object = None
    help: str = ""

    @property
    def sql_type(self) -> str:
        return {
            "text": "VARCHAR",
            "id": "VARCHAR",
            "enum": "VARCHAR",
            "int": "INTEGER",
            "float": "DOUBLE",
            "date": "DATE",
            "month": "DATE",
            "bool": "BOOLEAN",
        }[self.kind]


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    help: str = ""
    # Tables loaded before this one that its references point to.
    depends_on: tuple[str, ...] = field(default=())

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[Column]:
        return [c for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}; columns: {self.column_names}")


def _id(name: str, required: bool = False, ref: str | None = None, help: str = "") -> Column:
    return Column(name, "id", required=required, ref=ref, help=help)


def _enum(name: str, values: tuple[str, ...], required: bool = False, default=None) -> Column:
    return Column(name, "enum", required=required, enum=values, default=default)


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "team",
            (
                _id("member_id", True),
                Column("name", required=True),
                Column("role"),
                Column("department"),
                Column("location"),
                Column("is_active", "bool", default=True),
            ),
            key=("member_id",),
            help="the key-account team: account managers, mentors, specialists",
        ),
        Table(
            "accounts",
            (
                _id("account_id", True),
                Column("name", required=True),
                Column("industry"),
                Column("region"),
                Column("country"),
                _id("parent_account_id", ref="accounts.account_id"),
                _id("account_manager_id", ref="team.member_id"),
                _id("mentor_id", ref="team.member_id"),
                _enum("phase", PHASES),
                Column("annual_revenue", "float", min=0),
                Column("key_account_since", "date"),
            ),
            key=("account_id",),
            help="the customers",
            depends_on=("team",),
        ),
        Table(
            "contacts",
            (
                _id("contact_id", True),
                _id("account_id", True, ref="accounts.account_id"),
                Column("name", required=True),
                Column("title"),
                Column("department"),
                _enum("level", LEVELS),
                Column("location"),
                _enum("buying_role", BUYING_ROLES),
                _enum("piece", PIECES, default="pawn"),
                _enum("attitude", ATTITUDES, default="neutral"),
                Column("is_active", "bool", default=True),
            ),
            key=("contact_id",),
            help="the customer's people, with their place on the chess board",
            depends_on=("accounts",),
        ),
        Table(
            "relationships",
            (
                _id("member_id", True, ref="team.member_id"),
                _id("contact_id", True, ref="contacts.contact_id"),
                Column("strength", "int", required=True, min=0, max=4),
                Column("last_contact_date", "date"),
            ),
            key=("member_id", "contact_id"),
            help="who in the team knows whom at the customer, and how well",
            depends_on=("team", "contacts"),
        ),
        Table(
            "activities",
            (
                _id("activity_id"),
                Column("date", "date", required=True),
                _id("account_id", True, ref="accounts.account_id"),
                _id("contact_id", ref="contacts.contact_id"),
                _id("member_id", ref="team.member_id"),
                Column("type"),
            ),
            key=("activity_id",),
            help="meetings, calls and e-mails",
            depends_on=("accounts", "contacts", "team"),
        ),
        Table(
            "revenue",
            (
                _id("account_id", True, ref="accounts.account_id"),
                Column("period", "month", required=True),
                _id("product_line", True),
                Column("revenue", "float", required=True),
                Column("gross_margin", "float"),
            ),
            help="monthly revenue and gross margin per product line",
            depends_on=("accounts",),
        ),
        Table(
            "opportunities",
            (
                _id("opportunity_id", True),
                _id("account_id", True, ref="accounts.account_id"),
                Column("name"),
                _id("product_line"),
                Column("stage"),
                _enum("status", OPPORTUNITY_STATUSES, required=True),
                Column("amount", "float", required=True, min=0),
                Column("probability", "float", min=0, max=1),
                Column("created_date", "date"),
                Column("close_date", "date"),
            ),
            key=("opportunity_id",),
            help="the pipeline: open, won and lost deals",
            depends_on=("accounts",),
        ),
        Table(
            "potential",
            (
                _id("account_id", True, ref="accounts.account_id"),
                _id("product_line", True),
                Column("annual_potential", "float", required=True, min=0),
            ),
            key=("account_id", "product_line"),
            help="the customer's estimated yearly spend per product line",
            depends_on=("accounts",),
        ),
        Table(
            "criteria",
            (
                _id("criterion_id", True),
                Column("name", required=True),
                _enum("axis", AXES, required=True),
                Column("weight", "float", required=True, min=0),
                Column("source", "enum", enum=CRITERION_SOURCES, default="manual"),
            ),
            key=("criterion_id",),
            help="the weighted criteria that select and tier key accounts",
        ),
        Table(
            "criterion_scores",
            (
                _id("account_id", True, ref="accounts.account_id"),
                _id("criterion_id", True, ref="criteria.criterion_id"),
                Column("score", "float", required=True, min=0, max=10),
            ),
            key=("account_id", "criterion_id"),
            help="manual scores (0-10) per account and criterion",
            depends_on=("accounts", "criteria"),
        ),
        Table(
            "plan_actions",
            (
                _id("action_id"),
                _id("account_id", True, ref="accounts.account_id"),
                Column("objective", required=True),
                _id("owner_id", ref="team.member_id"),
                Column("due_date", "date"),
                _enum("status", ACTION_STATUSES, default="open"),
            ),
            key=("action_id",),
            help="the account plan's actions",
            depends_on=("accounts", "team"),
        ),
        Table(
            "reviews",
            (
                _id("account_id", True, ref="accounts.account_id"),
                Column("review_date", "date", required=True),
                _id("mentor_id", ref="team.member_id"),
                _enum("rating", RATINGS),
                Column("notes"),
            ),
            help="the mentor's plan reviews",
            depends_on=("accounts", "team"),
        ),
        Table(
            "competitors",
            (
                _id("account_id", True, ref="accounts.account_id"),
                Column("competitor", required=True),
                _id("product_line"),
                Column("est_share", "float", min=0, max=1),
            ),
            help="who else sells to the customer",
            depends_on=("accounts",),
        ),
    )
}

# Load order: every table after the tables its references point to.
LOAD_ORDER: tuple[str, ...] = (
    "team",
    "accounts",
    "contacts",
    "relationships",
    "activities",
    "revenue",
    "opportunities",
    "potential",
    "criteria",
    "criterion_scores",
    "plan_actions",
    "reviews",
    "competitors",
)
assert set(LOAD_ORDER) == set(TABLES)

# Bookkeeping tables written by every load.
META_DDL = """
create table if not exists rejects (
    source_file varchar,
    row_number bigint,
    table_name varchar,
    raw_row varchar,
    reason varchar
);
create table if not exists warnings (
    source_file varchar,
    row_number bigint,
    table_name varchar,
    column_name varchar,
    value varchar,
    message varchar
);
create table if not exists load_files (
    source_file varchar,
    table_name varchar,
    file_format varchar,
    rows_read bigint,
    rows_loaded bigint,
    rows_rejected bigint,
    fatal_error varchar,
    ignored_columns varchar,
    seconds double
);
create table if not exists load_info (
    key varchar primary key,
    value varchar
);
"""


def reference_noun(table: str) -> str:
    """What one row of ``table`` is called in a message about a reference to it
    ("member_id 'T-9' has no team member in team"); shared by the loader's and the
    workbench's checks.

    >>> [reference_noun(t) for t in ("accounts", "team", "criteria", "opportunities")]
    ['account', 'team member', 'criterion', 'opportunity']
    """
    special = {"team": "team member", "criteria": "criterion", "opportunities": "opportunity",
               "activities": "activity"}
    return special.get(table, table.removesuffix("s"))


def table_ddl(table: Table) -> str:
    """``create table`` statement for one canonical table (no constraints: the loader checks)."""
    cols = ",\n    ".join(f"{c.name} {c.sql_type}" for c in table.columns)
    return f"create table if not exists {table.name} (\n    {cols}\n)"


def create_schema(con: duckdb.DuckDBPyConnection, tables: list[str] | None = None) -> None:
    """Create the canonical tables (all, or the named ones) and the bookkeeping tables."""
    for name in tables if tables is not None else LOAD_ORDER:
        con.execute(table_ddl(TABLES[name]))
    con.execute(META_DDL)


def loaded_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Canonical tables that were loaded (present in the database).

    A table that was not in the source is not created at all, so metrics can tell
    "not loaded" (null, with an explanation) from "loaded but empty" (0).
    """
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = 'main'"
    ).fetchall()
    return {r[0] for r in rows} & set(TABLES)
