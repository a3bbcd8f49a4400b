"""`daily_report`: one self-contained HTML (Plotly) and one CSV per UTC day.

Reads only materialised data (bars, batch/live statistics, alert events), so a
report can be re-run for any past day and gives the same file.
"""

import html
import itertools
import math
import os
from datetime import datetime
from pathlib import Path
from typing import Literal

import pandas as pd
import psycopg
from dagster import (
    AssetExecutionContext,
    Config,
    DailyPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from quant_platform.config import get_settings
from quant_platform.orchestration.ohlcv.assets import ohlcv
from quant_platform.orchestration.pair_statistics.assets import pair_statistics
from quant_platform.orchestration.partitions import daily_start
from quant_platform.orchestration.resources import PlatformSettingsResource, TimescaleResource
from quant_platform.queries.backtest import backtest_rows

# From the data's first day; `end_offset=1` adds today, so today's report so far can be
# produced (the schedule still targets the finished previous day).
REPORT_PARTITIONS = DailyPartitionsDefinition(
    start_date=daily_start(get_settings()), timezone="UTC", end_offset=1
)

_CLOSES_SQL = """
SELECT bucket, symbol, close FROM ohlcv
WHERE interval = '1m' AND symbol = ANY(%(symbols)s) AND bucket >= %(start)s AND bucket < %(end)s
ORDER BY bucket
"""
_STATS_SQL = """
SELECT time, symbol_y, symbol_x, source, method, bar_interval, window_size, hedge_ratio,
       intercept, spread_mean, spread_std, zscore, correlation, adf_stat, adf_pvalue,
       eg_stat, eg_pvalue, half_life, n_obs
FROM pair_statistics WHERE time >= %(start)s AND time < %(end)s
ORDER BY time, symbol_y, symbol_x, source
"""
_ALERTS_SQL = """
SELECT date_trunc('hour', time) AS hour, severity, target, count(*) AS n
FROM alert_events WHERE time >= %(start)s AND time < %(end)s
GROUP BY 1, 2, 3 ORDER BY 1
"""


class DailyReportConfig(Config):
    """`inline` embeds plotly.js (~3.5 MB, opens offline anywhere); `cdn` links it."""

    plotlyjs: Literal["inline", "cdn"] = "inline"


def load_day(
    conn: psycopg.Connection, symbols: list[str], start: datetime, end: datetime
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The day's 1m closes (wide), pair statistics rows, alert counts per hour/severity/target."""
    p = {"symbols": symbols, "start": start, "end": end}
    cur = conn.execute(_CLOSES_SQL, p)
    bars = pd.DataFrame(cur.fetchall(), columns=["bucket", "symbol", "close"])
    if bars.empty:
        closes = pd.DataFrame(columns=symbols, dtype=float)
    else:
        closes = bars.pivot(index="bucket", columns="symbol", values="close")
        closes = closes.reindex(columns=symbols).astype(float).ffill(limit=60)
    cur = conn.execute(_STATS_SQL, p)
    stats = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])
    cur = conn.execute(_ALERTS_SQL, p)
    alerts = pd.DataFrame(cur.fetchall(), columns=["hour", "severity", "target", "n"])
    return closes, stats, alerts


def _f(v: object, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.{digits}g}" if isinstance(v, float) else str(v)


def summary_rows(
    pairs: list[tuple[str, str]],
    spreads: dict[str, pd.DataFrame],
    stats: pd.DataFrame,
    alerts: pd.DataFrame,
) -> list[dict[str, object]]:
    """One row per pair: day hedge ratio, last z, batch p-values, half-life, alerts."""
    batch = stats[stats["source"] == "batch"] if not stats.empty else stats
    out = []
    for y, x in pairs:
        name = f"{y}/{x}"
        d = spreads.get(name)
        z = None
        if d is not None and d["std"].notna().any():
            last = d.dropna().iloc[-1] if not d.dropna().empty else None
            z = float((last["spread"] - last["mean"]) / last["std"]) if last is not None else None
        g = batch[(batch["symbol_y"] == y) & (batch["symbol_x"] == x)] if not batch.empty else batch
        p = g["eg_pvalue"].dropna().astype(float) if not g.empty else pd.Series(dtype=float)
        n_alerts = int(alerts.loc[alerts["target"] == name, "n"].sum()) if not alerts.empty else 0
        out.append(
            {
                "pair": name,
                "hedge_ratio": float(d["beta"].iloc[0]) if d is not None else None,
                "last_z": z,
                "eg_p_min": float(p.min()) if not p.empty else None,
                "eg_p_last": float(p.iloc[-1]) if not p.empty else None,
                "half_life_bars": float(g["half_life"].dropna().iloc[-1])
                if not g.empty and g["half_life"].notna().any()
                else None,
                "stats_rows": len(g),
                "alerts": n_alerts,
            }
        )
    return out


