"""The live page's first paint: the pair's candles as a server-drawn SVG image.

Why: a fresh browser tab needs about a second to load and compile Plotly.js (a
4.7 MB chunk) before any Plotly chart can draw, which alone put the first chart
past the 2 s target (docs/benchmarks.md). An SVG built here is part of the first
script run's message and draws as a Markdown image at once; the page's interactive
Plotly candles replace it on the panel's next refresh, by which time the other
charts have loaded Plotly.js. Same panels, colours and shared time axis as
`charts.candles`; candles narrower than a pixel are merged (OHLC of each group),
so the image never carries more candles than it has pixels.

Each panel's `<g>` carries its scale (`data-lo`/`data-hi` prices at
`data-bottom`/`data-top` pixels, `data-t0`/`data-t1` epoch seconds at
`data-left`/`data-right`), so a test can read the drawn prices back off the picture.
"""

from __future__ import annotations

import base64
import math
from html import escape

import numpy as np
import pandas as pd

UP, DOWN = "#3d9970", "#ff4136"  # Plotly's candlestick defaults
WIDTH = 1200
PANEL_H = 245
TOP, LEFT, RIGHT, GAP, BOTTOM = 50, 70, 10, 34, 26
_TICK_STEPS_S = (60, 300, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)
FIRST_PAINT_PREFIX = "data:image/svg+xml;base64,"  # how a page finds the first paint
_FONT = 'font-family="Open Sans, Arial, sans-serif"'


def merge_candles(bars: pd.DataFrame, max_candles: int) -> pd.DataFrame:
    """Merge consecutive bars into groups so at most `max_candles` remain (OHLC of each group).

    Raises:
        ValueError: if `max_candles` < 1.
    """
    if max_candles < 1:
        raise ValueError(f"max_candles must be >= 1, got {max_candles}")
    n = len(bars)
    if n <= max_candles:
        return bars[["bucket", "open", "high", "low", "close"]].reset_index(drop=True)
    group = np.arange(n) // math.ceil(n / max_candles)
    g = bars.reset_index(drop=True).groupby(group)
    return pd.DataFrame(
        {
            "bucket": g["bucket"].first(),
            "open": g["open"].first(),
            "high": g["high"].max(),
            "low": g["low"].min(),
            "close": g["close"].last(),
        }
    ).reset_index(drop=True)


def _nice_step(span: float, ticks: int = 5) -> float:
    raw = span / ticks if span > 0 else 1.0
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)


