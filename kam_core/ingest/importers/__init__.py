"""Recognising exports of known CRMs and mapped sources (the loader's first step).

``detect`` looks at the files of the sources and, when it recognises a format (a Salesforce
Data Export, HubSpot or Dynamics 365 exports, or a mapping file), returns ``SourceFile``
entries whose ``stager`` builds the staging table ``stg`` with canonical column names, so
that the loader's checks apply unchanged. Canonical files next to an export ("side files",
e.g. ``contacts.csv`` with chess pieces) load as usual, or are merged by key into a table the
export fills. A source nobody recognises gets a pointer to ``--mapping`` with a draft.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from kam_core.ingest.importers.common import TABULAR_SUFFIXES, display_of, peek_header, peek_xlsx_headers
from kam_core.ingest.importers.mapping import Mapping, MappingError, draft_mapping_text, mapped_sources
from kam_core.ingest.schema import TABLES, loaded_tables
from kam_core.ingest.sources import SourceFile, normalise_name, table_for_name

if TYPE_CHECKING:
    from kam_core.settings import Settings

__all__ = ["Detection", "MappingError", "detect", "mapping_hint", "missing_analyses"]

# Tables a CRM export fills that a side file of the same name updates by key (not appends to).
MERGED_TABLES = ("team", "accounts", "contacts", "opportunities")


@dataclass
class Detection:
    files: list[SourceFile]
    consumed: set[Path] = field(default_factory=set)  # files handled here (not by name)
    messages: list[str] = field(default_factory=list)  # "Salesforce Data Export detected: ..."
    ignored: list[str] = field(default_factory=list)  # "Case.csv (not used by the KAM model)"
    currency: str | None = None  # the currency of the amounts, when the export decides it


def detect(
    files: list[Path],
    base: Path,
    mapping: Path | None = None,
    settings: Settings | None = None,
    displays: dict[Path, str] | None = None,
) -> Detection | None:
    """The recognised format of these files, or None for canonical files named after tables.

    ``displays`` gives each file's name as the user knows it (relative to its source).
    Raises ``MappingError`` for an invalid mapping file.
    """
    from kam_core.ingest.importers import dynamics, hubspot, salesforce
    from kam_core.settings import Settings

    settings = settings or Settings()
    parsed = Mapping.from_file(mapping) if mapping is not None else None
    overrides = {n: t for n, t in parsed.tables.items() if t.is_override} if parsed else {}
    side = {p: t for p in files if (t := table_for_name(p.stem)) and _is_canonical(p, t)}
    crm_files = [p for p in files if p not in side]

    det = Detection(files=[])
    result = salesforce.detect(
        crm_files, base, displays, settings, overrides, relationships_given="relationships" in side.values()
    )
    if result is None:
        result = hubspot.detect(crm_files, base, displays, settings, overrides)
    if result is None:
        result = dynamics.detect(crm_files, base, displays, settings, overrides)
    if result is not None:
        det.files, det.consumed, det.messages, det.ignored = result[0], set(result[1]), result[2], result[3]
        det.currency = result[4] if len(result) > 4 else None
    if parsed is not None:
        crm_tables = {f.table for f in det.files}
        mapped = mapped_sources(
            parsed, [p for p in files if p not in det.consumed], base, displays, crm_tables, settings
        )
        replaced = {f.table for f in mapped.files}
        det.files = [f for f in det.files if f.table not in replaced] + mapped.files
        det.consumed |= mapped.consumed
        det.messages += mapped.messages
        unused = [p for p in files if p not in det.consumed and p not in side]
        det.ignored += [f"{display_of(p, base, displays)} (not used by the mapping)" for p in unused]
        det.consumed |= set(unused)
        det.messages += _options_without_effect(parsed, side, det.consumed, base, displays)
    if not det.files and parsed is None:
        hint = mapping_hint(files, base, displays)
        return Detection(files=[], messages=[hint]) if hint else None
    _side_files(det, side, base, displays)
    return det


def _options_without_effect(parsed: Mapping, side: dict[Path, str], consumed: set[Path], base: Path,
                            displays: dict[Path, str] | None) -> list[str]:
    """A mapping's reading options (date_format, decimal, …) apply to the files its tables read;
    a file loaded by its name (accounts.csv) is read as usual: say so rather than ignore them."""
    options = [k for k in ("encoding", "decimal", "date_format") if getattr(parsed, k) is not None]
    options += ["null_values"] if parsed.null_values else []
    for name, tm in parsed.tables.items():
        if tm.is_override:
            options += [f"tables.{name}.{k}" for k in ("encoding", "decimal", "date_format", "null_values")
                        if getattr(tm, k) is not None]
    by_name = [(p, t) for p, t in side.items() if p not in consumed]
    if not options or not by_name:
        return []
    first, table = by_name[0]
    return [f"mapping: {', '.join(options)} not applied to {', '.join(display_of(p, base, displays) for p, _ in by_name)} "
            f"(loaded by its name, read as usual); to read it with the mapping's options, add [tables.{table}] "
            f'with file = "{first.name}"']


def _is_canonical(path: Path, table: str) -> bool:
    """A file named after a table whose header carries that table's key (or required) columns."""

    if path.suffix.lower() not in TABULAR_SUFFIXES | {".parquet", ".pq"}:
        return False
    if path.suffix.lower() in (".parquet", ".pq"):
        return True
    header = {normalise_name(h) for h in peek_header(path)}
    t = TABLES[table]
    needed = t.key or tuple(c.name for c in t.required)
    return all(k in header for k in needed)


