"""quant-platform dashboard (Streamlit). All queries live in `quant_platform.queries`."""

from __future__ import annotations

import pandas as pd
import redis
import streamlit as st

from quant_platform.config import get_settings
from quant_platform.queries.live import feed_health, latest_trades
from quant_platform.services.health import check_all
from quant_platform.storage.redis_keys import RedisKeys

st.set_page_config(page_title="quant-platform", layout="wide")
settings = get_settings()


@st.fragment(run_every=5)
def health_panel() -> None:
    st.subheader("Service health")
    statuses = check_all(settings)
    cols = st.columns(len(statuses))
    for col, s in zip(cols, statuses, strict=True):
        col.metric(s.name, "up" if s.up else "DOWN", s.detail, delta_color="off")
    try:
        client = redis.Redis.from_url(settings.redis_url, socket_timeout=2)
        keys = RedisKeys(settings.redis_prefix)
        feed = feed_health(client, keys)
        last = latest_trades(client, keys, list(settings.symbols))
    except redis.RedisError as exc:
        st.warning(f"Redis unreachable: {exc}")
        return
    feed_name = feed.get("feed", "unknown")
    label = "SIMULATED data" if feed_name == "simulator" else f"feed: {feed_name}"
    st.caption(f"{label} · stream {feed.get('stream', settings.stream)}")
    rows = [{"symbol": s, **v} for s, v in last.items()]
    st.subheader("Latest trades")
    st.dataframe(pd.DataFrame(rows), hide_index=True, use_container_width=True)


st.title("quant-platform")
health_panel()
