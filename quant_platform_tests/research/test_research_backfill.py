"""`qp import --backfill` against a real dagster-webserver: the backfill covers exactly the span."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from quant_platform.cli.main import main
from quant_platform.config import Settings, get_settings
from quant_platform.orchestration.backfill_client import (
    BackfillError,
    launch_backfill,
    partition_range,
)
from quant_platform.services.local import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
_BACKFILL_QUERY = """
query ($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { id title assetSelection { path } partitionNames isAssetBackfill }
  }
}
"""


@pytest.fixture(scope="module")
def dagster_url(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[str]:
    """dagster-webserver on a free port with its own DAGSTER_HOME; always terminated."""
    home = tmp_path_factory.mktemp("dagster_home")
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "QP_DATABASE_URL": database_url}
    log = home / "webserver.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1"]
            + ["-p", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"dagster-webserver exited:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/server_info", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"dagster-webserver not up in 180 s:\n{log.read_text()[-3000:]}")
            time.sleep(1)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def backfill(url: str, bid: str) -> dict:
    body = httpx.post(
        f"{url}/graphql", json={"query": _BACKFILL_QUERY, "variables": {"id": bid}}, timeout=30
    ).json()
    return body["data"]["partitionBackfillOrError"]


def test_import_backfill_launches_ohlcv_over_the_imported_hours(
    dagster_url: str,
    settings: Settings,
    db,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    request,
) -> None:
    start = 1_790_000_000_000  # 2026-09-21 14:13:20 UTC
    lines = [
        f"{i},100.{i},0.5,50,{start + i * 1_800_000},true"  # every 30 min over 3 h
        for i in range(7)
    ]
    path = tmp_path / "BTCUSDT-trades-2026-09-21.csv"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("QP_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    request.addfinalizer(get_settings.cache_clear)
    code = main(["import", str(path), "--no-progress", "--backfill", "--dagster-url", dagster_url])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "ohlcv 2026-09-21-14:00 .. 2026-09-21-17:00 (4 partitions) + pair_statistics" in out
    link = next(ln.strip() for ln in out.splitlines() if "/runs/b/" in ln)
    assert link.startswith(f"{dagster_url}/runs/b/")
    bid = link.split("/runs/b/")[1].split("?")[0]
    got = backfill(dagster_url, bid)
    assert got["__typename"] == "PartitionBackfill" and got["isAssetBackfill"]
    assert sorted(a["path"][0] for a in got["assetSelection"]) == ["ohlcv", "pair_statistics"]
    assert got["title"] == "qp import"
    assert httpx.get(link, timeout=30).status_code == 200


def test_backfill_without_webserver_is_a_clear_error() -> None:
    with pytest.raises(BackfillError, match="cannot reach the Dagster webserver"):
        launch_backfill(f"http://127.0.0.1:{free_port()}", 1_790_000_000_000, 1_790_000_000_000)


def test_partition_range_covers_the_hours_and_clips_to_existing_partitions() -> None:
    assert partition_range(1_790_000_000_000, 1_790_000_000_000) == (
        "2026-09-21-14:00",
        "2026-09-21-14:00",
        1,
    )
    first, _, n = partition_range(1_700_000_000_000, 1_767_229_200_000)  # 2023 .. 2026-01-01 01:00
    assert first == "2026-01-01-00:00" and n == 2
