"""Where a load works, and what it leaves behind: work folders, stale leftovers, the load lock.

- Every temporary folder of this package is named ``kam-<kind>-<pid>-<random>`` (kinds:
  load, preview, upload, sql) in the system's temporary directory, so that a later load can
  tell a folder of a live process from one a killed process left behind.
- ``sweep_stale`` removes the folders of dead processes, the ``.<db>.loading-<pid>-…`` files a
  killed load left next to a database, and the unnamed copies earlier versions left in the
  temporary directory; every load calls it first.
- ``load_lock`` lets one load at a time write a database: a second load into the same
  database is refused with a message naming the process that holds it (an ``flock`` on
  ``.<db>.lock`` beside the database, released by the system when a process dies).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kam_core.errors import LoadError

KINDS = ("load", "preview", "upload", "sql")
_OWNED = re.compile(r"^kam-(?:load|preview|upload|sql)-(\d+)-")
_LOADING = re.compile(r"^\.(?P<db>.+)\.loading-(?P<pid>\d+)-[0-9a-f]+(?:\.wal)?$")
# Leftovers without a process id (earlier versions: kam-load-XXXX, kam-XXXX.csv, kam-preview-XXXX)
# are removed only when nobody has touched them for this long.
UNOWNED_AGE_S = 6 * 3600
_UNOWNED = re.compile(r"^kam-(?:load-|preview-|upload-|utf8-)?[A-Za-z0-9_]+(?:\.csv)?$")


def work_dir(kind: str, parent: Path | None = None) -> Path:
    """A new temporary folder ``kam-<kind>-<pid>-<random>`` (removed by its owner; swept if the
    owner dies)."""
    assert kind in KINDS, kind
    return Path(tempfile.mkdtemp(prefix=f"kam-{kind}-{os.getpid()}-", dir=parent))


def process_alive(pid: int) -> bool:
    """True when a process with this id runs (on this machine)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    except OSError:
        return False
    return True


def sweep_stale(temp_root: Path | None = None, db_path: Path | None = None) -> list[Path]:
    """Remove what dead processes left behind; returns what was removed.

    In the temporary directory: ``kam-<kind>-<pid>-…`` folders whose process is gone, and
    unowned ``kam-…`` leftovers of earlier versions untouched for ``UNOWNED_AGE_S``. Next to
    ``db_path``: the half-written ``.<db>.loading-<pid>-…`` files of dead loads.
    """
    removed: list[Path] = []
    root = Path(temp_root or tempfile.gettempdir())
    now = time.time()
    try:
        entries = list(root.iterdir())
    except OSError:
        entries = []
    for path in entries:
        name = path.name
        if not name.startswith("kam-"):
            continue
        owned = _OWNED.match(name)
        if owned:
            stale = not process_alive(int(owned.group(1)))
        else:
            try:
                stale = _UNOWNED.match(name) is not None and now - path.stat().st_mtime > UNOWNED_AGE_S
            except OSError:
                continue
        if stale:
            _remove(path)
            removed.append(path)
    if db_path is not None:
        folder = db_path.parent
        try:
            siblings = list(folder.iterdir())
        except OSError:
            siblings = []
        for path in siblings:
            m = _LOADING.match(path.name)
            if m and m.group("db") == db_path.name and not process_alive(int(m.group("pid"))):
                _remove(path)
                removed.append(path)
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def lock_path(db_path: Path) -> Path:
    return db_path.with_name(f".{db_path.name}.lock")


@contextmanager
def load_lock(db_path: Path, what: str = "") -> Iterator[None]:
    """Hold the database's load lock for the ``with`` block; ``LoadError`` when another load holds it."""
    path = lock_path(db_path)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _lock(fd)
        except BlockingIOError:
            holder = os.read(fd, 512).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise LoadError(
                f"another load into {db_path.name} is running ({holder}); a second one would overwrite it: "
                "try again when it has finished") from None
        # the holder before us may have removed the file after we opened it: lock the current one
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        started = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.write(fd, f"process {os.getpid()}, started {started}{', ' + what if what else ''}".encode())
        yield
    finally:
        try:
            os.unlink(path)  # while still locked: a waiting process sees the file is gone and retries
        except OSError:
            pass
        _unlock(fd)
        os.close(fd)


try:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

except ImportError:  # Windows
    import msvcrt

    def _lock(fd: int) -> None:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            raise BlockingIOError from None

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
