"""The product's four reports against the pandas peer, side by side (prints tables; not a test).

One command, from the project root:

    python bench/side_by_side.py [--scales 1000 10000 100000] [--runs 5] [--workdir DIR]

For each scale it writes the peer's canonical export with ``gen_scale.py`` and loads it with
the product's loader (both kept in --workdir, under the system's temporary folder by default;
the database is loaded again when it lacks the stored steps of this version of the code or is
older than the pipeline's code), then, each in a fresh process:

- ``app_vs_peer.py SOURCE DB RUNS`` — the speed anchor, unchanged: the product's
  ``base_metrics`` + ``score_portfolio`` against the peer's coverage, growth, portfolio and
  health on frames already in memory, interleaved, median of RUNS;
- the product alone: the same two calls, median wall and CPU seconds of RUNS, its peak memory
  (max RSS of a process that opens the database and computes) and the re-score after a
  weight change (median of RUNS);
- the peer alone: its compute, median wall and CPU seconds, and its peak memory (its process
  reads the CSVs and computes, as an analyst would);

then the cost of each pipeline step at the largest scale — wall seconds as the pipeline runs
them (two lanes side by side) and CPU seconds of each step run alone on one lane, which a busy
machine disturbs less — and the app's first page on the demo data (AppTest in a fresh process:
with Python's and Streamlit's start-up, and once more after clearing Streamlit's caches, as a
running server's first request). Every table says the machine's load average while it was
measured: on this 2-core machine other work often runs beside, and the wall times move with it.
The peer's scripts are looked up in ``../shared/bench`` beside the project (--peer-dir).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PEER_DIR = ROOT.parent / "shared" / "bench"
DEFAULT_WORKDIR = Path(tempfile.gettempdir()) / "kam-side-by-side"


def _peak_mb() -> float:
    """The process's peak resident MB: Linux's high-water mark of this program's memory
    (``VmHWM``). Not ``getrusage``'s ``ru_maxrss``: a process started by another keeps, across
    the exec, the starter's size as its own maximum (this script, having loaded an export,
    made a 154 MB peer read 184 MB)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource  # (elsewhere than Linux)

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load() -> float:
    return os.getloadavg()[0]


