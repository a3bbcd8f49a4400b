"""The analytics worker process never outlives a daemon killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

# A daemon stand-in: one off-loop cycle in the real worker process, print its pid, wait.
CHILD = """
import asyncio, os, sys, time
from quant_platform.config import load_settings
from quant_platform.ingestion.live_analytics import LiveAnalytics

la = LiveAnalytics(load_settings(analytics_worker="process"))
asyncio.run(la.compute_off_loop())
print(*la._pool._processes, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie has exited already
        return f.read().split(") ", 1)[1][0] != "Z"


@pytest.mark.timeout(120)
def test_worker_exits_when_the_daemon_is_killed() -> None:
    daemon = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    try:
        line = daemon.stdout.readline() if daemon.stdout else ""
        workers = [int(p) for p in line.split()]
        assert workers, "the worker process did not start"
        assert all(_alive(p) for p in workers)
        daemon.send_signal(signal.SIGKILL)
        daemon.wait()
        deadline = time.monotonic() + 30
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in workers), f"orphaned analytics workers {workers}"
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
