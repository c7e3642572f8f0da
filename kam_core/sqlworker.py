"""The SQL box's worker process: runs one user query at a time under a hard memory cap.

``kam_core.sqlbox`` starts it as ``python -m kam_core.sqlworker FD_IN FD_OUT MEMORY_MB THREADS``
and talks to it over two pipes (``multiprocessing.connection`` framing, pickled messages).
After its imports and a first DuckDB instance (whose reservations are part of the baseline),
the worker caps its own address space at the baseline plus ``MEMORY_MB`` (``RLIMIT_AS``): a
query that needs more gets an allocation failure, whatever allocates it — DuckDB's buffer
manager, a huge string, pandas — and cannot take the server's memory. DuckDB's own
``memory_limit`` sits below that cap, so most big queries fail with DuckDB's clear message
first. The time limit is enforced twice: the worker interrupts its query at the limit, and the
app kills the process shortly after if no answer came (an interrupt is not checked inside one
huge value). The worker runs at a lower priority, so the app's pages go first.

Each request names the database file and the overlay (a picklable callable, see
``kam_core.dataset``); the worker opens it with ``open_dataset`` — the same views the app shows —
and keeps that connection while the file is unchanged and no overlay is given. An idle worker
closes it after ``IDLE_CLOSE_S``, so a replaced database file is released.
"""

from __future__ import annotations

import os
import pickle
import resource
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import duckdb

from kam_core.dataset import open_dataset
from kam_core.explore import register_views
from kam_core.sqlbox import MAX_RESULT_BYTES, check_sql, first_line
from kam_core.sqlutil import fetch_frame

MB = 1024 * 1024
NICE = 5  # below the app's own threads
IDLE_CLOSE_S = 30.0  # close the cached dataset connection after this long without a request
RETIRE_GROWTH = 0.25  # a worker whose address space grew by this share of its cap starts afresh
EXIT_GRACE_S = 3.0  # the worker ends itself this long after its time limit if still busy
DUCKDB_SHARE = 0.75  # DuckDB's memory_limit as a share of the cap (the rest: strings, pandas, pickling)


def duckdb_config(memory_mb: int, threads: int) -> dict[str, Any]:
    """DuckDB settings of a worker: its own memory limit and threads, no spilling to disk."""
    return {
        "memory_limit": f"{max(int(memory_mb * DUCKDB_SHARE), 16)}MB",
        "threads": threads,
        "temp_directory": "",  # no temporary files: a query fits in memory or stops
        "preserve_insertion_order": True,
    }


