"""quant-platform dashboard: live and materialised stat-arb analytics, alerts and rules.

Run with `streamlit run dashboard/app.py`. Every SQL statement and Redis key lives
in `quant_platform.queries`; this file only lays out panels. Live parts are
fragments re-run every 5 s, so the sidebar and the rule editor keep their state.
A missing service or an empty database shows a message, never a traceback.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from typing import Any

import pandas as pd
import psycopg
import redis
import streamlit as st
from components import charts

from quant_platform import analytics
from quant_platform.config import Settings, get_settings
from quant_platform.config.settings import SettingsError
from quant_platform.domain.coerce import as_float, first_line
from quant_platform.queries import alerts as alert_q
from quant_platform.queries import bars as bar_q
from quant_platform.queries import statistics as stat_q
from quant_platform.queries.live import latest_trades, pair_analytics, symbols_analytics
from quant_platform.queries.platform_health import platform_health
from quant_platform.storage.redis_keys import RedisKeys

REFRESH_S = 5
LIVE = "live 1s"
TIMEFRAMES = ("1m", "5m", "1h", LIVE)
SEVERITY_STYLE = {
    "critical": "background-color: #f8d7da; color: #842029; font-weight: 600",
    "warning": "background-color: #fff3cd; color: #664d03",
    "info": "background-color: #cfe2ff; color: #084298",
}
STALE_S = 15.0

st.set_page_config(page_title="quant-platform", page_icon=":material/monitoring:", layout="wide")
try:
    settings: Settings = get_settings()
except SettingsError as exc:
    st.error(f"Configuration error — fix the environment and reload:\n\n```\n{exc}\n```")
    st.stop()


# --- connections ----------------------------------------------------------------------------
@st.cache_resource
def _redis_client(url: str) -> redis.Redis:
    """One pooled client per URL for the whole server (it reconnects by itself)."""
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


@contextlib.contextmanager
def _db() -> Iterator[psycopg.Connection]:
    with psycopg.connect(settings.database_url, connect_timeout=3, autocommit=True) as conn:
        yield conn


@contextlib.contextmanager
def _guard(what: str) -> Iterator[None]:
    """Turn a down store or too little data into a message for this panel only."""
    try:
        yield
    except psycopg.OperationalError as exc:
        st.warning(
            f"{what}: database unreachable ({first_line(exc)}).", icon=":material/cloud_off:"
        )
    except psycopg.Error as exc:
        st.warning(
            f"{what}: database error ({first_line(exc)}). Is the schema migrated "
            "(`qp db migrate`)?",
            icon=":material/error:",
        )
    except redis.RedisError as exc:
        st.warning(f"{what}: Redis unreachable ({first_line(exc)}).", icon=":material/cloud_off:")


def _keys() -> RedisKeys:
    return RedisKeys(settings.redis_prefix)


# --- formatting -----------------------------------------------------------------------------
def _fmt(v: Any, spec: str = ".4f") -> str:
    f = as_float(v)
    if math.isnan(f):
        return "—"
    if math.isinf(f):
        return "∞"
    return format(f, spec)


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "∞" if seconds > 0 else "—"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _signal(z: float, entry: float, exit_: float) -> str:
    """The textbook mean-reversion state for this z-score and these thresholds."""
    if not math.isfinite(z):
        return "—"
    if z >= entry:
        return "SHORT spread"
    if z <= -entry:
        return "LONG spread"
    if abs(z) <= exit_:
        return "flat / exit"
    return "hold"


def _signal_colour(z: float, entry: float) -> Any:
    return "red" if math.isfinite(z) and abs(z) >= entry else "gray"


def _csv(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=not isinstance(df.index, pd.RangeIndex)).encode()


def _download(label: str, df: pd.DataFrame, name: str, key: str) -> None:
    st.download_button(
        f":material/download: {label}",
        _csv(df),
        file_name=name,
        mime="text/csv",
        key=key,
        on_click="ignore",
        disabled=df.empty,
    )


# --- sidebar controls -----------------------------------------------------------------------
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
sym_y, sym_x = pair.split("/")
bar_seconds = bar_q.BAR_SECONDS["1s" if timeframe == LIVE else timeframe]


def load_pair_bars() -> pd.DataFrame:
    """Bars of both legs for the chosen timeframe (long frame, oldest first)."""
    if timeframe == LIVE:
        return bar_q.live_bars(
            _redis_client(settings.redis_url), _keys(), [sym_y, sym_x], seconds=lookback
        )
    with _db() as conn:
        return bar_q.load_bars(conn, [sym_y, sym_x], timeframe, limit=lookback)


def _no_bars_message() -> None:
    if timeframe == LIVE:
        st.info(
            f"No live ticks for {pair} in the last {lookback} s yet — is the ingestion daemon "
            "running (`qp up`)?",
            icon=":material/hourglass_empty:",
        )
    else:
        st.info(
            f"No {timeframe} bars for {pair} yet. The Dagster OHLCV job resamples trades into "
            "bars once the feed has run for a while; try the live 1s timeframe meanwhile.",
            icon=":material/hourglass_empty:",
        )


# --- header and health ----------------------------------------------------------------------
st.title("quant-platform · stat-arb analytics")
st.caption("Binance USD-M futures · live metrics from Redis, bars and statistics from TimescaleDB")


@st.fragment(run_every=REFRESH_S)
def health_row() -> None:
    """Feed (with a SIMULATED badge), Redis, PostgreSQL/TimescaleDB and Dagster at a glance."""
    feed, services = platform_health(settings, _redis_client(settings.redis_url))
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


health_row()


@st.fragment(run_every=REFRESH_S)
def live_tiles() -> None:
    """The live engine's latest numbers for the pair and its legs, with their age."""
    st.subheader(f"Live · {pair}")
    with _guard("Live metrics"):
        client = _redis_client(settings.redis_url)
        pm = pair_analytics(client, _keys(), sym_y, sym_x)
        sm = symbols_analytics(client, _keys(), [sym_y, sym_x])
        last = latest_trades(client, _keys(), [sym_y, sym_x])
        if pm is None:
            st.info(
                "No live analytics for this pair in Redis yet (the cache keeps 60 s). The "
                "ingestion daemon publishes them every 5 s once it has data.",
                icon=":material/hourglass_empty:",
            )
        else:
            z = as_float(pm.get("zscore"))
            cols = st.columns(7)
            cols[0].metric(
                "z-score",
                _fmt(z, "+.2f"),
                _signal(z, entry, exit_),
                delta_color=_signal_colour(z, entry),
                delta_arrow="off",
            )
            cols[1].metric("hedge ratio β", _fmt(pm.get("hedge_ratio")))
            cols[2].metric("correlation ρ", _fmt(pm.get("correlation"), ".3f"))
            cols[3].metric(
                "coint p-value",
                _fmt(pm.get("coint_pvalue"), ".4f"),
                help="Engle-Granger p-value of the spread; below "
                f"{settings.cointegration_pvalue:g} the pair looks cointegrated",
            )
            cols[4].metric("ADF p-value", _fmt(pm.get("adf_pvalue"), ".4f"))
            hl = as_float(pm.get("half_life"))
            cols[5].metric(
                "half-life", _duration(hl * settings.analytics_bar_s) if hl == hl else "—"
            )
            cols[6].metric("observations", _fmt(pm.get("n_obs"), ".0f"))
            age = pm.get("age_s")
            age_txt = f"computed {age:.0f} s ago" if age is not None else "age unknown"
            msg = f"{age_txt} · cycle {_fmt(pm.get('compute_ms'), '.1f')} ms"
            if age is not None and age > STALE_S:
                st.warning(f"Live analytics are stale: {msg}", icon=":material/schedule:")
            else:
                st.caption(msg)
        for sym in (sym_y, sym_x):
            m, t = sm.get(sym), last.get(sym) or {}
            if m is None and not t:
                st.caption(f"**{sym}**: no live data yet")
                continue
            c = st.columns([1.5, 1.5, 1, 1, 1, 0.8, 0.8])
            c[0].metric(sym, _fmt((m or {}).get("last_price", t.get("p")), ",.2f"))
            if m is None:
                c[1].caption("no live execution metrics yet")
                continue
            c[1].metric("VWAP", _fmt(m.get("vwap"), ",.2f"))
            c[2].metric(
                "imbalance",
                _fmt(m.get("imbalance"), "+.2f"),
                help="Aggressor (buy − sell) / total volume over the live window",
            )
            c[3].metric(
                "vol percentile",
                _fmt(m.get("vol_percentile"), ".0f"),
                help="Realised-vol percentile within its own recent history",
            )
            c[4].metric(
                "vol ratio",
                _fmt(m.get("vol_ratio"), ".2f"),
                help="Short / long realised volatility (spike detector)",
            )
            trend = {1: "up", -1: "down"}.get(int(as_float(m.get("trend_direction")) or 0), "none")
            c[5].metric("trend", trend)
            age = m.get("age_s")
            c[6].metric("age", f"{age:.0f} s" if age is not None else "—")


