"""A real `streamlit run dashboard/app.py` for the browser tests, and Chromium's launch flags.

A module of its own, so each browser test file starts the same server without
importing another test file.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from quant_platform.services.local import free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
# The live page's first-paint candles: a Markdown image with an SVG data URI
FIRST_PAINT_IMG = 'img[src^="data:image/svg+xml;base64,"]'
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_chromium() -> None:
    """Fail (never skip) when the browser the tests drive is missing."""
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing at /usr/bin/chromium: run `bash scripts/setup.sh --test`")


def _wait_healthy(
    url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"streamlit did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def dashboard_env(database_url: str, redis_url: str, redis_prefix: str, tmp_path: Path) -> dict:
    """The QP_* settings a test's dashboard server runs with: its own services and data dir.

    QP_DAGSTER_PORT is a free port, so the page's Dagster link and probe never reach
    a Dagster webserver another test (or the developer) runs.
    """
    return {
        "QP_DATABASE_URL": database_url,
        "QP_REDIS_URL": redis_url,
        "QP_REDIS_PREFIX": redis_prefix,
        "QP_DATA_DIR": str(tmp_path / "qp"),
        "QP_DAGSTER_PORT": str(free_port()),
        "QP_FEED": "simulator",
    }


@contextlib.contextmanager
def streamlit_server(env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """The dashboard on a free port with `env` (QP_* settings) added; yields its URL.

    Always terminated; fails the test if the server logged a traceback.

    Raises:
        pytest.fail.Exception: the server exited or never answered its health check.
    """
    port = free_port()
    log = tmp_path / "streamlit.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(ROOT / "dashboard" / "app.py"),
                "--server.headless",
                "true",
                "--server.address",
                "127.0.0.1",
                "--server.port",
                str(port),
                "--browser.gatherUsageStats",
                "false",
                "--server.fileWatcherType",
                "none",
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, proc, log)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        assert "Traceback" not in log.read_text(errors="replace"), log.read_text()[-3000:]
