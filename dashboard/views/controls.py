"""The sidebar's pair controls, read once per run and handed to the pages that chart a pair."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from quant_platform.config import Settings
from quant_platform.queries import bars as bar_q

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


def pair_controls(settings: Settings) -> PairView:
    """Render the sidebar controls (their state survives page switches: keyed widgets)."""
    pairs = [f"{y}/{x}" for y, x in settings.pair_list]
    with st.sidebar:
        st.header("Controls")
        pair = st.selectbox("Pair (y / x)", pairs, key="pair")
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