live_tiles()

tab_pair, tab_stats, tab_sym, tab_alerts, tab_rules = st.tabs(
    ["Pair", "Statistics", "Symbols", "Alerts", "Rule editor"]
)


@st.fragment(run_every=REFRESH_S)
def pair_panels() -> None:
    """Candles, spread and z-score with bands, rolling hedge ratio and correlation."""
    with _guard("Pair charts"):
        bars = load_pair_bars()
        if bars.empty:
            _no_bars_message()
            return
        label = f"{pair} · {timeframe}"
        st.plotly_chart(charts.candles(bars, [sym_y, sym_x], f"Prices · {label}"), key="candles")
        closes = bar_q.closes_wide(bars, [sym_y, sym_x])
        try:
            series = stat_q.pair_series(closes, sym_y, sym_x, zwin)
        except analytics.AnalyticsError as exc:
            st.info(
                f"Spread analytics need more data: {exc}. Lower the z-score window or widen "
                "the lookback.",
                icon=":material/hourglass_empty:",
            )
            _download("Download bars CSV", bars, f"bars_{sym_y}_{sym_x}_{timeframe}.csv", "dl_bars")
            return
        f = series.frame
        z = float(f["zscore"].iloc[-1])
        c = st.columns(5)
        c[0].metric(
            "z-score (bars)",
            _fmt(z, "+.2f"),
            _signal(z, entry, exit_),
            delta_color=_signal_colour(z, entry),
            delta_arrow="off",
        )
        c[1].metric("β (window OLS)", _fmt(series.hedge.beta))
        c[2].metric("ρ (rolling)", _fmt(f["correlation"].iloc[-1], ".3f"))
        c[3].metric("coint p (window)", _fmt(series.coint_pvalue, ".4f"))
        c[4].metric("half-life (window)", _duration(series.half_life_bars * bar_seconds))
        st.plotly_chart(
            charts.spread_zscore(f, entry, exit_, f"Spread and z-score · {label}"), key="spread"
        )
        left, right = st.columns(2)
        with left:
            st.plotly_chart(
                charts.hedge_ratio(f, series.hedge.beta, f"Rolling hedge ratio ({zwin} bars)"),
                key="hedge",
            )
        with right:
            st.plotly_chart(
                charts.correlation(f, f"Rolling return correlation ({zwin} bars)"), key="corr"
            )
        d1, d2 = st.columns(2)
        with d1:
            _download(
                "Download pair series CSV",
                f.rename_axis("bucket"),
                f"pair_{sym_y}_{sym_x}_{timeframe}.csv",
                "dl_pair",
            )
        with d2:
            _download("Download bars CSV", bars, f"bars_{sym_y}_{sym_x}_{timeframe}.csv", "dl_bars")


