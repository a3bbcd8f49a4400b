"""Reports page: past scheduled reports (newest first), each one's first line and its HTML.

A webhook's link (`/reports?report=NAME&at=STAMP`) opens here with that report chosen.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st
from frame import Frame

from quant_platform.reporting.archive import list_reports
from quant_platform.reporting.definitions import ReportDefinitionError, load_definitions


def render(frame: Frame) -> None:
    st.subheader("Scheduled reports")
    try:
        defs = load_definitions(frame.settings.reports_file)
    except ReportDefinitionError as exc:
        st.error(f"QP_REPORTS_FILE: {exc}")
        defs = []
    if defs:
        st.caption(
            "Defined: "
            + "; ".join(f"{d.name} (cron '{d.cron}', {d.raw_lookback})" for d in defs)
            + " · run one now with `qp reports run NAME`."
        )
    else:
        st.caption("No definitions: set QP_REPORTS_FILE to a YAML file with `reports:`.")
    past = list_reports(Path(frame.settings.reports_dir))
    if not past:
        st.info("No reports yet.")
        return
    table = pd.DataFrame(
        [
            {
                "report": r.get("name"),
                "end (UTC)": r.get("end"),
                "has data": r.get("has_data"),
                "first line": r.get("first_line"),
                "delivered": sum(1 for d in r.get("deliveries", []) if d.get("ok")),
                "failed": sum(1 for d in r.get("deliveries", []) if not d.get("ok")),
            }
            for r in past
        ]
    )
    st.dataframe(table, hide_index=True)
    labels = [f"{r.get('name')} · {r.get('end')}" for r in past]
    wanted = st.query_params.get("report")
    at = st.query_params.get("at")
    index = 0
    for i, r in enumerate(past):
        if r.get("name") == wanted and (at is None or str(r.get("html", "")).startswith(at)):
            index = i
            break
    choice = st.selectbox("Report", labels, index=index, key="rep_pick")
    chosen = past[labels.index(choice)]
    st.markdown(f"**{chosen.get('first_line')}**")
    path = Path(str(chosen["path"]))
    if path.exists():
        st.download_button(
            "Download HTML", path.read_bytes(), path.name, mime="text/html", key="rep_dl"
        )
