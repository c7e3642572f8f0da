"""Relationship coverage (spec §3.2): who in the team knows whom at the customer, how well.

Every relationship has an *effective strength*
``e = strength / 4 × 0.5^(days_since_last_contact / half_life_days)`` (no last-contact date:
no decay; a last contact after ``as_of`` counts as 0 days). A contact's ``eᶜ`` is the best
``e`` over its relationships (0 if none) and ``vᶜ`` its piece value. Only active team
members and active contacts count anywhere in this module; without a ``team`` table every
member counts as active.

Every metric is computed in one DuckDB query per result. The key-person dependency does not
recompute coverage per member: per contact it keeps the best ``e`` (``e1``, member ``m1``)
and the best ``e`` of a *different* member (``e2``, 0 if none). Removing member ``m`` only
changes the contacts whose ``m1`` is ``m``; their ``eᶜ`` drops to ``e2``. So
``loss(m) = Σ vᶜ·(e1 − e2)`` over those contacts, and a tie for the best relationship
(``e1 = e2``) loses nothing.

>>> import datetime as dt, duckdb
>>> from kam_core.ingest.schema import create_schema
>>> from kam_core.settings import Settings
>>> con = duckdb.connect()
>>> create_schema(con, tables=["accounts", "contacts", "relationships"])
>>> _ = con.execute("insert into accounts (account_id, name) values ('A', 'Acme')")
>>> _ = con.execute("insert into contacts (contact_id, account_id, name, piece, attitude, "
...                 "is_active) values ('C1', 'A', 'Kim', 'king', 'neutral', true)")
>>> _ = con.execute("insert into relationships values ('M1', 'C1', 4, null)")
>>> df = coverage_by_account(con, Settings(), dt.date(2025, 1, 1))
>>> float(df.loc[0, "coverage"]), bool(df.loc[0, "king_covered"]), df.loc[0, "key_person_id"]
(100.0, True, 'M1')
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import pandas as pd

from kam_core.errors import KamError
from kam_core.metrics.pipeline import run_pipeline, step_params
from kam_core.metrics.sources import loaded_inputs, missing_files, reading
from kam_core.settings import Settings
from kam_core.sqlutil import fetch_frame, quote_ident

__all__ = [
    "BREAKDOWN_DIMENSIONS",
    "CoverageError",
    "coverage_breakdown",
    "coverage_by_account",
    "dependency_by_member",
    "gap_list",
    "missing_inputs",
    "missing_inputs_message",
    "opponent_list",
    "relationship_map",
    "team_account_matrix",
]

# Contact columns coverage can be broken down by (spec §3.2).
BREAKDOWN_DIMENSIONS: tuple[str, ...] = ("level", "department", "location")

# Tables the relationship metrics need.
REQUIRED_TABLES: tuple[str, ...] = ("contacts", "relationships")


class CoverageError(KamError, ValueError):
    """A coverage function was called with an argument it cannot use."""


# Shared steps: value tables from the settings, the team members (without a team table every
# member named in a relationship counts as active), effective strength of every relationship,
# the active contacts with their best (e1, m1) and runner-up (e2) relationship.
# Parameters: $piece_names, $piece_values, $attitude_names, $attitude_values, $as_of,
# $half_life_days, $account_id (null = all accounts), $has_team.
_BASE_CTES = """
members_src as (
    select
        member_id,
        name as member_name,
        role as member_role,
        department,
        location,
        coalesce(is_active, true) as is_active,
    from team
    union all
    select distinct
        member_id,
        null as member_name,
        null as member_role,
        null as department,
        null as location,
        true as is_active,
    from relationships
    where not $has_team
),

piece_values as (
    select
        unnest($piece_names::varchar[]) as piece,
        unnest($piece_values::double[]) as piece_value,
),

attitude_values as (
    select
        unnest($attitude_names::varchar[]) as attitude,
        unnest($attitude_values::double[]) as attitude_value,
),

relationship_strengths as (
    select
        member_id,
        contact_id,
        strength,
        last_contact_date,
        -- a last contact after as_of counts as 0 days; no date: null here, no decay below
        -- (greatest() would skip a null and give 0)
        case
            when last_contact_date is not null
                then greatest(date_diff('day', last_contact_date, $as_of::date), 0)
        end as days_since_contact,
        strength / 4
            * pow(0.5, coalesce(days_since_contact, 0) / $half_life_days::double)
            as effective_strength,
    from relationships
),

