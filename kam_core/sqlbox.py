"""The meeting's SQL box: one read-only SELECT, no file or network access, bounded in time,
memory and rows.

A query runs in a worker process (``kam_core.sqlworker``) on a dataset connection
(``kam_core.dataset.open_dataset``: the views the app shows, external access disabled,
configuration locked), so that

- its **memory** is capped hard (``sql_memory_limit_mb``): the worker's address space is
  limited, and DuckDB's own ``memory_limit`` and ``threads`` are set inside it;
- its **time** is capped hard (``sql_time_limit_s``): the worker interrupts the query at the
  limit, and the app kills the worker half a second later if no answer came — an interrupt is
  not checked inside one huge value such as ``repeat('x', 1000000000)``;
- the app stays responsive: the query is not in the app's process, at most
  ``sql_parallel_queries`` run at once, and a few workers are kept started so that a normal
  query answers in milliseconds.

On top of the locked connection a statement is accepted only when DuckDB parses it as exactly
one SELECT.

>>> check_sql("select 1 -- a note")
'select 1 -- a note'
>>> check_sql("select 1; select 2")
Traceback (most recent call last):
...
kam_core.errors.InvalidSql: Only one statement at a time: found 2. Remove the extra ';'-separated statements.
"""

from __future__ import annotations

import atexit
import os
import pickle
import subprocess
import sys
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import duckdb

from kam_core.errors import InvalidSql, QueryInterrupted
from kam_core.sqlutil import scratch

if TYPE_CHECKING:
    import pandas as pd

    from kam_core.dataset import Overlay
    from kam_core.settings import Settings

LOCKED_CONFIG = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "lock_configuration": True,
}

MAX_RESULT_BYTES = 256 * 1024 * 1024  # a result larger than this is refused, whatever its rows
KILL_GRACE_S = 0.5  # after the time limit, the worker has this long to answer before it is killed
START_TIMEOUT_S = 30.0  # a worker that is not ready by then (a machine under load) is given up
WARM_WORKERS = 2  # workers kept started and idle, so a query does not wait for a start
PACKAGE_ROOT = Path(__file__).resolve().parent.parent


class QueryOutOfMemory(QueryInterrupted):
    """A query needed more memory than the SQL box allows."""


def open_locked(db_path: Path | str) -> duckdb.DuckDBPyConnection:
    """A read-only connection that cannot read files, reach the network or change settings."""
    return duckdb.connect(str(db_path), read_only=True, config=dict(LOCKED_CONFIG))


@dataclass
class QueryResult:
    frame: pd.DataFrame
    truncated: bool  # more rows existed than the row limit
    seconds: float


@dataclass(frozen=True)
class Limits:
    """What one query may take; ``from_settings`` reads them from the settings of the same names."""

    time_s: float = 10.0  # sql_time_limit_s
    max_rows: int = 10_000  # sql_max_rows
    memory_mb: int = 1024  # sql_memory_limit_mb
    threads: int = 2  # sql_threads
    parallel: int = 4  # sql_parallel_queries

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(time_s=settings.sql_time_limit_s, max_rows=settings.sql_max_rows,
                   memory_mb=settings.sql_memory_limit_mb, threads=settings.sql_threads,
                   parallel=settings.sql_parallel_queries)


def check_sql(sql: str, con: duckdb.DuckDBPyConnection | None = None) -> str:
    """The statement text if it is exactly one SELECT; else ``InvalidSql`` saying what to change.

    ``con`` parses (a cursor of the scratch database, ``sqlutil.scratch``, when None).
    """
    text = sql.strip().rstrip(";").strip()
    if not text:
        raise InvalidSql("Enter a SELECT statement.")
    with nullcontext(con) if con is not None else scratch() as parser:
        try:
            statements = parser.extract_statements(text)
        except duckdb.Error as exc:
            raise InvalidSql(f"The SQL does not parse: {first_line(exc)}") from None
    if len(statements) != 1:
        raise InvalidSql(
            f"Only one statement at a time: found {len(statements)}. "
            "Remove the extra ';'-separated statements."
        )
    if statements[0].type != duckdb.StatementType.SELECT:
        kind = statements[0].type.name.lower()
        raise InvalidSql(f"Only SELECT queries are allowed here; this is a {kind} statement.")
    return text


