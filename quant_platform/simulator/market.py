"""A calibrated synthetic market: one crypto factor, GARCH volatility, regimes, an OU spread.

The default universe is set from statistics of Binance USD-M majors on 1-minute
returns (orders of magnitude, not a fit to one day):

* BTCUSDT carries the common factor, about 55 % annualised volatility.
* ETHUSDT = hedge x BTC + an Ornstein-Uhlenbeck spread (half-life 10 min): a
  genuinely cointegrated pair whose 1-minute return correlation with BTC is ~0.85.
* SOLUSDT and BNBUSDT load on the factor (beta 1.3 and 0.8) plus their own random
  walk, giving correlations ~0.75 and ~0.7 and no cointegration.
* Volatility clusters: a GARCH(1,1) variance multiplier per minute (alpha 0.10,
  beta 0.85) times a calm/stressed regime (stressed x2.2, ~2 h calm, ~20 min
  stressed), shared by all symbols so correlations hold through regimes.

The path lives on a one-second grid generated chunk by chunk from one seed, so
the history a simulator serves over REST and the live stream it sends next are
the same path: second `k` is the same number however it was reached.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

SECONDS_PER_YEAR = 365 * 24 * 3600


@dataclass(frozen=True)
class SymbolModel:
    """How one symbol moves.

    `beta` is the loading on the common factor; `rho` the target correlation of its
    1-minute returns with the factor (sets the idiosyncratic volatility). With
    `anchor` set the symbol is cointegrated with that symbol instead: log price =
    hedge x anchor's log-price move + an OU spread with `half_life_s`, whose
    stationary std is derived from `rho` so the 1-minute correlation hits it too.
    """

    beta: float = 1.0
    rho: float = 1.0
    anchor: str | None = None
    half_life_s: float = 600.0


@dataclass(frozen=True)
class MarketParams:
    """Factor volatility, volatility clustering and regime switching (per-minute steps)."""

    annual_vol: float = 0.55
    garch_alpha: float = 0.10
    garch_beta: float = 0.85
    regime_enter_per_min: float = 1.0 / 120.0
    regime_exit_per_min: float = 1.0 / 20.0
    stressed_vol_mult: float = 2.2
    max_var_mult: float = 25.0


DEFAULT_MODELS: dict[str, SymbolModel] = {
    "BTCUSDT": SymbolModel(beta=1.0, rho=1.0),
    "ETHUSDT": SymbolModel(beta=1.15, rho=0.85, anchor="BTCUSDT", half_life_s=600.0),
    "SOLUSDT": SymbolModel(beta=1.3, rho=0.75),
    "BNBUSDT": SymbolModel(beta=0.8, rho=0.70),
}
OTHER_MODEL = SymbolModel(beta=1.0, rho=0.6)

# What the default universe is built to reproduce (checked by the simulator tests with
# the project's own analytics on 1-minute bars).
CALIBRATION_TARGETS = {
    "corr_1m": {("BTCUSDT", "ETHUSDT"): 0.85, ("BTCUSDT", "SOLUSDT"): 0.75},
    "cointegrated": ("ETHUSDT", "BTCUSDT"),
    "half_life_s": 600.0,
}


def model_for(symbol: str) -> SymbolModel:
    return DEFAULT_MODELS.get(symbol, OTHER_MODEL)


def cointegrated_pairs(symbols: list[str] | tuple[str, ...]) -> list[tuple[str, str]]:
    """The (y, x) pairs this universe builds cointegrated: each symbol with its anchor.

    Why: the dashboard opens on the pair that shows what the platform is for, read
    from the same models that generate the prices rather than guessed. A pair
    counts only when both symbols are in `symbols` (as `MarketModel` does).
    """
    present = set(symbols)
    return [
        (s, anchor)
        for s in symbols
        if (anchor := model_for(s).anchor) is not None and anchor in present and anchor != s
    ]


class MarketModel:
    """Per-second log-price moves of every symbol (relative to the start), grown on demand.

    `log_move(second)` returns an array aligned with `symbols`; `vol_mult(second)`
    is the current volatility multiplier (1 = average) that trade arrivals follow.
    """

    CHUNK_MIN = 60  # minutes generated per chunk

    def __init__(
        self, symbols: list[str], seed: int = 7, params: MarketParams | None = None
    ) -> None:
        self.symbols = list(symbols)
        self.params = params or MarketParams()
        self.rng = np.random.default_rng([seed, 0x5EED])
        self.models = [model_for(s) for s in self.symbols]
        idx = {s: i for i, s in enumerate(self.symbols)}
        # An anchor missing from the universe degrades to a plain factor loading.
        self._anchor = [
            idx.get(m.anchor) if m.anchor and idx.get(m.anchor) != i else None
            for i, m in enumerate(self.models)
        ]
        p = self.params
        self.sigma_s = p.annual_vol / math.sqrt(SECONDS_PER_YEAR)  # factor, per sqrt(second)
        sigma_m2 = self.sigma_s**2 * 60.0
        self._idio = np.zeros(len(self.symbols))
        self._ou_sd = np.zeros(len(self.symbols))
        self._ou_decay = np.ones(len(self.symbols))
        for i, m in enumerate(self.models):
            excess = max(0.0, 1.0 / max(m.rho, 1e-3) ** 2 - 1.0)
            if self._anchor[i] is None:
                self._idio[i] = m.beta * self.sigma_s * math.sqrt(excess)
            else:
                theta = math.log(2.0) / m.half_life_s
                var_d60 = m.beta**2 * sigma_m2 * excess  # variance of the spread's 1-min move
                stat_var = var_d60 / (2.0 * (1.0 - math.exp(-60.0 * theta)))
                decay = math.exp(-theta)
                self._ou_decay[i] = decay
                self._ou_sd[i] = math.sqrt(stat_var * (1.0 - decay * decay))
        self._betas = np.array([m.beta for m in self.models])
        # State carried from chunk to chunk.
        self._h = 1.0
        self._z_prev = 0.0
        self._stressed = False
        self._factor = 0.0
        self._idio_level = np.zeros(len(self.symbols))
        self._ou = np.zeros(len(self.symbols))
        self._moves: list[np.ndarray] = []  # (60*CHUNK_MIN, n) per chunk
        self._vols: list[np.ndarray] = []
        self.regime_minutes = {"calm": 0, "stressed": 0}

    @property
    def generated_s(self) -> int:
        return len(self._moves) * 60 * self.CHUNK_MIN

    def _grow(self) -> None:
        p = self.params
        n = len(self.symbols)
        rng = self.rng
        moves = np.empty((60 * self.CHUNK_MIN, n))
        vols = np.empty(60 * self.CHUNK_MIN)
        omega = 1.0 - p.garch_alpha - p.garch_beta
        for m in range(self.CHUNK_MIN):
            flip = p.regime_exit_per_min if self._stressed else p.regime_enter_per_min
            if rng.random() < flip:
                self._stressed = not self._stressed
            self.regime_minutes["stressed" if self._stressed else "calm"] += 1
            self._h = min(
                p.max_var_mult, omega + p.garch_alpha * self._z_prev**2 + p.garch_beta * self._h
            )
            mult = math.sqrt(self._h) * (p.stressed_vol_mult if self._stressed else 1.0)
            z = rng.standard_normal((60, 1 + 2 * n))
            f = np.cumsum(z[:, 0]) * self.sigma_s * mult + self._factor
            self._z_prev = float(z[:, 0].sum()) / math.sqrt(60.0)
            self._factor = float(f[-1])
            idio = np.cumsum(z[:, 1 : 1 + n] * self._idio * mult, axis=0) + self._idio_level
            self._idio_level = idio[-1].copy()
            # Exact OU step per second: level_k = decay * level_(k-1) + shock_k (a linear filter).
            shocks = z[:, 1 + n :] * self._ou_sd * mult
            ou = np.empty((60, n))
            for i in range(n):
                ou[:, i], _ = lfilter(
                    [1.0],
                    [1.0, -self._ou_decay[i]],
                    shocks[:, i],
                    zi=[self._ou_decay[i] * self._ou[i]],
                )
            self._ou = ou[-1].copy()
            block = self._betas * f[:, None] + idio
            for i, a in enumerate(self._anchor):
                if a is not None:
                    block[:, i] = self._betas[i] * block[:, a] + ou[:, i]
            moves[m * 60 : (m + 1) * 60] = block
            vols[m * 60 : (m + 1) * 60] = mult
        self._moves.append(moves)
        self._vols.append(vols)

    def _locate(self, second: int) -> tuple[int, int]:
        if second < 0:
            raise ValueError(f"second {second} is before the model's start")
        while second >= self.generated_s:
            self._grow()
        size = 60 * self.CHUNK_MIN
        return second // size, second % size

    def log_move(self, second: int) -> np.ndarray:
        """Log-price change of every symbol since second 0 (array aligned with `symbols`)."""
        c, k = self._locate(second)
        return self._moves[c][k]

    def vol_mult(self, second: int) -> float:
        c, k = self._locate(second)
        return float(self._vols[c][k])

    def path(self, seconds: int) -> np.ndarray:
        """The first `seconds` seconds as one (seconds, n_symbols) array of log moves."""
        if seconds <= 0:
            return np.empty((0, len(self.symbols)))
        self._locate(seconds - 1)
        return np.concatenate(self._moves)[:seconds]
