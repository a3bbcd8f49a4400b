"""The dashboard's read-side queries against the real TimescaleDB and Redis,
on the data set of `dashboard_seed`."""

from __future__ import annotations

import time
from datetime import timedelta

import numpy as np
import pandas as pd
import psycopg
import pytest
import redis as redis_lib
from dashboard_seed import END, N_BARS, X, Y, seed_database, seed_redis

from quant_platform.config import Settings, load_settings
from quant_platform.queries import alerts as alert_q
from quant_platform.queries import bars as bar_q
from quant_platform.queries import statistics as stat_q
from quant_platform.queries.live import feed_health, pair_analytics, symbols_analytics
from quant_platform.queries.platform_health import check_dagster, feed_status
from quant_platform.services.local import free_port
from quant_platform.storage.redis_keys import RedisKeys


@pytest.fixture()
def rclient(redis_url: str) -> redis_lib.Redis:
    return redis_lib.Redis.from_url(redis_url)


def test_load_bars_returns_newest_bars_per_symbol_oldest_first(db: psycopg.Connection) -> None:
    seed_database(db)
    df = bar_q.load_bars(db, [Y, X], "1m", limit=100)
    assert list(df.columns) == bar_q.BAR_COLUMNS
    assert df.groupby("symbol").size().to_dict() == {Y: 100, X: 100}
    btc = df[df["symbol"] == Y]
    assert btc["bucket"].is_monotonic_increasing
    assert btc["bucket"].iloc[-1] == pd.Timestamp(END)
    assert str(btc["bucket"].dt.tz) == "UTC"
    assert bar_q.load_bars(db, [Y], "5m").empty  # only 1m seeded


def test_load_bars_rejects_bad_interval_and_symbol(db: psycopg.Connection) -> None:
    with pytest.raises(ValueError, match="interval"):
        bar_q.load_bars(db, [Y], "1d")
    with pytest.raises(ValueError, match="not a symbol"):
        bar_q.load_bars(db, ["BTC'; DROP TABLE ohlcv;--"], "1m")


def test_empty_database_gives_empty_frames(db: psycopg.Connection) -> None:
    assert bar_q.load_bars(db, [Y, X], "1m").empty
    assert stat_q.pair_statistics_history(db, Y, X).empty
    assert alert_q.recent_alert_events(db).empty
    assert alert_q.list_rules(db).empty
    assert bar_q.closes_wide(bar_q.empty_bars(), [Y, X]).empty


def test_pair_series_on_seeded_bars_uses_analytics(db: psycopg.Connection) -> None:
    seed_database(db)
    bars = bar_q.load_bars(db, [Y, X], "1m", limit=N_BARS)
    closes = bar_q.closes_wide(bars, [Y, X])
    assert len(closes) == N_BARS
    s = stat_q.pair_series(closes, Y, X, window=60)
    assert s.hedge.beta == pytest.approx(0.9, abs=0.1)
    f = s.frame
    assert {"spread", "zscore", "rolling_beta", "correlation"} <= set(f.columns)
    assert f["zscore"].iloc[:59].isna().all() and f["zscore"].iloc[60:].notna().all()
    assert f["correlation"].dropna().between(-1, 1).all()
    assert s.coint_pvalue < 0.05  # seeded as cointegrated
    assert 0 < s.half_life_bars < 50
    with pytest.raises(ValueError, match="need at least"):
        stat_q.pair_series(closes.iloc[:30], Y, X, window=60)


def test_symbol_series_vwap_imbalance_and_regime(db: psycopg.Connection) -> None:
    seed_database(db)
    bars = bar_q.load_bars(db, [Y], "1m", limit=N_BARS)
    s = stat_q.symbol_series(bars, window=30)
    f = s.frame
    assert len(f) == N_BARS
    assert f["imbalance"].dropna().between(-1, 1).all()
    # imbalance over one bar equals that bar's (buy - sell) / volume
    one = stat_q.symbol_series(bars, window=1).frame["imbalance"].to_numpy()
    expected = (2 * bars["buy_volume"] - bars["volume"]) / bars["volume"]
    np.testing.assert_allclose(one[1:], expected.to_numpy()[1:], rtol=1e-9)
    np.testing.assert_allclose(f["bar_imbalance"].to_numpy(), expected.to_numpy(), rtol=1e-9)
    assert (f["rolling_vwap"].dropna() > 0).all()
    assert s.regime is not None and s.regime.label in ("low", "normal", "high")


def test_pair_statistics_history_both_sources(db: psycopg.Connection) -> None:
    seed_database(db)
    hist = stat_q.pair_statistics_history(db, Y, X)
    assert set(hist["source"]) == {"live", "batch"}
    assert len(hist) == 25
    assert hist["time"].is_monotonic_increasing
    latest = stat_q.latest_pair_statistics(hist)
    assert latest["live"]["adf_pvalue"] == pytest.approx(0.02)
    assert latest["batch"]["eg_pvalue"] == pytest.approx(0.04)
    only_batch = stat_q.pair_statistics_history(db, Y, X, sources=("batch",))
    assert set(only_batch["source"]) == {"batch"}
    recent = stat_q.pair_statistics_history(db, Y, X, since=END - timedelta(minutes=15))
    assert list(recent["source"]) == ["live", "live"]  # -10 and 0 min; batch rows are older
    assert stat_q.pair_statistics_history(db, X, Y).empty  # direction matters