def _price_label(v: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return f"{v:,.{decimals}f}"


def _time_ticks(t0: float, t1: float) -> list[tuple[float, str]]:
    step = next((s for s in _TICK_STEPS_S if (t1 - t0) / s <= 8), _TICK_STEPS_S[-1])
    first = math.ceil(t0 / step) * step
    out = []
    for t in np.arange(first, t1 + 1e-9, step):
        ts = pd.Timestamp(float(t), unit="s", tz="UTC")
        fmt = "%b %d" if step >= 86400 or (ts.hour == 0 and ts.minute == 0) else "%H:%M"
        out.append((float(t), ts.strftime(fmt)))
    return out


def _panel(
    bars: pd.DataFrame, symbol: str, top: float, t0: float, t1: float, px_per_s: float
) -> list[str]:
    """One symbol's candles, y grid and labels between `top` and `top + PANEL_H`."""
    plot_w = WIDTH - LEFT - RIGHT
    bottom = top + PANEL_H
    lo, hi = float(bars["low"].min()), float(bars["high"].max())
    pad = (hi - lo) * 0.05 or abs(hi) * 0.001 or 1.0
    lo, hi = lo - pad, hi + pad

    def y(v: np.ndarray) -> np.ndarray:
        return bottom - (v - lo) / (hi - lo) * PANEL_H

    out = [
        f'<g class="panel" data-symbol="{escape(symbol)}" data-lo="{lo!r}" data-hi="{hi!r}" '
        f'data-top="{top}" data-bottom="{bottom}" data-t0="{t0!r}" data-t1="{t1!r}" '
        f'data-left="{LEFT}" data-right="{WIDTH - RIGHT}">',
        f'<text x="{LEFT + plot_w / 2}" y="{top - 8}" text-anchor="middle" font-size="15" '
        f'{_FONT} fill="#31333f">{escape(symbol)}</text>',
        f'<rect x="{LEFT}" y="{top}" width="{plot_w}" height="{PANEL_H}" fill="#e5ecf6"/>',
    ]
    step = _nice_step(hi - lo)
    for v in np.arange(math.ceil(lo / step) * step, hi, step):
        yy = float(y(np.array(v)))
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{yy:.2f}" y2="{yy:.2f}" '
            'stroke="#fff" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{LEFT - 6}" y="{yy + 4:.2f}" text-anchor="end" font-size="12" '
            f'{_FONT} fill="#444">{_price_label(float(v), step)}</text>'
        )
    secs = bars["bucket"].map(pd.Timestamp.timestamp).to_numpy(float)
    width_s = (t1 - t0) / max(len(bars), 1)
    cx = LEFT + (secs + width_s / 2 - t0) * px_per_s
    body_w = max(width_s * px_per_s * 0.7, 0.6)
    o, h, lw, c = (y(bars[k].to_numpy(float)) for k in ("open", "high", "low", "close"))
    up = bars["close"].to_numpy(float) >= bars["open"].to_numpy(float)
    for colour, mask in ((UP, up), (DOWN, ~up)):
        wicks = "".join(
            f"M{x:.2f} {a:.2f}V{b:.2f}" for x, a, b in zip(cx[mask], h[mask], lw[mask], strict=True)
        )
        out.append(f'<path class="wick" d="{wicks}" stroke="{colour}" stroke-width="1"/>')
        bodies = "".join(
            f"M{x - body_w / 2:.2f} {min(a, b):.2f}h{body_w:.2f}V{max(a, b):.2f}h{-body_w:.2f}Z"
            for x, a, b in zip(cx[mask], o[mask], c[mask], strict=True)
        )
        out.append(
            f'<path class="body" d="{bodies}" fill="{colour}" stroke="{colour}" '
            'stroke-width="0.5"/>'
        )
    out.append("</g>")
    return out


def candles_svg(bars: pd.DataFrame, symbols: list[str], title: str) -> str:
    """One candlestick panel per leg on a shared UTC time axis, as an SVG document.

    Raises:
        ValueError: if `bars` has none of `symbols`.
    """
    legs = {s: bars[bars["symbol"] == s] for s in symbols}
    legs = {s: b for s, b in legs.items() if not b.empty}
    if not legs:
        raise ValueError(f"no bars for {', '.join(symbols)}")
    plot_w = WIDTH - LEFT - RIGHT
    secs = pd.concat(legs.values())["bucket"].map(pd.Timestamp.timestamp)
    n = max(len(b) for b in legs.values())
    bar_s = (secs.max() - secs.min()) / max(n - 1, 1) or 60.0
    t0, t1 = float(secs.min()), float(secs.max() + bar_s)
    px_per_s = plot_w / (t1 - t0)
    height = TOP + len(legs) * (PANEL_H + GAP) + BOTTOM - GAP
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}">',
        f'<rect width="{WIDTH}" height="{height}" fill="#fff"/>',
        f'<text x="12" y="26" font-size="17" {_FONT} fill="#31333f">{escape(title)}</text>',
    ]
    top = TOP
    for sym, b in legs.items():
        parts += _panel(merge_candles(b, plot_w // 2), sym, top, t0, t1, px_per_s)
        top += PANEL_H + GAP
    axis_y = top - GAP
    for t, label in _time_ticks(t0, t1):
        x = LEFT + (t - t0) * px_per_s
        parts.append(
            f'<text x="{x:.2f}" y="{axis_y + 17}" text-anchor="middle" font-size="12" '
            f'{_FONT} fill="#444">{label}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def markdown_image(bars: pd.DataFrame, symbols: list[str], title: str) -> str:
    """`candles_svg` as a Markdown image with a data URI, alt text = `title`.

    Why Markdown image syntax and not an `<img>` tag: raw HTML needs Streamlit's
    rehype-raw chunk, a lazy load that held the image back with the Plotly charts
    of the same render batch (seen: message at 1.2 s, image shown at 6.0 s).

    Raises:
        ValueError: if `bars` has none of `symbols`.
    """
    data = base64.b64encode(candles_svg(bars, symbols, title).encode()).decode()
    alt = title.replace("[", "(").replace("]", ")")
    return f"![{alt}]({FIRST_PAINT_PREFIX}{data})"