active_contacts as (
    select
        contacts.contact_id,
        contacts.account_id,
        contacts.name,
        contacts.title,
        contacts.level,
        contacts.department,
        contacts.location,
        coalesce(contacts.piece, 'pawn') as piece,
        coalesce(piece_values.piece_value, 0) as piece_value,
        coalesce(contacts.attitude, 'neutral') as attitude,
        coalesce(attitude_values.attitude_value, 0) as attitude_value,
    from contacts
    left join piece_values
        on piece_values.piece = coalesce(contacts.piece, 'pawn')
    left join attitude_values
        on attitude_values.attitude = coalesce(contacts.attitude, 'neutral')
    where coalesce(contacts.is_active, true)
        and ($account_id::varchar is null or contacts.account_id = $account_id::varchar)
),

active_members as (
    select
        member_id,
        member_name,
    from members_src
    where is_active
),

effective_relationships as (
    select
        relationship_strengths.member_id,
        relationship_strengths.contact_id,
        active_contacts.account_id,
        relationship_strengths.strength,
        relationship_strengths.effective_strength,
    from relationship_strengths
    inner join active_contacts
        on active_contacts.contact_id = relationship_strengths.contact_id
    inner join active_members
        on active_members.member_id = relationship_strengths.member_id
),

contact_best as (
    -- (member, contact) is the relationships key, so the second-best value of the
    -- top-2 list always belongs to a different member than the best one
    select
        contact_id,
        max(effective_strength) as best_strength,
        arg_min(member_id, (-effective_strength, member_id)) as best_member_id,
        coalesce(max(effective_strength, 2)[2], 0) as second_strength,
    from effective_relationships
    group by contact_id
),

contact_coverage as (
    select
        active_contacts.*,
        coalesce(contact_best.best_strength, 0) as best_strength,
        contact_best.best_member_id,
        coalesce(contact_best.second_strength, 0) as second_strength,
    from active_contacts
    left join contact_best
        on contact_best.contact_id = active_contacts.contact_id
),

member_losses as (
    -- removing a member only lowers the contacts it is the best relationship of,
    -- each down to the runner-up's strength; a tie for the best loses nothing
    select
        account_id,
        best_member_id as member_id,
        sum(piece_value * (best_strength - second_strength)) as value_lost,
    from contact_coverage
    where best_strength > second_strength
    group by account_id, best_member_id
)"""

# Per (active member, account) the member has a relationship in.
# Extra parameter: $member_id (null = every member).
DEPENDENCY_BY_MEMBER_SQL = """
account_values as (
    select
        account_id,
        sum(piece_value) as total_value,
        sum(piece_value * best_strength) as covered_value,
    from contact_coverage
    group by account_id
),

member_accounts as (
    select distinct
        member_id,
        account_id,
    from effective_relationships
    where $member_id::varchar is null or member_id = $member_id::varchar
),

member_coverage as (
    select
        member_accounts.member_id,
        active_members.member_name,
        member_accounts.account_id,
        account_values.covered_value,
        100 * account_values.covered_value / nullif(account_values.total_value, 0) as coverage,
        100 * coalesce(member_losses.value_lost, 0)
            / nullif(account_values.total_value, 0) as coverage_lost,
        coalesce(member_losses.value_lost, 0) as value_lost,
    from member_accounts
    inner join active_members
        on active_members.member_id = member_accounts.member_id
    inner join account_values
        on account_values.account_id = member_accounts.account_id
    left join member_losses
        on member_losses.account_id = member_accounts.account_id
        and member_losses.member_id = member_accounts.member_id
),

final as (
    select
        member_id,
        member_name,
        account_id,
        coverage,
        coverage - coverage_lost as coverage_without,
        coverage_lost,
        case
            when coverage is null then null
            when round(coverage, 6) = 0 then 0
            else value_lost / covered_value
        end as share_lost,
    from member_coverage
)

select * from final
order by member_id, share_lost desc nulls last, account_id
"""

# Grouped by one contact column; {dimension} is a quoted identifier from
# BREAKDOWN_DIMENSIONS, never user text. Extra parameter: $has_relationships.
COVERAGE_BREAKDOWN_SQL = """
final as (
    select
        account_id,
        {dimension},
        count(*) as contacts_count,
        case
            when $has_relationships
                then 100 * sum(piece_value * best_strength) / nullif(sum(piece_value), 0)
        end as coverage,
    from contact_coverage
    group by account_id, {dimension}
)

