"""Whose accounts are whose, read from the loaded database (for the per-account checks, the
"my accounts" filter and the "who am I" choice of the local user).

Each function takes a DuckDB connection or cursor on a loaded dataset (``open_dataset``).

>>> import duckdb
>>> con = duckdb.connect()
>>> _ = con.execute("create table accounts as select * from (values ('A-1', 'T-1', 'T-2'), "
...                 "('A-2', 'T-3', 'T-1'), ('A-3', 'T-3', null)) as t(account_id, account_manager_id, mentor_id)")
>>> own_account_ids(con, "T-1")
['A-1', 'A-2']
>>> account_owner(con, "A-3")
AccountRef(account_id='A-3', mentor_id=None, account_manager_id='T-3')
"""

from __future__ import annotations

import duckdb

from kam_core.access.model import AccountRef

OWN_ACCOUNTS_SQL = """
select account_id
from accounts
where account_manager_id = $member_id
   or mentor_id = $member_id
order by account_id
"""

ACCOUNT_OWNER_SQL = """
select account_id, mentor_id, account_manager_id
from accounts
where account_id = $account_id
"""

TEAM_SQL = """
select member_id, name
from team
order by coalesce(is_active, true) desc, name, member_id
"""


def own_account_ids(con: duckdb.DuckDBPyConnection, member_id: str | None) -> list[str]:
    """The accounts whose account manager or mentor is ``member_id`` (none without one)."""
    if not member_id:
        return []
    return [r[0] for r in con.execute(OWN_ACCOUNTS_SQL, {"member_id": member_id}).fetchall()]


def account_owner(con: duckdb.DuckDBPyConnection, account_id: str) -> AccountRef | None:
    """The account with its mentor and account manager, or None when it is not loaded."""
    row = con.execute(ACCOUNT_OWNER_SQL, {"account_id": account_id}).fetchone()
    return None if row is None else AccountRef(row[0], mentor_id=row[1], account_manager_id=row[2])


def team_members(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(member_id, name) of the loaded team, active members first; [] without a team table."""
    from kam_core.ingest.schema import loaded_tables

    if "team" not in loaded_tables(con):
        return []
    return [(str(r[0]), str(r[1])) for r in con.execute(TEAM_SQL).fetchall()]
