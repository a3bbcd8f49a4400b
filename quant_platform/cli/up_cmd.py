"""`qp up`: services, migrations, then every platform process under one supervisor."""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import logging
import os
import shutil
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from quant_platform.config import Settings, SettingsError
from quant_platform.config.settings import PROJECT_ROOT
from quant_platform.services.supervisor import ProcessSpec, Supervisor

log = logging.getLogger(__name__)
DAGSTER_YAML = Path(__file__).resolve().parents[1] / "orchestration" / "dagster.yaml"
DAGSTER_PG_YAML = DAGSTER_YAML.with_name("dagster_postgres.yaml")
# The local simulator lets the first-start seeding page its history fast; the real
# venue's 2400/min would make a day of trades take minutes.
SEED_WEIGHT = 1_000_000


def dagster_pg_url(settings: Settings) -> str:
    """Dagster's own database beside the platform's: `<QP_DATABASE_URL db>_dagster`.

    The driver is named (`postgresql+psycopg2`): SQLAlchemy 2.1 maps a bare
    `postgresql://` to psycopg 3, on which dagster-postgres's `NOTIFY run_events, %s`
    is a syntax error (server-side parameters).
    """
    parts = urlsplit(settings.database_url)
    name = (parts.path.lstrip("/") or "qp") + "_dagster"
    return urlunsplit(parts._replace(scheme="postgresql+psycopg2", path=f"/{name}"))


def prepare_dagster_home(settings: Settings, storage: str = "sqlite") -> Path:
    """A project-local DAGSTER_HOME with the platform's instance config.

    `storage="postgres"` installs dagster_postgres.yaml (runs, events, schedules in
    PostgreSQL at DAGSTER_PG_URL, see dagster_pg_url); the default keeps SQLite files.
    """
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    source = DAGSTER_PG_YAML if storage == "postgres" else DAGSTER_YAML
    if source.exists():
        shutil.copyfile(source, target)
    elif not target.exists():
        target.write_text("telemetry:\n  enabled: false\n")
    return home


def uses_local_services(settings: Settings) -> bool:
    """True when the configured URLs point at the project's own local servers."""
    db, rd = urlsplit(settings.database_url), urlsplit(settings.redis_url)
    loopback = {"127.0.0.1", "localhost", "::1"}
    return (db.hostname in loopback and db.port == settings.pg_port) or (
        rd.hostname in loopback and rd.port == settings.redis_port
    )


def ingest_specs(
    qp: str, feed_env: dict[str, str], feed: str, shards: int, metrics_port: int
) -> list[ProcessSpec]:
    """One `qp ingest` per shard; shard i serves its metrics on metrics_port + i."""
    env = {**feed_env, "QP_FEED": feed}
    if shards <= 1:
        return [ProcessSpec("ingest", [qp, "ingest"], env=env)]
    return [
        ProcessSpec(
            f"ingest-{i}",
            [qp, "ingest", "--shard", f"{i}/{shards}"],
            env={**env, "QP_METRICS_PORT": str(metrics_port + i)},
        )
        for i in range(shards)
    ]


