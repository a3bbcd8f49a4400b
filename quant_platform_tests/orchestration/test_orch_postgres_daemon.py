"""Real `dagster-webserver` and `dagster-daemon` on the PostgreSQL instance `qp up` installs.

`qp up --dagster-storage postgres` is what more than one machine needs (every
Dagster process shares runs, events, schedules and ticks). Here the two real
processes run with exactly the argv and environment `qp up` gives them, on a
small code location (daemon_ticks_defs.py); a schedule and a sensor are
started through the webserver's GraphQL API, and the test waits until the
daemon's ticks and the runs they launched are rows in PostgreSQL. Deadlines
are generous (a loaded 2-core machine can take a minute to load a code
location); nothing is timed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql

from quant_platform.config import Settings
from quant_platform.services.local import ensure_database, free_port
from quant_platform_tests.orchestration.daemon_ticks_defs import LOCATION, SCHEDULE, SENSOR

ROOT = Path(__file__).resolve().parents[2]
DEFS_FILE = Path(__file__).with_name("daemon_ticks_defs.py")
REPOSITORY = "__repository__"  # the implicit repository of a Definitions object
DEADLINE_S = 420.0
_START_SCHEDULE = """
mutation ($s: ScheduleSelector!) {
  startSchedule(scheduleSelector: $s) {
    __typename
    ... on ScheduleStateResult { scheduleState { status } }
    ... on PythonError { message }
  }
}
"""
_START_SENSOR = """
mutation ($s: SensorSelector!) {
  startSensor(sensorSelector: $s) {
    __typename
    ... on Sensor { sensorState { status } }
    ... on PythonError { message }
  }
}
"""


def wait_for(what: str, check: Callable[[], Any], logs: list[Path]) -> Any:
    """Poll `check` until it returns something truthy; fail with the process logs.

    Raises:
        pytest.fail.Exception: nothing truthy within DEADLINE_S.
    """
    deadline = time.monotonic() + DEADLINE_S
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in logs)
            pytest.fail(f"{what}: not seen within {DEADLINE_S:.0f} s\n{tails}")
        time.sleep(2)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group (code servers and run workers included), then SIGKILL."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


@pytest.fixture()
def pg_instance(settings: Settings) -> Iterator[tuple[Settings, list]]:
    """The specs `qp up --dagster-storage postgres` runs, on its own `_dagster` database.

    The database is dropped afterwards (the shared server keeps nothing behind).
    """
    from quant_platform.cli.up_cmd import build_specs, dagster_pg_url

    port = int(os.environ.get("QP_TEST_DAGSTER_PORT") or free_port())
    s = settings.model_copy(update={"dagster_port": port, "bind_host": "127.0.0.1"})
    name = dagster_pg_url(s).rsplit("/", 1)[1]
    ensure_database(s.database_url, name)
    try:
        yield s, build_specs(s, "binance", dagster_storage="postgres")
    finally:
        with psycopg.connect(s.database_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture()
def dagster_processes(
    pg_instance: tuple[Settings, list], tmp_path: Path
) -> Iterator[tuple[str, str, list[Path]]]:
    """`qp up`'s dagster-webserver and dagster-daemon, on the test code location.

    Yields the webserver URL, the PostgreSQL URL of the instance, and the log files.
    """
    s, specs = pg_instance
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - python_file:\n"
        f"      relative_path: {DEFS_FILE}\n"
        f"      location_name: {LOCATION}\n"
        f"      working_directory: {ROOT}\n"
    )
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    by_name = {spec.name: spec for spec in specs}
    try:
        for name in ("dagster-webserver", "dagster-daemon"):
            spec = by_name[name]
            argv = [str(workspace) if a.endswith("workspace.yaml") else a for a in spec.argv]
            assert str(workspace) in argv, argv  # the spec names a workspace we could swap
            log = tmp_path / f"{name}.log"
            logs.append(log)
            with log.open("wb") as out:
                procs.append(
                    subprocess.Popen(
                        argv,
                        cwd=spec.cwd or ROOT,
                        env={**os.environ, **spec.env},
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        yield (
            f"http://127.0.0.1:{s.dagster_port}",
            by_name["dagster-daemon"].env["DAGSTER_PG_URL"],
            logs,
        )
    finally:
        for p in procs:
            stop(p)


def graphql(url: str, query: str, variables: dict[str, Any]) -> dict[str, Any] | None:
    """One GraphQL call; None while the webserver is not answering yet."""
    try:
        r = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables}, timeout=30)
    except httpx.HTTPError:
        return None
    return r.json() if r.status_code == 200 else None


def start(url: str, query: str, field: str, selector: dict[str, str]) -> Callable[[], Any]:
    """A check that starts a schedule/sensor; truthy once its state is RUNNING."""

    def check() -> Any:
        body = graphql(url, query, {"s": selector})
        result = (body or {}).get("data", {}) or {}
        got = result.get(field) or {}
        state = got.get("scheduleState") or got.get("sensorState") or {}
        return state.get("status") == "RUNNING"

    return check


def ticks_with_runs(pg_url: str, tick_type: str) -> list[dict[str, Any]]:
    """SUCCESS ticks of one type (SCHEDULE/SENSOR) that launched runs, from `job_ticks`."""
    with psycopg.connect(pg_url.replace("+psycopg2", "")) as conn:
        rows = conn.execute(
            "SELECT status, tick_body FROM job_ticks WHERE type = %s ORDER BY id", (tick_type,)
        ).fetchall()
    bodies = [json.loads(body) for status, body in rows if status == "SUCCESS"]
    return [b for b in bodies if b.get("run_ids")]


def runs(pg_url: str, run_ids: list[str]) -> dict[str, tuple[str, str, dict[str, str]]]:
    """run_id -> (status, job name, tags) from PostgreSQL's `runs` and `run_tags`."""
    with psycopg.connect(pg_url.replace("+psycopg2", "")) as conn:
        rows = conn.execute(
            "SELECT run_id, status, pipeline_name FROM runs WHERE run_id = ANY(%s)", (run_ids,)
        ).fetchall()
        tags = conn.execute(
            "SELECT run_id, key, value FROM run_tags WHERE run_id = ANY(%s)", (run_ids,)
        ).fetchall()
    by_run: dict[str, dict[str, str]] = {}
    for run_id, key, value in tags:
        by_run.setdefault(run_id, {})[key] = value
    return {r: (status, job, by_run.get(r, {})) for r, status, job in rows}


