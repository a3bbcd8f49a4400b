"""Prometheus metrics of the storage sinks (tick buffer, Redis, database flusher).

One `StorageMetrics` per registry: the daemon passes its own registry, and
components built without one share a single instance on the global registry
(`storage_metrics()`), so tests can build any number of sinks without a
duplicate-registration error.
"""

from __future__ import annotations

import threading
import weakref

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

SINK_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class StorageMetrics:
    """All storage metrics, registered on `registry` (a fresh private one if None).

    Raises ValueError (from prometheus_client) if `registry` already holds them:
    use `storage_metrics(registry)` to share one instance per registry.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else CollectorRegistry()
        self.registry = r
        self.sink_latency = Histogram(
            "qp_sink_latency_seconds",
            "trade receive time to stored in the sink",
            ["sink"],
            buckets=SINK_BUCKETS,
            registry=r,
        )
        self.flusher_rows = Counter(
            "qp_flusher_rows",
            "database flusher rows by outcome "
            "(flushed, inserted, duplicate, spooled, drained, rejected, dropped)",
            ["outcome"],
            registry=r,
        )
        self.flusher_pending = Gauge(
            "qp_flusher_pending_rows",
            "rows accepted but not yet in the database (memory)",
            registry=r,
        )
        self.flusher_spool_rows = Gauge(
            "qp_flusher_spool_rows", "rows waiting in the on-disk spool", registry=r
        )
        self.flusher_spool_bytes = Gauge(
            "qp_flusher_spool_bytes", "unacknowledged bytes in the on-disk spool", registry=r
        )
        self.flusher_spool_alarm = Gauge(
            "qp_flusher_spool_alarm",
            "1 while the spool is past QP_SPOOL_ALARM_FRACTION of QP_SPOOL_MAX_BYTES",
            registry=r,
        )
        self.db_up = Gauge(
            "qp_flusher_db_up", "1 when the last flush reached the database", registry=r
        )
        self.flush_seconds = Histogram(
            "qp_flusher_flush_seconds", "one COPY + INSERT batch", buckets=SINK_BUCKETS, registry=r
        )
        self.last_flush_seconds = Gauge(
            "qp_flusher_last_flush_seconds",
            "duration of the last successful batch write",
            registry=r,
        )
        self.redis_rows = Counter(
            "qp_redis_sink_rows", "ticks by outcome (written, dropped)", ["outcome"], registry=r
        )
        self.redis_up = Gauge("qp_redis_sink_up", "1 when the last Redis write worked", registry=r)
        self.buffer_rows = Counter(
            "qp_tick_buffer_rows", "trades appended to the in-memory tick buffer", registry=r
        )
        with _shared_lock:
            _shared.setdefault(r, self)


_shared: weakref.WeakKeyDictionary[CollectorRegistry, StorageMetrics] = weakref.WeakKeyDictionary()
_shared_lock = threading.RLock()  # re-entered: storage_metrics() -> StorageMetrics()


def storage_metrics(registry: CollectorRegistry | None = None) -> StorageMetrics:
    """The one `StorageMetrics` of `registry` (default: prometheus_client's global registry)."""
    r = registry if registry is not None else REGISTRY
    with _shared_lock:
        m = _shared.get(r)
        if m is None:
            m = _shared[r] = StorageMetrics(r)
        return m
