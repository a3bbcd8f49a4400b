"""Backtest page in AppTest against the real database: controls, metrics, charts, CSV export."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest
from page_harness import page_test, run, texts

from quant_platform.config import get_settings
from quant_platform_tests.pair_seed import seed_pair


@pytest.fixture()
def page_env(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    redis_url: str,
    redis_prefix: str,
    tmp_path: Path,
) -> Iterator[None]:
    monkeypatch.setenv("QP_DATABASE_URL", database_url)
    monkeypatch.setenv("QP_REDIS_URL", redis_url)
    monkeypatch.setenv("QP_REDIS_PREFIX", redis_prefix)
    monkeypatch.setenv("QP_DATA_DIR", str(tmp_path / "qp"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _submit(at, pair: str, start: date, end: date):  # type: ignore[no-untyped-def]
    at.text_input(key="bt_pair").set_value(pair)
    at.date_input(key="bt_from").set_value(start)
    at.date_input(key="bt_to").set_value(end)
    at.number_input(key="bt_lookback").set_value(60)
    at.number_input(key="bt_entry").set_value(1.8)
    at.number_input(key="bt_exit").set_value(0.3)
    at.button(key="FormSubmitter:bt_form-Run backtest").click()
    return run(at)


def test_backtest_page_runs_and_shows_equity_sweep_and_exports(
    page_env: None, db: psycopg.Connection
) -> None:
    at = run(page_test("backtest"))
    assert "Choose a pair and a span" in texts(at)
    at = _submit(at, "ETHUSDT/BTCUSDT", date(2026, 11, 1), date(2026, 11, 1))
    assert "No 1m bars for ETHUSDT/BTCUSDT" in texts(at)

    seed_pair(db, n=2880)
    at = _submit(at, "ETHUSDT/BTCUSDT", date(2026, 11, 1), date(2026, 11, 2))
    assert "**ETHUSDT/BTCUSDT** · 2,880 bars" in texts(at)
    labels = {m.label: m.value for m in at.metric}
    assert set(labels) >= {"Net P&L (USDT)", "Sharpe", "Max drawdown", "Hit rate"}
    costs = at.dataframe[0].value
    assert list(costs["component"]) == ["gross P&L", "fees", "slippage", "funding", "net P&L"]
    assert costs["USDT"].iloc[:4].sum() == pytest.approx(costs["USDT"].iloc[4])
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(charts) == 3
    names = [tr.get("name") for tr in charts[0]["data"]]
    assert names[0] == "equity" and "exit" in names  # trades marked on the curve
    assert charts[1]["data"][0]["type"] == "heatmap"
    assert charts[1]["layout"]["title"]["text"] == "Sweep: Sharpe"
    assert "Walk-forward" in texts(at)
    trades = at.dataframe[-1].value
    assert len(trades) > 5 and {"net_pnl", "fees", "funding"} <= set(trades.columns)
    assert len(at.get("download_button")) == 2


def test_backtest_page_rejects_bad_input_with_a_message(page_env: None) -> None:
    at = run(page_test("backtest"))
    at = _submit(at, "ETHUSDT-BTCUSDT", date(2026, 11, 1), date(2026, 11, 2))
    assert at.error and "is not a pair" in at.error[0].value


def test_reports_page_lists_past_reports(
    page_env: None, db: psycopg.Connection, database_url: str, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    from quant_platform.reporting.archive import run_report
    from quant_platform.reporting.definitions import parse_definitions

    at = run(page_test("reports"))
    assert "No reports yet" in texts(at)
    (d,) = parse_definitions(
        {"reports": [{"name": "eth-btc", "pairs": ["ETHUSDT/BTCUSDT"], "cron": "0 7 * * *"}]}
    )
    seed_pair(db, n=120)
    reports_dir = get_settings().reports_dir
    run_report(database_url, reports_dir, d, datetime(2026, 11, 1, 2, tzinfo=UTC))
    run_report(database_url, reports_dir, d, datetime(2026, 10, 1, tzinfo=UTC))
    at = run(page_test("reports"))
    table = at.dataframe[0].value
    assert list(table["report"]) == ["eth-btc", "eth-btc"]
    assert table["first line"].iloc[0].startswith("Report eth-btc: 1 pair(s)")
    assert table["first line"].iloc[1].startswith("No data: no 1m bars")
    assert len(at.get("download_button")) == 1