def _timed(call, runs: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Median wall and CPU seconds of ``runs`` calls."""
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        call()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def one_product(db: str, runs: int) -> dict:
    """The four reports ``runs`` times (wall, CPU), then re-scores after a weight change."""
    sys.path.insert(0, str(ROOT))
    import duckdb

    from kam_core import Settings, base_metrics, resolve_as_of, score_portfolio
    from kam_core.metrics.portfolio import effective_criteria

    settings = Settings()
    con = duckdb.connect(db, read_only=True)
    as_of = resolve_as_of(con, settings)
    holder: dict = {}

    def four() -> None:
        holder["base"] = base_metrics(con, settings, as_of)
        score_portfolio(con, settings, as_of, metrics=holder["base"].metrics)

    load = _load()
    wall, cpu = _timed(four, runs)
    criteria = effective_criteria(con, settings)
    first = str(criteria["criterion_id"].iloc[0])
    rescore = []
    for run in range(runs):
        changed = settings.replace(criteria_weights={first: 1.0 + run})
        started = time.perf_counter()
        score_portfolio(con, changed, as_of, metrics=holder["base"].metrics)
        rescore.append(time.perf_counter() - started)
    return {"wall_s": wall, "cpu_s": cpu, "peak_mb": _peak_mb(), "rescore_s": statistics.median(rescore),
            "load": max(load, _load())}


def peer_reports(peer: Any, tables: dict, as_of: Any) -> None:
    """The peer's four reports, as ``app_vs_peer.py`` computes them."""
    cov = peer.coverage_report(tables, as_of)
    gro = peer.growth_report(tables, as_of)
    peer.portfolio_report(tables, cov, gro)
    peer.health_report(tables, cov, gro, as_of)


def one_peer(source: str, peer_dir: str, runs: int) -> dict:
    sys.path.insert(0, peer_dir)
    import pandas_peer as peer

    tables = peer.read_source(Path(source), "c")
    as_of = peer.default_as_of(tables)

    def four() -> None:
        peer_reports(peer, tables, as_of)

    load = _load()
    wall, cpu = _timed(four, runs)
    return {"wall_s": wall, "cpu_s": cpu, "peak_mb": _peak_mb(), "load": max(load, _load())}


def one_steps(db: str, runs: int) -> dict:
    """Per step: wall seconds as the pipeline runs them (two lanes) and CPU seconds with one
    lane; then the frames, the scoring inputs and the scoring."""
    sys.path.insert(0, str(ROOT))
    import duckdb

    from kam_core import Settings, resolve_as_of, score_portfolio
    from kam_core.metrics import pipeline
    from kam_core.metrics.pipeline import ALL_STEPS, run_pipeline
    from kam_core.metrics.portfolio import metrics_frame, metrics_from_rows, prepare_scores

    settings = Settings()
    con = duckdb.connect(db, read_only=True)
    as_of = resolve_as_of(con, settings)
    load = _load()
    walls: dict[str, list[float]] = {}
    for _ in range(runs):
        timings: dict[str, float] = {}

        def prepare(rows, timings=timings):  # type: ignore[no-untyped-def]
            # as base_metrics does it: on the side lane, beside health
            mark = time.perf_counter()
            metrics = metrics_from_rows(rows)
            timings["scoring inputs (percent ranks; side lane)"] = time.perf_counter() - mark
            mark = time.perf_counter()
            prepare_scores(con, settings, as_of, metrics)
            timings["score (weights, tiers, stability; side lane)"] = time.perf_counter() - mark
            return metrics

        started = time.perf_counter()
        with run_pipeline(con, settings, as_of, ALL_STEPS, timings=timings, fetch=("names",),
                          prepare={"account_metrics": prepare}) as steps:
            timings["all steps (two lanes)"] = time.perf_counter() - started
            mark = time.perf_counter()
            for name in ("names", "coverage", "growth", "plan", "health"):
                steps.lazy_frame(name)
            timings["fetch the frames (Arrow)"] = time.perf_counter() - mark
            metrics = metrics_frame(steps)
        mark = time.perf_counter()
        score_portfolio(con, settings, as_of, metrics=metrics)
        timings["score_portfolio (the kept scores)"] = time.perf_counter() - mark
        timings["base_metrics + score_portfolio"] = time.perf_counter() - started
        for name, seconds in timings.items():
            walls.setdefault(name, []).append(seconds)

    cpus: dict[str, list[float]] = {}
    run_step, run_step_rows = pipeline._run_step, pipeline._run_step_rows

    def cpu_timed(run):  # type: ignore[no-untyped-def]
        # a step into its table, or (one no other step reads) straight into Arrow rows
        def timed_step(cur, step, params, loaded, stored, *rest):  # type: ignore[no-untyped-def]
            cpu = time.process_time()
            result = run(cur, step, params, loaded, stored, *rest)
            if step.name not in stored:
                cpus.setdefault(step.name, []).append(time.process_time() - cpu)
            return result
        return timed_step

    pipeline._run_step, pipeline._run_step_rows = cpu_timed(run_step), cpu_timed(run_step_rows)
    side, pipeline.SIDE_STEPS = pipeline.SIDE_STEPS, ()
    try:
        for _ in range(runs):
            with run_pipeline(con, settings, as_of, ALL_STEPS):
                pass
    finally:
        pipeline._run_step, pipeline._run_step_rows = run_step, run_step_rows
        pipeline.SIDE_STEPS = side
    stored = {name for (name,) in con.execute("select step from kam_steps").fetchall()}
    stored |= {name for name in pipeline.KEYED_STEPS
               if con.execute("select count(*) from duckdb_tables() where table_name = ?",
                              [pipeline.STORED_PREFIX + name]).fetchone()[0]}
    return {
        "load": max(load, _load()),
        "side": list(pipeline.SIDE_STEPS),
        "steps": {name: {"wall_s": statistics.median(values),
                         "cpu_s": statistics.median(cpus[name]) if name in cpus else None,
                         "stored": name in stored}
                  for name, values in walls.items()},
    }


def one_first_page(db: str) -> dict:
    """The first page in a fresh process, split as a server splits it: its start (Python's and
    Streamlit's imports, the scan of the installed packages' component manifests, which a server
    does once when it starts) and its first request (the app's own imports, the database opened,
    every metric computed, the page drawn); then a request once started, caches cleared."""
    os.environ["KAM_DB"] = db
    os.environ["KAM_CONFIG"] = str(Path(db).with_suffix(".toml"))
    load = _load()
    started = time.perf_counter()
    import streamlit as st
    from streamlit.components.v2 import manifest_scanner
    from streamlit.testing.v1 import AppTest

    manifests = manifest_scanner.scan_component_manifests()
    # AppTest scans on every run; a server scans once, at its start
    manifest_scanner.scan_component_manifests = lambda *args, **kwargs: manifests
    server_start = time.perf_counter() - started
    started = time.perf_counter()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    first_request = time.perf_counter() - started
    ok = not at.exception
    # a running server's first request: start-up done, nothing cached
    st.cache_data.clear()
    st.cache_resource.clear()
    started = time.perf_counter()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    warm = time.perf_counter() - started
    return {"server_start_s": server_start, "first_request_s": first_request,
            "first_page_s": server_start + first_request, "after_start_s": warm,
            "ok": ok and not at.exception, "load": max(load, _load())}


def _child(*args: str, script: str = __file__) -> Any:
    """``script --one ARGS`` in a fresh process, from the project root: its last line, as JSON."""
    done = subprocess.run([sys.executable, script, "--one", *args], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _stale(db: Path) -> bool:
    """A database to load again: missing, without this code's stored steps, or older than it."""
    if not db.is_file():
        return True
    code = [ROOT / "kam_core" / "metrics" / "pipeline.py", *(ROOT / "kam_core" / "metrics" / "sql").glob("*.sql")]
    if db.stat().st_mtime < max(path.stat().st_mtime for path in code):
        return True
    sys.path.insert(0, str(ROOT))
    import duckdb

    from kam_core.metrics.pipeline import KEYED_STEPS, STATIC_STEPS, STORED_PREFIX

    with duckdb.connect(str(db), read_only=True) as con:
        tables = {name for (name,) in con.execute("select table_name from duckdb_tables()").fetchall()}
    return not {STORED_PREFIX + name for name in (*STATIC_STEPS, *KEYED_STEPS)} <= tables


def prepare(scale: int, workdir: Path, peer_dir: Path) -> tuple[Path, Path]:
    source = workdir / f"scale-{scale}"
    if not (source / "reviews.csv").is_file():
        print(f"writing the {scale:,}-account export …", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, str(peer_dir / "gen_scale.py"), str(source), str(scale)], check=True,
                       capture_output=True)
    db = workdir / f"scale-{scale}.duckdb"
    if _stale(db):
        print(f"loading the {scale:,}-account export …", file=sys.stderr, flush=True)
        sys.path.insert(0, str(ROOT))
        from kam_core.ingest.loader import load

        load([source], db)
    return source, db


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--peer-dir", type=Path, default=DEFAULT_PEER_DIR)
    parser.add_argument("--one", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        kind, *rest = args.one
        result = {"product": lambda: one_product(rest[0], int(rest[1])),
                  "peer": lambda: one_peer(rest[0], rest[1], int(rest[2])),
                  "steps": lambda: one_steps(rest[0], int(rest[1])),
                  "first_page": lambda: one_first_page(rest[0])}[kind]()
        print(json.dumps(result))
        return 0

    args.workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for scale in args.scales:
        source, db = prepare(scale, args.workdir, args.peer_dir)
        load = _load()
        anchor = subprocess.run([sys.executable, str(args.peer_dir / "app_vs_peer.py"), str(source), str(db),
                                 str(args.runs)], capture_output=True, text=True, cwd=ROOT, check=True)
        load = max(load, _load())
        last = anchor.stdout.strip().splitlines()[-1]  # app_vs_peer: product Xs, peer Ys, peer/product R
        product_s = float(last.split("product ")[1].split("s,")[0])
        peer_s = float(last.split("peer ")[1].split("s,")[0])
        ratio = float(last.rsplit("peer/product ", 1)[1])  # (of the unrounded medians)
        product = _child("product", str(db), str(args.runs))
        peer = _child("peer", str(source), str(args.peer_dir), str(args.runs))
        rows.append((scale, product_s, peer_s, ratio, load, product, peer))
        print(f"{scale:,} accounts: {last} (load average {load:.1f})", file=sys.stderr, flush=True)

    print("The four reports (app_vs_peer.py, interleaved, median of "
          f"{args.runs}; its seconds as it prints them, to two decimals, and its ratio of the unrounded "
          "medians; load = the 1-minute load average of the 2-core machine while measured):\n")
    print("| accounts | product s | peer s | peer/product | load |")
    print("|---|---|---|---|---|")
    for scale, product_s, peer_s, ratio, load, _, _ in rows:
        print(f"| {scale:,} | {product_s:.2f} | {peer_s:.2f} | {ratio:.2f} | {load:.1f} |")
    print("\nEach alone, in its own process (median wall and CPU seconds; re-score after a weight change; "
          "peak memory of the process):\n")
    print("| accounts | product s | product CPU s | peer s | peer CPU s | peer/product | re-score s | "
          "product peak MB | peer peak MB | load |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for scale, _, _, _, _, product, peer in rows:
        print(f"| {scale:,} | {product['wall_s']:.3f} | {product['cpu_s']:.3f} | {peer['wall_s']:.3f} | "
              f"{peer['cpu_s']:.3f} | {peer['wall_s'] / product['wall_s']:.2f} | {product['rescore_s']:.3f} | "
              f"{product['peak_mb']:,.0f} | {peer['peak_mb']:,.0f} | {max(product['load'], peer['load']):.1f} |")

    _, largest_db = prepare(max(args.scales), args.workdir, args.peer_dir)
    steps = _child("steps", str(largest_db), str(args.runs))
    print(f"\nPipeline steps at {max(args.scales):,} accounts (median of {args.runs}; load {steps['load']:.1f}; "
          "wall: as run, the side lane's steps "
          f"({', '.join(steps['side'])}) beside the others; CPU: each step alone on one lane; stored = read "
          "from the database, computed at load time):\n")
    print("| step | wall s | CPU s | |")
    print("|---|---|---|---|")
    for name, value in steps["steps"].items():
        cpu = "" if value["cpu_s"] is None else f"{value['cpu_s']:.3f}"
        print(f"| {name} | {value['wall_s']:.3f} | {cpu} | {'stored' if value['stored'] else ''} |")

    sys.path.insert(0, str(ROOT))
    from kam_core.appdata import DEMO_DIR
    from kam_core.ingest.loader import load as load_export

    demo_db = args.workdir / "demo.duckdb"
    load_export([DEMO_DIR], demo_db)
    first = _child("first_page", str(demo_db))
    print(f"\nFirst page on the demo data (AppTest, load {first['load']:.1f}): {first['first_page_s']:.2f} s in a "
          f"fresh process = {first['server_start_s']:.2f} s the server's start (Python's and Streamlit's imports, "
          f"the scan of the packages' components) + {first['first_request_s']:.2f} s its first request (the app's "
          f"imports, the database opened, every metric computed, the page drawn); {first['after_start_s']:.2f} s "
          "for a request once started (Streamlit's caches cleared)"
          + ("" if first["ok"] else " (with an exception!)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
