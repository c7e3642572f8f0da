"""A real browser (Debian's chromium driven by playwright) on a running server, at a projector's
1280 × 720: deep-link every page, see its heading and a chart, no exception, no headline figure
cut off, every table's columns in view; every tab of the Account page; the presentation mode;
a click on a bubble of the matrix; and a filter change. Screenshots go to test-artifacts/
(kept by CI as artefacts)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest

from kam_core.appdata import DEMO_DIR
from kam_core.ingest.loader import load

from .conftest import ROOT

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = ROOT / "test-artifacts"
PAGES = [("", "Key Account Management"), ("portfolio", "Portfolio"), ("account?account=A-0001", "Account"),
         ("relationships", "Relationships"), ("growth", "Growth"), ("explore", "Explore"), ("data", "Data"),
         ("settings", "Settings"), ("definitions", "Definitions"), ("reviews", "Reviews")]
CHARTED = {"", "portfolio", "account", "relationships", "growth"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_chromium() -> None:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium package")
        pytest.skip("chromium is not installed (apt-get install chromium)")


@contextlib.contextmanager
def running_app(db, config) -> Iterator[str]:
    """``streamlit run app.py`` on a free loopback port over ``db`` and ``config`` (its log beside
    the database); yields the app's URL once it answers, and stops it afterwards."""
    port = _free_port()
    env = dict(os.environ, KAM_DB=str(db), KAM_CONFIG=str(config))
    log_path = db.parent / "streamlit.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.address",
             "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("streamlit did not start: " + log_path.read_text()) from None
                    time.sleep(0.5)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_chromium()
    db = tmp_path_factory.mktemp("browser") / "kam.duckdb"
    load([DEMO_DIR], db)
    with running_app(db, db.parent / "kam.toml") as url:
        yield url


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            yield b
        finally:
            b.close()


def _settle(page) -> None:
    """Wait until Streamlit has finished running the script and drawing."""
    page.wait_for_selector("h1", timeout=90_000)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        busy = page.locator("[data-testid=stStatusWidget]").count() + page.locator("[data-testid=stSkeleton]").count()
        if busy == 0:
            break
        time.sleep(0.5)
    time.sleep(1)


# A projector's screen: what a meeting sees
SCREEN = {"width": 1280, "height": 720}
# pages whose tables have the shape of the data (any table, a query's result): wider than the
# screen by nature, with their naming column pinned
WIDE_TABLES = {"explore", "data"}

METRICS_CUT_JS = """() => [...document.querySelectorAll('[data-testid=stMetric]')].flatMap(m =>
  [...m.querySelectorAll('[data-testid=stMetricLabel], [data-testid=stMetricValue], [data-testid=stMetricDelta]')]
    .filter(e => e.offsetParent !== null)
    .map(e => { const box = e.querySelector('[data-testid=stMarkdownContainer]') || e;
                const text = box.querySelector('p') || box;
                return [e.getAttribute('data-testid'), e.innerText.trim(),
                        box.scrollWidth > box.clientWidth + 1 || text.scrollWidth > text.clientWidth + 1
                        || e.innerText.trim().endsWith('…')]; }))"""
TABLES_JS = """() => [...document.querySelectorAll('[data-testid=stDataFrame] .dvn-scroller')]
  .filter(e => e.offsetParent !== null).map(e => [e.scrollWidth, e.clientWidth])"""


def _full_screenshot(page, path) -> None:
    """The whole page (Streamlit scrolls inside its own container, so the window grows to fit)."""
    height = page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollHeight")
    page.set_viewport_size({"width": SCREEN["width"], "height": min(max(height, SCREEN["height"]), 8000)})
    time.sleep(1.0)  # the charts redraw for the new size
    page.screenshot(path=str(path))
    page.set_viewport_size(SCREEN)


def _readable(page, name: str) -> None:
    """No headline figure, label or note cut off; every table's columns in view (no scrolling
    sideways) except where the table has the data's own shape."""
    cut = [(kind, text) for kind, text, is_cut in page.evaluate(METRICS_CUT_JS) if is_cut]
    assert not cut, (name, cut)
    if name.split("-")[0] not in WIDE_TABLES:
        wide = [(scroll, client) for scroll, client in page.evaluate(TABLES_JS) if scroll > client + 1]
        assert not wide, (name, wide)


