"""Runs per minute one Dagster daemon carries: PostgreSQL vs SQLite instance storage.

Real `dagster-webserver` + `dagster-daemon` (QueuedRunCoordinator, default run
launcher: one subprocess per run), one trivial one-op job
(bench/dagster_queue_defs.py). `--runs` runs are submitted at once through the
webserver's GraphQL `launchRun`; the figure is runs completed per minute from
the first submit to the last run's end, plus the median queue wait (created →
started) and the median run duration (started → ended, i.e. process spawn,
code load, one step, storage writes). Both storages are measured in the same
invocation with the same queue settings, so the ratio is the cost of moving the
instance to PostgreSQL (needed once Dagster spans machines).

    QP_DATABASE_URL=postgresql://qp@127.0.0.1:55432/postgres \\
      .venv/bin/python bench/bench_dagster_queue.py --runs 24 --concurrency 4

The PostgreSQL side uses a throwaway database on QP_DATABASE_URL's server,
dropped afterwards. Writes bench/results/dagster_queue.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
from psycopg import sql
from soak_dagster import tree_rss_mb  # bench/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DEFS = Path(__file__).with_name("dagster_queue_defs.py")
LOCATION, JOB = "queue_probe", "queue_probe"
DEADLINE_S = 600.0
_LAUNCH = """
mutation ($p: ExecutionParams!) {
  launchRun(executionParams: $p) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}
"""
_RUNS = """
query ($tag: String!) {
  runsOrError(filter: {tags: [{key: "bench", value: $tag}]}) {
    ... on Runs { results { runId status creationTime startTime endTime } }
  }
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def instance_yaml(storage: str, concurrency: int) -> str:
    """The same queue for both storages; only `storage:` differs."""
    store = (
        "storage:\n  postgres:\n    postgres_url:\n      env: DAGSTER_PG_URL\n"
        if storage == "postgres"
        else "storage:\n  sqlite:\n    base_dir:\n      env: DAGSTER_HOME\n"
    )
    return store + (
        "run_coordinator:\n  module: dagster.core.run_coordinator\n"
        "  class: QueuedRunCoordinator\n  config:\n"
        f"    max_concurrent_runs: {concurrency}\n    dequeue_interval_seconds: 1\n"
        "telemetry:\n  enabled: false\n"
    )


def gql(url: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """One GraphQL call; {} while the webserver does not answer.

    Raises:
        Nothing: transport errors read as "not yet" and are retried by the caller.
    """
    try:
        r = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables}, timeout=60)
        return r.json().get("data") or {} if r.status_code == 200 else {}
    except (httpx.HTTPError, ValueError):
        return {}


def launch(url: str, tag: str) -> str | None:
    params = {
        "selector": {
            "repositoryLocationName": LOCATION,
            "repositoryName": "__repository__",
            "jobName": JOB,
        },
        "runConfigData": {},
        "executionMetadata": {"tags": [{"key": "bench", "value": tag}]},
    }
    got = gql(url, _LAUNCH, {"p": params}).get("launchRun") or {}
    return got.get("run", {}).get("runId") if got.get("__typename") == "LaunchRunSuccess" else None


def up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/server_info", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def wait(what: str, check: Any, procs: list[subprocess.Popen[bytes]]) -> Any:
    """Poll until `check()` is truthy.

    Raises:
        RuntimeError: a process died, or nothing within DEADLINE_S.
    """
    deadline = time.monotonic() + DEADLINE_S
    while True:
        got = check()
        if got:
            return got
        if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not reached (logs: {procs[0].args[2]} dir)")
        time.sleep(0.5)


def measure(storage: str, runs: int, concurrency: int, env: dict[str, str]) -> dict[str, Any]:
    """Start both processes on one storage, push `runs` runs through, stop them.

    Raises:
        RuntimeError: a process died or runs did not finish within the deadline.
    """
    home = Path(tempfile.mkdtemp(prefix=f"qp-bench-dq-{storage}-"))
    (home / "dagster.yaml").write_text(instance_yaml(storage, concurrency))
    ws = home / "workspace.yaml"
    ws.write_text(
        f"load_from:\n  - python_file:\n      relative_path: {DEFS}\n"
        f"      location_name: {LOCATION}\n      working_directory: {ROOT}\n"
    )
    port = int(os.environ.get("QP_BENCH_DAGSTER_PORT") or free_port())
    env = {**os.environ, **env, "DAGSTER_HOME": str(home)}
    argvs = [
        [str(BIN / "dagster-webserver"), "-w", str(ws), "-h", "127.0.0.1", "-p", str(port)],
        [str(BIN / "dagster-daemon"), "run", "-w", str(ws)],
    ]
    url, tag = f"http://127.0.0.1:{port}", uuid.uuid4().hex[:8]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        # one after the other: two processes creating a fresh SQLite instance at
        # once race on its schema (alembic "can't locate revision")
        for i, argv in enumerate(argvs):
            with (home / f"p{i}.log").open("wb") as out:
                procs.append(
                    subprocess.Popen(
                        argv,
                        env=env,
                        cwd=ROOT,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
            if i == 0:
                wait("webserver up", lambda: up(url), procs)
        first = wait("first launch", lambda: launch(url, tag), procs)
        t0 = time.time()
        ids = [first] + [wait("launch", lambda: launch(url, tag), procs) for _ in range(runs - 1)]
        terminal = {"SUCCESS", "FAILURE", "CANCELED"}

        def done() -> list[dict[str, Any]] | None:
            rs = (gql(url, _RUNS, {"tag": tag}).get("runsOrError") or {}).get("results") or []
            ok = len(rs) == len(ids) and all(r["status"] in terminal for r in rs)
            return rs if ok else None

        rs = wait("all runs finished", done, procs)
        rss = {"webserver": tree_rss_mb(procs[0].pid), "daemon": tree_rss_mb(procs[1].pid)}
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            except ProcessLookupError:
                pass
    wall = max(r["endTime"] for r in rs) - t0
    return {
        "storage": storage,
        "runs": runs,
        "succeeded": sum(r["status"] == "SUCCESS" for r in rs),
        "wall_s": round(wall, 1),
        "runs_per_min": round(runs / wall * 60, 1),
        "median_queue_wait_s": round(
            statistics.median(r["startTime"] - r["creationTime"] for r in rs), 2
        ),
        "median_run_s": round(statistics.median(r["endTime"] - r["startTime"] for r in rs), 2),
        "rss_mb_after": {k: round(v) for k, v in rss.items()},
        "load_avg_after": os.getloadavg()[0],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=24)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "dagster_queue.json"))
    args = ap.parse_args()
    admin = os.environ.get("QP_DATABASE_URL", "postgresql://qp@127.0.0.1:55432/postgres")
    name = f"qp_bench_dagster_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    pg_url = urlunsplit(urlsplit(admin)._replace(scheme="postgresql+psycopg2", path=f"/{name}"))
    try:
        results = [
            measure("sqlite", args.runs, args.concurrency, {}),
            measure("postgres", args.runs, args.concurrency, {"DAGSTER_PG_URL": pg_url}),
        ]
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    sqlite, pg = results
    report = {
        "concurrency": args.concurrency,
        "sqlite": sqlite,
        "postgres": pg,
        "postgres_over_sqlite_runs_per_min": round(pg["runs_per_min"] / sqlite["runs_per_min"], 2),
        "cpus": os.cpu_count(),
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
