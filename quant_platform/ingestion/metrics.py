"""Prometheus metrics of the ingestion daemon (one registry per daemon instance)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0)


class FeedMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.received = Counter("qp_feed_frames_total", "frames received", registry=registry)
        self.accepted = Counter("qp_feed_trades_accepted_total", "trades accepted", ["symbol"],
                                registry=registry)  # fmt: skip
        self.rejected = Counter("qp_feed_rejected_total", "frames rejected", ["reason"],
                                registry=registry)  # fmt: skip
        self.duplicates = Counter("qp_feed_duplicates_total", "duplicate trades dropped",
                                  registry=registry)  # fmt: skip
        self.gaps = Counter("qp_feed_gap_trades_total", "trade ids missing from the stream",
                            registry=registry)  # fmt: skip
        self.backfilled = Counter("qp_feed_backfilled_total", "trades recovered over REST",
                                  registry=registry)  # fmt: skip
        self.unrecovered = Counter("qp_feed_unrecovered_total", "gap trades REST could not return",
                                   registry=registry)  # fmt: skip
        self.reconnects = Counter("qp_feed_reconnects_total", "reconnects", registry=registry)
        self.silent = Counter("qp_feed_silent_streams_total", "acknowledged but silent streams",
                              ["stream"], registry=registry)  # fmt: skip
        self.connected = Gauge("qp_feed_connected", "open feed connections", registry=registry)
        self.latency = Histogram("qp_ingest_latency_seconds", "receive to sink hand-off",
                                 ["sink"], buckets=LATENCY_BUCKETS, registry=registry)  # fmt: skip
        self.analytics_ms = Gauge("qp_analytics_cycle_ms", "last live analytics cycle",
                                  registry=registry)  # fmt: skip
