"""Live pairs page: the live engine's tiles, pair charts (candles, spread/z, hedge, correlation)
and per-leg execution panels, for the pair picked in the sidebar.

Fragments re-run every REFRESH_S seconds with the same arguments, so the
sidebar and the rest of the page keep their state.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
from components import charts, static_candles
from components.formatting import download, duration, fmt, num, signal, signal_colour
from frame import Frame
from views.controls import REFRESH_S, PairView

from quant_platform import analytics
from quant_platform.queries import bars as bar_q
from quant_platform.queries import statistics as stat_q
from quant_platform.queries.live import latest_trades, pair_analytics, symbols_analytics

STALE_S = 15.0
FIRST_PAINT_DONE = "live_candles_first_paint_done"


def load_pair_bars(frame: Frame, view: PairView) -> pd.DataFrame:
    """Bars of both legs for the chosen timeframe (long frame, oldest first)."""
    if view.live:
        return bar_q.live_bars(
            frame.redis(), frame.keys(), [view.sym_y, view.sym_x], seconds=view.lookback
        )
    with frame.db() as conn:
        return bar_q.load_bars(conn, [view.sym_y, view.sym_x], view.timeframe, limit=view.lookback)


def no_bars_message(view: PairView) -> None:
    if view.live:
        st.info(
            f"No live ticks for {view.pair} in the last {view.lookback} s yet — is the ingestion "
            "daemon running (`qp up`)?",
            icon=":material/hourglass_empty:",
        )
    else:
        st.info(
            f"No {view.timeframe} bars for {view.pair} yet. The Dagster OHLCV job resamples "
            "trades into bars once the feed has run for a while; try the live 1s timeframe "
            "meanwhile.",
            icon=":material/hourglass_empty:",
        )


@st.fragment(run_every=REFRESH_S)
def live_tiles(frame: Frame, view: PairView) -> None:
    """The live engine's latest numbers for the pair and its legs, with their age."""
    st.subheader(f"Live · {view.pair}")
    with frame.guard("Live metrics"):
        client = frame.redis()
        pm = pair_analytics(client, frame.keys(), view.sym_y, view.sym_x)
        sm = symbols_analytics(client, frame.keys(), [view.sym_y, view.sym_x])
        last = latest_trades(client, frame.keys(), [view.sym_y, view.sym_x])
        if pm is None:
            st.info(
                "No live analytics for this pair in Redis yet (the cache keeps 60 s). The "
                "ingestion daemon publishes them every 5 s once it has data.",
                icon=":material/hourglass_empty:",
            )
        else:
            z = num(pm.get("zscore"))
            cols = st.columns(7)
            cols[0].metric(
                "z-score",
                fmt(z, "+.2f"),
                signal(z, view.entry, view.exit_),
                delta_color=signal_colour(z, view.entry),
                delta_arrow="off",
            )
            cols[1].metric("hedge ratio β", fmt(pm.get("hedge_ratio")))
            cols[2].metric("correlation ρ", fmt(pm.get("correlation"), ".3f"))
            cols[3].metric(
                "coint p-value",
                fmt(pm.get("coint_pvalue"), ".4f"),
                help="Engle-Granger p-value of the spread; below "
                f"{frame.settings.cointegration_pvalue:g} the pair looks cointegrated",
            )
            cols[4].metric("ADF p-value", fmt(pm.get("adf_pvalue"), ".4f"))
            hl = num(pm.get("half_life"))
            cols[5].metric(
                "half-life", duration(hl * frame.settings.analytics_bar_s) if hl == hl else "—"
            )
            cols[6].metric("observations", fmt(pm.get("n_obs"), ".0f"))
            age = pm.get("age_s")
            age_txt = f"computed {age:.0f} s ago" if age is not None else "age unknown"
            msg = f"{age_txt} · cycle {fmt(pm.get('compute_ms'), '.1f')} ms"
            if age is not None and age > STALE_S:
                st.warning(f"Live analytics are stale: {msg}", icon=":material/schedule:")
            else:
                st.caption(msg)
        for sym in (view.sym_y, view.sym_x):
            m, t = sm.get(sym), last.get(sym) or {}
            if m is None and not t:
                st.caption(f"**{sym}**: no live data yet")
                continue
            c = st.columns([1.5, 1.5, 1, 1, 1, 0.8, 0.8])
            c[0].metric(sym, fmt((m or {}).get("last_price", t.get("p")), ",.2f"))
            if m is None:
                c[1].caption("no live execution metrics yet")
                continue
            c[1].metric("VWAP", fmt(m.get("vwap"), ",.2f"))
            c[2].metric(
                "imbalance",
                fmt(m.get("imbalance"), "+.2f"),
                help="Aggressor (buy − sell) / total volume over the live window",
            )
            c[3].metric(
                "vol percentile",
                fmt(m.get("vol_percentile"), ".0f"),
                help="Realised-vol percentile within its own recent history",
            )
            c[4].metric(
                "vol ratio",
                fmt(m.get("vol_ratio"), ".2f"),
                help="Short / long realised volatility (spike detector)",
            )
            trend = {1: "up", -1: "down"}.get(int(num(m.get("trend_direction")) or 0), "none")
            c[5].metric("trend", trend)
            age = m.get("age_s")
            c[6].metric("age", f"{age:.0f} s" if age is not None else "—")


