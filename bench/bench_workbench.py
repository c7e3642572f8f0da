"""Edit → visible in health, at scale (prints a table; not a test).

What the app does after an edit: save it (one store transaction), notice the store's new
version, open a new overlaid dataset connection and recompute every per-account metric
(``base_metrics``); the edited account's status is then read. Also the same recompute on
the plain export (what the overlay costs), the Excel round trip of one account, and the whole
portfolio's workbook written and previewed.

    python bench/bench_workbench.py --accounts 10000 [--workdir DIR] [--runs 5]

The export is the demo generator's (``python -m kam_core demo --accounts N``), loaded once.
"""

from __future__ import annotations

import argparse
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

    from kam_core.asof import resolve_as_of
    from kam_core.dataset import open_dataset
    from kam_core.demo import write_demo
    from kam_core.ingest.loader import load
    from kam_core.metrics.overview import base_metrics
    from kam_core.settings import Settings
    from kam_core.workbench.edits import Workbench
    from kam_core.workbench.excel import export_workbook, import_workbook, preview_import
    from kam_core.workbench.overlay import overlay_for
    from kam_core.workbench.store import store_version

    src = args.workdir / f"demo-{args.accounts}"
    if not (src / "accounts.csv").is_file():
        write_demo(src, accounts=args.accounts)
    db = args.workdir / f"workbench-{args.accounts}.duckdb"
    if not db.is_file():
        load([src], db)
    wb = Workbench(db)
    wb.store_path.unlink(missing_ok=True)
    settings = Settings()
    con = open_dataset(db)
    as_of = resolve_as_of(con, settings)
    king, account = con.execute(
        "select contact_id, account_id from contacts where piece = 'king' and attitude <> 'opponent' "
        "order by contact_id limit 1").fetchone()
    con.close()
    # a store with some history: 200 edits spread over contacts, relationships and plans
    contacts = [r[0] for r in open_dataset(db).execute(
        "select contact_id from contacts order by contact_id limit 200").fetchall()]
    for i, contact in enumerate(contacts):
        wb.update("T-01", "contacts", contact, {"title": f"Title {i}"})

    rows = {"save": [], "store_version": [], "overlay": [], "base_metrics": [], "edit to visible": [],
            "plain: open + base_metrics": []}
    statuses = []
    for run in range(args.runs):
        started = time.perf_counter()
        wb.update("T-02", "contacts", king, {"attitude": "opponent" if run % 2 == 0 else "neutral"})
        saved = time.perf_counter()
        store_version(wb.store_path)
        versioned = time.perf_counter()
        overlaid = open_dataset(db, overlay_for(wb.store_path))
        opened = time.perf_counter()
        health = base_metrics(overlaid, settings, as_of).health.set_index("account_id")
        done = time.perf_counter()
        statuses.append(health.loc[account, "status"])
        overlaid.close()
        rows["save"].append(saved - started)
        rows["store_version"].append(versioned - saved)
        rows["overlay"].append(opened - versioned)
        rows["base_metrics"].append(done - opened)
        rows["edit to visible"].append(done - started)
        started = time.perf_counter()
        plain = open_dataset(db)
        base_metrics(plain, settings, as_of)
        rows["plain: open + base_metrics"].append(time.perf_counter() - started)
        plain.close()

    out = args.workdir / "workbench-bench.xlsx"
    started = time.perf_counter()
    export_workbook(wb, out, account_id=account)
    exported = time.perf_counter()
    preview, _ = import_workbook(wb, out, "T-03")
    imported = time.perf_counter()
    whole = args.workdir / "workbench-bench-all.xlsx"
    started_all = time.perf_counter()
    counts = export_workbook(wb, whole)
    exported_all = time.perf_counter()
    preview_all = preview_import(wb, whole)
    previewed_all = time.perf_counter()

    print(f"{args.accounts} accounts; edited {king} of {account}: status per run {statuses}")
    print("| step | median s | slowest s |")
    print("|---|---|---|")
    for name, values in rows.items():
        print(f"| {name} | {statistics.median(values):.3f} | {max(values):.3f} |")
    print(f"| Excel export of one account | {exported - started:.3f} | |")
    print(f"| Excel import of it (unchanged: {preview.rows_unchanged} rows) | {imported - exported:.3f} | |")
    print(f"| Excel export of the whole portfolio ({sum(counts.values())} rows) | {exported_all - started_all:.3f} | |")
    print(f"| Excel preview of it (unchanged: {preview_all.rows_unchanged} rows) | {previewed_all - exported_all:.3f} | |")


if __name__ == "__main__":
    main()
