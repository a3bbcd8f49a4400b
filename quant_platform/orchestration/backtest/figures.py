"""Equity-curve pictures for Dagster metadata and reports (no plotting server needed)."""

from __future__ import annotations

import base64
import html

import numpy as np

from quant_platform.analytics.backtest import BacktestResult


def equity_svg(result: BacktestResult, width: int = 640, height: int = 200) -> str:
    """The equity curve as a small SVG, entries marked (green long, red short spread)."""
    t = result.time_ms.astype(np.float64)
    e = result.equity
    if t.size < 2:
        return f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}'/>"
    step = max(1, t.size // width)
    ts, es = t[::step], e[::step]
    lo, hi = float(np.min(e)), float(np.max(e))
    span_e = hi - lo or 1.0
    span_t = float(t[-1] - t[0]) or 1.0

    def xy(tt: float, ee: float) -> tuple[float, float]:
        return (
            10 + (tt - t[0]) / span_t * (width - 20),
            10 + (hi - ee) / span_e * (height - 20),
        )

    pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(a, b) for a, b in zip(ts, es, strict=True)))
    marks = []
    idx = np.searchsorted(result.time_ms, [tr.entry_time_ms for tr in result.trades])
    for tr, i in zip(result.trades, idx, strict=True):
        x, y = xy(float(tr.entry_time_ms), float(e[min(int(i), e.size - 1)]))
        color = "#2a9d8f" if tr.side > 0 else "#e76f51"
        marks.append(f"<circle cx='{x:.1f}' cy='{y:.1f}' r='2.5' fill='{color}'/>")
    label = html.escape(f"equity {lo:,.2f} .. {hi:,.2f} USDT")
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}'>"
        f"<rect width='100%' height='100%' fill='white'/>"
        f"<polyline fill='none' stroke='#264653' stroke-width='1.2' points='{pts}'/>"
        + "".join(marks)
        + f"<text x='12' y='{height - 4}' font-size='11' font-family='sans-serif'>{label}</text>"
        "</svg>"
    )


def equity_markdown_image(result: BacktestResult) -> str:
    """Markdown image with the SVG inline as a data URI (Dagster renders it in metadata)."""
    b64 = base64.b64encode(equity_svg(result).encode()).decode()
    return f"![equity](data:image/svg+xml;base64,{b64})"