def run_query(db_path: Path | str, sql: str, limits: Limits | None = None,
              overlay: Overlay | None = None, views: dict[str, pd.DataFrame] | None = None) -> QueryResult:
    """Run one checked SELECT on the dataset of ``db_path`` in a worker, within ``limits``.

    ``overlay`` is passed to ``open_dataset`` in the worker and must be picklable. ``views``
    (name → frame, e.g. ``account_metrics``) are registered on the query's cursor in the worker
    (``kam_core.explore.register_views``), so the query can read them by name.
    Raises ``InvalidSql`` (refused or failed), ``QueryInterrupted`` (time limit, or no free
    worker within it) or ``QueryOutOfMemory``.
    """
    limits = limits or Limits()
    if not sql.strip().rstrip(";").strip():
        raise InvalidSql("Enter a SELECT statement.")
    return _pool(limits).run(str(db_path), sql, overlay, limits, views)


def prestart(limits: Limits | None = None, db_path: Path | str | None = None) -> None:
    """Start the idle workers in the background (the Explore page calls it when shown); with
    ``db_path`` they open that database before they count as ready, so that the first query
    does not wait for it."""
    pool = _pool(limits or Limits())
    if db_path is not None:
        pool.warm_path = str(db_path)
    pool.fill()


def shutdown() -> None:
    """Stop every worker (at exit; tests)."""
    global _current
    with _pools_lock:
        pool, _current = _current, None
    if pool is not None:
        pool.retire()


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ---------------------------------------------------------------- the workers


