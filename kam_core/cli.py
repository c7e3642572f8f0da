"""``python -m kam_core``: load, report, restore, demo, overlay and review, usable without the app (spec §4).

Exit codes: 0 success; 1 a file was fatal or nothing could be built; 2 bad arguments.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Callable
from pathlib import Path

from kam_core.access import local_actor
from kam_core.errors import KamError, LoadError
from kam_core.settings import Settings

REPORT_KINDS = ("portfolio", "coverage", "growth", "health", "summary")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 on bad arguments, as we want
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; expected YYYY-MM-DD") from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m kam_core", description="KAM dashboard: load CRM exports, "
                     "compute key-account metrics, write demo data.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("load", help="build the database from CRM export files or folders")
    p.add_argument("sources", nargs="+", type=Path, metavar="SOURCE",
                   help="a folder, a .zip, or CSV/XLSX/Parquet files named after their table")
    p.add_argument("--db", required=True, type=Path, help="database file to write (replaced when complete)")
    p.add_argument("--mapping", type=Path, help="column mapping (TOML) for exports of other formats")
    p.add_argument("--config", type=Path, help="settings file (kam.toml)")
    p.add_argument("--show-rejects", type=int, default=10, metavar="N",
                   help="print the rejected rows and the warnings when there are at most N (default 10), "
                   "else them by kind of problem (the N largest kinds)")
    p.add_argument("--verbose", action="store_true",
                   help="list every ignored file (else files ignored for one reason are one line)")
    p.add_argument("--keep-backups", type=int, default=0, metavar="N",
                   help="keep the database it replaces as a backup, the newest N (default 0: none)")

    p = sub.add_parser("report", help="one row per account with the metrics of one area")
    p.add_argument("kind", choices=REPORT_KINDS)
    p.add_argument("--db", required=True, type=Path)
    p.add_argument("--config", type=Path, help="settings file (kam.toml)")
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    p.add_argument("--as-of", type=_iso_date, help="compute as of this date (YYYY-MM-DD)")

    p = sub.add_parser("restore", help="put the previous database back (a backup kept by the Data page "
                       "or load --keep-backups); the database it replaces becomes a backup")
    p.add_argument("--db", required=True, type=Path, help="the database whose backup to restore")
    p.add_argument("--list", action="store_true", help="only list the backups, newest first")

    p = sub.add_parser("demo", help="write the synthetic demo CRM export")
    p.add_argument("--out", required=True, type=Path, help="folder to write the CSV files into")
    p.add_argument("--accounts", type=int, default=150)
    p.add_argument("--seed", type=int, default=7)

    # overlay: the team's edits (the workbench); its arguments live in kam_core/workbench/cli.py
    from kam_core.workbench import cli as workbench_cli

    workbench_cli.add_parser(sub)

    # review: the mentor's review and the portfolio's history; in kam_core/workbench/review_cli.py
    from kam_core.workbench import review_cli

    review_cli.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return closed_stdout_ok(lambda: _run(parser, args))


def closed_stdout_ok(command: Callable[[], int]) -> int:
    """Run ``command``; a reader that stopped early (``… | head -3``) ends the output quietly.

    The output is flushed here, so a closed pipe shows inside the ``try`` rather than as a
    traceback when Python flushes at exit. Whatever the command did before (a save, an undo)
    is done; its exit code stands when it finished, else 0 (as ``report`` does).
    """
    code = 0
    try:
        code = command()
        sys.stdout.flush()
    except BrokenPipeError:
        # nobody reads stdout any more: point it at devnull so that the flush at exit is quiet
        try:
            fd = sys.stdout.fileno()
        except (AttributeError, OSError, ValueError):  # a replaced stdout (tests): nothing to flush at exit
            return code
        os.dup2(os.open(os.devnull, os.O_WRONLY), fd)
    return code


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    try:
        if args.command == "load":
            return _load(parser, args)
        if args.command == "report":
            return _report(parser, args)
        if args.command == "overlay":
            from kam_core.workbench import cli as workbench_cli

            return workbench_cli.run(parser, args)
        if args.command == "review":
            from kam_core.workbench import review_cli

            return review_cli.run(parser, args)
        if args.command == "restore":
            return _restore(parser, args)
        return _demo(parser, args)
    except KamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _settings(parser: argparse.ArgumentParser, path: Path | None) -> Settings:
    if path is not None and not path.is_file():
        parser.error(f"settings file {path} does not exist")
    return Settings.from_file(path)


def _load(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from kam_core.ingest.loader import load

    missing = [str(s) for s in args.sources if not s.exists()]
    if missing:
        parser.error(f"source not found: {', '.join(missing)}")
    if args.mapping is not None and not args.mapping.is_file():
        parser.error(f"mapping file {args.mapping} does not exist")
    settings = _settings(parser, args.config)
    if args.keep_backups < 0:
        parser.error("--keep-backups must be 0 or more")
    try:
        if args.keep_backups:
            from kam_core.appdata import replace_database

            report = replace_database(args.sources, args.db, settings, mapping=args.mapping, keep=args.keep_backups,
                                      actor=local_actor())
        else:
            report = load(args.sources, args.db, settings, mapping=args.mapping)
    except LoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        # a draft helps when nothing could be built from the files (not for a refused zip or a
        # running load), and is printed once
        if (args.mapping is None and str(exc).startswith("nothing was built") and "# Draft mapping" not in str(exc)
                and getattr(exc, "draft_helps", True)):
            _print_draft_mapping(args.sources)
        return 1
    for line in report.lines(verbose=args.verbose):
        print(line)
    from kam_core.workbench.review_cli import snapshot_after_cli_load

    snapshot_after_cli_load(args.db, settings)  # the portfolio's history: one snapshot per load
    _print_rejects(args.db, args.show_rejects)
    _print_missing_analyses(args.db)
    total_read = sum(f.rows_read for f in report.files)
    total_rejected = sum(f.rows_rejected for f in report.files)
    print(f"database {args.db} written in {report.seconds:.2f} s: "
          + ", ".join(f"{t} {n}" for t, n in report.table_rows.items())
          + f"; {total_read} rows read, {total_rejected} rejected")
    if not report.ok:
        problems = []
        if report.failed_tables:
            n = len(report.failed_tables)
            problems.append(f"{n} table{'s' if n > 1 else ''} failed (see FAILED at the top)")
        if report.fatal_files:
            problems.append(f"{len(report.fatal_files)} file(s) could not be loaded (see FATAL at the top)")
        print(f"error: {' and '.join(problems)}", file=sys.stderr)
        if args.mapping is None and any("required column" in (f.fatal or "") for f in report.fatal_files):
            print("hint: if these files come from another system, map their columns with --mapping FILE "
                  "(docs/importing.md)", file=sys.stderr)
        return 1
    return 0


def _print_draft_mapping(sources: list[Path]) -> None:
    """After a failed load: a draft mapping file generated from the files' headers."""
    from kam_core.ingest.importers.mapping import draft_mapping_text

    files = [p for s in sources for p in (sorted(s.rglob("*")) if s.is_dir() else [s])
             if p.is_file() and p.suffix.lower() in (".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".parquet")]
    if not files:
        return
    try:
        draft = draft_mapping_text(files)
    except KamError:
        return
    print("\nThis export is in no format the loader recognises. To load it, save a mapping file such as "
          "the draft below (check every line), then run load again with --mapping FILE:\n", file=sys.stderr)
    print(draft, file=sys.stderr)


def _print_rejects(db: Path, limit: int) -> None:
    """The rejected rows and the warnings: each row while there are at most ``limit``, else by
    kind of problem (the Data page's groups: rows, first row and its reason), the largest first."""
    import duckdb

    from kam_core.ingest.inventory import REJECT_GROUPS_SQL, WARNING_GROUPS_SQL

    if limit <= 0:
        return
    con = duckdb.connect(str(db), read_only=True)
    try:
        total = con.execute("select count(*) from rejects").fetchone()[0]
        rows = con.execute(
            """select source_file, row_number, reason,
                      -- the table, where one file feeds several
                      case when count(distinct table_name) over (partition by source_file) > 1
                           then table_name end as table_name
               from rejects order by source_file, row_number, table_name limit $n""",
            {"n": limit},
        ).fetchall() if total <= limit else []
        kinds = con.execute(REJECT_GROUPS_SQL, {"limit": limit}).fetchall() if total > limit else []
        wtotal = con.execute("select count(*) from warnings").fetchone()[0]
        warns = con.execute(
            "select source_file, row_number, message from warnings order by source_file, row_number limit $n",
            {"n": limit},
        ).fetchall() if wtotal <= limit else []
        wkinds = con.execute(WARNING_GROUPS_SQL, {"limit": limit}).fetchall() if wtotal > limit else []
    finally:
        con.close()
    if rows:
        print(f"rejected rows ({total:,}):")
        for f, r, why, table in rows:
            print(f"  {f} row {r}: {why}" + (f" (-> {table})" if table else ""))
    _print_kinds("rejected rows", total, kinds, limit)
    if warns:
        print(f"warnings ({wtotal:,}):")
        for f, r, why in warns:
            print(f"  {f} row {r}: {why}")
    _print_kinds("warnings", wtotal, wkinds, limit)


def _print_kinds(what: str, total: int, kinds: list[tuple], limit: int) -> None:
    """``what`` by kind: "1,308 rows of revenue.csv, the first row 11: revenue '12,34x' is not a number"."""
    if not kinds:
        return
    more = f"; the {limit} largest" if len(kinds) == limit else ""
    print(f"{what} ({total:,}), by kind of problem{more} (every row: the Data page, or the tables rejects "
          "and warnings of the database):")
    for f, _table, n, first, why in kinds:
        print(f"  {n:,} row{'s' if n != 1 else ''} of {f}, the first row {first}: {why}")


def _print_missing_analyses(db: Path) -> None:
    import duckdb

    from kam_core.ingest.importers import missing_analyses

    con = duckdb.connect(str(db), read_only=True)
    try:
        missing = missing_analyses(con)
    finally:
        con.close()
    if missing:
        print("analyses that need more data:")
        for line in missing:
            print(f"  {line}")


def _report(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if not args.db.is_file():
        parser.error(f"database {args.db} does not exist; build it with 'python -m kam_core load'")
    _settings(parser, args.config)  # validate before any work
    from kam_core.metrics.report import run_report

    return run_report(args.db, args.kind, args.config, args.format, args.as_of, sys.stdout)


def _restore(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from kam_core.appdata import backups, restore_backup

    kept = backups(args.db)
    if args.list:
        for b in kept:
            print(f"{b.path}\treplaced {b.replaced_at:%Y-%m-%d %H:%M:%S} UTC\t{b.size_bytes / 2**20:.1f} MB")
        return 0
    restored = restore_backup(args.db, keep=len(kept), actor=local_actor())
    print(f"restored {restored.name} as {args.db}; the data it replaced is kept as a backup")
    return 0


def _demo(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.accounts < 1:
        parser.error("--accounts must be at least 1")
    from kam_core.demo import write_demo

    paths = write_demo(args.out, accounts=args.accounts, seed=args.seed)
    print(f"demo CRM export written to {args.out}: " + ", ".join(p.name for p in paths.values()))
    return 0
