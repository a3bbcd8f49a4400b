"""Cross-asset page: return correlation heatmap of all symbols, lead-lag of one pair."""

from __future__ import annotations

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from frame import Frame

from quant_platform.analytics.errors import AnalyticsError
from quant_platform.analytics.lead_lag import correlation_matrix, lead_lag
from quant_platform.queries import research

TIMEFRAMES = ("1m", "5m", "1h")
WINDOWS = ("6h", "1d", "3d", "7d", "30d")


def lead_lag_figure(ll, x: str, y: str) -> go.Figure:
    colours = ["#d62728" if k == ll.best_lag else "#1f77b4" for k in ll.lags]
    fig = go.Figure(go.Bar(x=ll.lags, y=ll.corr, marker_color=colours, name="cross-correlation"))
    for sign in (1, -1):
        fig.add_hline(y=sign * ll.band, line_dash="dash", line_color="grey")
    fig.update_layout(
        title=f"corr(r_{x}[t], r_{y}[t+k]) — k > 0: {x} leads",
        xaxis_title="lag k (bars)",
        yaxis_title="correlation",
        height=360,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    return fig


def render(frame: Frame) -> None:
    st.header("Cross-asset")
    c1, c2 = st.columns(2)
    timeframe = c1.selectbox("timeframe", TIMEFRAMES, key="xa_tf")
    window = c2.selectbox("window", WINDOWS, index=1, key="xa_window")
    with frame.guard("cross-asset"):
        with frame.db() as conn:
            bars = research.load_bar_window(conn, None, timeframe, research.parse_duration(window))
        prices = bars.log_prices
        if prices.shape[1] < 2 or len(prices) < 40:
            st.info(
                f"Not enough {timeframe} bars in the last {window} (need two symbols and 40 bars): "
                "import history with `qp import` or let the feed run."
            )
            return
        corr = correlation_matrix(prices)
        fig = px.imshow(
            corr,
            zmin=-1,
            zmax=1,
            color_continuous_scale="RdBu_r",
            text_auto=".2f",
            title=f"Correlation of {timeframe} log returns, last {window}",
        )
        fig.update_layout(height=120 + 40 * len(corr), margin={"l": 10, "r": 10, "t": 50, "b": 10})
        st.plotly_chart(fig, width="stretch", key="xa_heatmap")
        st.subheader("Lead-lag")
        symbols = list(prices.columns)
        l1, l2, l3 = st.columns(3)
        x = l1.selectbox("leader candidate (x)", symbols, key="xa_x")
        y = l2.selectbox("follower candidate (y)", symbols, index=1, key="xa_y")
        k = l3.slider("± k bars", 1, 60, 10, key="xa_k")
        if x == y:
            st.info("Pick two different symbols.")
            return
        returns = prices.diff().iloc[1:]
        try:
            ll = lead_lag(returns[x].to_numpy(), returns[y].to_numpy(), k)
        except AnalyticsError as exc:
            st.info(f"Lead-lag not computable: {exc}")
            return
        st.plotly_chart(lead_lag_figure(ll, x, y), width="stretch", key="xa_leadlag")
        verdict = "significant" if ll.significant else "inside the band: no evidence of a lead"
        lead = (
            f"{x} leads {y} by {ll.best_lag} bar(s)"
            if ll.best_lag > 0
            else f"{y} leads {x} by {-ll.best_lag} bar(s)"
            if ll.best_lag < 0
            else "no lead (lag 0)"
        )
        st.metric("best lag", f"{ll.best_lag:+d} bars", help=lead)
        st.caption(
            f"Best lag {ll.best_lag:+d} ({lead}): corr {ll.best_corr:.3f}, 95 % band "
            f"±{ll.band:.3f} over {ll.n_obs} returns — {verdict}. "
            f"Lag 0 corr {float(ll.corr[np.where(ll.lags == 0)[0][0]]):.3f}."
        )
