"""Celery queues per lane: a free worker takes the resample lane's step before any backfill step.

Every step goes to one queue (dagster-celery's `dagster-celery/queue` op tag). A
worker listens on all three, in this order, with kombu's `priority` queue order
(BRPOP on the keys in order, never rotated), so a worker that finishes a step
always takes a waiting resample step first, then ordinary steps, then backfill
steps. A 24-partition backfill queued ahead of the closed-hour resample therefore
delays it by at most one running backfill step (one chunk of hours), never by the
backfill's whole queue.
"""

from __future__ import annotations

QUEUE_TAG = "dagster-celery/queue"
RESAMPLE_QUEUE = "qp-resample"
DEFAULT_QUEUE = "dagster"  # dagster-celery's task_default_queue: steps with no lane tag
BACKFILL_QUEUE = "qp-backfill"
# the order a worker drains its queues in (highest priority first)
WORKER_QUEUES: tuple[str, ...] = (RESAMPLE_QUEUE, DEFAULT_QUEUE, BACKFILL_QUEUE)


def queue_tags(queue: str) -> dict[str, str]:
    """Op tags that route a step to `queue` (ignored by the in-process executor).

    Raises:
        ValueError: `queue` is not one the workers listen on.
    """
    if queue not in WORKER_QUEUES:
        raise ValueError(f"{queue!r} is not a worker queue; use one of {WORKER_QUEUES}")
    return {QUEUE_TAG: queue}