def finished(pg_url: str, tick_type: str) -> Callable[[], Any]:
    """A check: a tick of this type launched runs and every one of them has finished."""

    def check() -> Any:
        ticks = ticks_with_runs(pg_url, tick_type)
        if not ticks:
            return None
        ids = ticks[0]["run_ids"]
        got = runs(pg_url, ids)
        done = {"SUCCESS", "FAILURE", "CANCELED"}
        if len(got) == len(ids) and all(status in done for status, _, _ in got.values()):
            return ticks[0], got
        return None

    return check


@pytest.mark.timeout(1200)
def test_webserver_and_daemon_on_postgres_run_schedule_and_sensor_ticks(
    dagster_processes: tuple[str, str, list[Path]],
) -> None:
    url, pg_url, logs = dagster_processes
    assert pg_url.startswith("postgresql+psycopg2://")
    schedule = {
        "repositoryLocationName": LOCATION,
        "repositoryName": REPOSITORY,
        "scheduleName": SCHEDULE,
    }
    sensor = {
        "repositoryLocationName": LOCATION,
        "repositoryName": REPOSITORY,
        "sensorName": SENSOR,
    }
    wait_for(
        "schedule started via GraphQL", start(url, _START_SCHEDULE, "startSchedule", schedule), logs
    )
    wait_for("sensor started via GraphQL", start(url, _START_SENSOR, "startSensor", sensor), logs)

    with psycopg.connect(pg_url.replace("+psycopg2", "")) as conn:
        states = conn.execute("SELECT instigator_type, status FROM instigators").fetchall()
    assert sorted(states) == [("SCHEDULE", "RUNNING"), ("SENSOR", "RUNNING")]

    sensor_tick, sensor_runs = wait_for(
        "a sensor tick's run finished", finished(pg_url, "SENSOR"), logs
    )
    schedule_tick, schedule_runs = wait_for(
        "a schedule tick's run finished", finished(pg_url, "SCHEDULE"), logs
    )
    assert sensor_tick["job_name"] == SENSOR  # TickData stores instigator_name as job_name
    assert schedule_tick["job_name"] == SCHEDULE
    for status, job, tags in sensor_runs.values():
        assert (status, job, tags.get("dagster/sensor_name")) == ("SUCCESS", "tick_job", SENSOR)
    for status, job, tags in schedule_runs.values():
        assert (status, job, tags.get("dagster/schedule_name")) == ("SUCCESS", "tick_job", SCHEDULE)
    with psycopg.connect(pg_url.replace("+psycopg2", "")) as conn:
        daemons = {r[0] for r in conn.execute("SELECT daemon_type FROM daemon_heartbeats")}
    assert {"SCHEDULER", "SENSOR", "QUEUED_RUN_COORDINATOR"} <= daemons
