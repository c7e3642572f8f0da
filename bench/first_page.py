"""The app's first page after a start, in a real browser (prints a table; not a test).

For each of RUNS fresh servers on the demo data (``streamlit run app.py`` on a free port, the
demo database built beforehand as the first start would): the server's start (process start
until ``/_stcore/health`` answers) and the first page (Chromium opens the home page until its
headline figures are drawn and Streamlit has finished running the script). The first request
pays for everything a server has not done before it: importing pandas, DuckDB, plotly and
kam_core, opening the database, computing every metric, drawing.

    python bench/first_page.py [--runs 5] [--accounts 150]

Needs Debian's ``chromium`` and the ``playwright`` package (the test dependencies).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BUSY = "[data-testid=stStatusWidget], [data-testid=stSkeleton]"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(db: Path, port: int, log: Path) -> subprocess.Popen:
    env = dict(os.environ, KAM_DB=str(db), KAM_CONFIG=str(db.parent / "kam.toml"))
    return subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.address",
         "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def _wait_healthy(proc: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
            return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("streamlit did not start: " + log.read_text()) from None
            time.sleep(0.02)


def _first_page(browser, url: str) -> tuple[float, float]:
    """Seconds until the headline figures show, and until the script has finished."""
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    try:
        started = time.perf_counter()
        page.goto(url)
        page.wait_for_selector("[data-testid=stMetricValue]", timeout=90_000)
        shown = time.perf_counter() - started
        while page.locator(BUSY).count():
            time.sleep(0.02)
        return shown, time.perf_counter() - started
    finally:
        page.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--accounts", type=int, default=150, help="150: the embedded demo; more: a generated one")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from kam_core.appdata import DEMO_DIR
    from kam_core.ingest.loader import load

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("chromium is not installed (apt-get install chromium)")
    work = Path(tempfile.mkdtemp(prefix="kam-first-page-"))
    try:
        source = DEMO_DIR
        if args.accounts != 150:
            from kam_core.demo import write_demo

            source = work / "export"
            write_demo(source, accounts=args.accounts)
        db = work / "kam.duckdb"
        load([source], db)
        starts, shown, done = [], [], []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"])
            try:
                for run in range(args.runs):
                    port, log = _free_port(), work / f"streamlit-{run}.log"
                    t = time.perf_counter()
                    proc = _start(db, port, log)
                    try:
                        _wait_healthy(proc, port, log)
                        starts.append(time.perf_counter() - t)
                        first, finished = _first_page(browser, f"http://127.0.0.1:{port}/")
                        shown.append(first)
                        done.append(finished)
                    finally:
                        proc.terminate()
                        proc.wait(timeout=15)
                    print(f"run {run + 1}: server start {starts[-1]:.2f} s, first page {shown[-1]:.2f} s "
                          f"(script finished {done[-1]:.2f} s)", flush=True)
            finally:
                browser.close()
        load_avg = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"\nFirst page after a start, {args.accounts:,} accounts (median of {args.runs}; "
              f"load average {load_avg:.1f}):\n")
        print("| server start s | first page s (figures drawn) | script finished s |")
        print("|---|---|---|")
        print(f"| {statistics.median(starts):.2f} | {statistics.median(shown):.2f} | {statistics.median(done):.2f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
