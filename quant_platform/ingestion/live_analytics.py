"""The live analytics cycle: every 5 s, all pairs and symbols from in-memory bars.

Computation is the pure analytics library; this module only gathers inputs,
times the cycle, and publishes: Redis cache (60 s TTL, one key per pair and
symbol), an in-process snapshot for the 500 ms alert engine, and once a minute
a row per pair in `pair_statistics` (source='live'). One failing pair is
logged and skipped; it never stops the others.

The cycle itself (`compute_cycle`, a pure function of copied arrays) runs off
the event loop that reads the socket: in a worker process by default
(`QP_ANALYTICS_WORKER=process`), because a thread still holds the GIL for most
of a 66-pair cycle's small numpy calls (bench/bench_feed_stall.py measures the
longest gap between handled frames for inline, thread and process).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import math
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import psycopg

from quant_platform import analytics
from quant_platform.config import Settings
from quant_platform.domain.coerce import as_float
from quant_platform.ingestion.live_bars import LiveBars, align_closes

log = logging.getLogger(__name__)
MetricSnapshot = dict[str, dict[str, float]]

PAIR_STATS_SQL = """
INSERT INTO pair_statistics (time, symbol_y, symbol_x, source, method, bar_interval,
    window_size, hedge_ratio, intercept, spread_mean, spread_std, zscore, correlation,
    adf_stat, adf_pvalue, eg_pvalue, half_life, n_obs)