select * from final
order by account_id, {dimension} nulls last
"""

# High-influence contacts nobody covers. Extra: $covered_threshold, $high_influence_value.
GAP_LIST_SQL = """
final as (
    select
        account_id,
        contact_id,
        name,
        title,
        level,
        department,
        piece,
        piece_value,
        attitude,
        best_strength,
        best_member_id,
    from contact_coverage
    where round(piece_value, 6) >= $high_influence_value
        and round(best_strength, 6) < $covered_threshold
)

select * from final
order by piece_value desc, best_strength, account_id, contact_id
"""

# High-influence contacts against us (attitude < 0, vᶜ ≥ high_influence_value).
# Extra parameters: $high_influence_value.
OPPONENT_LIST_SQL = """
final as (
    select
        account_id,
        contact_id,
        name,
        title,
        level,
        department,
        piece,
        piece_value,
        attitude,
        best_strength,
        best_member_id,
        attitude_value,
    from contact_coverage
    where round(attitude_value, 6) < 0
        and round(piece_value, 6) >= $high_influence_value
)

select * exclude (attitude_value) from final
order by piece_value desc, attitude_value, account_id, contact_id
"""

# Per (active member, account): how much of the account's influence the member reaches.
TEAM_ACCOUNT_MATRIX_SQL = """
account_values as (
    select
        account_id,
        sum(piece_value) as total_value,
    from active_contacts
    group by account_id
),

member_reach as (
    select
        effective_relationships.member_id,
        effective_relationships.account_id,
        count(*) as contacts_count,
        max(effective_relationships.strength) as best_strength,
        sum(active_contacts.piece_value * effective_relationships.effective_strength)
            as reached_value,
    from effective_relationships
    inner join active_contacts
        on active_contacts.contact_id = effective_relationships.contact_id
    group by effective_relationships.member_id, effective_relationships.account_id
),

final as (
    select
        member_reach.member_id,
        active_members.member_name,
        member_reach.account_id,
        member_reach.contacts_count,
        member_reach.best_strength,
        -- the coverage this member alone gives the account (0–100)
        case
            when account_values.total_value > 0
                then 100 * member_reach.reached_value / account_values.total_value
        end as coverage_alone,
    from member_reach
    inner join account_values
        on account_values.account_id = member_reach.account_id
    inner join active_members
        on active_members.member_id = member_reach.member_id
)

select * from final
order by member_id, coverage_alone desc nulls last, account_id
"""

# The account's people (active or not) and the team members who know them.
RELATIONSHIP_MAP_EDGES_SQL = """
account_people as (
    select contact_id
    from contacts
    where account_id = $account_id::varchar
),

final as (
    select
        relationship_strengths.member_id,
        relationship_strengths.contact_id,
        relationship_strengths.strength,
        relationship_strengths.last_contact_date,
        relationship_strengths.days_since_contact,
        relationship_strengths.effective_strength,
    from relationship_strengths
    inner join account_people
        on account_people.contact_id = relationship_strengths.contact_id
)

select * from final
order by member_id, contact_id
"""

RELATIONSHIP_MAP_NODES_SQL = """
account_people as (
    select
        contacts.contact_id,
        contacts.name,
        contacts.title,
        contacts.level,
        contacts.department,
        contacts.location,
        coalesce(contacts.piece, 'pawn') as piece,
        coalesce(piece_values.piece_value, 0) as piece_value,
        coalesce(contacts.attitude, 'neutral') as attitude,
        coalesce(contacts.is_active, true) as is_active,
    from contacts
    left join piece_values
        on piece_values.piece = coalesce(contacts.piece, 'pawn')
    where contacts.account_id = $account_id::varchar
),

account_members as (
    select distinct relationship_strengths.member_id
    from relationship_strengths
    inner join account_people
        on account_people.contact_id = relationship_strengths.contact_id
),

member_nodes as (
    select
        account_members.member_id as node_id,
        'member' as kind,
        coalesce(members_src.member_name, account_members.member_id) as label,
        members_src.member_role as title,
        null::varchar as level,
        members_src.department,
        members_src.location,
        null::varchar as piece,
        null::double as piece_value,
        null::varchar as attitude,
        -- a member missing from a loaded team table is not an active team member
        coalesce(members_src.is_active, false) as is_active,
        0 as kind_order,
    from account_members
    left join members_src
        on members_src.member_id = account_members.member_id
),