def build_specs(
    settings: Settings,
    feed: str,
    shards: int = 1,
    workers: int = 0,
    dagster_storage: str = "sqlite",
) -> list[ProcessSpec]:
    bindir = Path(sys.executable).parent
    qp = str(bindir / "qp")
    home = prepare_dagster_home(settings, dagster_storage)
    common = {"DAGSTER_HOME": str(home), "QP_DATA_DIR": str(settings.data_dir)}
    if dagster_storage == "postgres":
        common["DAGSTER_PG_URL"] = dagster_pg_url(settings)
    specs: list[ProcessSpec] = []
    feed_env: dict[str, str] = {}
    if feed == "simulator" and importlib.util.find_spec("quant_platform.cli.sim_cmd"):
        host, port = settings.bind_host, settings.sim_port
        specs.append(
            ProcessSpec(
                "simulator",
                [
                    qp,
                    "sim",
                    "--host",
                    host,
                    "--port",
                    str(port),
                    "--weight-limit",
                    str(SEED_WEIGHT),
                ],
            )
        )
        feed_env = {"QP_FEED_URL": f"ws://{host}:{port}", "QP_REST_URL": f"http://{host}:{port}"}
    if importlib.util.find_spec("quant_platform.cli.ingest_cmd"):
        specs += ingest_specs(qp, feed_env, feed, shards, settings.metrics_port)
    workspace = str(PROJECT_ROOT / "workspace.yaml")
    specs += [
        ProcessSpec(
            "dagster-webserver",
            [
                str(bindir / "dagster-webserver"),
                "-w",
                workspace,
                "-h",
                settings.bind_host,
                "-p",
                str(settings.dagster_port),
            ],
            cwd=PROJECT_ROOT,
        ),
        ProcessSpec(
            "dagster-daemon",
            [str(bindir / "dagster-daemon"), "run", "-w", workspace],
            cwd=PROJECT_ROOT,
        ),
        ProcessSpec(
            "dashboard",
            [
                str(bindir / "streamlit"),
                "run",
                str(PROJECT_ROOT / "dashboard" / "app.py"),
                "--server.address",
                settings.bind_host,
                "--server.port",
                str(settings.dashboard_port),
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
            ],
            cwd=PROJECT_ROOT,
        ),
    ]
    specs += [
        ProcessSpec(f"worker-{i}", [qp, "worker", "--name", f"worker-{i}@%h"])
        for i in range(workers)
    ]
    for spec in specs:
        spec.env = {**common, **spec.env}
    return specs


def idle_celery_warning(settings: Settings, workers: int) -> str | None:
    """The warning `qp up` prints when fan-out steps would wait for a worker that never comes.

    With QP_DAGSTER_EXECUTOR=celery, the fan-out jobs' steps go to Redis and run only
    on a `qp worker`. Workers may live on other machines, so no workers here is a
    warning, not an error; but on one box it means a backfill that sits queued.
    """
    if settings.dagster_executor != "celery" or workers > 0:
        return None
    return (
        "qp up: warning: QP_DAGSTER_EXECUTOR=celery and no --workers: the fan-out jobs'"
        " steps wait in Redis until a `qp worker` runs; add --workers 2 to run them here"
    )


