"""Supervised tasks, partial silence and reconnect pacing, against the real simulator and sinks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest

from quant_platform.config import Settings
from quant_platform.feed.backoff import Backoff, TooManyFailures
from quant_platform.feed.connection import ConnectionEvents, FeedConnection
from quant_platform.feed.routes import plan_connections
from quant_platform.ingestion.daemon import IngestionDaemon
from quant_platform.simulator.faults import FaultConfig
from quant_platform.simulator.server import ExchangeSimulator
from quant_platform_tests.ingestion.daemon_harness import run_daemon


def _health(daemon: IngestionDaemon) -> tuple[int, dict[str, object]]:
    url = f"http://127.0.0.1:{daemon.metrics_port}/health"
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def _until(cond, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def test_analytics_exception_is_logged_turns_health_not_ok_and_restarts(
    settings: Settings, db: psycopg.Connection, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A cycle that raises: traceback logged, /health 503 naming it, task back, fresh snapshot.

    Runs the default worker (a process), so the restarted task is proven to compute again.
    """
    seen: dict[str, object] = {}

    async def during(sim: ExchangeSimulator, daemon: IngestionDaemon) -> None:
        live = daemon.live
        await _until(lambda: bool(live.snapshot), 40)
        real_gather = live.gather
        calls = {"n": 0}

        def broken(recent=None):  # type: ignore[no-untyped-def]
            calls["n"] += 1
            if calls["n"] <= 2:
                raise RuntimeError("forced analytics failure")
            return real_gather(recent)

        live.gather = broken  # type: ignore[method-assign]
        await _until(lambda: daemon.tasks.states["analytics"].restarts >= 1, 10)
        seen["during"] = await asyncio.to_thread(_health, daemon)
        before = live.snapshot_time
        await _until(lambda: live.snapshot_time > before, 30)  # restarted and computing
        seen["restarts"] = daemon.tasks.states["analytics"].restarts

    with caplog.at_level(logging.ERROR, logger="quant_platform.ingestion.task_supervisor"):
        _, daemon, code = asyncio.run(
            run_daemon(
                settings,
                tmp_path,
                total=20_000,
                rate=400,
                during=during,
                timeout=60,
                settle=lambda d: True,
                analytics_worker="process",
                analytics_window_s=60,
                analytics_interval_s=1.0,
            )
        )
    assert code == 0
    status, body = seen["during"]  # type: ignore[misc]
    assert status == 503 and body["ok"] is False
    assert any("task analytics" in p and "forced analytics failure" in p for p in body["problems"])
    assert body["tasks"]["analytics"]["restarts"] >= 1
    assert int(seen["restarts"]) >= 2  # type: ignore[arg-type]
    died = [r for r in caplog.records if "background task analytics died" in r.getMessage()]
    assert died and died[0].exc_info is not None  # the traceback is in the log
    assert "forced analytics failure" in caplog.text
    m = daemon.registry.get_sample_value("qp_task_restarts_total", {"task": "analytics"})
    assert m is not None and m >= 2


