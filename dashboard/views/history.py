"""History page: stored ADF / Engle-Granger p-values and half-life, live and batch rows together."""

from __future__ import annotations

import streamlit as st
from components import charts
from components.formatting import download, fmt
from frame import Frame
from views.controls import REFRESH_S, PairView

from quant_platform.queries import statistics as stat_q


@st.fragment(run_every=REFRESH_S)
def statistics_panels(frame: Frame, view: PairView) -> None:
    """Stored ADF / cointegration p-values and half-life, live and batch rows together."""
    with frame.guard("Pair statistics"), frame.db() as conn:
        hist = stat_q.pair_statistics_history(
            conn, view.sym_y, view.sym_x, limit=max(view.lookback, 500)
        )
        if hist.empty:
            st.info(
                f"No stored statistics for {view.pair} yet: the live engine writes one row a "
                "minute and the Dagster pair-statistics asset writes batch rows.",
                icon=":material/hourglass_empty:",
            )
            return
        latest = stat_q.latest_pair_statistics(hist)
        cols = st.columns(len(latest) * 3)
        i = 0
        for source, row in sorted(latest.items()):
            cols[i].metric(f"ADF p ({source})", fmt(row.get("adf_pvalue"), ".4f"))
            cols[i + 1].metric(f"EG p ({source})", fmt(row.get("eg_pvalue"), ".4f"))
            cols[i + 2].metric(
                f"half-life ({source}, {row.get('bar_interval')})",
                fmt(row.get("half_life"), ".1f") + " bars",
            )
            i += 3
        st.plotly_chart(
            charts.stationarity(
                hist, frame.settings.cointegration_pvalue, f"Stationarity history · {view.pair}"
            ),
            key="stationarity",
        )
        download(
            "Download statistics CSV",
            hist,
            f"pair_statistics_{view.sym_y}_{view.sym_x}.csv",
            "dl_stats",
        )


def render(frame: Frame, view: PairView) -> None:
    st.header(f"History · {view.pair}")
    statistics_panels(frame, view)
