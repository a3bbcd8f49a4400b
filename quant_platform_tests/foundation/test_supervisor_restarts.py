"""`qp up`'s supervisor: capped restart backoff judged over a window, not a lifetime budget."""

from __future__ import annotations

import sys
import threading
from collections import deque
from pathlib import Path

from quant_platform.services.supervisor import ProcessSpec, RestartPolicy, Supervisor

CRASH = [sys.executable, "-c", "import sys; sys.exit(3)"]


def test_delays_double_to_the_cap_and_old_restarts_leave_the_window() -> None:
    p = RestartPolicy(base_s=1.0, cap_s=8.0, window_s=100.0, max_in_window=6)
    history: deque[float] = deque()
    delays = [p.next_delay(history, t) for t in (0, 1, 2, 3, 4, 5)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert p.next_delay(history, 6) is None  # a 7th inside 100 s: a crash loop
    assert p.next_delay(history, 102.5) == 8.0  # restarts at 0, 1, 2 left the window
    assert p.next_delay(history, 1000) == 1.0  # much later: all forgotten, base delay


def _run(sup: Supervisor, seconds: float) -> int:
    timer = threading.Timer(seconds, lambda: setattr(sup, "_stopping", True))
    timer.start()
    try:
        return sup.run()
    finally:
        timer.cancel()


def test_a_child_crashing_now_and_then_is_restarted_past_the_old_budget(tmp_path: Path) -> None:
    """Restarts fall out of a 1.2 s window, so 6+ restarts (the old lifetime cap was 5) go on."""
    spec = ProcessSpec(
        "crash",
        CRASH,
        restart=RestartPolicy(base_s=0.01, cap_s=0.05, window_s=1.2, max_in_window=2),
    )
    sup = Supervisor([spec], tmp_path)
    code = _run(sup, 8.0)
    assert code == 0
    assert sup.children[0].restarts >= 6


def test_a_crash_loop_inside_the_window_stops_the_platform(tmp_path: Path) -> None:
    spec = ProcessSpec(
        "crash", CRASH, restart=RestartPolicy(base_s=0.01, cap_s=0.05, window_s=60, max_in_window=2)
    )
    sup = Supervisor([spec], tmp_path)
    code = _run(sup, 20.0)
    assert code == 1
    assert sup.children[0].restarts == 2


def test_a_transient_exit_is_restarted_for_as_long_as_it_takes(tmp_path: Path) -> None:
    """Exit 75 (the daemon gave up on an unreachable venue) never counts as a crash loop:
    the same window and budget that stop a crashing child let this one go on."""
    from quant_platform.domain.service import EXIT_TEMPFAIL

    spec = ProcessSpec(
        "unreachable",
        [sys.executable, "-c", f"import sys; sys.exit({EXIT_TEMPFAIL})"],
        restart=RestartPolicy(base_s=0.01, cap_s=0.05, window_s=60, max_in_window=2),
    )
    sup = Supervisor([spec], tmp_path)
    code = _run(sup, 8.0)
    assert code == 0
    assert sup.children[0].restarts > 2  # past the crash budget of the same policy
    assert not sup.children[0].recent  # none of them counted toward it


def test_transient_backoff_doubles_to_the_cap() -> None:
    p = RestartPolicy(base_s=1.0, cap_s=60.0)
    assert [p.transient_delay(n) for n in (1, 2, 3, 7, 8, 50)] == [1, 2, 4, 60, 60, 60]
