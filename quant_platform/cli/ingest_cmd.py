"""`qp ingest`: run the ingestion daemon against QP_FEED_URL / QP_REST_URL."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

from quant_platform.config import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run the daemon on uvloop where installed, else on the stock asyncio loop.

    bench/bench_scale_up.py ran both side by side: uvloop's C transport and
    scheduler take less CPU per frame on the receive path (docs/benchmarks.md).

    Raises:
        Whatever `main` raises.
    """
    try:
        import uvloop
    except ImportError:  # pragma: no cover - a declared dependency except on Windows
        return asyncio.run(main)
    return uvloop.run(main)


def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    from quant_platform.config.sharding import parse_shard, shard_settings
    from quant_platform.ingestion.daemon import IngestionDaemon
    from quant_platform.ingestion.wiring import attach_alerts, attach_funding, attach_open_bars

    if args.shard:
        index, count = parse_shard(args.shard)
        settings = shard_settings(settings, index, count)
        log.info("shard %d/%d ingests %s", index, count, ",".join(settings.symbols))

    async def main() -> int:
        daemon = IngestionDaemon(settings)
        await attach_alerts(daemon, settings)
        attach_funding(daemon, settings)
        attach_open_bars(daemon, settings)
        code = await daemon.run()
        if daemon.stragglers:
            # Everything is flushed and closed; asyncio.run would now wait for the tasks
            # that ignored cancellation, forever, and a daemon that never exits is never
            # restarted by its supervisor.
            log.critical(
                "exit %d without waiting for %s (they ignored cancellation)",
                code,
                ", ".join(daemon.stragglers),
            )
            logging.shutdown()
            os._exit(code)
        return code

    code = run_loop(main())
    if code != 0:
        log.critical("ingestion daemon exited with %d", code)
    return code


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="run the ingestion daemon (feed → buffer, Redis, DB)")
    p.add_argument(
        "--shard",
        metavar="I/N",
        help="ingest only shard I of N of QP_SYMBOLS (sorted round-robin; see docs/scaling.md)",
    )
    p.set_defaults(func=_ingest)
