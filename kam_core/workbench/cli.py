"""``python -m kam_core overlay …``: the workbench from the command line (scripts, backups).

- ``overlay export --db PATH --out FILE.xlsx [--account ID]``: the effective values of the
  editable tables, one sheet per table (a backup of the team's knowledge in readable form);
- ``overlay import FILE.xlsx --db PATH --user NAME [--dry-run]``: apply a (partial) workbook;
  prints the changes and every refused row with sheet, row, column and reason; exit 1 when a
  row was refused (the accepted rows are saved) or the save was refused as a whole;
- ``overlay history --db PATH [--account ID] [--limit N] [--format text|csv|json]``;
- ``overlay undo --db PATH --user NAME [--save N]``: take back the user's last save (or save N);
- ``overlay orphans --db PATH``: the team's records the export no longer has.

The store is found from ``--db`` (beside it, unless ``workbench_path`` in ``--config`` or
``--store`` says otherwise). Exit codes as the rest of the CLI: 0 done, 1 refused, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from kam_core.errors import KamError
from kam_core.settings import Settings


def add_parser(sub: Any) -> None:
    """Add the ``overlay`` subcommand to the CLI's subparsers."""
    p = sub.add_parser("overlay", help="the team's edits over the export: Excel round trip, history, undo")
    actions = p.add_subparsers(dest="overlay_command", required=True, parser_class=type(p))

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--db", required=True, type=Path, help="the CRM database (its store is beside it)")
        q.add_argument("--config", type=Path, help="settings file (kam.toml), for workbench_path")
        q.add_argument("--store", type=Path, help="the workbench store file (default: from --db and the settings)")

    q = actions.add_parser("export", help="write the effective values of the editable tables to Excel")
    common(q)
    q.add_argument("--out", required=True, type=Path, help="the workbook to write (.xlsx)")
    q.add_argument("--account", help="only this account's records")

    q = actions.add_parser("import", help="apply a workbook's changes (validated, recorded in the history)")
    q.add_argument("workbook", type=Path, metavar="FILE.xlsx")
    common(q)
    q.add_argument("--user", required=True, help="who makes the changes (team member id or name)")
    q.add_argument("--dry-run", action="store_true", help="only show what would change")

    q = actions.add_parser("history", help="the changes, newest first")
    common(q)
    q.add_argument("--account", help="only this account's changes")
    q.add_argument("--limit", type=int, default=None, help="at most this many changes")
    q.add_argument("--format", choices=("text", "csv", "json"), default="text")

    q = actions.add_parser("undo", help="take back a save (default: the user's last one)")
    common(q)
    q.add_argument("--user", required=True)
    q.add_argument("--save", type=int, help="the number of the save to undo (see history)")

    q = actions.add_parser("orphans", help="the team's records that the export no longer has")
    common(q)


def settings_for(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Settings:
    """The settings of a subcommand that reads ``--db`` (and ``--config``): a usage error
    (exit 2) when either file is missing."""
    if not args.db.is_file():
        parser.error(f"database {args.db} does not exist; build it with 'python -m kam_core load'")
    if args.config is not None and not args.config.is_file():
        parser.error(f"settings file {args.config} does not exist")
    return Settings.from_file(args.config)


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from kam_core.workbench.edits import Workbench

    settings = settings_for(parser, args)
    workbench = Workbench(args.db, args.store, settings=settings)
    command = args.overlay_command
    if command == "export":
        return _export(workbench, args)
    if command == "import":
        if not args.workbook.is_file():
            parser.error(f"workbook {args.workbook} does not exist")
        return _import(workbench, args)
    if command == "history":
        return _history(workbench, args)
    if command == "undo":
        return _undo(workbench, args)
    return _orphans(workbench)


def _export(workbench: Any, args: argparse.Namespace) -> int:
    from kam_core.workbench.excel import export_workbook

    counts = export_workbook(workbench, args.out, account_id=args.account)
    print(f"{args.out} written: " + (", ".join(f"{t} {n}" for t, n in counts.items()) or "no editable table"))
    return 0


def _import(workbench: Any, args: argparse.Namespace) -> int:
    from kam_core.workbench.excel import apply_import, preview_import

    preview = preview_import(workbench, args.workbook, actor=args.user)
    for note in preview.notes:
        print(f"note: {note}")
    for c in preview.changes:
        print(f"{c.sheet} row {c.row}: {c.table} {c.record} {c.column}: {_show(c.old)} -> {_show(c.new)}")
    if args.dry_run:
        print(f"dry run: {preview.summary()}; nothing saved")
    else:
        try:
            saved = apply_import(workbench, preview, args.user)
        except KamError as exc:
            print(f"error: {exc}", file=sys.stderr)
            _print_refused(preview)
            return 1
        where = f" as save {saved.batch_id}" if saved.batch_id else ""
        print(f"{preview.summary()}; {len(saved.changes)} changes saved{where}")
    _print_refused(preview)
    return 1 if preview.refused else 0


def _print_refused(preview: Any) -> None:
    if preview.refused:
        print(f"refused rows ({len(preview.refused)}), not saved:", file=sys.stderr)
        for r in preview.refused:
            column = f" [{r.column}]" if r.column else ""
            print(f"  {r.sheet} row {r.row}{column}: {r.reason}", file=sys.stderr)


def _show(value: Any) -> str:
    """A value on one line: one change per line, whatever the notes hold (a line break shows as ⏎)."""
    from kam_core.workbench.tables import to_text

    text = to_text(value)
    return "–" if text is None else one_line(text)


def one_line(text: str) -> str:
    """``text`` with its line breaks shown as `` ⏎ ``.

    >>> one_line("first\\r\\nsecond\\n\\nthird")
    'first ⏎ second ⏎  ⏎ third'
    """
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", " ⏎ ")


def _history(workbench: Any, args: argparse.Namespace) -> int:
    frame = workbench.history(args.account, limit=args.limit)
    if args.format == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif args.format == "json":
        records = json.loads(frame.to_json(orient="records", date_format="iso"))
        json.dump(records, sys.stdout, indent=1, ensure_ascii=False)
        print()
    elif frame.empty:
        print("no changes recorded" + (f" for account {args.account}" if args.account else ""))
    else:
        for r in frame.itertuples():
            undone = " (undone)" if r.undone else ""
            print(f"{r.changed_at:%Y-%m-%d %H:%M:%S} save {r.batch_id} {r.action} by {r.actor}: {r.table} "
                  f"{r.record} {r.column}: {_show(r.old_value)} -> {_show(r.new_value)}{undone}")
    return 0


def _undo(workbench: Any, args: argparse.Namespace) -> int:
    saved = workbench.undo(args.user, args.save)
    print(f"undone as save {saved.batch_id}: {len(saved.changes)} changes taken back")
    for c in saved.changes:
        print(f"  {c.table} {', '.join(map(str, c.key))} {c.column}: {_show(c.old)} -> {_show(c.new)}")
    return 0


def _orphans(workbench: Any) -> int:
    frame = workbench.orphans()
    if frame.empty:
        print("every record of the team fits the export")
        return 0
    for r in frame.itertuples():
        print(f"{r.table} {r.record} (account {r.account_id or '–'}): {r.reason}; last changed by {r.changed_by} "
              f"at {r.changed_at}")
    return 0