@st.fragment(run_every=REFRESH_S)
def statistics_panels() -> None:
    """Stored ADF / cointegration p-values and half-life, live and batch rows together."""
    with _guard("Pair statistics"), _db() as conn:
        hist = stat_q.pair_statistics_history(conn, sym_y, sym_x, limit=max(lookback, 500))
        if hist.empty:
            st.info(
                f"No stored statistics for {pair} yet: the live engine writes one row a minute "
                "and the Dagster pair-statistics asset writes batch rows.",
                icon=":material/hourglass_empty:",
            )
            return
        latest = stat_q.latest_pair_statistics(hist)
        cols = st.columns(len(latest) * 3)
        i = 0
        for source, row in sorted(latest.items()):
            cols[i].metric(f"ADF p ({source})", _fmt(row.get("adf_pvalue"), ".4f"))
            cols[i + 1].metric(f"EG p ({source})", _fmt(row.get("eg_pvalue"), ".4f"))
            cols[i + 2].metric(
                f"half-life ({source}, {row.get('bar_interval')})",
                _fmt(row.get("half_life"), ".1f") + " bars",
            )
            i += 3
        st.plotly_chart(
            charts.stationarity(
                hist, settings.cointegration_pvalue, f"Stationarity history · {pair}"
            ),
            key="stationarity",
        )
        _download(
            "Download statistics CSV", hist, f"pair_statistics_{sym_y}_{sym_x}.csv", "dl_stats"
        )


