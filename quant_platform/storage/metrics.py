"""Prometheus metrics of the storage sinks; one instance per daemon registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

SINK_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class StorageMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else CollectorRegistry()
        self.registry = r
        self.sink_latency = Histogram("qp_sink_latency_seconds", "trade receive to stored in sink",
                                      ["sink"], buckets=SINK_BUCKETS, registry=r)  # fmt: skip
        self.flusher_rows = Counter("qp_flusher_rows_total", "rows by outcome", ["outcome"],
                                    registry=r)  # fmt: skip
        self.flusher_pending = Gauge("qp_flusher_pending_rows", "rows not yet in the database",
                                     registry=r)  # fmt: skip
        self.db_up = Gauge("qp_flusher_db_up", "1 when the last flush reached the database",
                           registry=r)  # fmt: skip
        self.flush_seconds = Histogram("qp_flusher_flush_seconds", "one COPY+INSERT batch",
                                       buckets=SINK_BUCKETS, registry=r)  # fmt: skip
        self.redis_rows = Counter("qp_redis_sink_rows_total", "ticks by outcome", ["outcome"],
                                  registry=r)  # fmt: skip
        self.redis_up = Gauge("qp_redis_sink_up", "1 when the last Redis write worked", registry=r)
