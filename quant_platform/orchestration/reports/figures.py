"""Plotly figures of one day, from plain DataFrames (no I/O), for the daily report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from quant_platform import analytics

ZSCORE_WINDOW = 60  # bars (1 hour of 1m bars) for the rolling spread bands
CORR_WINDOW = 60
Z_BANDS = (1.0, 2.0)


def prices_figure(closes: pd.DataFrame) -> go.Figure:
    """1m closes rebased to 100 at each symbol's first bar, so all fit one axis."""
    fig = go.Figure()
    for symbol in closes.columns:
        s = closes[symbol].dropna()
        if not s.empty:
            fig.add_trace(go.Scatter(x=s.index, y=100 * s / s.iloc[0], name=symbol, mode="lines"))
    fig.update_layout(title="Prices (1m close, rebased to 100)", yaxis_title="index")
    return fig


def pair_spread(closes: pd.DataFrame, y: str, x: str) -> pd.DataFrame | None:
    """Log spread of y ~ x over the day with its rolling mean/std; None if too little data."""
    pair = closes[[y, x]].dropna()
    if len(pair) < max(ZSCORE_WINDOW, 30):
        return None
    ly, lx = np.log(pair[y].to_numpy()), np.log(pair[x].to_numpy())
    try:
        hr = analytics.hedge_ratio(ly, lx)
    except analytics.AnalyticsError:
        return None
    spread = pd.Series(ly - hr.beta * lx - hr.alpha, index=pair.index)
    mean = spread.rolling(ZSCORE_WINDOW).mean()
    std = spread.rolling(ZSCORE_WINDOW).std()
    return pd.DataFrame({"spread": spread, "mean": mean, "std": std, "beta": hr.beta})


def spreads_figure(spreads: dict[str, pd.DataFrame]) -> go.Figure:
    """Each pair's spread with its rolling mean and ±1/±2 sigma (z) bands."""
    names = list(spreads) or ["(no pairs with enough bars)"]
    fig = make_subplots(rows=len(names), cols=1, shared_xaxes=True, subplot_titles=names)
    for row, name in enumerate(spreads, start=1):
        d = spreads[name]
        fig.add_trace(
            go.Scatter(
                x=d.index, y=d["spread"], name=f"{name} spread", mode="lines", line={"width": 1}
            ),
            row=row,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=d.index, y=d["mean"], name=f"{name} mean", mode="lines", line={"dash": "dot"}
            ),
            row=row,
            col=1,
        )
        for k in Z_BANDS:
            for sign in (1, -1):
                fig.add_trace(
                    go.Scatter(
                        x=d.index,
                        y=d["mean"] + sign * k * d["std"],
                        name=f"{name} {sign * k:+g}σ",
                        mode="lines",
                        line={"width": 0.8, "dash": "dash"},
                        showlegend=False,
                    ),
                    row=row,
                    col=1,
                )
    fig.update_layout(
        title=f"Spreads (log, OLS hedge) with z-bands ±{Z_BANDS[0]:g}σ/±{Z_BANDS[1]:g}σ, "
        f"{ZSCORE_WINDOW}-bar rolling",
        height=max(300, 220 * len(names)),
    )
    return fig


def correlation_figure(closes: pd.DataFrame, pairs: list[tuple[str, str]]) -> go.Figure:
    """Rolling correlation of 1m log returns per pair."""
    fig = go.Figure()
    rets = np.log(closes).diff()
    for y, x in pairs:
        if y in rets and x in rets and rets[[y, x]].dropna().shape[0] > CORR_WINDOW:
            corr = rets[y].rolling(CORR_WINDOW).corr(rets[x])
            fig.add_trace(go.Scatter(x=corr.index, y=corr, name=f"{y}/{x}", mode="lines"))
    fig.update_layout(
        title=f"Rolling correlation of 1m log returns ({CORR_WINDOW} bars)",
        yaxis={"range": [-1, 1]},
    )
    return fig


def pvalue_figure(stats: pd.DataFrame, level: float) -> go.Figure:
    """Batch Engle-Granger p-values through the day, with the alert level."""
    fig = go.Figure()
    if not stats.empty:
        batch = stats[stats["source"] == "batch"]
        for (y, x), g in batch.groupby(["symbol_y", "symbol_x"]):
            fig.add_trace(
                go.Scatter(x=g["time"], y=g["eg_pvalue"], name=f"{y}/{x}", mode="lines+markers")
            )
    fig.add_hline(y=level, line_dash="dash", annotation_text=f"level {level:g}")
    fig.update_layout(
        title="Cointegration p-values (Engle-Granger, batch)", yaxis={"range": [0, 1]}
    )
    return fig


def alerts_figure(alerts: pd.DataFrame) -> go.Figure:
    """Alert events per hour, stacked by severity."""
    fig = go.Figure()
    if not alerts.empty:
        for severity, g in alerts.groupby("severity"):
            fig.add_trace(go.Bar(x=g["hour"], y=g["n"], name=str(severity)))
    fig.update_layout(title="Alert events per hour", barmode="stack", yaxis_title="events")
    return fig
