"""Attacks on the load, each with its input (issue 10): zip bombs, leftovers of killed loads and of
Windows-1252 mapping loads, two loads into one database at once. (A mapping's cross join is in
test_import_mapping.py, beside the other SQL tables.)"""

from __future__ import annotations

import io
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from kam_core.errors import LoadError
from kam_core.ingest import workspace
from kam_core.ingest.loader import load
from kam_core.ingest.sources import ZipLimits, unpack_zip
from kam_core.settings import Settings

from .conftest import MINI_ACCOUNTS, ROOT, query


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch) -> Path:
    """The system's temporary directory, for this test alone (so leftovers can be counted)."""
    root = tmp_path / "systemp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    monkeypatch.setenv("TMPDIR", str(root))
    return root


def bomb(path: Path, megabytes: int) -> Path:
    """A zip whose accounts.csv expands ~1000-fold (NUL bytes compress to almost nothing)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("accounts.csv", "w", force_zip64=True) as fh:
        fh.write(b"account_id,name\nA-1,Alpha\n")
        chunk = b"\0" * (1 << 20)
        for _ in range(megabytes):
            fh.write(chunk)
    return path


# ---------------------------------------------------------------- zip bombs


def test_a_zip_bomb_is_refused_before_anything_is_written(tmp_path: Path, temp_root: Path) -> None:
    archive = bomb(tmp_path / "export.zip", 200)  # 0.2 MB that expand to 200 MB
    assert archive.stat().st_size < 300_000
    db = tmp_path / "kam.duckdb"
    started = time.perf_counter()
    with pytest.raises(LoadError) as info:
        load([archive], db)
    assert time.perf_counter() - started < 5
    assert str(info.value).startswith("export.zip expands 1,028-fold (0.2 MB to 209.7 MB)")
    assert "more than the setting zip_max_ratio allows (100-fold): a zip bomb" in str(info.value)
    assert not db.exists()
    assert list(temp_root.iterdir()) == []  # nothing unpacked, nothing left


def test_the_unpacked_total_is_limited_while_extracting(tmp_path: Path) -> None:
    archive = tmp_path / "big.zip"
    rows = "".join(f"A-{i},Customer {i} {os.urandom(8).hex()}\n" for i in range(40_000))  # ~1.6 MB, ratio ~2
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("accounts.csv", "account_id,name\n" + rows)
    with pytest.raises(LoadError, match=r"big.zip unpacks to more than 1.0 MB \(the setting zip_max_total_mb\)"):
        load([archive], tmp_path / "kam.duckdb", Settings.from_dict({"zip_max_total_mb": 1}))
    # within the limits it loads, unpacked once
    report = load([archive], tmp_path / "kam.duckdb", Settings.from_dict({"zip_max_total_mb": 10}))
    assert report.table_rows == {"accounts": 40_000}


def test_a_zip_that_lies_about_its_sizes_is_refused(tmp_path: Path) -> None:
    data = (ROOT / "tests" / "fixtures" / "northwind" / "orders.csv").read_bytes()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("orders.csv", data)
    raw = bytearray(buf.getvalue())
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # the uncompressed size, twice
        at = raw.find(signature) + offset
        raw[at : at + 4] = struct.pack("<I", 1000)
    (tmp_path / "liar.zip").write_bytes(bytes(raw))
    target = tmp_path / "out"
    with pytest.raises(LoadError, match="liar.zip: the zip is damaged"):
        unpack_zip(tmp_path / "liar.zip", target, ZipLimits())
    assert not target.exists()


def test_zip_members_pointing_outside_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../evil.csv", "x")
    with pytest.raises(LoadError, match="zip member '../../evil.csv' points outside the archive"):
        unpack_zip(archive, tmp_path / "out")
    assert not (tmp_path / "evil.csv").exists()


# ---------------------------------------------------------------- leftovers


SLOW_LOAD = """
import sys, time
from kam_core.ingest import loader
real = loader._write_load_info
def slow(*args):
    print("writing", flush=True)
    time.sleep(float(sys.argv[3]))
    return real(*args)
