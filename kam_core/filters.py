"""The shared account filters (tier, quadrant, region …) applied to the account table.

>>> import pandas as pd
>>> frame = pd.DataFrame({"account_id": ["A", "B", "C"], "tier": ["Gold", "Silver", "Gold"],
...                       "region": ["DACH", "DACH", "UK"]})
>>> apply_filters(frame, {"tier": ["Gold"], "region": []})["account_id"].tolist()
['A', 'C']
>>> filtered_account_ids(frame, {"tier": [], "region": []}) is None
True
>>> urgent = pd.DataFrame({"account_id": ["G", "R1", "A", "R2"], "status": ["green", "red", "amber", "red"],
...                        "ttm_revenue": [9.0, 1.0, 5.0, 3.0], "health": [80.0, 30.0, 60.0, 35.0]})
>>> most_urgent_first(urgent)["account_id"].tolist()
['R2', 'R1', 'A', 'G']
"""

from __future__ import annotations

import pandas as pd


def apply_filters(accounts: pd.DataFrame, selections: dict[str, list[str]]) -> pd.DataFrame:
    """Rows whose value is among the selected ones, for every column with a selection."""
    mask = pd.Series(True, index=accounts.index)
    for column, values in selections.items():
        if values and column in accounts.columns:
            mask &= accounts[column].astype("string").isin([str(v) for v in values]).fillna(False)
    return accounts[mask]


def filtered_account_ids(accounts: pd.DataFrame, selections: dict[str, list[str]]) -> list[str] | None:
    """The account IDs the filters let through, or None when no filter is set (= all)."""
    if not any(selections.values()):
        return None
    return apply_filters(accounts, selections)["account_id"].tolist()


STATUS_URGENCY = {"red": 0, "amber": 1, "green": 2}  # anything else (no data) comes last


def most_urgent_first(accounts: pd.DataFrame) -> pd.DataFrame:
    """The accounts in the order a mentor takes them up: red before amber before green before
    no data; within a colour, the most revenue at stake first, then the lowest health."""
    order = accounts.assign(
        _urgency=accounts["status"].map(STATUS_URGENCY).fillna(len(STATUS_URGENCY)),
        _revenue=accounts["ttm_revenue"].fillna(float("-inf")) if "ttm_revenue" in accounts else 0.0,
        _health=accounts["health"].fillna(float("inf")) if "health" in accounts else 0.0,
    )
    order = order.sort_values(["_urgency", "_revenue", "_health", "account_id"],
                              ascending=[True, False, True, True], kind="stable")
    return order.drop(columns=["_urgency", "_revenue", "_health"])
