"""`qp worker`: a Celery worker that runs Dagster steps (dagster-celery) from Redis."""

from __future__ import annotations

import argparse

from quant_platform.config import Settings


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    # the app reads QP_REDIS_URL / QP_REDIS_PREFIX through get_settings(), like this command
    from quant_platform.orchestration.celery.app import app
    from quant_platform.orchestration.celery.lanes import WORKER_QUEUES

    queues = args.queues or ",".join(WORKER_QUEUES)
    argv = ["worker", "-Q", queues, "-l", args.log_level, "--pool", args.pool]
    argv += ["-c", str(args.concurrency)] if args.pool == "prefork" else []
    argv += ["-n", args.name] if args.name else []
    app.worker_main(argv)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "worker", help="run a Celery worker for Dagster steps (broker/backend: QP_REDIS_URL)"
    )
    p.add_argument("--name", help="worker node name, e.g. w1@%%h (default: celery@host)")
    p.add_argument(
        "--pool",
        choices=["solo", "prefork"],
        default="solo",
        help="solo: one step at a time in this process (default); prefork: --concurrency children",
    )
    p.add_argument(
        "--queues",
        help="comma-separated, drained in this order (default: qp-resample,dagster,qp-backfill)",
    )
    p.add_argument("--concurrency", type=int, default=1, help="children with --pool prefork")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.set_defaults(func=_worker)
