"""Screener page: run a BH-controlled pair screen, filter, sort, export CSV, promote a pair."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pandas as pd
import streamlit as st
from frame import Frame, csv_bytes

from quant_platform.analytics.screener import ScreenConfig, screen_pairs
from quant_platform.queries import research

TIMEFRAMES = ("1m", "5m", "1h")
LOOKBACKS = ("1d", "3d", "7d", "14d", "30d")
COLUMNS = {
    "rank": "rank",
    "pair": "pair",
    "qvalue": "q",
    "pvalue": "p",
    "eg_pvalue_yx": "p (Y~X)",
    "eg_pvalue_xy": "p (X~Y)",
    "johansen_trace": "Johansen trace",
    "johansen_crit_95": "trace 95%",
    "hedge_ratio": "hedge ratio",
    "hedge_ratio_cv": "β CV",
    "half_life_s": "half-life (s)",
    "hurst": "Hurst",
    "mean_crossings": "crossings",
    "return_correlation": "return corr",
    "liquidity": "liquidity",
    "n_obs": "bars",
}


def run_screen(
    frame: Frame, symbols: list[str], timeframe: str, lookback: str, floor: float
) -> str:
    """Screen now and store it; returns its screen id."""
    with frame.db() as conn:
        window = research.load_bar_window(
            conn, symbols or None, timeframe, research.parse_duration(lookback)
        )
        result = screen_pairs(
            window.log_prices,
            window.quote_volume,
            ScreenConfig(
                min_quote_volume=floor, bar_seconds=float(research.interval_seconds(timeframe))
            ),
        )
        screen_id = f"dash-{datetime.now(UTC):%Y%m%dT%H%M%S}"
        research.save_screen(conn, screen_id, window, result)
    if result.excluded:
        st.info("Excluded: " + "; ".join(f"{s} ({why})" for s, why in result.excluded.items()))
    return screen_id


def _filtered(df: pd.DataFrame, max_q: float, min_liq: float, max_hl_s: float) -> pd.DataFrame:
    out = df[df["qvalue"] <= max_q]
    if min_liq > 0:
        out = out[out["liquidity"].fillna(0) >= min_liq]
    if max_hl_s > 0:
        out = out[out["half_life_s"].fillna(math.inf) <= max_hl_s]
    return out


def render(frame: Frame) -> None:
    st.header("Pair screener")
    st.caption(
        "Every pair of the universe: Engle-Granger both ways, Johansen trace, hedge ratio "
        "stability, half-life, Hurst, crossings, correlation, liquidity. q = Benjamini-Hochberg "
        "adjusted p across the universe: a q ≤ 0.05 cut keeps false discoveries near 5 %."
    )
    s = frame.settings
    with frame.guard("screener"):
        with frame.db() as conn:
            known = research.symbols_with_bars(
                conn, "1m", datetime.now(UTC) - research.parse_duration("30d")
            )
        options = sorted(set(known) | set(s.symbols))
        with st.form("screen_form"):
            c1, c2, c3, c4 = st.columns([3, 1, 1, 1])
            symbols = c1.multiselect(
                "universe (empty: every symbol with bars)",
                options,
                default=[x for x in s.symbols if x in options],
                key="scr_symbols",
            )
            timeframe = c2.selectbox("timeframe", TIMEFRAMES, key="scr_tf")
            lookback = c3.selectbox("lookback", LOOKBACKS, index=2, key="scr_lb")
            floor = c4.number_input(
                "liquidity floor", min_value=0.0, value=0.0, step=1000.0, key="scr_floor"
            )
            submitted = st.form_submit_button("Run screen")
        if submitted:
            with st.spinner("screening…"):
                st.session_state["scr_id"] = run_screen(frame, symbols, timeframe, lookback, floor)
        with frame.db() as conn:
            ids = research.screen_ids(conn)
            if not ids:
                st.info("No screens yet: run one above, `qp screen`, or the pair_screen asset.")
                return
            chosen = st.selectbox(
                "screen",
                ids,
                index=ids.index(st.session_state["scr_id"])
                if st.session_state.get("scr_id") in ids
                else 0,
                key="scr_pick",
            )
            df = research.load_screen(conn, chosen)
        if df.empty:
            st.info("This screen has no pairs (fewer than two symbols had enough bars).")
            return
        df["pair"] = df["symbol_y"] + "/" + df["symbol_x"]
        f1, f2, f3 = st.columns(3)
        max_q = f1.slider("max q", 0.0, 1.0, 1.0, 0.01, key="scr_maxq")
        min_liq = f2.number_input("min liquidity", min_value=0.0, value=0.0, key="scr_minliq")
        max_hl = f3.number_input(
            "max half-life (s, 0 = any)", min_value=0.0, value=0.0, key="scr_maxhl"
        )
        view = _filtered(df, max_q, min_liq, max_hl)
        n_disc = int((df["qvalue"] <= 0.05).sum())
        st.caption(
            f"{len(df)} pairs, {n_disc} at q ≤ 0.05 "
            f"(raw p ≤ 0.05: {int((df['pvalue'] <= 0.05).sum())})"
            f"; {df['bar_interval'].iloc[0]} bars "
            f"{pd.Timestamp(df['window_start'].iloc[0]):%Y-%m-%d %H:%M} .. "
            f"{pd.Timestamp(df['window_end'].iloc[0]):%Y-%m-%d %H:%M} UTC"
        )
        table = view[list(COLUMNS)].rename(columns=COLUMNS)
        st.dataframe(table, hide_index=True, width="stretch", key="scr_table")
        st.download_button(
            "Download CSV",
            csv_bytes(view[["pair", *[c for c in df.columns if c != "pair"]]]),
            file_name=f"pair_screen_{chosen}.csv",
            mime="text/csv",
            key="scr_csv",
        )
        if not view.empty:
            p1, p2 = st.columns([3, 1])
            pick = p1.selectbox("pair to promote", list(view["pair"]), key="scr_promote_pick")
            if p2.button("Promote to live", key="scr_promote"):
                y, x = pick.split("/")
                live = research.LivePairs(s.database_url, s.redis_url, s.redis_prefix)
                try:
                    live.promote(y, x, added_by="dashboard", screen_id=chosen)
                finally:
                    live.close()
                missing = [sym for sym in (y, x) if sym not in s.symbols]
                note = f" ({', '.join(missing)} not in the feed's QP_SYMBOLS)" if missing else ""
                st.success(f"Promoted {pick}: live analytics from the next cycle{note}.")
        _live_set(frame)


def _live_set(frame: Frame) -> None:
    s = frame.settings
    live = research.LivePairs(s.database_url, s.redis_url, s.redis_prefix)
    try:
        promoted = live.list()
        st.subheader("Live pair set")
        configured = ", ".join(f"{y}/{x}" for y, x in s.pair_list)
        st.caption(f"Configured (QP_PAIRS / all pairs of QP_SYMBOLS): {configured}")
        if promoted.empty:
            st.caption("No promoted pairs.")
            return
        for row in promoted.itertuples():
            c1, c2 = st.columns([4, 1])
            c1.write(
                f"{row.symbol_y}/{row.symbol_x} — by {row.added_by}, {row.added_at:%Y-%m-%d %H:%M}"
            )
            if c2.button("Remove", key=f"scr_rm_{row.symbol_y}_{row.symbol_x}"):
                live.demote(row.symbol_y, row.symbol_x)
                st.rerun()
    finally:
        live.close()
