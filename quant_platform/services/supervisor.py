"""Run the platform's processes side by side and stop them all cleanly.

Each child gets its own process group so Ctrl-C reaches only us; we then send
SIGTERM to every group, wait, and SIGKILL what is left. A child that dies is
restarted with a capped backoff; only a crash loop (more than
`RestartPolicy.max_in_window` restarts inside `window_s`) stops the platform.
An exit with a *transient* status (EX_TEMPFAIL, 75: the ingestion daemon gave up
connecting to an unreachable venue) is not a crash: it is restarted with the
same capped backoff for as long as it takes and never counts toward the
crash-loop budget, so an outage of any length ends with the daemon back (and
backfilling from the newest stored ids).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from quant_platform.domain.service import EXIT_TEMPFAIL

log = logging.getLogger(__name__)


@dataclass
class RestartPolicy:
    """Capped exponential backoff, judged over a sliding window rather than a lifetime.

    The n-th restart inside `window_s` waits min(cap_s, base_s * 2**(n-1)); the
    (max_in_window + 1)-th inside the window gives up. Restarts older than the
    window are forgotten, so a child that crashes once a day is restarted forever.
    """

    base_s: float = 1.0
    cap_s: float = 60.0
    window_s: float = 600.0
    max_in_window: int = 10
    transient_codes: frozenset[int] = frozenset({EXIT_TEMPFAIL})

    def transient_delay(self, streak: int) -> float:
        """Delay before the `streak`-th transient restart in a row (1-based), capped."""
        return min(self.cap_s, self.base_s * 2.0 ** (max(streak, 1) - 1))

    def next_delay(self, history: deque[float], now: float) -> float | None:
        """Record a restart at `now` in `history`; its delay, or None to give up."""
        while history and now - history[0] > self.window_s:
            history.popleft()
        if len(history) >= self.max_in_window:
            return None
        history.append(now)
        return min(self.cap_s, self.base_s * 2.0 ** (len(history) - 1))


@dataclass
class ProcessSpec:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    restart: RestartPolicy = field(default_factory=RestartPolicy)


@dataclass
class _Child:
    spec: ProcessSpec
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    recent: deque[float] = field(default_factory=deque)  # restart times inside the window
    next_start: float = 0.0
    started_at: float = 0.0
    transient_streak: int = 0  # transient exits in a row (reset by a long enough run)


class Supervisor:
    def __init__(self, specs: list[ProcessSpec], log_dir: Path, stop_timeout: float = 10.0) -> None:
        self.children = [_Child(s) for s in specs]
        self.log_dir = log_dir
        self.stop_timeout = stop_timeout
        self._stopping = False

    def _spawn(self, child: _Child) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        logfile = open(self.log_dir / f"{child.spec.name}.log", "ab")  # noqa: SIM115
        child.proc = subprocess.Popen(
            child.spec.argv,
            env={**os.environ, **child.spec.env},
            cwd=child.spec.cwd,
            stdout=logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        child.started_at = time.monotonic()
        logfile.close()
        log.info(
            "started %s (pid %d): %s", child.spec.name, child.proc.pid, " ".join(child.spec.argv)
        )

    def start(self) -> None:
        for child in self.children:
            if child.proc is None:
                self._spawn(child)

    def start_only(self, name: str) -> bool:
        """Start one child ahead of the rest (e.g. a feed others wait for); False if unknown."""
        for child in self.children:
            if child.spec.name == name and child.proc is None:
                self._spawn(child)
                return True
        return False

    def _handle(self, signum: int, _frame: object) -> None:
        self._stopping = True

    def run(self) -> int:
        """Start everything, supervise until a signal, then stop everything; returns exit code."""
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)
        self.start()
        code = 0
        while not self._stopping:
            time.sleep(0.5)
            for child in self.children:
                if child.proc is None or child.proc.poll() is None:
                    if child.proc is None and time.monotonic() >= child.next_start:
                        self._spawn(child)
                    continue
                delay = self._restart_delay(child)
                if delay is None:
                    self._stopping = True
                    code = 1
                    break
                child.proc = None
                child.next_start = time.monotonic() + delay
        self.stop()
        return code

    def _restart_delay(self, child: _Child) -> float | None:
        """Seconds until the exited `child` restarts, or None (logged) to stop the platform.

        A transient exit (`RestartPolicy.transient_codes`) waits the capped backoff of
        its streak and is never a crash loop; any other exit is judged by the window.
        """
        assert child.proc is not None
        rc = child.proc.returncode
        policy = child.spec.restart
        now = time.monotonic()
        if now - child.started_at >= policy.window_s:
            child.transient_streak = 0  # it ran well for a while: start the backoff over
        if rc in policy.transient_codes:
            child.transient_streak += 1
            delay = policy.transient_delay(child.transient_streak)
            kind = f"temporary failure, {child.transient_streak} in a row; not a crash"
        else:
            found = policy.next_delay(child.recent, now)
            if found is None:
                log.error(
                    "%s exited with %s: %d restarts within %.0f s; stopping the platform",
                    child.spec.name,
                    rc,
                    len(child.recent),
                    policy.window_s,
                )
                return None
            delay, kind = found, "crash"
        child.restarts += 1
        log.warning(
            "%s exited with %s (%s); restart %d in %.0f s (log: %s)",
            child.spec.name,
            rc,
            kind,
            child.restarts,
            delay,
            self.log_dir / f"{child.spec.name}.log",
        )
        return delay

    def stop(self) -> None:
        live = [c for c in self.children if c.proc is not None and c.proc.poll() is None]
        for child in live:
            try:
                os.killpg(child.proc.pid, signal.SIGTERM)  # type: ignore[union-attr]
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + self.stop_timeout
        for child in live:
            assert child.proc is not None
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                log.info("stopped %s (exit %s)", child.spec.name, child.proc.returncode)
            except subprocess.TimeoutExpired:
                log.warning(
                    "%s ignored SIGTERM for %.0f s; killing", child.spec.name, self.stop_timeout
                )
                try:
                    os.killpg(child.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                child.proc.wait()