def address_space() -> int:
    """This process's virtual memory size in bytes (what ``RLIMIT_AS`` bounds)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


class _Datasets:
    """The open dataset connection, reused while the file and the overlay stay the same."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.key: tuple | None = None
        self.con: duckdb.DuckDBPyConnection | None = None

    def get(self, db_path: str, overlay: Any) -> duckdb.DuckDBPyConnection:
        stat = Path(db_path).stat()
        key = (db_path, stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if overlay is not None or key != self.key or self.con is None:
            self.close()
            self.con = open_dataset(db_path, overlay, config=self.config)
            # an overlay may read files the app changes (the team's edits): never reused
            self.key = key if overlay is None else None
        return self.con

    def close(self) -> None:
        if self.con is not None:
            self.con.close()
        self.con, self.key = None, None


def answer(request: dict[str, Any], datasets: _Datasets) -> tuple:
    """One query: ``("ok", frame, truncated, seconds)`` or ``("error", kind, message)``."""
    started = time.perf_counter()
    timeout_s = float(request["timeout_s"])
    cursor: list[duckdb.DuckDBPyConnection] = []
    # the interrupt at the limit; if DuckDB does not stop (one huge value), the worker ends itself
    # a little later (the app kills it before that: this is for a worker whose app is gone)
    timer = threading.Timer(timeout_s, lambda: cursor and cursor[0].interrupt())
    last_resort = threading.Timer(timeout_s + EXIT_GRACE_S, os._exit, args=(70,))
    timer.daemon = last_resort.daemon = True
    timer.start()
    last_resort.start()
    try:
        con = datasets.get(request["db_path"], request["overlay"])
        cur = con.cursor()
        cursor.append(cur)
        register_views(cur, request.get("views"))  # account_metrics: the app's, on this cursor only
        text = check_sql(request["sql"], cur)
        max_rows = int(request["max_rows"])
        # the newlines keep a trailing -- comment from swallowing the wrapper
        frame = fetch_frame(cur, f"select * from (\n{text}\n) as q limit {max_rows + 1}")
        truncated = len(frame) > max_rows
        return ("ok", frame.head(max_rows), truncated, time.perf_counter() - started)
    except duckdb.InterruptException:
        return ("error", "interrupted", "")
    except (duckdb.OutOfMemoryException, MemoryError):
        return ("error", "memory", "")
    except duckdb.PermissionException as exc:
        return ("error", "permission", first_line(exc))
    except duckdb.Error as exc:
        if "bad allocation" in str(exc) or "std::bad_alloc" in str(exc):
            return ("error", "memory", "")
        return ("error", "failed", first_line(exc))
    except Exception as exc:  # noqa: BLE001 - anything else is reported, the worker lives on
        from kam_core.errors import KamError

        if isinstance(exc, KamError):
            return ("error", "invalid", str(exc))
        return ("error", "failed", f"{type(exc).__name__}: {first_line(exc)}")
    finally:
        timer.cancel()
        last_resort.cancel()
        for cur in cursor:
            cur.close()


def serve(requests: Connection, replies: Connection, memory_mb: int, threads: int,
          warm_path: str | None = None) -> int:
    """Answer requests until the app closes the pipe."""
    config = duckdb_config(memory_mb, threads)
    # a first instance with the same settings, and pandas loaded, before the baseline is taken
    warm = duckdb.connect(config=dict(config))
    fetch_frame(warm, "select 1 as x, 'a' as t")
    warm.close()
    baseline = address_space()
    limit = baseline + memory_mb * MB
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    datasets = _Datasets(config)
    if warm_path:  # the app's database, opened before the first query asks for it
        try:
            datasets.get(warm_path, None)
        except (OSError, duckdb.Error):
            datasets.close()
    replies.send_bytes(pickle.dumps(("ready", os.getpid(), baseline)))
    while True:
        if not requests.poll(IDLE_CLOSE_S):
            datasets.close()
            continue
        try:
            request = pickle.loads(requests.recv_bytes())
        except EOFError:
            return 0
        reply = answer(request, datasets)
        # memory a big query leaves mapped lowers the headroom of the next one: after a memory
        # error, or when the process has grown by a quarter of its cap, it ends after replying
        # (the app starts a fresh one)
        retiring = (reply[0] == "error" and reply[1] == "memory") or (
            address_space() - baseline > RETIRE_GROWTH * memory_mb * MB)
        try:
            data = pickle.dumps((reply, retiring), protocol=pickle.HIGHEST_PROTOCOL)
        except MemoryError:
            data, retiring = pickle.dumps((("error", "memory", ""), True)), True
        if len(data) > MAX_RESULT_BYTES:
            data = pickle.dumps((("error", "too_large", f"{len(data) / MB:.0f} MB"), retiring))
        replies.send_bytes(data)
        if retiring:
            return 0


def main(argv: list[str]) -> int:
    fd_in, fd_out, memory_mb, threads = (int(a) for a in argv[:4])
    warm_path = argv[4] if len(argv) > 4 else None
    os.nice(NICE)
    requests = Connection(fd_in, writable=False)
    replies = Connection(fd_out, readable=False)
    try:
        return serve(requests, replies, memory_mb, threads, warm_path)
    except (EOFError, BrokenPipeError):
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
