"""Imports page: uploads (OHLC CSV, NDJSON trades, venue files) under a source tag; stored history.

Uploads go through the same parser and row rules as `qp import`, but into
`uploaded_trades` / `uploaded_ohlcv` under a source tag, never into the feed's
tables, so uploaded data can't mix silently with the market data.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st
from frame import Frame

from quant_platform.feed.public_files import FileFormatError, ParseReport, read_all
from quant_platform.storage.history_import import store_upload, upload_sources

KINDS = {
    "from the file name": None,
    "OHLC CSV (time,open,high,low,close,volume)": "ohlc",
    "NDJSON trades": "tradesNdjson",
    "Binance trades CSV": "trades",
    "Binance aggTrades CSV": "aggTrades",
    "Binance klines CSV": "klines",
}


def handle_upload(
    frame: Frame, name: str, data: bytes, kind: str | None, symbol: str, source: str
) -> tuple[int, ParseReport | None]:
    """Validate and store one uploaded file, reporting rejected lines by number.

    Returns rows stored and the parse report (None when the file was unreadable).
    """
    try:
        ident, records, report = read_all(
            Path(name), symbol.strip().upper() or None, kind, data=data
        )
    except FileFormatError as exc:
        st.error(f"{name}: {exc}")
        return 0, None
    with frame.db() as conn:
        stored = store_upload(conn, source, ident, records)
    rejected = sum(report.rejected.values())
    st.success(
        f"{name}: {report.rows_read} rows read, {stored} stored under source "
        f"'{source}' ({ident.symbol}, {ident.kind.name}), "
        f"{len(records) - stored} already there, {rejected} rejected."
    )
    if report.rejected_lines:
        st.warning(
            "\n".join(
                f"line {r.line}: {r.reason}{' (' + r.detail + ')' if r.detail else ''}"
                for r in report.rejected_lines
            )
        )
    return stored, report


def render(frame: Frame) -> None:
    st.header("Imports and uploads")
    st.caption(
        "Bulk history: `qp import FILES... [--backfill]` (see README). Uploads here are kept "
        "apart from the feed under their source tag."
    )
    with st.form("upload_form", clear_on_submit=False):
        up = st.file_uploader(
            "file (.csv, .zip, .ndjson, .jsonl)",
            type=["csv", "zip", "ndjson", "jsonl", "json"],
            key="up_file",
        )
        c1, c2, c3 = st.columns(3)
        kind_label = c1.selectbox("kind", list(KINDS), key="up_kind")
        symbol = c2.text_input("symbol (if the name lacks it)", key="up_symbol")
        source = c3.text_input("source tag (default upload:<file name>)", key="up_source")
        submitted = st.form_submit_button("Validate and store")
    if submitted:
        if up is None:
            st.warning("Choose a file first.")
        else:
            with frame.guard("upload"):
                tag = source.strip() or f"upload:{up.name}"
                handle_upload(frame, up.name, up.getvalue(), KINDS[kind_label], symbol, tag)
    st.subheader("Uploaded data")
    with frame.guard("uploads"):
        with frame.db() as conn:
            rows = upload_sources(conn)
        if not rows:
            st.caption("Nothing uploaded yet.")
        else:
            st.dataframe(
                pd.DataFrame(rows, columns=["source", "table", "symbol", "rows", "first", "last"]),
                hide_index=True,
                key="up_sources",
            )
    st.subheader("Stored bars (feed + qp import)")
    with frame.guard("history"):
        with frame.db() as conn:
            spans = conn.execute(
                "SELECT symbol, interval, count(*), min(bucket), max(bucket) FROM ohlcv"
                " GROUP BY 1, 2 ORDER BY 1, 2"
            ).fetchall()
        if spans:
            st.dataframe(
                pd.DataFrame(spans, columns=["symbol", "interval", "bars", "first", "last"]),
                hide_index=True,
                key="hist_spans",
            )
        else:
            st.caption("No bars stored yet.")
