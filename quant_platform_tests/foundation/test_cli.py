"""`qp services status` and `qp db migrate` against the real servers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

QP = str(Path(sys.executable).parent / "qp")


def _qp(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [QP, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=120
    )


def test_status_reports_all_parts_up(database_url: str, redis_url: str) -> None:
    proc = _qp("services", "status", QP_DATABASE_URL=database_url, QP_REDIS_URL=redis_url)
    assert proc.returncode == 0, proc.stderr
    for part in ("postgresql", "timescaledb", "redis"):
        assert part in proc.stdout
    assert "license=" in proc.stdout


def test_status_exits_non_zero_naming_the_down_part(database_url: str) -> None:
    proc = _qp(
        "services", "status", QP_DATABASE_URL=database_url, QP_REDIS_URL="redis://127.0.0.1:1/0"
    )
    assert proc.returncode == 1
    assert "down: redis" in proc.stderr


def test_db_migrate_twice_applies_nothing_new(database_url: str) -> None:
    first = _qp("db", "migrate", QP_DATABASE_URL=database_url)
    second = _qp("db", "migrate", QP_DATABASE_URL=database_url)
    assert first.returncode == second.returncode == 0
    assert "applied 0 migration(s)" in second.stdout


def test_services_start_on_a_new_cluster_succeeds_before_migrate(tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    """A fresh data dir: servers come up, schema not there yet, `start` still exits 0."""
    import shutil
    import uuid

    from quant_platform.config import load_settings
    from quant_platform.services.local import LocalPostgres, LocalRedis, free_port

    base = load_settings()
    data = base.data_dir / "test-clusters" / f"start-{uuid.uuid4().hex[:6]}"
    pg_port, redis_port = free_port(), free_port()
    env = {
        "QP_DATA_DIR": str(data),
        "QP_PG_PORT": str(pg_port),
        "QP_REDIS_PORT": str(redis_port),
        "QP_DATABASE_URL": f"postgresql://qp@127.0.0.1:{pg_port}/qp",
        "QP_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
    }
    try:
        proc = _qp("services", "start", **env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "migrate" in proc.stdout  # the missing schema is reported
        status = _qp("services", "status", **env)
        assert status.returncode == 1 and "timescaledb" in status.stderr
        assert _qp("db", "migrate", **env).returncode == 0
        assert _qp("services", "status", **env).returncode == 0
    finally:
        LocalPostgres(data / "postgres", pg_port).destroy()
        LocalRedis(data / "redis", redis_port).destroy()
        shutil.rmtree(data, ignore_errors=True)


def test_a_command_module_that_fails_to_import_is_an_error(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """No silently missing command: a broken or absent module stops `qp` at once."""
    import pytest

    from quant_platform.cli import main

    monkeypatch.setattr(main, "COMMAND_MODULES", (*main.COMMAND_MODULES, "quant_platform.cli.gone"))
    with pytest.raises(ModuleNotFoundError, match="quant_platform.cli.gone"):
        main.build_parser()
    monkeypatch.setattr(main, "COMMAND_MODULES", main.COMMAND_MODULES[:-1])
    assert "db" in main.build_parser().format_help()


def test_sim_help_explains_every_option() -> None:
    """`qp sim --help` has text for every option (a bare flag list tells a newcomer nothing)."""
    import argparse

    from quant_platform.cli.main import build_parser

    sub = next(
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    ).choices["sim"]
    bare = [a.option_strings[0] for a in sub._actions if a.option_strings and not a.help]
    assert bare == []
    proc = _qp("sim", "--help")
    assert proc.returncode == 0 and "--malformed-ratio" in proc.stdout and "seed" in proc.stdout


def test_services_start_from_a_mode_700_folder(tmp_path: Path) -> None:
    """A checkout in a folder only its owner may enter (root's home, `mktemp -d`): the
    servers start and stop without any folder of the user's being opened up."""
    from quant_platform.services.local import LocalPostgres, LocalRedis, free_port, port_open

    home = tmp_path / "home"
    data = home / "checkout" / ".qp"
    data.mkdir(parents=True)
    home.chmod(0o700)
    pg_port, redis_port = free_port(), free_port()
    env = {
        "QP_DATA_DIR": str(data),
        "QP_PG_PORT": str(pg_port),
        "QP_REDIS_PORT": str(redis_port),
        "QP_DATABASE_URL": f"postgresql://qp@127.0.0.1:{pg_port}/qp",
        "QP_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
    }
    pg = LocalPostgres(data / "postgres", pg_port)
    try:
        proc = _qp("services", "start", **env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr
        assert _qp("db", "migrate", **env).returncode == 0
        assert _qp("services", "status", **env).returncode == 0
        assert home.stat().st_mode & 0o777 == 0o700  # nothing loosened
        assert _qp("services", "stop", **env).returncode == 0
        assert not port_open("127.0.0.1", pg_port) and not port_open("127.0.0.1", redis_port)
    finally:
        pg.destroy()
        LocalRedis(data / "redis", redis_port).destroy()
    assert not pg.home.exists()


def test_services_start_names_a_taken_port_in_one_sentence(tmp_path: Path) -> None:
    """Where starting cannot work, one sentence names the cause and the fix: no traceback."""
    import socket

    from quant_platform.services.local import LocalPostgres

    data = tmp_path / "qp"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {"QP_DATA_DIR": str(data), "QP_PG_PORT": str(port)}
        try:
            proc = _qp("services", "start", **env)
        finally:
            LocalPostgres(data / "postgres", port).destroy()
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and f"port {port} is taken" in err and "QP_PG_PORT" in err


def test_services_start_uses_the_configured_clusters_dir_and_prunes_orphans(
    tmp_path: Path,
) -> None:
    """QP_PG_CLUSTERS_DIR is a setting like any other: as root the new cluster goes there.
    A cluster whose checkout was deleted (a removed clone, a killed test run) is removed
    on the next start; a cluster whose checkout exists, or whose server runs, stays."""
    import shutil
    import uuid

    from quant_platform.services.local import LocalPostgres, LocalRedis, free_port

    clusters = Path("/var/lib/qp") / f"test-clusters-{uuid.uuid4().hex[:8]}"
    orphan, owned, running = clusters / "orphan", clusters / "owned", clusters / "running"
    for home, owner in (
        (orphan, tmp_path / "deleted-clone" / ".qp" / "postgres"),
        (owned, tmp_path),
        (running, tmp_path / "also-deleted"),
    ):
        (home / "data").mkdir(parents=True)
        (home / "CHECKOUT").write_text(f"{owner}\n")
    (running / "data" / "postmaster.pid").write_text(f"{os.getpid()}\n")
    data = tmp_path / "checkout" / ".qp"
    data.mkdir(parents=True)
    pg_port, redis_port = free_port(), free_port()
    env = {
        "QP_DATA_DIR": str(data),
        "QP_PG_PORT": str(pg_port),
        "QP_REDIS_PORT": str(redis_port),
        "QP_PG_CLUSTERS_DIR": str(clusters),
        "QP_DATABASE_URL": f"postgresql://qp@127.0.0.1:{pg_port}/qp",
        "QP_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
    }
    pg = LocalPostgres(data / "postgres", pg_port, clusters_root=clusters)
    try:
        proc = _qp("services", "start", **env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        # As root the server runs as `postgres`, so its files live in the clusters dir;
        # any other user keeps them in the checkout.
        assert pg.home.parent == (clusters if os.geteuid() == 0 else data)
        assert (pg.pgdata / "PG_VERSION").exists()
        assert f"removed the cluster of a deleted checkout: {orphan}" in proc.stderr
        assert not orphan.exists() and owned.exists() and running.exists()
        assert _qp("services", "stop", **env).returncode == 0
    finally:
        pg.destroy()
        LocalRedis(data / "redis", redis_port).destroy()
        shutil.rmtree(clusters, ignore_errors=True)
