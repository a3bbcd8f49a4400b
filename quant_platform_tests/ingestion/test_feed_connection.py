"""FeedConnection against the real simulator: proactive reconnect, backoff reset."""

from __future__ import annotations

import asyncio

from quant_platform.feed.backoff import Backoff, TooManyFailures
from quant_platform.feed.connection import ConnectionEvents, FeedConnection
from quant_platform.feed.routes import plan_connections
from quant_platform.simulator.server import ExchangeSimulator


def _connection(
    sim: ExchangeSimulator, events: list[str], backoff: Backoff, max_age_s: float
) -> FeedConnection:
    plan = plan_connections(sim.url, "trade", ["BTCUSDT", "ETHUSDT"])[0]
    hooks = ConnectionEvents(
        on_frame=lambda raw, ns: (
            "btcusdt@trade" if b'"t"' in (raw if isinstance(raw, bytes) else raw.encode()) else None
        ),
        on_connected=lambda url, again: events.append("reconnect" if again else "connect"),
        on_silent=lambda route, streams: events.append(f"silent {route}"),
        on_failure=lambda reason: events.append(f"failure {reason}"),
    )
    return FeedConnection(
        "t",
        lambda: (plan.route, plan.url, plan.streams),
        hooks,
        backoff,
        silence_s=5,
        quiet_silence_s=5,
        quiet_streams=frozenset(),
        max_age_s=max_age_s,
        check_every_s=0.1,
    )


def test_proactive_reconnect_before_max_age_is_not_a_failure() -> None:
    async def run() -> tuple[list[str], Backoff]:
        events: list[str] = []
        backoff = Backoff(0.01, 0.05, max_failures=2)
        async with ExchangeSimulator(["BTCUSDT", "ETHUSDT"], rate=200, seed=3) as sim:
            conn = _connection(sim, events, backoff, max_age_s=0.8)
            stop = asyncio.Event()
            task = asyncio.create_task(conn.run(stop))
            await asyncio.sleep(3)
            stop.set()
            await asyncio.wait_for(task, 5)
        return events, backoff

    events, backoff = asyncio.run(run())
    assert events[0] == "connect"
    assert events.count("reconnect") >= 2  # one per 0.8 s age limit
    assert not any(e.startswith("failure") for e in events)
    assert backoff.failures == 0


def test_backoff_gives_up_after_the_limit_and_resets_on_success() -> None:
    b = Backoff(base_s=1.0, cap_s=4.0, max_failures=3)
    delays = [b.failed("x"), b.failed("x")]
    assert 0 <= delays[0] <= 1.0 and 0 <= delays[1] <= 2.0
    b.succeeded()
    assert b.failures == 0
    b.failed("x")
    b.failed("x")
    try:
        b.failed("refused")
    except TooManyFailures as exc:
        assert "3 consecutive connection failures" in str(exc) and "refused" in str(exc)
    else:
        raise AssertionError("no TooManyFailures at the limit")