class _Worker:
    """One worker process and its two pipes."""

    def __init__(self, memory_mb: int, threads: int, warm_path: str | None = None) -> None:
        req_read, req_write = os.pipe()
        rep_read, rep_write = os.pipe()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH")) if p)
        env["MALLOC_ARENA_MAX"] = "2"  # fewer malloc arenas: less address space reserved per thread
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kam_core.sqlworker", str(req_read), str(rep_write),
                 str(memory_mb), str(threads), *([warm_path] if warm_path else [])],
                pass_fds=(req_read, rep_write), env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, cwd=str(PACKAGE_ROOT),
            )
        except BaseException:
            for fd in (req_write, rep_read):
                os.close(fd)
            raise
        finally:
            os.close(req_read)
            os.close(rep_write)
        self.requests = Connection(req_write, readable=False)
        self.replies = Connection(rep_read, writable=False)
        self.pid = self.proc.pid
        self.baseline = 0

    def receive(self, timeout_s: float) -> tuple | None:
        """The next message, or None when none came in time or the worker is gone."""
        try:
            if not self.replies.poll(max(timeout_s, 0.0)):
                return None
            return pickle.loads(self.replies.recv_bytes(MAX_RESULT_BYTES + 4096))
        except (EOFError, OSError):
            return None

    def wait_ready(self, timeout_s: float) -> bool:
        message = self.receive(timeout_s)
        if message is None or message[0] != "ready":
            return False
        self.baseline = int(message[2])  # its address space at rest; the cap is this + memory_mb
        return True

    def stop(self, kill: bool = False) -> None:
        """End the worker (closing its pipe ends it; ``kill`` at once) and reap it in the
        background: a process that held a gigabyte takes a moment to go, and the user who
        waited for its query should not wait for that too."""
        for conn in (self.requests, self.replies):
            try:
                conn.close()
            except OSError:
                pass
        if kill:
            self.proc.kill()
        threading.Thread(target=self._reap, name="kam-sqlbox-reap", daemon=True).start()

    def _reap(self) -> None:
        try:
            self.proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class _Pool:
    """Workers of one memory cap and thread count, at most ``parallel`` busy at once."""

    def __init__(self, memory_mb: int, threads: int, parallel: int) -> None:
        self.key = (memory_mb, threads, parallel)
        self.memory_mb, self.threads = memory_mb, threads
        self.slots = threading.BoundedSemaphore(parallel)
        self.lock = threading.Lock()
        self.idle: list[_Worker] = []
        self.starting = 0
        self.busy = 0
        self.retired = False
        self.warm_path: str | None = None  # the database a new worker opens before it is ready

    # -- idle workers

    def fill(self) -> None:
        """Start workers in the background until WARM_WORKERS are idle or starting."""
        with self.lock:
            missing = 0 if self.retired else WARM_WORKERS - len(self.idle) - self.starting
            self.starting += max(missing, 0)
        for _ in range(max(missing, 0)):
            threading.Thread(target=self._start_idle, name="kam-sqlbox-start", daemon=True).start()

    def _start_idle(self) -> None:
        worker = None
        try:
            worker = _Worker(self.memory_mb, self.threads, self.warm_path)
            ready = worker.wait_ready(START_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - a failed start is retried by the next query
            ready = False
        with self.lock:
            self.starting -= 1
            keep = ready and not self.retired and len(self.idle) < WARM_WORKERS
            if keep:
                self.idle.append(worker)
        if worker is not None and not keep:
            worker.stop(kill=True)

    def _take(self, deadline: float) -> _Worker | None:
        with self.lock:
            worker = self.idle.pop() if self.idle else None
        if worker is not None and worker.proc.poll() is None:
            return worker
        if worker is not None:
            worker.stop()
        worker = _Worker(self.memory_mb, self.threads)  # none idle: start one now
        if worker.wait_ready(deadline - time.monotonic()):
            return worker
        worker.stop(kill=True)
        return None

    def _give_back(self, worker: _Worker) -> None:
        with self.lock:
            keep = not self.retired and len(self.idle) < WARM_WORKERS and worker.proc.poll() is None
            if keep:
                self.idle.append(worker)
        if not keep:
            worker.stop()

    def retire(self) -> None:
        """Stop the idle workers; busy ones stop when their query ends."""
        with self.lock:
            self.retired = True
            idle, self.idle = self.idle, []
        for worker in idle:
            worker.stop()

    @property
    def running(self) -> int:
        """Queries running now."""
        with self.lock:
            return self.busy

    # -- one query

    def run(self, db_path: str, sql: str, overlay: Any, limits: Limits,
            views: dict[str, Any] | None = None) -> QueryResult:
        started = time.monotonic()
        deadline = started + limits.time_s
        if not self.slots.acquire(timeout=limits.time_s):
            raise QueryInterrupted(
                f"The SQL box is busy: it runs at most {self.key[2]} queries at once (setting "
                "sql_parallel_queries), and none finished in time. Try again in a moment."
            )
        with self.lock:
            self.busy += 1
        try:
            worker = self._take(deadline)
            if worker is None:
                raise QueryInterrupted(_time_message(limits))
            try:
                worker.requests.send_bytes(pickle.dumps({
                    "db_path": db_path, "overlay": overlay, "sql": sql, "max_rows": limits.max_rows, "views": views,
                    "timeout_s": max(deadline - time.monotonic(), 0.01),
                }))
            except (OSError, pickle.PicklingError, AttributeError, TypeError) as exc:
                worker.stop(kill=True)
                raise QueryInterrupted(f"The SQL box could not start the query: {first_line(exc)}") from None
            message = worker.receive(deadline - time.monotonic() + KILL_GRACE_S)
            if message is None:  # no answer in time, or the worker died: kill and reap it
                worker.stop(kill=True)
                self.fill()
                if time.monotonic() >= deadline:
                    raise QueryInterrupted(_time_message(limits))
                raise QueryOutOfMemory(_memory_message(limits, worker.proc.poll()))
            reply, retiring = message
            if retiring:  # it ends itself (after a memory error, or grown): a fresh one replaces it
                worker.stop()
                self.fill()
            else:
                self._give_back(worker)
        finally:
            with self.lock:
                self.busy -= 1
            self.slots.release()
        if reply[0] == "ok":
            _, frame, truncated, _ = reply
            return QueryResult(frame, truncated, time.monotonic() - started)
        return _raise(reply[1], reply[2], limits)


def _raise(kind: str, message: str, limits: Limits) -> NoReturn:
    if kind == "interrupted":
        raise QueryInterrupted(_time_message(limits))
    if kind == "memory":
        raise QueryOutOfMemory(_memory_message(limits, None))
    if kind == "too_large":
        raise InvalidSql(
            f"The result is too large to show ({message}, at most {MAX_RESULT_BYTES // 2**20} MB). "
            "Select fewer columns or rows."
        )
    if kind == "permission":
        raise InvalidSql(f"Not allowed here: {message}. The SQL box reads only the loaded tables.")
    if kind == "invalid":
        raise InvalidSql(message)
    raise InvalidSql(f"The query failed: {message}")


def _time_message(limits: Limits) -> str:
    return (
        f"The query was stopped after {limits.time_s:g} s (the time limit is set by the setting "
        "sql_time_limit_s). Add filters or aggregate to make it faster."
    )


def _memory_message(limits: Limits, returncode: int | None) -> str:
    how = "" if returncode in (None, 0) else f" (its worker ended with code {returncode})"
    return (
        f"The query needed more than {limits.memory_mb:,} MB of memory and was stopped{how}; "
        "the limit is set by the setting sql_memory_limit_mb. Aggregate, filter or select fewer "
        "columns to need less."
    )


_pools_lock = threading.Lock()
_current: _Pool | None = None


def _pool(limits: Limits) -> _Pool:
    """The pool for these limits; another memory cap, thread count or parallelism retires the old."""
    global _current
    key = (int(limits.memory_mb), int(limits.threads), int(limits.parallel))
    with _pools_lock:
        old = None
        if _current is None or _current.key != key:
            old, _current = _current, _Pool(*key)
        pool = _current
    if old is not None:  # in the background: the query that changed the limits need not wait
        threading.Thread(target=old.retire, name="kam-sqlbox-retire", daemon=True).start()
    return pool


atexit.register(shutdown)
