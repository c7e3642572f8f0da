"""``python -m kam_core review …``: the mentor's review from the command line (docs/reviews.md).

- ``review add --db PATH --account ID --rating on_track|at_risk|off_track --notes TEXT --user NAME
  [--date DATE] [--decisions TEXT] [--next DATE]``: record a review (with its snapshot);
- ``review diff --db PATH --account ID [--from DATE] [--to DATE]``: JSON of what changed since the
  last review (or between the reviews of two dates; ``--to`` omitted: now);
- ``review pdf --db PATH --account ID --out FILE.pdf``: the one-page review document;
- ``review board-pack --db PATH --out FILE.pdf [--since N]``: the portfolio's board pack;
- ``review history --db PATH [--account ID]``: the portfolio snapshots, or one account's figures
  over them;
- ``review cadence --db PATH [--format text|csv|json]``: per account when the next review is due;
- ``review snapshot --db PATH``: take the snapshot of the load in force (a load takes it itself).

The store is found from ``--db`` (beside it, unless ``workbench_path`` in ``--config`` or ``--store``
says otherwise). Exit codes: 0 done, 1 refused or nothing to compare, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from kam_core.settings import Settings


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; expected YYYY-MM-DD") from None


def add_parser(sub: Any) -> None:
    """Add the ``review`` subcommand to the CLI's subparsers."""
    from kam_core.ingest.schema import RATINGS

    p = sub.add_parser("review", help="the mentor's review: record it, what changed since the last one, PDF, "
                       "the portfolio's history")
    actions = p.add_subparsers(dest="review_command", required=True, parser_class=type(p))

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--db", required=True, type=Path, help="the CRM database (its store is beside it)")
        q.add_argument("--config", type=Path, help="settings file (kam.toml)")
        q.add_argument("--store", type=Path, help="the workbench store file (default: from --db and the settings)")

    q = actions.add_parser("add", help="record a review (saved with who and when, counted in health at once)")
    common(q)
    q.add_argument("--account", required=True, help="the account's id")
    q.add_argument("--rating", required=True, choices=RATINGS)
    q.add_argument("--notes", required=True, help="what the review found")
    q.add_argument("--user", required=True, help="who reviewed: a team member id (or a name)")
    q.add_argument("--date", type=_date, help="the review's date (default: today)")
    q.add_argument("--decisions", help="what the review decided")
    q.add_argument("--next", type=_date, dest="next_review_date",
                   help="when the next review is due (default: review_cadence_days later)")

    q = actions.add_parser("diff", help="JSON: what changed since the last review (or between two reviews)")
    common(q)
    q.add_argument("--account", required=True)
    q.add_argument("--from", type=_date, dest="from_date", help="the earlier review's date (default: the last one)")
    q.add_argument("--to", type=_date, dest="to_date", help="the later review's date (default: now)")

    q = actions.add_parser("pdf", help="the one-page review document of an account")
    common(q)
    q.add_argument("--account", required=True)
    q.add_argument("--out", required=True, type=Path, help="the PDF file to write")
    q.add_argument("--user", help="who prepares it (named on the page)")

    q = actions.add_parser("board-pack", help="the portfolio's board pack (matrix, tiers, red accounts)")
    common(q)
    q.add_argument("--out", required=True, type=Path, help="the PDF file to write")
    q.add_argument("--since", type=int, help="a portfolio snapshot's number: arrows and tier migration since it")

    q = actions.add_parser("history", help="the portfolio snapshots (one per load), or an account's figures over them")
    common(q)
    q.add_argument("--account", help="one account's figures over time")

    q = actions.add_parser("cadence", help="when each account's next review is due, per mentor")
    common(q)
    q.add_argument("--format", choices=("text", "csv", "json"), default="text")

    q = actions.add_parser("snapshot", help="take the portfolio snapshot of the load in force (if it has none)")
    common(q)


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from kam_core.workbench.cli import settings_for
    from kam_core.workbench.store import store_path_for

    settings = settings_for(parser, args)
    store = args.store or store_path_for(args.db, settings)
    command = args.review_command
    if command == "add":
        return _add(args, settings, store)
    if command == "diff":
        return _diff(args, settings, store)
    if command == "pdf":
        return _pdf(args, settings, store)
    if command == "board-pack":
        return _board_pack(args, settings, store)
    if command == "history":
        return _history(args, store)
    if command == "cadence":
        return _cadence(args, settings, store)
    return _snapshot(args, settings, store)


