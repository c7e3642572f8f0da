"""Scale benchmark of the loader and the metrics (prints a table; not a test).

For each scale (default 1k, 10k and 100k accounts) it writes the canonical export with
``scale_data.py`` (into --workdir, reused when present), then in a fresh process per scale:

- ``read_csv``: DuckDB's own ingest of the same files (CREATE TABLE AS read_csv, auto-detect);
- ``load``: ``kam_core.ingest.loader.load`` (validation, rejects, atomic swap);
- each report kind from scratch as the CLI computes it (portfolio, coverage, growth, health);
- ``all four``: the four reports together sharing their inputs, as the app computes them
  (coverage, growth, plan status, derived metrics, scores, health — ``overview.base_metrics``);
  the median of five runs, and the slowest;
- ``re-score``: ``score_portfolio`` after a weight change, with the metrics cached (likewise);
- peak memory (max RSS of the process).

    python bench/bench_metrics.py --scales 1000 10000 100000 [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPEAT = 5
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def measure(scale: int, workdir: Path) -> dict[str, float]:
    import duckdb
    from scale_data import write_scale_export
    from side_by_side import _peak_mb

    from kam_core.asof import resolve_as_of
    from kam_core.ingest.loader import load
    from kam_core.metrics.overview import base_metrics
    from kam_core.metrics.portfolio import score_portfolio
    from kam_core.metrics.report import build_report
    from kam_core.settings import Settings

    src = workdir / f"export-{scale}"
    if not (src / "competitors.csv").is_file():
        write_scale_export(src, scale)
    out: dict[str, float] = {"scale": scale, "csv_mb": sum(p.stat().st_size for p in src.glob("*.csv")) / 1e6}

    raw_db = workdir / f"raw-{scale}.duckdb"
    raw_db.unlink(missing_ok=True)
    con = duckdb.connect(str(raw_db))
    started = time.perf_counter()
    for path in sorted(src.glob("*.csv")):
        con.execute(f"create table {path.stem} as select * from read_csv('{path}')")
    con.close()
    out["read_csv_s"] = time.perf_counter() - started
    raw_db.unlink(missing_ok=True)

    db = workdir / f"kam-{scale}.duckdb"
    started = time.perf_counter()
    report = load([src], db)
    out["load_s"] = time.perf_counter() - started
    out["rows"] = sum(f.rows_read for f in report.files)

    settings = Settings()
    con = duckdb.connect(str(db), read_only=True)
    as_of = resolve_as_of(con, settings)
    for kind in ("portfolio", "coverage", "growth", "health"):
        started = time.perf_counter()
        build_report(con, kind, settings, as_of)
        out[f"report_{kind}_s"] = time.perf_counter() - started

    # this shared machine's speed varies by ±20 % from one run to the next: the app-side
    # timings are the median of REPEAT runs, with the slowest run beside them
    runs = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        base = base_metrics(con, settings, as_of)
        scores = score_portfolio(con, settings, as_of, metrics=base.metrics)
        runs.append(time.perf_counter() - started)
    out["all_four_s"] = statistics.median(runs)
    out["all_four_max_s"] = max(runs)

    weights = dict(zip(*con.execute("select list(criterion_id), list(weight) from criteria").fetchone(), strict=True))
    first = next(iter(weights))
    changed = settings.replace(criteria_weights={first: weights[first] * 2 + 1})
    runs = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        rescored = score_portfolio(con, changed, as_of, metrics=base.metrics)
        runs.append(time.perf_counter() - started)
    out["rescore_s"] = statistics.median(runs)
    out["rescore_max_s"] = max(runs)
    out["tier_changes"] = int((rescored["tier"] != scores["tier"]).sum())
    con.close()
    out["peak_mb"] = _peak_mb()  # (this program's own peak, not its starter's: see side_by_side)
    return out


COLUMNS = [
    ("scale", "accounts", "{:,.0f}"), ("rows", "rows", "{:,.0f}"), ("csv_mb", "CSV MB", "{:.0f}"),
    ("read_csv_s", "read_csv s", "{:.1f}"), ("load_s", "load s", "{:.1f}"), ("load_ratio", "load/read_csv", "{:.1f}×"),
    ("report_portfolio_s", "portfolio s", "{:.2f}"), ("report_coverage_s", "coverage s", "{:.2f}"),
    ("report_growth_s", "growth s", "{:.2f}"), ("report_health_s", "health s", "{:.2f}"),
    ("all_four_s", "all four s", "{:.2f}"), ("all_four_max_s", "(slowest)", "{:.2f}"),
    ("rescore_s", "re-score s", "{:.2f}"), ("rescore_max_s", "(slowest)", "{:.2f}"), ("peak_mb", "peak MB", "{:,.0f}"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "kam-bench")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: measure one scale
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.one:
        print(json.dumps(measure(args.one, args.workdir)))
        return
    rows = []
    for scale in args.scales:
        done = subprocess.run([sys.executable, __file__, "--one", str(scale), "--workdir", str(args.workdir)],
                              capture_output=True, text=True, check=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        row["load_ratio"] = row["load_s"] / row["read_csv_s"]
        rows.append(row)
        print(f"measured {scale:,} accounts", file=sys.stderr)
    print("| " + " | ".join(h for _, h, _ in COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for row in rows:
        print("| " + " | ".join(fmt.format(row[key]) for key, _, fmt in COLUMNS) + " |")


if __name__ == "__main__":
    main()
