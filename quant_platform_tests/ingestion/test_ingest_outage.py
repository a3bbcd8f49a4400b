"""A network outage ends with no hole: bench/outage_hour.py's drill, shortened to seconds.

The same script as the one-hour run in docs/operations.md: a real `qp ingest`
under `qp up`'s supervisor, the simulator behind two cuttable forwarders
(WebSocket cut for the whole outage, REST for its first half), TimescaleDB and
Redis. The daemon's connect limit is lowered so it gives up during the outage,
exits 75 and is restarted (each start resuming from the store), which is the
path an hour-long outage takes at the default settings.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAST = [
    "--daemon-env=QP_RECONNECT_BASE_S=0.05",
    "--daemon-env=QP_RECONNECT_CAP_S=0.3",
    "--daemon-env=QP_MAX_CONSECUTIVE_FAILURES=3",
    "--daemon-env=QP_ANALYTICS_WORKER=thread",
]


def _drill(pg_server_url: str, redis_url: str, tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "outage.json"
    server = pg_server_url.rsplit("/", 1)[0]
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "outage_hour.py"),
            f"--pg={server}",
            f"--redis={redis_url}",
            f"--json={out}",
            "--before-s=3",
            "--after-s=3",
            "--settle-timeout=120",
            *FAST,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=400,
        cwd=ROOT,
    )
    assert out.exists(), proc.stderr[-4000:]
    result = json.loads(out.read_text())
    assert proc.returncode == (0 if result["check"]["exact"] else 1)
    return result


@pytest.mark.timeout(420)
def test_an_outage_with_restarts_ends_with_every_aggtrade_stored_once(
    pg_server_url: str, redis_url: str, tmp_path: Path
) -> None:
    r = _drill(
        pg_server_url,
        redis_url,
        tmp_path,
        "--minutes=0.3",
        "--rest-down-minutes=0.15",
        "--rate=200",
        "--stream=aggTrade",
    )
    check = r["check"]
    assert r["error"] is None, r.get("log_tail")
    assert check["published"] > 1000 and r["published_during_outage"] > 500
    assert check["missing_ids"] == 0 and check["ids_not_published"] == 0, check
    assert check["duplicate_rows"] == 0 and check["ids_stored_twice"] == 0, check
    # the daemon gave up during the outage and was restarted, not a crash, each time
    codes = r["exit_codes"]
    assert codes[-1] == 0 and len(codes) >= 2 and set(codes[:-1]) == {75}, codes
    assert r["supervisor_restarts"] == len(codes) - 1
    assert r["resumes"] == r["supervisor_restarts"]  # every restart resumed from the store
    counted = r["counters_summed_over_lives"]
    # everything published while it was cut off came back through REST, and was counted
    assert counted["backfilled"] >= r["published_during_outage"]
    assert counted["unrecovered"] == 0


@pytest.mark.timeout(420)
def test_an_outage_on_the_trade_stream_with_an_api_key_comes_back_as_trades(
    pg_server_url: str, redis_url: str, tmp_path: Path
) -> None:
    """@trade at 400 trades/s: the outage outgrows /fapi/v1/trades' 1,000 per symbol, so
    historicalTrades (the simulator wants the key) fills the rest as kind 'trade'."""
    r = _drill(
        pg_server_url,
        redis_url,
        tmp_path,
        "--minutes=0.3",
        "--rest-down-minutes=0.15",
        "--rate=400",
        "--stream=trade",
        "--api-key=qp-outage-test-key",
    )
    check = r["check"]
    assert r["error"] is None, r.get("log_tail")
    assert r["published_during_outage"] > 4 * 1000  # more than /fapi/v1/trades reaches
    assert check["exact"], check  # every trade id once, as a trade row
    assert check["trade_ids_via_aggTrade_rows"] == 0
    assert 75 in r["exit_codes"] and r["exit_codes"][-1] == 0
    counted = r["counters_summed_over_lives"]
    assert counted["backfilled_historical"] > 0 and counted["backfilled_via_agg"] == 0
    assert counted["unrecovered"] == 0
    assert r["api_key_in_daemon_log"] is False