contact_nodes as (
    select
        contact_id as node_id,
        'contact' as kind,
        name as label,
        title,
        level,
        department,
        location,
        piece,
        piece_value,
        attitude,
        is_active,
        1 as kind_order,
    from account_people
),

final as (
    select * from member_nodes
    union all
    select * from contact_nodes
)

select * exclude (kind_order) from final
order by kind_order, node_id
"""

# Column dtypes of every result, so a frame looks the same with or without nulls or rows.
_DEPENDENCY_DTYPES: dict[str, str] = {
    "member_id": "str",
    "member_name": "str",
    "account_id": "str",
    "coverage": "float64",
    "coverage_without": "float64",
    "coverage_lost": "float64",
    "share_lost": "float64",
}
_GAP_DTYPES: dict[str, str] = {
    "account_id": "str",
    "contact_id": "str",
    "name": "str",
    "title": "str",
    "level": "str",
    "department": "str",
    "piece": "str",
    "piece_value": "float64",
    "attitude": "str",
    "best_strength": "float64",
    "best_member_id": "str",
}
_MATRIX_DTYPES: dict[str, str] = {
    "member_id": "str",
    "member_name": "str",
    "account_id": "str",
    "contacts_count": "Int64",
    "best_strength": "Int64",
    "coverage_alone": "float64",
}
_NODE_DTYPES: dict[str, str] = {
    "node_id": "str",
    "kind": "str",
    "label": "str",
    "title": "str",
    "level": "str",
    "department": "str",
    "location": "str",
    "piece": "str",
    "piece_value": "float64",
    "attitude": "str",
    "is_active": "boolean",
}
_EDGE_DTYPES: dict[str, str] = {
    "member_id": "str",
    "contact_id": "str",
    "strength": "Int64",
    "last_contact_date": "datetime64[us]",
    "days_since_contact": "Int64",
    "effective_strength": "float64",
}


# ---------------------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------------------


def missing_inputs(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Tables the relationship metrics need that were not loaded, in load order.

    An empty list means every coverage metric can be computed. The team table is optional
    (without it every member counts as active), so it is never listed.

    >>> import duckdb
    >>> from kam_core.ingest.schema import create_schema
    >>> con = duckdb.connect()
    >>> create_schema(con, tables=["accounts", "contacts"])
    >>> missing_inputs(con)
    ['relationships']
    """
    return missing_files(loaded_inputs(con), "coverage")


def missing_inputs_message(con: duckdb.DuckDBPyConnection) -> str | None:
    """A sentence for the app naming the exports that would fill the coverage metrics.

    ``None`` when nothing is missing, e.g.
    ``"Relationship coverage needs contacts.csv and relationships.csv (not loaded)."``
    """
    missing = missing_inputs(con)
    if not missing:
        return None
    files = " and ".join(f"{t}.csv" for t in missing)
    return f"Relationship coverage needs {files} (not loaded)."


def coverage_by_account(
    con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date
) -> pd.DataFrame:
    """One row per account (all accounts, with or without contacts), ordered by account_id:
    the pipeline's step ``coverage`` (``sql/coverage.sql``).

    Columns: ``account_id``; ``contacts_count`` (active contacts); ``coverage`` (0–100,
    ``100 × Σ vᶜ·eᶜ / Σ vᶜ``, null without active contacts); ``key_players_covered`` (0–1
    share of kings, queens and rooks with ``eᶜ ≥ covered_threshold``, null if there are
    none); ``king_covered``; ``threads`` (active members with strength ≥ thread_strength
    to an active contact) and ``single_threaded`` (threads ≤ 1); ``key_person_dependency``
    (0–1, the largest share of coverage one member's leaving would cost) and
    ``key_person_id`` (that member; null when nobody's leaving costs anything; the smallest
    member_id on a tie); ``support_balance`` (``Σ vᶜ·attitudeᶜ``);
    ``high_influence_opponents``; ``king_attitude`` (the worst attitude of the active kings).

    Nulls: without a contacts table every metric is null; without a relationships table the
    relationship metrics (coverage, key_players_covered, threads, single_threaded,
    key_person_*) are null. ``king_covered`` is false when the account has no active king
    (not knowing the decision maker is itself a finding), null when no contacts table was
    loaded, and null when there is a king but no relationships table to tell.
    """
    with run_pipeline(con, settings, as_of, ("coverage",)) as steps:
        return steps.frame("coverage")