def cli_actor(db: Path, user: str | None) -> Any:
    """The CLI's user (every right, as the local user of the app): a team member when ``user``
    is a member id of the loaded team, else the name as given."""
    from kam_core.access import local_actor, team_members
    from kam_core.dataset import open_dataset

    con = open_dataset(db)
    try:
        members = dict(team_members(con))
    finally:
        con.close()
    if user in members:
        return local_actor(user, members[user])
    return local_actor(name=user)


def _add(args: argparse.Namespace, settings: Settings, store: Path) -> int:
    from kam_core.workbench.reviews import record_review

    actor = cli_actor(args.db, args.user)
    done = record_review(args.db, actor, args.account, rating=args.rating, notes=args.notes,
                         decisions=args.decisions, next_review_date=args.next_review_date, review_date=args.date,
                         settings=settings, store_path=store, source="cli")
    where = f" as save {done.saved.batch_id}" if done.saved.batch_id else " (nothing changed)"
    print(f"review of {args.account} on {done.review_date.isoformat()} by {actor.label}: {args.rating}{where}")
    if done.snapshot is None:
        print(f"warning: {done.snapshot_problem}", file=sys.stderr)
        return 0
    f = done.snapshot.figures
    reasons = "; ".join(f.get("reasons") or []) or "none"
    print(f"health {_num(f.get('health'))} ({f.get('status')}), plan component {_num(f.get('plan_score'))}; "
          f"reasons: {reasons}")
    return 0


def _num(value: Any) -> str:
    return "–" if value is None else f"{float(value):.0f}"


def _diff(args: argparse.Namespace, settings: Settings, store: Path) -> int:
    from kam_core.workbench.reviews import diff, since_last_review
    from kam_core.workbench.snapshots import review_snapshots

    snapshots = review_snapshots(store, args.account)
    by_date = {s.review_date: s for s in snapshots}
    for wanted in (args.from_date, args.to_date):
        if wanted is not None and wanted not in by_date:
            dates = ", ".join(d.isoformat() for d in by_date) or "none"
            print(f"error: account {args.account} has no review snapshot of {wanted.isoformat()} "
                  f"(reviews with one: {dates})", file=sys.stderr)
            return 1
    if args.to_date is not None:
        then = by_date[args.from_date] if args.from_date else next(
            (s for s in reversed(snapshots) if s.review_date < args.to_date), None)
        if then is None:
            print(f"error: account {args.account} has no review before {args.to_date.isoformat()} to compare with",
                  file=sys.stderr)
            return 1
        result = diff(then, by_date[args.to_date], settings)
    else:
        now = _now(args.db, settings, store, args.account)
        if args.from_date is not None:
            result = diff(by_date[args.from_date], now, settings)
        else:
            found = since_last_review(store, now, settings, snapshots)
            if found is None:
                print(f"error: no review of account {args.account} has a snapshot yet (record one with "
                      "'review add'); nothing to compare with", file=sys.stderr)
                return 1
            result = found[0]
    json.dump(result.to_dict(), sys.stdout, indent=1, ensure_ascii=False)
    print()
    return 0


def _now(db: Path, settings: Settings, store: Path, account_id: str) -> Any:
    from kam_core.asof import resolve_as_of
    from kam_core.dataset import open_dataset
    from kam_core.workbench.overlay import overlay_for
    from kam_core.workbench.reviews import account_now

    con = open_dataset(db, overlay_for(store))
    try:
        return account_now(con, settings, resolve_as_of(con, settings), account_id)
    finally:
        con.close()


