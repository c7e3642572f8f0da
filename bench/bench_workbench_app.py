"""Edit → visible in the app, at scale (AppTest; prints a table, not a test).

Two ways an edit reaches a page, on the demo export with N accounts:

- **in the editor**: on the Account page a contact's attitude is changed in the contacts
  editor and saved; the Save button's callback writes the store before the page is drawn, so
  that one run recomputes the metrics with the edit and shows the account red (the time of
  that run, from the click to the page drawn);
- **on Home, in another session**: the edit is saved (as the editor does, through the
  workbench) and an open Home page is rerun; it finds a new store version in its data key,
  opens a new overlaid connection, recomputes health, scores and the account table, and lists
  one more red account (save + that run). Nothing was computed before for this version: the
  worst case.

Each run turns the king of a different account that is not red yet into an opponent.

    python bench/bench_workbench_app.py --accounts 10000 [--workdir DIR] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "kam-bench")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from streamlit.testing.v1 import AppTest

    from kam_core.asof import resolve_as_of
    from kam_core.dataset import open_dataset
    from kam_core.demo import write_demo
    from kam_core.ingest.loader import load
    from kam_core.metrics.overview import base_metrics
    from kam_core.settings import Settings
    from kam_core.workbench.edits import Workbench

    src = args.workdir / f"demo-{args.accounts}"
    if not (src / "accounts.csv").is_file():
        write_demo(src, accounts=args.accounts)
    db = args.workdir / f"app-{args.accounts}.duckdb"
    if not db.is_file():
        load([src], db)
    wb = Workbench(db)
    for path in wb.store_path.parent.glob(wb.store_path.name + "*"):
        path.unlink()
    os.environ["KAM_DB"] = str(db)
    os.environ["KAM_CONFIG"] = str(args.workdir / "bench-app-kam.toml")

    # the largest accounts that are not red, with a king who is not an opponent yet
    con = open_dataset(db)
    settings = Settings()
    metrics = base_metrics(con, settings, resolve_as_of(con, settings))
    health = metrics.health.merge(metrics.growth[["account_id", "ttm_revenue"]], on="account_id")
    candidates = health[health["status"] != "red"].sort_values("ttm_revenue", ascending=False)["account_id"]
    kings = dict(con.execute("select account_id, min(contact_id) from contacts where piece = 'king' and attitude "
                             "<> 'opponent' group by account_id").fetchall())
    con.close()
    targets = [a for a in candidates if a in kings][: 2 * args.runs]

    def page(path: str | None, account: str | None = None) -> AppTest:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
        at.session_state["_whoami"], at.session_state["_whoami_name"] = "T-02", "Markus Keller"
        if account:
            at.query_params["account"] = account
        if path:
            at.switch_page(path)
        return at

    def timed(at: AppTest) -> float:
        started = time.perf_counter()
        at.run()
        elapsed = time.perf_counter() - started
        if at.exception:
            raise RuntimeError(at.exception[0].message)
        return elapsed

    def red_accounts(at: AppTest) -> int:
        return int(next(m.value for m in at.metric if m.label == "Red accounts").replace(",", ""))

    home = page(None)
    cold = timed(home)
    warm = timed(home)
    rows: dict[str, list[float]] = {"Home rerun, nothing changed": [warm], "editor: Save → Account page drawn": [],
                                    "save (store write)": [], "Home rerun after the save": [],
                                    "edit → visible on Home (save + rerun)": []}
    for run in range(args.runs):
        # in the editor, on the Account page
        account = targets[2 * run]
        at = page("pages/2_account.py", account)
        timed(at)
        editor = next(d for d in at.data_editor if d.key.startswith("wb_contacts_"))
        row = editor.value.index[editor.value["contact_id"] == kings[account]][0]
        at.session_state[editor.key] = {"edited_rows": {int(row): {"attitude": "opponent"}}, "added_rows": [],
                                        "deleted_rows": []}
        timed(at)
        at.button(key=editor.key.rsplit("_", 1)[0] + "_save").click()
        rows["editor: Save → Account page drawn"].append(timed(at))
        assert ":red-badge[red]" in next(m.value for m in at.markdown if m.value.startswith("## ")), account
        # another session's Home page
        account = targets[2 * run + 1]
        timed(home)  # up to date before the edit
        red = red_accounts(home)
        started = time.perf_counter()
        wb.update("T-02", "contacts", kings[account], {"attitude": "opponent"})
        saved = time.perf_counter()
        home.run()
        done = time.perf_counter()
        assert red_accounts(home) == red + 1, f"{account}: Home's red accounts {red} -> {red_accounts(home)}"
        rows["save (store write)"].append(saved - started)
        rows["Home rerun after the save"].append(done - saved)
        rows["edit → visible on Home (save + rerun)"].append(done - started)

    print(f"{args.accounts:,} accounts; Home first render {cold:.2f} s (cold caches)")
    print("| step | median s | slowest s |")
    print("|---|---|---|")
    for name, values in rows.items():
        print(f"| {name} | {statistics.median(values):.2f} | {max(values):.2f} |")


if __name__ == "__main__":
    main()
