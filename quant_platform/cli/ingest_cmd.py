"""`qp ingest`: run the ingestion daemon against QP_FEED_URL / QP_REST_URL."""

from __future__ import annotations

import argparse
import asyncio
import logging

from quant_platform.config import Settings

log = logging.getLogger(__name__)


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
        return await daemon.run()

    code = asyncio.run(main())
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