def _side_files(det: Detection, side: dict[Path, str], base: Path, displays: dict[Path, str] | None) -> None:
    """Canonical files next to an export: merged by key into tables the export fills, else loaded as usual."""

    filled = {f.table for f in det.files}
    for path, table in side.items():
        if path in det.consumed:
            continue
        display = display_of(path, base, displays)
        if table in filled and table in MERGED_TABLES:
            fmt = (
                "xlsx"
                if path.suffix.lower() in (".xlsx", ".xlsm")
                else ("parquet" if path.suffix.lower() in (".parquet", ".pq") else "csv")
            )
            det.files.append(SourceFile(path, display, table, fmt, merge=True))
            det.consumed.add(path)
            key = ", ".join(TABLES[table].key)
            det.messages.append(
                f"{display}: merged into the export's {table} by {key} (non-blank cells update)"
            )
        elif table in filled:
            det.messages.append(f"{display}: loaded as more {table} rows besides the export's")
        else:
            det.messages.append(f"{display}: loaded as {table}")


def mapping_hint(
    files: list[Path], base: Path | None = None, displays: dict[Path, str] | None = None
) -> str | None:
    """For a source in no known format and with no file named after a table: how to map it.

    Returns None when some file is named after a table (the loader's own messages apply) or
    there is no tabular file at all; else a message with a draft mapping (TOML text).
    """

    tabular = [p for p in files if p.suffix.lower() in TABULAR_SUFFIXES]
    if not tabular:
        return None
    for p in files:
        if table_for_name(p.stem):
            return None
        if p.suffix.lower() in (".xlsx", ".xlsm") and any(table_for_name(s) for s in peek_xlsx_headers(p)):
            return None
    names = ", ".join(display_of(p, base or p.parent, displays) for p in tabular)
    return (
        f"No known CRM export (Salesforce, HubSpot, Dynamics 365) and no file named after a table "
        f"among {names}. Describe the files in a mapping file and load with --mapping FILE. "
        f"A draft to start from (check every line):\n\n{draft_mapping_text(tabular)}"
    )


# ---------------------------------------------------------------- what is missing for which analysis

MISSING_CHECKS_SQL = {
    "pieces": "select count(*) filter (where piece <> 'pawn') from contacts",
    "attitudes": "select count(*) filter (where attitude <> 'neutral') from contacts",
    "gross_margin": "select count(gross_margin) from revenue",
    "mentors": "select count(mentor_id) from accounts",
    "manual_criteria": "select count(*) from criteria where source = 'manual'",
}

def table_needs(loaded: set[str] | frozenset[str]) -> list[str]:
    """One sentence per optional table that was not loaded: what it would fill, in the words of
    ``kam_core.metrics.sources.FILLS`` (the one list of what each file fills, behind every
    "needs X.csv" in the app), and the columns it needs.

    >>> table_needs({"accounts", "contacts", "revenue", "opportunities", "potential", "criteria",
    ...              "criterion_scores", "plan_actions", "reviews", "activities", "team"})
    ['relationships.csv would fill relationship coverage; the coverage component (columns member_id, contact_id, strength)']
    """
    from kam_core.metrics.sources import FILLS

    fills: dict[str, list[str]] = {}
    for area in FILLS.values():
        for table, what in area.items():
            if what not in fills.setdefault(table, []):
                fills[table].append(what)
    out = []
    # accounts is required (nothing is built without it); criterion_scores is needed only by
    # manual criteria (below)
    for table in (t for t in TABLES if t in fills and t not in ("accounts", "criterion_scores")):
        if table not in loaded:
            required = ", ".join(c.name for c in TABLES[table].columns if c.required)
            out.append(f"{table}.csv would fill {'; '.join(fills[table])} (columns {required})")
    return out


def missing_analyses(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Which analyses lack which file, in words (for the load output and the app's Data page).

    Looks at the loaded tables and at columns an export typically leaves blank (chess pieces,
    attitudes, margins, mentors, manual scores).
    """
    loaded = loaded_tables(con)
    out = table_needs(loaded)

    def none(check: str) -> bool:
        return con.execute(MISSING_CHECKS_SQL[check]).fetchone()[0] == 0

    if "contacts" in loaded:
        if none("pieces"):
            out.append(
                "relationship coverage needs contacts' chess pieces: add contacts.csv with contact_id, piece"
            )
        if none("attitudes"):
            out.append(
                "support balance and opponents need contacts' attitudes: add contacts.csv with contact_id, "
                "attitude"
            )
    if "revenue" in loaded and none("gross_margin"):
        out.append("margin needs gross margins: add a gross_margin column to revenue")
    if "accounts" in loaded and none("mentors"):
        out.append(
            "the mentor's view needs the accounts' mentors: add accounts.csv with account_id, mentor_id"
        )
    if "criteria" in loaded and "criterion_scores" not in loaded and not none("manual_criteria"):
        out.append(
            "manual criteria need scores: add criterion_scores.csv with account_id, criterion_id, score"
        )
    return out
