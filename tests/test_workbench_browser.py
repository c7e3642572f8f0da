"""The workbench in a real browser (Chromium): on the Account page a mentor makes a contact
king and opponent in the contacts editor (typing into the grid as a user does), says who they
are when the first save asks, and sees the account turn red — there and on Home. Screenshots
go to test-artifacts/."""

from __future__ import annotations

import re
import time

import pytest

from .test_browser import ARTIFACTS, SCREEN, TABLES_JS, _settle, browser, server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser

ACCOUNT = "A-0036"  # amber and the second-largest revenue of the demo: first among the red once edited


ROW = 35  # the grid's row height in pixels (its header row too)


def _grid_key(page, keys: list[str]) -> None:
    for key in keys:
        page.keyboard.press(key)
        time.sleep(0.1)


def test_king_and_opponent_in_the_contacts_editor_turn_the_account_red_on_home(browser, server) -> None:  # noqa: F811
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": SCREEN["width"], "height": 1100})  # a projector's width
    page = context.new_page()
    try:
        page.goto(server)
        _settle(page)
        assert page.locator(f"a[href*='account={ACCOUNT}']").count() == 0  # not red: not listed
        page.goto(f"{server}/account?account={ACCOUNT}")
        _settle(page)
        name = page.locator("h2").first.inner_text().split("\n")[0].strip()
        assert "amber" in page.locator("h2").first.inner_text()
        page.get_by_role("tab", name="Relationships").click()  # the editor sits in its tab
        page.get_by_text("Edit the contacts").first.click()
        grid = page.locator("[data-testid=stExpander]", has_text="Edit the contacts").locator(
            "[data-testid=stDataFrame]").first
        grid.scroll_into_view_if_needed()
        time.sleep(1)
        # the open editor (and every table beside it) fits the screen: no column cut off, no sideways scrolling
        assert not [(scroll, client) for scroll, client in page.evaluate(TABLES_JS) if scroll > client + 1]
        contact = grid.locator("#glide-cell-1-1").inner_text().strip()  # row 1: not the king
        for column, value in ((2, "king"), (3, "opponent")):  # row 1's piece, then its attitude
            canvas = grid.locator("canvas").first.bounding_box()
            page.mouse.click(canvas["x"] + 60, canvas["y"] + ROW * 2.5)  # row 1's name (below the header and row 0)
            time.sleep(0.5)
            _grid_key(page, [*["ArrowRight"] * (column - 1), "Enter"])  # Enter opens the cell's choices
            time.sleep(0.5)
            page.keyboard.type(value)
            time.sleep(0.5)
            page.keyboard.press("Enter")
            page.get_by_text("1 row changed, not saved yet.").wait_for(timeout=30_000)
            _settle(page)
        page.get_by_role("button", name="Save changes").first.click()
        # without sign-in the first save asks who is saving
        dialog = page.get_by_role("dialog")
        dialog.locator("[data-testid=stSelectbox]").click()
        page.get_by_role("option", name="Markus Keller (T-02)").click()
        dialog.get_by_role("button", name="Save").click()
        page.get_by_text("Saved: 2 changes").wait_for(timeout=60_000)
        _settle(page)
        page.screenshot(path=str(ARTIFACTS / "workbench-contacts-saved.png"))
        heading = page.locator("h2").first.inner_text()
        assert "red" in heading
        page.get_by_role("tab", name="What is wrong").click()  # the reasons sit in their tab
        _settle(page)
        assert re.search(rf"the king \({re.escape(contact)}\) is an opponent", page.inner_text("body"))
        # Home: the account is among the red ones that need attention (it was not before)
        page.get_by_role("link", name="Home").first.click()
        _settle(page)
        link = page.locator(f"a[href*='account={ACCOUNT}']")
        assert link.count() == 1 and link.inner_text().strip().startswith(name.removesuffix(" amber").strip())
        assert page.locator("[data-testid=stException]").count() == 0
        page.screenshot(path=str(ARTIFACTS / "workbench-home-red.png"))
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "workbench-failed.png"))
        raise
    finally:
        context.close()
