"""Download speed: the Explore page's CSV and Excel of ``account_metrics`` and of every loaded
table, at 1,000 and 10,000 accounts (prints a table; not a test).

The data: the scale generator's export (``scale_data.py``) loaded with ``ingest.loader.load``
into a working folder; the frame: what Explore builds (``base_metrics``, ``score_portfolio``,
``account_overview``, ``account_metrics_frame``, then ``browse`` with the row limit at the
portfolio's size, so every account is in the download); every loaded table at as many rows, and
activities once more at the page's largest row limit (100,000).

Timed, each the median of ``--repeat`` runs: the helpers ``flatten_lists``, ``mark_missing``
and ``neutralise`` on their own, the workbook writer (``write_xlsx``) on the prepared frame,
and the whole ``to_csv_bytes`` and ``to_excel_bytes``. ``mark_missing`` is timed with the
markers a load without revenue.csv would need (with every export loaded it has nothing to do);
the downloads themselves are timed as the page calls them.

    python bench/bench_export.py [--accounts 1000 10000] [--repeat 3] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE_MAX_ROWS = 100_000  # the Explore page's largest "Rows"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def timed(func: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Median seconds of ``repeat`` calls, and the last call's result."""
    runs, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = func()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs), result


def database(workdir: Path, accounts: int) -> Path:
    """The scale export of ``accounts`` loaded into ``workdir`` (kept for the next run)."""
    from scale_data import write_scale_export

    from kam_core.ingest.loader import load

    src = workdir / f"export-{accounts}"
    if not (src / "competitors.csv").is_file():
        write_scale_export(src, accounts)
    db = workdir / f"kam-{accounts}.duckdb"
    if not db.is_file():
        load([src], db)
    return db


def measure(db: Path, accounts: int, repeat: int) -> list[dict[str, object]]:
    from kam_core import export
    from kam_core.asof import resolve_as_of
    from kam_core.dataset import open_dataset
    from kam_core.explore import (
        ACCOUNT_METRICS,
        account_metrics_frame,
        browsable_tables,
        browse,
        missing_inputs_by_column,
    )
    from kam_core.metrics.overview import account_overview, base_metrics
    from kam_core.metrics.portfolio import score_portfolio
    from kam_core.metrics.sources import loaded_inputs
    from kam_core.settings import Settings

    con = open_dataset(db)
    try:
        settings = Settings()
        as_of = resolve_as_of(con, settings)
        base = base_metrics(con, settings, as_of)
        overview = account_overview(con, settings, base, score_portfolio(con, settings, as_of, metrics=base.metrics))
        views = {ACCOUNT_METRICS: account_metrics_frame(overview)}
        loaded = loaded_inputs(con)
        rows = []
        # every table at as many rows as accounts, and the largest at the page's most rows
        for table, limit in [*((t, accounts) for t in browsable_tables(con, views)), ("activities", PAGE_MAX_ROWS)]:
            frame = browse(con, table, limit=limit, views=views).frame
            row: dict[str, object] = {"accounts": accounts, "table": table, "rows": len(frame),
                                      "cols": len(frame.columns)}
            if table == ACCOUNT_METRICS:
                missing = missing_inputs_by_column(list(frame.columns), loaded)  # as the page: none
                without_revenue = missing_inputs_by_column(list(frame.columns), loaded - {"revenue"})
                row["flatten_s"], flat = timed(lambda f=frame: export.flatten_lists(f), repeat)
                row["mark_s"], marked = timed(lambda f=flat, m=without_revenue: export.mark_missing(f, m), repeat)
                row["neutralise_s"], safe = timed(lambda f=marked: export.neutralise(f), repeat)
                row["writer_s"], _ = timed(lambda f=safe, t=table: export.write_xlsx(f, t), repeat)
            else:
                missing = {}
            row["csv_s"], csv = timed(lambda f=frame, m=missing: export.to_csv_bytes(f, m), repeat)
            row["excel_s"], xlsx = timed(lambda f=frame, t=table, m=missing: export.to_excel_bytes(f, t, m), repeat)
            row["csv_mb"], row["xlsx_mb"] = len(csv) / 1e6, len(xlsx) / 1e6
            rows.append(row)
            print(f"  {accounts:,} accounts, {table}: Excel {row['excel_s']:.2f} s", file=sys.stderr, flush=True)
        return rows
    finally:
        con.close()


COLUMNS = [
    ("accounts", "accounts", "{:,}"), ("table", "table", "{}"), ("rows", "rows", "{:,}"), ("cols", "cols", "{}"),
    ("flatten_s", "flatten s", "{:.3f}"), ("mark_s", "mark s", "{:.3f}"), ("neutralise_s", "neutralise s", "{:.3f}"),
    ("writer_s", "writer s", "{:.2f}"), ("csv_s", "CSV s", "{:.2f}"), ("excel_s", "Excel s", "{:.2f}"),
    ("csv_mb", "CSV MB", "{:.1f}"), ("xlsx_mb", "xlsx MB", "{:.1f}"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing (the median is shown)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "kam-bench-export")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for accounts in args.accounts:
        rows += measure(database(args.workdir, accounts), accounts, args.repeat)
    table = [[fmt.format(row[key]) if key in row else "" for key, _, fmt in COLUMNS] for row in rows]
    heads = [head for _, head, _ in COLUMNS]
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(heads)]
    print(" | ".join(h.rjust(w) for h, w in zip(heads, widths, strict=True)))
    print("-|-".join("-" * w for w in widths))
    for r in table:
        print(" | ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))


if __name__ == "__main__":
    main()
