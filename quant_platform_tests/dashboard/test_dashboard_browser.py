"""The dashboard served by a real `streamlit run`, driven in headless Chromium.

This catches what AppTest cannot: the page actually loads in a browser, Plotly
draws, the health row and the SIMULATED badge are visible to a user.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis as redis_lib
from dashboard_seed import seed_database, seed_redis
from streamlit_server import (
    CHROMIUM,
    CHROMIUM_ARGS,
    FIRST_PAINT_IMG,
    dashboard_env,
    require_chromium,
    streamlit_server,
)

from quant_platform.storage.redis_keys import RedisKeys
from quant_platform_tests.research.research_seed import seed_universe


@pytest.fixture()
def dashboard_url(
    db: psycopg.Connection, database_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> Iterator[str]:
    """A seeded `streamlit run dashboard/app.py` on a free port; always terminated."""
    seed_database(db)
    seed_redis(redis_lib.Redis.from_url(redis_url), redis_prefix)
    seed_universe(db, thin=None)  # recent bars of 4 symbols for the screener
    env = dashboard_env(database_url, redis_url, redis_prefix, tmp_path)
    with streamlit_server(env, tmp_path) as url:
        yield url


def test_dashboard_in_headless_chromium(dashboard_url: str, tmp_path: Path) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    shot = tmp_path / "dashboard.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(dashboard_url, wait_until="domcontentloaded")
            expect(page).to_have_title("quant-platform", timeout=20_000)
            expect(page.get_by_text("quant-platform · stat-arb analytics")).to_be_visible(
                timeout=20_000
            )
            # Plotly has drawn: the chart containers hold rendered plot SVGs
            page.wait_for_selector("[data-testid='stPlotlyChart'] .main-svg", timeout=30_000)
            expect(page.locator("[data-testid='stPlotlyChart']").first).to_be_visible()
            # the first-paint candles image gives way to Plotly on the 5 s refresh
            expect(page.locator("[data-testid='stPlotlyChart']")).to_have_count(4, timeout=30_000)
            expect(page.locator(FIRST_PAINT_IMG)).to_have_count(0)
            expect(page.get_by_text("SIMULATED DATA").first).to_be_visible()
            expect(page.get_by_text("redis up").first).to_be_visible()
            expect(page.get_by_text("postgresql up").first).to_be_visible()
            expect(page.get_by_text("dagster DOWN").first).to_be_visible()
            expect(page.get_by_text("Download pair series CSV")).to_be_visible()
            assert page.locator("[data-testid='stException']").count() == 0
            # Streamlit scrolls inside its own container, so a tall viewport shows the whole page
            page.set_viewport_size({"width": 1500, "height": 2600})
            page.wait_for_timeout(1000)  # let Plotly re-lay out at the new size
            page.screenshot(path=str(shot))
            assert not errors, errors
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")


def test_pages_screen_promote_and_download_in_chromium(
    dashboard_url: str, db: psycopg.Connection, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    """Every page loads from the navigation; a screen runs, a pair is promoted, a CSV downloads."""
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1400}, accept_downloads=True)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(dashboard_url, wait_until="domcontentloaded")
            nav = page.locator("[data-testid='stSidebarNav']")
            expect(nav).to_be_visible(timeout=30_000)
            headers = {
                "Screener": "Pair screener",
                "Cross-asset": "Cross-asset",
                "Alerts": "Rule editor",
                "Backtest": "Backtest a pair",
                "History": "History · BTCUSDT/ETHUSDT",
                "Imports": "Imports and uploads",
                "System": "System",
            }
            for title, header in headers.items():
                nav.get_by_text(title, exact=True).click()
                expect(page.get_by_text(header, exact=True).first).to_be_visible(timeout=30_000)
                assert page.locator("[data-testid='stException']").count() == 0, title
            nav.get_by_text("Screener", exact=True).click()
            page.get_by_role("button", name="Run screen").click()
            expect(page.get_by_text("6 pairs,", exact=False)).to_be_visible(timeout=60_000)
            expect(page.locator("[data-testid='stDataFrame']").first).to_be_visible()
            with page.expect_download(timeout=30_000) as dl:
                page.get_by_role("button", name="Download CSV").click()
            csv_path = tmp_path / "screen.csv"
            dl.value.save_as(csv_path)
            lines = csv_path.read_text().splitlines()
            assert lines[0].startswith("pair,") and lines[1].startswith("ETHUSDT/BTCUSDT,")
            assert len(lines) == 7
            page.get_by_role("button", name="Promote to live").click()
            expect(page.get_by_text("Promoted ETHUSDT/BTCUSDT", exact=False)).to_be_visible(
                timeout=30_000
            )
            assert not errors, errors
        finally:
            browser.close()
    members = redis_lib.Redis.from_url(redis_url, decode_responses=True).smembers(
        RedisKeys(redis_prefix).live_pairs
    )
    assert members == {"ETHUSDT/BTCUSDT"}
    assert db.execute("SELECT symbol_y, symbol_x FROM live_pairs").fetchall() == [
        ("ETHUSDT", "BTCUSDT")
    ]
