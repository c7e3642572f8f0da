"""Page speed with AppTest on a 10k-account database (prints a table; not a test).

For every page: the first render in a fresh process-wide cache (cold: metrics computed),
a second render in a new session (warm: cached metrics), and a filter change (tier = the
top tier) in that session.

    python bench/bench_pages.py --accounts 10000 [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

PAGES = ["app.py", "pages/1_portfolio.py", "pages/2_account.py", "pages/3_relationships.py", "pages/4_growth.py",
         "pages/5_explore.py", "pages/6_data.py", "pages/7_settings.py"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "kam-bench")
    args = parser.parse_args()
    from scale_data import write_scale_export
    from streamlit.testing.v1 import AppTest

    from kam_core.ingest.loader import load

    src = args.workdir / f"export-{args.accounts}"
    if not (src / "competitors.csv").is_file():
        write_scale_export(src, args.accounts)
    db = args.workdir / f"pages-{args.accounts}.duckdb"
    if not db.is_file():
        load([src], db)
    os.environ["KAM_DB"] = str(db)
    os.environ["KAM_CONFIG"] = str(args.workdir / "bench-kam.toml")

    def run(page: str, tier: str | None = None) -> tuple[AppTest, float]:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
        if page != "app.py":
            at.switch_page(page)
        started = time.perf_counter()
        at.run()
        elapsed = time.perf_counter() - started
        if at.exception:
            raise RuntimeError(f"{page}: {at.exception[0].message}")
        return at, elapsed

    rows = []
    for i, page in enumerate(PAGES):
        _, cold = run(page)
        at, warm = run(page)
        ms = at.sidebar.multiselect(key="w_tier") if any(w.key == "w_tier" for w in at.sidebar.multiselect) else None
        change = float("nan")
        if ms is not None and ms.options:
            ms.set_value([ms.options[0]])
            started = time.perf_counter()
            at.run()
            change = time.perf_counter() - started
        rows.append((page, cold if i == 0 else cold, warm, change))
        print(f"measured {page}", file=sys.stderr)
    print(f"| page ({args.accounts:,} accounts) | first render s | next session s | filter change s |")
    print("|---|---|---|---|")
    for page, cold, warm, change in rows:
        name = "home" if page == "app.py" else page.split("_", 1)[1].removesuffix(".py")
        print(f"| {name} | {cold:.2f} | {warm:.2f} | {change:.2f} |")
    print("\n(first render of home includes computing and caching every metric; later pages reuse it)")


if __name__ == "__main__":
    main()