def _up(args: argparse.Namespace, settings: Settings) -> int:
    """Services, schema, processes; on Ctrl-C/SIGTERM stop the processes, then the
    local servers this run started (servers that were already up keep running)."""
    from quant_platform.cli.services_cmd import start_services, stop_services
    from quant_platform.services.local import ServiceError

    started: list = []  # type: ignore[type-arg]
    try:
        if args.local_services and uses_local_services(settings):
            started = start_services(settings)
        return _run_platform(args, settings, started)
    except ServiceError as exc:
        print(f"qp up: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C before the supervisor took over the signal
        print("qp up: interrupted", file=sys.stderr)
        return 130
    finally:
        if started:
            stop_services(started)
            print("stopped the local " + " and ".join(s.name for s in started) + " it started")


def _run_platform(args: argparse.Namespace, settings: Settings, started: list) -> int:  # type: ignore[type-arg]
    import psycopg

    from quant_platform.services.local import last_line
    from quant_platform.storage.migrate import migrate

    try:
        migrate(settings.database_url)
    except psycopg.OperationalError as exc:
        print(
            f"qp up: the database at {settings.database_url} is unreachable"
            f" ({last_line(str(exc))}): start it, or fix QP_DATABASE_URL",
            file=sys.stderr,
        )
        return 1
    feed = args.feed or settings.feed
    if args.shards < 1:
        print("qp up: --shards must be at least 1, e.g. --shards 2", file=sys.stderr)
        return 2
    if args.shards > 1:
        from quant_platform.config.sharding import shard_symbols

        try:
            shard_symbols(settings.symbols, 0, args.shards)
        except SettingsError as err:
            print(f"qp up: {err.message}", file=sys.stderr)
            return 2
    if args.workers < 0:
        print("qp up: --workers must be 0 or more, e.g. --workers 2", file=sys.stderr)
        return 2
    if args.dagster_storage == "postgres":
        from quant_platform.services.local import ensure_database

        ensure_database(settings.database_url, urlsplit(dagster_pg_url(settings)).path[1:])
        os.environ["DAGSTER_PG_URL"] = dagster_pg_url(settings)  # this process reports too
    specs = build_specs(settings, feed, args.shards, args.workers, args.dagster_storage)
    if warning := idle_celery_warning(settings, args.workers):
        print(warning, file=sys.stderr)
    logs = settings.data_dir / "logs"
    stops = " and the local PostgreSQL/Redis it started" if started else ""
    print(f"quant-platform up ({feed} feed). Ctrl-C stops every process{stops}.")
    print(f"  Dagster UI  http://{settings.bind_host}:{settings.dagster_port}")
    print(f"  dashboard   http://{settings.bind_host}:{settings.dashboard_port}")
    last = settings.metrics_port + args.shards - 1
    ports = f"{settings.metrics_port}" + (f"-{last}" if args.shards > 1 else "")
    print(f"  metrics     http://{settings.bind_host}:{ports}/metrics")
    print(f"  logs        {logs}/")
    supervisor = Supervisor(specs, logs)
    try:
        first_start(settings, feed, supervisor)
    except KeyboardInterrupt:
        supervisor.stop()
        return 130
    return supervisor.run()


def first_start(settings: Settings, feed: str, supervisor: Supervisor) -> None:
    """Record where the data starts; with the simulator, seed its history over REST first.

    Runs before Dagster starts, so its partitions begin at the data's start. The
    seeding only fills symbols with no trades yet, so a restart costs one query.
    """
    from datetime import UTC, datetime, timedelta

    from quant_platform.orchestration.partitions import record_data_start

    now = datetime.now(UTC)
    seeding = feed == "simulator" and settings.sim_history_hours > 0
    record_data_start(settings, now - timedelta(hours=settings.sim_history_hours if seeding else 0))
    if not seeding or not supervisor.start_only("simulator"):
        return
    from quant_platform.cli.seed_cmd import (
        describe,
        report_bars_to_dagster,
        seed_history,
        wait_for_rest,
    )
    from quant_platform.feed.backfill import BackfillError

    rest = f"http://{settings.bind_host}:{settings.sim_port}"
    print(f"  seeding     the last {settings.sim_history_hours:g} h of simulated trades ...")
    try:
        wait_for_rest(rest, timeout_s=120.0)
        result = seed_history(
            settings, rest, settings.sim_history_hours, weight_per_min=SEED_WEIGHT
        )
    except (TimeoutError, BackfillError) as exc:
        print(f"  seeding     skipped: {exc}")
        return
    print(f"  seeding     {describe(result)}")
    if result.first is not None:
        with contextlib.suppress(Exception):  # the Catalog view is a nicety, never fatal
            report_bars_to_dagster(str(settings.dagster_home), result.first, now)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("up", help="start services and the whole platform (Ctrl-C stops it)")
    p.add_argument(
        "--feed",
        choices=["simulator", "binance"],
        default=None,
        help="override QP_FEED for this run",
    )
    p.add_argument(
        "--no-local-services",
        dest="local_services",
        action="store_false",
        help="use QP_DATABASE_URL/QP_REDIS_URL as they are; start no local servers",
    )
    p.add_argument(
        "--shards",
        type=int,
        default=1,
        metavar="N",
        help="run N ingestion daemons, each on its shard of QP_SYMBOLS (metrics ports "
        "QP_METRICS_PORT .. +N-1)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        metavar="N",
        help="also run N Celery workers (`qp worker`) for jobs on the Celery executor",
    )
    p.add_argument(
        "--dagster-storage",
        choices=["sqlite", "postgres"],
        default="sqlite",
        help="Dagster's runs/events/schedules: SQLite files in .qp/dagster (default) or "
        "PostgreSQL (database <QP_DATABASE_URL name>_dagster, created if missing)",
    )
    p.set_defaults(func=_up)
