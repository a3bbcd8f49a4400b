"""What the alert loop needs from the outside world, as protocols.

The loop (`alerts.loop`) is typed against these, not against `AlertStore`,
`AlertStream` or a concrete sink, so it imports none of them (no psycopg,
redis or httpx) and a test can hand it any object with the same methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from quant_platform.alerts.rules import AlertRule
from quant_platform.domain.alert import AlertEvent, DeliveryResult

Fired = tuple[int | None, AlertEvent]
"""An event and its `alert_events` id (None while the database is unreachable)."""


class Sink(Protocol):
    """Delivers one event somewhere (log, file, webhook, email); never raises."""

    name: str

    async def send(self, event: AlertEvent, event_id: int | None = None) -> DeliveryResult: ...


class EventStore(Protocol):
    """Rules in, events and delivery outcomes out (`alerts.store.AlertStore`)."""

    def list_rules(self, enabled_only: bool = False) -> list[AlertRule]: ...

    def insert_events(self, events: Iterable[AlertEvent]) -> Sequence[int]: ...

    def record_delivery(
        self, event_id: int, result: DeliveryResult, event_time: datetime | None = None
    ) -> bool: ...


class EventStream(Protocol):
    """Publishes fired events for live readers (`alerts.redis_stream.AlertStream`)."""

    async def append(self, items: Iterable[Fired]) -> list[str]: ...