VALUES (%s, %s, %s, 'live', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT DO NOTHING
"""


def realised_vol_ratio(closes: np.ndarray, short: int, long: int) -> tuple[float, float, float]:
    """Short- and long-window realised vol of log returns and their ratio (spike detector input)."""
    c = closes[~np.isnan(closes)]
    if c.size < short + 2:
        return math.nan, math.nan, math.nan
    r = np.diff(np.log(c))
    vs = float(np.std(r[-short:], ddof=1))
    vl = float(np.std(r[-long:], ddof=1))
    return vs, vl, (vs / vl if vl > 0 else math.nan)


@dataclass(frozen=True)
class CycleInputs:
    """Everything one cycle reads, copied on the event loop (picklable for a worker)."""

    arrays: dict[str, dict[str, np.ndarray]]
    recent: dict[str, dict[str, np.ndarray]] | None
    symbols: tuple[str, ...]
    pairs: tuple[tuple[str, str], ...]
    bar_s: int
    window: int
    holdout: int
    zscore_window: int
    now: datetime
    # legs read from another shard's Redis stream, and how far behind one may trail
    remote: frozenset[str] = frozenset()
    stale_s: float = math.inf


@dataclass
class CycleResult:
    snapshot: MetricSnapshot
    rows: list[tuple]
    failures: int
    compute_ms: float


def compute_cycle(inp: CycleInputs) -> CycleResult:
    """One cycle over all pairs and symbols: pure, so it can run in a thread or a process."""
    t0 = time.perf_counter()
    arrays = inp.arrays
    _, closes = align_closes(arrays, inp.bar_s, inp.window, ffill_limit=60)
    ends = [int(b["bucket"][-1]) for b in arrays.values() if len(b["bucket"])]
    end = max(ends) if ends else None
    snap: MetricSnapshot = {}
    rows: list[tuple] = []
    failures = 0
    for y, x in inp.pairs:
        target = f"{y}/{x}"
        lag = remote_lag_s(arrays, (y, x), inp.remote, end)
        try:
            metrics, method = _pair_entry(closes[y], closes[x], inp)
        except (analytics.AnalyticsError, ValueError, np.linalg.LinAlgError) as exc:
            log.debug("pair %s skipped this cycle: %s", target, exc)
            if lag is not None and not lag < inp.stale_s:  # say why: the remote leg is away
                snap[target] = {"stale": 1.0, "remote_lag_s": lag}
            continue
        except Exception:  # one bad pair never stops the others
            failures += 1
            log.exception("pair %s failed", target)
            continue
        if lag is not None:
            stale = not lag < inp.stale_s
            metrics.update(stale=float(stale), remote_lag_s=lag)
            if stale:
                # The remote leg's last price is older than QP_REMOTE_STALE_S: a spread or
                # z-score "now" would be made up. The window's fit stays, marked stale.
                metrics.update(zscore=math.nan, spread=math.nan)
                snap[target] = metrics
                continue
        snap[target] = metrics
        rows.append(_pair_row(inp, y, x, metrics, method))
    for sym in inp.symbols:
        try:
            ticks = inp.recent.get(sym) if inp.recent is not None else None
            snap[sym] = _symbol_metrics(sym, arrays[sym], closes[sym], ticks)
        except (analytics.AnalyticsError, ValueError) as exc:
            log.debug("symbol %s skipped this cycle: %s", sym, exc)
        except Exception:
            failures += 1
            log.exception("symbol %s failed", sym)
    return CycleResult(snap, rows, failures, (time.perf_counter() - t0) * 1000)


def remote_lag_s(
    arrays: dict[str, dict[str, np.ndarray]],
    legs: tuple[str, str],
    remote: frozenset[str],
    end: int | None,
) -> float | None:
    """How far (s of trade time) the pair's remote leg trails the daemon's newest bar;
    None for a pair with no remote leg, inf for a remote leg with no bar yet."""
    lags = []
    for leg in legs:
        if leg in remote:
            bucket = arrays[leg]["bucket"]
            lags.append(math.inf if end is None or not len(bucket) else float(end - bucket[-1]))
    return max(lags) if lags else None


def _pair_entry(yv: np.ndarray, xv: np.ndarray, inp: CycleInputs) -> tuple[dict[str, float], str]:
    """The pair's metrics on the common clock (both legs observed), and the fit method.

    Raises:
        analytics.AnalyticsError: too few common observations.
    """
    ok = ~(np.isnan(yv) | np.isnan(xv))
    n_ok = int(ok.sum())
    m = analytics.pair_metrics(
        yv[ok],
        xv[ok],
        log=True,
        holdout=inp.holdout,
        zscore_window=max(2, min(inp.zscore_window, n_ok - inp.holdout)),
    )
    d = dataclasses.asdict(m)
    return {k: as_float(d.get(src)) for k, src in _PAIR_FIELDS}, str(d.get("method", "ols"))


_PAIR_FIELDS = (
    ("zscore", "zscore"),
    ("hedge_ratio", "hedge_ratio"),
    ("intercept", "intercept"),
    ("spread", "spread_last"),
    ("spread_mean", "spread_mean"),
    ("spread_std", "spread_std"),
    ("correlation", "correlation"),
    ("adf_stat", "adf_stat"),
    ("adf_pvalue", "adf_pvalue"),
    ("coint_pvalue", "coint_pvalue"),
    ("half_life", "half_life"),
    ("n_obs", "n_obs"),
)
_ROW_FIELDS = (
    "hedge_ratio",
    "intercept",
    "spread_mean",
    "spread_std",
    "zscore",
    "correlation",
    "adf_stat",
    "adf_pvalue",
    "coint_pvalue",  # stored as eg_pvalue: the live tile's value
    "half_life",
)


def _pair_row(inp: CycleInputs, y: str, x: str, metrics: dict[str, float], method: str) -> tuple:
    """The `pair_statistics` row (source='live') for one pair's metrics."""
    n_obs = metrics["n_obs"]
    return (
        inp.now,
        y,
        x,
        method,
        f"{inp.bar_s}s",
        inp.window,
        *(metrics[k] for k in _ROW_FIELDS),
        int(n_obs) if not math.isnan(n_obs) else None,
    )


def _symbol_metrics(
    sym: str,
    bars: dict[str, np.ndarray],
    closes: np.ndarray,
    ticks: dict[str, np.ndarray] | None,
) -> dict[str, float]:
    if bars["close"].size < 3:
        raise analytics.AnalyticsError(f"{sym}: fewer than 3 bars")
    if ticks is not None:
        prices, qtys, bim = ticks["price"], ticks["qty"], ticks["buyer_is_maker"]
    else:  # bars as pseudo-trades: close, volume, buy share
        prices, qtys = bars["close"], bars["volume"]
        bim = bars["buy_volume"] < bars["volume"] / 2
    n = np.asarray(prices).size
    if n < 40:
        raise analytics.AnalyticsError(f"{sym}: {n} observations, need 40")
    short = min(60, n // 8)
    m = dataclasses.asdict(
        analytics.symbol_metrics(
            prices,
            qtys,
            bim,
            vol_short_window=short,
            vol_history_window=min(600, n - short - 1),
            trend_window=min(300, n // 2),
        )
    )
    vs, vl, ratio = realised_vol_ratio(closes, short=60, long=min(900, closes.size - 1))
    out = {
        k: as_float(v)
        for k, v in m.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
    out.update(price=float(bars["close"][-1]), vol_short=vs, vol_long=vl, vol_ratio=ratio)
    return out


ORPHAN_CHECK_S = 1.0


def _exit_when_orphaned(parent_pid: int) -> None:
    """Poll the parent; once it is gone (e.g. `kill -9`), end this worker at once.

    A pool worker blocks on its call queue, whose pipe it holds both ends of, so
    the parent's death never reaches it as EOF: without this, every killed
    daemon leaves a worker process behind.
    """
    while True:
        time.sleep(ORPHAN_CHECK_S)
        if os.getppid() != parent_pid:
            os._exit(0)


def _worker_init(parent_pid: int) -> None:
    """Worker processes ignore Ctrl-C (the daemon stops them), yield the CPU to the feed,
    and exit when the daemon dies.

    On a loaded host the kernel then runs the process that reads the socket first.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.nice(10)
    threading.Thread(
        target=_exit_when_orphaned, args=(parent_pid,), name="orphan-watch", daemon=True
    ).start()


class LiveAnalytics:
    """Owns the per-symbol live bars; computes the cycle inline, in a thread or a process."""

    def __init__(self, settings: Settings, cache: Any | None = None) -> None:
        self.settings = settings
        self.cache = cache
        window = max(settings.analytics_window_s // settings.analytics_bar_s, 10)
        self.window = window
        # The newest analytics interval is out of sample (beta, mean, std fitted before
        # it), so a dislocation shows at full size in the cycle it happens.
        self.holdout = max(1, int(settings.analytics_interval_s / settings.analytics_bar_s))
        legs = (*settings.symbols, *settings.remote_symbols)
        self.bars = {s: LiveBars(settings.analytics_bar_s, window) for s in legs}
        self.snapshot: MetricSnapshot = {}
        self.snapshot_time = 0.0
        self.last_cycle_ms = math.nan
        self.failures = 0
        self.worker = settings.analytics_worker
        self._pool: concurrent.futures.Executor | None = None
        self._last_persist = 0.0
        self._pending_rows: list[tuple] = []
        # pairs promoted from the screener at run time (Redis `live:pairs`), beside QP_PAIRS
        self.promoted: list[tuple[str, str]] = []

    def pairs(self) -> list[tuple[str, str]]:
        """Configured pairs, then promoted ones whose first leg this daemon ingests and whose
        second leg it has bars for (ingested or remote): one shard per promoted pair too."""
        out = list(self.settings.pair_list)
        seen = set(out) | {(x, y) for y, x in out}
        own = set(self.settings.symbols)
        out += [p for p in self.promoted if p not in seen and p[0] in own and p[1] in self.bars]
        return out

    def on_trade(
        self, symbol: str, trade_time_ms: int, price: float, qty: float, buyer_is_maker: bool
    ) -> None:
        self.bars[symbol].add(trade_time_ms, price, qty, buyer_is_maker)

    def gather(self, recent: Callable[[str], dict[str, np.ndarray]] | None = None) -> CycleInputs:
        """Copy this cycle's inputs (runs on the event loop: O(bars), no analytics)."""
        s = self.settings
        return CycleInputs(
            arrays={sym: b.arrays() for sym, b in self.bars.items()},
            recent={sym: recent(sym) for sym in s.symbols} if recent is not None else None,
            symbols=tuple(s.symbols),
            pairs=tuple(self.pairs()),
            bar_s=s.analytics_bar_s,
            window=self.window,
            holdout=self.holdout,
            zscore_window=s.zscore_window,
            now=datetime.now(UTC),
            remote=frozenset(s.remote_symbols),
            stale_s=s.remote_stale_s,
        )

    def _apply(self, result: CycleResult) -> MetricSnapshot:
        self.failures += result.failures
        self._pending_rows.extend(result.rows)
        self.last_cycle_ms = result.compute_ms
        self.snapshot = result.snapshot
        self.snapshot_time = time.time()
        return result.snapshot

    def compute(
        self, recent: Callable[[str], dict[str, np.ndarray]] | None = None
    ) -> MetricSnapshot:
        """One cycle over all pairs and symbols, on the calling thread; returns the snapshot."""
        return self._apply(compute_cycle(self.gather(recent)))

    async def compute_off_loop(
        self, recent: Callable[[str], dict[str, np.ndarray]] | None = None
    ) -> MetricSnapshot:
        """One cycle with the heavy part in the configured worker; the loop keeps reading."""
        inputs = self.gather(recent)
        if self.worker == "inline":
            return self._apply(compute_cycle(inputs))
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self._executor(), compute_cycle, inputs)
        return self._apply(result)

    def _executor(self) -> concurrent.futures.Executor:
        if self._pool is None:
            if self.worker == "process":
                # spawn, not fork: the daemon has threads (writer, Redis) a fork would copy
                self._pool = concurrent.futures.ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_worker_init,
                    initargs=(os.getpid(),),
                )
            else:
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="live-analytics"
                )
        return self._pool

    def close(self) -> None:
        """Stop the worker (process or thread); the next cycle would start a new one."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def fresh_snapshot(self) -> MetricSnapshot:
        """The snapshot, or {} once older than 3 cycles (a dead cycle must not feed alerts).

        A cycle is the interval plus the compute time (66 pairs on a loaded host
        can take longer than the interval), so slow-but-alive never reads as dead.
        """
        last_s = 0.0 if math.isnan(self.last_cycle_ms) else self.last_cycle_ms / 1000
        cycle_s = self.settings.analytics_interval_s + last_s
        if time.time() - self.snapshot_time > 3 * cycle_s + 1:
            return {}
        return self.snapshot

    async def publish(self, snap: MetricSnapshot) -> None:
        if self.cache is None:
            return
        meta = {"computed_at": self.snapshot_time, "compute_ms": self.last_cycle_ms}
        for target, metrics in snap.items():
            payload = {**metrics, **meta}
            if "/" in target:
                y, x = target.split("/")
                await self.cache.put_pair(y, x, payload)
            else:
                await self.cache.put_symbol(target, payload)
        await self.cache.publish("analytics")

    def persist_due(self, now: float) -> bool:
        return now - self._last_persist >= self.settings.stats_persist_interval_s

    def persist(self, database_url: str) -> int:
        """Write the newest row per pair to `pair_statistics` (called from a worker thread)."""
        latest: dict[tuple[str, str], tuple] = {}
        for row in self._pending_rows:
            latest[(row[1], row[2])] = row
        self._pending_rows.clear()
        self._last_persist = time.monotonic()
        if not latest:
            return 0
        rows = [
            tuple(None if isinstance(v, float) and math.isnan(v) else v for v in r)
            for r in latest.values()
        ]
        with psycopg.connect(database_url, connect_timeout=5) as conn:
            conn.cursor().executemany(PAIR_STATS_SQL, rows)
        return len(rows)

    async def run(
        self, stop: asyncio.Event, recent: Callable[[str], dict[str, np.ndarray]] | None = None
    ) -> None:
        """Every `analytics_interval_s` until `stop` is set (then the worker is stopped)."""
        try:
            await self._cycles(stop, recent)
        finally:
            if stop.is_set():
                self.close()

    async def _cycles(
        self, stop: asyncio.Event, recent: Callable[[str], dict[str, np.ndarray]] | None
    ) -> None:
        interval = self.settings.analytics_interval_s
        while not stop.is_set():
            if self.cache is not None:
                try:
                    self.promoted = await self.cache.promoted_pairs()
                except Exception as exc:  # Redis down: keep the last known set
                    log.debug("promoted pairs not refreshed: %s", exc)
            try:
                snap = await self.compute_off_loop(recent)
            except concurrent.futures.BrokenExecutor:  # the worker process died: new one next
                self.close()
                raise
            try:
                await self.publish(snap)
            except Exception as exc:  # Redis down: the in-process snapshot still feeds alerts
                log.debug("analytics cache publish skipped: %s", exc)
            if self.persist_due(time.monotonic()):
                try:
                    n = await asyncio.to_thread(self.persist, self.settings.database_url)
                    log.debug("persisted %d live pair statistics", n)
                except psycopg.Error as exc:
                    log.warning("live pair statistics not persisted (database): %s", exc)
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                pass
