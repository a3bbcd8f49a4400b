"""Run PostgreSQL (with TimescaleDB) and Redis as project-local servers.

Each server lives under its own directory and port so it never collides with
system services; the same classes back `qp services` and the test fixtures
(which start throwaway instances they may stop and restart at will).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from quant_platform.domain.service import ServiceStatus

log = logging.getLogger(__name__)
PROVISION_SCRIPT = Path(__file__).with_name("provision.sh")


class ServiceError(RuntimeError):
    """A local service could not be installed, started or reached."""


def ensure_database(admin_url: str, name: str) -> bool:
    """Create database `name` on the server of `admin_url` unless it exists; True if created.

    Raises:
        psycopg.Error: the server is unreachable or refuses (e.g. no CREATEDB right).
    """
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return True


def provision(data_dir: Path) -> Path:
    """Install missing packages (idempotent, seconds when done); returns PostgreSQL's bin dir.

    Raises:
        ServiceError: the provisioning script failed (its stderr tail is in the message).
    """
    env = {**os.environ, "QP_PROVISION_DIR": str(data_dir / "provision")}
    proc = subprocess.run(
        ["bash", str(PROVISION_SCRIPT)], env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise ServiceError(f"provisioning failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


def find_pg_bin() -> Path | None:
    """PostgreSQL's bin dir with TimescaleDB beside it, newest major first."""
    root = Path("/usr/lib/postgresql")
    if not root.is_dir():
        return None
    for major in sorted(
        (p for p in root.iterdir() if p.name.isdigit()), key=lambda p: -int(p.name)
    ):
        if list((major / "lib").glob("timescaledb*.so")):
            return major / "bin"
    return None


def port_open(host: str, port: int, timeout: float = 0.3) -> bool:
    with socket.socket() as s:
        s.settimeout(timeout)
        return s.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as_postgres_user() -> tuple[list[str], int | None]:
    """PostgreSQL refuses to run as root: run its binaries as the `postgres` user then."""
    if os.geteuid() != 0:
        return [], None
    import pwd

    try:
        uid = pwd.getpwnam("postgres").pw_uid
    except KeyError as exc:
        raise ServiceError("running as root needs a 'postgres' system user") from exc
    return ["runuser", "-u", "postgres", "--"], uid


