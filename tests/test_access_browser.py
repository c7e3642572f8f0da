"""A real sign-in in Chromium: the test starts a local OpenID Connect provider
(``oidc-provider-mock``) and the app with an ``[auth]`` section pointing at it, both on the
loopback address, and signs in two users. The admin (a member of the group ``/kam-admins``)
loads data on the Data page; the viewer is refused it with the message naming the role.
Screenshots go to test-artifacts/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from kam_core.appdata import DEMO_DIR
from kam_core.ingest.loader import load

from .conftest import MINI_ACCOUNTS, ROOT
from .test_browser import ARTIFACTS, CHROMIUM, _free_port, _settle

pytestmark = pytest.mark.browser

USERS = {
    "ada@example.com": {"email": "ada@example.com", "name": "Ada Admin", "groups": ["/kam-admins", "/staff"]},
    "vera@example.com": {"email": "vera@example.com", "name": "Vera Viewer", "groups": ["/staff"]},
}
KAM_TOML = '[roles]\n"/kam-admins" = "admin"\n"vera@example.com" = "viewer"\n'
VIEWER_REFUSAL = ("Loading, uploading or restoring data needs the role admin; "
                  "you are Vera Viewer (vera@example.com), role viewer.")


def _wait_for(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"{url} did not answer: " + log.read_text()) from None
            time.sleep(0.5)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def signed_app(tmp_path_factory):
    """(app URL, provider URL, database): the provider and the app run only during this module."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium package")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    work = tmp_path_factory.mktemp("signin")
    db = work / "kam.duckdb"
    load([DEMO_DIR], db)
    (work / "kam.toml").write_text(KAM_TOML, encoding="utf-8")
    provider_port, app_port = _free_port(), _free_port()
    provider = f"http://127.0.0.1:{provider_port}"
    server = f"http://127.0.0.1:{app_port}"
    (work / "secrets.toml").write_text(
        "[auth]\n"
        f'redirect_uri = "{server}/oauth2callback"\n'
        f'cookie_secret = "{os.urandom(24).hex()}"\n'
        'client_id = "kam-dashboard"\n'
        'client_secret = "any-secret-the-mock-accepts"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n',
        encoding="utf-8")
    provider_log, app_log = open(work / "provider.log", "w"), open(work / "streamlit.log", "w")
    provider_proc = subprocess.Popen(
        [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(provider_port)],
        stdout=provider_log, stderr=subprocess.STDOUT)
    app_proc = None
    try:
        _wait_for(f"{provider}/.well-known/openid-configuration", provider_proc, work / "provider.log")
        for sub, claims in USERS.items():  # the claims the provider puts into each user's ID token
            request = urllib.request.Request(f"{provider}/users/{urllib.parse.quote(sub)}", method="PUT",
                                             data=json.dumps(claims).encode(),
                                             headers={"content-type": "application/json"})
            assert urllib.request.urlopen(request, timeout=10).status == 204
        env = dict(os.environ, KAM_DB=str(db), KAM_CONFIG=str(work / "kam.toml"))
        app_proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.address",
             "127.0.0.1", "--server.port", str(app_port), "--browser.gatherUsageStats", "false",
             "--secrets.files", str(work / "secrets.toml")],
            cwd=ROOT, env=env, stdout=app_log, stderr=subprocess.STDOUT)
        _wait_for(f"{server}/_stcore/health", app_proc, work / "streamlit.log")
        yield server, provider, work
    finally:
        if app_proc is not None:
            _stop(app_proc)
        _stop(provider_proc)
        provider_log.close()
        app_log.close()


@pytest.fixture(scope="module")
def chromium(signed_app):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            yield b
        finally:
            b.close()


def plain(text: str) -> str:
    """Text as read: e-mail addresses from the data carry an invisible word joiner (ui.md)."""
    return text.replace("\u2060", "")


