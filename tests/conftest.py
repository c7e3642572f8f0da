from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parent.parent


def write(folder: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    """Write a source file exactly as given (newlines untouched)."""
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


MINI_ACCOUNTS = "account_id,name\nA-1,Alpha\nA-2,Beta\n"


@pytest.fixture
def src(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    folder.mkdir()
    return folder


def query(db: Path, sql: str, params=None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()
