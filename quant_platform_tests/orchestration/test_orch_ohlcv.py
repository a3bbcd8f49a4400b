"""OHLCV resampling in the database equals an independent pandas resample of the same trades."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import psycopg
from dagster import DagsterInstance, build_sensor_context, materialize
from orch_seed import seed_frame, synthetic_trades
from psycopg import sql

from quant_platform.orchestration.ohlcv import ohlcv
from quant_platform.orchestration.ohlcv.sensors import (
    ohlcv_closed_hour_sensor,
    partition_key_for,
    resample_requests,
)

SYMBOLS = ["BTCUSDT", "ETHUSDT"]
H10 = datetime(2026, 1, 5, 10, tzinfo=UTC)
FIELDS = [
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quote_volume",
    "vwap",
    "trade_count",
    "buy_volume",
]
RANGE_TAGS = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def pandas_bars(trades: pd.DataFrame, freq: str, label: str) -> pd.DataFrame:
    """Reference bars: pandas resample of trades ordered by (time, trade_id)."""
    t = trades.sort_values(["symbol", "time", "trade_id"]).copy()
    t["notional"] = t["price"] * t["qty"]
    t["buy_qty"] = np.where(t["is_buyer_maker"], 0.0, t["qty"])
    out = []
    for sym, g in t.groupby("symbol"):
        r = g.set_index("time").resample(freq)
        bars = pd.DataFrame(
            {
                "open": r["price"].first(),
                "high": r["price"].max(),
                "low": r["price"].min(),
                "close": r["price"].last(),
                "volume": r["qty"].sum(),
                "quote_volume": r["notional"].sum(),
                "trade_count": r["price"].count(),
                "buy_volume": r["buy_qty"].sum(),
            }
        )
        bars = bars[bars["trade_count"] > 0]
        bars["vwap"] = bars["quote_volume"] / bars["volume"]
        bars["symbol"], bars["interval"] = sym, label
        out.append(bars)
    df = pd.concat(out).rename_axis("bucket").reset_index()
    return df.set_index(["symbol", "interval", "bucket"]).sort_index()[FIELDS]


def db_bars(conn: psycopg.Connection, start: datetime, end: datetime) -> pd.DataFrame:
    query = sql.SQL(
        "SELECT symbol, interval, bucket, {} FROM ohlcv "
        "WHERE bucket >= %s AND bucket < %s ORDER BY 1, 2, 3"
    ).format(sql.SQL(", ").join(map(sql.Identifier, FIELDS)))
    cur = conn.execute(query, (start, end))
    df = pd.DataFrame(cur.fetchall(), columns=["symbol", "interval", "bucket", *FIELDS])
    df["bucket"] = pd.to_datetime(df["bucket"], utc=True)
    return df.set_index(["symbol", "interval", "bucket"]).sort_index().astype(float)


def assert_bars_equal(got: pd.DataFrame, trades: pd.DataFrame) -> None:
    for freq, label in (("1min", "1m"), ("5min", "5m"), ("1h", "1h")):
        want = pandas_bars(trades, freq, label).astype(float)
        have = got.xs(label, level="interval", drop_level=False)
        assert list(have.index) == list(want.index), label
        np.testing.assert_allclose(have.to_numpy(), want.to_numpy(), rtol=1e-9, err_msg=label)


def test_partition_equals_pandas_resample_and_rerun_replaces(
    db: psycopg.Connection, resources: dict, instance: DagsterInstance
) -> None:
    trades = synthetic_trades(SYMBOLS, H10, H10 + timedelta(hours=1), 3000, tie_every=7)
    # trades just outside the partition must not leak into its bars
    outside = synthetic_trades(SYMBOLS, H10 + timedelta(hours=1), H10 + timedelta(hours=2), 50, 3)
    outside["trade_id"] += 500_000
    seed_frame(db, pd.concat([trades, outside]))
    result = materialize(
        [ohlcv], partition_key="2026-01-05-10:00", resources=resources, instance=instance
    )
    assert result.success
    got = db_bars(db, H10, H10 + timedelta(hours=1))
    assert_bars_equal(got, trades)
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["bars_1m"].value == 120 and meta["bars_1h"].value == 2

    # a late trade arrives; re-running the partition replaces its bars, no duplicates
    late = synthetic_trades(
        ["BTCUSDT"], H10 + timedelta(minutes=59), H10 + timedelta(hours=1), 5, seed=11
    )
    late["trade_id"] += 900_000
    seed_frame(db, late)
    assert materialize(
        [ohlcv], partition_key="2026-01-05-10:00", resources=resources, instance=instance
    ).success
    again = db_bars(db, H10, H10 + timedelta(hours=1))
    assert len(again) == len(got) and again.index.is_unique
    assert_bars_equal(again, pd.concat([trades, late]))
    assert (
        db.execute(
            "SELECT count(*) FROM ohlcv WHERE bucket >= %s", (H10 + timedelta(hours=1),)
        ).fetchone()[0]
        == 0
    )


def test_three_partition_backfill_is_one_run(
    db: psycopg.Connection, resources: dict, instance: DagsterInstance
) -> None:
    trades = synthetic_trades(SYMBOLS, H10, H10 + timedelta(hours=3), 1500, seed=3)
    seed_frame(db, trades)
    result = materialize(
        [ohlcv],
        resources=resources,
        instance=instance,
        tags={RANGE_TAGS[0]: "2026-01-05-10:00", RANGE_TAGS[1]: "2026-01-05-12:00"},
    )
    assert result.success
    assert len(instance.get_runs()) == 1
    events = result.get_asset_materialization_events()
    assert sorted(e.partition for e in events) == [
        "2026-01-05-10:00",
        "2026-01-05-11:00",
        "2026-01-05-12:00",
    ]
    assert events[0].materialization.metadata["partitions"].value == 3
    assert_bars_equal(db_bars(db, H10, H10 + timedelta(hours=3)), trades)


def test_resample_requests_close_each_hour_once_and_leave_the_open_hour_alone() -> None:
    """No run for the open hour (the daemon refreshes its bars); the closed hour once."""
    t = datetime(2026, 3, 2, 14, 0, 20, tzinfo=UTC)
    assert resample_requests(t) == []  # too soon: late trades may still be flushing
    (final,) = resample_requests(t + timedelta(minutes=2))
    assert final.partition_key == "2026-03-02-13:00" and final.run_key == "2026-03-02-13:00:final"
    assert final.tags["qp/resample"] == "final" and final.tags["qp/lane"] == "resample"
    (again,) = resample_requests(t + timedelta(minutes=10))
    assert again.run_key == final.run_key  # the same run key: Dagster runs it once
    assert resample_requests(t + timedelta(minutes=20)) == []
    # a whole hour of 30 s evaluations asks for exactly one run
    keys = {r.run_key for i in range(120) for r in resample_requests(t + timedelta(seconds=30 * i))}
    assert keys == {"2026-03-02-13:00:final"}


def test_closed_hour_sensor_never_requests_the_open_hour(instance: DagsterInstance) -> None:
    result = ohlcv_closed_hour_sensor(build_sensor_context(instance=instance))
    now = datetime.now(UTC)
    keys = {r.partition_key for r in result.run_requests}
    assert partition_key_for(now) not in keys
    assert keys <= {partition_key_for(now - timedelta(hours=1))}


def test_resample_job_evaluates_the_ohlcv_checks(
    db: psycopg.Connection, resources: dict, instance: DagsterInstance
) -> None:
    """Every resample run evaluates the OHLCV checks: none is left "Not evaluated"."""
    from quant_platform.definitions import defs

    now = datetime.now(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    seed_frame(db, synthetic_trades(SYMBOLS, hour, now, 200, seed=9))
    job = defs.resolve_job_def("ohlcv_resample_job")
    result = job.execute_in_process(
        partition_key=partition_key_for(now), resources=resources, instance=instance
    )
    assert result.success
    evals = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evals == {"ohlcv_consistency": True, "ohlcv_matches_trades": True}


def test_one_kind_per_symbol_minute_trade_preferred_never_both_summed(
    db: psycopg.Connection, resources: dict, instance: DagsterInstance
) -> None:
    """A trade and an aggTrade with the same id and ms are two rows (0007's key), and a bar
    uses @trade rows when its minute has any, else @aggTrade rows, never their sum."""
    trades = synthetic_trades(["BTCUSDT"], H10, H10 + timedelta(minutes=2), 400, seed=5)
    seed_frame(db, trades)
    # The same trades again as aggTrades, plus aggTrades alone in a later minute (a gap
    # filled from aggTrades: no @trade row there).
    alone = synthetic_trades(
        ["BTCUSDT"], H10 + timedelta(minutes=5), H10 + timedelta(minutes=6), 50, seed=6
    )
    for frame in (trades, alone):
        with db.cursor().copy(
            "COPY trades (time, symbol, trade_id, price, qty, is_buyer_maker, event_time,"
            " receive_time, kind) FROM STDIN"
        ) as cp:
            for r in frame.itertuples(index=False):
                t = r.time.to_pydatetime()
                cp.write_row(
                    (
                        t,
                        r.symbol,
                        int(r.trade_id),
                        r.price,
                        r.qty,
                        r.is_buyer_maker,
                        t,
                        t,
                        "aggTrade",
                    )
                )
    n = db.execute("SELECT count(*) FROM trades").fetchone()[0]  # type: ignore[index]
    assert n == 2 * len(trades) + len(alone)  # same (symbol, id, time): no shadowing
    assert materialize(
        [ohlcv], partition_key="2026-01-05-10:00", resources=resources, instance=instance
    ).success
    got = db_bars(db, H10, H10 + timedelta(hours=1))
    one_m = got.xs("1m", level="interval", drop_level=False)
    want = pd.concat([pandas_bars(trades, "1min", "1m"), pandas_bars(alone, "1min", "1m")]).astype(
        float
    )
    assert list(one_m.index) == list(want.index)
    np.testing.assert_allclose(one_m.to_numpy(), want.to_numpy(), rtol=1e-9)
