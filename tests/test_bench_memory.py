"""The benchmark's peak memory is the measured program's own, not the size of whoever started it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="Linux's /proc is needed")
def test_a_childs_peak_is_its_own() -> None:
    # a starter of at least 200 MB: getrusage's ru_maxrss would give the child as much
    ballast = bytearray(200 * 2**20)
    ballast[:: 4096] = b"\1" * len(range(0, len(ballast), 4096))
    done = subprocess.run([sys.executable, "-c", "import side_by_side; print(side_by_side._peak_mb())"],
                          cwd=BENCH, capture_output=True, text=True, check=True)
    child_peak = float(done.stdout.strip().splitlines()[-1])
    assert 5 < child_peak < 100, child_peak  # a bare Python with the script imported: about 15 MB
    assert len(ballast) == 200 * 2**20
