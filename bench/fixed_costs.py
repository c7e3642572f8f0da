"""What a run costs before it touches a row (prints tables; not a test).

One command, from the project root:

    python bench/fixed_costs.py [--scale 1000] [--runs 9] [--workdir DIR]

It uses the export and the database ``side_by_side.py`` keeps for the scale (made when missing)
and prints, each part in a fresh process:

1. **Each statement the pipeline computes**, run again alone on the run's cursor after a run
   (one thread of Python; DuckDB's own threads as configured): DuckDB's parser alone, then
   from DuckDB's profiler the binding, the optimiser and the physical planning, the operators
   (the sum of their timings: the rows' work) and the whole statement as Python waits for it
   (median of RUNS, into a temporary table).
2. **The pipeline's start**: a run whose step is stored (nothing computed) — the tables
   present looked up, the stand-ins made, the stored steps found.
3. **Memory**: the resident set of the product's process after each stage (Python started;
   pandas, duckdb and kam_core imported; the database opened; the as-of date; one run of the
   four reports; RUNS runs) and of the peer's (pandas imported; the CSVs read; one compute;
   RUNS computes), with the part mapped from files (shared libraries' code and data) apart.

At 1,000 accounts the statements' fixed costs are most of a run, and the libraries most of
its memory: ``docs/benchmarks.md`` ("what 1,000 accounts cannot go below") reads these tables.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from side_by_side import (  # noqa: E402
    DEFAULT_PEER_DIR,
    DEFAULT_WORKDIR,
    ROOT,
    _child,
    _load,
    _peak_mb,
    peer_reports,
    prepare,
)


def _memory() -> dict[str, float]:
    """Resident MB now (all, anonymous, mapped from files) and the peak so far."""
    fields = {}
    with open("/proc/self/smaps_rollup", encoding="ascii") as rollup:
        for line in rollup:
            parts = line.split()
            if parts[0] in ("Rss:", "Anonymous:"):
                fields[parts[0][:-1]] = int(parts[1]) / 1024
    return {"rss_mb": fields["Rss"], "anon_mb": fields["Anonymous"], "file_mb": fields["Rss"] - fields["Anonymous"],
            "peak_mb": _peak_mb()}


def one_statements(db: str, runs: int) -> dict:
    import duckdb

    sys.path.insert(0, str(ROOT))
    from kam_core import Settings, resolve_as_of
    from kam_core.metrics import pipeline
    from kam_core.sqlutil import quote_literal, run, used_params

    settings = Settings()
    con = duckdb.connect(db, read_only=True)
    as_of = resolve_as_of(con, settings)
    result: dict = {"statements": {}}
    with pipeline.run_pipeline(con, settings, as_of, pipeline.ALL_STEPS) as steps, \
            tempfile.TemporaryDirectory() as scratch:
        cur = steps.cursor
        params = steps.params()
        stored = set(steps.stored)
        profile = Path(scratch) / "profile.json"
        for name in steps.done:
            if name in stored:
                continue
            text, given = pipeline._step_select(cur, pipeline.STEPS[name], params, steps.loaded, stored)
            used = used_params(text, given)
            statement = f"create or replace temp table fixed_cost_step as {text}"
            parse, wall = [], []
            for _ in range(runs):
                started = time.perf_counter()
                cur.extract_statements(text)
                parse.append(time.perf_counter() - started)
                started = time.perf_counter()
                run(cur, statement, used)
                wall.append(time.perf_counter() - started)
            cur.execute("set enable_profiling = 'json'")
            cur.execute("set profiling_mode = 'detailed'")
            cur.execute(f"set profiling_output = {quote_literal(str(profile))}")
            run(cur, statement, used)
            cur.execute("pragma disable_profiling")
            report = json.loads(profile.read_text(encoding="utf-8"))

            def operators(node: dict) -> float:
                return sum(child.get("timing", 0.0) + operators(child) for child in node.get("children", []))

            result["statements"][name] = {
                "parse_ms": 1000 * statistics.median(parse),
                "bind_ms": 1000 * report["planner"]["binding_time"],
                "plan_ms": 1000 * (report["planner"]["total_time"] + report["optimizer"]["total_time"]
                                   + report["physical_planner"]["total_time"]),
                "optimize_ms": 1000 * report["optimizer"]["total_time"],
                "operators_ms": 1000 * operators({"children": report["operator"]}),
                "wall_ms": 1000 * statistics.median(wall),
            }
    starts = []
    for _ in range(runs):
        started = time.perf_counter()
        with pipeline.run_pipeline(con, settings, as_of, ("names",)):
            pass
        starts.append(time.perf_counter() - started)
    result["start_ms"] = 1000 * statistics.median(starts)
    return result


def one_product_memory(db: str, runs: int) -> list:
    stages = [("Python started", _memory())]
    import pandas  # noqa: F401

    stages.append(("pandas imported (with pyarrow)", _memory()))
    import duckdb

    sys.path.insert(0, str(ROOT))
    from kam_core import Settings, base_metrics, resolve_as_of, score_portfolio

    stages.append(("duckdb and kam_core imported", _memory()))
    con = duckdb.connect(db, read_only=True)
    stages.append(("the database opened", _memory()))
    settings = Settings()
    as_of = resolve_as_of(con, settings)
    stages.append(("the as-of date read", _memory()))
    for run in range(runs):
        base = base_metrics(con, settings, as_of)
        score_portfolio(con, settings, as_of, metrics=base.metrics)
        if run == 0:
            stages.append(("one run of the four reports", _memory()))
    stages.append((f"{runs} runs", _memory()))
    return stages


def one_peer_memory(source: str, peer_dir: str, runs: int) -> list:
    stages = [("Python started", _memory())]
    sys.path.insert(0, peer_dir)
    import pandas_peer as peer

    stages.append(("pandas imported (with pyarrow)", _memory()))
    tables = peer.read_source(Path(source), "c")
    as_of = peer.default_as_of(tables)
    stages.append(("the CSVs read", _memory()))
    for run in range(runs):
        peer_reports(peer, tables, as_of)
        if run == 0:
            stages.append(("one compute of the four reports", _memory()))
    stages.append((f"{runs} computes", _memory()))
    return stages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--peer-dir", type=Path, default=DEFAULT_PEER_DIR)
    parser.add_argument("--one", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        kind, *rest = args.one
        result = {"statements": lambda: one_statements(rest[0], int(rest[1])),
                  "product_memory": lambda: one_product_memory(rest[0], int(rest[1])),
                  "peer_memory": lambda: one_peer_memory(rest[0], rest[1], int(rest[2]))}[kind]()
        print(json.dumps(result))
        return 0

    args.workdir.mkdir(parents=True, exist_ok=True)
    source, db = prepare(args.scale, args.workdir, args.peer_dir)
    load = _load()
    measured = _child("statements", str(db), str(args.runs), script=__file__)
    assert isinstance(measured, dict)
    print(f"Each statement the pipeline computes at {args.scale:,} accounts, run alone after a run (ms, "
          f"median of {args.runs}; load {max(load, _load()):.1f}; plan = binding + optimiser + "
          "physical planning; operators = the rows' work):\n")
    print("| statement | parse | bind | optimise | plan | operators | whole statement |")
    print("|---|---|---|---|---|---|---|")
    for name, cost in measured["statements"].items():
        print(f"| {name} | {cost['parse_ms']:.1f} | {cost['bind_ms']:.1f} | {cost['optimize_ms']:.1f} | "
              f"{cost['plan_ms']:.1f} | {cost['operators_ms']:.1f} | {cost['wall_ms']:.1f} |")
    print(f"\nThe pipeline's start (a run of a stored step, nothing computed): {measured['start_ms']:.1f} ms")

    product = _child("product_memory", str(db), str(args.runs), script=__file__)
    peer = _child("peer_memory", str(source), str(args.peer_dir), str(args.runs), script=__file__)
    for who, stages in (("product", product), ("peer", peer)):
        assert isinstance(stages, list)
        print(f"\nThe {who}'s process at {args.scale:,} accounts (MB; from files = shared libraries' code and "
              "data):\n")
        print("| after | resident | of it from files | anonymous | peak so far |")
        print("|---|---|---|---|---|")
        for stage, memory in stages:
            print(f"| {stage} | {memory['rss_mb']:.0f} | {memory['file_mb']:.0f} | {memory['anon_mb']:.0f} | "
                  f"{memory['peak_mb']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
