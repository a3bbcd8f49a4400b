"""Stored bars and funding of a pair as backtest input, and results as plain data.

The one place the CLI, the dashboard page, Dagster and reports turn
(pair, span, timeframe) into :class:`~quant_platform.analytics.backtest.PairBars`,
so all four backtest the same numbers. Bars come from `ohlcv` (both legs must
have the bar: an inner join on the bucket), funding from `funding_rates`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg

from quant_platform.analytics.backtest import (
    BacktestParams,
    BacktestResult,
    FundingSeries,
    PairBars,
    compute_signal,
    simulate,
)
from quant_platform.config.settings import validate_pair
from quant_platform.queries.research import interval_seconds

_PAIR_BARS_SQL = """
SELECT (extract(epoch FROM y.bucket) * 1000)::int8, y.close, x.close, y.volume, x.volume
FROM ohlcv y
JOIN ohlcv x ON x.bucket = y.bucket AND x.interval = y.interval AND x.symbol = %(x)s
WHERE y.symbol = %(y)s AND y.interval = %(interval)s
  AND y.bucket >= %(start)s AND y.bucket < %(end)s
ORDER BY y.bucket
"""

_FUNDING_SQL = """
SELECT (extract(epoch FROM funding_time) * 1000)::int8, funding_rate FROM funding_rates
WHERE symbol = %s AND funding_time >= %s AND funding_time <= %s ORDER BY funding_time
"""


class NoBarsError(ValueError):
    """The span holds no bars for the pair (says which, and what to do)."""


@dataclass(frozen=True, slots=True)
class Pair:
    y: str
    x: str

    @property
    def name(self) -> str:
        return f"{self.y}/{self.x}"


def parse_pair(text: str) -> Pair:
    """`ETHUSDT/BTCUSDT` → Pair(y=ETHUSDT, x=BTCUSDT).

    Raises:
        ValueError: not two valid symbols separated by '/', naming the form.
    """
    try:
        return Pair(*validate_pair(text or ""))
    except ValueError as exc:
        raise ValueError(f"--pair: {exc}; use Y/X, e.g. ETHUSDT/BTCUSDT") from None


def load_funding_series(
    conn: psycopg.Connection, symbol: str, start: datetime, end: datetime
) -> FundingSeries:
    rows = conn.execute(_FUNDING_SQL, (symbol, start, end)).fetchall()
    return FundingSeries(
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([r[1] for r in rows], dtype=np.float64),
    )


def load_pair_bars(
    conn: psycopg.Connection, pair: Pair, timeframe: str, start: datetime, end: datetime
) -> PairBars:
    """Closes and volumes of both legs on common bars in [start, end), plus funding.

    ``time_ms`` is each bar's close time (bucket + timeframe): the moment the
    close is known, which is when the backtest may trade on it.

    Raises:
        ValueError: malformed timeframe or end <= start.
        NoBarsError: fewer than 2 common bars in the span.
    """
    step_ms = interval_seconds(timeframe) * 1000
    if end <= start:
        raise ValueError(
            f"--to ({end:%Y-%m-%d %H:%M}) must be after --from ({start:%Y-%m-%d %H:%M})"
        )
    rows = conn.execute(
        _PAIR_BARS_SQL,
        {"y": pair.y, "x": pair.x, "interval": timeframe, "start": start, "end": end},
    ).fetchall()
    if len(rows) < 2:
        raise NoBarsError(
            f"no {timeframe} bars for {pair.name} between {start:%Y-%m-%d %H:%M} and "
            f"{end:%Y-%m-%d %H:%M} UTC ({len(rows)} common bars); load history with "
            "`qp import` or run the ohlcv assets for that span"
        )
    a = np.array(rows, dtype=np.float64)
    t = a[:, 0].astype(np.int64) + step_ms
    fund_end = end + timedelta(milliseconds=step_ms)
    return PairBars(
        time_ms=t,
        y=a[:, 1],
        x=a[:, 2],
        volume_y=a[:, 3],
        volume_x=a[:, 4],
        funding_y=load_funding_series(conn, pair.y, start, fund_end),
        funding_x=load_funding_series(conn, pair.x, start, fund_end),
        y_symbol=pair.y,
        x_symbol=pair.x,
    ).checked()


def _clean(v: object) -> object:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, np.floating | np.integer):
        return _clean(v.item())
    return v


def summary(result: BacktestResult, pair: Pair | None = None) -> dict[str, object]:
    """Metrics and the cost breakdown as one JSON-ready dict (NaN/inf become null)."""
    m = result.metrics
    out: dict[str, object] = {}
    if pair is not None:
        out["pair"] = pair.name
    if result.time_ms.size:
        out["from"] = datetime.fromtimestamp(int(result.time_ms[0]) / 1000, UTC).isoformat()
        out["to"] = datetime.fromtimestamp(int(result.time_ms[-1]) / 1000, UTC).isoformat()
    out.update({k: _clean(v) for k, v in m.as_dict().items()})
    out["costs"] = {
        "fees": m.fees,
        "slippage": m.slippage,
        "funding": m.funding,
        "total": m.fees + m.slippage + m.funding,
    }
    out["params"] = {
        k: _clean(getattr(result.params, k)) for k in result.params.__dataclass_fields__
    }
    return out


def backtest_span(
    conn: psycopg.Connection,
    pair: Pair,
    timeframe: str,
    start: datetime,
    end: datetime,
    params: BacktestParams,
) -> BacktestResult:
    """Backtest trading only inside [start, end), with the signal warmed up on earlier bars.

    The hedge and z-score need ``2 x lookback`` bars of history; they are read
    from before `start` (when stored), so a one-day backtest trades from the
    day's first bar, and positions still open at the span's last bar are closed.

    Raises:
        NoBarsError: fewer than 2 common bars inside the span.
        BacktestError: invalid parameters.
    """
    step_ms = interval_seconds(timeframe) * 1000
    warm = timedelta(milliseconds=step_ms * (2 * params.validate().lookback + 1))
    try:
        bars = load_pair_bars(conn, pair, timeframe, start - warm, end)
    except NoBarsError:
        raise NoBarsError(
            f"no {timeframe} bars for {pair.name} between {start:%Y-%m-%d %H:%M} and "
            f"{end:%Y-%m-%d %H:%M} UTC"
        ) from None
    first_close = int(start.timestamp() * 1000) + step_ms
    i0 = int(np.searchsorted(bars.time_ms, first_close, side="left"))
    n = bars.time_ms.size
    if n - i0 < 2:
        raise NoBarsError(
            f"no {timeframe} bars for {pair.name} between {start:%Y-%m-%d %H:%M} and "
            f"{end:%Y-%m-%d %H:%M} UTC ({n - i0} in the span)"
        )
    sig = compute_signal(bars, params)
    return simulate(bars.slice(i0, n), sig.slice(i0, n), params)


def backtest_rows(
    conn: psycopg.Connection,
    pairs: list[tuple[str, str]],
    timeframe: str,
    start: datetime,
    end: datetime,
    params: BacktestParams | None = None,
) -> list[dict[str, object]]:
    """One summary row per pair for [start, end) (reports); a pair without bars says so."""
    params = params or BacktestParams(slippage_bps=1.0)
    out: list[dict[str, object]] = []
    for y, x in pairs:
        pair = Pair(y, x)
        try:
            m = backtest_span(conn, pair, timeframe, start, end, params).metrics
        except NoBarsError:
            out.append({"pair": pair.name, "status": "no bars"})
            continue
        out.append(
            {
                "pair": pair.name,
                "status": "ok",
                "trades": m.n_trades,
                "net_pnl": m.net_pnl,
                "sharpe": m.sharpe,
                "max_drawdown": m.max_drawdown,
                "fees": m.fees,
                "slippage": m.slippage,
                "funding": m.funding,
            }
        )
    return out
