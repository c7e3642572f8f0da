"""A mapping's SQL, run in a worker process bounded in time and memory.

The SELECT of ``[tables.X] sql = ...`` is the user's own code over the source files: a join
without a condition (a cross join) can run for minutes and take gigabytes. So it runs in a
child process (``python -m kam_core.ingest.importers.mapping.sqlworker``) that

- stages the raw files it names (each a table named after its file, every column text),
- locks itself down (no file access, no configuration changes) and runs the SELECT with
  DuckDB's memory limit and an interrupt at the time limit,
- writes the result as Parquet and a JSON summary: rows read per file, rows produced, and for
  each join the rows of its first (driving) file that found no partner, with examples.

The parent (``run_sql``) kills the worker when its memory passes the limit (its resident size,
polled) or when it outlives the time limit (an interrupt is not checked inside one huge value),
and turns that into a message naming the setting: ``mapping_sql_time_limit_s`` or
``mapping_sql_memory_mb``. A hard address-space limit in the worker backs the poll.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

# The worker's resident memory beyond the staged files that the poll tolerates above the limit
# (Python's and DuckDB's own bookkeeping) before it kills.
SLACK_MB = 256
POLL_S = 0.05
STAGING_LIMIT_S = 900  # staging the raw files is ordinary loading: generous, but never forever
GRACE_S = 2.0  # the worker interrupts itself at the limit; the parent kills after this grace
EXAMPLES = 3


@dataclass
class SqlJob:
    table: str  # the canonical table (for messages)
    sql: str
    files: dict[str, tuple[str, str]]  # SQL name -> (path, display name)
    all_names: list[str]  # every file's SQL name (for an error message)
    out_dir: str
    time_limit_s: float
    memory_mb: float
    encoding: str | None = None
    null_values: list[str] = field(default_factory=lambda: ["NULL"])
    date_order: str = "dmy"


@dataclass
class JoinLoss:
    """Rows of a join's first (driving) file that found no partner (they are not in the result)."""

    driving: str  # display name of the driving file
    partners: list[str]  # display names of the other files (or CTEs) in the join
    rows: int  # rows of the driving file
    unmatched: int
    examples: list[tuple[int, str]]  # (row number, cells)
    rows_file: str | None = None  # Parquet of every unmatched (row number, cells)


@dataclass
class SqlResult:
    ok: bool
    error: str | None = None
    parquet: str | None = None
    rows: int = 0
    columns: list[str] = field(default_factory=list)
    inputs: list[tuple[str, int]] = field(default_factory=list)  # (display, rows read)
    joins: list[JoinLoss] = field(default_factory=list)
    raw_rejects: list[tuple[str, int, str, str]] = field(default_factory=list)  # display, row, raw, reason
    nul_log: list[tuple[str, str, int, int, int]] = field(default_factory=list)
    short_log: list[tuple[str, int, int, int, int]] = field(default_factory=list)  # readers.SHORT_LOG rows
    seconds: float = 0.0  # the SELECT's time
    peak_mb: float = 0.0  # the worker's peak resident memory


# ---------------------------------------------------------------- the parent


