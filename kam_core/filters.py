"""The shared account filters (tier, quadrant, region …) applied to the account table.

>>> import pandas as pd
>>> frame = pd.DataFrame({"account_id": ["A", "B", "C"], "tier": ["Gold", "Silver", "Gold"],
...                       "region": ["DACH", "DACH", "UK"]})
>>> apply_filters(frame, {"tier": ["Gold"], "region": []})["account_id"].tolist()
['A', 'C']
>>> filtered_account_ids(frame, {"tier": [], "region": []}) is None
True
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
