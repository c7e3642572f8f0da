"""Crash safety and several processes: a writer killed with SIGKILL in the middle of a long
save loop loses at most the save it was in, never corrupts the store; two processes saving at
once both get through."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kam_core.workbench.edits import Workbench

from .conftest import ROOT
from .test_workbench import make_db

# A save of six cells (five contacts and a relationship), printed only once committed.
WRITER = """
import datetime as dt
import sys
from kam_core.workbench.edits import Update, Workbench

wb = Workbench(sys.argv[1])
contacts = sys.argv[2].split(",")
start, count = int(sys.argv[3]), int(sys.argv[4])
for i in range(start, start + count):
    ops = [Update("contacts", c, {"title": f"{c} v{i}"}) for c in contacts]
    # a new value every save, also when another writer saves the same cell in between: six changed cells
    day = dt.date(2000, 1, 1) + dt.timedelta(days=i + (0 if sys.argv[5] == "T-01" else 20_000))
    ops.append(Update("relationships", ("T-01", "C-1"), {"last_contact_date": day}))
    saved = wb.save(sys.argv[5], ops)
    print(saved.batch_id, i, flush=True)
"""


def start_writer(db: Path, contacts: str, start: int, count: int, actor: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", WRITER, str(db), contacts, str(start), str(count), actor],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def batches(store: Path) -> dict[int, int]:
    con = sqlite3.connect(store)
    try:
        assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
        return dict(con.execute("select batch_id, count(*) from changes group by batch_id").fetchall())
    finally:
        con.close()


@pytest.mark.slow
def test_kill_9_during_saves_loses_at_most_that_save(tmp_path: Path) -> None:
    db = make_db(tmp_path)
    wb = Workbench(db)
    rng = random.Random(13)
    printed: dict[int, int] = {}  # batch -> loop counter, for every save the writer saw committed
    start = 0
    for _ in range(3):  # three crashes in a row: each restart recovers the store left behind
        proc = start_writer(db, "C-1,C-2,C-3,C-4,C-5", start, 100_000, "T-01")
        for _ in range(8):  # let it get going, then kill it at a random moment of a save
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            batch, i = map(int, line.split())
            printed[batch] = i
        time.sleep(rng.uniform(0, 0.05))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        for line in proc.stdout.read().splitlines():  # committed and printed before the kill
            batch, i = map(int, line.split())
            printed[batch] = i
        proc.stdout.close()
        proc.stderr.close()
        stored = batches(wb.store_path)
        assert set(printed) <= set(stored)  # every committed save is there
        assert len(stored) - len(printed) <= 1 * 3  # at most the save in progress per crash
        assert set(stored.values()) == {6}  # no save half-written
        start = max(printed.values()) + 1000
    last = max(stored)
    history = wb.history()
    last_i = printed.get(last)
    if last_i is not None:
        assert wb.record("contacts", "C-3").values["title"] == f"C-3 v{last_i}"
    assert set(history["batch_id"]) == set(stored)
    # the store takes new saves after the crashes
    assert wb.update("T-02", "contacts", "C-1", {"attitude": "champion"}).batch_id == last + 1


@pytest.mark.slow
def test_two_processes_save_at_once(tmp_path: Path) -> None:
    db = make_db(tmp_path)
    first = start_writer(db, "C-1,C-2", 0, 15, "T-01")
    second = start_writer(db, "C-3,C-4", 0, 15, "T-02")
    outputs = [p.communicate(timeout=300) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], [o[1] for o in outputs]
    stored = batches(Workbench(db).store_path)
    assert len(stored) == 30 and set(stored.values()) == {3}
    wb = Workbench(db)
    assert wb.record("contacts", "C-2").values["title"] == "C-2 v14"
    assert wb.record("contacts", "C-4").values["title"] == "C-4 v14"
    assert sorted(wb.history()["actor"].value_counts().to_dict().items()) == [("T-01", 45), ("T-02", 45)]
