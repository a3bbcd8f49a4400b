"""Prometheus metrics of the ingestion daemon (one registry per daemon instance)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class FeedMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.received = Counter("qp_feed_frames_total", "frames received", registry=registry)
        self.accepted = Counter(
            "qp_feed_trades_accepted_total", "trades accepted", ["symbol"], registry=registry
        )
        self.rejected = Counter(
            "qp_feed_rejected_total", "frames rejected", ["reason"], registry=registry
        )
        self.duplicates = Counter(
            "qp_feed_duplicates_total", "duplicate trades dropped", registry=registry
        )
        self.gaps = Counter(
            "qp_feed_gap_trades_total", "trade ids missing from the stream", registry=registry
        )
        self.backfilled = Counter(
            "qp_feed_backfilled_total", "trades recovered over REST", registry=registry
        )
        self.unrecovered = Counter(
            "qp_feed_unrecovered_total", "gap trades REST could not return", registry=registry
        )
        self.backfilled_via_agg = Counter(
            "qp_feed_backfilled_via_agg_total",
            "@trade ids older than /fapi/v1/trades reaches, recovered as stored aggTrades",
            registry=registry,
        )
        self.backfilled_historical = Counter(
            "qp_feed_backfilled_historical_total",
            "@trade ids older than /fapi/v1/trades reaches, recovered as trades from "
            "/fapi/v1/historicalTrades (QP_BINANCE_API_KEY set)",
            registry=registry,
        )
        self.backfill_throttled = Counter(
            "qp_feed_backfill_throttled_total",
            "REST backfill pauses on HTTP 429/418 Retry-After (the gap stays queued)",
            registry=registry,
        )
        self.backfill_queue = Gauge(
            "qp_feed_backfill_queue", "gaps waiting for a REST backfill", registry=registry
        )
        self.clock_offset_ms = Gauge(
            "qp_feed_venue_clock_offset_ms",
            "venue clock (/fapi/v1/time) minus host clock",
            registry=registry,
        )
        self.reconnects = Counter("qp_feed_reconnects_total", "reconnects", registry=registry)
        self.silent = Counter(
            "qp_feed_silent_streams_total",
            "acknowledged but silent streams",
            ["stream"],
            registry=registry,
        )
        self.quiet = Counter(
            "qp_feed_quiet_streams_total",
            "streams that fed, then went quiet while others flowed (resubscribed)",
            ["stream"],
            registry=registry,
        )
        self.connected = Gauge("qp_feed_connected", "open feed connections", registry=registry)
        self.analytics_ms = Gauge(
            "qp_analytics_cycle_ms", "last live analytics cycle", registry=registry
        )