@st.fragment(run_every=REFRESH_S)
def symbol_panels() -> None:
    """Per-leg VWAP, aggressor imbalance and volatility regime from the same bars."""
    with _guard("Symbol charts"):
        bars = load_pair_bars()
        if bars.empty:
            _no_bars_message()
            return
        frames = []
        for sym in (sym_y, sym_x):
            b = bars[bars["symbol"] == sym]
            if len(b) < 3:
                st.info(f"{sym}: not enough bars yet ({len(b)}).")
                continue
            s = stat_q.symbol_series(b, zwin)
            vol = s.frame["realized_vol"].dropna()
            bands = (
                (float(vol.quantile(0.25)), float(vol.quantile(0.75))) if len(vol) > 10 else None
            )
            regime = (
                f"{s.regime.label.upper()} vol regime · {s.regime.percentile:.0f}th percentile"
                if s.regime
                else "vol regime: not enough history"
            )
            st.markdown(
                f"**{sym}** · {regime} · last imbalance "
                f"{_fmt(s.frame['imbalance'].iloc[-1], '+.2f')}"
            )
            st.plotly_chart(
                charts.symbol_panels(s.frame, f"{sym} · {timeframe}", bands, zwin), key=f"sym_{sym}"
            )
            frames.append(s.frame.assign(symbol=sym))
        if frames:
            _download(
                "Download symbol series CSV",
                pd.concat(frames).rename_axis("bucket"),
                f"symbols_{sym_y}_{sym_x}_{timeframe}.csv",
                "dl_symbols",
            )


@st.fragment(run_every=REFRESH_S)
def alert_feed() -> None:
    """Recent alert events, newest first, coloured by severity."""
    with _guard("Alert feed"), _db() as conn:
        events = alert_q.recent_alert_events(conn, limit=200)
        if events.empty:
            st.info(
                "No alerts yet. Fired alerts from the daemon and Dagster sensors appear here.",
                icon=":material/notifications_off:",
            )
            return
        counts = events["severity"].value_counts()
        colour = {"critical": "red", "warning": "orange", "info": "blue"}
        st.markdown(
            " ".join(
                f":{colour[s]}-badge[{s}: {counts.get(s, 0)}]" for s in alert_q.SEVERITIES[::-1]
            )
            + f" · newest {len(events)} events"
        )
        shown = events.drop(columns=["metrics", "id"])
        styled = shown.style.map(lambda s: SEVERITY_STYLE.get(s, ""), subset=["severity"])
        st.dataframe(
            styled,
            hide_index=True,
            width="stretch",
            column_config={
                "time": st.column_config.DatetimeColumn("time (UTC)", format="YYYY-MM-DD HH:mm:ss")
            },
        )
        _download("Download alerts CSV", events, "alert_events.csv", "dl_alerts")


def _toggle_rule(rule_id: int, key: str) -> None:
    with _guard("Rule editor"), _db() as conn:
        alert_q.set_rule_enabled(conn, rule_id, bool(st.session_state[key]))


def _delete_rule(rule_id: int, name: str) -> None:
    with _guard("Rule editor"), _db() as conn:
        if alert_q.delete_rule(conn, rule_id):
            st.session_state["rule_flash"] = f"Deleted rule {name!r}."


