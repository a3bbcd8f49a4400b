"""Run the platform's processes side by side and stop them all cleanly.

Each child gets its own process group so Ctrl-C reaches only us; we then send
SIGTERM to every group, wait, and SIGKILL what is left. A child that dies is
restarted with backoff, up to a limit, so one crash never takes the stack down.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass
class ProcessSpec:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    max_restarts: int = 5


@dataclass
class _Child:
    spec: ProcessSpec
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0


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
                rc = child.proc.returncode
                if child.restarts >= child.spec.max_restarts:
                    log.error(
                        "%s exited with %s %d times; stopping the platform",
                        child.spec.name,
                        rc,
                        child.restarts + 1,
                    )
                    self._stopping = True
                    code = 1
                    break
                child.restarts += 1
                delay = min(30.0, 2.0**child.restarts)
                log.warning(
                    "%s exited with %s; restart %d in %.0f s (log: %s)",
                    child.spec.name,
                    rc,
                    child.restarts,
                    delay,
                    self.log_dir / f"{child.spec.name}.log",
                )
                child.proc = None
                child.next_start = time.monotonic() + delay
        self.stop()
        return code

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
