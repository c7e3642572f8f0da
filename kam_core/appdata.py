"""Where the app's database lives, and building it from the demo export on first start."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from kam_core.ingest.loader import LoadReport, load
from kam_core.settings import Settings

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
        return load([demo_dir], db_path, settings)