def _pdf(args: argparse.Namespace, settings: Settings, store: Path) -> int:
    from kam_core.workbench.pdf import review_document, review_pdf

    prepared_by = cli_actor(args.db, args.user).label if args.user else None
    doc = review_document(args.db, args.account, settings, store, prepared_by=prepared_by)
    data = review_pdf(doc, settings)
    args.out.write_bytes(data)
    print(f"{args.out} written ({len(data) / 1024:.0f} KB): review of {doc.account.get('name')} ({args.account})")
    return 0


def _board_pack(args: argparse.Namespace, settings: Settings, store: Path) -> int:
    from kam_core.workbench.pdf import board_pack_document, board_pack_pdf

    pack = board_pack_document(args.db, settings, since=args.since, store_path=store)
    data = board_pack_pdf(pack, settings)
    args.out.write_bytes(data)
    print(f"{args.out} written ({len(data) / 1024:.0f} KB): board pack of {len(pack.accounts):,} accounts")
    return 0


def _history(args: argparse.Namespace, store: Path) -> int:
    from kam_core.workbench.snapshots import account_history, portfolio_snapshots

    if args.account:
        frame = account_history(store, args.account)
        if frame.empty:
            print(f"no portfolio snapshot holds account {args.account}")
            return 0
        frame[["snapshot_id", "as_of", "health", "status", "coverage", "ttm_revenue", "tier", "quadrant"]].to_csv(
            sys.stdout, index=False, date_format="%Y-%m-%d")
        return 0
    snapshots = portfolio_snapshots(store)
    if not snapshots:
        print("no portfolio snapshot yet: every load takes one")
    for s in snapshots:
        print(f"{s.snapshot_id}\t{s.label}\ttaken {s.taken_at[:19].replace('T', ' ')} UTC by the {s.source}\t"
              f"{s.accounts_count:,} accounts")
    return 0


def _cadence(args: argparse.Namespace, settings: Settings, store: Path) -> int:
    from kam_core.asof import resolve_as_of
    from kam_core.dataset import open_dataset
    from kam_core.workbench.overlay import overlay_for
    from kam_core.workbench.reviews import cadence_by_mentor, review_cadence

    con = open_dataset(args.db, overlay_for(store))
    try:
        frame = review_cadence(con, settings, resolve_as_of(con, settings))
    finally:
        con.close()
    if args.format == "csv":
        frame.to_csv(sys.stdout, index=False, date_format="%Y-%m-%d")
    elif args.format == "json":
        json.dump(json.loads(frame.to_json(orient="records", date_format="iso")), sys.stdout, indent=1,
                  ensure_ascii=False)
        print()
    else:
        for m in cadence_by_mentor(frame).itertuples():
            print(f"{m.mentor}: {m.accounts_count} accounts, {m.overdue_count} overdue, {m.never_reviewed_count} "
                  f"never reviewed, {m.due_count} due, {m.scheduled_count} scheduled")
    return 0


def _snapshot(args: argparse.Namespace, settings: Settings, store: Path) -> int:
    from kam_core.workbench.snapshots import snapshot_after_load

    taken = snapshot_after_load(args.db, settings, store, source="cli")
    print(f"portfolio snapshot {taken.snapshot_id} taken: {taken.accounts_count:,} accounts" if taken
          else "no snapshot taken: this load has one already (or history_snapshots_kept is 0)")
    return 0


def snapshot_after_cli_load(db: Path, settings: Settings) -> None:
    """After ``python -m kam_core load``: the portfolio snapshot of the new load. A failure is
    reported and does not fail the load (the app takes the snapshot on its first page instead)."""
    from kam_core.errors import KamError
    from kam_core.workbench.snapshots import snapshot_after_load

    try:
        taken = snapshot_after_load(db, settings, source="cli")
    except (KamError, OSError, ValueError) as exc:
        print(f"warning: no portfolio snapshot of this load ({exc})", file=sys.stderr)
        return
    if taken is not None:
        pruned = f"; {taken.pruned} older removed (history_snapshots_kept)" if taken.pruned else ""
        print(f"portfolio snapshot {taken.snapshot_id}: {taken.accounts_count:,} accounts kept for the history"
              f"{pruned}")