def dependency_by_member(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    as_of: dt.date,
    member_id: str | None = None,
) -> pd.DataFrame:
    """What each account would lose if one team member left: "which accounts depend on Anna?".

    One row per (active member, account) where the member has a relationship with an
    active contact of the account, ordered by member_id, then the largest share lost first.
    Columns: ``member_id``, ``member_name`` (null without a team table), ``account_id``,
    ``coverage`` (0–100), ``coverage_without`` (coverage if the member left),
    ``coverage_lost`` (points, 0–100) and ``share_lost`` (0–1 of the coverage; 0 when
    coverage is 0). ``member_id`` limits the result to one member. Empty without contacts
    or relationships tables.
    """
    return _query(con, settings, as_of, DEPENDENCY_BY_MEMBER_SQL, _DEPENDENCY_DTYPES,
                  {"member_id": member_id}, needs=REQUIRED_TABLES)


def coverage_breakdown(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    as_of: dt.date,
    by: str,
    account_id: str | None = None,
) -> pd.DataFrame:
    """Coverage per account within each value of a contact column (level, department, location).

    Columns: ``account_id``, ``<by>`` (null is its own group), ``contacts_count`` (active
    contacts in the group) and ``coverage`` (0–100, the account formula within the group;
    null without a relationships table or when the group's pieces are all worth 0).
    Only groups with active contacts appear. ``account_id`` limits the result to one account.

    >>> coverage_breakdown(None, Settings(), dt.date(2025, 1, 1), by="piece")
    Traceback (most recent call last):
    ...
    kam_core.metrics.coverage.CoverageError: cannot break coverage down by 'piece': expected one of level, department, location
    """
    if by not in BREAKDOWN_DIMENSIONS:
        raise CoverageError(
            f"cannot break coverage down by {by!r}: expected one of "
            f"{', '.join(BREAKDOWN_DIMENSIONS)}"
        )
    dtypes = {"account_id": "str", by: "str", "contacts_count": "Int64", "coverage": "float64"}
    tail = COVERAGE_BREAKDOWN_SQL.replace("{dimension}", quote_ident(by))
    return _query(con, settings, as_of, tail, dtypes, {"account_id": account_id}, needs=("contacts",))


def gap_list(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    as_of: dt.date,
    account_id: str | None = None,
) -> pd.DataFrame:
    """Influential contacts nobody in the team reaches: the relationships to build next.

    Active contacts with ``vᶜ ≥ high_influence_value`` and ``eᶜ < covered_threshold``, most
    valuable first (then the weakest, then by account and contact). Columns:
    ``account_id``, ``contact_id``, ``name``, ``title``, ``level``, ``department``,
    ``piece``, ``piece_value``, ``attitude``, ``best_strength`` (``eᶜ``, 0–1) and
    ``best_member_id`` (who holds that best relationship; null if nobody has one; the
    smallest member_id on a tie). Empty without contacts or relationships tables.
    """
    return _query(con, settings, as_of, GAP_LIST_SQL, _GAP_DTYPES, {"account_id": account_id},
                  needs=REQUIRED_TABLES)


def opponent_list(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    as_of: dt.date,
    account_id: str | None = None,
) -> pd.DataFrame:
    """High-influence opponents: active contacts with a negative attitude and
    ``vᶜ ≥ high_influence_value``, most powerful first. Columns as ``gap_list``. Empty
    without a contacts table (relationship columns 0/null without relationships)."""
    return _query(con, settings, as_of, OPPONENT_LIST_SQL, _GAP_DTYPES, {"account_id": account_id},
                  needs=("contacts",))


def team_account_matrix(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    as_of: dt.date,
) -> pd.DataFrame:
    """Per active team member and account: contacts known, best strength (0–4) and
    ``coverage_alone`` — the coverage (0–100) the account would have with only this member's
    relationships. The data of the team × account heatmap. Empty without contacts or
    relationships tables."""
    return _query(con, settings, as_of, TEAM_ACCOUNT_MATRIX_SQL, _MATRIX_DTYPES, {}, needs=REQUIRED_TABLES)


