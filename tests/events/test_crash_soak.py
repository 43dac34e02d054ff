"""The crash soak at CI size: stream processes SIGKILLed mid-batch and restarted, the soak's own Redis killed and
restarted from its append-only file twice, its own PostgreSQL stopped in an immediate shutdown once, refunds and
duplicate deliveries mixed in; then the ledger checked against an independent calculation (bench/crash_soak.py,
which runs its own servers, never the shared ones; run it at full size by hand)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from app.paths import PROJECT_ROOT

pytestmark = pytest.mark.processes


def test_killed_processes_and_servers_lose_nothing_and_double_nothing() -> None:
    result = subprocess.run(
        [
            sys.executable,
            *("bench/crash_soak.py", "--events", "8000", "--processes", "3"),
            *("--kills", "8", "--redis-restarts", "2", "--postgres-restarts", "1", "--pause", "0.5", "1.5"),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "soak passed" in result.stdout
    faults = re.search(
        r"(\d+) SIGKILLs \((\d+) with a batch in hand\), (\d+) Redis restarts, (\d+) PostgreSQL restarts",
        result.stdout,
    )
    kills, mid_batch, redis_restarts, postgres_restarts = (int(n) for n in faults.groups())
    # The faults stop early when the backlog is drained first (a fast machine): most of them must have landed.
    assert kills >= 4 and mid_batch >= 1, result.stdout
    assert (redis_restarts, postgres_restarts) == (2, 1), result.stdout
    assert re.search(r"ledger total ([\d,]+) points, expected \1;", result.stdout), result.stdout
