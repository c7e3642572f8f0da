"""The product's four reports against the pandas peer, side by side (prints tables; not a test).

One command, from the project root:

    python bench/side_by_side.py [--scales 1000 10000 100000] [--runs 5] [--workdir DIR]

For each scale it writes the peer's canonical export with ``gen_scale.py`` and loads it with
the product's loader (both reused from --workdir when present), then, each in a fresh process:

- ``app_vs_peer.py SOURCE DB RUNS`` — the speed anchor, unchanged: the product's
  ``base_metrics`` + ``score_portfolio`` against the peer's coverage, growth, portfolio and
  health on frames already in memory, interleaved, median of RUNS;
- the product alone: peak memory (max RSS of a process that opens the database and computes
  RUNS times) and the re-score after a weight change (median of RUNS);
- the peer alone: peak memory (its process reads the CSVs and computes once, as an analyst
  would);

then the cost of each pipeline step at the largest scale, and the app's first page after a
start on the demo data (AppTest, a fresh process, the database already built).
The peer's scripts are looked up in ``../shared/bench`` beside the project (--peer-dir).
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
DEFAULT_PEER_DIR = ROOT.parent / "shared" / "bench"


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one_product(db: str, runs: int) -> dict:
    """Compute the four reports ``runs`` times, then re-score after a weight change."""
    sys.path.insert(0, str(ROOT))
    import duckdb

    from kam_core import Settings, base_metrics, resolve_as_of, score_portfolio
    from kam_core.metrics.portfolio import effective_criteria

    settings = Settings()
    con = duckdb.connect(db, read_only=True)
    as_of = resolve_as_of(con, settings)
    for _ in range(runs):
        base = base_metrics(con, settings, as_of)
        score_portfolio(con, settings, as_of, metrics=base.metrics)
    criteria = effective_criteria(con, settings)
    rescore = []
    for run in range(runs):
        first = str(criteria["criterion_id"].iloc[0])
        changed = settings.replace(criteria_weights={first: 1.0 + run})
        started = time.perf_counter()
        score_portfolio(con, changed, as_of, metrics=base.metrics)
        rescore.append(time.perf_counter() - started)
    return {"peak_mb": _peak_mb(), "rescore_s": statistics.median(rescore)}


def one_peer(source: str, peer_dir: str) -> dict:
    sys.path.insert(0, peer_dir)
    import pandas_peer as peer

    tables = peer.read_source(Path(source), "c")
    as_of = peer.default_as_of(tables)
    cov = peer.coverage_report(tables, as_of)
    gro = peer.growth_report(tables, as_of)
    peer.portfolio_report(tables, cov, gro)
    peer.health_report(tables, cov, gro, as_of)
    return {"peak_mb": _peak_mb()}


def one_steps(db: str, runs: int) -> dict:
    """Seconds per pipeline step (median of ``runs``), the fetch of the frames and the scoring."""
    sys.path.insert(0, str(ROOT))
    import duckdb

    from kam_core import Settings, resolve_as_of, score_portfolio
    from kam_core.metrics.overview import BaseMetrics
    from kam_core.metrics.pipeline import ALL_STEPS, run_pipeline
    from kam_core.metrics.portfolio import metrics_frame

    settings = Settings()
    con = duckdb.connect(db, read_only=True)
    as_of = resolve_as_of(con, settings)
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        timings: dict[str, float] = {}
        with run_pipeline(con, settings, as_of, ALL_STEPS, timings=timings) as steps:
            started = time.perf_counter()
            base = BaseMetrics(as_of, steps.frame("names"), steps.frame("coverage"), steps.frame("growth"),
                               steps.frame("plan"), metrics_frame(steps), steps.frame("health"))
            timings["fetch the frames"] = time.perf_counter() - started
        started = time.perf_counter()
        score_portfolio(con, settings, as_of, metrics=base.metrics)
        timings["score (weights, tiers, stability)"] = time.perf_counter() - started
        for name, seconds in timings.items():
            samples.setdefault(name, []).append(seconds)
    stored = {name for (name,) in con.execute("select step from kam_steps").fetchall()}
    return {name: {"s": statistics.median(v), "stored": name in stored} for name, v in samples.items()}


def one_first_page(db: str) -> dict:
    import os

    os.environ["KAM_DB"] = db
    os.environ["KAM_CONFIG"] = str(Path(db).with_suffix(".toml"))
    started = time.perf_counter()
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    seconds = time.perf_counter() - started
    return {"first_page_s": seconds, "ok": not at.exception}


def _child(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--one", *args], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def prepare(scale: int, workdir: Path, peer_dir: Path) -> tuple[Path, Path]:
    source = workdir / f"scale-{scale}"
    if not (source / "reviews.csv").is_file():
        subprocess.run([sys.executable, str(peer_dir / "gen_scale.py"), str(source), str(scale)], check=True,
                       capture_output=True)
    db = workdir / f"scale-{scale}.duckdb"
    if not db.is_file():
        sys.path.insert(0, str(ROOT))
        from kam_core.ingest.loader import load

        load([source], db)
    return source, db


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "kam-side-by-side")
    parser.add_argument("--peer-dir", type=Path, default=DEFAULT_PEER_DIR)
    parser.add_argument("--one", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        kind, *rest = args.one
        result = {"product": lambda: one_product(rest[0], int(rest[1])),
                  "peer": lambda: one_peer(rest[0], rest[1]),
                  "steps": lambda: one_steps(rest[0], int(rest[1])),
                  "first_page": lambda: one_first_page(rest[0])}[kind]()
        print(json.dumps(result))
        return 0

    args.workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for scale in args.scales:
        source, db = prepare(scale, args.workdir, args.peer_dir)
        anchor = subprocess.run([sys.executable, str(args.peer_dir / "app_vs_peer.py"), str(source), str(db),
                                 str(args.runs)], capture_output=True, text=True, cwd=ROOT, check=True)
        last = anchor.stdout.strip().splitlines()[-1]  # app_vs_peer: product Xs, peer Ys, peer/product R
        product_s = float(last.split("product ")[1].split("s,")[0])
        peer_s = float(last.split("peer ")[1].split("s,")[0])
        product = _child("product", str(db), str(args.runs))
        peer = _child("peer", str(source), str(args.peer_dir))
        rows.append((scale, product_s, peer_s, product, peer))
        print(f"{scale:,} accounts: {last}", file=sys.stderr, flush=True)

    print("| accounts | product s | peer s | peer/product | re-score s | product peak MB | peer peak MB |")
    print("|---|---|---|---|---|---|---|")
    for scale, product_s, peer_s, product, peer in rows:
        print(f"| {scale:,} | {product_s:.2f} | {peer_s:.2f} | {peer_s / product_s:.2f} | "
              f"{product['rescore_s']:.3f} | {product['peak_mb']:,.0f} | {peer['peak_mb']:,.0f} |")

    _, largest_db = prepare(max(args.scales), args.workdir, args.peer_dir)
    steps = _child("steps", str(largest_db), str(args.runs))
    print(f"\nPipeline steps at {max(args.scales):,} accounts (median of {args.runs}; stored = computed at "
          "load time for the data's as-of date and read here):\n")
    print("| step | s | |")
    print("|---|---|---|")
    for name, value in steps.items():
        print(f"| {name} | {value['s']:.3f} | {'stored' if value['stored'] else ''} |")

    sys.path.insert(0, str(ROOT))
    from kam_core.appdata import DEMO_DIR
    from kam_core.ingest.loader import load

    demo_db = args.workdir / "demo.duckdb"
    load([DEMO_DIR], demo_db)
    first = _child("first_page", str(demo_db))
    print(f"\nFirst page after a start on the demo data (AppTest, fresh process): {first['first_page_s']:.2f} s"
          + ("" if first["ok"] else " (with an exception!)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
