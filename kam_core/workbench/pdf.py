"""PDF documents: the one-page review of an account, and the portfolio's board pack.

Built with fpdf2 (pure Python: no browser, no system library); the charts are PNG images drawn
by ``review_charts.render_png`` (kaleido in the installed Chrome or Chromium). Without a browser
the document is built all the same, without its charts, and says why where they would be.

- ``review_document(db_path, account_id, settings)`` gathers an account's review (the CLI; the
  app builds ``ReviewDocument`` from what its page computed) and ``review_pdf(doc, settings)``
  writes it: header, health and its components, what is wrong, the relationship map, the table
  "since the last review", the plan's actions and the review's notes and decisions.
- ``board_pack_document(db_path, settings, since=None)`` / ``board_pack_pdf(pack, settings)``:
  the attractiveness × strength matrix (with arrows from an earlier snapshot), the tiers, the
  tier migration since that snapshot and the red accounts with their reasons.

Text: a Unicode TrueType font of the system (DejaVu Sans, Liberation Sans, Arial) so that every
name prints as written; without one the PDF falls back to Helvetica, replaces characters
outside Latin-1 with "?" and says so at the bottom.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from fpdf import FPDF, FontFace, XPos, YPos
from fpdf.enums import TableCellFillMode

from kam_core.settings import Settings
from kam_core.workbench.review_charts import (
    Images,
    matrix_figure,
    relationship_figure,
    render_png,
)
from kam_core.workbench.review_diff import ReviewDiff, show, show_change
from kam_core.workbench.snapshots import AccountSnapshot

# Unicode TrueType fonts looked for, regular and bold (Debian, Fedora, macOS, Windows).
FONT_CANDIDATES: tuple[tuple[str, str], ...] = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf", "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
     "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf"),
    ("/Library/Fonts/Arial Unicode.ttf", "/Library/Fonts/Arial Unicode.ttf"),
    ("C:/Windows/Fonts/arial.ttf", "C:/Windows/Fonts/arialbd.ttf"),
)
STATUS_RGB = {"green": (46, 125, 50), "amber": (249, 168, 37), "red": (198, 40, 40), "no data": (189, 189, 189)}
GREY = (110, 110, 110)
INK = (30, 30, 30)
HEADING_FILL = (232, 238, 245)
COMPONENTS = (("health", "health"), ("coverage_score", "coverage"), ("growth_score", "growth"),
              ("margin_score", "margin"), ("plan_score", "plan"), ("activity_score", "activity"))


def find_font() -> tuple[str, str] | None:
    """A Unicode TrueType font of the system (regular, bold), or None."""
    for regular, bold in FONT_CANDIDATES:
        if Path(regular).is_file():
            return regular, bold if Path(bold).is_file() else regular
    return None


_ASCII = str.maketrans({"→": "->", "−": "-", "–": "-", "—": "-", "·": "-", "…": "...", "×": "x", "•": "-",
                        "≥": ">=", "≤": "<=", "€": "EUR", "‘": "'", "’": "'", "“": '"', "”": '"'})


class _Doc(FPDF):
    """An A4 page in the dashboard's style, with a footer naming the document."""

    def __init__(self, title: str, footer: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.doc_footer = footer
        self.set_margins(12, 11, 12)
        self.set_auto_page_break(auto=True, margin=13)
        self.set_title(title)
        self.set_creator("KAM dashboard")
        font = find_font()
        self.unicode = font is not None
        if font is not None:
            self.add_font("Sans", "", font[0])
            self.add_font("Sans", "B", font[1])
            self.family_name = "Sans"
        else:
            self.family_name = "Helvetica"
        self.add_page()

    def discard(self) -> None:
        """Close the font files of a document that will not be written (``output`` closes them)."""
        for font in self.fonts.values():
            close = getattr(font, "close", None)
            if close is not None:
                close()

    # text from the data: printed as written with a Unicode font, else made Latin-1
    def t(self, value: Any) -> str:
        text = "–" if value is None else str(value)
        if self.unicode:
            return text
        return text.translate(_ASCII).encode("latin-1", "replace").decode("latin-1")

    def font(self, size: float, bold: bool = False, colour: tuple[int, int, int] = INK) -> None:
        self.set_font(self.family_name, "B" if bold else "", size)
        self.set_text_color(*colour)

    def footer(self) -> None:
        self.set_y(-10)
        self.font(7, colour=GREY)
        note = "" if self.unicode else " · no Unicode font found (install fonts-dejavu-core): some characters show as ?"
        self.cell(0, 4, self.t(f"{self.doc_footer}{note} · page {self.page_no()}"), align="R")

    def heading(self, text: str, size: float = 10.5) -> None:
        if self.will_page_break(12):
            self.add_page()
        self.ln(1.5)
        self.font(size, bold=True, colour=(31, 78, 121))
        self.cell(0, 5.5, self.t(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_draw_color(31, 78, 121)
        self.set_line_width(0.3)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.ln(1)

    def line_text(self, text: str, size: float = 8.5, bold: bool = False, colour: tuple[int, int, int] = INK,
                  indent: float = 0, width: float | None = None) -> None:
        self.font(size, bold, colour)
        self.set_x(self.l_margin + indent)
        self.multi_cell((width or self.epw) - indent, size * 0.45, self.t(text),
                        new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def table_rows(self, header: Sequence[str], rows: Sequence[Sequence[Any]], widths: Sequence[float],
                   align: Sequence[str], size: float = 8) -> None:
        self.font(size)
        self.set_fill_color(255, 255, 255)
        self.set_draw_color(160, 160, 160)
        self.set_line_width(0.15)
        with self.table(col_widths=tuple(widths), text_align=tuple(align), line_height=size * 0.48,
                        first_row_as_headings=True, borders_layout="HORIZONTAL_LINES",
                        cell_fill_mode=TableCellFillMode.NONE,
                        headings_style=FontFace(emphasis="BOLD", fill_color=HEADING_FILL),
                        width=sum(widths), align="LEFT", padding=(0.6, 1)) as table:
            head = table.row()
            for h in header:
                head.cell(self.t(h))
            for row in rows:
                r = table.row()
                for value in row:
                    r.cell(self.t(value))

    def image_or_note(self, images: Images, index: int, width: float, why: str) -> None:
        if index < len(images.pngs):
            self.image(io.BytesIO(images.pngs[index]), x=self.l_margin, w=width)
        else:
            self.line_text(f"{why} {images.problem or ''}".strip(), size=8, colour=GREY)


def _status_box(pdf: _Doc, status: str | None, health: Any, x: float, y: float) -> None:
    status = status or "no data"
    pdf.set_fill_color(*STATUS_RGB.get(status, STATUS_RGB["no data"]))
    pdf.rect(x, y, 46, 11, style="F")
    pdf.set_xy(x, y + 1)
    pdf.font(11, bold=True, colour=(255, 255, 255))
    pdf.cell(46, 5, pdf.t(status.upper()), align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.font(7.5, colour=(255, 255, 255))
    pdf.cell(46, 4, pdf.t(f"health {show(health, 'score')} of 100"), align="C")


def _score_colour(value: Any, settings: Settings) -> tuple[int, int, int]:
    if value is None:
        return STATUS_RGB["no data"]
    if value < settings.reason_below:
        return STATUS_RGB["red"]
    if value < settings.status_green:
        return STATUS_RGB["amber"]
    return STATUS_RGB["green"]


# ---------------------------------------------------------------- the review document


@dataclass(frozen=True)
class ReviewDocument:
    """What the review PDF shows. ``account``: name, account_id, tier, quadrant, phase, mentor,
    account_manager; ``now``: the account now; ``review``: the latest review (review_date,
    rating, notes, decisions, next_review_date, mentor, recorded_by, recorded_at) or None;
    ``diff``: since the last review (None when no review has a snapshot); ``notes``: the health
    notes; ``next_due``: when the next review is due."""

    account: dict[str, Any]
    now: AccountSnapshot
    review: dict[str, Any] | None
    diff: ReviewDiff | None
    notes: list[str] = field(default_factory=list)
    next_due: dt.date | None = None
    currency: str = "EUR"
    prepared_by: str | None = None


# The review's own words on the page, at most this many characters each: the longest that fits
# first (None: as written); the page stays one page, the app keeps the full text.
WORDS_LIMITS: tuple[int | None, ...] = (None, 900, 500, 250, 100)


def review_pdf(doc: ReviewDocument, settings: Settings, images: Images | None = None) -> bytes:
    """The one-page review document as PDF bytes (``images``: drawn already, else drawn here).

    Long notes or decisions are shortened on the page (ending in "…", with a line saying the
    full text is in the app) to the longest of ``WORDS_LIMITS`` that keeps it one page."""
    name = doc.account.get("name") or doc.now.account_id
    if images is None:
        images = render_png([(relationship_figure(doc.now, settings), 780, 330)], settings) \
            if doc.now.contacts else Images([], "No contacts recorded for this account.")
    words = [v for v in ((doc.review or {}).get("notes"), (doc.review or {}).get("decisions")) if v]
    longest = max((len(str(v)) for v in words), default=0)
    pdf = None
    for limit in WORDS_LIMITS:
        if limit is not None and limit >= longest:
            continue  # would print the same as the try before
        if pdf is not None:
            pdf.discard()
        pdf = _review_page(doc, settings, images, name, limit)
        if pdf.page_no() == 1:
            break
    return bytes(pdf.output())


def _shorten(text: str, limit: int | None) -> str:
    """``text`` cut at a word before ``limit`` characters, ending in "…" (None: as it is).

    >>> _shorten("Lost the sponsor in March", 12)
    'Lost the…'
    """
    if limit is None or len(text) <= limit:
        return text
    cut = text[:limit - 1]
    if " " in cut.strip():
        cut = cut.rstrip()[: cut.rstrip().rfind(" ")]
    return cut.rstrip(" ,;:.-\n") + "…"


def _review_page(doc: ReviewDocument, settings: Settings, images: Images, name: str, limit: int | None) -> _Doc:
    f = doc.now.figures
    pdf = _Doc(f"Account review: {name}", f"KAM dashboard · review of {name} ({doc.now.account_id}) · data as of "
               f"{doc.now.as_of.isoformat()}")
    cur = doc.currency

    # ---- header (the status box on the right, the text beside it)
    top = pdf.get_y()
    beside = pdf.epw - 50
    pdf.font(16, bold=True)
    pdf.multi_cell(beside, 7, pdf.t(name), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    a = doc.account
    pdf.line_text(" · ".join([doc.now.account_id, f"tier {a.get('tier') or '–'}", f"quadrant {a.get('quadrant') or '–'}",
                              f"phase {a.get('phase') or '–'}", f"mentor {a.get('mentor') or '–'}",
                              f"account manager {a.get('account_manager') or '–'}"]), size=8.5, colour=GREY,
                  width=beside)
    r = doc.review
    if r:
        by = f" · recorded by {r['recorded_by']}" if r.get("recorded_by") else ""
        pdf.line_text(f"Review of {_d(r.get('review_date'))} · rating {show(r.get('rating'), 'text')} · mentor "
                      f"{r.get('mentor') or '–'}{by}", size=8.5, bold=True, width=beside)
    else:
        pdf.line_text("No review recorded yet.", size=8.5, bold=True, width=beside)
    due = f"next review due {doc.next_due.isoformat()}" if doc.next_due else "next review: not planned"
    pdf.line_text(f"Data as of {doc.now.as_of.isoformat()} · {due} · prepared {dt.date.today().isoformat()}"
                  + (f" by {doc.prepared_by}" if doc.prepared_by else ""), size=8, colour=GREY, width=beside)
    below = pdf.get_y()
    _status_box(pdf, f.get("status"), f.get("health"), pdf.w - pdf.r_margin - 46, top)
    pdf.set_y(max(below, top + 13))

    # ---- health and its components
    pdf.heading("Health and its components")
    y = pdf.get_y()
    width = pdf.epw / len(COMPONENTS)
    for i, (column, label) in enumerate(COMPONENTS):
        value = f.get(column)
        x = pdf.l_margin + i * width
        pdf.set_fill_color(*_score_colour(value, settings))
        pdf.rect(x + 0.5, y, width - 1, 1.6, style="F")
        pdf.set_xy(x, y + 2)
        pdf.font(7.5, colour=GREY)
        pdf.cell(width, 3.5, pdf.t(label), align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
        pdf.font(13, bold=True)
        pdf.cell(width, 6, pdf.t(show(value, "score") if value is not None else "no data"), align="C")
    pdf.set_y(y + 12)
    figures = [
        ("revenue, last 12 months", show(f.get("ttm_revenue"), "money", cur), "growth", show(f.get("revenue_growth"), "ratio")),
        ("gross margin", show(f.get("gross_margin_pct"), "ratio"), "share of wallet", show(f.get("share_of_wallet"), "ratio")),
        ("relationship coverage", show(f.get("coverage"), "score"), "threads", show(f.get("threads"), "count")),
        ("key-person dependency", show(f.get("key_person_dependency"), "ratio"), "open pipeline",
         show(f.get("open_pipeline"), "money", cur)),
        ("attractiveness · strength", f"{show(f.get('attractiveness'), 'score')} · {show(f.get('strength'), 'score')}",
         "mentor's latest rating", show(f.get("latest_rating"), "text")),
    ]
    pdf.table_rows(["figure", "now", "figure", "now"], figures, (52, 41, 52, 41), ("LEFT", "RIGHT", "LEFT", "RIGHT"))

    # ---- what is wrong
    pdf.heading("What is wrong")
    reasons = f.get("reasons") or []
    if not reasons:
        pdf.line_text("Nothing stands out: every health component is fine.", size=8.5)
    for reason in reasons:
        pdf.line_text(f"• {reason}", size=8.5, indent=1)
    for note in doc.notes:
        pdf.line_text(f"note: {note}", size=8, colour=GREY, indent=1)

    # ---- relationship map
    pdf.heading("Relationship map")
    pdf.image_or_note(images, 0, pdf.epw * 0.86, "The relationship map is not shown.")
    pdf.line_text("Shape = chess piece (star king, diamond queen, square rook, triangle bishop, pentagon knight, "
                  "circle pawn), size = influence, colour = attitude; line width = strength, faded when the last "
                  "contact is long ago.", size=7, colour=GREY)

    # ---- since the last review
    d = doc.diff
    if d is None:
        pdf.heading("Since the last review")
        pdf.line_text("No review of this account has a snapshot yet: the next review recorded in the app is the "
                      "first one to compare with.", size=8.5, colour=GREY)
    else:
        pdf.heading(f"Since {d.then_label} ({d.days} days)")
        rows = [(x.label, show(x.then, x.kind, cur), show(x.now, x.kind, cur), show_change(x, cur))
                for x in d.figures if x.direction != "same" or x.name in ("health", "status")]
        pdf.table_rows(["figure", "then", "now", "change"], rows, (62, 40, 40, 44), ("LEFT", "RIGHT", "RIGHT", "RIGHT"))
        for line in _change_lines(d, limit=6):
            pdf.line_text(line, size=8, indent=1)

    # ---- plan and the review's words
    pdf.heading("Plan")
    if r and (r.get("notes") or r.get("decisions")):
        notes, decisions = (_shorten(str(r[k]), limit) if r.get(k) else None for k in ("notes", "decisions"))
        if notes:
            pdf.line_text(f"Notes: {notes}", size=8.5)
        if decisions:
            pdf.line_text(f"Decisions: {decisions}", size=8.5, bold=True)
        if limit is not None and any(len(str(r.get(k) or "")) > limit for k in ("notes", "decisions")):
            pdf.line_text(f"Shortened to fit the page: the full text is in the app (Account page, the review of "
                          f"{_d(r.get('review_date'))}).", size=7.5, colour=GREY)
    open_actions = [x for x in doc.now.actions if x.get("status") != "done"]
    if not open_actions:
        pdf.line_text("No open plan actions.", size=8.5, colour=GREY)
    else:
        shown = open_actions[:8]
        pdf.table_rows(["open action", "owner", "due", ""],
                       [(x.get("objective"), x.get("owner") or "–", x.get("due_date") or "–",
                         "overdue" if x.get("is_overdue") else "") for x in shown],
                       (100, 40, 26, 20), ("LEFT", "LEFT", "LEFT", "LEFT"))
        if len(open_actions) > len(shown):
            pdf.line_text(f"and {len(open_actions) - len(shown)} more open actions", size=8, colour=GREY)
    return pdf


def _d(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, (dt.date, pd.Timestamp)):
        return pd.Timestamp(value).date().isoformat()
    return str(value)[:10]


def _names(items: Sequence[str], limit: int) -> str:
    shown = list(items[:limit])
    more = len(items) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _change_lines(d: ReviewDiff, limit: int = 6) -> list[str]:
    """The non-figure changes of a diff as short lines (contacts, relationships, actions, reasons)."""
    lines = []
    if d.reasons_added:
        lines.append("New problems: " + _names(d.reasons_added, limit))
    if d.reasons_resolved:
        lines.append("Resolved: " + _names(d.reasons_resolved, limit))
    contact_words = {"added": "added", "back": "active again", "lost": "lost"}
    for change, words in contact_words.items():
        items = [f"{c.name or c.contact_id} ({c.piece or 'pawn'})" for c in d.contacts if c.change == change]
        if items:
            lines.append(f"Contacts {words}: " + _names(items, limit))
    for change in ("attitude", "piece"):
        items = [f"{c.name or c.contact_id} {c.then or '–'} → {c.now or '–'}" for c in d.contacts if c.change == change]
        if items:
            lines.append(f"{change.capitalize()} changed: " + _names(items, limit))
    for change in ("added", "lost", "strengthened", "weakened"):
        items = [f"{r.member_name or r.member_id} – {r.contact_name or r.contact_id} "
                 f"({show(r.effective_then, 'ratio') if r.effective_then is not None else '–'} → "
                 f"{show(r.effective_now, 'ratio') if r.effective_now is not None else '–'})"
                 for r in d.relationships if r.change == change]
        if items:
            lines.append(f"Relationships {change}: " + _names(items, limit))
    for change, words in (("done", "done"), ("added", "added"), ("overdue", "overdue now"),
                          ("removed", "removed"), ("reopened", "reopened")):
        items = [f"{a.objective or a.action_id}" + (f" (due {a.due_date})" if change == "overdue" else "")
                 for a in d.actions if a.change == change]
        if items:
            lines.append(f"Actions {words}: " + _names(items, limit))
    if not lines:
        lines.append("No contact, relationship or plan action changed.")
    return lines


def latest_review(con: Any, account_id: str, as_of: dt.date) -> dict[str, Any] | None:
    """The account's latest review dated on or before ``as_of`` (all its columns and the
    mentor's name), or None (also without a reviews table)."""
    from kam_core.metrics.sources import loaded_inputs, reading
    from kam_core.sqlutil import fetch_frame

    loaded = loaded_inputs(con)
    if "reviews" not in loaded:
        return None
    with reading(con, loaded) as cur:
        frame = fetch_frame(cur, """
            select r.*, coalesce(t.name, r.mentor_id) as mentor
            from reviews as r
            left join team as t
                on t.member_id = r.mentor_id
            where r.account_id = $account_id
                and r.review_date <= $as_of
            order by r.review_date desc,
                case r.rating when 'off_track' then 0 when 'at_risk' then 1 else 2 end
            limit 1
        """, {"account_id": account_id, "as_of": as_of})
    if frame.empty:
        return None
    row = {k: (None if v is None or (isinstance(v, float) and v != v) or v is pd.NaT else v)
           for k, v in frame.iloc[0].to_dict().items()}
    for key in ("review_date", "next_review_date"):
        if row.get(key) is not None:
            row[key] = pd.Timestamp(row[key]).date()
    return row


def review_document(db_path: Path | str, account_id: str, settings: Settings | None = None,
                    store_path: Path | str | None = None, prepared_by: str | None = None) -> ReviewDocument:
    """Everything the review PDF of ``account_id`` shows, computed from the database with the
    team's edits laid over it (the CLI's ``review pdf``)."""
    from kam_core.asof import resolve_as_of
    from kam_core.dataset import open_dataset
    from kam_core.metrics.overview import account_overview, base_metrics
    from kam_core.workbench.errors import WorkbenchError
    from kam_core.workbench.overlay import overlay_for
    from kam_core.workbench.reviews import account_now, next_due
    from kam_core.workbench.snapshots import figures_frame, review_snapshots
    from kam_core.workbench.store import store_path_for

    settings = settings or Settings()
    store = Path(store_path) if store_path is not None else store_path_for(db_path, settings)
    con = open_dataset(db_path, overlay_for(store))
    try:
        as_of = resolve_as_of(con, settings)
        base = base_metrics(con, settings, as_of)
        overview = account_overview(con, settings, base)
        row = overview[overview["account_id"] == account_id]
        if row.empty:
            raise WorkbenchError(f"account {account_id!r} is not in the data")
        now = account_now(con, settings, as_of, account_id, figures_frame(overview, base.health))
        review = latest_review(con, account_id, as_of)
    finally:
        con.close()
    snapshots = review_snapshots(store, account_id)
    return _document(row.iloc[0].to_dict(), now, review, snapshots, settings, store, prepared_by,
                     next_due=next_due(review["review_date"] if review else None,
                                       review.get("next_review_date") if review else None,
                                       settings.review_cadence_days))


def _document(account: dict[str, Any], now: AccountSnapshot, review: dict[str, Any] | None,
              snapshots: list[AccountSnapshot], settings: Settings, store: Path, prepared_by: str | None,
              next_due: dt.date | None) -> ReviewDocument:
    from kam_core.workbench.reviews import since_last_review

    if review is not None:
        recorded = next((s for s in snapshots if s.review_date == review.get("review_date")), None)
        if recorded is not None:
            # the actor is a team member id without sign-in: the mentor's name where it is theirs
            who = (f"{review['mentor']} ({recorded.actor})" if recorded.actor == review.get("mentor_id")
                   and review.get("mentor") not in (None, recorded.actor) else recorded.actor)
            review = {**review, "recorded_by": who}
    found = since_last_review(store, now, settings, snapshots)
    notes = account.get("notes")
    return ReviewDocument(
        account={k: account.get(k) for k in ("account_id", "name", "tier", "quadrant", "phase", "mentor",
                                             "account_manager")},
        now=now, review=review, diff=found[0] if found else None,
        notes=[str(n) for n in notes] if isinstance(notes, (list, tuple)) or hasattr(notes, "tolist") else [],
        next_due=next_due, currency=settings.currency, prepared_by=prepared_by)


def build_review_document(account: dict[str, Any], now: AccountSnapshot, review: dict[str, Any] | None,
                          snapshots: list[AccountSnapshot], settings: Settings, store_path: Path | str,
                          prepared_by: str | None = None) -> ReviewDocument:
    """``ReviewDocument`` from what the app has computed already (its account row with notes)."""
    from kam_core.workbench.reviews import next_due

    due = next_due(review["review_date"] if review else None, review.get("next_review_date") if review else None,
                   settings.review_cadence_days)
    return _document(account, now, review, snapshots, settings, Path(store_path), prepared_by, due)


# ---------------------------------------------------------------- the board pack


@dataclass(frozen=True)
class BoardPack:
    """What the board pack shows: ``accounts`` (the account table: name, tier, quadrant,
    attractiveness, strength, ttm_revenue, health, status, reasons …), ``by_tier`` (tier,
    accounts_count, ttm_revenue …), the portfolio's ``headline`` figures, and optionally an
    earlier snapshot (``then`` rows, its ``then_label``) for the arrows and the tier migration."""

    as_of: dt.date
    accounts: pd.DataFrame
    by_tier: pd.DataFrame
    headline: dict[str, Any]
    tier_names: list[str]
    then: pd.DataFrame | None = None
    then_label: str | None = None
    currency: str = "EUR"
    max_red: int = 40


def board_pack_pdf(pack: BoardPack, settings: Settings, images: Images | None = None) -> bytes:
    """The portfolio's board pack as PDF bytes: matrix, tiers, tier migration, red accounts."""
    from kam_core.workbench.snapshots import matrix_moves, tier_migration

    cur = pack.currency
    moves = matrix_moves(pack.then, pack.accounts) if pack.then is not None else None
    plotted = pack.accounts.dropna(subset=["attractiveness", "strength"])
    if images is None:
        images = render_png([(matrix_figure(plotted, pack.tier_names, settings.quadrant_strength,
                                            settings.quadrant_attractiveness, moves), 820, 520)], settings) \
            if not plotted.empty else Images([], "No account has both an attractiveness and a strength score.")
    pdf = _Doc("Portfolio board pack", f"KAM dashboard · portfolio board pack · data as of {pack.as_of.isoformat()}")
    pdf.font(16, bold=True)
    pdf.cell(0, 8, pdf.t("Key account portfolio"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    since = f" · arrows and migration since the {pack.then_label}" if pack.then_label else ""
    pdf.line_text(f"Data as of {pack.as_of.isoformat()} · prepared {dt.date.today().isoformat()}{since}",
                  size=8.5, colour=GREY)
    h = pack.headline
    red = pack.accounts[pack.accounts["status"] == "red"]
    pdf.ln(1)
    pdf.table_rows(["accounts", "revenue, last 12 months", "growth", "gross margin", "red accounts"],
                   [(f"{len(pack.accounts):,}", show(h.get("ttm_revenue"), "money", cur),
                     show(h.get("revenue_growth"), "ratio"), show(h.get("gross_margin_pct"), "ratio"),
                     f"{len(red):,}")], (30, 50, 30, 40, 36), ("RIGHT",) * 5)

    pdf.heading("Attractiveness × strength")
    pdf.image_or_note(images, 0, pdf.epw, "The matrix is not shown.")
    pdf.line_text("Up = how attractive the customer is for us, right = how strong our position is; bubble = revenue "
                  "of the last 12 months, colour = tier" + ("; arrows: from the earlier snapshot's position to now "
                                                            "(the largest moves)." if moves is not None else "."),
                  size=7, colour=GREY)

    pdf.heading("Tiers")
    tiers = pack.by_tier
    total = float(tiers["ttm_revenue"].fillna(0).sum()) or None
    pdf.table_rows(["tier", "accounts", "revenue, last 12 months", "share of revenue"],
                   [(t.tier if isinstance(t.tier, str) else "no tier", f"{int(t.accounts_count):,}",
                     show(t.ttm_revenue, "money", cur),
                     show(t.ttm_revenue / total if total and t.ttm_revenue == t.ttm_revenue else None, "ratio"))
                    for t in tiers.itertuples()], (50, 30, 60, 46), ("LEFT", "RIGHT", "RIGHT", "RIGHT"))

    if pack.then is not None:
        pdf.heading(f"Tier migration since the {pack.then_label}")
        migration = tier_migration(pack.then, pack.accounts, pack.tier_names)
        moved = migration[migration["tier_from"] != migration["tier_to"]]
        if moved.empty:
            pdf.line_text("No account changed tier.", size=8.5)
        else:
            pdf.table_rows(["from", "to", "accounts", "revenue then", "revenue now"],
                           [(m.tier_from, m.tier_to, f"{int(m.accounts_count):,}", show(m.ttm_revenue_then, "money", cur),
                             show(m.ttm_revenue_now, "money", cur)) for m in moved.itertuples()],
                           (44, 44, 24, 37, 37), ("LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT"))
        stayed = int(migration.loc[migration["tier_from"] == migration["tier_to"], "accounts_count"].sum())
        pdf.line_text(f"{stayed:,} accounts kept their tier.", size=8, colour=GREY)

    pdf.heading(f"Red accounts ({len(red):,})")
    if red.empty:
        pdf.line_text("No account is red.", size=8.5)
    else:
        shown = red.sort_values("ttm_revenue", ascending=False, na_position="last").head(pack.max_red)
        rows = []
        for x in shown.itertuples():
            reasons = x.reasons.tolist() if hasattr(x.reasons, "tolist") else (x.reasons or [])
            rows.append((x.name, x.tier if isinstance(x.tier, str) else "–", show(x.ttm_revenue, "money", cur),
                         show(x.health, "score"), "; ".join(reasons[:3])))
        pdf.table_rows(["account", "tier", "revenue", "health", "why"], rows, (46, 20, 24, 14, 82),
                       ("LEFT", "LEFT", "RIGHT", "RIGHT", "LEFT"), size=7.5)
        if len(red) > len(shown):
            pdf.line_text(f"and {len(red) - len(shown):,} more red accounts (the largest by revenue are listed).",
                          size=8, colour=GREY)
    return bytes(pdf.output())


def board_pack_document(db_path: Path | str, settings: Settings | None = None, *, since: int | None = None,
                        store_path: Path | str | None = None) -> BoardPack:
    """The board pack's content computed from the database (the CLI); ``since``: the id of a
    portfolio snapshot to draw arrows and the tier migration from."""
    from kam_core.asof import resolve_as_of
    from kam_core.dataset import open_dataset
    from kam_core.metrics.growth import portfolio_figures
    from kam_core.metrics.overview import account_overview, base_metrics
    from kam_core.metrics.portfolio import portfolio_overview
    from kam_core.workbench.errors import WorkbenchError
    from kam_core.workbench.overlay import overlay_for
    from kam_core.workbench.snapshots import portfolio_snapshots, snapshot_rows
    from kam_core.workbench.store import store_path_for

    settings = settings or Settings()
    store = Path(store_path) if store_path is not None else store_path_for(db_path, settings)
    con = open_dataset(db_path, overlay_for(store))
    try:
        as_of = resolve_as_of(con, settings)
        base = base_metrics(con, settings, as_of)
        accounts = account_overview(con, settings, base)
        headline = portfolio_figures(con, accounts)
        by_tier = portfolio_overview(con, settings, as_of, scores=accounts, growth=accounts).by_tier
    finally:
        con.close()
    then = label = None
    if since is not None:
        chosen = next((s for s in portfolio_snapshots(store) if s.snapshot_id == since), None)
        if chosen is None:
            raise WorkbenchError(f"there is no portfolio snapshot number {since}; see 'review history'")
        then, label = snapshot_rows(store, since), chosen.label
    return BoardPack(as_of, accounts, by_tier, dict(headline), [n for n, _ in settings.tier_list], then, label,
                     settings.currency)


__all__ = ["BoardPack", "ReviewDocument", "board_pack_document", "board_pack_pdf",
           "build_review_document", "latest_review", "review_document", "review_pdf"]
