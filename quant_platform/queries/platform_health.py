"""One health row for the dashboard: feed (which one, how fresh), Redis, database, Dagster.

Each check is bounded by a short timeout and turns failures into a status, so a
dead dependency shows as DOWN instead of stalling or crashing the page.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

import redis

from quant_platform.config import Settings
from quant_platform.domain.service import ServiceStatus
from quant_platform.queries.live import feed_health
from quant_platform.services.health import check_postgres, check_redis
from quant_platform.storage.redis_keys import RedisKeys


@dataclass(frozen=True)
class FeedStatus:
    """What the dashboard says about the data source."""

    name: str  # "simulator", "binance" or "unknown"
    simulated: bool
    up: bool  # a fresh daemon heartbeat that has seen trades recently
    detail: str
    heartbeat: bool = True  # False: no daemon has reported at all (not started, or Redis flushed)


def _local_host(bind_host: str) -> str:
    return "127.0.0.1" if bind_host in ("0.0.0.0", "", "::") else bind_host


def check_dagster(host: str, port: int, timeout: float = 1.0) -> ServiceStatus:
    """Dagster webserver reachable: GET /server_info answers with its version."""
    url = f"http://{_local_host(host)}:{port}/server_info"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (fixed http URL)
            info = json.loads(resp.read() or b"{}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return ServiceStatus("dagster", False, f"webserver not reachable on port {port}: {reason}")
    version = info.get("dagster_webserver_version") or info.get("dagster_version") or "up"
    return ServiceStatus("dagster", True, f"{version} on port {port}")


def feed_status(health: dict[str, str], settings: Settings, now: float | None = None) -> FeedStatus:
    """Interpret the daemon's heartbeat hash; with none, fall back to the configured feed."""
    now = time.time() if now is None else now
    if not health:
        return FeedStatus(
            settings.feed,
            settings.feed == "simulator",
            False,
            f"no daemon heartbeat (configured feed: {settings.feed})",
            False,
        )
    name = health.get("feed", "unknown")
    try:
        beat_age = now - float(health.get("updated", "nan"))
    except ValueError:
        beat_age = float("nan")
    try:
        trade_age = float(health.get("last_trade_age_s", "-1"))
    except ValueError:
        trade_age = -1.0
    fresh = beat_age == beat_age and beat_age <= settings.feed_max_age_s
    trading = 0 <= trade_age <= settings.feed_max_age_s
    parts = [f"{health.get('stream', settings.stream)} stream"]
    parts.append(f"last trade {trade_age:.0f} s ago" if trade_age >= 0 else "no trades yet")
    if beat_age == beat_age:
        parts.append(f"heartbeat {beat_age:.0f} s ago")
    return FeedStatus(name, name == "simulator", fresh and trading, ", ".join(parts))


def platform_health(
    settings: Settings, client: redis.Redis
) -> tuple[FeedStatus, list[ServiceStatus]]:
    """Feed status plus Redis, PostgreSQL/TimescaleDB and Dagster statuses, in display order."""
    services = check_redis(settings.redis_url)
    try:
        feed = feed_status(feed_health(client, RedisKeys(settings.redis_prefix)), settings)
    except redis.RedisError:
        feed = FeedStatus(
            settings.feed, settings.feed == "simulator", False, "unknown: Redis unreachable", False
        )
    services += check_postgres(settings.database_url)
    services.append(check_dagster(settings.bind_host, settings.dagster_port))
    return feed, services
