"""Relationship coverage (spec §3.2) on a tiny hand-computed dataset.

as_of = 2025-01-01, half_life = 180 days, covered_threshold = 0.5, thread_strength = 3,
pieces king 10, queen 9, rook 5, bishop 3, knight 3, pawn 1.
e = strength / 4 × 0.5^(days / 180); "180d" = last contact 2024-07-05 (one half-life).

Team: M1 Anna, M2 Ben, M3 Cleo (inactive), M4 Dan.

A1  C1 king supporter, executive   M1 s4 180d -> 0.5 (exactly covered); M2 s1 no date -> 0.25
    C2 queen opponent, executive   M2 s3 contact after as_of -> 0 days -> 0.75; M3 s4 (inactive)
    C3 pawn neutral, operational   no relationships -> 0
    C4 rook skeptic, INACTIVE      M1 s4 (ignored: contact inactive)
    C5 rook champion, no level     M4 s3 180d -> 0.75 × 0.5 = 0.375
A2  C6 king opponent               M1 s2 no date -> 0.5; M4 s2 no date -> 0.5 (tie)
    C7 king champion               no relationships
    C8 pawn neutral                M1 s4 180d -> 0.5
A3  C9 queen neutral               M1 s4 -> 1; M2 s4 -> 1 (tie)
A4  no contacts
A5  C10 king opponent, INACTIVE    M1 s4 (ignored)
A6  C11 rook neutral               M1 s0 -> 0
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from kam_core.errors import KamError
from kam_core.ingest.schema import create_schema
from kam_core.metrics import coverage
from kam_core.settings import Settings

AS_OF = dt.date(2025, 1, 1)
D180 = dt.date(2024, 7, 5)  # AS_OF − 180 days
AFTER = dt.date(2025, 2, 1)  # after AS_OF: counts as 0 days

TEAM = [
    ("M1", "Anna", "kam", "sales", "Berlin", True),
    ("M2", "Ben", "specialist", "it", "Hamburg", True),
    ("M3", "Cleo", "kam", "sales", "Berlin", False),
    ("M4", "Dan", "service", "service", "Munich", True),
]
ACCOUNTS = [(f"A{i}", f"Account {i}") for i in range(1, 7)]
# contact_id, account_id, name, title, department, level, location, piece, attitude, is_active
CONTACTS = [
    ("C1", "A1", "Kurt", "CEO", "board", "executive", "Berlin", "king", "supporter", True),
    ("C2", "A1", "Quinn", "CFO", "finance", "executive", "Berlin", "queen", "opponent", True),
    ("C3", "A1", "Paul", "Clerk", "finance", "operational", "Bonn", "pawn", "neutral", True),
    ("C4", "A1", "Rita", "CIO", "it", "executive", "Bonn", "rook", "skeptic", False),
    ("C5", "A1", "Rosa", "Head of IT", "it", None, "Bonn", "rook", "champion", True),
    ("C6", "A2", "Karl", "Owner", "board", "executive", None, "king", "opponent", True),
    ("C7", "A2", "Kai", "Co-owner", "board", "executive", None, "king", "champion", True),
    ("C8", "A2", "Pia", "Buyer", "purchasing", "manager", None, "pawn", "neutral", True),
    ("C9", "A3", "Queenie", "COO", "operations", "executive", None, "queen", "neutral", True),
    ("C10", "A5", "Kevin", "CEO", "board", "executive", None, "king", "opponent", False),
    ("C11", "A6", "Ruth", "Head of R&D", "r&d", "senior", None, "rook", "neutral", True),
]
# member_id, contact_id, strength, last_contact_date
RELATIONSHIPS = [
    ("M1", "C1", 4, D180),
    ("M2", "C1", 1, None),
    ("M2", "C2", 3, AFTER),
    ("M3", "C2", 4, None),
    ("M1", "C4", 4, None),
    ("M4", "C5", 3, D180),
    ("M1", "C6", 2, None),
    ("M4", "C6", 2, None),
    ("M1", "C8", 4, D180),
    ("M1", "C9", 4, None),
    ("M2", "C9", 4, None),
    ("M1", "C10", 4, None),
    ("M1", "C11", 0, None),
]

ROWS = {
    "team": TEAM,
    "accounts": ACCOUNTS,
    "contacts": CONTACTS,
    "relationships": RELATIONSHIPS,
}
INSERTS = {
    "team": "insert into team values (?, ?, ?, ?, ?, ?)",
    "accounts": "insert into accounts (account_id, name) values (?, ?)",
    "contacts": "insert into contacts values (?, ?, ?, ?, ?, ?, ?, null, ?, ?, ?, null)",
    "relationships": "insert into relationships values (?, ?, ?, ?)",
}

COVERAGE_COLUMNS = [
    "account_id",
    "contacts_count",
    "coverage",
    "key_players_covered",
    "king_covered",
    "threads",
    "single_threaded",
    "key_person_dependency",
    "key_person_id",
    "support_balance",
    "high_influence_opponents",
    "king_attitude",
]
COVERAGE_DTYPES = {
    "account_id": "str",
    "contacts_count": "Int64",
    "coverage": "float64",
    "key_players_covered": "float64",
    "king_covered": "boolean",
    "threads": "Int64",
    "single_threaded": "boolean",
    "key_person_dependency": "float64",
    "key_person_id": "str",
    "support_balance": "float64",
    "high_influence_opponents": "Int64",
    "king_attitude": "str",
}


def make_db(tables: tuple[str, ...] = ("team", "accounts", "contacts", "relationships")):
    con = duckdb.connect()
    create_schema(con, tables=list(tables))
    for table in tables:
        con.executemany(INSERTS[table], ROWS[table])
    return con


def frame(rows: list[tuple], columns: list[str], dtypes: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns).astype(dtypes)


def check(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert_frame_equal(actual, expected, check_exact=False, rtol=1e-9, atol=1e-9)


@pytest.fixture
def con():
    con = make_db()
    yield con
    con.close()


# ---- coverage_by_account ---------------------------------------------------------------


def test_coverage_by_account_all_tables(con):
    actual = coverage.coverage_by_account(con, Settings(), AS_OF)
    expected = frame(
        [
            # A1: Σv = 10 + 9 + 1 + 5 = 25 (C4 inactive);
            #     Σv·e = 10·0.5 + 9·0.75 + 1·0 + 5·0.375 = 5 + 6.75 + 1.875 = 13.625
            #     coverage = 100 · 13.625 / 25 = 54.5
            #     key players C1 (0.5, covered at the boundary), C2 (0.75), C5 (0.375) -> 2/3
            #     threads: M1 (s4), M2 (s3), M4 (s3); not M3 (inactive) -> 3
            #     losses: M1 10·(0.5−0.25) = 2.5; M2 9·(0.75−0) = 6.75; M4 5·0.375 = 1.875
            #     -> dependency 6.75 / 13.625, key person M2
            #     support 10·1 + 9·(−2) + 1·0 + 5·2 = 2; opponents v ≥ 5: C2 -> 1
            ("A1", 4, 54.5, 2 / 3, True, 3, False, 6.75 / 13.625, "M2", 2.0, 1, "supporter"),
            # A2: Σv = 21; Σv·e = 10·0.5 + 10·0 + 1·0.5 = 5.5 -> 100 · 5.5 / 21
            #     key players C6 covered, C7 not -> 1/2; threads M1 (s4 to C8) -> 1
            #     C6 tie M1/M4 loses nothing; M1 loses 1·0.5 on C8 -> 0.5 / 5.5
            #     support 10·(−2) + 10·2 + 0 = 0; opponents C6 -> 1; worst king: opponent
            ("A2", 3, 100 * 5.5 / 21, 0.5, True, 1, True, 0.5 / 5.5, "M1", 0.0, 1, "opponent"),
            # A3: one queen, M1 and M2 both at 1.0 -> coverage 100, tie -> dependency 0
            #     no king -> king_covered false
            ("A3", 1, 100.0, 1.0, False, 2, False, 0.0, None, 0.0, 0, None),
            # A4: no contacts -> coverage null, threads 0 (single-threaded), sums 0
            ("A4", 0, None, None, False, 0, True, None, None, 0.0, 0, None),
            # A5: only an inactive king -> like no contacts
            ("A5", 0, None, None, False, 0, True, None, None, 0.0, 0, None),
            # A6: rook with a strength-0 relationship -> coverage 0 -> dependency 0
            ("A6", 1, 0.0, 0.0, False, 0, True, 0.0, None, 0.0, 0, None),
        ],
        COVERAGE_COLUMNS,
        COVERAGE_DTYPES,
    )
    check(actual, expected)


def test_without_team_every_member_is_active():
    con = make_db(("accounts", "contacts", "relationships"))
    actual = coverage.coverage_by_account(con, Settings(), AS_OF)
    # A1 with M3 active: C2 e1 = 1.0 (M3), e2 = 0.75 (M2)
    #   Σv·e = 5 + 9·1 + 1.875 = 15.875 -> coverage 63.5; threads M1, M2, M3, M4 -> 4
    #   losses: M1 2.5; M3 9·(1 − 0.75) = 2.25; M4 1.875; M2 0 -> 2.5 / 15.875, M1
    a1 = actual[actual["account_id"] == "A1"].reset_index(drop=True)
    expected = frame(
        [("A1", 4, 63.5, 2 / 3, True, 4, False, 2.5 / 15.875, "M1", 2.0, 1, "supporter")],
        COVERAGE_COLUMNS,
        COVERAGE_DTYPES,
    )
    check(a1, expected)
    # the other accounts have no relationship of M3: unchanged
    with_team = coverage.coverage_by_account(make_db(), Settings(), AS_OF)
    check(actual.iloc[1:].reset_index(drop=True), with_team.iloc[1:].reset_index(drop=True))


def test_without_relationships_relationship_metrics_are_null():
    con = make_db(("team", "accounts", "contacts"))
    actual = coverage.coverage_by_account(con, Settings(), AS_OF)
    n = None
    expected = frame(
        [
            # a king without relationship data: cannot tell -> null; no king: false
            ("A1", 4, n, n, n, n, n, n, n, 2.0, 1, "supporter"),
            ("A2", 3, n, n, n, n, n, n, n, 0.0, 1, "opponent"),
            ("A3", 1, n, n, False, n, n, n, n, 0.0, 0, n),
            ("A4", 0, n, n, False, n, n, n, n, 0.0, 0, n),
            ("A5", 0, n, n, False, n, n, n, n, 0.0, 0, n),
            ("A6", 1, n, n, False, n, n, n, n, 0.0, 0, n),
        ],
        COVERAGE_COLUMNS,
        COVERAGE_DTYPES,
    )
    check(actual, expected)


@pytest.mark.parametrize(
    "tables",
    [("team", "accounts", "relationships"), ("accounts",)],
    ids=["relationships-without-contacts", "accounts-only"],
)
def test_without_contacts_everything_is_null(tables):
    con = make_db(tables)
    actual = coverage.coverage_by_account(con, Settings(), AS_OF)
    expected = frame([(a, *[None] * 11) for a, _ in ACCOUNTS], COVERAGE_COLUMNS, COVERAGE_DTYPES)
    check(actual, expected)
    assert actual["king_covered"].isna().all()


def test_empty_tables_give_zero_counts():
    con = duckdb.connect()
    create_schema(con, tables=["team", "accounts", "contacts", "relationships"])
    con.execute("insert into accounts (account_id, name) values ('A1', 'Acme')")
    actual = coverage.coverage_by_account(con, Settings(), AS_OF)
    expected = frame(
        [("A1", 0, None, None, False, 0, True, None, None, 0.0, 0, None)],
        COVERAGE_COLUMNS,
        COVERAGE_DTYPES,
    )
    check(actual, expected)


def test_settings_change_the_numbers(con):
    settings = Settings.from_dict(
        {"half_life_days": 360, "thread_strength": 4, "high_influence_value": 10}
    )
    a1 = coverage.coverage_by_account(con, settings, AS_OF).iloc[0]
    # half-life 360: 180 days is half a half-life -> factor 2^−0.5
    # C1 = 1·2^−0.5 ≈ 0.7071, C2 = 0.75, C5 = 0.75·2^−0.5 ≈ 0.5303 (now covered)
    covered_value = 10 * 2**-0.5 + 9 * 0.75 + 5 * 0.75 * 2**-0.5
    assert a1["coverage"] == pytest.approx(100 * covered_value / 25)
    assert a1["key_players_covered"] == pytest.approx(1.0)  # 3/3
    assert a1["threads"] == 1  # only M1 has strength 4 (to an active contact)
    assert a1["high_influence_opponents"] == 0  # C2 is a queen (9 < 10)


def test_covered_threshold_compares_rounded_values():
    # e = 2/4 × 0.5^(1 / 10,000,000) = 0.49999997 -> rounded to 6 decimals 0.5 -> covered
    con = duckdb.connect()
    create_schema(con, tables=["accounts", "contacts", "relationships"])
    con.execute("insert into accounts (account_id, name) values ('A1', 'Acme')")
    con.execute(
        "insert into contacts (contact_id, account_id, name, piece) values ('C1', 'A1', 'K', 'king')"
    )
    con.execute("insert into relationships values ('M1', 'C1', 2, date '2024-12-31')")
    settings = Settings.from_dict({"half_life_days": 10_000_000})
    row = coverage.coverage_by_account(con, settings, AS_OF).iloc[0]
    assert row["king_covered"]
    assert row["key_players_covered"] == 1.0
    assert coverage.gap_list(con, settings, AS_OF).empty


def test_key_person_with_a_tied_contact():
    # two members with the same best strength on every contact: either may leave
    con = duckdb.connect()
    create_schema(con, tables=["accounts", "contacts", "relationships"])
    con.execute("insert into accounts (account_id, name) values ('A1', 'Acme')")
    con.execute(
        "insert into contacts (contact_id, account_id, name, piece) values "
        "('C1', 'A1', 'K', 'king'), ('C2', 'A1', 'Q', 'queen')"
    )
    con.execute(
        "insert into relationships values ('MB', 'C1', 3, null), ('MA', 'C1', 3, null), "
        "('MB', 'C2', 4, null), ('MA', 'C2', 2, null)"
    )
    row = coverage.coverage_by_account(con, Settings(), AS_OF).iloc[0]
    # C1: 0.75 tie (loses nothing); C2: MB 1.0, MA 0.5 -> MB loses 9·0.5 = 4.5
    # Σv·e = 10·0.75 + 9·1 = 16.5 -> 4.5 / 16.5
    assert row["key_person_dependency"] == pytest.approx(4.5 / 16.5)
    assert row["key_person_id"] == "MB"
    # equal losses of two members: the smaller member_id is named
    con.execute(
        "update relationships set strength = 4 where member_id = 'MA' and contact_id = 'C1'"
    )
    con.execute(
        "update relationships set strength = 3 where member_id = 'MB' and contact_id = 'C1'"
    )
    # C1: MA 1.0 vs MB 0.75 -> MA loses 10·0.25 = 2.5; C2: MB loses 4.5 -> MB
    assert coverage.coverage_by_account(con, Settings(), AS_OF).iloc[0]["key_person_id"] == "MB"
    con.execute(
        "update relationships set strength = 2 where member_id = 'MB' and contact_id = 'C1'"
    )
    # C1: MA 1.0 vs MB 0.5 -> MA loses 10·0.5 = 5; C2: MB loses 9·0.5 = 4.5 -> MA
    assert coverage.coverage_by_account(con, Settings(), AS_OF).iloc[0]["key_person_id"] == "MA"


def test_key_person_equal_losses_name_smallest_id():
    con = duckdb.connect()
    create_schema(con, tables=["accounts", "contacts", "relationships"])
    con.execute("insert into accounts (account_id, name) values ('A1', 'Acme')")
    con.execute(
        "insert into contacts (contact_id, account_id, name, piece) values "
        "('C1', 'A1', 'K', 'rook'), ('C2', 'A1', 'Q', 'rook')"
    )
    con.execute("insert into relationships values ('MZ', 'C1', 4, null), ('MA', 'C2', 4, null)")
    row = coverage.coverage_by_account(con, Settings(), AS_OF).iloc[0]
    # each member alone covers one rook: loss 5·1 of Σv·e = 10 -> 0.5, tie -> 'MA'
    assert row["key_person_dependency"] == pytest.approx(0.5)
    assert row["key_person_id"] == "MA"


# ---- dependency_by_member ------------------------------------------------------------


DEPENDENCY_COLUMNS = [
    "member_id",
    "member_name",
    "account_id",
    "coverage",
    "coverage_without",
    "coverage_lost",
    "share_lost",
]
DEPENDENCY_DTYPES = {
    "member_id": "str",
    "member_name": "str",
    "account_id": "str",
    "coverage": "float64",
    "coverage_without": "float64",
    "coverage_lost": "float64",
    "share_lost": "float64",
}


def test_dependency_by_member(con):
    actual = coverage.dependency_by_member(con, Settings(), AS_OF)
    a2 = 100 * 5.5 / 21
    expected = frame(
        [
            # A1 (Σv 25, Σv·e 13.625): M1 loses 2.5 -> 10 points, share 2.5 / 13.625
            ("M1", "Anna", "A1", 54.5, 44.5, 10.0, 2.5 / 13.625),
            # A2 (Σv 21, Σv·e 5.5): M1 loses 0.5 on C8 (C6 is a tie)
            ("M1", "Anna", "A2", a2, 100 * 5 / 21, 100 * 0.5 / 21, 0.5 / 5.5),
            # A3: tie on C9 -> nothing lost; A6: coverage 0 -> share 0
            ("M1", "Anna", "A3", 100.0, 100.0, 0.0, 0.0),
            ("M1", "Anna", "A6", 0.0, 0.0, 0.0, 0.0),
            # M2 on A1: C2 falls from 0.75 to 0 -> 9·0.75 = 6.75 -> 27 points
            ("M2", "Ben", "A1", 54.5, 27.5, 27.0, 6.75 / 13.625),
            ("M2", "Ben", "A3", 100.0, 100.0, 0.0, 0.0),
            # M3 is inactive: no rows. M4 on A1: C5 5·0.375 = 1.875 -> 7.5 points
            ("M4", "Dan", "A1", 54.5, 47.0, 7.5, 1.875 / 13.625),
            ("M4", "Dan", "A2", a2, a2, 0.0, 0.0),
        ],
        DEPENDENCY_COLUMNS,
        DEPENDENCY_DTYPES,
    )
    check(actual, expected)
    anna = coverage.dependency_by_member(con, Settings(), AS_OF, member_id="M1")
    check(anna, expected.iloc[:4].reset_index(drop=True))


def test_dependency_by_member_matches_coverage_by_account(con):
    # the largest share lost per account is the account's key_person_dependency
    deps = coverage.dependency_by_member(con, Settings(), AS_OF)
    accounts = coverage.coverage_by_account(con, Settings(), AS_OF).set_index("account_id")
    worst = deps.groupby("account_id")["share_lost"].max()
    assert worst.index.tolist() == ["A1", "A2", "A3", "A6"]  # accounts an active member reaches
    for account_id, share in worst.items():
        assert share == pytest.approx(accounts.loc[account_id, "key_person_dependency"])


def test_dependency_by_member_recomputes_like_removing_the_member(con):
    # removing M2's relationships by hand gives coverage_without
    deps = coverage.dependency_by_member(con, Settings(), AS_OF)
    con.execute("delete from relationships where member_id = 'M2'")
    after = coverage.coverage_by_account(con, Settings(), AS_OF).set_index("account_id")
    m2 = deps[deps["member_id"] == "M2"]
    assert sorted(m2["account_id"]) == ["A1", "A3"]  # M2 knows C1, C2 (A1) and C9 (A3)
    for row in m2.itertuples():
        assert row.coverage_without == pytest.approx(after.loc[row.account_id, "coverage"])


def test_dependency_without_team_or_relationships():
    no_team = coverage.dependency_by_member(
        make_db(("accounts", "contacts", "relationships")), Settings(), AS_OF
    )
    assert set(no_team["member_id"]) == {"M1", "M2", "M3", "M4"}
    assert no_team["member_name"].isna().all()
    m3 = no_team[no_team["member_id"] == "M3"].iloc[0]
    # M3 on A1: C2 drops from 1.0 to 0.75 -> 9·0.25 = 2.25 of Σv 25 -> 9 points
    assert (m3["account_id"], m3["coverage_lost"]) == ("A1", pytest.approx(9.0))
    empty = coverage.dependency_by_member(
        make_db(("team", "accounts", "contacts")), Settings(), AS_OF
    )
    assert empty.empty and list(empty.columns) == DEPENDENCY_COLUMNS


# ---- coverage_breakdown -------------------------------------------------------------


def test_coverage_breakdown_by_level(con):
    actual = coverage.coverage_breakdown(con, Settings(), AS_OF, by="level", account_id="A1")
    expected = frame(
        [
            # executive: C1, C2 (C4 inactive) -> 100 · (5 + 6.75) / 19
            ("A1", "executive", 2, 100 * 11.75 / 19),
            ("A1", "operational", 1, 0.0),  # C3 pawn, nobody
            ("A1", None, 1, 37.5),  # C5 rook 0.375 -> 100 · 1.875 / 5
        ],
        ["account_id", "level", "contacts_count", "coverage"],
        {"account_id": "str", "level": "str", "contacts_count": "Int64", "coverage": "float64"},
    )
    check(actual, expected)


def test_coverage_breakdown_all_accounts_by_department(con):
    actual = coverage.coverage_breakdown(con, Settings(), AS_OF, by="department")
    # active contacts only, every account: A1 board/finance/it, A2 board/purchasing, A3, A6
    assert list(
        zip(actual["account_id"], actual["department"], actual["contacts_count"], strict=True)
    ) == [
        ("A1", "board", 1),
        ("A1", "finance", 2),
        ("A1", "it", 1),
        ("A2", "board", 2),
        ("A2", "purchasing", 1),
        ("A3", "operations", 1),
        ("A6", "r&d", 1),
    ]
    # A1 finance: C2 queen 0.75, C3 pawn 0 -> 100 · 6.75 / 10
    assert actual["coverage"].iloc[1] == pytest.approx(67.5)


def test_coverage_breakdown_without_relationships_counts_only():
    con = make_db(("accounts", "contacts"))
    actual = coverage.coverage_breakdown(con, Settings(), AS_OF, by="location", account_id="A1")
    assert list(actual["location"]) == ["Berlin", "Bonn"]
    assert list(actual["contacts_count"]) == [2, 2]
    assert actual["coverage"].isna().all()


@pytest.mark.parametrize("by", ["piece", "Level", "account_id", "level; drop table contacts", ""])
def test_coverage_breakdown_rejects_other_dimensions(con, by):
    with pytest.raises(KamError, match="expected one of level, department, location"):
        coverage.coverage_breakdown(con, Settings(), AS_OF, by=by)
    with pytest.raises(ValueError):
        coverage.coverage_breakdown(con, Settings(), AS_OF, by=by)


# ---- gap_list ------------------------------------------------------------------------

GAP_COLUMNS = [
    "account_id",
    "contact_id",
    "name",
    "title",
    "level",
    "department",
    "piece",
    "piece_value",
    "attitude",
    "best_strength",
    "best_member_id",
]
GAP_DTYPES = {c: "str" for c in GAP_COLUMNS} | {
    "piece_value": "float64",
    "best_strength": "float64",
}


def test_gap_list(con):
    actual = coverage.gap_list(con, Settings(), AS_OF)
    expected = frame(
        [
            # v ≥ 5 and e < 0.5, most valuable first, then weakest
            ("A2", "C7", "Kai", "Co-owner", "executive", "board", "king", 10.0, "champion", 0.0, None),
            ("A6", "C11", "Ruth", "Head of R&D", "senior", "r&d", "rook", 5.0, "neutral", 0.0, "M1"),
            ("A1", "C5", "Rosa", "Head of IT", None, "it", "rook", 5.0, "champion", 0.375, "M4"),
            # not listed: C1 and C6 at exactly 0.5 (covered), C3/C8 pawns, inactive C4/C10
        ],
        GAP_COLUMNS,
        GAP_DTYPES,
    )  # fmt: skip
    check(actual, expected)
    one = coverage.gap_list(con, Settings(), AS_OF, account_id="A1")
    check(one, expected.iloc[[2]].reset_index(drop=True))
    assert coverage.gap_list(con, Settings(), AS_OF, account_id="nope").empty


def test_gap_list_names_best_member_and_follows_high_influence_value(con):
    # with high_influence_value 1 the pawns join: C3 (no one) and C8 (covered, 0.5) -> only C3
    actual = coverage.gap_list(con, Settings.from_dict({"high_influence_value": 1}), AS_OF)
    assert list(actual["contact_id"]) == ["C7", "C11", "C5", "C3"]
    empty = coverage.gap_list(make_db(("accounts", "contacts")), Settings(), AS_OF)
    assert empty.empty and list(empty.columns) == GAP_COLUMNS


# ---- relationship_map ----------------------------------------------------------------


def test_relationship_map(con):
    nodes, edges = coverage.relationship_map(con, Settings(), AS_OF, "A1")
    expected_nodes = frame(
        [
            ("M1", "member", "Anna", "kam", None, "sales", "Berlin", None, None, None, True),
            ("M2", "member", "Ben", "specialist", None, "it", "Hamburg", None, None, None, True),
            ("M3", "member", "Cleo", "kam", None, "sales", "Berlin", None, None, None, False),
            ("M4", "member", "Dan", "service", None, "service", "Munich", None, None, None, True),
            ("C1", "contact", "Kurt", "CEO", "executive", "board", "Berlin", "king", 10.0,
             "supporter", True),
            ("C2", "contact", "Quinn", "CFO", "executive", "finance", "Berlin", "queen", 9.0,
             "opponent", True),
            ("C3", "contact", "Paul", "Clerk", "operational", "finance", "Bonn", "pawn", 1.0,
             "neutral", True),
            ("C4", "contact", "Rita", "CIO", "executive", "it", "Bonn", "rook", 5.0, "skeptic",
             False),
            ("C5", "contact", "Rosa", "Head of IT", None, "it", "Bonn", "rook", 5.0, "champion",
             True),
        ],
        ["node_id", "kind", "label", "title", "level", "department", "location", "piece",
         "piece_value", "attitude", "is_active"],
        {"node_id": "str", "kind": "str", "label": "str", "title": "str", "level": "str",
         "department": "str", "location": "str", "piece": "str", "piece_value": "float64",
         "attitude": "str", "is_active": "boolean"},
    )  # fmt: skip
    check(nodes, expected_nodes)
    expected_edges = frame(
        [
            ("M1", "C1", 4, pd.Timestamp(D180), 180, 0.5),  # one half-life: 4/4 × 0.5
            ("M1", "C4", 4, None, None, 1.0),  # no date: no decay
            ("M2", "C1", 1, None, None, 0.25),
            ("M2", "C2", 3, pd.Timestamp(AFTER), 0, 0.75),  # after as_of: 0 days
            ("M3", "C2", 4, None, None, 1.0),
            ("M4", "C5", 3, pd.Timestamp(D180), 180, 0.375),  # 3/4 × 0.5
        ],
        ["member_id", "contact_id", "strength", "last_contact_date", "days_since_contact",
         "effective_strength"],
        {"member_id": "str", "contact_id": "str", "strength": "Int64",
         "last_contact_date": "datetime64[us]", "days_since_contact": "Int64",
         "effective_strength": "float64"},
    )  # fmt: skip
    check(edges, expected_edges)


def test_relationship_map_without_team_and_without_relationships():
    nodes, edges = coverage.relationship_map(
        make_db(("accounts", "contacts", "relationships")), Settings(), AS_OF, "A3"
    )
    # members are labelled by their id and count as active
    assert list(zip(nodes["node_id"], nodes["label"], nodes["is_active"], strict=True)) == [
        ("M1", "M1", True),
        ("M2", "M2", True),
        ("C9", "Queenie", True),
    ]
    assert len(edges) == 2
    nodes, edges = coverage.relationship_map(
        make_db(("accounts", "contacts")), Settings(), AS_OF, "A3"
    )
    assert list(nodes["node_id"]) == ["C9"] and edges.empty
    nodes, edges = coverage.relationship_map(make_db(("accounts",)), Settings(), AS_OF, "A3")
    assert nodes.empty and edges.empty and "effective_strength" in edges.columns


# ---- missing_inputs ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tables", "missing", "message"),
    [
        (("team", "accounts", "contacts", "relationships"), [], None),
        (
            ("accounts", "contacts"),
            ["relationships"],
            "Relationship coverage needs relationships.csv (not loaded).",
        ),
        (
            ("accounts",),
            ["contacts", "relationships"],
            "Relationship coverage needs contacts.csv and relationships.csv (not loaded).",
        ),
    ],
)
def test_missing_inputs(tables, missing, message):
    con = make_db(tables)
    assert coverage.missing_inputs(con) == missing
    assert coverage.missing_inputs_message(con) == message
