"""Research pages (screener, cross-asset, imports) in AppTest against the real DB and Redis."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis as redis_lib
from page_harness import DASHBOARD, page_test, run, texts
from streamlit.testing.v1 import AppTest

from quant_platform.config import get_settings
from quant_platform.storage.redis_keys import RedisKeys
from quant_platform_tests.research.research_seed import seed_universe


@pytest.fixture()
def page_env(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    redis_url: str,
    redis_prefix: str,
    tmp_path: Path,
) -> Iterator[None]:
    """Point the pages' settings at the test stores."""
    monkeypatch.setenv("QP_DATABASE_URL", database_url)
    monkeypatch.setenv("QP_REDIS_URL", redis_url)
    monkeypatch.setenv("QP_REDIS_PREFIX", redis_prefix)
    monkeypatch.setenv("QP_DATA_DIR", str(tmp_path / "qp"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run_page(page: str, at: AppTest | None = None) -> AppTest:
    return run(at if at is not None else page_test(page))


def test_screener_page_runs_filters_and_promotes(
    page_env: None, db: psycopg.Connection, redis_url: str, redis_prefix: str
) -> None:
    at = run_page("screener")
    assert "No screens yet" in texts(at)
    seed_universe(db, thin=None)
    at = run_page("screener")
    at.selectbox(key="scr_lb").set_value("1d")
    at.button(key="FormSubmitter:screen_form-Run screen").click()
    at = run_page("screener", at)
    table = at.dataframe[0].value
    assert len(table) == 6 and table.iloc[0]["pair"] == "ETHUSDT/BTCUSDT"
    assert table.iloc[0]["q"] <= 0.05
    assert "1 at q ≤ 0.05" in texts(at) or "at q ≤ 0.05" in texts(at)
    at.slider(key="scr_maxq").set_value(0.05)
    at = run_page("screener", at)
    assert list(at.dataframe[0].value["pair"])[0] == "ETHUSDT/BTCUSDT"
    assert len(at.dataframe[0].value) < 6
    at.selectbox(key="scr_promote_pick").set_value("ETHUSDT/BTCUSDT")
    at.button(key="scr_promote").click()
    at = run_page("screener", at)
    assert "Promoted ETHUSDT/BTCUSDT" in texts(at)
    client = redis_lib.Redis.from_url(redis_url, decode_responses=True)
    assert client.smembers(RedisKeys(redis_prefix).live_pairs) == {"ETHUSDT/BTCUSDT"}
    assert db.execute("SELECT added_by FROM live_pairs").fetchall() == [("dashboard",)]


def test_cross_asset_page_heatmap_and_lead_lag(page_env: None, db: psycopg.Connection) -> None:
    at = run_page("cross_asset")
    assert "Not enough 1m bars" in texts(at)
    seed_universe(db, thin=None)
    at = run_page("cross_asset")
    charts = at.get("plotly_chart")
    assert len(charts) == 2
    heat = json.loads(charts[0].proto.spec)
    assert heat["data"][0]["type"] == "heatmap" and heat["data"][0]["z"]["shape"] == "4, 4"
    assert "Best lag" in texts(at) and "95 % band" in texts(at)


def test_imports_page_upload_is_validated_and_tagged(
    page_env: None, db: psycopg.Connection, tmp_path: Path
) -> None:
    """The uploader widget can't be driven by AppTest: call the page's handler as the form does."""
    import sys

    sys.path.insert(0, str(DASHBOARD))
    from frame import Frame
    from views import imports

    at = run_page("imports")
    assert "Nothing uploaded yet" in texts(at)
    ndjson = "\n".join(
        [
            '{"t": 1, "p": "100.5", "q": "0.2", "T": 1790000000000, "m": true}',
            '{"t": 2, "p": "100.6", "q": "0", "T": 1790000001000, "m": false}',
            "{not json",
            '{"id": 3, "price": 100.7, "qty": 0.1, "time": 1790000002000, "is_buyer_maker": false}',
        ]
    ).encode()
    ohlc = (
        b"time,open,high,low,close,volume\n"
        b"2026-09-21T00:00:00Z,1,2,0.5,1.5,10\n"
        b"2026-09-21T00:01:00,1.5,1.2,1,1.1,3\n"
    )
    frame = Frame(get_settings())
    stored, report = imports.handle_upload(
        frame, "trades.ndjson", ndjson, "tradesNdjson", "BTCUSDT", "upload:t"
    )
    assert stored == 2
    assert [(r.line, r.reason) for r in report.rejected_lines] == [
        (2, "zero_qty"),
        (3, "malformed"),
    ]
    stored, report = imports.handle_upload(frame, "bars.csv", ohlc, "ohlc", "ETHUSDT", "upload:b")
    assert stored == 1 and [(r.line, r.reason) for r in report.rejected_lines] == [(3, "malformed")]
    again, _ = imports.handle_upload(frame, "bars.csv", ohlc, "ohlc", "ETHUSDT", "upload:b")
    assert again == 0
    trades = db.execute(
        "SELECT source, symbol, trade_id, price, is_buyer_maker FROM uploaded_trades"
        " ORDER BY trade_id"
    ).fetchall()
    assert trades == [
        ("upload:t", "BTCUSDT", 1, 100.5, True),
        ("upload:t", "BTCUSDT", 3, 100.7, False),
    ]
    bars = db.execute("SELECT source, symbol, open, high, close FROM uploaded_ohlcv").fetchall()
    assert bars == [("upload:b", "ETHUSDT", 1.0, 2.0, 1.5)]  # line 3: high below open
    assert db.execute("SELECT count(*) FROM trades").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM ohlcv").fetchone() == (0,)
    at = run_page("imports")
    sources = at.dataframe[0].value
    assert set(sources["source"]) == {"upload:t", "upload:b"}


def test_system_page_lists_services_and_the_live_pair_set(
    page_env: None, db: psycopg.Connection
) -> None:
    db.execute(
        "INSERT INTO live_pairs (symbol_y, symbol_x, added_by) VALUES ('SOLUSDT', 'BTCUSDT', 't')"
    )
    at = run_page("system")
    services = at.dataframe[0].value
    assert {"redis", "postgresql"} <= set(services["service"])
    assert bool(services.set_index("service").loc["postgresql", "up"])
    assert "promoted SOLUSDT/BTCUSDT" in texts(at)