class LocalPostgres:
    """A PostgreSQL cluster with TimescaleDB preloaded, owned by this project."""

    def __init__(
        self,
        data_dir: Path,
        port: int,
        host: str = "127.0.0.1",
        user: str = "qp",
        database: str = "qp",
        bin_dir: Path | None = None,
    ) -> None:
        self.root = Path(data_dir).resolve()
        self.pgdata = self.root / "data"
        self.port = port
        self.host = host
        self.user = user
        self.database = database
        self._bin = bin_dir

    @property
    def bin_dir(self) -> Path:
        if self._bin is None:
            self._bin = find_pg_bin()
        if self._bin is None:
            raise ServiceError(
                "PostgreSQL with TimescaleDB is not installed: run `qp services start`"
            )
        return self._bin

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    def _pg(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        prefix, _ = _run_as_postgres_user()
        proc = subprocess.run(
            [*prefix, str(self.bin_dir / tool), *args], capture_output=True, text=True, check=False
        )
        if check and proc.returncode != 0:
            raise ServiceError(f"{tool} {' '.join(args)} failed: {proc.stderr.strip()[-2000:]}")
        return proc

    def init(self) -> None:
        if (self.pgdata / "PG_VERSION").exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        _, uid = _run_as_postgres_user()
        if uid is not None:
            os.chown(self.root, uid, -1)
        self._pg(
            "initdb",
            "-D",
            str(self.pgdata),
            "-U",
            self.user,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        )
        conf = self.pgdata / "postgresql.conf"
        with conf.open("a") as fh:
            fh.write(
                "\n# quant-platform local cluster\n"
                "shared_preload_libraries = 'timescaledb'\n"
                "timescaledb.telemetry_level = off\n"
                "max_connections = 200\n"
                "fsync = on\nsynchronous_commit = off\n"
                "unix_socket_directories = ''\n"
            )

    def start(self, timeout: float = 30.0) -> None:
        self.init()
        if self.is_running():
            return
        logfile = self.root / "postgres.log"
        prefix, uid = _run_as_postgres_user()
        if uid is not None and not logfile.exists():
            logfile.touch()
            os.chown(logfile, uid, -1)
        opts = f"-p {self.port} -c listen_addresses={self.host}"
        proc = subprocess.run(
            [
                *prefix,
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.pgdata),
                "-l",
                str(logfile),
                "-o",
                opts,
                "-w",
                "-t",
                str(int(timeout)),
                "start",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            tail = logfile.read_text(errors="replace")[-2000:] if logfile.exists() else ""
            raise ServiceError(
                f"PostgreSQL did not start on port {self.port}: {proc.stderr}\n{tail}"
            )
        self._ensure_database()

    def _ensure_database(self) -> None:
        ensure_database(self.admin_url, self.database)

    @property
    def admin_url(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/postgres"

    def stop(self, mode: str = "fast") -> None:
        if not self.is_running():
            return
        self._pg("pg_ctl", "-D", str(self.pgdata), "-m", mode, "-w", "stop", check=False)

    def is_running(self) -> bool:
        if not (self.pgdata / "PG_VERSION").exists():
            return False
        return self._pg("pg_ctl", "-D", str(self.pgdata), "status", check=False).returncode == 0

    def status(self) -> list[ServiceStatus]:
        if not self.is_running():
            return [
                ServiceStatus("postgresql", False, f"not running (data {self.pgdata})"),
                ServiceStatus("timescaledb", False, "database down"),
            ]
        from quant_platform.services.health import check_postgres

        return check_postgres(self.url)

    def destroy(self) -> None:
        self.stop(mode="immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class LocalRedis:
    """A Redis server with its own config, dir and port."""

    def __init__(self, data_dir: Path, port: int, host: str = "127.0.0.1") -> None:
        self.root = Path(data_dir).resolve()
        self.port = port
        self.host = host

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pidfile(self) -> Path:
        return self.root / "redis.pid"

    def start(self, timeout: float = 10.0) -> None:
        if self.is_running():
            return
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            raise ServiceError("redis-server is not installed: run `qp services start`")
        self.root.mkdir(parents=True, exist_ok=True)
        conf = self.root / "redis.conf"
        conf.write_text(
            f"bind {self.host}\nport {self.port}\nprotected-mode yes\n"
            f"dir {self.root}\npidfile {self.pidfile}\nlogfile {self.root / 'redis.log'}\n"
            "daemonize yes\nsave 60 1000\nappendonly no\n"
            # A cache: a failed snapshot must never turn writes off.
            "stop-writes-on-bgsave-error no\n"
        )
        subprocess.run([binary, str(conf)], check=True, capture_output=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._ping():
                return
            time.sleep(0.05)
        raise ServiceError(
            f"Redis did not answer on {self.host}:{self.port}; see {self.root}/redis.log"
        )

    def _client(self):  # type: ignore[no-untyped-def]
        """A client that tries once: redis-py 7 retries with backoff by default, which
        would slow every probe of a server that is down."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        return redis.Redis(
            host=self.host, port=self.port, socket_timeout=1, retry=Retry(NoBackoff(), 0)
        )

    def _ping(self) -> bool:
        import redis

        try:
            return bool(self._client().ping())
        except redis.RedisError:
            return False

    def is_running(self) -> bool:
        return self._ping()

    def stop(self) -> None:
        import redis

        try:
            redis.Redis(host=self.host, port=self.port, socket_timeout=2).shutdown(nosave=True)
        except redis.ConnectionError:
            pass
        except redis.RedisError as exc:
            log.warning("redis shutdown: %s", exc)
        deadline = time.monotonic() + 5
        while port_open(self.host, self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def status(self) -> list[ServiceStatus]:
        import redis

        try:
            info = self._client().info("server")
        except redis.RedisError as exc:
            return [
                ServiceStatus("redis", False, f"not reachable at {self.host}:{self.port}: {exc}")
            ]
        return [ServiceStatus("redis", True, f"{info['redis_version']} at {self.host}:{self.port}")]

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
