"""Where the app's database lives, building it from the demo export on first start, and the
backups kept when its data is replaced.

A load writes a new file and moves it into place. ``replace_database`` keeps the file it
replaces next to it as ``<name>.backup-<UTC time>`` (``kam.duckdb.backup-20250601T101500000000Z``):
a hard link taken before the load, so it costs no time and no space until the load swaps the
file; the newest ``backups_kept`` stay. ``restore_backup`` moves a backup back into place and
keeps the data it replaces as a backup in turn, so a restore can be undone the same way.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kam_core.access import Action, Actor, require
from kam_core.errors import KamError
from kam_core.ingest.workspace import load_lock
from kam_core.settings import Settings

if TYPE_CHECKING:  # the loader is imported when a load runs: a page that only reads never pays for it
    from kam_core.ingest.loader import LoadReport

ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = ROOT / "data" / "demo"
DEFAULT_DB = ROOT / "data" / "kam.duckdb"
_build_lock = threading.Lock()


def database_path() -> Path:
    """The database the app reads: ``$KAM_DB`` or ``data/kam.duckdb``."""
    return Path(os.environ.get("KAM_DB") or DEFAULT_DB)


def settings_path() -> Path:
    """The settings file the app reads and writes: ``$KAM_CONFIG`` or ``kam.toml`` at the root."""
    return Path(os.environ.get("KAM_CONFIG") or ROOT / "kam.toml")


def ensure_database(db_path: Path | None = None, demo_dir: Path = DEMO_DIR,
                    settings: Settings | None = None) -> LoadReport | None:
    """Build the database from the demo export when none exists; returns the report if built."""
    db_path = db_path or database_path()
    with _build_lock:
        if db_path.is_file():
            return None
        from kam_core.ingest.loader import load

        return load([demo_dir], db_path, settings)


# ---------------------------------------------------------------- backups

BACKUP_MARK = ".backup-"
_STAMP = "%Y%m%dT%H%M%S%fZ"


@dataclass(frozen=True)
class Backup:
    path: Path
    replaced_at: dt.datetime  # when its data was replaced (UTC)
    size_bytes: int


def backups(db_path: Path | str) -> list[Backup]:
    """The backups kept next to ``db_path``, newest first."""
    db_path = Path(db_path)
    found = []
    for path in db_path.parent.glob(f"{db_path.name}{BACKUP_MARK}*"):
        try:
            when = dt.datetime.strptime(path.name[len(db_path.name) + len(BACKUP_MARK):], _STAMP)
            size = path.stat().st_size
        except (ValueError, OSError):  # not one of ours, or gone meanwhile
            continue
        found.append(Backup(path, when.replace(tzinfo=dt.UTC), size))
    return sorted(found, key=lambda b: b.replaced_at, reverse=True)


def backup_summary(backup: Backup | Path) -> dict[str, str]:
    """What a backup holds, for choosing one: when and from what it was loaded, its accounts."""
    from kam_core.dataset import open_dataset

    path = backup.path if isinstance(backup, Backup) else Path(backup)
    con = open_dataset(path)
    try:
        tables = {t for (t,) in con.execute("select view_name from duckdb_views() where not internal").fetchall()}
        info = dict(con.execute("select key, value from load_info").fetchall()) if "load_info" in tables else {}
        if "accounts" in tables:
            info["accounts"] = f"{con.execute('select count(*) from accounts').fetchone()[0]:,}"
        return info
    finally:
        con.close()


def replace_database(sources: list[Path | str], db_path: Path | None = None, settings: Settings | None = None,
                     mapping: Path | str | None = None, keep: int | None = None, *, actor: Actor) -> LoadReport:
    """``load`` the sources into ``db_path`` on behalf of ``actor``, keeping the database it
    replaces as a backup (the newest ``keep``, default the setting ``backups_kept``). A load that
    fails leaves the database and the backups as they were. Raises ``AccessDenied`` unless the
    actor may load data (the role admin; the CLI's local user may)."""
    require(actor, Action.LOAD_DATA)
    db_path = Path(db_path or database_path())
    settings = settings or Settings()
    keep = settings.backups_kept if keep is None else keep
    from kam_core.ingest.loader import load

    backup = _keep_copy(db_path) if keep > 0 else None
    try:
        report = load(sources, db_path, settings, mapping=mapping)
    except BaseException:
        if backup is not None:  # nothing was replaced: the link only doubles the current file
            backup.unlink(missing_ok=True)
        raise
    prune_backups(db_path, keep)
    return report


def restore_backup(db_path: Path | None = None, backup: Backup | Path | None = None,
                   keep: int | None = None, *, actor: Actor) -> Path:
    """Put a backup (default: the newest) back in place of ``db_path`` on behalf of ``actor``
    (who must be allowed to load data); the data it replaces becomes the newest backup. Returns
    the backup restored (now gone from the backups)."""
    require(actor, Action.LOAD_DATA)
    db_path = Path(db_path or database_path())
    # a restore replaces the database like a load: never while a load (or restore) runs
    with load_lock(db_path, "restoring the previous data"):
        return _restore(db_path, backup, keep)


def _restore(db_path: Path, backup: Backup | Path | None, keep: int | None) -> Path:
    kept = backups(db_path)
    if backup is None:
        if not kept:
            raise KamError(f"There is no previous data to restore: no backup next to {db_path.name}.")
        chosen = kept[0].path
    else:
        chosen = backup.path if isinstance(backup, Backup) else Path(backup)
        if chosen not in {b.path for b in kept}:
            raise KamError(f"{chosen.name} is not a backup of {db_path.name}.")
    _keep_copy(db_path)
    # a stale write-ahead log of the current file must not be replayed onto the restored one
    db_path.with_name(db_path.name + ".wal").unlink(missing_ok=True)
    os.replace(chosen, db_path)
    if keep is not None:
        prune_backups(db_path, keep)
    return chosen


def prune_backups(db_path: Path | str, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups; returns the deleted paths."""
    removed = []
    for old in backups(db_path)[max(keep, 0):]:
        old.path.unlink(missing_ok=True)
        removed.append(old.path)
    return removed


def _keep_copy(db_path: Path) -> Path | None:
    """A backup of the file now at ``db_path``: a hard link (instant; the load replaces the
    path, not the file), or a copy where the file system has no hard links."""
    if not db_path.is_file():
        return None
    target = db_path.with_name(f"{db_path.name}{BACKUP_MARK}{dt.datetime.now(dt.UTC):{_STAMP}}")
    try:
        os.link(db_path, target)
    except OSError:
        shutil.copy2(db_path, target)
    return target
