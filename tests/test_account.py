"""One account's records for the mentor's view."""

from __future__ import annotations

import datetime as dt

import duckdb

from kam_core.ingest.schema import create_schema
from kam_core.metrics.account import competitors, contacts, plan_actions, review_history

AS_OF = dt.date(2025, 6, 30)


def test_records_of_one_account() -> None:
    con = duckdb.connect()
    create_schema(con, ["team", "accounts", "plan_actions", "reviews", "competitors"])
    con.execute("""
        insert into team (member_id, name) values ('M1', 'Anna');
        insert into accounts (account_id, name) values ('A', 'Acme'), ('B', 'Bolt');
        insert into plan_actions values
            ('P1', 'A', 'Meet the CFO', 'M1', '2025-06-01', 'open'),   -- overdue
            ('P2', 'A', 'Workshop', 'M9', '2025-07-15', 'open'),       -- unknown owner: id shown
            ('P3', 'A', 'Kick-off', 'M1', '2025-01-10', 'done'),
            ('P4', 'B', 'Other account', 'M1', '2025-01-10', 'open');
        insert into reviews (account_id, review_date, mentor_id, rating, notes) values
            ('A', '2025-04-01', 'M1', 'at_risk', 'thin coverage'),
            ('A', '2025-07-05', 'M1', 'on_track', 'after as_of: not yet'),
            ('A', '2024-12-01', null, 'on_track', null);
        insert into competitors values ('A', 'Rival', 'Software', 0.3), ('A', 'Minor', null, null);
    """)
    actions = plan_actions(con, "A", AS_OF)
    assert actions[["action_id", "owner", "status", "is_overdue"]].values.tolist() == [
        ["P1", "Anna", "open", True], ["P2", "M9", "open", False], ["P3", "Anna", "done", False]]
    reviews = review_history(con, "A", AS_OF)
    assert reviews[["rating", "days_ago"]].values.tolist() == [["at_risk", 90], ["on_track", 211]]
    assert reviews["mentor"].iloc[0] == "Anna" and reviews["mentor"].isna().iloc[1]
    assert competitors(con, "A")["competitor"].tolist() == ["Rival", "Minor"]
    assert contacts(con, "A") is None  # contacts not loaded