def relationship_map(
    con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date, account_id: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The account's people and the team members who know them, for a network chart.

    Returns ``(nodes, edges)``. Nodes: every contact of the account (active or not) and
    every team member with a relationship to one of them, members first:
    ``node_id`` (member_id or contact_id; ``kind`` tells which), ``kind`` ('member' or
    'contact'), ``label`` (name; a member without a team table is labelled by its id),
    ``title`` (a member's role, a contact's title), ``level``, ``department``,
    ``location``, ``piece``, ``piece_value``, ``attitude`` (contacts only) and
    ``is_active`` (without a team table every member is active). Edges: ``member_id``,
    ``contact_id``, ``strength`` (0–4), ``last_contact_date``, ``days_since_contact``
    (null without a date, 0 for a contact after as_of) and ``effective_strength`` (0–1).
    Inactive people stay on the map, flagged, so the chart can grey them out; the metrics
    ignore them. An unknown account gives empty frames.
    """
    params = {"account_id": account_id}
    nodes = _query(con, settings, as_of, RELATIONSHIP_MAP_NODES_SQL, _NODE_DTYPES, params, needs=("contacts",))
    edges = _query(con, settings, as_of, RELATIONSHIP_MAP_EDGES_SQL, _EDGE_DTYPES, params, needs=("contacts",))
    return nodes, edges


# Every query of this module: the shared steps, then one tail (the SQL test runs them all).
QUERIES: dict[str, str] = {
    "dependency_by_member": DEPENDENCY_BY_MEMBER_SQL,
    "coverage_breakdown": COVERAGE_BREAKDOWN_SQL.replace("{dimension}", quote_ident("level")),
    "gap_list": GAP_LIST_SQL,
    "opponent_list": OPPONENT_LIST_SQL,
    "team_account_matrix": TEAM_ACCOUNT_MATRIX_SQL,
    "relationship_map_nodes": RELATIONSHIP_MAP_NODES_SQL,
    "relationship_map_edges": RELATIONSHIP_MAP_EDGES_SQL,
}


def query_sql(tail: str) -> str:
    """The full query: the shared steps of ``_BASE_CTES``, then ``tail``."""
    return "with\n" + _BASE_CTES.strip("\n") + ",\n\n" + tail.strip("\n")


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


def _query(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date, tail: str,
           dtypes: dict[str, str], extra: dict[str, Any], needs: tuple[str, ...]) -> pd.DataFrame:
    """Run one query of this module on a reading cursor, with stable dtypes; empty (with the
    columns) when a table it ``needs`` was not loaded."""
    loaded = loaded_inputs(con)
    if not set(needs) <= loaded:
        return _empty(dtypes)
    params = step_params(settings, as_of, loaded) | {"account_id": None} | extra
    with reading(con, loaded) as cur:
        return fetch_frame(cur, query_sql(tail), params).astype(dtypes)


def _empty(dtypes: dict[str, str]) -> pd.DataFrame:
    """An empty frame with the given columns and dtypes."""
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes.items()})


def member_exposure(dependencies: pd.DataFrame, accounts: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """What the portfolio would lose per team member ("if this person left"), over the
    accounts in ``accounts`` (account_id, ttm_revenue — a page's filtered account table).

    ``dependencies`` is ``dependency_by_member``'s result. One row per member, the largest
    exposure first: ``member_id``, ``member_name``, ``accounts`` (accounts the member has a
    relationship in), ``accounts_dependent`` (accounts whose coverage the member carries at
    least ``key_person_reason``: the accounts that would name the member as key person),
    ``coverage_points_lost`` (Σ coverage points lost) and ``revenue_weighted_exposure``
    (Σ ttm revenue × share of coverage lost).
    """
    selected = dependencies[dependencies["account_id"].isin(accounts["account_id"])]
    revenue = accounts.set_index("account_id")["ttm_revenue"]
    threshold = float(settings.key_person_reason)
    frame = selected.assign(
        revenue_at_risk=selected["account_id"].map(revenue) * selected["share_lost"],
        is_dependent=selected["share_lost"].round(6) >= threshold,
    )
    per_member = (frame.groupby(["member_id", "member_name"], dropna=False, as_index=False)
                  .agg(accounts=("account_id", "nunique"),
                       accounts_dependent=("is_dependent", "sum"),
                       coverage_points_lost=("coverage_lost", "sum"),
                       revenue_weighted_exposure=("revenue_at_risk", "sum")))
    per_member["accounts_dependent"] = per_member["accounts_dependent"].astype("int64")
    return per_member.sort_values(["revenue_weighted_exposure", "member_id"], ascending=[False, True],
                                  ignore_index=True)
