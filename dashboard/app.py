"""quant-platform dashboard: the shared frame and the page navigation (`st.navigation`).

Run with `streamlit run dashboard/app.py`. This file is the frame every page
shares: page config, settings (a bad value is a message, not a traceback), the
title, the health row and the sidebar's pair controls. Each page is one module
in `views/` with a `render(...)` taking what it needs as arguments (the Frame
with the settings and connections, the PairView from the sidebar), so a page
never reads module globals and can be rendered on its own in a test. Every SQL
statement and Redis key lives in `quant_platform.queries`.
"""

from __future__ import annotations

import time

import streamlit as st
from frame import Frame
from views import (
    alerts,
    backtest,
    cross_asset,
    history,
    imports,
    live_pairs,
    reports,
    screener,
    system,
)
from views.controls import pair_controls

from quant_platform.config import Settings, get_settings
from quant_platform.config.settings import SettingsError

st.set_page_config(page_title="quant-platform", page_icon=":material/monitoring:", layout="wide")
try:
    settings: Settings = get_settings()
except SettingsError as exc:
    st.error(f"Configuration error — fix the environment and reload:\n\n```\n{exc}\n```")
    st.stop()

frame = Frame(settings)
view = pair_controls(settings)


def live_pairs_page() -> None:
    live_pairs.render(frame, view)


def screener_page() -> None:
    screener.render(frame)


def cross_asset_page() -> None:
    cross_asset.render(frame)


def alerts_page() -> None:
    alerts.render(frame)


def backtest_page() -> None:
    backtest.render(frame)


def history_page() -> None:
    history.render(frame, view)


def imports_page() -> None:
    imports.render(frame)


def reports_page() -> None:
    reports.render(frame)


def system_page() -> None:
    system.render(frame)


# url_path = the page's address (/screener, ...); the first is the default page.
PAGES = [
    st.Page(
        live_pairs_page,
        title="Live pairs",
        icon=":material/show_chart:",
        url_path="live",
        default=True,
    ),
    st.Page(screener_page, title="Screener", icon=":material/filter_alt:", url_path="screener"),
    st.Page(
        cross_asset_page, title="Cross-asset", icon=":material/grid_on:", url_path="cross-asset"
    ),
    st.Page(alerts_page, title="Alerts", icon=":material/notifications:", url_path="alerts"),
    st.Page(backtest_page, title="Backtest", icon=":material/query_stats:", url_path="backtest"),
    st.Page(history_page, title="History", icon=":material/history:", url_path="history"),
    st.Page(imports_page, title="Imports", icon=":material/upload_file:", url_path="imports"),
    st.Page(reports_page, title="Reports", icon=":material/description:", url_path="reports"),
    st.Page(system_page, title="System", icon=":material/settings:", url_path="system"),
]
page = st.navigation(PAGES)

st.title("quant-platform · stat-arb analytics")
st.caption("Binance USD-M futures · live metrics from Redis, bars and statistics from TimescaleDB")
system.health_row(frame)
page.run()
st.caption(f"Rendered {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC")
