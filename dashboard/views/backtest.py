"""Backtest page: one pair on stored bars and funding, equity with trades, sweep, walk-forward.

Everything is computed by `quant_platform.analytics.backtest` on the bars
`quant_platform.queries.backtest` loads: the same numbers as `qp backtest`.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from frame import Frame, csv_bytes

from quant_platform.analytics.backtest import (
    BacktestError,
    BacktestParams,
    BacktestResult,
    backtest,
    sweep,
    walk_forward,
)
from quant_platform.queries.backtest import NoBarsError, load_pair_bars, parse_pair

TIMEFRAMES = ("1m", "5m", "1h")


def _floats(text: str, what: str) -> list[float]:
    try:
        vals = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not a comma-separated list of numbers") from None
    if not vals:
        raise ValueError(f"{what}: give at least one number")
    return vals


def equity_figure(result: BacktestResult) -> go.Figure:
    """Equity curve with entries (triangles: up = long spread, down = short) and exits."""
    t = pd.to_datetime(result.time_ms, unit="ms", utc=True)
    fig = go.Figure(go.Scatter(x=t, y=result.equity, name="equity", line={"width": 1.4}))
    if result.trades:
        tr = result.trades_frame()
        at = np.searchsorted(result.time_ms, tr["entry_time_ms"].to_numpy())
        out = np.searchsorted(result.time_ms, tr["exit_time_ms"].to_numpy())
        for side, name, symbol, color in (
            (1, "enter long spread", "triangle-up", "#2a9d8f"),
            (-1, "enter short spread", "triangle-down", "#e76f51"),
        ):
            m = (tr["side"] == side).to_numpy()
            fig.add_trace(
                go.Scatter(
                    x=tr.loc[m, "entry_time"],
                    y=result.equity[at[m]],
                    mode="markers",
                    name=name,
                    marker={"symbol": symbol, "size": 9, "color": color},
                )
            )
        fig.add_trace(
            go.Scatter(
                x=tr["exit_time"],
                y=result.equity[out],
                mode="markers",
                name="exit",
                marker={"symbol": "x", "size": 7, "color": "#555"},
            )
        )
    fig.update_layout(title="Equity (USDT)", height=380, margin={"t": 40, "b": 20})
    return fig


def heatmap(z: np.ndarray, entries: np.ndarray, exits: np.ndarray, title: str) -> go.Figure:
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"{v:g}" for v in exits],
            y=[f"{v:g}" for v in entries],
            colorscale="RdYlGn",
            zmid=0.0,
            hovertemplate="entry %{y}, exit %{x}: %{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=title, xaxis_title="exit |z|", yaxis_title="entry |z|", height=360, margin={"t": 40}
    )
    return fig


def _fmt(v: float, pct: bool = False) -> str:
    if not math.isfinite(v):
        return "n/a"
    return f"{v:.2%}" if pct else f"{v:,.2f}"


def render(frame: Frame) -> None:
    st.subheader("Backtest a pair")
    st.caption(
        "z-score entry/exit on a hedge estimated only from earlier bars; taker fees, "
        "slippage and funding on both legs at the venue's funding times."
    )
    pairs = [f"{y}/{x}" for y, x in frame.settings.pair_list]
    today = datetime.now(UTC).date()
    with st.form("bt_form"):
        c1, c2, c3, c4 = st.columns(4)
        pair_text = c1.text_input("Pair (Y/X)", value=pairs[0] if pairs else "", key="bt_pair")
        start = c2.date_input("From (UTC)", value=today - timedelta(days=7), key="bt_from")
        end = c3.date_input("To (UTC, inclusive)", value=today, key="bt_to")
        timeframe = c4.selectbox("Timeframe", TIMEFRAMES, key="bt_tf")
        c1, c2, c3, c4 = st.columns(4)
        entry = c1.number_input("Entry |z|", 0.1, 10.0, 2.0, 0.1, key="bt_entry")
        exit_ = c2.number_input("Exit |z|", 0.0, 10.0, 0.5, 0.1, key="bt_exit")
        stop = c3.number_input("Stop |z| (0 = none)", 0.0, 20.0, 0.0, 0.5, key="bt_stop")
        lookback = c4.number_input("Lookback (bars)", 10, 10_000, 120, 10, key="bt_lookback")
        c1, c2, c3, c4 = st.columns(4)
        hedge = c1.selectbox("Hedge", ("rolling", "expanding", "kalman"), key="bt_hedge")
        neutrality = c2.selectbox("Sizing", ("dollar", "beta"), key="bt_neutral")
        notional = c3.number_input("Notional on Y (USDT)", 10.0, 1e8, 10_000.0, key="bt_notional")
        fee = c4.number_input("Taker fee (bps)", 0.0, 50.0, 5.0, 0.5, key="bt_fee")
        c1, c2, c3 = st.columns(3)
        slip = c1.number_input("Slippage (bps)", 0.0, 100.0, 1.0, 0.5, key="bt_slip")
        sweep_entries = c2.text_input("Sweep entries", "1.5,2,2.5,3", key="bt_sw_entry")
        sweep_exits = c3.text_input("Sweep exits", "0,0.25,0.5,1", key="bt_sw_exit")
        submitted = st.form_submit_button("Run backtest")
    if submitted:
        try:
            pair = parse_pair(pair_text)
            params = BacktestParams(
                entry=float(entry),
                exit=float(exit_),
                stop=float(stop) if stop > 0 else None,
                lookback=int(lookback),
                hedge=hedge,
                neutrality=neutrality,
                notional=float(notional),
                taker_fee_bps=float(fee),
                slippage_bps=float(slip),
            ).validate()
            entries = _floats(sweep_entries, "Sweep entries")
            exits = _floats(sweep_exits, "Sweep exits")
        except (ValueError, BacktestError) as exc:
            st.error(str(exc))
            return
        t0 = datetime.combine(start, time(), UTC) if isinstance(start, date) else start
        t1 = datetime.combine(end, time(), UTC) + timedelta(days=1)
        with frame.guard("Backtest"):
            with frame.db() as conn:
                try:
                    bars = load_pair_bars(conn, pair, timeframe, t0, t1)
                except NoBarsError as exc:
                    msg = str(exc)
                    st.info(msg[:1].upper() + msg[1:])
                    st.session_state.pop("bt_result", None)
                    return
            result = backtest(bars, params)
            grid = sweep(bars, params, entries, exits)
            try:
                folds = walk_forward(bars, params, entries, exits, n_windows=4)
            except BacktestError:
                folds = []
            st.session_state["bt_result"] = (pair.name, result, grid, folds)
    saved = st.session_state.get("bt_result")
    if saved is None:
        st.info("Choose a pair and a span, then run the backtest.")
        return
    name, result, grid, folds = saved
    m = result.metrics
    st.markdown(f"**{name}** · {m.n_bars:,} bars · {m.n_trades} trades")
    cols = st.columns(6)
    cols[0].metric("Net P&L (USDT)", _fmt(m.net_pnl))
    cols[1].metric("Return", _fmt(m.total_return, pct=True))
    cols[2].metric("Sharpe", _fmt(m.sharpe))
    cols[3].metric("Max drawdown", _fmt(m.max_drawdown, pct=True))
    cols[4].metric("Hit rate", _fmt(m.hit_rate, pct=True))
    cols[5].metric("Turnover (x)", _fmt(m.turnover))
    st.dataframe(
        pd.DataFrame(
            {
                "component": ["gross P&L", "fees", "slippage", "funding", "net P&L"],
                "USDT": [m.gross_pnl, -m.fees, -m.slippage, -m.funding, m.net_pnl],
            }
        ),
        hide_index=True,
    )
    st.plotly_chart(equity_figure(result), use_container_width=True)
    c1, c2 = st.columns(2)
    c1.plotly_chart(
        heatmap(grid.sharpe[0], grid.entries, grid.exits, "Sweep: Sharpe"),
        use_container_width=True,
    )
    c2.plotly_chart(
        heatmap(grid.net_pnl[0], grid.entries, grid.exits, "Sweep: net P&L (USDT)"),
        use_container_width=True,
    )
    if folds:
        st.markdown("**Walk-forward** (chosen on one window by Sharpe, scored on the next)")
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "in-sample from": pd.to_datetime(f.is_start_ms, unit="ms", utc=True),
                        "out-of-sample to": pd.to_datetime(f.oos_end_ms, unit="ms", utc=True),
                        "entry": f.entry,
                        "exit": f.exit,
                        "Sharpe in-sample": f.is_sharpe,
                        "Sharpe out-of-sample": f.oos_sharpe,
                        "P&L in-sample": f.is_net_pnl,
                        "P&L out-of-sample": f.oos_net_pnl,
                    }
                    for f in folds
                ]
            ),
            hide_index=True,
        )
    trades = result.trades_frame()
    st.dataframe(trades.drop(columns=["entry_time_ms", "exit_time_ms"]), hide_index=True)
    d1, d2 = st.columns(2)
    d1.download_button(
        "Trades CSV", csv_bytes(trades), f"trades_{name.replace('/', '-')}.csv", key="bt_dl_trades"
    )
    d2.download_button(
        "Equity CSV",
        csv_bytes(result.equity_frame()),
        f"equity_{name.replace('/', '-')}.csv",
        key="bt_dl_equity",
    )
