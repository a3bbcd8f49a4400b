"""Build one scheduled report: the sections a definition asks for, over its span, as HTML.

A span without bars says so on the report's first line ("No data: ...") and
still reports data quality (what is missing, where the last bar is), so an
empty report is a finding, not a blank page.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg

from quant_platform.analytics.errors import AnalyticsError
from quant_platform.analytics.pairs import pair_metrics
from quant_platform.queries.backtest import NoBarsError, Pair, backtest_rows, load_pair_bars
from quant_platform.queries.research import interval_seconds, load_screen
from quant_platform.reporting.definitions import ReportDefinition


@dataclass
class Report:
    name: str
    start: datetime
    end: datetime
    pairs: list[tuple[str, str]]
    has_data: bool
    first_line: str
    sections: dict[str, list[dict[str, object]]] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        """A few lines for a chat message."""
        lines = [self.first_line]
        for row in self.sections.get("backtest", []):
            if row.get("status") == "ok":
                lines.append(
                    f"{row['pair']}: {row['trades']} trades, net P&L {_fmt(row['net_pnl'])} USDT"
                )
        return "\n".join(lines)

    def html(self) -> str:
        parts = [
            "<!DOCTYPE html><html><head><meta charset='utf-8'>",
            f"<title>{html.escape(self.name)} {self.end:%Y-%m-%d %H:%M} UTC</title>",
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}</style></head><body>",
            f"<p class='first-line'><b>{html.escape(self.first_line)}</b></p>",
            f"<h1>Report {html.escape(self.name)}</h1>",
            f"<p>{self.start:%Y-%m-%d %H:%M} .. {self.end:%Y-%m-%d %H:%M} UTC · pairs: "
            + html.escape(", ".join(f"{y}/{x}" for y, x in self.pairs) or "none")
            + "</p>",
        ]
        titles = {
            "statistics": "Pair statistics",
            "backtest": "Backtest (z-score rule, fees, slippage, funding)",
            "alerts": "Alerts",
            "data_quality": "Data quality",
        }
        for key, rows in self.sections.items():
            parts.append(f"<h2>{titles[key]}</h2>{_table(rows)}")
        parts.append("</body></html>")
        return "".join(parts)


def _fmt(v: object) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return "n/a" if not math.isfinite(v) else f"{v:,.4g}"
    return str(v)


def _table(rows: list[dict[str, object]]) -> str:
    if not rows:
        return "<p>none</p>"
    cols = list(max(rows, key=len))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c)))}</td>" for c in cols) + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def resolve_pairs(conn: psycopg.Connection, d: ReportDefinition) -> list[tuple[str, str]]:
    """The definition's pairs, or the top N of the newest stored screen."""
    if d.pairs:
        return list(d.pairs)
    screen = load_screen(conn)
    if screen.empty:
        return []
    screen = screen.sort_values("rank").head(d.top or 0)
    return list(zip(screen["symbol_y"], screen["symbol_x"], strict=True))


Pairs = list[tuple[str, str]]


def _statistics(
    conn: psycopg.Connection, pairs: Pairs, d: ReportDefinition, start: datetime, end: datetime
) -> list[dict]:
    rows: list[dict[str, object]] = []
    for y, x in pairs:
        try:
            bars = load_pair_bars(conn, Pair(y, x), d.timeframe, start, end)
            m = pair_metrics(bars.y, bars.x)
        except (NoBarsError, AnalyticsError) as exc:
            rows.append({"pair": f"{y}/{x}", "status": str(exc).split(";")[0]})
            continue
        rows.append(
            {
                "pair": f"{y}/{x}",
                "status": "ok",
                "bars": m.n_obs,
                "hedge_ratio": m.hedge_ratio,
                "zscore": m.zscore,
                "correlation": m.correlation,
                "coint_pvalue": m.coint_pvalue,
                "half_life_bars": m.half_life,
            }
        )
    return rows


def _alerts(conn: psycopg.Connection, pairs: Pairs, start: datetime, end: datetime) -> list[dict]:
    names = [f"{y}/{x}" for y, x in pairs]
    cur = conn.execute(
        "SELECT target, severity, count(*) FROM alert_events"
        " WHERE time >= %s AND time < %s AND (target = ANY(%s) OR %s)"
        " GROUP BY 1, 2 ORDER BY 1, 2",
        (start, end, names, not names),
    )
    return [{"target": t, "severity": s, "events": n} for t, s, n in cur.fetchall()]


def _data_quality(
    conn: psycopg.Connection,
    symbols: list[str],
    d: ReportDefinition,
    start: datetime,
    end: datetime,
) -> list[dict]:
    step = interval_seconds(d.timeframe)
    expected = int((end - start).total_seconds() // step)
    rows = []
    for sym in symbols:
        n, first, last = conn.execute(
            "SELECT count(*), min(bucket), max(bucket) FROM ohlcv"
            " WHERE symbol = %s AND interval = %s AND bucket >= %s AND bucket < %s",
            (sym, d.timeframe, start, end),
        ).fetchone()
        latest = conn.execute(
            "SELECT max(bucket) FROM ohlcv WHERE symbol = %s AND interval = %s",
            (sym, d.timeframe),
        ).fetchone()[0]
        funding = conn.execute(
            "SELECT count(*) FROM funding_rates WHERE symbol = %s"
            " AND funding_time >= %s AND funding_time < %s",
            (sym, start, end),
        ).fetchone()[0]
        rows.append(
            {
                "symbol": sym,
                "bars": int(n),
                "expected_bars": expected,
                "coverage": (int(n) / expected) if expected else None,
                "first_bar": first.isoformat() if first else "none",
                "last_bar": last.isoformat() if last else "none",
                "latest_bar_stored": latest.isoformat() if latest else "none",
                "funding_rows": int(funding),
            }
        )
    return rows


def build_report(
    conn: psycopg.Connection, d: ReportDefinition, end: datetime | None = None
) -> Report:
    """The report of `d` over [end - lookback, end) (end: now, floored to the minute)."""
    end = end or datetime.now(UTC).replace(second=0, microsecond=0)
    start = end - d.lookback
    pairs = resolve_pairs(conn, d)
    symbols = list(dict.fromkeys(s for p in pairs for s in p))
    quality = _data_quality(conn, symbols, d, start, end)
    has_data = any(int(r["bars"]) > 0 for r in quality)  # type: ignore[call-overload]
    span = f"{start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} UTC"
    if not pairs:
        first = f"No data: report {d.name} has no pairs (no stored screen for `top`)."
    elif not has_data:
        first = (
            f"No data: no {d.timeframe} bars for {', '.join(symbols)} between {span}; "
            "data quality below."
        )
    else:
        first = f"Report {d.name}: {len(pairs)} pair(s), {d.timeframe} bars between {span}."
    report = Report(d.name, start, end, pairs, has_data, first)
    for section in d.sections:
        if section == "data_quality":
            continue
        if not has_data and section in ("statistics", "backtest"):
            report.sections[section] = []
            continue
        if section == "statistics":
            report.sections[section] = _statistics(conn, pairs, d, start, end)
        elif section == "backtest":
            report.sections[section] = backtest_rows(conn, pairs, d.timeframe, start, end)
        elif section == "alerts":
            report.sections[section] = _alerts(conn, pairs, start, end)
    report.sections["data_quality"] = quality  # always: it says what is missing
    return report


def window_end_for(scheduled: datetime) -> datetime:
    """A schedule tick's report end: the tick itself, in UTC, to the minute."""
    return scheduled.astimezone(UTC).replace(second=0, microsecond=0)


__all__ = ["Report", "build_report", "resolve_pairs", "window_end_for"]
