"""Put trades of several symbols on one clock so pair statistics compare like with like."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from quant_platform.analytics.errors import AnalyticsError

__all__ = ["align_bars"]


def _as_utc(t: pd.Series) -> pd.DatetimeIndex:
    if pd.api.types.is_datetime64_any_dtype(t):
        idx = pd.DatetimeIndex(t)
        return idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
    if pd.api.types.is_integer_dtype(t):  # exchange trade time, epoch milliseconds
        return pd.to_datetime(t.to_numpy(), unit="ms", utc=True)
    raise AnalyticsError(f"time column must be datetime64 or int epoch ms, got {t.dtype}")


def align_bars(
    trades_by_symbol: Mapping[str, pd.DataFrame],
    freq: str = "1s",
    ffill_limit: int | None = 60,
) -> pd.DataFrame:
    """Last traded price per symbol on a common UTC clock of `freq` bars.

    Bar [t, t+freq) is labelled t (pandas ``resample`` convention) and holds the
    last trade's price in it; trades with equal timestamps keep input order, so
    the later one wins. The clock spans the earliest to the latest bar over all
    symbols. Empty bars carry the previous price forward for at most
    `ffill_limit` bars (None: unlimited): a stale price beyond that is a
    missing observation (NaN), not a zero return that would fake low
    volatility and high correlation. Bars before a symbol's first trade are NaN.

    Each DataFrame needs columns ``time`` (datetime64, naive taken as UTC, or int
    epoch ms), ``price`` and ``qty``; rows with a non-finite or non-positive price
    are dropped. Returns a DataFrame indexed by a ``DatetimeIndex`` (UTC), one float
    column per symbol (input order).

    Raises:
        AnalyticsError: no symbols, no valid trades, a missing column, a bad `freq`
            or a negative `ffill_limit`.
    """
    if not trades_by_symbol:
        raise AnalyticsError("align_bars: no symbols given")
    if ffill_limit is not None and ffill_limit < 0:
        raise AnalyticsError("ffill_limit must be >= 0 or None")
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
    except ValueError as exc:
        raise AnalyticsError(f"freq: {exc}") from exc
    last: dict[str, pd.Series] = {}
    for sym, df in trades_by_symbol.items():
        missing = {"time", "price", "qty"} - set(df.columns)
        if missing:
            raise AnalyticsError(f"{sym}: missing column(s) {sorted(missing)}")
        price = pd.to_numeric(df["price"], errors="coerce").to_numpy(dtype=np.float64)
        ok = np.isfinite(price) & (price > 0)
        times = _as_utc(df["time"])[ok]
        if times.size == 0:
            last[sym] = pd.Series(dtype=np.float64)
            continue
        order = np.argsort(times.asi8, kind="stable")
        s = pd.Series(price[ok][order], index=times[order].floor(offset))
        last[sym] = s.groupby(level=0, sort=True).last()
    starts = [s.index[0] for s in last.values() if len(s)]
    if not starts:
        raise AnalyticsError("align_bars: no valid trades for any symbol")
    ends = [s.index[-1] for s in last.values() if len(s)]
    clock = pd.date_range(min(starts), max(ends), freq=offset, tz="UTC", name="time")
    out = pd.DataFrame({sym: s.reindex(clock) for sym, s in last.items()}, index=clock)
    return out.ffill(limit=ffill_limit) if ffill_limit != 0 else out
