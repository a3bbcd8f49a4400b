"""Plotly figures for the dashboard: pure functions from frames to figures, no I/O.

Kept apart from the page so the layout reads as a list of panels and each
figure's styling (bands, colours, shared axes) lives in one place.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

ENTRY_COLOUR = "#d62728"
EXIT_COLOUR = "#2ca02c"
SOURCE_COLOURS = {"live": "#1f77b4", "batch": "#ff7f0e"}
_MARGIN = {"l": 10, "r": 10, "t": 50, "b": 10}


def _layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01},
        height=height,
        margin=_MARGIN,
        hovermode="x unified",
        legend={"orientation": "h", "y": -0.06, "x": 0, "xanchor": "left", "yanchor": "top"},
    )
    return fig


def candles(bars: pd.DataFrame, symbols: list[str], title: str) -> go.Figure:
    """One candlestick panel per leg on a shared time axis (bars: long frame)."""
    fig = make_subplots(
        rows=len(symbols), cols=1, shared_xaxes=True, vertical_spacing=0.04, subplot_titles=symbols
    )
    for i, sym in enumerate(symbols, start=1):
        b = bars[bars["symbol"] == sym]
        fig.add_trace(
            go.Candlestick(
                x=b["bucket"],
                open=b["open"],
                high=b["high"],
                low=b["low"],
                close=b["close"],
                name=sym,
                showlegend=False,
            ),
            row=i,
            col=1,
        )
        fig.update_xaxes(rangeslider_visible=False, row=i, col=1)
    return _layout(fig, title, 260 * len(symbols))


def spread_zscore(frame: pd.DataFrame, entry: float, exit_: float, title: str) -> go.Figure:
    """Spread above, rolling z-score below with ±entry and ±exit bands."""
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.06,
        subplot_titles=("spread (log y − β log x − α)", "z-score"),
    )
    fig.add_trace(
        go.Scatter(x=frame.index, y=frame["spread"], name="spread", line={"color": "#636efa"}),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(x=frame.index, y=frame["zscore"], name="z-score", line={"color": "#222"}),
        row=2,
        col=1,
    )
    for level, colour, dash, label in (
        (entry, ENTRY_COLOUR, "dash", "entry"),
        (exit_, EXIT_COLOUR, "dot", "exit"),
    ):
        for sign in (1, -1):
            fig.add_hline(
                y=sign * level,
                line={"color": colour, "dash": dash, "width": 1},
                annotation_text=f"{label} {sign * level:+g}",
                annotation_position="top left" if sign > 0 else "bottom left",
                row=2,
                col=1,
            )
    fig.add_hline(y=0, line={"color": "#999", "width": 1}, row=2, col=1)
    return _layout(fig, title, 460)


def hedge_ratio(frame: pd.DataFrame, static_beta: float, title: str) -> go.Figure:
    """Rolling OLS beta against the static beta used for the spread."""
    fig = go.Figure(go.Scatter(x=frame.index, y=frame["rolling_beta"], name="rolling β"))
    fig.add_hline(
        y=static_beta,
        line={"color": "#999", "dash": "dash"},
        annotation_text=f"window β {static_beta:.4f}",
        annotation_position="top left",
    )
    return _layout(fig, title, 300)


def correlation(frame: pd.DataFrame, title: str) -> go.Figure:
    """Rolling Pearson correlation of log returns, on a fixed [-1, 1] axis."""
    fig = go.Figure(
        go.Scatter(x=frame.index, y=frame["correlation"], name="ρ", line={"color": "#00a087"})
    )
    fig.update_yaxes(range=[-1.05, 1.05])
    return _layout(fig, title, 300)


def stationarity(history: pd.DataFrame, pvalue_line: float, title: str) -> go.Figure:
    """ADF and Engle-Granger p-values (log axis) and half-life, per source (live/batch)."""
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        subplot_titles=(
            f"ADF / Engle-Granger p-value (log scale; dashed: p = {pvalue_line:g})",
            "half-life (bars)",
        ),
    )
    for source, g in history.groupby("source"):
        colour = SOURCE_COLOURS.get(str(source))
        fig.add_trace(
            go.Scatter(
                x=g["time"],
                y=g["adf_pvalue"],
                name=f"ADF p ({source})",
                mode="lines+markers",
                line={"color": colour},
            ),
            row=1,
            col=1,
        )
        if g["eg_pvalue"].notna().any():
            fig.add_trace(
                go.Scatter(
                    x=g["time"],
                    y=g["eg_pvalue"],
                    name=f"EG p ({source})",
                    mode="lines+markers",
                    line={"color": colour, "dash": "dot"},
                ),
                row=1,
                col=1,
            )
        hl = g["half_life"].where(g["half_life"].map(lambda v: math.isfinite(v)))
        fig.add_trace(
            go.Scatter(
                x=g["time"],
                y=hl,
                name=f"half-life ({source})",
                mode="lines+markers",
                line={"color": colour},
            ),
            row=2,
            col=1,
        )
    # no hline annotation: plotly places it in linear units on a log axis
    fig.add_hline(y=pvalue_line, line={"color": ENTRY_COLOUR, "dash": "dash"}, row=1, col=1)
    fig.update_yaxes(type="log", dtick=1, exponentformat="power", row=1, col=1)
    return _layout(fig, title, 480)


def symbol_panels(
    frame: pd.DataFrame, symbol: str, low_high: tuple[float, float] | None, window: int
) -> go.Figure:
    """Close vs rolling VWAP, aggressor imbalance, realised vol with regime bands."""
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.06,
        row_heights=[0.45, 0.25, 0.3],
        subplot_titles=(
            f"close vs rolling VWAP ({window} bars)",
            f"aggressor imbalance (buy − sell) / total: per bar, rolling {window}",
            "realised volatility (log returns)",
        ),
    )
    fig.add_trace(go.Scatter(x=frame.index, y=frame["close"], name="close"), row=1, col=1)
    fig.add_trace(
        go.Scatter(x=frame.index, y=frame["rolling_vwap"], name="VWAP", line={"dash": "dot"}),
        row=1,
        col=1,
    )
    imb = frame["bar_imbalance"]
    fig.add_trace(
        go.Bar(
            x=frame.index,
            y=imb,
            name="per bar",
            opacity=0.6,
            marker_color=["#2ca02c" if v >= 0 else "#d62728" for v in imb.fillna(0)],
        ),
        row=2,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=frame.index, y=frame["imbalance"], name="rolling imbalance", line={"color": "#333"}
        ),
        row=2,
        col=1,
    )
    fig.update_yaxes(range=[-1.05, 1.05], row=2, col=1)
    fig.add_trace(
        go.Scatter(
            x=frame.index, y=frame["realized_vol"], name="realised vol", line={"color": "#9467bd"}
        ),
        row=3,
        col=1,
    )
    if low_high is not None:
        lo, hi = low_high
        fig.add_hrect(
            y0=hi,
            y1=max(hi, float(frame["realized_vol"].max())),
            fillcolor=ENTRY_COLOUR,
            opacity=0.08,
            line_width=0,
            row=3,
            col=1,
        )
        fig.add_hrect(y0=0, y1=lo, fillcolor=EXIT_COLOUR, opacity=0.08, line_width=0, row=3, col=1)
    return _layout(fig, symbol, 580)