def test_recent_alert_events_newest_first(db: psycopg.Connection) -> None:
    seed_database(db)
    ev = alert_q.recent_alert_events(db, limit=10)
    assert list(ev["rule_name"]) == ["coint-break", "z-high", "vol-spike"]
    assert list(ev["severity"]) == ["critical", "warning", "info"]
    assert ev["metrics"].iloc[0] == {"pvalue": 0.21}
    assert len(alert_q.recent_alert_events(db, limit=1)) == 1


def test_rule_crud_and_validation(db: psycopg.Connection) -> None:
    syms, pairs = [Y, X], [f"{Y}/{X}"]
    rid = alert_q.add_rule(
        db, alert_q.RuleDraft("z-high", "zscore", f"{Y}/{X}", {"threshold": 2.5}), syms, pairs
    )
    alert_q.add_rule(
        db,
        alert_q.RuleDraft(
            "custom-1", "custom", "*", expression="abs(zscore) > 2 and correlation > 0.7"
        ),
        syms,
        pairs,
    )
    rules = alert_q.list_rules(db)
    assert list(rules["name"]) == ["custom-1", "z-high"]
    assert rules.set_index("name").loc["z-high", "params"] == {"threshold": 2.5}
    assert alert_q.set_rule_enabled(db, rid, False)
    assert not alert_q.list_rules(db).set_index("name").loc["z-high", "enabled"]
    with pytest.raises(alert_q.RuleValidationError, match="already exists"):
        alert_q.add_rule(
            db, alert_q.RuleDraft("z-high", "zscore", "*", {"threshold": 3.0}), syms, pairs
        )
    with pytest.raises(alert_q.RuleValidationError) as err:
        alert_q.add_rule(
            db, alert_q.RuleDraft("", "zscore", "SOLUSDT", {"threshold": -1.0}), syms, pairs
        )
    assert any("name is required" in e for e in err.value.errors)
    assert any("target" in e for e in err.value.errors)
    assert any("threshold must be greater than 0" in e for e in err.value.errors)
    assert alert_q.delete_rule(db, rid) and not alert_q.delete_rule(db, rid)
    assert list(alert_q.list_rules(db)["name"]) == ["custom-1"]


@pytest.mark.parametrize(
    "expr, fragment",
    [
        ("__import__('os').system('x')", "function calls"),
        ("zscore.real > 1", "not allowed"),
        ("bogus > 1", "unknown metric"),
        ("zscore >", "syntax error"),
        ("zscore + 1", "needs a comparison"),
        ("open('f') > 1", "is not allowed"),
        ("zscore > 'a'", "only numbers"),
        ("", "needs an expression"),
    ],
)
def test_expression_validation_rejects_unsafe_or_unknown(expr: str, fragment: str) -> None:
    assert any(fragment in e for e in alert_q.expression_errors(expr)), alert_q.expression_errors(
        expr
    )


def test_expression_validation_accepts_metric_conditions() -> None:
    for ok in (
        "abs(zscore) > 2.5",
        "correlation < 0.5 or vol_ratio >= 2",
        "not (adf_pvalue < 0.05)",
        "max(zscore, -zscore) > 2 and half_life < 600",
    ):
        assert alert_q.expression_errors(ok) == [], ok


def test_live_cache_feed_health_and_ticks(
    redis_url: str, redis_prefix: str, rclient: redis_lib.Redis
) -> None:
    keys = RedisKeys(redis_prefix)
    assert pair_analytics(rclient, keys, Y, X) is None
    assert symbols_analytics(rclient, keys, [Y]) == {Y: None}
    assert bar_q.live_bars(rclient, keys, [Y, X]).empty
    now = time.time()
    seed_redis(rclient, redis_prefix, now=now)
    pm = pair_analytics(rclient, keys, Y, X, now=now)
    assert pm["zscore"] == 2.4 and pm["age_s"] == pytest.approx(3.0, abs=0.01)
    sm = symbols_analytics(rclient, keys, [Y, X], now=now)
    assert sm[X]["last_price"] == 3000.0 and sm[X]["age_s"] == pytest.approx(3.0, abs=0.01)
    fs = feed_status(feed_health(rclient, keys), _settings_like(), now=now)
    assert fs.simulated and fs.up and fs.name == "simulator"
    bars = bar_q.live_bars(rclient, keys, [Y, X], seconds=300)
    assert set(bars["symbol"]) == {Y, X}
    btc = bars[bars["symbol"] == Y]
    assert 115 <= len(btc) <= 121  # one bar per second over 2 minutes
    assert (btc["trade_count"] == 4).sum() >= 110
    assert (btc["high"] >= btc["low"]).all() and (btc["buy_volume"] <= btc["volume"] + 1e-12).all()
    short = bar_q.live_bars(rclient, keys, [Y], seconds=30)
    assert len(short) <= 31


def _settings_like() -> Settings:
    """Settings whose configured feed is Binance, so a simulator heartbeat must come from Redis."""
    return load_settings(feed="binance")


def test_feed_status_without_heartbeat_and_dagster_down() -> None:
    fs = feed_status({}, _settings_like())
    assert (
        not fs.up and not fs.simulated and not fs.heartbeat and "no daemon heartbeat" in fs.detail
    )
    stale = feed_status(
        {"feed": "simulator", "updated": "0", "last_trade_age_s": "1"}, _settings_like()
    )
    assert stale.simulated and not stale.up and stale.heartbeat
    status = check_dagster("127.0.0.1", free_port(), timeout=0.5)
    assert not status.up and "not reachable" in status.detail