def markdown_table(rows: list[dict[str, object]]) -> str:
    if not rows:
        return "_no pairs configured_"
    cols = list(max(rows, key=len))
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_f(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def html_table(rows: list[dict[str, object]]) -> str:
    """Rows of dicts as an HTML table (keys of the widest row as columns)."""
    if not rows:
        return ""
    cols = list(max(rows, key=len))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_f(r.get(c)))}</td>" for c in cols) + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(
    day: str,
    figures: list,
    summary: list[dict[str, object]],
    plotlyjs: str,
    backtests: list[dict[str, object]] | None = None,
) -> str:
    """A standalone page: summary table, the day's backtests, then every figure.

    plotly.js is included once.
    """
    head = "".join(f"<th>{html.escape(c)}</th>" for c in (summary[0] if summary else []))
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_f(v))}</td>" for v in r.values()) + "</tr>"
        for r in summary
    )
    first: bool | str = {"inline": True, "cdn": "cdn"}[plotlyjs]
    parts = [
        fig.to_html(full_html=False, include_plotlyjs=first if i == 0 else False)
        for i, fig in enumerate(figures)
    ]
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>quant-platform daily report {day}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}</style></head><body>"
        f"<h1>Daily report {html.escape(day)} (UTC)</h1>"
        f"<table><tr>{head}</tr>{body}</table>"
        + (
            "<h2>Backtest of the day (z-score rule, fees, slippage, funding)</h2>"
            + html_table(backtests)
            if backtests
            else ""
        )
        + "".join(parts)
        + "</body></html>"
    )


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@asset(
    group_name="reports",
    kinds={"plotly", "html", "csv"},
    partitions_def=REPORT_PARTITIONS,
    deps=[ohlcv, pair_statistics],
    description=(
        "Daily HTML report (prices, spreads with z-bands, rolling correlation, "
        "cointegration p-values, alert counts; Plotly) and a CSV of the day's pair "
        "statistics, written to QP_DATA_DIR/reports."
    ),
)
def daily_report(
    context: AssetExecutionContext,
    config: DailyReportConfig,
    timescale: TimescaleResource,
    platform: PlatformSettingsResource,
) -> MaterializeResult:
    from quant_platform.orchestration.reports import figures

    day = context.partition_key
    window = context.partition_time_window
    pairs = platform.pair_list() or list(itertools.combinations(platform.symbols, 2))
    symbols = list(dict.fromkeys([*platform.symbols, *(s for p in pairs for s in p)]))
    with timescale.connect() as conn:
        closes, stats, alerts = load_day(conn, symbols, window.start, window.end)
        backtests = backtest_rows(conn, pairs, "1m", window.start, window.end)
    spreads = {
        f"{y}/{x}": d for y, x in pairs if (d := figures.pair_spread(closes, y, x)) is not None
    }
    summary = summary_rows(pairs, spreads, stats, alerts)
    alert_hours = (
        alerts.groupby(["hour", "severity"], as_index=False)["n"].sum()
        if not alerts.empty
        else alerts
    )
    figs = [
        figures.prices_figure(closes),
        figures.spreads_figure(spreads),
        figures.correlation_figure(closes, pairs),
        figures.pvalue_figure(stats, platform.cointegration_pvalue),
        figures.alerts_figure(alert_hours),
    ]
    out_dir = Path(platform.reports_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path = out_dir / f"daily_report_{day}.html"
    csv_path = out_dir / f"pair_statistics_{day}.csv"
    _atomic_write(html_path, render_html(day, figs, summary, config.plotlyjs, backtests))
    _atomic_write(csv_path, stats.to_csv(index=False))
    md = markdown_table(summary)
    return MaterializeResult(
        metadata={
            "path": MetadataValue.path(str(html_path.resolve())),
            "size_bytes": html_path.stat().st_size,
            "csv_path": MetadataValue.path(str(csv_path.resolve())),
            "csv_size_bytes": csv_path.stat().st_size,
            "csv_rows": len(stats),
            "bars": len(closes),
            "alerts": int(alerts["n"].sum()) if not alerts.empty else 0,
            "figures": len(figs),
            "summary": MetadataValue.md(md),
            "backtest": MetadataValue.md(markdown_table(backtests)),
        }
    )
