"""Pair backtest on USD-M perpetual bars: z-score rules, causal hedge, fees, slippage, funding.

Pure numpy, no I/O: the caller hands in aligned bars (and funding history) and
gets back trades, the equity curve and metrics. The model, bar by bar:

* **Hedge.** log y_t = alpha + beta log x_t. The (alpha, beta) used at bar t is
  estimated from bars strictly before t: trailing-window OLS (``"rolling"``),
  all bars so far (``"expanding"``) or the filtered Kalman state (``"kalman"``),
  each from :mod:`.regression` and shifted by one bar.
* **Signal.** spread s_t = log y_t - beta_{t-1} log x_t - alpha_{t-1};
  z_t = (s_t - mean) / std over the trailing ``lookback`` spreads including s_t.
  So everything known at bar t's close uses data at or before t: no look-ahead.
* **Rules.** Flat: enter short spread (sell y, buy x) when z crosses up through
  +entry (z_{t-1} < entry <= z_t), long spread when it crosses down through -entry.
  Long: exit when z >= -exit, stop when z <= -stop; short symmetric. A position
  held ``max_hold_bars`` bars is closed. Fills are at the signal bar's close (the
  close is the price the decision saw). Exit is never on the entry bar, and the
  next entry is at a bar after the exit. A position open at the last bar is
  closed there (reason ``"end"``).
* **Sizing.** y leg: ``notional`` USDT, qty = notional / price. x leg: the same
  notional (``"dollar"``) or beta x notional (``"beta"``, from the beta used at
  entry). Sizes stay fixed while the trade is open.
* **Costs.** Each of the four fills pays the taker (or maker) fee in bps of its
  notional and slippage: a buy fills at p (1 + s), a sell at p (1 - s), with s a
  fixed ``slippage_bps`` or the square-root impact s = impact_bps x
  sqrt(qty / bar volume) (Almgren et al. 2005; volume floored at qty, so s <=
  impact_bps). Funding: at every funding time T with the position open
  (entry time <= T < exit time), each leg pays signed qty x price x rate, price
  the close of the last bar at or before T (the mark price's stand-in). A
  positive rate makes longs pay and shorts receive, as on Binance.
* **Identity.** net P&L = gross P&L (at bar closes) - fees - slippage - funding,
  per trade and in total; the equity curve books the same amounts at the bars
  where they happen.

Annualisation counts 365.25 days a year (crypto trades every day).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd

from quant_platform.analytics.errors import AnalyticsError, as_1d, check_window
from quant_platform.analytics.regression import kalman_hedge_ratio, rolling_hedge_ratio
from quant_platform.analytics.spread import zscore

__all__ = [
    "BacktestError",
    "BacktestParams",
    "BacktestResult",
    "FundingSeries",
    "Metrics",
    "PairBars",
    "Signal",
    "SweepResult",
    "Trade",
    "WalkForwardFold",
    "backtest",
    "compute_signal",
    "merge_sweeps",
    "simulate",
    "split_lookbacks",
    "sweep",
    "walk_forward",
]

HedgeEstimator = Literal["rolling", "expanding", "kalman"]
Neutrality = Literal["dollar", "beta"]
SlippageModel = Literal["bps", "sqrt"]
Liquidity = Literal["taker", "maker"]

_MS_PER_YEAR = 365.25 * 86_400_000.0


class BacktestError(AnalyticsError):
    """Parameters or inputs a backtest cannot run on; the message names the key."""


_CHOICES: dict[str, tuple[str, ...]] = {
    "hedge": ("rolling", "expanding", "kalman"),
    "neutrality": ("dollar", "beta"),
    "liquidity": ("taker", "maker"),
    "slippage": ("bps", "sqrt"),
}


def _bad(key: str, need: str, got: object) -> BacktestError:
    return BacktestError(f"{key}: must be {need}, got {got!r}")


@dataclass(frozen=True, slots=True)
class BacktestParams:
    """Strategy and cost settings; every field is a user-facing knob."""

    entry: float = 2.0
    exit: float = 0.5
    stop: float | None = None
    max_hold_bars: int | None = None
    lookback: int = 120  # bars: hedge window (rolling) and z-score window
    hedge: HedgeEstimator = "rolling"
    kalman_delta: float = 1e-4
    neutrality: Neutrality = "dollar"
    notional: float = 10_000.0  # USDT on the y leg
    capital: float | None = None  # equity base for returns; None: notional
    taker_fee_bps: float = 5.0  # Binance USD-M VIP0 taker 0.05%
    maker_fee_bps: float = 2.0  # VIP0 maker 0.02%
    liquidity: Liquidity = "taker"
    slippage: SlippageModel = "bps"
    slippage_bps: float = 0.0
    impact_bps: float = 10.0  # square-root model coefficient

    def validate(self) -> BacktestParams:
        """Return self if consistent.

        Raises:
            BacktestError: naming the offending key and what it must be.
        """
        for key in ("entry", "exit", "notional", "kalman_delta"):
            v = getattr(self, key)
            if not isinstance(v, int | float) or not math.isfinite(v):
                raise _bad(key, "a finite number", v)
        for key, allowed in _CHOICES.items():
            if getattr(self, key) not in allowed:
                raise _bad(key, " or ".join(repr(a) for a in allowed), getattr(self, key))
        self._validate_rules()
        self._validate_sizing_and_costs()
        return self

    def _validate_rules(self) -> None:
        """Entry, exit, stop, holding limit and lookback."""
        if self.entry <= 0:
            raise _bad("entry", "> 0", self.entry)
        if not 0 <= self.exit < self.entry:
            raise _bad("exit", f"in [0, entry={self.entry})", self.exit)
        if self.stop is not None and not self.stop > self.entry:
            raise _bad("stop", f"> entry={self.entry} (or unset)", self.stop)
        hold = self.max_hold_bars
        if hold is not None and (isinstance(hold, bool) or not isinstance(hold, int) or hold < 1):
            raise _bad("max_hold_bars", "a positive int (or unset)", hold)
        try:
            check_window(self.lookback, "lookback")
        except AnalyticsError as exc:
            raise BacktestError(str(exc)) from None
        if self.lookback < 3:
            raise _bad("lookback", ">= 3 bars", self.lookback)

    def _validate_sizing_and_costs(self) -> None:
        """Kalman delta, notional, capital, fees and slippage."""
        if not 0 < self.kalman_delta < 1:
            raise _bad("kalman_delta", "in (0, 1)", self.kalman_delta)
        if self.notional <= 0:
            raise _bad("notional", "> 0 USDT", self.notional)
        if self.capital is not None and not (self.capital > 0 and math.isfinite(self.capital)):
            raise _bad("capital", "> 0 USDT (or unset)", self.capital)
        for key in ("taker_fee_bps", "maker_fee_bps", "slippage_bps", "impact_bps"):
            v = getattr(self, key)
            if not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
                raise _bad(key, "a number >= 0 (bps)", v)

    @property
    def fee_rate(self) -> float:
        bps = self.taker_fee_bps if self.liquidity == "taker" else self.maker_fee_bps
        return bps / 1e4

    @property
    def equity_base(self) -> float:
        return self.notional if self.capital is None else self.capital


@dataclass(frozen=True, slots=True)
class FundingSeries:
    """Funding events of one symbol: epoch-ms times (ascending) and rates (0.0001 = 1 bp)."""

    time_ms: np.ndarray
    rate: np.ndarray

    @staticmethod
    def empty() -> FundingSeries:
        return FundingSeries(np.empty(0, np.int64), np.empty(0, np.float64))


@dataclass(frozen=True, slots=True)
class PairBars:
    """Aligned bars of a pair: y is the leg sized by ``notional``, x the hedge leg.

    ``time_ms`` is when each close was observed (the bar's end), strictly increasing.
    """

    time_ms: np.ndarray
    y: np.ndarray
    x: np.ndarray
    volume_y: np.ndarray | None = None
    volume_x: np.ndarray | None = None
    funding_y: FundingSeries = field(default_factory=FundingSeries.empty)
    funding_x: FundingSeries = field(default_factory=FundingSeries.empty)
    y_symbol: str = "Y"
    x_symbol: str = "X"

    def checked(self) -> PairBars:
        """Return a copy with validated float/int arrays.

        Raises:
            BacktestError: on shape mismatch, non-positive prices or unordered times.
        """
        t = np.asarray(self.time_ms, dtype=np.int64)
        y, x = as_1d(self.y, "y"), as_1d(self.x, "x")
        if not (t.ndim == 1 and t.size == y.size == x.size):
            raise BacktestError(f"bars: time/y/x lengths differ ({t.size}, {y.size}, {x.size})")
        if t.size < 2:
            raise BacktestError(f"bars: need at least 2 bars, got {t.size}")
        if (np.diff(t) <= 0).any():
            raise BacktestError("bars: time_ms must be strictly increasing (align the legs first)")
        if not (np.isfinite(y).all() and np.isfinite(x).all() and (y > 0).all() and (x > 0).all()):
            raise BacktestError("bars: prices must be finite and > 0 (fill or drop gaps first)")
        vols = []
        for name, v in (("volume_y", self.volume_y), ("volume_x", self.volume_x)):
            if v is None:
                vols.append(None)
                continue
            va = as_1d(v, name)
            if va.size != t.size:
                raise BacktestError(f"{name}: length {va.size} != {t.size} bars")
            vols.append(va)
        fund = []
        for name, f in (("funding_y", self.funding_y), ("funding_x", self.funding_x)):
            ft = np.asarray(f.time_ms, dtype=np.int64)
            fr = as_1d(f.rate, name)
            if ft.size != fr.size or (ft.size > 1 and (np.diff(ft) <= 0).any()):
                raise BacktestError(f"{name}: times must be strictly increasing, one rate each")
            fund.append(FundingSeries(ft, fr))
        return replace(
            self,
            time_ms=t,
            y=y,
            x=x,
            volume_y=vols[0],
            volume_x=vols[1],
            funding_y=fund[0],
            funding_x=fund[1],
        )

    def slice(self, start: int, stop: int) -> PairBars:
        """Bars [start, stop); funding is kept whole (it is looked up by time)."""
        return replace(
            self,
            time_ms=self.time_ms[start:stop],
            y=self.y[start:stop],
            x=self.x[start:stop],
            volume_y=None if self.volume_y is None else self.volume_y[start:stop],
            volume_x=None if self.volume_x is None else self.volume_x[start:stop],
        )


@dataclass(frozen=True, slots=True)
class Signal:
    """What the rules see: z-score and the hedge ratio usable at each bar."""

    z: np.ndarray
    beta: np.ndarray  # estimated from bars < t

    def slice(self, start: int, stop: int) -> Signal:
        return Signal(self.z[start:stop], self.beta[start:stop])


@dataclass(frozen=True, slots=True)
class Trade:
    """One round trip. Quantities are signed (+ long); costs are positive when paid."""

    entry_time_ms: int
    exit_time_ms: int
    side: int  # +1 long spread (long y, short x), -1 short spread
    exit_reason: str  # "exit" | "stop" | "max_hold" | "end"
    bars_held: int
    entry_z: float
    exit_z: float
    beta: float
    qty_y: float
    qty_x: float
    entry_price_y: float  # bar closes (fills are these +/- slippage)
    exit_price_y: float
    entry_price_x: float
    exit_price_x: float
    entry_fill_y: float
    exit_fill_y: float
    entry_fill_x: float
    exit_fill_x: float
    gross_pnl: float
    fees: float
    slippage: float
    funding: float
    net_pnl: float


@dataclass(frozen=True, slots=True)
class Metrics:
    """Summary of one backtest; returns are on ``params.equity_base``."""

    net_pnl: float
    gross_pnl: float
    fees: float
    slippage: float
    funding: float
    total_return: float
    annualised_return: float
    sharpe: float
    sortino: float
    max_drawdown: float  # fraction of the running peak
    max_drawdown_duration_ms: int
    n_trades: int
    hit_rate: float
    avg_holding_ms: float
    turnover: float  # traded notional (all fills) / equity base
    n_bars: int

    def as_dict(self) -> dict[str, float | int]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class BacktestResult:
    params: BacktestParams
    trades: list[Trade]
    time_ms: np.ndarray
    equity: np.ndarray  # equity base + cumulative net P&L, marked at every bar close
    metrics: Metrics

    def trades_frame(self) -> pd.DataFrame:
        """Trades as a table with UTC timestamps (for CSV export and display)."""
        cols = list(Trade.__dataclass_fields__)
        df = pd.DataFrame([[getattr(t, c) for c in cols] for t in self.trades], columns=cols)
        for c in ("entry_time", "exit_time"):
            df.insert(
                0 if c == "entry_time" else 1, c, pd.to_datetime(df[f"{c}_ms"], unit="ms", utc=True)
            )
        return df

    def equity_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"time": pd.to_datetime(self.time_ms, unit="ms", utc=True), "equity": self.equity}
        )


# -- signal ----------------------------------------------------------------------------


def _shift1(a: np.ndarray) -> np.ndarray:
    out = np.empty_like(a)
    out[0] = np.nan
    out[1:] = a[:-1]
    return out


def _expanding_ols(ly: np.ndarray, lx: np.ndarray, min_obs: int) -> tuple[np.ndarray, np.ndarray]:
    """OLS on bars 0..t for every t, from running sums of data centred on the first bar."""
    dy, dx = ly - ly[0], lx - lx[0]
    n = np.arange(1, ly.size + 1, dtype=np.float64)
    sx, sy = np.cumsum(dx), np.cumsum(dy)
    sxx, sxy = np.cumsum(dx * dx), np.cumsum(dx * dy)
    var = sxx - sx * sx / n
    cov = sxy - sx * sy / n
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = np.where(var > 1e-14 * np.maximum(sxx, 1e-300), cov / var, np.nan)
    alpha = (sy - beta * sx) / n + ly[0] - beta * lx[0]
    beta[: min_obs - 1] = np.nan
    alpha[: min_obs - 1] = np.nan
    return beta, alpha


def compute_signal(bars: PairBars, params: BacktestParams) -> Signal:
    """Hedge ratio from bars before t and the spread z-score at t (see module docstring).

    Raises:
        BacktestError: if the parameters or bars are invalid.
    """
    params.validate()
    ly, lx = np.log(bars.y), np.log(bars.x)
    if params.hedge == "rolling":
        rh = rolling_hedge_ratio(ly, lx, params.lookback)
        beta, alpha = rh.beta, rh.alpha
    elif params.hedge == "expanding":
        beta, alpha = _expanding_ols(ly, lx, params.lookback)
    else:
        kh = kalman_hedge_ratio(ly, lx, delta=params.kalman_delta)
        beta, alpha = kh.beta.copy(), kh.alpha.copy()
        beta[: params.lookback - 1] = np.nan  # let the filter forget its prior first
    beta_prev, alpha_prev = _shift1(beta), _shift1(alpha)
    s = ly - beta_prev * lx - alpha_prev
    return Signal(z=np.asarray(zscore(s, params.lookback)), beta=beta_prev)


# -- rules -----------------------------------------------------------------------------


def _entry_lists(
    z: np.ndarray, beta: np.ndarray, params: BacktestParams, entry: float
) -> tuple[list[int], list[int]]:
    """Bars where z crosses down through -entry / up through +entry (sentinel n appended)."""
    n = z.size
    zp = _shift1(z)
    ok = np.isfinite(beta) & np.isfinite(z)
    with np.errstate(invalid="ignore"):
        if params.neutrality == "beta":
            ok &= beta > 0
        long_in = ok & (zp > -entry) & (z <= -entry)
        short_in = ok & (zp < entry) & (z >= entry)
    long_in[n - 1] = short_in[n - 1] = False
    li, si = np.flatnonzero(long_in).tolist(), np.flatnonzero(short_in).tolist()
    li.append(n)
    si.append(n)
    return li, si


def _exit_lists(z: np.ndarray, stop: float | None, exit_: float) -> tuple[list[int], list[int]]:
    """Bars where a long / short spread position exits or stops (sentinel n appended)."""
    with np.errstate(invalid="ignore"):
        long_out = z >= -exit_
        short_out = z <= exit_
        if stop is not None:
            long_out |= z <= -stop
            short_out |= z >= stop
    lo, so = np.flatnonzero(long_out).tolist(), np.flatnonzero(short_out).tolist()
    lo.append(z.size)
    so.append(z.size)
    return lo, so


def _walk(
    z: np.ndarray,
    entries_: tuple[list[int], list[int]],
    exits_: tuple[list[int], list[int]],
    stop: float | None,
    hold: int | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Entry bars, exit bars, sides and exit reasons of the rule's round trips.

    The conditions arrive as sorted bar lists (O(n) numpy once); the walk jumps
    from trade to trade with binary searches, so its Python cost scales with the
    number of trades, not bars.
    """
    last = z.size - 1
    li, si = entries_
    lo, so = exits_
    entries: list[int] = []
    exits: list[int] = []
    sides: list[int] = []
    reasons: list[str] = []
    i = 0
    while i < last:
        a = li[bisect_left(li, i)]
        b = si[bisect_left(si, i)]
        en = a if a < b else b
        if en >= last:
            break
        side = 1 if a < b else -1
        outs = lo if side == 1 else so
        ex = outs[bisect_left(outs, en + 1)]
        reason = "exit"
        if ex <= last and stop is not None and side * z[ex] <= -stop:
            reason = "stop"
        if hold is not None and en + hold < ex:
            ex, reason = en + hold, "max_hold"
        if ex >= last:
            if ex > last:
                reason = "end"
            ex = last
        entries.append(en)
        exits.append(ex)
        sides.append(side)
        reasons.append(reason)
        i = ex + 1
    return (
        np.asarray(entries, dtype=np.int64),
        np.asarray(exits, dtype=np.int64),
        np.asarray(sides, dtype=np.float64),
        reasons,
    )


def _round_trips(
    z: np.ndarray, beta: np.ndarray, params: BacktestParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    return _walk(
        z,
        _entry_lists(z, beta, params, params.entry),
        _exit_lists(z, params.stop, params.exit),
        params.stop,
        params.max_hold_bars,
    )


def _slip_frac(
    params: BacktestParams, qty: np.ndarray, volume: np.ndarray | None, bar: np.ndarray
) -> np.ndarray:
    if params.slippage == "bps":
        return np.full(qty.size, params.slippage_bps / 1e4)
    if volume is None:
        raise BacktestError("slippage='sqrt' needs bar volumes (volume_y, volume_x)")
    v = np.maximum(volume[bar], qty)
    return params.impact_bps / 1e4 * np.sqrt(qty / v)


@dataclass(frozen=True, slots=True)
class _Market:
    """Per-bars quantities every rule set reuses (a sweep computes them once)."""

    dy: np.ndarray  # bar-to-bar close changes
    dx: np.ndarray
    per_year: float  # bars a year at the median bar spacing
    funding: tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]  # (bar, unit, cumsum) y, x
    prefix: tuple[np.ndarray, np.ndarray, np.ndarray]  # running sums of dy^2, dy dx, dx^2


def _funding_events(
    f: FundingSeries, time_ms: np.ndarray, close: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bar index of each in-range event, close-at-T x rate per unit held, its running sum."""
    bar = np.searchsorted(time_ms, f.time_ms, side="right") - 1
    keep = (bar >= 0) & (f.time_ms <= time_ms[-1])
    bar = bar[keep]
    unit = close[bar] * f.rate[keep]
    return bar, unit, np.concatenate(([0.0], np.cumsum(unit)))


def _market(bars: PairBars, with_prefix: bool = False) -> _Market:
    t = bars.time_ms
    dy, dx = np.diff(bars.y), np.diff(bars.x)
    prefix = (np.empty(0), np.empty(0), np.empty(0))
    if with_prefix:
        prefix = tuple(
            np.concatenate(([0.0], np.cumsum(a * b))) for a, b in ((dy, dy), (dy, dx), (dx, dx))
        )
    return _Market(
        dy=dy,
        dx=dx,
        prefix=prefix,
        per_year=_MS_PER_YEAR / float(np.median(np.diff(t))),
        funding=(
            _funding_events(bars.funding_y, t, bars.y),
            _funding_events(bars.funding_x, t, bars.x),
        ),
    )


def _trade_index(n: int, en: np.ndarray, ex: np.ndarray) -> np.ndarray:
    """For each bar, the trade held after its close (en[k] <= t < ex[k]), else -1.

    Round trips never overlap (en[k] < ex[k] < en[k + 1]), so marks at entries and
    exits plus cumulative sums give each bar its trade in O(n).
    """
    if en.size == 0:
        return np.full(n, -1, dtype=np.int64)
    mark = np.zeros(n, dtype=np.int64)
    mark[en] = 1
    k = np.cumsum(mark)
    mark[ex] = -1
    return np.where(np.cumsum(mark) > 0, k - 1, -1)


@dataclass(frozen=True, slots=True)
class _Book:
    """Per-trade economics of a set of round trips (arrays, one entry per trade)."""

    en: np.ndarray
    ex: np.ndarray
    side: np.ndarray
    beta: np.ndarray
    qy: np.ndarray  # unsigned sizes
    qx: np.ndarray
    pos_y: np.ndarray  # signed sizes
    pos_x: np.ndarray
    slips: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # y in, y out, x in, x out
    cost_in: np.ndarray  # fees + slippage at the entry bar
    cost_out: np.ndarray
    fees: np.ndarray
    slip: np.ndarray
    gross: np.ndarray
    funding: np.ndarray
    funding_bars: np.ndarray  # bar of every funding payment made while in a position
    funding_paid: np.ndarray  # its amount (positive: paid)
    traded: float  # notional of all fills

    @property
    def net(self) -> np.ndarray:
        return self.gross - self.fees - self.slip - self.funding


def _book(
    bars: PairBars,
    beta: np.ndarray,
    params: BacktestParams,
    mk: _Market,
    en: np.ndarray,
    ex: np.ndarray,
    side: np.ndarray,
) -> _Book:
    y, x = bars.y, bars.x
    fee = params.fee_rate
    beta_e = beta[en]
    qy = params.notional / y[en]
    qx = params.notional * (beta_e if params.neutrality == "beta" else 1.0) / x[en]
    pos_y, pos_x = side * qy, -side * qx
    py0, py1, px0, px1 = y[en], y[ex], x[en], x[ex]
    s_y0 = _slip_frac(params, qy, bars.volume_y, en)
    s_y1 = _slip_frac(params, qy, bars.volume_y, ex)
    s_x0 = _slip_frac(params, qx, bars.volume_x, en)
    s_x1 = _slip_frac(params, qx, bars.volume_x, ex)
    fee_in = fee * (qy * py0 + qx * px0)
    fee_out = fee * (qy * py1 + qx * px1)
    slip_in = s_y0 * qy * py0 + s_x0 * qx * px0
    slip_out = s_y1 * qy * py1 + s_x1 * qx * px1
    gross = pos_y * (py1 - py0) + pos_x * (px1 - px0)
    # funding: events with entry time <= T < exit time, i.e. en <= bar(T) < ex
    funding = np.zeros(en.size)
    f_bars, f_paid = [], []
    for (fb, unit, cum), pos in ((mk.funding[0], pos_y), (mk.funding[1], pos_x)):
        if fb.size == 0 or en.size == 0:
            continue
        lo = np.searchsorted(fb, en, side="left")
        hi = np.searchsorted(fb, ex, side="left")
        funding += pos * (cum[hi] - cum[lo])
        k = np.searchsorted(en, fb, side="right") - 1
        kk = np.maximum(k, 0)
        held = (k >= 0) & (fb < ex[kk])
        f_bars.append(fb[held])
        f_paid.append(pos[kk[held]] * unit[held])
    return _Book(
        en=en,
        ex=ex,
        side=side,
        beta=beta_e,
        qy=qy,
        qx=qx,
        pos_y=pos_y,
        pos_x=pos_x,
        slips=(s_y0, s_y1, s_x0, s_x1),
        cost_in=fee_in + slip_in,
        cost_out=fee_out + slip_out,
        fees=fee_in + fee_out,
        slip=slip_in + slip_out,
        gross=gross,
        funding=funding,
        funding_bars=np.concatenate(f_bars) if f_bars else np.empty(0, np.int64),
        funding_paid=np.concatenate(f_paid) if f_paid else np.empty(0),
        traded=float((qy * (py0 + py1) + qx * (px0 + px1)).sum()),
    )


def simulate(
    bars: PairBars,
    signal: Signal,
    params: BacktestParams,
    with_trades: bool = True,
    market: _Market | None = None,
) -> BacktestResult:
    """Run the rules on a prepared signal (a sweep reuses one signal for many rules).

    ``with_trades=False`` skips building the per-trade records; the metrics are
    identical either way.

    Raises:
        BacktestError: on invalid parameters or bars.
    """
    params.validate()
    t, y, x = bars.time_ms, bars.y, bars.x
    n = t.size
    if signal.z.size != n:
        raise BacktestError(f"signal: length {signal.z.size} != {n} bars")
    mk = _market(bars) if market is None else market
    en, ex, side, reasons = _round_trips(signal.z, signal.beta, params)
    bk = _book(bars, signal.beta, params, mk, en, ex, side)
    net = bk.net

    # equity: mark to market at closes (position after each close: pos[k] of the
    # trade held, exactly 0 when flat), costs at the bars where they are paid
    k = _trade_index(n, en, ex)
    hy = np.append(bk.pos_y, 0.0)[k]
    hx = np.append(bk.pos_x, 0.0)[k]
    bar_pnl = np.zeros(n)
    bar_pnl[1:] = hy[:-1] * mk.dy + hx[:-1] * mk.dx
    bar_cost = np.zeros(n)
    np.add.at(bar_cost, bk.funding_bars, bk.funding_paid)
    bar_cost[en] += bk.cost_in  # entries and exits are distinct bars
    bar_cost[ex] += bk.cost_out
    equity = params.equity_base + np.cumsum(bar_pnl - bar_cost)
    metrics = _metrics(t, equity, params.equity_base, bk, mk.per_year)
    if not with_trades:
        return BacktestResult(params=params, trades=[], time_ms=t, equity=equity, metrics=metrics)

    def fill(p: np.ndarray, s: np.ndarray, buy: np.ndarray) -> np.ndarray:
        return np.where(buy, p * (1 + s), p * (1 - s))

    s_y0, s_y1, s_x0, s_x1 = bk.slips
    py0, py1, px0, px1 = y[en], y[ex], x[en], x[ex]
    long_y = bk.pos_y > 0
    cols = zip(
        t[en].tolist(),
        t[ex].tolist(),
        side.astype(int).tolist(),
        reasons,
        (ex - en).tolist(),
        signal.z[en].tolist(),
        signal.z[ex].tolist(),
        bk.beta.tolist(),
        bk.pos_y.tolist(),
        bk.pos_x.tolist(),
        py0.tolist(),
        py1.tolist(),
        px0.tolist(),
        px1.tolist(),
        fill(py0, s_y0, long_y).tolist(),
        fill(py1, s_y1, ~long_y).tolist(),
        fill(px0, s_x0, ~long_y).tolist(),
        fill(px1, s_x1, long_y).tolist(),
        bk.gross.tolist(),
        bk.fees.tolist(),
        bk.slip.tolist(),
        bk.funding.tolist(),
        net.tolist(),
        strict=True,
    )
    trades = [Trade(*c) for c in cols]
    return BacktestResult(params=params, trades=trades, time_ms=t, equity=equity, metrics=metrics)


def _annualise(total: float, years: float) -> float:
    """(1 + total)^(1/years) - 1; NaN after a total loss, inf when it overflows (short spans)."""
    if not total > -1.0 or not years > 0:
        return math.nan
    try:
        return math.expm1(math.log1p(total) / years)
    except OverflowError:
        return math.inf


def _metrics(t: np.ndarray, equity: np.ndarray, base: float, bk: _Book, per_year: float) -> Metrics:
    """Summary statistics; per-bar returns are P&L over the fixed equity base.

    A fixed-notional strategy does not compound, so returns on the base (not on
    the running equity) keep Sharpe defined even after a drawdown below zero.
    """
    n = t.size
    r = np.diff(equity) / base
    sd = float(np.std(r, ddof=1)) if r.size > 1 else math.nan
    mean = float(np.mean(r))
    sharpe = mean / sd * math.sqrt(per_year) if sd > 0 else math.nan
    down = float(np.sqrt(np.mean(np.minimum(r, 0.0) ** 2)))
    sortino = mean / down * math.sqrt(per_year) if down > 0 else math.nan
    total = float(equity[-1] / base - 1.0)
    span = (t[-1] - t[0]) / _MS_PER_YEAR
    annual = _annualise(total, span)
    peak = np.maximum.accumulate(np.maximum(equity, base))
    dd = float(np.max((peak - equity) / peak))
    last_peak = np.maximum.accumulate(np.where(equity >= peak, np.arange(n), 0))
    dd_dur = int(np.max(t - t[last_peak]))
    net = bk.net
    k = int(net.size)
    return Metrics(
        net_pnl=float(net.sum()),
        gross_pnl=float(bk.gross.sum()),
        fees=float(bk.fees.sum()),
        slippage=float(bk.slip.sum()),
        funding=float(bk.funding.sum()),
        total_return=total,
        annualised_return=float(annual),
        sharpe=sharpe,
        sortino=sortino,
        max_drawdown=max(dd, 0.0),
        max_drawdown_duration_ms=dd_dur,
        n_trades=k,
        hit_rate=float(np.mean(net > 0)) if k else math.nan,
        avg_holding_ms=float(np.mean(t[bk.ex] - t[bk.en])) if k else math.nan,
        turnover=bk.traded / base,
        n_bars=n,
    )


def backtest(bars: PairBars, params: BacktestParams | None = None) -> BacktestResult:
    """One backtest: signal then rules then costs (see the module docstring for the model).

    Raises:
        BacktestError: on invalid parameters or bars (the message names the key).
    """
    params = (params or BacktestParams()).validate()
    bars = bars.checked()
    return simulate(bars, compute_signal(bars, params), params)


# -- sweeps and walk-forward -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SweepResult:
    """Grids indexed [lookback, entry, exit]; NaN where exit >= entry (not a valid rule)."""

    entries: np.ndarray
    exits: np.ndarray
    lookbacks: np.ndarray
    sharpe: np.ndarray
    net_pnl: np.ndarray
    n_trades: np.ndarray

    def best(self) -> tuple[float, float, int]:
        """(entry, exit, lookback) with the highest Sharpe (ties: first).

        Raises:
            BacktestError: if no cell has a finite Sharpe (no trades anywhere).
        """
        s = np.where(np.isfinite(self.sharpe), self.sharpe, -np.inf)
        if not np.isfinite(s).any():
            raise BacktestError("sweep: no parameter set traded; widen the grid or the span")
        li, ei, xi = np.unravel_index(int(np.argmax(s)), s.shape)
        return float(self.entries[ei]), float(self.exits[xi]), int(self.lookbacks[li])

    def frame(self) -> pd.DataFrame:
        """One row per valid cell (exit < entry): lookback, entry, exit, sharpe, net_pnl, trades."""
        li, ei, xi = np.meshgrid(
            np.arange(self.lookbacks.size),
            np.arange(self.entries.size),
            np.arange(self.exits.size),
            indexing="ij",
        )
        df = pd.DataFrame(
            {
                "lookback": self.lookbacks[li.ravel()],
                "entry": self.entries[ei.ravel()],
                "exit": self.exits[xi.ravel()],
                "sharpe": self.sharpe.ravel(),
                "net_pnl": self.net_pnl.ravel(),
                "n_trades": self.n_trades.ravel(),
            }
        )
        return df[df["net_pnl"].notna()].reset_index(drop=True)


def _sharpe_from_book(bk: _Book, mk: _Market, n: int) -> float:
    """Sharpe of the per-bar P&L without building the equity curve: O(trades), not O(n).

    Per-bar P&L is pos . dp while a trade is held, minus costs at their bars. Its
    sum is gross - costs; its sum of squares is, per trade, a quadratic form in
    (pos_y, pos_x) over prefix sums of dy^2, dy dx and dx^2, corrected at the few
    bars that carry a cost: (p - c)^2 = p^2 - 2 p c + c^2. Equal to the Sharpe of
    :func:`simulate` up to rounding (one-pass vs two-pass variance).
    """
    m = n - 1
    if m < 2:
        return math.nan
    en, ex = bk.en, bk.ex
    py, px = bk.pos_y, bk.pos_x
    cyy, cxy, cxx = mk.prefix
    pnl2 = float(
        (
            py * py * (cyy[ex] - cyy[en])
            + 2.0 * py * px * (cxy[ex] - cxy[en])
            + px * px * (cxx[ex] - cxx[en])
        ).sum()
    )
    cb = np.concatenate((en, ex, bk.funding_bars))
    ca = np.concatenate((bk.cost_in, bk.cost_out, bk.funding_paid))
    cross = csq = 0.0
    if cb.size:
        u, inv = np.unique(cb, return_inverse=True)
        c = np.bincount(inv, ca)
        k = np.searchsorted(en, u - 1, side="right") - 1
        kk = np.maximum(k, 0)
        held = (k >= 0) & (u - 1 < ex[kk])
        p = np.where(held, py[kk] * mk.dy[u - 1] + px[kk] * mk.dx[u - 1], 0.0)
        cross = float(p @ c)
        csq = float(c @ c)
    s1 = float(bk.net.sum())
    s2 = pnl2 - 2.0 * cross + csq
    var = (s2 - s1 * s1 / m) / (m - 1)
    if not var > 0:
        return math.nan
    return s1 / m / math.sqrt(var) * math.sqrt(mk.per_year)


def sweep(
    bars: PairBars,
    params: BacktestParams,
    entries: list[float] | np.ndarray,
    exits: list[float] | np.ndarray,
    lookbacks: list[int] | None = None,
) -> SweepResult:
    """Backtest every (lookback, entry, exit) for Sharpe, net P&L and trade count.

    The signal is computed once per lookback, entry crossings once per entry,
    exit conditions once per exit; each cell then costs O(trades) (see
    :func:`_sharpe_from_book`), which is what makes a 20 x 20 grid cheap.

    Raises:
        BacktestError: on invalid parameters or bars.
    """
    bars = bars.checked()
    ent, exi = np.asarray(entries, float), np.asarray(exits, float)
    lbs = np.asarray(lookbacks if lookbacks else [params.lookback], dtype=np.int64)
    shape = (lbs.size, ent.size, exi.size)
    sharpe, pnl = np.full(shape, np.nan), np.full(shape, np.nan)
    ntr = np.zeros(shape, dtype=np.int64)
    mk = _market(bars, with_prefix=True)
    n = bars.time_ms.size
    for li, lb in enumerate(lbs.tolist()):
        base = replace(params, lookback=int(lb), exit=0.0, entry=max(float(ent.max()), 1e-9))
        sig = compute_signal(bars, base.validate())
        exit_lists = [_exit_lists(sig.z, params.stop, xv) for xv in exi.tolist()]
        for ei, e in enumerate(ent.tolist()):
            entry_lists = None
            for xi, xv in enumerate(exi.tolist()):
                if not 0 <= xv < e or (params.stop is not None and params.stop <= e):
                    continue
                cell = replace(params, lookback=int(lb), entry=e, exit=xv).validate()
                if entry_lists is None:
                    entry_lists = _entry_lists(sig.z, sig.beta, cell, e)
                en, ex, side, _ = _walk(
                    sig.z, entry_lists, exit_lists[xi], cell.stop, cell.max_hold_bars
                )
                bk = _book(bars, sig.beta, cell, mk, en, ex, side)
                sharpe[li, ei, xi] = _sharpe_from_book(bk, mk, n)
                pnl[li, ei, xi] = float(bk.net.sum())
                ntr[li, ei, xi] = en.size
    return SweepResult(ent, exi, lbs, sharpe, pnl, ntr)


def split_lookbacks(lookbacks: list[int], parts: int) -> list[list[int]]:
    """`lookbacks` cut into at most `parts` contiguous, non-empty slices of balanced size.

    Contiguous, so :func:`merge_sweeps` of the slices' sweeps, in slice order, is
    the sweep of the whole grid (a sweep computes each lookback on its own).

    Raises:
        BacktestError: parts < 1 or no lookbacks.
    """
    if isinstance(parts, bool) or not isinstance(parts, int) or parts < 1:
        raise _bad("parts", "an int >= 1", parts)
    if not lookbacks:
        raise _bad("lookbacks", "at least one lookback", lookbacks)
    k = min(parts, len(lookbacks))
    q, r = divmod(len(lookbacks), k)
    edges = [i * q + min(i, r) for i in range(k + 1)]
    return [list(lookbacks[a:b]) for a, b in zip(edges, edges[1:], strict=False)]


def merge_sweeps(parts: list[SweepResult]) -> SweepResult:
    """The sweeps of consecutive lookback slices (same entries and exits) as one grid.

    Each lookback's row of a :func:`sweep` depends only on the bars, the rule and
    that lookback, so stacking the slices' rows in slice order gives exactly the
    arrays one :func:`sweep` over all the lookbacks would (bit for bit).

    Raises:
        BacktestError: no parts, or the parts' entries or exits differ.
    """
    if not parts:
        raise _bad("parts", "at least one sweep to merge", parts)
    first = parts[0]
    for p in parts[1:]:
        if not (np.array_equal(p.entries, first.entries) and np.array_equal(p.exits, first.exits)):
            raise BacktestError("merge_sweeps: the parts were swept over different entries/exits")
    return SweepResult(
        first.entries,
        first.exits,
        np.concatenate([p.lookbacks for p in parts]),
        np.concatenate([p.sharpe for p in parts]),
        np.concatenate([p.net_pnl for p in parts]),
        np.concatenate([p.n_trades for p in parts]),
    )


@dataclass(frozen=True, slots=True)
class WalkForwardFold:
    """Parameters chosen on [is_start, is_end) by Sharpe, scored on [is_end, oos_end)."""

    is_start_ms: int
    is_end_ms: int
    oos_end_ms: int
    entry: float
    exit: float
    is_sharpe: float
    oos_sharpe: float
    is_net_pnl: float
    oos_net_pnl: float
    oos_trades: int


def walk_forward(
    bars: PairBars,
    params: BacktestParams,
    entries: list[float] | np.ndarray,
    exits: list[float] | np.ndarray,
    n_windows: int = 4,
) -> list[WalkForwardFold]:
    """Anchored-free walk-forward: choose on window k, score on window k + 1.

    The signal is computed once on all bars (it is causal, so window k + 1's
    z-scores do not see window k + 1's future); each window is then simulated on
    its own, positions closed at the window's end.

    Raises:
        BacktestError: if there are fewer than 2 windows or too few bars per window.
    """
    if isinstance(n_windows, bool) or not isinstance(n_windows, int) or n_windows < 2:
        raise BacktestError(f"n_windows: must be an int >= 2, got {n_windows!r}")
    bars = bars.checked()
    n = bars.time_ms.size
    edges = np.linspace(0, n, n_windows + 1).astype(int)
    if np.min(np.diff(edges)) < 3:
        raise BacktestError(f"n_windows: {n_windows} windows leave < 3 bars each ({n} bars)")
    sig = compute_signal(bars, params)
    cells = [(e, xv) for e in entries for xv in exits if 0 <= xv < e]
    if not cells:
        raise BacktestError("sweep grid: no (entry, exit) with 0 <= exit < entry")

    def run(k: int, e: float, xv: float) -> BacktestResult:
        a, b = int(edges[k]), int(edges[k + 1])
        return simulate(
            bars.slice(a, b),
            sig.slice(a, b),
            replace(params, entry=float(e), exit=float(xv)),
            with_trades=False,
        )

    folds = []
    for k in range(n_windows - 1):
        scored = [(run(k, e, xv), e, xv) for e, xv in cells]
        best, be, bx = max(
            scored,
            key=lambda r: r[0].metrics.sharpe if math.isfinite(r[0].metrics.sharpe) else -math.inf,
        )
        oos = run(k + 1, be, bx)
        folds.append(
            WalkForwardFold(
                is_start_ms=int(bars.time_ms[edges[k]]),
                is_end_ms=int(bars.time_ms[edges[k + 1] - 1]),
                oos_end_ms=int(bars.time_ms[edges[k + 2] - 1]),
                entry=float(be),
                exit=float(bx),
                is_sharpe=best.metrics.sharpe,
                oos_sharpe=oos.metrics.sharpe,
                is_net_pnl=best.metrics.net_pnl,
                oos_net_pnl=oos.metrics.net_pnl,
                oos_trades=oos.metrics.n_trades,
            )
        )
    return folds
