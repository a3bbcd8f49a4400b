"""Keep the daemon's background tasks alive: log a death with its traceback, restart it.

A background task (flusher, Redis sink, backfill worker, live analytics, alert
loop) that dies in a plain `asyncio.create_task` is silent until someone
awaits it, which the daemon never does: the error is lost, /health stays ok
and the alerts read a snapshot that never changes. Here each task runs under
`TaskSupervisor.keep`, which logs the exception with its traceback, counts it
(`qp_task_restarts_total{task}`), marks the task failed for /health and
starts it again after a backoff with jitter (reset once the task has run
healthily for `healthy_after_s`). A task that returns while the daemon is not
stopping counts as a death too.

Restarting forever hides a task that can never run (a bug, a resource it will
never get): with a budget (`max_deaths` within `window_s`, from
QP_TASK_MAX_RESTARTS / QP_TASK_RESTART_WINDOW_S) the death past it is logged
CRITICAL, the task is not restarted, and `on_give_up` asks the daemon to stop
and exit non-zero, so its process supervisor restarts the whole daemon (which
resumes from the store) and counts the crash.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge

log = logging.getLogger(__name__)


@dataclass
class TaskState:
    """What /health reports per task."""

    name: str
    running: bool = False
    restarts: int = 0
    last_error: str | None = None
    failed_at: float = 0.0  # monotonic time of the last death, 0 if none
    deaths: deque[float] = field(default_factory=deque)  # inside the budget's window


class TaskSupervisor:
    """Runs coroutines from factories and restarts them with backoff when they die.

    A task counts as failing (for `problems`) while it waits for its restart and
    for `unhealthy_for_s` after each death, so a crash-loop never looks healthy.
    """

    def __init__(
        self,
        stop: asyncio.Event,
        registry: CollectorRegistry,
        *,
        base_s: float = 0.5,
        cap_s: float = 30.0,
        healthy_after_s: float = 60.0,
        unhealthy_for_s: float = 60.0,
        rng: random.Random | None = None,
        max_deaths: int | None = None,
        window_s: float = 600.0,
        on_give_up: Callable[[str, str], None] | None = None,
    ) -> None:
        self.stop = stop
        self.max_deaths = max_deaths
        self.window_s = window_s
        self.on_give_up = on_give_up
        self.gave_up: str | None = None  # the task whose budget ran out, if one did
        self.base_s, self.cap_s = base_s, cap_s
        self.healthy_after_s = healthy_after_s
        self.unhealthy_for_s = unhealthy_for_s
        self.rng = rng or random.Random()
        self.states: dict[str, TaskState] = {}
        self._restarts = Counter(
            "qp_task_restarts_total",
            "background tasks that died and were restarted",
            ["task"],
            registry=registry,
        )
        self._up = Gauge(
            "qp_task_up", "1 while the background task runs", ["task"], registry=registry
        )

    def spawn(self, name: str, factory: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        """Start `factory()` under supervision; cancel the returned task to end it."""
        self.states[name] = TaskState(name)
        return asyncio.create_task(self.keep(name, factory), name=f"supervised-{name}")

    async def keep(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        """Run `factory()` until `stop`, restarting it whenever it raises or returns early."""
        state = self.states.setdefault(name, TaskState(name))
        backoff = self.base_s
        while not self.stop.is_set():
            started = time.monotonic()
            state.running = True
            self._up.labels(name).set(1)
            try:
                await factory()
                if self.stop.is_set():
                    return
                raise RuntimeError(f"background task {name} returned while the daemon runs")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                state.running = False
                self._up.labels(name).set(0)
                state.restarts += 1
                state.failed_at = time.monotonic()
                state.last_error = f"{type(exc).__name__}: {exc}"
                self._restarts.labels(name).inc()
                if self._over_budget(state):
                    self._give_up(state, exc)
                    return
                if state.failed_at - started >= self.healthy_after_s:
                    backoff = self.base_s
                delay = self.rng.uniform(backoff / 2, backoff)
                backoff = min(backoff * 2, self.cap_s)
                log.error(
                    "background task %s died (%s); restart %d in %.2f s",
                    name,
                    state.last_error,
                    state.restarts,
                    delay,
                    exc_info=exc,
                )
                try:
                    await asyncio.wait_for(self.stop.wait(), timeout=delay)
                except TimeoutError:
                    pass
            finally:
                state.running = False
                self._up.labels(name).set(0)

    def _over_budget(self, state: TaskState) -> bool:
        """Record this death; True when the task died more than `max_deaths` times in the window."""
        if self.max_deaths is None:
            return False
        state.deaths.append(state.failed_at)
        while state.deaths and state.failed_at - state.deaths[0] > self.window_s:
            state.deaths.popleft()
        return len(state.deaths) > self.max_deaths

    def _give_up(self, state: TaskState, exc: Exception) -> None:
        """Log the spent budget CRITICAL (with the traceback) and hand over to `on_give_up`."""
        self.gave_up = state.name
        why = (
            f"background task {state.name} died {len(state.deaths)} times within "
            f"{self.window_s:.0f} s (QP_TASK_MAX_RESTARTS={self.max_deaths}, "
            f"QP_TASK_RESTART_WINDOW_S={self.window_s:g}); last error: {state.last_error}"
        )
        log.critical("%s; not restarting it: the daemon exits non-zero", why, exc_info=exc)
        if self.on_give_up is not None:
            self.on_give_up(state.name, why)

    def problems(self) -> dict[str, str]:
        """Tasks down or recently dead, with their last error (empty when all are fine)."""
        now = time.monotonic()
        out = {}
        for s in self.states.values():
            if s.name == self.gave_up:
                out[s.name] = f"gave up after {len(s.deaths)} deaths (last error: {s.last_error})"
            elif not s.running and not self.stop.is_set():
                out[s.name] = f"not running (last error: {s.last_error})"
            elif s.failed_at and now - s.failed_at < self.unhealthy_for_s:
                out[s.name] = f"restarted {now - s.failed_at:.0f} s ago after {s.last_error}"
        return out

    def report(self) -> dict[str, dict[str, object]]:
        return {
            s.name: {"running": s.running, "restarts": s.restarts, "last_error": s.last_error}
            for s in self.states.values()
        }
