"""The files of a source: folders searched, zips unpacked, each file named after its table.

A *source* is a folder, a ``.zip`` or single files. Canonical files are named after their
table (``accounts.csv``, ``Contacts.xlsx``, a workbook with a sheet per table); everything
else is left to the importers (``kam_core.ingest.importers``). This module knows nothing of
the importers, so that they and the loader can both use it without an import loop.
"""

from __future__ import annotations

import shutil
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from kam_core.errors import FatalFileError, LoadError
from kam_core.ingest.readers import Staged, xlsx_sheet_names
from kam_core.ingest.schema import LOAD_ORDER, TABLES

if TYPE_CHECKING:
    from kam_core.settings import Settings

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


@dataclass(frozen=True)
class ZipLimits:
    """How far a zip may expand (settings ``zip_max_total_mb`` and ``zip_max_ratio``)."""

    max_total_mb: float = 4000.0
    max_ratio: float = 100.0

    @classmethod
    def from_settings(cls, settings: Settings | None) -> ZipLimits:
        if settings is None:
            return cls()
        return cls(float(settings.zip_max_total_mb), float(settings.zip_max_ratio))


# A member (or an archive) this small is not judged by its ratio: tiny files compress oddly.
RATIO_FROM_BYTES = 1 << 20
_COPY_CHUNK = 1 << 20


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def unpack_zip(source: Path, target: Path, limits: ZipLimits | None = None) -> Path:
    """Extract ``source`` into ``target`` (created), checked before and while extracting.

    Refused with one ``LoadError`` (and nothing left behind): a member path pointing outside
    the archive, more than ``max_total_mb`` unpacked, or an expansion ratio above
    ``max_ratio`` (the archive's, or a member's of more than 1 MB) — a zip bomb's 1.5 MB that
    unpack to 1.5 GB never reach the disk. Sizes are checked as declared in the archive and
    again as the bytes are written (a member that declares less than it holds is stopped).
    """
    limits = limits or ZipLimits()
    max_total = limits.max_total_mb * 1e6
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError):
        raise LoadError(f"{source.name}: not a readable zip file") from None
    with zf:
        members = [m for m in zf.infolist() if not m.is_dir()]
        root = target.resolve()
        for m in members:
            dest = (target / m.filename).resolve()
            if not dest.is_relative_to(root):
                raise LoadError(f"{source.name}: zip member {m.filename!r} points outside the archive; refused")
        declared = sum(m.file_size for m in members)
        packed = max(source.stat().st_size, 1)
        _check_size(source, declared, max_total)
        if declared > RATIO_FROM_BYTES and declared / packed > limits.max_ratio:
            raise _bomb(source, declared, packed, limits)
        for m in members:
            if m.file_size > RATIO_FROM_BYTES and m.file_size / max(m.compress_size, 1) > limits.max_ratio:
                raise _bomb(source, m.file_size, m.compress_size, limits, m.filename)
        target.mkdir(parents=True, exist_ok=False)
        written = 0
        try:
            for m in members:
                dest = target / m.filename
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(m) as src, dest.open("wb") as out:
                    mine = 0
                    while chunk := src.read(_COPY_CHUNK):
                        mine += len(chunk)
                        written += len(chunk)
                        if mine > m.file_size:  # the header lied about the size
                            raise _bomb(source, written, packed, limits, m.filename, lied=True)
                        _check_size(source, written, max_total)
                        out.write(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            shutil.rmtree(target, ignore_errors=True)
            raise LoadError(f"{source.name}: the zip is damaged ({exc}); refused") from None
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
    return target


def _check_size(source: Path, size: float, max_total: float) -> None:
    if size > max_total:
        raise LoadError(
            f"{source.name} unpacks to more than {_mb(max_total)} (the setting zip_max_total_mb); refused. "
            "Unpack it yourself and load the folder, or raise the setting in kam.toml")


def _bomb(source: Path, size: float, packed: float, limits: ZipLimits, member: str | None = None,
          lied: bool = False) -> LoadError:
    what = f"{source.name}" + (f" member {member!r}" if member else "")
    if lied:
        return LoadError(f"{what} holds more bytes than the archive declares: a manipulated zip; refused")
    return LoadError(
        f"{what} expands {size / max(packed, 1):,.0f}-fold ({_mb(packed)} to {_mb(size)}), more than the "
        f"setting zip_max_ratio allows ({limits.max_ratio:g}-fold): a zip bomb or an unusual archive; "
        "refused. Unpack it yourself and load the folder, or raise the setting in kam.toml")


def source_entries(sources: list[Path], workdir: Path, limits: ZipLimits | None = None
                   ) -> tuple[list[tuple[Path, str]], list[Path]]:
    """The files of the sources with the names the user knows them by, and each source's base.

    Folders are searched (hidden files and ``__MACOSX`` skipped), a ``.zip`` is unpacked once
    into ``workdir`` (checked by ``unpack_zip``), single files stand for themselves.
    """
    entries: list[tuple[Path, str]] = []
    bases: list[Path] = []
    for i, source in enumerate(Path(s) for s in sources):
        if source.is_dir():
            files = sorted(p for p in source.rglob("*") if p.is_file() and not source_hidden(p, source))
            base = source
        elif source.suffix.lower() == ".zip":
            base = unpack_zip(source, workdir / f"zip{i}-{source.stem}", limits)
            files = sorted(p for p in base.rglob("*") if p.is_file() and not source_hidden(p, base))
        else:
            files, base = [source], source.parent
        bases.append(base)
        entries.extend((p, p.relative_to(base).as_posix() if p != source else p.name) for p in files)
    return entries, bases


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


