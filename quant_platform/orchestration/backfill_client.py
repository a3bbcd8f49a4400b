"""Launch an asset backfill through the Dagster webserver's GraphQL API (as the UI does).

Used by `qp import --backfill`: the webserver owns the instance, so the backfill
shows up in the UI exactly like one started there, and the daemon executes it
(`BackfillPolicy.single_run()` makes the hourly `ohlcv` range one run).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from dagster import PartitionKeyRange

from quant_platform.orchestration.ohlcv.assets import OHLCV_PARTITIONS

_MUTATION = """
mutation LaunchImportBackfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on PartitionKeysNotFoundError { message }
    ... on PartitionSetNotFoundError { message }
    ... on UnauthorizedError { message }
    ... on InvalidSubsetError { message }
  }
}
"""


class BackfillError(RuntimeError):
    """The backfill could not be launched; the message says why and what to do."""


@dataclass(frozen=True)
class LaunchedBackfill:
    backfill_id: str
    first_partition: str
    last_partition: str
    partitions: int
    link: str


def partition_range(first_ms: int, last_ms: int) -> tuple[str, str, int]:
    """Hourly `ohlcv` partition keys covering [first_ms, last_ms] (clipped to what exists).

    Raises:
        BackfillError: the span lies entirely outside the partitions' range.
    """
    fmt = OHLCV_PARTITIONS.fmt
    start = datetime.fromtimestamp(first_ms / 1000, UTC).replace(minute=0, second=0, microsecond=0)
    end = datetime.fromtimestamp(last_ms / 1000, UTC).replace(minute=0, second=0, microsecond=0)
    keys = OHLCV_PARTITIONS.get_partition_keys_in_range(
        PartitionKeyRange(_clip(start.strftime(fmt)), _clip(end.strftime(fmt)))
    )
    if not keys:
        raise BackfillError(f"imported span {start} .. {end} has no ohlcv partitions")
    return keys[0], keys[-1], len(keys)


def _clip(key: str) -> str:
    first = OHLCV_PARTITIONS.get_first_partition_key()
    last = OHLCV_PARTITIONS.get_last_partition_key()
    if first is None or last is None:
        raise BackfillError("ohlcv has no partitions yet")
    return min(max(key, first), last)


def launch_backfill(
    dagster_url: str, first_ms: int, last_ms: int, timeout: float = 30.0
) -> LaunchedBackfill:
    """Backfill `ohlcv` over the hours of [first_ms, last_ms], then `pair_statistics` once.

    Raises:
        BackfillError: webserver unreachable, or Dagster refused the backfill.
    """
    first, last, n = partition_range(first_ms, last_ms)
    params = {
        "title": "qp import",
        "description": f"ohlcv {first} .. {last} after qp import",
        "partitionsByAssets": [
            {
                "assetKey": {"path": ["ohlcv"]},
                "partitions": {"range": {"start": first, "end": last}},
            },
            {"assetKey": {"path": ["pair_statistics"]}},
        ],
        "tags": [{"key": "qp/source", "value": "qp-import"}],
    }
    base = dagster_url.rstrip("/")
    try:
        resp = httpx.post(
            f"{base}/graphql",
            json={"query": _MUTATION, "variables": {"params": params}},
            timeout=timeout,
        )
        resp.raise_for_status()
        body = resp.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise BackfillError(
            f"cannot reach the Dagster webserver at {base} ({exc}); start it (qp up) or pass "
            "--dagster-url"
        ) from None
    if body.get("errors"):
        raise BackfillError(f"Dagster refused the backfill: {body['errors'][0].get('message')}")
    result = body["data"]["launchPartitionBackfill"]
    if result.get("__typename") != "LaunchBackfillSuccess":
        raise BackfillError(
            f"Dagster refused the backfill ({result.get('__typename')}): {result.get('message')}"
        )
    bid = result["backfillId"]
    return LaunchedBackfill(bid, first, last, n, f"{base}/runs/b/{bid}?tab=partitions")
