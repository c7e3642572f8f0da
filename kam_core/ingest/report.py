"""The load report: what happened to every file, in the words the load prints.

Problems come first (a failed table, a fatal file), then what was recognised, one line per
file, notes (an open deal without amount, NUL characters removed, rows with fewer fields than the
header, formulas without a saved value, rows a mapping's join did not match) and last what was ignored — files of the same kind summarised in one line unless
``verbose``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

# More ignored files of one kind than this are summarised in one line (unless verbose).
IGNORED_SUMMARY_FROM = 4

# Rejects the importer or the mapping makes on purpose: never a sign of a failed table.
INTENDED_REJECTS = ("deleted in Salesforce", "left out by the mapping's where")

# The fix for a table most of whose rows are rejected for one reason (first match wins).
FIX_HINTS: tuple[tuple[str, str], ...] = (
    ("holds a formula without a saved value", "open the file in Excel and save it (Excel then saves the "
     "formulas' values), or export values instead of formulas"),
    ("has no conversion rate", "set currency in kam.toml to a currency of CurrencyType.csv (its "
     "corporate currency is the usual choice), or add the missing rates to CurrencyType.csv"),
    ("cannot be converted to", "set currency in kam.toml to a currency of CurrencyType.csv"),
    ("has no account in accounts", "the column must hold the ids of accounts.account_id exactly: check "
     "that it is the account's id (not its name), or map the right column in a mapping file"),
    (" has no ", "the column must hold ids of the table it names: check that it is the id column, or map "
     "the right column in a mapping file"),
    ("no row of ", "the lookup's key must name a row of the file it looks in: check that its on = { … } pairs "
     'the columns that hold the same key in both files (match = "normalised" ignores case and spaces)'),
    ("is blank (required", "map the source column that holds it ([tables.<table>.columns] in a "
     "mapping file) or give a constant ([tables.<table>.defaults])"),
    ("looks like an Excel serial day number", "format the date columns as dates in the spreadsheet before "
     "exporting (the file holds Excel's day numbers, such as 45123 for 2023-07-16)"),
    ("is not a date", "give the date format (date_format in a mapping file) or the day order "
     "(date_order in kam.toml)"),
    ("is not a month", "give the date format (date_format in a mapping file)"),
    ("is not a number", 'give the decimal separator (decimal = "," or "." in a mapping file), or map '
     "the column that holds the number"),
    ("is not a whole number", "map the column that holds the whole number"),
    ("is not one of", "map the export's values to the allowed ones ([tables.<table>.values.<column>] "
     "in a mapping file)"),
    ("names no known metric", "use manual or a metric name listed in the reason"),
    ("duplicate key", "the key column is not unique in this file: map the column that identifies a row"),
    ("fields but the header has", "the delimiter or the quoting is off: a delimiter inside a value "
     "must be quoted"),
    ("(expected a year 1900-2199)", "the dates were read with the wrong format: give the day order "
     '(date_order in kam.toml) or the date format (date_format = "%m/%d/%y" in a mapping file)'),
    ("is out of range", "check the column's unit (probability 0-1 or a percentage, strength 0-4, "
     "scores 0-10)"),
    ("holds the Excel error", "fix the formulas in the workbook, or export values instead of formulas"),
)
DEFAULT_FIX = "see the rejected rows and their reasons (the Data page, or the rejects table)"


def reason_kind(reason: str) -> str:
    """A reject reason without its values, so that rows rejected for one reason count together.

    >>> reason_kind("account_id 'A-9' has no account in accounts")
    "account_id '…' has no account in accounts"
    >>> reason_kind("the row has 5 fields but the header has 4; a delimiter inside a value must be quoted")
    'the row has N fields but the header has N; a delimiter inside a value must be quoted'
    """
    return re.sub(r"\d+", "N", re.sub(r"'[^']*'", "'…'", reason))


def fix_for(reason: str, table: str) -> str:
    """The fix to suggest for a reason (``<table>`` filled in).

    >>> fix_for("period '13/2024' is not a month (YYYY-MM or a date in the month)", "revenue")
    'give the date format (date_format in a mapping file)'
    """
    for needle, fix in FIX_HINTS:
        if needle in reason:
            return fix.replace("<table>", table)
    return DEFAULT_FIX


@dataclass
class FileResult:
    """One file (or one mapped table) of a load: its counts and what went wrong."""

    source_file: str
    table: str | None
    file_format: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    warnings: int = 0
    fatal: str | None = None
    ignored_columns: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # more than half the rows rejected for one reason: "<n> of <m> rows rejected: <reason>. Fix: …"
    failure: str | None = None
    # lines printed under the file: NUL characters removed, rows combined, unmatched join rows …
    notes: list[str] = field(default_factory=list)
    # a table derived from raw files (mapping SQL, grouped rows): each raw file and its rows
    inputs: list[tuple[str, int]] = field(default_factory=list)
    sheet: str | None = None  # the worksheet read (with source_file, the one file it was built from)
    # columns read from other files (a mapping's lookups): (file, sheet, header)
    lookup_reads: list[tuple[str, str | None, str]] = field(default_factory=list)

    def line(self) -> str:
        target = f" -> {self.table}" if self.table else ""
        extra = f", {self.warnings:,} warning{'s' if self.warnings != 1 else ''}" if self.warnings else ""
        if self.inputs:  # derived rows: the files read, then what became of them (notes say how)
            read = " + ".join(f"{name} {n:,}" for name, n in self.inputs)
            return (f"{self.source_file}{target}: read {read} rows; {self.rows_loaded:,} loaded, "
                    f"{self.rows_rejected:,} rejected{extra} ({self.seconds:.2f} s)")
        return (f"{self.source_file}{target}: {self.rows_read:,} read, {self.rows_loaded:,} loaded, "
                f"{self.rows_rejected:,} rejected{extra} ({self.seconds:.2f} s)")


@dataclass
class LoadReport:
    db_path: Path
    files: list[FileResult] = field(default_factory=list)
    ignored_files: list[str] = field(default_factory=list)
    table_rows: dict[str, int] = field(default_factory=dict)
    detected: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # about the loaded data as a whole
    currency: str | None = None  # the currency the amounts are in
    seconds: float = 0.0

    @property
    def fatal_files(self) -> list[FileResult]:
        return [f for f in self.files if f.fatal]

    @property
    def failed_tables(self) -> list[FileResult]:
        return [f for f in self.files if f.failure and not f.fatal]

    @property
    def ok(self) -> bool:
        return not self.fatal_files and not self.failed_tables

    def problem_lines(self) -> list[str]:
        """The failed tables and fatal files, each with its reason (and fix): shown first."""
        out = [f"FAILED {f.table} ({f.source_file}): {f.failure}" for f in self.failed_tables]
        out += [f"FATAL {f.source_file}" + (f" -> {f.table}" if f.table else "") + f": {f.fatal}"
                for f in self.fatal_files]
        return out

    def lines(self, verbose: bool = False) -> list[str]:
        """The load output a person reads: problems first, then the files, notes and what was
        skipped (ignored files of one kind in one line unless ``verbose``)."""
        out = self.problem_lines()
        out += self.detected
        for f in self.files:
            if f.fatal:
                continue
            out.append(f.line())
            out += [f"  {note}" for note in f.notes]
            if f.ignored_columns:
                out.append(f"  columns outside the model, ignored: {', '.join(f.ignored_columns)}")
        out += self.notes
        out += ignored_lines(self.ignored_files, verbose)
        return out


def ignore_only_unread_columns(files: list[FileResult]) -> None:
    """Narrow each file's ignored columns to those no table built from the same file reads,
    and no table reads through a lookup.

    Several tables can be built from one file (a deal pipeline's accounts and opportunities,
    its activities): a column one of them maps is used, not "ignored" in another one's line.
    A table whose file was fatal read nothing and does not count.

    >>> deals = [FileResult("deals.csv", "accounts", "csv", ignored_columns=["Stage", "Value", "Note"]),
    ...          FileResult("deals.csv", "opportunities", "csv", ignored_columns=["Note", "Account"])]
    >>> ignore_only_unread_columns(deals)
    >>> [f.ignored_columns for f in deals]
    [['Note'], ['Note']]
    """
    by_file: dict[tuple[str, str | None], list[FileResult]] = {}
    looked_up: dict[tuple[str, str | None], set[str]] = {}
    for f in files:
        if not f.fatal:
            by_file.setdefault((f.source_file, f.sheet), []).append(f)
            for name, sheet, header in f.lookup_reads:
                looked_up.setdefault((name, sheet), set()).add(header)
    for key, same in by_file.items():
        unread = set.intersection(*(set(f.ignored_columns) for f in same)) - looked_up.get(key, set())
        for f in same:
            f.ignored_columns = [c for c in f.ignored_columns if c in unread]


def ignored_lines(ignored: list[str], verbose: bool = False) -> list[str]:
    """``ignored: <file> (<why>)`` lines; many files ignored for one reason become one line.

    >>> ignored_lines([f"{o}.csv (Salesforce object not used by the KAM model)" for o in "ABCDE"] + ["x.pdf (no)"])
    ['ignored: 5 files (Salesforce object not used by the KAM model): A.csv, B.csv, C.csv, … (--verbose lists them all)', 'ignored: x.pdf (no)']
    """
    if verbose:
        return [f"ignored: {name}" for name in ignored]
    groups: dict[str, list[str]] = {}
    for entry in ignored:
        name, sep, why = entry.partition(" (")
        groups.setdefault(why.removesuffix(")") if sep else "", []).append(entry if not sep else name)
    out = []
    for why, names in groups.items():
        if len(names) < IGNORED_SUMMARY_FROM or not why:
            out += [f"ignored: {n} ({why})" if why else f"ignored: {n}" for n in names]
        else:
            shown = ", ".join(names[:3])
            out.append(f"ignored: {len(names):,} files ({why}): {shown}, … (--verbose lists them all)")
    return out