def run_sql(job: SqlJob) -> SqlResult:
    """Run ``job`` in a worker process within its limits; the result or an error message."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[4])  # the folder holding kam_core
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    lines: list[str] = []
    killed: str | None = None
    peak = 0.0
    with subprocess.Popen(
        [sys.executable, "-c", "from kam_core.ingest.importers.mapping.sqlworker import main; main()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        stdout, errors = proc.stdout, proc.stderr
        reader = threading.Thread(target=lambda: lines.extend(stdout), daemon=True)
        err_lines: list[str] = []
        err_reader = threading.Thread(target=lambda: err_lines.extend(errors), daemon=True)
        proc.stdin.write(json.dumps(asdict(job)))
        proc.stdin.close()
        reader.start()
        err_reader.start()
        started = time.monotonic()
        sql_started: float | None = None
        staged_mb = 0.0
        while proc.poll() is None:
            time.sleep(POLL_S)
            rss = _rss_mb(proc.pid)
            peak = max(peak, rss)
            if sql_started is None and lines and lines[0].startswith("staged "):
                sql_started = time.monotonic()
                staged_mb = float(lines[0].split()[1])
            now = time.monotonic()
            if sql_started is not None and rss > staged_mb + job.memory_mb + SLACK_MB:
                killed = "memory"
            elif sql_started is not None and now - sql_started > job.time_limit_s + GRACE_S:
                killed = "time"
            elif sql_started is None and now - started > STAGING_LIMIT_S:
                killed = "staging"
            if killed:
                proc.kill()
                break
        proc.wait()
        reader.join(timeout=5)
        err_reader.join(timeout=5)
        stderr = "".join(err_lines)
    if killed:
        return SqlResult(False, error=_limit_message(job, killed), peak_mb=peak)
    summary = next((line[line.index('{"ok"'):] for line in lines if '{"ok"' in line), None)
    if summary is None:  # the worker died: its address-space limit, most likely
        last = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit code {proc.returncode}"
        if "memory" in stderr.lower() or proc.returncode in (-9, -6, 134, 137):
            return SqlResult(False, error=_limit_message(job, "memory"), peak_mb=peak)
        return SqlResult(False, error=f"the mapping's SQL stopped ({last})", peak_mb=peak)
    data = json.loads(summary)
    result = SqlResult(**{**data, "joins": [JoinLoss(**j) for j in data.get("joins", [])]})
    result.inputs = [tuple(i) for i in result.inputs]  # type: ignore[misc]
    result.raw_rejects = [tuple(r) for r in result.raw_rejects]  # type: ignore[misc]
    result.nul_log = [tuple(r) for r in result.nul_log]  # type: ignore[misc]
    result.short_log = [tuple(r) for r in result.short_log]  # type: ignore[misc]
    result.peak_mb = max(result.peak_mb, peak)
    return result


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _limit_message(job: SqlJob, which: str) -> str:
    if which == "time":
        return (f"the SQL was stopped after {job.time_limit_s:g} s (the setting mapping_sql_time_limit_s). "
                "A join without a condition (a cross join) or a join on a column that repeats makes huge "
                "results: check the joins' conditions, or raise the setting in kam.toml")
    if which == "memory":
        return (f"the SQL was stopped: it needed more than {job.memory_mb:g} MB of memory (the setting "
                "mapping_sql_memory_mb). A join without a condition (a cross join) or a join on a column "
                "that repeats makes huge results: check the joins' conditions, or raise the setting in kam.toml")
    return f"staging the files for the SQL took more than {STAGING_LIMIT_S} s"


# ---------------------------------------------------------------- the worker


def _vm_kb(key: str) -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _stage(con: duckdb.DuckDBPyConnection, job: SqlJob, result: SqlResult) -> dict[str, str]:
    """Stage each named file as table ``<name>`` (text columns) and ``__kam_rows_<name>`` (row
    numbers and cells, in the same order, for the join check). Returns name -> display."""
    from kam_core.ingest.importers.common import stage_raw
    from kam_core.ingest.readers import NUL_LOG, SHORT_LOG

    displays = {}
    for name, (path, display) in job.files.items():
        raw = stage_raw(con, Path(path), "__kam_raw", display, encoding=job.encoding,
                        null_values=job.null_values, named=True)
        cells = [c for c in con.execute("select * from __kam_raw limit 0").description if c[0] != "_row"]
        idents = ", ".join(_q(c[0]) for c in cells)
        text = "concat_ws(',', " + ", ".join(f"coalesce({_q(c[0])}, '')" for c in cells) + ")"
        con.execute(f"create table {_q(name)} as select {idents} from __kam_raw order by _row")
        con.execute(f"create table {_q('__kam_rows_' + name)} as select _row, {text} as cells "
                    "from __kam_raw order by _row")
        con.execute("drop table __kam_raw")
        rows = con.execute(f"select count(*) from {_q(name)}").fetchone()[0]
        result.inputs.append((display, rows + len(raw.staged.raw_rejects)))
        result.raw_rejects += [(display, r.row, r.raw, r.reason) for r in raw.staged.raw_rejects]
        displays[name] = display
    if con.execute("select count(*) from duckdb_tables() where table_name = $t", {"t": NUL_LOG}).fetchone()[0]:
        result.nul_log = [tuple(r) for r in con.execute(f"select * from {NUL_LOG}").fetchall()]
    if con.execute("select count(*) from duckdb_tables() where table_name = $t", {"t": SHORT_LOG}).fetchone()[0]:
        result.short_log = [tuple(r) for r in con.execute(f"select * from {SHORT_LOG}").fetchall()]
    return displays


def _select_nodes(tree: Any) -> list[dict]:
    """The SELECT nodes of a statement: the main one and those of its CTEs (nested ones too)."""
    out = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "SELECT_NODE":
                out.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(tree)
    return out


def _join_losses(con: duckdb.DuckDBPyConnection, job: SqlJob, displays: dict[str, str],
                 out_dir: Path) -> list[JoinLoss]:
    """For each join whose first table is a file: its rows that are in no row of the join."""
    tree = json.loads(con.execute("select json_serialize_sql($s)", {"s": job.sql}).fetchone()[0])
    if tree.get("error"):
        return []
    statement = tree["statements"][0]["node"]
    ctes = statement.get("cte_map")
    files = {n.casefold(): n for n in displays}
    losses = []
    for n, node in enumerate(_select_nodes(statement)):
        join = node.get("from_table") or {}
        if join.get("type") != "JOIN":
            continue
        left, partners = join, []
        while left.get("type") == "JOIN":
            partners.append(left.get("right"))
            left = left.get("left") or {}
        if left.get("type") != "BASE_TABLE" or left.get("table_name", "").casefold() not in files:
            continue
        name = files[left["table_name"].casefold()]
        ref = left.get("alias") or left["table_name"]
        probe = {**node, "select_list": [{"class": "COLUMN_REF", "type": "COLUMN_REF", "alias": "kam_rid",
                                          "query_location": 0, "query_location_length": 0,
                                          "column_names": [ref, "rowid"]}],
                 "where_clause": None, "group_expressions": [], "group_sets": [],
                 "aggregate_handling": "STANDARD_HANDLING", "having": None, "qualify": None, "sample": None,
                 "modifiers": []}
        if ctes:
            probe["cte_map"] = ctes
        text = con.execute("select json_deserialize_sql($j)",
                           {"j": json.dumps({"error": False, "statements": [{"node": probe}]})}).fetchone()[0]
        rows = con.execute(f"select count(*) from {_q(name)}").fetchone()[0]
        lost = f"""select r._row, r.cells from (select rowid as rid from {_q(name)}
                   where rowid not in (select kam_rid from ({text}))) x
                   join (select row_number() over () - 1 as rid, _row, cells from {_q('__kam_rows_' + name)}) r
                   using (rid) order by r._row"""
        con.execute(f"create or replace temp table __kam_lost as {lost}")
        unmatched = con.execute("select count(*) from __kam_lost").fetchone()[0]
        if not unmatched:
            continue
        examples = [tuple(r) for r in con.execute(f"select * from __kam_lost limit {EXAMPLES}").fetchall()]
        rows_file = out_dir / f"lost-{job.table}-{n}.parquet"
        import pyarrow.parquet as pq

        pq.write_table(con.execute("select * from __kam_lost").to_arrow_table(), rows_file)
        names = [displays.get(files.get(str(p.get("table_name", "")).casefold(), ""), p.get("table_name"))
                 if isinstance(p, dict) and p.get("type") == "BASE_TABLE" else "a subquery"
                 for p in reversed(partners)]
        losses.append(JoinLoss(displays[name], [str(x) for x in names], rows, unmatched, examples, str(rows_file)))
    return losses


def _worker(job: SqlJob) -> SqlResult:
    import pyarrow.parquet as pq

    from kam_core.ingest.checks import install_macros
    from kam_core.settings import Settings

    result = SqlResult(True)
    out_dir = Path(job.out_dir)
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    con.execute("set enable_progress_bar = false")  # stdout carries the protocol: no progress bar there
    install_macros(con, Settings({"date_order": job.date_order}))
    displays = _stage(con, job, result)
    used = con.execute("select coalesce(sum(memory_usage_bytes), 0) from duckdb_memory()").fetchone()[0]
    con.execute(f"set memory_limit = '{int(used / 2**20 + job.memory_mb)}MB'")
    con.execute("set temp_directory = ''")  # no spilling: past the limit is an error, not a full disk
    con.execute("set python_enable_replacements = false")
    con.execute("set enable_external_access = false")
    con.execute("set lock_configuration = true")
    # the hard limit: the address space now plus the allowance (the parent's poll acts first)
    limit = (_vm_kb("VmSize") * 1024) + int((job.memory_mb + SLACK_MB) * 2**20)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    print(f"staged {_vm_kb('VmRSS') / 1024:.1f}", flush=True)
    timer = threading.Timer(job.time_limit_s, con.interrupt)
    started = time.perf_counter()
    timer.start()
    try:
        table = con.sql(job.sql).to_arrow_table()
        result.seconds = time.perf_counter() - started
        result.joins = _join_losses(con, job, displays, out_dir)
    except duckdb.InterruptException:
        return SqlResult(False, error=_limit_message(job, "time"))
    except (duckdb.OutOfMemoryException, MemoryError):
        return SqlResult(False, error=_limit_message(job, "memory"))
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        names = ", ".join(job.all_names) or "none"
        return SqlResult(False, error=(
            f"the mapping's SQL failed ({first}). The source's files are the tables {names} (a file's "
            "name without its extension, lower-case, every other character as _: Order Details.csv -> "
            "order_details)"))
    finally:
        timer.cancel()
    result.rows = table.num_rows
    result.columns = list(table.column_names)
    result.parquet = str(out_dir / f"sql-{job.table}.parquet")
    pq.write_table(table, result.parquet)
    result.peak_mb = _vm_kb("VmHWM") / 1024
    return result


def main() -> None:
    from kam_core.errors import KamError

    job = SqlJob(**json.loads(sys.stdin.read()))
    try:
        result = _worker(job)
    except KamError as exc:  # a file that cannot be read
        result = SqlResult(False, error=str(exc))
    except MemoryError:
        result = SqlResult(False, error=_limit_message(job, "memory"))
    except Exception as exc:  # noqa: BLE001 - whatever happens is reported to the parent as text
        result = SqlResult(False, error=f"the mapping's SQL could not run ({type(exc).__name__}: {exc})")
    print(json.dumps(asdict(result), default=str), flush=True)


if __name__ == "__main__":
    main()
