"""The review document and the board pack as PDF: built in CI (with Debian's chromium drawing the
charts, and without any browser), their text read back with pypdf."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from pathlib import Path

import pytest
from pypdf import PdfReader

from kam_core.access import local_actor
from kam_core.cli import main
from kam_core.ingest.loader import load
from kam_core.settings import Settings
from kam_core.workbench.pdf import board_pack_document, board_pack_pdf, review_document, review_pdf
from kam_core.workbench.reviews import record_review

from .test_review_core import AS_OF, write_export

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def text_of(data: bytes, path: Path) -> tuple[str, int]:
    path.write_bytes(data)
    reader = PdfReader(path)
    text = " ".join(page.extract_text() or "" for page in reader.pages)
    return re.sub(r"\s+", " ", text), len(reader.pages)


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pdf")
    path = root / "kam.duckdb"
    load([write_export(root / "export")], path)
    record_review(path, local_actor("T-01", "Anna Berg"), "A-1", rating="off_track", notes="Lost the sponsor",
                  decisions="Escalate to the board", review_date=AS_OF)
    return path


def test_the_review_pdf_names_the_account_its_health_and_reasons(db: Path, tmp_path: Path) -> None:
    if CHROMIUM is None and not os.environ.get("CI"):
        pytest.skip("chromium is not installed (apt-get install chromium)")
    doc = review_document(db, "A-1", Settings(), prepared_by="Anna Berg (T-01)")
    text, pages = text_of(review_pdf(doc, Settings()), tmp_path / "review.pdf")
    assert pages == 1
    assert "Alpha AG" in text and "A-1" in text
    assert "RED health 84 of 100" in text  # 83.94: off track makes it red whatever the health
    assert "the mentor rated the account off track on 2025-06-30" in text
    assert "Review of 2025-06-30 · rating off track · mentor Anna Berg · recorded by Anna Berg (T-01)" in text
    assert "Decisions: Escalate to the board" in text and "Meet the CFO" in text
    assert "Since the review of 2025-06-30 (0 days)" in text
    assert "Charts not drawn" not in text and "is not shown" not in text  # the map was drawn
    assert doc.now.contacts and len(PdfReader(tmp_path / "review.pdf").pages[0].images) == 1


def test_without_a_browser_the_pdf_is_built_and_says_why(db: Path, tmp_path: Path) -> None:
    settings = Settings({"chart_browser": "no-such-chrome"})
    text, pages = text_of(review_pdf(review_document(db, "A-1", settings), settings), tmp_path / "plain.pdf")
    assert pages == 1 and "Alpha AG" in text and "the mentor rated the account off track" in text
    assert ("The relationship map is not shown. Charts not drawn: the setting chart_browser names 'no-such-chrome', "
            "which is not a program") in text
    pack = board_pack_document(db, settings)
    text, _ = text_of(board_pack_pdf(pack, settings), tmp_path / "pack.pdf")
    assert "Key account portfolio" in text and "The matrix is not shown." in text
    assert "Red accounts (1)" in text and "Alpha AG" in text


def test_the_board_pack_and_the_cli(db: Path, tmp_path: Path, capsys) -> None:
    if CHROMIUM is None and not os.environ.get("CI"):
        pytest.skip("chromium is not installed (apt-get install chromium)")
    out = tmp_path / "review-A-1.pdf"
    assert main(["review", "pdf", "--db", str(db), "--account", "A-1", "--out", str(out), "--user", "T-01"]) == 0
    assert f"{out} written" in capsys.readouterr().out
    text, _ = text_of(out.read_bytes(), tmp_path / "again.pdf")
    assert "Alpha AG" in text and "prepared" in text and "by Anna Berg (T-01)" in text
    pack = tmp_path / "pack.pdf"
    assert main(["review", "snapshot", "--db", str(db)]) == 0
    assert main(["review", "board-pack", "--db", str(db), "--out", str(pack), "--since", "1"]) == 0
    text, _ = text_of(pack.read_bytes(), tmp_path / "pack2.pdf")
    assert "Red accounts (1)" in text and "Tier migration since the load of" in text
    # this export has no criteria: no matrix, and the pack says so
    assert "The matrix is not shown. No account has both an attractiveness and a strength score." in text


def test_long_notes_are_shortened_and_the_review_stays_one_page(db: Path, tmp_path: Path) -> None:
    if CHROMIUM is None and not os.environ.get("CI"):
        pytest.skip("chromium is not installed (apt-get install chromium)")
    doc = review_document(db, "A-1", Settings())
    sentence = "The sponsor left in March and procurement now runs the renewal with a new framework. "
    notes, decisions = (sentence * 24)[:2000], ("Escalate to the board. " * 87)[:2000]
    long = dataclasses.replace(doc, review={**doc.review, "notes": notes, "decisions": decisions})
    text, pages = text_of(review_pdf(long, Settings()), tmp_path / "long.pdf")
    assert pages == 1
    assert "Alpha AG" in text and "RED health 84 of 100" in text
    assert "the mentor rated the account off track on 2025-06-30" in text
    assert "Notes: The sponsor left in March" in text and "Decisions: Escalate to the board" in text
    assert text.count("…") >= 1 and len(text) < len(notes) + len(decisions)
    assert ("Shortened to fit the page: the full text is in the app (Account page, the review of 2025-06-30)."
            in text)
    assert "Meet the CFO" in text  # the plan's actions are still there
    text, _ = text_of(review_pdf(doc, Settings()), tmp_path / "short.pdf")  # short words: as written
    assert "Shortened" not in text and "Notes: Lost the sponsor" in text
