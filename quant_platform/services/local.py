"""Run PostgreSQL (with TimescaleDB) and Redis as project-local servers.

Each server lives under its own directory and port so it never collides with
system services; the same classes back `qp services` and the test fixtures
(which start throwaway instances they may stop and restart at will).
"""

from __future__ import annotations

import hashlib
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
# Where clusters live when PostgreSQL runs as the `postgres` user (we are root): the
# checkout may sit in a mode-700 folder (root's home, `mktemp -d`) that user cannot
# enter, and loosening the user's folders is not ours to do. One cluster per data dir.
# Settings.pg_clusters_dir (QP_PG_CLUSTERS_DIR) overrides it.
CLUSTERS_ROOT = Path("/var/lib/qp/clusters")


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


def last_line(text: str) -> str:
    """The last non-empty line of a tool's output: the one that says what went wrong."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


def provision(data_dir: Path) -> Path:
    """Install missing packages (idempotent, seconds when done); returns PostgreSQL's bin dir.

    Raises:
        ServiceError: one sentence naming the failure; the script's output is in the log.
    """
    state = data_dir / "provision"
    state.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "QP_PROVISION_DIR": str(state)}
    proc = subprocess.run(
        ["bash", str(PROVISION_SCRIPT)], env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        logfile = state / "provision.log"
        logfile.write_text(proc.stderr)
        raise ServiceError(
            f"installing PostgreSQL, TimescaleDB and Redis failed ({last_line(proc.stderr)}):"
            f" run as root or with sudo; the full output is in {logfile}"
        )
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
        raise ServiceError(
            "PostgreSQL cannot run as root and there is no 'postgres' user:"
            " install the postgresql package (`qp services start` does) or run as a normal user"
        ) from exc
    return ["runuser", "-u", "postgres", "--"], uid


def cluster_home(root: Path, clusters_root: Path = CLUSTERS_ROOT) -> Path:
    """Where the cluster of data dir `root` lives: `root` itself unless we are root.

    As root the server runs as `postgres`, which must reach its files, so a new cluster
    goes to clusters_root/<hash of root>/ (a `LOCATION` file in `root` says where).
    A cluster already under `root` (made before this rule) stays where it is.
    """
    if os.geteuid() != 0 or (root / "data" / "PG_VERSION").exists():
        return root
    return clusters_root / hashlib.sha256(str(root).encode()).hexdigest()[:16]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prune_orphan_clusters(clusters_root: Path = CLUSTERS_ROOT) -> list[Path]:
    """Remove clusters whose checkout's data dir is gone and whose server is not running.

    A cluster outside the checkout outlives a deleted clone or a killed test run; its
    `CHECKOUT` file names the data dir it belongs to. Clusters without that file, or
    whose server still runs, are left alone. Returns the folders removed.
    """
    removed: list[Path] = []
    if not clusters_root.is_dir():
        return removed
    for home in sorted(clusters_root.iterdir()):
        owner_file = home / "CHECKOUT"
        if not owner_file.is_file() or Path(owner_file.read_text().strip()).exists():
            continue
        pidfile = home / "data" / "postmaster.pid"
        if pidfile.exists():
            first = pidfile.read_text().split("\n", 1)[0].strip()
            if first.isdigit() and _pid_alive(int(first)):
                continue
        shutil.rmtree(home, ignore_errors=True)
        removed.append(home)
    return removed


class LocalPostgres:
    """A PostgreSQL cluster with TimescaleDB preloaded, owned by this project."""

    name = "PostgreSQL"

    def __init__(
        self,
        data_dir: Path,
        port: int,
        host: str = "127.0.0.1",
        user: str = "qp",
        database: str = "qp",
        bin_dir: Path | None = None,
        clusters_root: Path = CLUSTERS_ROOT,
    ) -> None:
        self.root = Path(data_dir).resolve()
        self.home = cluster_home(self.root, clusters_root)
        self.pgdata = self.home / "data"
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
            [*prefix, str(self.bin_dir / tool), *args],
            capture_output=True,
            text=True,
            check=False,
            # The tools return to the working directory, which `postgres` may not enter.
            cwd=self.home if self.home.is_dir() else "/",
        )
        if check and proc.returncode != 0:
            raise ServiceError(
                f"PostgreSQL's {tool} failed for the cluster in {self.pgdata}:"
                f" {last_line(proc.stderr)}"
            )
        return proc

    @property
    def logfile(self) -> Path:
        return self.home / "postgres.log"

    def init(self) -> None:
        """Create the cluster (as `postgres` when we are root) with TimescaleDB preloaded.

        Raises:
            ServiceError: initdb failed, or the cluster's folder cannot be made.
        """
        if (self.pgdata / "PG_VERSION").exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        _, uid = _run_as_postgres_user()
        if self.home != self.root:
            try:
                self.home.parent.mkdir(parents=True, exist_ok=True)
                self.home.mkdir(mode=0o700, exist_ok=True)
            except OSError as exc:
                raise ServiceError(
                    f"cannot create the PostgreSQL cluster folder {self.home} ({exc.strerror}):"
                    " set QP_PG_CLUSTERS_DIR to a folder root can write"
                ) from exc
            (self.home / "CHECKOUT").write_text(f"{self.root}\n")
            (self.root / "LOCATION").write_text(
                f"This data dir's PostgreSQL cluster lives in {self.home}"
                " (the postgres user cannot enter every folder above this one).\n"
            )
        if uid is not None:
            os.chown(self.home, uid, -1)
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

    def start(self, timeout: float = 30.0) -> bool:
        """Start the cluster (creating it first); False when it was already running.

        Raises:
            ServiceError: the port is taken, or the server did not come up (log named).
        """
        self.init()
        if self.is_running():
            return False
        if port_open(self.host, self.port):
            raise ServiceError(
                f"port {self.port} is taken by another program, so PostgreSQL cannot start"
                " there: stop that program or set QP_PG_PORT to a free port"
            )
        logfile = self.logfile
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
            cwd=self.home,
        )
        if proc.returncode != 0:
            tail = logfile.read_text(errors="replace") if logfile.exists() else proc.stderr
            raise ServiceError(
                f"PostgreSQL did not start on port {self.port} ({last_line(tail)}): see {logfile}"
            )
        self._ensure_database()
        return True

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
        shutil.rmtree(self.home, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)


class LocalRedis:
    """A Redis server with its own config, dir and port."""

    name = "Redis"

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

    def start(self, timeout: float = 10.0) -> bool:
        """Start the server; False when one already answers on the port.

        Raises:
            ServiceError: redis-server is missing, the port is taken, or it did not answer.
        """
        if self.is_running():
            return False
        if port_open(self.host, self.port):
            raise ServiceError(
                f"port {self.port} is taken by a program that is not Redis, so Redis cannot"
                " start there: stop that program or set QP_REDIS_PORT to a free port"
            )
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
        proc = subprocess.run([binary, str(conf)], check=False, capture_output=True, text=True)
        if proc.returncode != 0:
            raise ServiceError(
                f"redis-server did not start ({last_line(proc.stderr + proc.stdout)}):"
                f" see {self.root / 'redis.log'}"
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._ping():
                return True
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