def candles_panel(bars: pd.DataFrame, symbols: list[str], title: str) -> None:
    """The candles: a static SVG on a session's first run, interactive Plotly after.

    Why: a fresh tab spends about a second loading Plotly.js before any Plotly chart
    draws; the SVG comes with the first script run and draws at once. The next run
    (the 5 s refresh, or any control change) swaps in the Plotly chart, whose
    Plotly.js the page's other charts have loaded meanwhile.
    """
    if st.session_state.get(FIRST_PAINT_DONE):
        st.plotly_chart(charts.candles(bars, symbols, title), key="candles")
        return
    st.session_state[FIRST_PAINT_DONE] = True
    # A Markdown image, not st.image or an <img> tag: Markdown's renderer is in
    # Streamlit's main bundle, while st.image and raw HTML (rehype-raw) are lazily
    # loaded and were seen waiting for Plotly.js's chunk in the same render batch.
    st.markdown(static_candles.markdown_image(bars, symbols, title))


@st.fragment(run_every=REFRESH_S)
def pair_panels(frame: Frame, view: PairView) -> None:
    """Candles, spread and z-score with bands, rolling hedge ratio and correlation."""
    with frame.guard("Pair charts"):
        bars = load_pair_bars(frame, view)
        if bars.empty:
            no_bars_message(view)
            return
        label = f"{view.pair} · {view.timeframe}"
        candles_panel(bars, [view.sym_y, view.sym_x], f"Prices · {label}")
        closes = bar_q.closes_wide(bars, [view.sym_y, view.sym_x])
        try:
            series = stat_q.pair_series(closes, view.sym_y, view.sym_x, view.zwin)
        except analytics.AnalyticsError as exc:
            st.info(
                f"Spread analytics need more data: {exc}. Lower the z-score window or widen "
                "the view.lookback.",
                icon=":material/hourglass_empty:",
            )
            download(
                "Download bars CSV",
                bars,
                f"bars_{view.sym_y}_{view.sym_x}_{view.timeframe}.csv",
                "dl_bars",
            )
            return
        f = series.frame
        z = float(f["zscore"].iloc[-1])
        c = st.columns(5)
        c[0].metric(
            "z-score (bars)",
            fmt(z, "+.2f"),
            signal(z, view.entry, view.exit_),
            delta_color=signal_colour(z, view.entry),
            delta_arrow="off",
        )
        c[1].metric("β (window OLS)", fmt(series.hedge.beta))
        c[2].metric("ρ (rolling)", fmt(f["correlation"].iloc[-1], ".3f"))
        c[3].metric("coint p (window)", fmt(series.coint_pvalue, ".4f"))
        c[4].metric("half-life (window)", duration(series.half_life_bars * view.bar_seconds))
        st.plotly_chart(
            charts.spread_zscore(f, view.entry, view.exit_, f"Spread and z-score · {label}"),
            key="spread",
        )
        left, right = st.columns(2)
        with left:
            st.plotly_chart(
                charts.hedge_ratio(f, series.hedge.beta, f"Rolling hedge ratio ({view.zwin} bars)"),
                key="hedge",
            )
        with right:
            st.plotly_chart(
                charts.correlation(f, f"Rolling return correlation ({view.zwin} bars)"), key="corr"
            )
        d1, d2 = st.columns(2)
        with d1:
            download(
                "Download pair series CSV",
                f.rename_axis("bucket"),
                f"pair_{view.sym_y}_{view.sym_x}_{view.timeframe}.csv",
                "dl_pair",
            )
        with d2:
            download(
                "Download bars CSV",
                bars,
                f"bars_{view.sym_y}_{view.sym_x}_{view.timeframe}.csv",
                "dl_bars",
            )


@st.fragment(run_every=REFRESH_S)
def symbol_panels(frame: Frame, view: PairView) -> None:
    """Per-leg VWAP, aggressor imbalance and volatility regime from the same bars."""
    with frame.guard("Symbol charts"):
        bars = load_pair_bars(frame, view)
        if bars.empty:
            no_bars_message(view)
            return
        frames = []
        for sym in (view.sym_y, view.sym_x):
            b = bars[bars["symbol"] == sym]
            if len(b) < 3:
                st.info(f"{sym}: not enough bars yet ({len(b)}).")
                continue
            s = stat_q.symbol_series(b, view.zwin)
            vol = s.frame["realized_vol"].dropna()
            bands = (
                (float(vol.quantile(0.25)), float(vol.quantile(0.75))) if len(vol) > 10 else None
            )
            regime = (
                f"{s.regime.label.upper()} vol regime · {s.regime.percentile:.0f}th percentile"
                if s.regime
                else "vol regime: not enough history"
            )
            st.markdown(
                f"**{sym}** · {regime} · last imbalance "
                f"{fmt(s.frame['imbalance'].iloc[-1], '+.2f')}"
            )
            st.plotly_chart(
                charts.symbol_panels(s.frame, f"{sym} · {view.timeframe}", bands, view.zwin),
                key=f"sym_{sym}",
            )
            frames.append(s.frame.assign(symbol=sym))
        if frames:
            download(
                "Download symbol series CSV",
                pd.concat(frames).rename_axis("bucket"),
                f"symbols_{view.sym_y}_{view.sym_x}_{view.timeframe}.csv",
                "dl_symbols",
            )


def render(frame: Frame, view: PairView) -> None:
    live_tiles(frame, view)
    # Lazy tabs: only the open tab's panels query, build figures and draw (and re-run
    # every REFRESH_S), so the first chart never waits for the hidden tab's two charts.
    tab_pair, tab_sym = st.tabs(["Pair", "Symbols"], key="live_tab", on_change="rerun")
    for tab, panels in ((tab_pair, pair_panels), (tab_sym, symbol_panels)):
        if tab.open is not False:  # None (untracked tabs): draw both, as before
            with tab:
                panels(frame, view)
