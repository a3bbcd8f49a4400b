"""The sidebar's pair controls, read once per run and handed to the pages that chart a pair."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from quant_platform.config import Settings
from quant_platform.queries import bars as bar_q
from quant_platform.simulator.market import cointegrated_pairs

REFRESH_S = 5
LIVE = "live 1s"
TIMEFRAMES = ("1m", "5m", "1h", LIVE)


@dataclass(frozen=True)
class PairView:
    """What the user picked: the pair, the bar source and the signal thresholds."""

    pair: str
    timeframe: str
    lookback: int
    zwin: int
    entry: float
    exit_: float

    @property
    def sym_y(self) -> str:
        return self.pair.split("/")[0]

    @property
    def sym_x(self) -> str:
        return self.pair.split("/")[1]

    @property
    def live(self) -> bool:
        return self.timeframe == LIVE

    @property
    def bar_seconds(self) -> int:
        return bar_q.BAR_SECONDS["1s" if self.live else self.timeframe]


def default_pair_index(settings: Settings) -> int:
    """Where the pair box starts: on the simulator's cointegrated pair when it feeds.

    Why: the demo should open on the pair that mean-reverts (ETHUSDT is built on
    BTCUSDT in `quant_platform.simulator.market`), whatever order QP_SYMBOLS or
    QP_PAIRS list things in. The pair keeps its configured orientation (y/x), because
    the live engine caches its metrics under that orientation. With the Binance feed,
    or when no configured pair is cointegrated by construction, the first pair.
    """
    configured = settings.pair_list
    if settings.feed != "simulator":
        return 0
    for y, x in cointegrated_pairs(settings.symbols):
        for want in ((y, x), (x, y)):  # the model's orientation first
            if want in configured:
                return configured.index(want)
    return 0


def pair_controls(settings: Settings) -> PairView:
    """Render the sidebar controls (their state survives page switches: keyed widgets)."""
    pairs = [f"{y}/{x}" for y, x in settings.pair_list]
    with st.sidebar:
        st.header("Controls")
        pair = st.selectbox("Pair (y / x)", pairs, index=default_pair_index(settings), key="pair")
        timeframe = st.radio(
            "Timeframe",
            TIMEFRAMES,
            index=0,
            horizontal=True,
            key="timeframe",
            help="1m / 5m / 1h bars from TimescaleDB, or 1 s bars from the live Redis tick streams",
        )
        lookback = st.slider(
            "Lookback (bars)",
            50,
            5000,
            500,
            step=50,
            key="lookback",
            help="How many of the newest bars to load and chart",
        )
        zwin = st.slider(
            "z-score window (bars)",
            10,
            500,
            60,
            step=5,
            key="zwin",
            help="Rolling window of the z-score, hedge ratio and correlation",
        )
        entry = st.number_input("Entry |z|", 0.5, 6.0, 2.0, step=0.1, key="entry")
        exit_ = st.number_input("Exit |z|", 0.0, 6.0, 0.5, step=0.1, key="exit")
        if exit_ >= entry:
            st.warning("Exit threshold should be below the entry threshold.")
        st.caption(f"Auto-refresh every {REFRESH_S} s · times in UTC")
    return PairView(pair, timeframe, int(lookback), int(zwin), float(entry), float(exit_))
