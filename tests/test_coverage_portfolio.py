"""Portfolio-wide relationship views: high-influence opponents and the team × account matrix."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from kam_core.ingest.schema import create_schema
from kam_core.metrics.coverage import opponent_list, team_account_matrix
from kam_core.settings import Settings

AS_OF = dt.date(2025, 6, 30)


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    create_schema(con, ["team", "accounts", "contacts", "relationships"])
    con.execute("""
        insert into team values ('M1', 'Anna', null, null, null, true), ('M2', 'Ben', null, null, null, true),
                                ('M3', 'Gone', null, null, null, false);
        insert into accounts (account_id, name) values ('A', 'Acme'), ('B', 'Bolt');
        insert into contacts (contact_id, account_id, name, piece, attitude, is_active) values
            ('K', 'A', 'King', 'king', 'opponent', true),     -- v 10, against us
            ('Q', 'A', 'Queen', 'queen', 'skeptic', true),    -- v 9, against us
            ('P', 'A', 'Pawn', 'pawn', 'opponent', true),     -- v 1: not high-influence
            ('R', 'B', 'Rook', 'rook', 'champion', true),     -- v 5, for us
            ('X', 'B', 'Ex-king', 'king', 'opponent', false); -- inactive: never counts
        insert into relationships values
            ('M1', 'K', 2, null),   -- e = 0.5
            ('M2', 'K', 4, null),   -- e = 1.0
            ('M1', 'Q', 4, null),   -- e = 1.0
            ('M1', 'R', 3, null),   -- e = 0.75
            ('M3', 'R', 4, null);   -- inactive member
    """)
    return con


def test_opponent_list(con: duckdb.DuckDBPyConnection) -> None:
    got = opponent_list(con, Settings(), AS_OF)
    assert got[["contact_id", "piece_value", "attitude", "best_strength", "best_member_id"]].values.tolist() == [
        ["K", 10.0, "opponent", 1.0, "M2"],
        ["Q", 9.0, "skeptic", 1.0, "M1"],
    ]
    assert opponent_list(con, Settings(), AS_OF, account_id="B").empty


def test_team_account_matrix(con: duckdb.DuckDBPyConnection) -> None:
    got = team_account_matrix(con, Settings(), AS_OF)
    rows = got[["member_id", "account_id", "contacts_count", "best_strength", "coverage_alone"]].values.tolist()
    # account A: Σv = 10 + 9 + 1 = 20; M1 reaches K (10 × 0.5) and Q (9 × 1.0) = 14 -> 70
    #            M2 reaches K (10 × 1.0) = 10 -> 50
    # account B: Σv (active) = 5; M1 reaches R 5 × 0.75 = 3.75 -> 75; M3 is inactive
    assert rows == [["M1", "B", 1, 3, 75.0], ["M1", "A", 2, 4, 70.0], ["M2", "A", 1, 4, 50.0]]


def test_without_relationships(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("drop table relationships")
    assert team_account_matrix(con, Settings(), AS_OF).empty
    got = opponent_list(con, Settings(), AS_OF)
    assert got["contact_id"].tolist() == ["K", "Q"]
    assert got["best_strength"].tolist() == [0.0, 0.0]


def test_member_exposure(con: duckdb.DuckDBPyConnection) -> None:
    import pandas as pd

    from kam_core.metrics.coverage import dependency_by_member, member_exposure

    dependencies = dependency_by_member(con, Settings(), AS_OF)
    accounts = pd.DataFrame({"account_id": ["A", "B"], "ttm_revenue": [1000.0, 100.0]})
    got = member_exposure(dependencies, accounts, Settings()).set_index("member_id")
    assert len(got) == 2
    # A: Σv·e = 10·1 + 9·1 = 19 (P has no relationship). M2 is K's best (1.0 vs M1's 0.5):
    # leaving costs 10·0.5 = 5 → 5/19; M1 is Q's only one: 9 → 9/19. B: M1 alone: all of it.
    assert got.loc["M1", "accounts"] == 2 and got.loc["M2", "accounts"] == 1
    assert got.loc["M1", "revenue_weighted_exposure"] == pytest.approx(1000 * 9 / 19 + 100 * 1.0)
    assert got.loc["M2", "revenue_weighted_exposure"] == pytest.approx(1000 * 5 / 19)
    # at least key_person_reason (50 %) of the coverage: M1 in B only (9/19 = 47 % in A)
    assert got.loc["M1", "accounts_dependent"] == 1 and got.loc["M2", "accounts_dependent"] == 0
    assert got.index.tolist() == ["M1", "M2"]  # the largest exposure first
    only_a = member_exposure(dependencies, accounts[accounts["account_id"] == "A"], Settings())
    assert only_a["accounts"].tolist() == [1, 1]
