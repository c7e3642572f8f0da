"""A real browser (Debian's chromium driven by playwright): deep-link every page on a running
server, see its heading and a chart, no exception, and change one filter. Screenshots go to
test-artifacts/ (kept by CI as artefacts)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from kam_core.appdata import DEMO_DIR
from kam_core.ingest.loader import load

from .conftest import ROOT

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = ROOT / "test-artifacts"
PAGES = [("", "Key Account Management"), ("portfolio", "Portfolio"), ("account?account=A-0001", "Account"),
         ("relationships", "Relationships"), ("growth", "Growth"), ("explore", "Explore"), ("data", "Data"),
         ("settings", "Settings"), ("definitions", "Definitions")]
CHARTED = {"", "portfolio", "account", "relationships", "growth"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium package")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    db = tmp_path_factory.mktemp("browser") / "kam.duckdb"
    load([DEMO_DIR], db)
    port = _free_port()
    env = dict(os.environ, KAM_DB=str(db), KAM_CONFIG=str(db.parent / "kam.toml"))
    log = open(db.parent / "streamlit.log", "w")
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
                    raise RuntimeError("streamlit did not start: " + (db.parent / "streamlit.log").read_text()) from None
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


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


@pytest.mark.parametrize(("path", "heading"), PAGES)
def test_deep_link(browser, server, path: str, heading: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 2200})
    page = context.new_page()
    try:
        page.goto(f"{server}/{path}")
        _settle(page)
        if path.split("?")[0] in CHARTED:
            page.wait_for_selector("[data-testid=stPlotlyChart] .js-plotly-plot", timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / f"page-{(path.split('?')[0] or 'home')}.png"))
        assert heading in page.locator("h1").first.inner_text()
        assert page.locator("[data-testid=stException]").count() == 0
        assert "Page not found" not in page.inner_text("body")
        if path.split("?")[0] in CHARTED:
            assert page.locator("[data-testid=stPlotlyChart]").count() > 0
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
