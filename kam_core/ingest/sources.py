"""The files of a source: folders searched, zips unpacked, each file named after its table.

A *source* is a folder, a ``.zip`` or single files. Canonical files are named after their
table (``accounts.csv``, ``Contacts.xlsx``, a workbook with a sheet per table); everything
else is left to the importers (``kam_core.ingest.importers``). This module knows nothing of
the importers, so that they and the loader can both use it without an import loop.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from kam_core.errors import FatalFileError, LoadError
from kam_core.ingest.readers import Staged, xlsx_sheet_names
from kam_core.ingest.schema import LOAD_ORDER, TABLES

CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
XLSX_SUFFIXES = {".xlsx", ".xlsm"}
PARQUET_SUFFIXES = {".parquet", ".pq"}

# File names that mean a canonical table besides its own name (singular, common synonyms).
TABLE_ALIASES = {
    "account": "accounts",
    "customers": "accounts",
    "contact": "contacts",
    "members": "team",
    "team_members": "team",
    "users": "team",
    "relationship": "relationships",
    "activity": "activities",
    "opportunity": "opportunities",
    "deals": "opportunities",
    "criterion": "criteria",
    "scores": "criterion_scores",
    "criterion_score": "criterion_scores",
    "plan": "plan_actions",
    "actions": "plan_actions",
    "plan_action": "plan_actions",
    "review": "reviews",
    "competitor": "competitors",
}

# Kinds whose parsing turns a blank or NULL cell into null by itself (see ``checked_sql``).

def normalise_name(name: str) -> str:
    """Header or file name as matched: trimmed, case-folded, spaces and hyphens as '_'."""
    return "_".join(name.strip().casefold().replace("-", " ").split())



@dataclass
class SourceFile:
    path: Path
    display: str
    table: str
    file_format: str
    sheet: str | None = None
    # An importer's own reader (foreign formats): stages ``stg`` with canonical column names.
    stager: Callable[[duckdb.DuckDBPyConnection], Staged] | None = None
    # A side file next to a CRM export: its non-blank cells update the rows of the same key
    # that the export loaded; a key the export does not have is rejected.
    merge: bool = False



def source_hidden(path: Path, base: Path) -> bool:
    return any(part.startswith((".", "__MACOSX")) for part in path.relative_to(base).parts)


def safe_extract(zf: zipfile.ZipFile, target: Path) -> None:
    target.mkdir(parents=True)
    for member in zf.infolist():
        dest = (target / member.filename).resolve()
        if not str(dest).startswith(str(target.resolve())):
            raise LoadError(f"zip member {member.filename!r} points outside the archive")
    zf.extractall(target)


def table_for_name(stem: str) -> str | None:
    name = normalise_name(stem)
    if name in TABLES:
        return name
    return TABLE_ALIASES.get(name)


def classify(path: Path, display: str) -> tuple[list[SourceFile], str | None]:
    suffix = path.suffix.lower()
    table = table_for_name(path.stem)
    if suffix in CSV_SUFFIXES | PARQUET_SUFFIXES:
        if table is None:
            return [], f"no table is named {path.stem!r}; expected one of {', '.join(LOAD_ORDER)}"
        fmt = "csv" if suffix in CSV_SUFFIXES else "parquet"
        return [SourceFile(path, display, table, fmt)], None
    if suffix in XLSX_SUFFIXES:
        if table is not None:
            return [SourceFile(path, display, table, "xlsx")], None
        try:
            sheets = xlsx_sheet_names(path)
        except FatalFileError as exc:
            return [], str(exc)
        out = []
        skipped = []
        for sheet in sheets:
            sheet_table = table_for_name(sheet)
            if sheet_table:
                out.append(SourceFile(path, f"{display} [{sheet}]", sheet_table, "xlsx", sheet))
            else:
                skipped.append(sheet)
        why = None
        if not out:
            why = f"no sheet is named after a table; expected sheets such as {', '.join(LOAD_ORDER[:4])}"
        elif skipped:
            why = f"sheets not named after a table, ignored: {', '.join(skipped)}"
        return out, why
    return [], "not a CSV, Excel (.xlsx) or Parquet file"