def sign_in(page, server: str, provider: str, sub: str) -> None:
    """Sign in as ``sub`` through the provider's form and land on the app's home page."""
    page.goto(server)
    _settle(page)
    page.get_by_role("button", name="Sign in with your company account").click()
    page.wait_for_url(f"{provider}/**", timeout=60_000)
    page.get_by_placeholder("sub").fill(sub)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{server}/", timeout=60_000)
    page.wait_for_selector("h1:has-text('Key Account Management')", timeout=90_000)
    _settle(page)


def test_nothing_before_sign_in(chromium, signed_app) -> None:
    server, _, _ = signed_app
    ARTIFACTS.mkdir(exist_ok=True)
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        page.goto(f"{server}/data")  # a deep link does not get past the sign-in screen
        _settle(page)
        page.screenshot(path=str(ARTIFACTS / "signin-screen.png"))
        assert page.locator("h1").first.inner_text() == "♚ KAM dashboard"
        body = page.inner_text("body")
        assert "Sign in with your company account" in body
        assert "Rejected rows" not in body and "Filters" not in body and "Portfolio" not in body
        assert page.locator("[data-testid=stSidebar]").count() == 0 or not page.locator(
            "[data-testid=stSidebar]").inner_text().strip()
    finally:
        context.close()


def test_viewer_is_refused_the_data_page_actions(chromium, signed_app) -> None:
    server, provider, _ = signed_app
    context = chromium.new_context(viewport={"width": 1400, "height": 2000})
    page = context.new_page()
    try:
        sign_in(page, server, provider, "vera@example.com")
        sidebar = plain(page.locator("[data-testid=stSidebar]").inner_text())
        assert "Vera Viewer" in sidebar and "vera@example.com · viewer" in sidebar and "Sign out" in sidebar
        page.goto(f"{server}/data")
        _settle(page)
        page.get_by_text(VIEWER_REFUSAL.split(" (")[0]).wait_for(timeout=30_000)
        assert VIEWER_REFUSAL in plain(page.inner_text("body"))
        assert page.locator("[data-testid=stFileUploader] input[type=file]").is_disabled()
        page.screenshot(path=str(ARTIFACTS / "signin-viewer-data.png"))
        page.goto(f"{server}/settings")
        _settle(page)
        assert page.get_by_text("Changing the settings needs the role admin; you are Vera Viewer").count() == 1
        assert page.get_by_role("button", name="Save to kam.toml").is_disabled()
    finally:
        context.close()


def test_admin_loads_data_and_signs_out(chromium, signed_app) -> None:
    server, provider, work = signed_app
    upload = work / "upload"
    upload.mkdir()
    (upload / "accounts.csv").write_text(MINI_ACCOUNTS, encoding="utf-8")
    context = chromium.new_context(viewport={"width": 1400, "height": 2000})
    page = context.new_page()
    try:
        sign_in(page, server, provider, "ada@example.com")
        sidebar = plain(page.locator("[data-testid=stSidebar]").inner_text())
        assert "Ada Admin" in sidebar and "ada@example.com · admin" in sidebar  # admin through the group
        page.goto(f"{server}/data")
        _settle(page)
        assert "needs the role admin" not in page.inner_text("body")
        page.locator("[data-testid=stFileUploader] input[type=file]").set_input_files(str(upload / "accounts.csv"))
        page.get_by_role("button", name="Rebuild the database").click(timeout=60_000)
        page.get_by_role("button", name="Replace all data").click(timeout=60_000)  # it asks first
        page.get_by_text("Last load").wait_for(timeout=120_000)
        _settle(page)
        page.screenshot(path=str(ARTIFACTS / "signin-admin-data.png"))
        assert page.locator("[data-testid=stMetricValue]").first.inner_text() == "2"  # the two uploaded accounts
        page.get_by_role("button", name="Sign out").click()
        # the provider announces an end_session_endpoint: Streamlit ends the session there too
        page.wait_for_url(f"{provider}/oauth2/end_session**", timeout=60_000)
        page.get_by_role("button", name="End session").click()
        page.wait_for_selector("text=Sign in with your company account", timeout=60_000)
        page.goto(f"{server}/data")  # the cookie is gone: back to the sign-in screen
        _settle(page)
        assert "Sign in with your company account" in page.inner_text("body")
    finally:
        context.close()
