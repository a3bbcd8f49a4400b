"""System page, and the health row every page shows: feed (SIMULATED badge), stores, Dagster."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from frame import Frame
from views.controls import REFRESH_S

from quant_platform.queries.platform_health import platform_health
from quant_platform.queries.research import LivePairs


@st.fragment(run_every=REFRESH_S)
def health_row(frame: Frame) -> None:
    """Feed (with a SIMULATED badge), Redis, PostgreSQL/TimescaleDB and Dagster at a glance."""
    feed, services = platform_health(frame.settings, frame.redis())
    cols = st.columns([2.2] + [1] * len(services))
    with cols[0]:
        if feed.simulated:
            st.badge(
                "SIMULATED DATA",
                icon=":material/science:",
                color="orange",
                help="Trades come from the bundled exchange simulator, not Binance",
            )
        else:
            st.badge(f"LIVE · {feed.name}", icon=":material/bolt:", color="blue")
        state = (
            ":green-badge[feed up]"
            if feed.up
            else ":red-badge[feed stale]"
            if feed.heartbeat
            else ":gray-badge[no heartbeat]"
        )
        st.markdown(f"**Feed: {feed.name}** {state}")
        st.caption(feed.detail)
    for col, s in zip(cols[1:], services, strict=True):
        with col:
            badge = f":green-badge[{s.name} up]" if s.up else f":red-badge[{s.name} DOWN]"
            st.markdown(badge, help=s.detail)
            st.caption(s.detail[:80])


def render(frame: Frame) -> None:
    s = frame.settings
    st.header("System")
    with frame.guard("System"):
        feed, services = platform_health(s, frame.redis())
        st.markdown(f"**Feed**: {feed.name} · {'up' if feed.up else 'not up'} · {feed.detail}")
        st.dataframe(
            pd.DataFrame([{"service": x.name, "up": x.up, "detail": x.detail} for x in services]),
            hide_index=True,
            width="stretch",
        )
        st.markdown(
            f"Dagster UI: http://{s.bind_host}:{s.dagster_port} · symbols "
            f"{', '.join(s.symbols)} · Redis prefix `{s.redis_prefix}`"
        )
        live = LivePairs(s.database_url, s.redis_url, s.redis_prefix)
        try:
            promoted = live.list()
        finally:
            live.close()
        configured = ", ".join(f"{y}/{x}" for y, x in s.pair_list)
        extra = ", ".join(promoted["symbol_y"] + "/" + promoted["symbol_x"]) or "none"
        st.caption(f"Live pair set: configured {configured}; promoted {extra}")
