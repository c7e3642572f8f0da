"""A real browser records a review end to end: the Reviews page links into the Account page's
form, the mentor rates, writes and saves, and the page shows the review counted (Debian's
chromium driven by playwright; screenshots in test-artifacts/)."""

from __future__ import annotations

import pytest

from kam_core.appdata import DEMO_DIR
from kam_core.ingest.loader import load

from .test_browser import ARTIFACTS, CHROMIUM, _settle, require_chromium, running_app

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_chromium()
    db = tmp_path_factory.mktemp("review_browser") / "kam.duckdb"
    load([DEMO_DIR], db)
    config = db.parent / "kam.toml"
    config.write_text('as_of = "2026-10-31"\n', encoding="utf-8")  # the demo's date: the form proposes it
    with running_app(db, config) as url:
        yield url


def test_a_mentor_records_a_review_in_the_browser(server) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 2400}).new_page()
            page.goto(f"{server}/reviews")
            _settle(page)
            assert "Reviews" in page.locator("h1").first.inner_text()
            assert page.locator("[data-testid=stException]").count() == 0
            page.screenshot(path=str(ARTIFACTS / "page-reviews.png"))

            page.goto(f"{server}/account?account=A-0002&review=1")  # where a "Review →" link leads
            _settle(page)
            assert "Since the last review" in page.inner_text("body")
            form = page.locator("[data-testid=stForm]")
            # nobody said who they are yet: the form asks who records the review
            form.locator("[data-testid=stSelectbox]").first.click()
            page.get_by_role("option", name="Markus Keller (T-02)").click()
            form.get_by_text("off track", exact=True).click()
            form.get_by_label("Notes").fill("The new CFO does not know us")
            form.get_by_label("Decisions").fill("Meet the CFO within a month")
            form.get_by_role("button", name="Save the review").click()
            page.wait_for_selector("text=Review of 2026-10-31 saved", timeout=120_000)
            _settle(page)
            body = page.inner_text("body")
            page.screenshot(path=str(ARTIFACTS / "review-recorded.png"))
            assert "status" in body and "→ red" in body  # off track makes it red at once
            assert "the mentor rated the account off track on 2026-10-31" in body
            assert "From the review of 2026-10-31" in body  # "since the last review" compares with it now
            assert "Markus Keller" in body.split("saved", 1)[1][:80], body.split("saved", 1)[1][:80]  # recorded with who
            assert page.locator("[data-testid=stException]").count() == 0
        finally:
            browser.close()
