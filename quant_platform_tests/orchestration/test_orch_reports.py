"""The daily report writes an HTML with the day's Plotly figures and a CSV; event metadata."""

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg
from dagster import DagsterInstance, materialize

from quant_platform.orchestration.reports import daily_report

DAY = datetime(2026, 1, 7, tzinfo=UTC)


def seed_day(db: psycopg.Connection) -> None:
    rng = np.random.default_rng(9)
    n = 180
    base = np.cumsum(rng.normal(0, 1e-3, n))
    rows = []
    for i, sym in enumerate(["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT"]):
        closes = (100 * (i + 1)) * np.exp(base * (1 + 0.2 * i) + rng.normal(0, 3e-4, n))
        for k, c in enumerate(closes):
            t = DAY + timedelta(hours=6, minutes=k)
            rows.append((t, sym, "1m", c, c, c, c, 1.0, c, c, 1, 0.5))
    db.cursor().executemany(
        "INSERT INTO ohlcv VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", rows
    )
    for h, p in enumerate([0.01, 0.02, 0.2]):
        db.execute(
            "INSERT INTO pair_statistics (time, symbol_y, symbol_x, source, method, bar_interval, "
            "window_size, hedge_ratio, eg_pvalue, half_life) "
            "VALUES (%s, 'BTCUSDT', 'ETHUSDT', 'batch', 'ols', '1m', 1440, 1.2, %s, 12.5)",
            (DAY + timedelta(hours=7 + h), p),
        )
    db.execute(
        "INSERT INTO alert_events (time, rule_name, kind, target, severity, message, source) "
        "VALUES (%s, 'dagster:cointegration_break', 'cointegration_break', 'BTCUSDT/ETHUSDT', "
        "'warning', 'broke', 'dagster')",
        (DAY + timedelta(hours=9),),
    )
    # the next day's rows stay out of this day's report
    db.execute(
        "INSERT INTO pair_statistics (time, symbol_y, symbol_x, source, method, bar_interval, "
        "window_size, eg_pvalue)"
        " VALUES (%s, 'BTCUSDT', 'ETHUSDT', 'batch', 'ols', '1m', 1440, 0.5)",
        (DAY + timedelta(days=1, hours=1),),
    )


def test_daily_report_writes_html_and_csv(
    db: psycopg.Connection, resources: dict, instance: DagsterInstance
) -> None:
    seed_day(db)
    result = materialize(
        [daily_report], partition_key="2026-01-07", resources=resources, instance=instance
    )
    assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    html_path = Path(meta["path"].value)
    assert html_path.name == "daily_report_2026-01-07.html"
    assert html_path.parent == Path(resources["platform"].reports_dir).resolve()
    assert meta["size_bytes"].value == html_path.stat().st_size > 1_000_000  # plotly.js inline
    html = html_path.read_text()
    for title in (
        "Prices",
        "Spreads",
        "Rolling correlation",
        "Cointegration p-values",
        "Alert events per hour",
        "BTCUSDT/ETHUSDT",
    ):
        assert title in html, title
    assert html.count('class="plotly-graph-div"') == 5
    rows = list(csv.DictReader(Path(meta["csv_path"].value).open()))
    assert len(rows) == 3 == meta["csv_rows"].value
    assert [float(r["eg_pvalue"]) for r in rows] == [0.01, 0.02, 0.2]
    summary = meta["summary"].value
    assert summary.startswith("| pair |") and "BTCUSDT/ETHUSDT" in summary
    eth = next(line for line in summary.splitlines() if line.startswith("| BTCUSDT/ETHUSDT"))
    assert "| 0.01 | 0.2 |" in eth and eth.rstrip().endswith("| 1 |")  # p min/last; 1 alert
    assert meta["alerts"].value == 1 and meta["bars"].value == 180


def test_daily_report_includes_the_days_backtest_of_each_pair(
    db: psycopg.Connection, resources: dict, instance: DagsterInstance
) -> None:
    from quant_platform_tests.pair_seed import seed_pair

    seed_pair(db, n=2880, y="BTCUSDT", x="ETHUSDT")  # 2026-11-01 and -02
    result = materialize(
        [daily_report], partition_key="2026-11-02", resources=resources, instance=instance
    )
    assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    table = meta["backtest"].value
    row = next(line for line in table.splitlines() if line.startswith("| BTCUSDT/ETHUSDT"))
    assert "| ok |" in row
    trades = int(row.split("|")[3])
    assert trades > 0
    no_bars = next(line for line in table.splitlines() if line.startswith("| BTCUSDT/BNBUSDT"))
    assert "no bars" in no_bars
    html = Path(meta["path"].value).read_text()
    assert "Backtest of the day" in html
