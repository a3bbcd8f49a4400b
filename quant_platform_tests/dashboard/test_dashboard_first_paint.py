"""The live page's first paint (a server-drawn SVG of the candles) shows the stored bars.

Real PostgreSQL/TimescaleDB, Redis, `streamlit run` and headless Chromium: the
picture a user sees first is read back off the image (each panel's scale is in
its data-* attributes) and compared, candle by candle, with the `ohlcv` rows;
then the interactive Plotly chart that replaces it must hold the same bars.
"""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest
import redis as redis_lib
from dashboard_seed import X, Y, seed_database, seed_redis
from streamlit_server import (
    CHROMIUM,
    CHROMIUM_ARGS,
    FIRST_PAINT_IMG,
    dashboard_env,
    require_chromium,
    streamlit_server,
)

SVG = "{http://www.w3.org/2000/svg}"
# The first-paint image as the browser drew it (decoded, laid out), kept in the page.
RECORD_FIRST_PAINT = """
new MutationObserver(() => {
  const img = document.querySelector('img[src^="data:image/svg+xml;base64,"]');
  if (!img || window.__firstPaint) return;
  const keep = () => {
    const r = img.getBoundingClientRect();
    if (img.naturalWidth > 0 && r.height > 0) {
      window.__firstPaint = {src: img.src, alt: img.alt, width: r.width, height: r.height};
    }
  };
  if (img.complete) keep(); else img.addEventListener("load", keep, {once: true});
}).observe(document, {subtree: true, childList: true});
"""
_NUM = r"(-?\d+(?:\.\d+)?)"


@pytest.fixture()
def dashboard_url(
    db: psycopg.Connection, database_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> Iterator[str]:
    seed_database(db)
    seed_redis(redis_lib.Redis.from_url(redis_url), redis_prefix)
    env = dashboard_env(database_url, redis_url, redis_prefix, tmp_path)
    with streamlit_server(env, tmp_path) as url:
        yield url


def stored_bars(db: psycopg.Connection, symbol: str) -> np.ndarray:
    """(epoch s, open, high, low, close) of the newest 500 1m bars, oldest first."""
    rows = db.execute(
        "SELECT extract(epoch FROM bucket), open, high, low, close FROM ohlcv "
        "WHERE symbol = %s AND interval = '1m' ORDER BY bucket DESC LIMIT 500",
        (symbol,),
    ).fetchall()
    return np.array(rows[::-1], dtype=float)


def drawn_candles(panel: ET.Element) -> dict[str, np.ndarray]:
    """Candle centres and prices read back from a panel's wick and body paths."""
    lo, hi = float(panel.get("data-lo")), float(panel.get("data-hi"))
    top, bottom = float(panel.get("data-top")), float(panel.get("data-bottom"))

    def price(px: np.ndarray) -> np.ndarray:
        return lo + (bottom - px) / (bottom - top) * (hi - lo)

    wicks, bodies = [], []
    for path in panel.iter(f"{SVG}path"):
        d = path.get("d", "")
        if path.get("class") == "wick":
            wicks += [tuple(map(float, m)) for m in re.findall(rf"M{_NUM} {_NUM}V{_NUM}", d)]
        else:
            up = path.get("fill") == "#3d9970"
            for x, y0, w, y1 in re.findall(rf"M{_NUM} {_NUM}h{_NUM}V{_NUM}h", d):
                cx, a, b = float(x) + float(w) / 2, float(y0), float(y1)  # a above b
                bodies.append((cx, b, a) if up else (cx, a, b))  # (x, open px, close px)
    w = np.array(sorted(wicks))
    b = np.array(sorted(bodies))
    assert len(w) == len(b), (len(w), len(b))
    return {
        "x": w[:, 0],
        "high": price(w[:, 1]),
        "low": price(w[:, 2]),
        "open": price(b[:, 1]),
        "close": price(b[:, 2]),
    }


def test_first_paint_shows_the_stored_bars_then_plotly_takes_over(
    dashboard_url: str, db: psycopg.Connection
) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1200})
            page.add_init_script(RECORD_FIRST_PAINT)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(dashboard_url, wait_until="domcontentloaded")
            # recorded when drawn: a loaded machine may swap it out before a poll sees it
            shown = page.wait_for_function("window.__firstPaint", timeout=60_000).json_value()
            assert shown["alt"] == f"Prices · {Y}/{X} · 1m"
            assert shown["width"] > 500 and shown["height"] > 200, shown
            src = shown["src"]
            # then the interactive chart replaces it in place (the 5 s refresh)
            expect(page.locator(FIRST_PAINT_IMG)).to_have_count(0, timeout=60_000)
            candles = page.locator("[data-testid='stPlotlyChart'] .js-plotly-plot").first
            expect(candles.locator(".main-svg").first).to_be_visible(timeout=30_000)
            # _fullData: the arrays as Plotly drew them (gd.data keeps Plotly's base64 specs)
            traces = candles.evaluate(
                "(gd) => gd._fullData.map((t) => "
                "({type: t.type, name: t.name, close: Array.from(t.close)}))"
            )
            assert not errors, errors
        finally:
            browser.close()

    prefix = "data:image/svg+xml;base64,"
    assert src.startswith(prefix)
    root = ET.fromstring(base64.b64decode(src[len(prefix) :]))
    panels = {p.get("data-symbol"): p for p in root.iter(f"{SVG}g") if p.get("class") == "panel"}
    assert list(panels) == [Y, X]
    t0s = {float(p.get("data-t0")) for p in panels.values()}
    assert len(t0s) == 1  # one shared time axis
    for sym, panel in panels.items():
        want = stored_bars(db, sym)
        got = drawn_candles(panel)
        assert len(got["x"]) == len(want) == 240  # every seeded bar, none merged
        # prices within a hundredth of a pixel (paths carry two decimals)
        tol = (float(panel.get("data-hi")) - float(panel.get("data-lo"))) / 245 * 0.01
        for i, key in enumerate(("open", "high", "low", "close"), start=1):
            np.testing.assert_allclose(got[key], want[:, i], rtol=0, atol=tol, err_msg=key)
        # candles sit on their bar's time: x grows with the bucket at one scale
        left, right = float(panel.get("data-left")), float(panel.get("data-right"))
        t0, t1 = float(panel.get("data-t0")), float(panel.get("data-t1"))
        px_per_s = (right - left) / (t1 - t0)
        np.testing.assert_allclose(
            got["x"], left + (want[:, 0] + 30 - t0) * px_per_s, rtol=0, atol=0.01
        )
    assert [(t["type"], t["name"]) for t in traces] == [("candlestick", Y), ("candlestick", X)]
    for trace, sym in zip(traces, (Y, X), strict=True):
        np.testing.assert_allclose(trace["close"], stored_bars(db, sym)[:, 4], rtol=1e-12)