@pytest.mark.parametrize(("path", "heading"), PAGES)
def test_deep_link(browser, server, path: str, heading: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport=SCREEN)
    page = context.new_page()
    name = path.split("?")[0] or "home"
    try:
        page.goto(f"{server}/{path}")
        _settle(page)
        if path.split("?")[0] in CHARTED:
            page.wait_for_selector("[data-testid=stPlotlyChart] .js-plotly-plot", timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / f"page-{name}.png"))
        assert heading in page.locator("h1").first.inner_text()
        assert page.locator("[data-testid=stException]").count() == 0
        assert "Page not found" not in page.inner_text("body")
        if path.split("?")[0] in CHARTED:
            assert page.locator("[data-testid=stPlotlyChart]").count() > 0
        _readable(page, name)
        _full_screenshot(page, ARTIFACTS / f"page-{name}-full.png")
    finally:
        context.close()


def test_every_tab_of_the_account_page_is_readable(browser, server) -> None:
    context = browser.new_context(viewport=SCREEN)
    page = context.new_page()
    try:
        page.goto(f"{server}/account?account=A-0004")
        _settle(page)
        tabs = page.locator("[data-testid=stTab]")
        assert tabs.count() == 4
        for i in range(tabs.count()):
            tabs.nth(i).click()
            time.sleep(1.5)  # the tab's charts and tables draw
            _readable(page, f"account-tab{i}")
            _full_screenshot(page, ARTIFACTS / f"account-tab{i + 1}.png")
        assert page.locator("[data-testid=stException]").count() == 0
    finally:
        context.close()


@pytest.mark.parametrize("path", ["", "account"])
def test_presentation_mode(browser, server, path: str) -> None:
    context = browser.new_context(viewport=SCREEN)
    page = context.new_page()
    try:
        page.goto(f"{server}/{path}?present=1")
        _settle(page)
        assert page.locator("[data-testid=stSidebar]").get_attribute("data-collapsed") == "true"
        size = page.evaluate("() => getComputedStyle(document.documentElement).fontSize")
        assert size == "19px"
        _readable(page, f"present-{path or 'home'}")
        page.screenshot(path=str(ARTIFACTS / f"present-{path or 'home'}.png"))
        assert "present=1" in page.url
    finally:
        context.close()


def test_a_click_on_a_bubble_explains_that_account(browser, server) -> None:
    context = browser.new_context(viewport=SCREEN)
    page = context.new_page()
    try:
        page.goto(f"{server}/portfolio")
        _settle(page)
        page.wait_for_selector(".js-plotly-plot .scatterlayer path.point", timeout=60_000)
        names = page.evaluate("() => document.querySelector('.js-plotly-plot').data[0].hovertext")
        explained = page.locator("[data-testid=stMarkdownContainer] p", has_text="→ tier")
        for index in (2, 0):  # two clicks in a row: each explains its own account
            point = page.locator(".js-plotly-plot .scatterlayer .trace").nth(0).locator("path.point").nth(index)
            point.scroll_into_view_if_needed()
            point.click(force=True)
            _settle(page)
            page.wait_for_function(
                "name => [...document.querySelectorAll('[data-testid=stMarkdownContainer] p')]"
                ".some(p => p.innerText.startsWith(name + ' — attractiveness'))", arg=names[index], timeout=30_000)
            assert explained.first.inner_text().startswith(names[index])
        page.screenshot(path=str(ARTIFACTS / "matrix-click.png"))
    finally:
        context.close()


def test_filter_change_goes_into_the_url_and_survives_navigation(browser, server) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1600})
    page = context.new_page()
    try:
        page.goto(f"{server}/portfolio")
        _settle(page)
        before = page.locator("[data-testid=stMetricValue]").nth(1).inner_text()
        page.locator("[data-testid=stSidebar] [data-testid=stMultiSelect]").first.click()
        page.get_by_role("option", name="Gold").click()
        page.keyboard.press("Escape")
        _settle(page)
        page.wait_for_url("**tier=Gold**", timeout=30_000)
        after = page.locator("[data-testid=stMetricValue]").nth(1).inner_text()
        assert after != before
        page.get_by_role("link", name="Growth").first.click()
        _settle(page)
        assert "Growth" in page.locator("h1").first.inner_text()
        assert "tier=Gold" in page.url
        page.screenshot(path=str(ARTIFACTS / "filter-gold-growth.png"))
    finally:
        context.close()
