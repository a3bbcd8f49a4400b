"""`qp services start|stop|status`: the local PostgreSQL+TimescaleDB and Redis."""

from __future__ import annotations

import argparse
import sys

from quant_platform.config import Settings
from quant_platform.services.local import (
    LocalPostgres,
    LocalRedis,
    ServiceError,
    provision,
    prune_orphan_clusters,
)


def local_services(settings: Settings) -> tuple[LocalPostgres, LocalRedis]:
    return (
        LocalPostgres(
            settings.data_dir / "postgres",
            settings.pg_port,
            host=settings.bind_host,
            clusters_root=settings.pg_clusters_dir,
        ),
        LocalRedis(settings.data_dir / "redis", settings.redis_port, host=settings.bind_host),
    )


def start_services(settings: Settings) -> list[LocalPostgres | LocalRedis]:
    """Install what is missing, then start both servers (seconds when already provisioned).

    Returns the servers this call started (not those already running), so `qp up`
    stops exactly what it started.

    Raises:
        ServiceError: one sentence naming what failed and what to do.
    """
    provision(settings.data_dir)
    for orphan in prune_orphan_clusters(settings.pg_clusters_dir):
        print(f"services: removed the cluster of a deleted checkout: {orphan}", file=sys.stderr)
    pg, rd = local_services(settings)
    started: list[LocalPostgres | LocalRedis] = []
    try:
        if pg.start():
            started.append(pg)
        if rd.start():
            started.append(rd)
    except BaseException:  # a half-started pair (or Ctrl-C) leaves nothing behind
        stop_services(started)
        raise
    return started


def stop_services(servers: list[LocalPostgres | LocalRedis]) -> None:
    """Stop the given servers, newest first."""
    for server in reversed(servers):
        server.stop()


def _start(args: argparse.Namespace, settings: Settings) -> int:
    try:
        start_services(settings)
    except ServiceError as exc:
        print(f"services: {exc}", file=sys.stderr)
        return 1
    # A new cluster has no schema yet (`qp db migrate` comes next): report it, but only
    # servers that did not come up make `start` fail.
    from quant_platform.services.health import check_all

    results = check_all(settings)
    _print(results)
    down = [s.name for s in results if not s.up and s.name in ("postgresql", "redis")]
    if down:
        print(f"down: {', '.join(down)}", file=sys.stderr)
        return 1
    return 0


def _print(results: list) -> None:  # type: ignore[type-arg]
    for st in results:
        print(f"{st.name:12s} {'up  ' if st.up else 'DOWN'} {st.detail}")


def _stop(args: argparse.Namespace, settings: Settings) -> int:
    pg, rd = local_services(settings)
    pg.stop()
    rd.stop()
    print("stopped local PostgreSQL and Redis")
    return 0


def _status(args: argparse.Namespace, settings: Settings) -> int:
    """Report each part; non-zero exit names what is down.

    Checks the configured URLs, so it also reports on an external database or Redis.
    """
    from quant_platform.services.health import check_all

    results = check_all(settings)
    _print(results)
    down = [s.name for s in results if not s.up]
    if down:
        print(f"down: {', '.join(down)}", file=sys.stderr)
        return 1
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("services", help="local PostgreSQL+TimescaleDB and Redis")
    ssub = p.add_subparsers(dest="action", required=True)
    ssub.add_parser("start", help="install if needed and start").set_defaults(func=_start)
    ssub.add_parser("stop", help="stop both servers").set_defaults(func=_stop)
    ssub.add_parser("status", help="exit non-zero if any part is down").set_defaults(func=_status)