def test_a_task_dying_past_its_budget_makes_the_daemon_exit_non_zero(
    settings: Settings, db: psycopg.Connection, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Analytics raises on every cycle: restarted twice (QP_TASK_MAX_RESTARTS=2), then the
    third death inside the window stops the daemon with exit 1, CRITICAL naming the keys,
    after flushing what it held (the supervisor's restart resumes from the store)."""
    seen: dict[str, object] = {}

    async def during(sim: ExchangeSimulator, daemon: IngestionDaemon) -> None:
        await _until(lambda: daemon.counts["accepted"] > 100, 30)

        def broken(recent=None):  # type: ignore[no-untyped-def]
            raise RuntimeError("forced analytics failure, every cycle")

        daemon.live.gather = broken  # type: ignore[method-assign]
        await _until(lambda: daemon.stop.is_set(), 30)
        seen["health"] = daemon.health()

    with caplog.at_level(logging.ERROR, logger="quant_platform.ingestion.task_supervisor"):
        _, daemon, code = asyncio.run(
            run_daemon(
                settings,
                tmp_path,
                total=50_000,
                rate=400,
                during=during,
                timeout=60,
                settle=lambda d: True,
                analytics_interval_s=0.2,
                task_max_restarts=2,
                task_restart_window_s=120,
            )
        )
    assert code == 1
    assert daemon.tasks.gave_up == "analytics"
    assert daemon.tasks.states["analytics"].restarts == 3  # 2 restarts, then the 3rd death
    critical = [r for r in caplog.records if r.levelname == "CRITICAL"]
    assert len(critical) == 1
    msg = critical[0].getMessage()
    assert "QP_TASK_MAX_RESTARTS=2" in msg and "QP_TASK_RESTART_WINDOW_S=120" in msg
    assert "forced analytics failure" in msg and critical[0].exc_info is not None
    health = seen["health"]
    assert health["ok"] is False  # type: ignore[index]
    assert any("gave up after 3 deaths" in p for p in health["problems"])  # type: ignore[index]
    # what it held was flushed on the way out
    assert daemon.flusher.pending == 0
    stored = db.execute("SELECT count(*) FROM trades").fetchone()[0]  # type: ignore[index]
    assert stored == daemon.counts["accepted"]


def test_stream_that_goes_quiet_after_feeding_is_named_and_resubscribed(
    settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    """ETH feeds for 1 s, then goes quiet while BTC/BNB/SOL flow: named, resubscribed, back."""
    seen: dict[str, object] = {}

    async def during(sim: ExchangeSimulator, daemon: IngestionDaemon) -> None:
        await _until(lambda: "ethusdt@trade" in daemon.quiet_streams, 20)
        seen["health"] = daemon.health()
        eth = daemon.metrics.accepted.labels("ETHUSDT")
        after = eth._value.get()  # noqa: SLF001 - the counter's current value
        await _until(lambda: eth._value.get() > after + 5, 10)  # noqa: SLF001
        seen["eth_after"] = eth._value.get() - after  # noqa: SLF001

    _, daemon, code = asyncio.run(
        run_daemon(
            settings,
            tmp_path,
            total=20_000,
            rate=400,
            faults=FaultConfig(mute_streams=frozenset({"ethusdt@trade"}), mute_after_s=1.0),
            during=during,
            settle=lambda d: True,
            stream_silence_s=1.5,
            timeout=40,
        )
    )
    assert code == 0
    assert daemon.quiet_streams == {"ethusdt@trade": 1}  # only ETH, and once: it came back
    assert daemon.counts["reconnects"] == 0  # resubscribed, not reconnected
    v = daemon.registry.get_sample_value("qp_feed_quiet_streams_total", {"stream": "ethusdt@trade"})
    assert v == 1
    health = seen["health"]
    assert isinstance(health, dict) and health["quiet_streams"] == {"ethusdt@trade": 1}
    assert int(seen["eth_after"]) > 5  # type: ignore[arg-type]


def _dropping_connection(sim: ExchangeSimulator, backoff: Backoff, healthy_s: float):  # type: ignore[no-untyped-def]
    plan = plan_connections(sim.url, "trade", ["BTCUSDT", "ETHUSDT"])[0]
    events = ConnectionEvents(
        on_frame=lambda raw, ns: "btcusdt@trade",
        on_connected=lambda url, again: None,
        on_silent=lambda route, streams: None,
        on_failure=lambda reason: None,
    )
    return FeedConnection(
        "t",
        lambda: (plan.route, plan.url, plan.streams),
        events,
        backoff,
        silence_s=5,
        quiet_silence_s=5,
        quiet_streams=frozenset(),
        max_age_s=3600,
        check_every_s=0.05,
        healthy_s=healthy_s,
    )


@pytest.mark.parametrize("healthy_s, gives_up", [(30.0, True), (0.2, False)])
def test_backoff_resets_only_after_a_healthy_period(healthy_s: float, gives_up: bool) -> None:
    """The venue cuts every connection after 0.5 s of data (a reconnect storm).

    Reset on the first frame would retry forever; with a 30 s healthy period the
    failures add up to the limit and the connection gives up (the daemon exits 75).
    With a 0.2 s healthy period each 0.5 s connection counts as healthy and resets it.
    """

    async def run() -> tuple[bool, int]:
        backoff = Backoff(0.01, 0.05, max_failures=4)
        async with ExchangeSimulator(
            ["BTCUSDT", "ETHUSDT"], rate=300, seed=5, faults=FaultConfig(drop_every_s=0.5)
        ) as sim:
            conn = _dropping_connection(sim, backoff, healthy_s)
            stop = asyncio.Event()
            task = asyncio.create_task(conn.run(stop))
            done, _ = await asyncio.wait({task}, timeout=4.5)
            stop.set()
            try:
                await asyncio.wait_for(task, 5)
            except TooManyFailures:
                return True, conn.connects
            return False, conn.connects

    raised, connects = asyncio.run(run())
    assert raised is gives_up
    assert connects >= 4


def test_alerts_see_no_metrics_once_the_snapshot_is_three_cycles_old(settings: Settings) -> None:
    """A dead analytics task must not feed alerts a stale picture; a slow one still does."""
    from quant_platform.ingestion.live_analytics import LiveAnalytics

    live = LiveAnalytics(settings.model_copy(update={"analytics_interval_s": 5.0}))
    live.snapshot = {"ETHUSDT/BTCUSDT": {"zscore": 3.0}}
    live.snapshot_time = time.time() - 10  # 2 cycles of 5 s: fresh
    assert live.fresh_snapshot() == live.snapshot
    live.snapshot_time = time.time() - 20  # 4 cycles: the task is not producing
    assert live.fresh_snapshot() == {}
    live.last_cycle_ms = 20_000.0  # but each cycle takes 20 s to compute: 25 s cycles
    assert live.fresh_snapshot() == live.snapshot


def test_a_task_that_swallows_its_cancellation_does_not_hold_the_daemon(
    settings: Settings, db: psycopg.Connection, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A background task that catches CancelledError (as redis-py did once inside a
    heartbeat pipeline, leaving a daemon that never exited during an outage): the daemon
    waits TASK_STOP_GRACE_S, names the task in an ERROR, flushes and returns anyway."""
    release = asyncio.Event()
    swallowed = {"n": 0}

    async def stubborn(stop: asyncio.Event) -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if release.is_set():
                    raise
                swallowed["n"] += 1  # a library that eats the cancellation

    async def main() -> tuple[IngestionDaemon, int]:
        IngestionDaemon.TASK_STOP_GRACE_S = 1.0

        async def during(sim: ExchangeSimulator, daemon: IngestionDaemon) -> None:
            daemon.side_tasks.append(("stubborn", stubborn))
            await _until(lambda: daemon.counts["accepted"] > 100, 30)

        try:
            _, daemon, code = await run_daemon(
                settings,
                tmp_path,
                total=3000,
                rate=1000,
                during=during,
                settle=lambda d: True,
                timeout=30,
            )
        finally:
            IngestionDaemon.TASK_STOP_GRACE_S = 10.0
        release.set()
        for task in asyncio.all_tasks():
            if task.get_name() == "supervised-stubborn":
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        return daemon, code

    with caplog.at_level(logging.ERROR, logger="quant_platform.ingestion.daemon"):
        daemon, code = asyncio.run(main())
    assert code == 0
    assert swallowed["n"] >= 1  # it really ignored the daemon's cancel
    assert daemon.stragglers == ["supervised-stubborn"]
    assert any(
        "ignored cancellation" in r.getMessage() and "supervised-stubborn" in r.getMessage()
        for r in caplog.records
    )
    assert daemon.flusher.pending == 0  # flushed after giving up on it
    stored = db.execute("SELECT count(*) FROM trades").fetchone()[0]  # type: ignore[index]
    assert stored == daemon.counts["accepted"] > 0