loader._write_load_info = slow
report = loader.load([sys.argv[1]], sys.argv[2])
print("done", report.table_rows, flush=True)
"""


def start_slow_load(src: Path, db: Path, seconds: float, temp_root: Path) -> subprocess.Popen:
    """A real load in another process that holds still just before it writes its report."""
    env = {**os.environ, "TMPDIR": str(temp_root), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", SLOW_LOAD, str(src), str(db), str(seconds)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the load is inside its lock, files written
    assert line.strip() == "writing", (line, proc.stderr.read() if proc.stderr else "")
    return proc


def test_a_killed_load_leaves_nothing_that_the_next_load_does_not_sweep(
        src: Path, tmp_path: Path, temp_root: Path) -> None:
    (src / "accounts.csv").write_text(MINI_ACCOUNTS, encoding="utf-8")
    db = tmp_path / "data" / "kam.duckdb"
    load([src], db)
    proc = start_slow_load(src, db, 60, temp_root)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    # the killed load's half-written database and its work folder are still there …
    leftovers = [p.name for p in db.parent.glob(".kam.duckdb.loading-*")]
    assert leftovers and all(n.startswith(f".kam.duckdb.loading-{proc.pid}-") for n in leftovers)
    assert [p.name.startswith(f"kam-load-{proc.pid}-") for p in temp_root.iterdir()] == [True]
    # … a folder of a live process is kept
    live = workspace.work_dir("upload")
    # … until the next load sweeps what dead processes left; the old database is intact
    assert query(db, "select count(*) from accounts") == [(2,)]
    (src / "accounts.csv").write_text(MINI_ACCOUNTS + "A-3,Gamma\n", encoding="utf-8")
    load([src], db)
    assert query(db, "select count(*) from accounts") == [(3,)]
    assert list(db.parent.glob(".kam.duckdb.*")) == []
    assert list(temp_root.iterdir()) == [live]


def test_a_windows_1252_mapping_load_leaves_no_copy_behind(src: Path, tmp_path: Path, temp_root: Path) -> None:
    (src / "kunden.csv").write_bytes("nr;firma;umsatz\nK1;Müller €;1,5\nK2;Groß;2\n".encode("cp1252"))
    mfile = tmp_path / "m.toml"
    mfile.write_text('[tables.accounts]\nfile = "kunden.csv"\ncolumns = { account_id = "nr", name = "firma" }\n'
                     '[tables.revenue]\nsql = "select nr as account_id, \'2024-01\' as period, \'S\' as product_line,'
                     ' replace(umsatz, \',\', \'.\') as revenue from kunden"\n', encoding="utf-8")
    db = tmp_path / "kam.duckdb"
    report = load([src], db, mapping=mfile)
    assert report.ok
    assert query(db, "select name from accounts order by 1") == [("Groß",), ("Müller €",)]
    assert query(db, "select sum(revenue) from revenue") == [(3.5,)]
    assert list(temp_root.iterdir()) == []  # no UTF-8 copy of the customer data, no work folder


# ---------------------------------------------------------------- two loads into one database


def test_a_second_load_into_the_same_database_is_refused_while_the_first_runs(
        src: Path, tmp_path: Path, temp_root: Path) -> None:
    (src / "accounts.csv").write_text(MINI_ACCOUNTS, encoding="utf-8")
    other = tmp_path / "other"
    other.mkdir()
    (other / "accounts.csv").write_text("account_id,name\nB-1,Other\n", encoding="utf-8")
    db = tmp_path / "kam.duckdb"
    first = start_slow_load(src, db, 3, temp_root)
    try:
        # the second load: another process, through the command line
        second = subprocess.run([sys.executable, "-m", "kam_core", "load", str(other), "--db", str(db)],
                                capture_output=True, text=True, cwd=ROOT, timeout=60,
                                env={**os.environ, "TMPDIR": str(temp_root)})
        assert second.returncode == 1
        assert f"another load into kam.duckdb is running (process {first.pid}, started " in second.stderr
        assert "try again when it has finished" in second.stderr
        assert "Draft mapping" not in second.stderr and "no format" not in second.stderr
        # and in this process too
        with pytest.raises(LoadError, match="another load into kam.duckdb is running"):
            load([other], db)
    finally:
        out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert "done {'accounts': 2}" in out
    assert query(db, "select account_id from accounts order by 1") == [("A-1",), ("A-2",)]  # the first one's
    assert not workspace.lock_path(db).exists()
    # once the first has finished, the second may load
    load([other], db)
    assert query(db, "select account_id from accounts") == [("B-1",)]
