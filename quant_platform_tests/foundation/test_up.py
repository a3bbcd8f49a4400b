"""`qp up` runs every platform process and Ctrl-C stops them all, cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from quant_platform.services.local import free_port, port_open

QP = str(Path(sys.executable).parent / "qp")


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status
    except Exception:
        return 0


def test_up_serves_everything_and_stops_on_sigint(
    database_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    ports = {k: free_port() for k in ("dagster", "dashboard", "metrics", "sim")}
    env = {
        **os.environ,
        "QP_DATABASE_URL": database_url,
        "QP_REDIS_URL": redis_url,
        "QP_REDIS_PREFIX": redis_prefix,
        "QP_DATA_DIR": str(tmp_path / "qp"),
        "QP_DAGSTER_PORT": str(ports["dagster"]),
        "QP_DASHBOARD_PORT": str(ports["dashboard"]),
        "QP_METRICS_PORT": str(ports["metrics"]),
        "QP_SIM_PORT": str(ports["sim"]),
        "QP_SIM_HISTORY_HOURS": "1",  # keep the first-start seeding short here
    }
    proc = subprocess.Popen(
        [QP, "up", "--no-local-services", "--feed", "simulator"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    urls = {
        "dagster": f"http://127.0.0.1:{ports['dagster']}/server_info",
        "dashboard": f"http://127.0.0.1:{ports['dashboard']}/_stcore/health",
        "ingest": f"http://127.0.0.1:{ports['metrics']}/health",
    }
    try:
        deadline = time.monotonic() + 120
        up: dict[str, int] = {}
        while time.monotonic() < deadline:
            up = {name: _get(url) for name, url in urls.items()}
            if all(code == 200 for code in up.values()):
                break
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            time.sleep(1)
        assert all(code == 200 for code in up.values()), up
        logs = Path(env["QP_DATA_DIR"]) / "logs"
        assert {
            "dagster-webserver.log",
            "dagster-daemon.log",
            "dashboard.log",
            "ingest.log",
            "simulator.log",
        } <= {p.name for p in logs.iterdir()}
        t0 = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        rc = proc.wait(timeout=60)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert rc == 0
    assert elapsed < 30
    for name, port in ports.items():
        assert not port_open("127.0.0.1", port), f"{name} still listening on {port}"
