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


def _leftovers(data_dir: Path, cluster: Path) -> list[str]:
    """Processes still running for this `qp up`: its environment, or a server's working
    directory (PostgreSQL and Redis chdir into their data)."""
    found = []
    for proc_dir in Path("/proc").iterdir():
        if not proc_dir.name.isdigit():
            continue
        try:
            environ = (proc_dir / "environ").read_bytes().split(b"\0")
            cwd = os.readlink(proc_dir / "cwd")
            cmd = (proc_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if f"QP_DATA_DIR={data_dir}".encode() in environ or any(
            cwd == str(p) or cwd.startswith(f"{p}/") for p in (data_dir, cluster)
        ):
            found.append(f"{proc_dir.name}: {cmd}")
    return found


def test_up_serves_everything_and_stops_on_sigint(tmp_path: Path) -> None:
    """`qp up` from a data dir inside a mode-700 folder starts its own PostgreSQL and Redis
    (free ports, a throwaway cluster), and SIGINT stops every process it started, the two
    servers included: no process and no open port is left."""
    from quant_platform.services.local import LocalPostgres, LocalRedis

    tmp_path.chmod(0o700)
    ports = {k: free_port() for k in ("dagster", "dashboard", "metrics", "sim", "pg", "redis")}
    data_dir = tmp_path / "qp"
    env = {
        **os.environ,
        "QP_DATABASE_URL": f"postgresql://qp@127.0.0.1:{ports['pg']}/qp",
        "QP_REDIS_URL": f"redis://127.0.0.1:{ports['redis']}/0",
        "QP_PG_PORT": str(ports["pg"]),
        "QP_REDIS_PORT": str(ports["redis"]),
        "QP_DATA_DIR": str(data_dir),
        "QP_DAGSTER_PORT": str(ports["dagster"]),
        "QP_DASHBOARD_PORT": str(ports["dashboard"]),
        "QP_METRICS_PORT": str(ports["metrics"]),
        "QP_SIM_PORT": str(ports["sim"]),
        "QP_SIM_HISTORY_HOURS": "1",  # keep the first-start seeding short here
    }
    pg = LocalPostgres(data_dir / "postgres", ports["pg"])
    redis_server = LocalRedis(data_dir / "redis", ports["redis"])
    proc = subprocess.Popen(
        [QP, "up", "--feed", "simulator"],
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
        deadline = time.monotonic() + 180
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
        out = proc.stdout.read().decode() if proc.stdout else ""
        leftovers = _leftovers(data_dir, pg.home)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        pg.destroy()
        redis_server.destroy()
    assert rc == 0, out
    assert elapsed < 30
    assert "stopped the local PostgreSQL and Redis it started" in out, out
    for name, port in ports.items():
        assert not port_open("127.0.0.1", port), f"{name} still listening on {port}"
    assert leftovers == []


def test_up_leaves_servers_it_did_not_start(tmp_path: Path) -> None:
    """`qp up` stops only what it started: with both servers already up, it starts none,
    so it has none to stop on Ctrl-C."""
    from quant_platform.cli.services_cmd import start_services
    from quant_platform.config import load_settings

    settings = load_settings(data_dir=tmp_path / "qp", pg_port=free_port(), redis_port=free_port())
    first = start_services(settings)
    try:
        assert [s.name for s in first] == ["PostgreSQL", "Redis"]
        assert start_services(settings) == []  # a second `qp up` beside the first
        assert all(s.is_running() for s in first)
    finally:
        for server in first:
            server.destroy()


def test_up_warns_when_celery_steps_would_have_no_worker() -> None:
    """Celery executor with no local workers: one warning naming the fix; else none."""
    from quant_platform.cli.up_cmd import idle_celery_warning
    from quant_platform.config import Settings

    celery = Settings(dagster_executor="celery")
    warning = idle_celery_warning(celery, 0)
    assert warning is not None and "--workers 2" in warning and "QP_DAGSTER_EXECUTOR" in warning
    assert idle_celery_warning(celery, 2) is None
    assert idle_celery_warning(Settings(dagster_executor="in_process"), 0) is None