@st.fragment
def rule_editor() -> None:
    """List, add (with every validation error shown), enable/disable and delete alert rules."""
    symbols = list(settings.symbols)
    with _guard("Rule editor"):
        with st.form("add_rule", clear_on_submit=False):
            st.markdown("**Add a rule**")
            st.caption(
                "A rule fires once when its condition starts to hold, then re-arms only after "
                "the condition clears (hysteresis), never sooner than its cooldown. "
                "*Repeat every* makes it fire again while it stays active."
            )
            c = st.columns([2, 1.5, 1.5, 1, 1])
            name = c[0].text_input("Name", key="rule_name", placeholder="btc-eth-z-high")
            kind = c[1].selectbox("Kind", alert_q.RULE_KINDS, key="rule_kind")
            target = c[2].selectbox("Target", ["*", *pairs, *symbols], key="rule_target")
            severity = c[3].selectbox("Severity", alert_q.SEVERITIES, index=1, key="rule_severity")
            cooldown = c[4].number_input(
                "Cooldown (s)", 0.0, 86400.0, 60.0, step=10.0, key="rule_cooldown"
            )
            c2 = st.columns([1, 1, 3])
            repeat = c2[1].number_input(
                "Repeat every (s)",
                min_value=1.0,
                max_value=86400.0,
                value=None,
                step=60.0,
                placeholder="once",
                key="rule_repeat",
                help="A rule fires once when its condition starts to hold and re-arms only "
                "after the condition clears. Set this to fire again every N seconds while "
                "it stays active (never more often than the cooldown).",
            )
            threshold = c2[0].number_input(
                "Threshold",
                value=2.0,
                step=0.1,
                format="%.4f",
                key="rule_threshold",
                help="; ".join(
                    f"{k}: {key} — {meaning}"
                    for k, (key, _, _, meaning) in alert_q.KIND_PARAM.items()
                ),
            )
            expression = c2[2].text_input(
                "Expression (custom rules only)",
                key="rule_expression",
                placeholder="abs(zscore) > 2.5 and correlation > 0.7",
                help="Metric names: " + ", ".join(sorted(alert_q.EXPRESSION_METRICS)),
            )
            submitted = st.form_submit_button("Add rule", type="primary")
        if submitted:
            params = (
                {alert_q.KIND_PARAM[kind][0]: float(threshold)}
                if kind in alert_q.KIND_PARAM
                else {}
            )
            draft = alert_q.RuleDraft(
                name=name,
                kind=kind,
                target=target,
                params=params,
                expression=expression if kind == "custom" else None,
                severity=severity,
                cooldown_s=float(cooldown),
                repeat_s=None if repeat is None else float(repeat),
            )
            try:
                with _db() as conn:
                    alert_q.add_rule(conn, draft, symbols, pairs)
                st.success(f"Added rule {name.strip()!r}.")
            except alert_q.RuleValidationError as exc:
                st.error("Rule not added:\n" + "\n".join(f"- {e}" for e in exc.errors))
        flash = st.session_state.pop("rule_flash", None)
        if flash:
            st.success(flash)
        with _db() as conn:
            rules = alert_q.list_rules(conn)
        st.markdown(f"**Rules** ({len(rules)})")
        if rules.empty:
            st.info("No alert rules yet: add one above, or load them from YAML with the CLI.")
            return
        head = st.columns([2, 1.4, 1.4, 2.4, 0.9, 0.9, 0.8])
        for h, t in zip(
            head, ["name", "kind", "target", "condition", "severity", "enabled", ""], strict=True
        ):
            h.caption(t)
        for r in rules.itertuples(index=False):
            row = st.columns([2, 1.4, 1.4, 2.4, 0.9, 0.9, 0.8], vertical_alignment="center")
            row[0].write(r.name)
            row[1].write(r.kind)
            row[2].write(r.target)
            cond = r.expression or ", ".join(f"{k}={v}" for k, v in (r.params or {}).items()) or "—"
            if pd.notna(r.repeat_s):
                cond += f"  · repeat every {r.repeat_s:g} s"
            row[3].code(cond, language=None)
            row[4].write(r.severity)
            key = f"rule_enabled_{r.id}"
            row[5].toggle(
                "on",
                value=bool(r.enabled),
                key=key,
                on_change=_toggle_rule,
                args=(int(r.id), key),
                label_visibility="collapsed",
            )
            row[6].button(
                ":material/delete:",
                key=f"rule_delete_{r.id}",
                help=f"Delete {r.name}",
                on_click=_delete_rule,
                args=(int(r.id), str(r.name)),
            )
        _download("Download rules CSV", rules, "alert_rules.csv", "dl_rules")


with tab_pair:
    pair_panels()
with tab_stats:
    statistics_panels()
with tab_sym:
    symbol_panels()
with tab_alerts:
    alert_feed()
with tab_rules:
    rule_editor()
st.caption(f"Rendered {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC")
