"""What changed between two snapshots of one account: "since the last review".

``diff_snapshots(then, now)`` compares two ``AccountSnapshot``s (a review's stored one, and the
account now or at a later review) and returns a ``ReviewDiff``:

- every figure then and now with its change and whether that is better or worse
  (``FIGURES`` says which direction is better; status green < amber < red, tiers by rank);
- the reasons (what is wrong) that appeared or were resolved — compared by their wording with
  the numbers left out, so "health 52 of 100 is below 70" is the same reason as "health 45 …";
- contacts added or lost (also: became inactive, or active again), attitude and piece changes;
- relationships added or lost, and strengthened or weakened: effective strength (0-1) changed
  by at least ``strength_change`` (setting ``review_strength_change``);
- plan actions added, done, removed or reopened, and those overdue now;
- tier and quadrant moves.

>>> from kam_core.workbench.snapshots import AccountSnapshot
>>> then = AccountSnapshot("A", dt.date(2025, 3, 1), {"health": 62.0, "status": "amber"})
>>> now = AccountSnapshot("A", dt.date(2025, 6, 1), {"health": 48.5, "status": "red"})
>>> d = diff_snapshots(then, now)
>>> [(f.name, f.then, f.now, f.change, f.direction) for f in d.changed_figures]
[('health', 62.0, 48.5, -13.5, 'worse'), ('status', 'amber', 'red', None, 'worse')]
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from kam_core.workbench.snapshots import (
    FIGURES,
    RATING_ORDER,
    STATUS_ORDER,
    AccountSnapshot,
    Figure,
)

ROUND = 6  # every figure is compared at 6 decimals (spec §3.1)


@dataclass(frozen=True)
class FigureChange:
    """One figure then and now. ``change`` is now − then for numbers (None when either is
    missing); ``direction`` is better, worse, same or changed (no order, or one side missing)."""

    name: str
    label: str
    kind: str
    then: Any
    now: Any
    change: float | None
    direction: str


@dataclass(frozen=True)
class ContactChange:
    """A contact added, lost (gone, or inactive now), back (active again), or whose attitude or
    piece changed (``then`` → ``now``)."""

    contact_id: str
    name: str | None
    change: str  # added, lost, back, attitude, piece
    then: Any = None
    now: Any = None
    piece: str | None = None
    attitude: str | None = None


@dataclass(frozen=True)
class RelationshipChange:
    """A relationship added, lost, strengthened or weakened (effective strength 0-1)."""

    member_id: str
    member_name: str | None
    contact_id: str
    contact_name: str | None
    change: str  # added, lost, strengthened, weakened
    strength_then: int | None
    strength_now: int | None
    effective_then: float | None
    effective_now: float | None


@dataclass(frozen=True)
class ActionChange:
    """A plan action added, done, removed or reopened since, or overdue now
    (``was_overdue``: it was overdue at the earlier snapshot already)."""

    action_id: str | None
    objective: str | None
    change: str  # added, done, removed, reopened, overdue
    status: str | None
    due_date: str | None
    owner: str | None
    was_overdue: bool = False


@dataclass(frozen=True)
class ReviewDiff:
    """Everything that changed between two snapshots of an account (see the module)."""

    account_id: str
    then_label: str
    now_label: str
    then_date: dt.date
    now_date: dt.date
    figures: list[FigureChange]
    reasons_added: list[str] = field(default_factory=list)
    reasons_resolved: list[str] = field(default_factory=list)
    contacts: list[ContactChange] = field(default_factory=list)
    relationships: list[RelationshipChange] = field(default_factory=list)
    actions: list[ActionChange] = field(default_factory=list)

    @property
    def changed_figures(self) -> list[FigureChange]:
        return [f for f in self.figures if f.direction != "same"]

    def figure(self, name: str) -> FigureChange:
        return next(f for f in self.figures if f.name == name)

    def move(self, name: str) -> tuple[Any, Any] | None:
        """(then, now) of ``tier`` or ``quadrant`` when it moved, else None."""
        f = self.figure(name)
        return None if f.direction == "same" else (f.then, f.now)

    def count(self, part: str, change: str) -> int:
        """How many contacts, relationships or actions (``part``) had ``change``."""
        return sum(1 for c in getattr(self, part) if c.change == change)

    @property
    def days(self) -> int:
        return (self.now_date - self.then_date).days

    def summary(self) -> list[str]:
        """The changes in a few short lines, for a heading or the CLI."""
        lines = []
        for name in ("health", "status", "coverage", "ttm_revenue"):
            f = self.figure(name)
            if f.direction != "same":
                lines.append(f"{f.label} {show(f.then, f.kind)} → {show(f.now, f.kind)}")
        for name in ("tier", "quadrant"):
            moved = self.move(name)
            if moved:
                lines.append(f"{name} {moved[0] or '–'} → {moved[1] or '–'}")
        counts = [
            ("contacts", "added", "contact(s) added"), ("contacts", "lost", "contact(s) lost"),
            ("contacts", "attitude", "attitude change(s)"), ("contacts", "piece", "piece change(s)"),
            ("relationships", "added", "relationship(s) added"), ("relationships", "lost", "relationship(s) lost"),
            ("relationships", "strengthened", "strengthened"), ("relationships", "weakened", "weakened"),
            ("actions", "added", "action(s) added"), ("actions", "done", "action(s) done"),
            ("actions", "overdue", "action(s) overdue"),
        ]
        for part, change, words in counts:
            n = self.count(part, change)
            if n:
                lines.append(f"{n} {words}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        """As JSON keeps it (the CLI's ``review diff``)."""
        out = asdict(self)
        out["then_date"] = self.then_date.isoformat()
        out["now_date"] = self.now_date.isoformat()
        out["days"] = self.days
        out["summary"] = self.summary()
        out["tier_move"] = list(self.move("tier")) if self.move("tier") else None
        out["quadrant_move"] = list(self.move("quadrant")) if self.move("quadrant") else None
        return out


# ---------------------------------------------------------------- comparing


def diff_snapshots(then: AccountSnapshot, now: AccountSnapshot, *, tier_names: Sequence[str] = (),
                   strength_change: float = 0.1) -> ReviewDiff:
    """What changed from ``then`` to ``now`` (two snapshots of one account, see the module)."""
    tiers = {name: i for i, name in enumerate(tier_names)}
    figures = [_figure_change(f, then.figures.get(f.name), now.figures.get(f.name), tiers)
               for f in FIGURES if f.kind != "list"]
    added, resolved = _reasons(then.figures.get("reasons") or [], now.figures.get("reasons") or [])
    then_date = then.review_date or then.as_of
    now_date = now.review_date or now.as_of
    return ReviewDiff(
        account_id=now.account_id, then_label=then.label, now_label=now.label, then_date=then_date,
        now_date=now_date, figures=figures, reasons_added=added, reasons_resolved=resolved,
        contacts=_contact_changes(then.contacts, now.contacts),
        relationships=_relationship_changes(then, now, strength_change),
        actions=_action_changes(then.actions, now.actions),
    )


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return round(float(value), ROUND)
    except (TypeError, ValueError):
        return None


def _figure_change(f: Figure, then: Any, now: Any, tiers: dict[str, int]) -> FigureChange:
    if f.kind in ("score", "ratio", "money", "count"):
        a, b = _number(then), _number(now)
        if a is None and b is None:
            return FigureChange(f.name, f.label, f.kind, None, None, None, "same")
        if a is None or b is None:
            return FigureChange(f.name, f.label, f.kind, a, b, None, "changed")
        change = round(b - a, ROUND)
        direction = "same" if change == 0 else _direction(f, change)
        if f.kind == "count":
            a, b, change = int(a), int(b), int(change)
        return FigureChange(f.name, f.label, f.kind, a, b, change, direction)
    then = None if then in (None, "no data") else then
    now = None if now in (None, "no data") else now
    if then == now:
        return FigureChange(f.name, f.label, f.kind, then, now, None, "same")
    order = {"status": STATUS_ORDER, "rating": RATING_ORDER, "tier": tiers}.get(f.kind)
    if order and then in order and now in order:
        # these orders count up towards worse (red, off track, a lower tier)
        return FigureChange(f.name, f.label, f.kind, then, now, None,
                            "worse" if order[now] > order[then] else "better")
    return FigureChange(f.name, f.label, f.kind, then, now, None, "changed")


def _direction(f: Figure, change: float) -> str:
    if f.better == "higher":
        return "better" if change > 0 else "worse"
    if f.better == "lower":
        return "better" if change < 0 else "worse"
    return "changed"


_NUMBER = re.compile(r"[−-]?\d+(?:[.,]\d+)*")


def reason_kind(reason: str) -> str:
    """A reason without its numbers and dates: what kind of problem it names.

    >>> reason_kind("health 45 of 100 is below 70") == reason_kind("health 52 of 100 is below 70")
    True
    """
    return _NUMBER.sub("#", reason)


def _reasons(then: Sequence[str], now: Sequence[str]) -> tuple[list[str], list[str]]:
    then_kinds = {reason_kind(r) for r in then}
    now_kinds = {reason_kind(r) for r in now}
    return ([r for r in now if reason_kind(r) not in then_kinds],
            [r for r in then if reason_kind(r) not in now_kinds])


def _active(contact: dict[str, Any]) -> bool:
    return contact.get("is_active") is not False


def _contact_changes(then: list[dict[str, Any]], now: list[dict[str, Any]]) -> list[ContactChange]:
    before = {c["contact_id"]: c for c in then}
    after = {c["contact_id"]: c for c in now}
    out: list[ContactChange] = []
    for cid, c in after.items():
        old = before.get(cid)
        if old is None or (not _active(old) and _active(c)):
            change = "added" if old is None else "back"
            if old is None and not _active(c):
                continue  # recorded as inactive: nobody we can reach was added
            out.append(ContactChange(cid, c.get("name"), change, piece=c.get("piece"), attitude=c.get("attitude")))
            continue
        if _active(old) and not _active(c):
            out.append(ContactChange(cid, c.get("name"), "lost", "active", "inactive", c.get("piece"),
                                     c.get("attitude")))
            continue
        for column in ("attitude", "piece"):
            if old.get(column) != c.get(column):
                out.append(ContactChange(cid, c.get("name"), column, old.get(column), c.get(column),
                                         c.get("piece"), c.get("attitude")))
    for cid, c in before.items():
        if cid not in after and _active(c):
            out.append(ContactChange(cid, c.get("name"), "lost", piece=c.get("piece"), attitude=c.get("attitude")))
    order = {"lost": 0, "attitude": 1, "piece": 2, "added": 3, "back": 4}
    return sorted(out, key=lambda c: (order[c.change], c.name or "", c.contact_id))


def _relationship_changes(then: AccountSnapshot, now: AccountSnapshot, threshold: float) -> list[RelationshipChange]:
    names = {c["contact_id"]: c.get("name") for c in [*then.contacts, *now.contacts]}
    before = {(r["member_id"], r["contact_id"]): r for r in then.relationships}
    after = {(r["member_id"], r["contact_id"]): r for r in now.relationships}
    out: list[RelationshipChange] = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        e_then = _number(old.get("effective_strength")) if old else None
        e_now = _number(new.get("effective_strength")) if new else None
        if old is None:
            change = "added"
        elif new is None:
            change = "lost"
        elif e_then is not None and e_now is not None and round(e_now - e_then, ROUND) >= round(threshold, ROUND):
            change = "strengthened"
        elif e_then is not None and e_now is not None and round(e_then - e_now, ROUND) >= round(threshold, ROUND):
            change = "weakened"
        else:
            continue
        member_name = (new or old).get("member_name")
        out.append(RelationshipChange(key[0], member_name, key[1], names.get(key[1]), change,
                                      old.get("strength") if old else None, new.get("strength") if new else None,
                                      e_then, e_now))
    order = {"lost": 0, "weakened": 1, "added": 2, "strengthened": 3}
    return sorted(out, key=lambda r: (order[r.change], r.contact_name or "", r.member_id))


def _action_changes(then: list[dict[str, Any]], now: list[dict[str, Any]]) -> list[ActionChange]:
    before = {a["action_id"]: a for a in then if a.get("action_id")}
    after = {a["action_id"]: a for a in now if a.get("action_id")}
    out: list[ActionChange] = []

    def change(a: dict[str, Any], kind: str, was_overdue: bool = False) -> ActionChange:
        return ActionChange(a.get("action_id"), a.get("objective"), kind, a.get("status"), a.get("due_date"),
                            a.get("owner"), was_overdue)

    for aid, a in after.items():
        old = before.get(aid)
        if old is None:
            out.append(change(a, "added"))
        elif old.get("status") != "done" and a.get("status") == "done":
            out.append(change(a, "done"))
        elif old.get("status") == "done" and a.get("status") != "done":
            out.append(change(a, "reopened"))
    for aid, a in before.items():
        if aid not in after:
            out.append(change(a, "removed"))
    for a in now:
        if a.get("is_overdue"):
            old = before.get(a.get("action_id"))
            out.append(change(a, "overdue", bool(old and old.get("is_overdue"))))
    order = {"overdue": 0, "done": 1, "added": 2, "reopened": 3, "removed": 4}
    return sorted(out, key=lambda a: (order[a.change], a.due_date or "", a.action_id or ""))


# ---------------------------------------------------------------- showing a value


def show(value: Any, kind: str, currency: str = "") -> str:
    """A figure's value as a person reads it ("–" when missing).

    >>> show(0.123, "ratio"), show(1234567.0, "money", "EUR"), show(61.96, "score"), show(None, "score")
    ('12.3 %', '1.23 m EUR', '62', '–')
    """
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if kind == "ratio":
        return f"{float(value) * 100:.1f} %".replace("-", "−")
    if kind == "money":
        v = float(value)
        sign = "−" if v < 0 else ""
        v = abs(v)
        unit = f" {currency}" if currency else ""
        if v >= 1e9:
            return f"{sign}{v / 1e9:.2f} bn{unit}"
        if v >= 1e6:
            return f"{sign}{v / 1e6:.2f} m{unit}"
        if v >= 1e3:
            return f"{sign}{v / 1e3:.0f} k{unit}"
        return f"{sign}{v:.0f}{unit}"
    if kind == "score":
        return f"{float(value):.0f}"
    if kind == "count":
        return f"{int(value)}"
    return str(value).replace("_", " ")


def show_change(f: FigureChange, currency: str = "") -> str:
    """The change of one figure ("+4", "−1.5 %-points", "amber → red"; "–" when unchanged)."""
    if f.direction == "same":
        return "–"
    if f.change is None:
        return f"{show(f.then, f.kind, currency)} → {show(f.now, f.kind, currency)}"
    if f.kind == "ratio":
        return f"{f.change * 100:+.1f}".replace("-", "−") + " %-points"
    if f.kind == "money":
        text = show(abs(f.change), "money", currency)
        return ("+" if f.change > 0 else "−") + text
    if f.kind == "count":
        return f"{int(f.change):+d}".replace("-", "−")
    return f"{f.change:+.0f}".replace("-", "−") if abs(f.change) >= 0.5 else f"{f.change:+.1f}".replace("-", "−")
