"""The Streamlit app end to end in-process (`AppTest`) against the real database and Redis."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis as redis_lib
from dashboard_seed import END, X, Y, seed_database, seed_redis
from page_harness import page_test
from page_harness import run as run_page
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from quant_platform.config import get_settings
from quant_platform.queries import alerts as alert_q
from quant_platform.services.local import free_port

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
TIMEOUT = 30


@pytest.fixture()
def app_env(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    redis_url: str,
    redis_prefix: str,
    tmp_path: Path,
) -> Iterator[None]:
    """Point the app's settings at the test stores (and at a port where no Dagster listens)."""
    monkeypatch.setenv("QP_DATABASE_URL", database_url)
    monkeypatch.setenv("QP_REDIS_URL", redis_url)
    monkeypatch.setenv("QP_REDIS_PREFIX", redis_prefix)
    monkeypatch.setenv("QP_DATA_DIR", str(tmp_path / "qp"))
    monkeypatch.setenv("QP_DAGSTER_PORT", str(free_port()))
    monkeypatch.setenv("QP_FEED", "simulator")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _run(at: AppTest | None = None) -> AppTest:
    at = at if at is not None else AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run(timeout=TIMEOUT)
    assert not at.exception, [e.value for e in at.exception]
    return at


def _texts(at: AppTest) -> str:
    parts = (
        [m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info]
    )
    parts += (
        [w.value for w in at.warning] + [e.value for e in at.error] + [s.value for s in at.success]
    )
    return "\n".join(str(p) for p in parts)


def test_renders_with_no_data(app_env: None, db: psycopg.Connection) -> None:
    at = _run()
    assert at.title[0].value.startswith("quant-platform")
    assert at.sidebar.selectbox(key="pair").value == f"{Y}/{X}"
    assert at.sidebar.radio(key="timeframe").options == ["1m", "5m", "1h", "live 1s"]
    for key in ("lookback", "zwin"):
        assert at.sidebar.slider(key=key).value > 0
    assert at.sidebar.number_input(key="entry").value == 2.0
    text = _texts(at)
    assert "No 1m bars for BTCUSDT/ETHUSDT yet" in text
    assert "No live analytics for this pair" in text
    assert "SIMULATED DATA" in text  # st.badge renders as an orange markdown badge
    assert "dagster DOWN" in text
    assert not at.get("plotly_chart")
    # switching to live 1 s with an empty tick stream is also a message, not an error
    at.sidebar.radio(key="timeframe").set_value("live 1s")
    text = _texts(_run(at))
    assert "No live ticks for BTCUSDT/ETHUSDT" in text
    assert "No stored statistics" in _texts(run_page(page_test("history")))
    alerts = _texts(run_page(page_test("alerts")))
    assert "No alerts yet" in alerts and "No alert rules yet" in alerts


def test_renders_seeded_data_with_charts_and_csv(
    app_env: None,
    db: psycopg.Connection,
    redis_url: str,
    redis_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    file_names: list[str] = []
    load = MemoryMediaFileStorage.load_and_get_id

    def recording_load(self, data, mimetype, kind, filename=None):  # type: ignore[no-untyped-def]
        if filename:
            file_names.append(filename)
        return load(self, data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", recording_load)
    seed_database(db)
    seed_redis(redis_lib.Redis.from_url(redis_url), redis_prefix)
    at = _run()
    # live pairs page, Pair tab (tabs are lazy: only the open one runs). A session's
    # first run draws the candles as a static SVG (first paint), then spread/z, hedge,
    # correlation in Plotly; the next run (the 5 s refresh) swaps in Plotly candles.
    first_paint = [m for m in at.markdown if "](data:image/svg+xml;base64," in m.value]
    assert len(first_paint) == 1 and len(at.get("plotly_chart")) == 3
    at = _run(at)
    charts = at.get("plotly_chart")
    assert len(charts) == 4, len(charts)
    assert not [m for m in at.markdown if "data:image/svg+xml" in m.value]
    labels = [b.label for b in at.get("download_button")]
    for want in ("pair series", "bars"):
        assert any(f"Download {want} CSV" in lbl for lbl in labels), (want, labels)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["z-score"] == "+2.40"
    assert metrics["coint p-value"] == "0.0040"
    assert metrics["hedge ratio β"] == "0.9000"
    text = _texts(at)
    assert "SIMULATED DATA" in text
    assert "redis up" in text and "postgresql up" in text
    # seeded 3 s before the run; a loaded machine renders a few seconds later
    ago = re.search(r"computed (\d+) s ago", text)
    assert ago and 3 <= int(ago.group(1)) <= 60, text
    # the Symbols tab: one chart per leg, drawn only once it is opened
    at.session_state["live_tab"] = "Symbols"
    sym = _run(at)
    assert len(sym.get("plotly_chart")) == 2
    assert any("Download symbol series CSV" in b.label for b in sym.get("download_button"))
    at.session_state["live_tab"] = "Pair"
    hist = run_page(page_test("history"))
    metrics = {m.label: m.value for m in hist.metric}
    assert metrics["ADF p (live)"] == "0.0200" and metrics["EG p (batch)"] == "0.0400"
    assert len(hist.get("plotly_chart")) == 1
    assert any("Download statistics CSV" in b.label for b in hist.get("download_button"))
    feed = run_page(page_test("alerts"))
    alerts = feed.dataframe[0].value
    assert list(alerts["rule_name"]) == ["coint-break", "z-high", "vol-spike"]
    assert any("Download alerts CSV" in b.label for b in feed.get("download_button"))
    # the live 1 s timeframe charts the Redis tick streams
    at.sidebar.radio(key="timeframe").set_value("live 1s")
    at.sidebar.slider(key="zwin").set_value(20)
    at = _run(at)
    assert len(at.get("plotly_chart")) == 4
    assert "No live ticks" not in _texts(at)
    # CSV file names never contain spaces, the live timeframe included
    assert f"bars_{Y}_{X}_live_1s.csv" in file_names, file_names
    assert not [n for n in file_names if " " in n]
    assert END.year == 2026  # seeded bars are in the past: 1m view still shows them (newest N)


def test_rule_editor_adds_toggles_deletes_and_rejects(
    app_env: None, db: psycopg.Connection
) -> None:
    at = run_page(page_test("alerts"))
    at.selectbox(key="rule_kind").set_value("zscore")
    at = _run(at)
    # a built-in kind asks for a threshold and no expression
    assert "rule_threshold" in _keys(at, "number_input")
    assert "rule_expression" not in _keys(at, "text_input")
    at.text_input(key="rule_name").input("btc-eth-z")
    at.selectbox(key="rule_target").set_value(f"{Y}/{X}")
    at.number_input(key="rule_threshold").set_value(2.5)
    at.number_input(key="rule_repeat").set_value(300.0)
    _submit(at)
    at = _run(at)
    assert "Added rule 'btc-eth-z'" in _texts(at)
    rules = alert_q.list_rules(db)
    assert list(rules["name"]) == ["btc-eth-z"] and rules["params"][0] == {"threshold": 2.5}
    assert rules["repeat_s"][0] == 300.0  # "repeat every" reaches the table the engine reads

    # a bad custom rule: every problem is listed, nothing is stored
    at.selectbox(key="rule_kind").set_value("custom")
    at = _run(at)
    # a custom rule asks for an expression and hides the threshold
    assert "rule_threshold" not in _keys(at, "number_input")
    assert "rule_expression" in _keys(at, "text_input")
    at.text_input(key="rule_name").input("bad rule!")
    at.text_input(key="rule_expression").input("__import__('os').system('id')")
    _submit(at)
    at = _run(at)
    errors = "\n".join(e.value for e in at.error)
    assert (
        "Rule not added" in errors
        and "name:" in errors
        and "expression: only plain function calls" in errors
    )
    assert len(alert_q.list_rules(db)) == 1

    # a duplicate name is rejected too
    at.selectbox(key="rule_kind").set_value("zscore")
    at = _run(at)
    at.text_input(key="rule_name").input("btc-eth-z")
    _submit(at)
    at = _run(at)
    assert "already exists" in "\n".join(e.value for e in at.error)

    rid = int(rules["id"][0])
    at.toggle(key=f"rule_enabled_{rid}").set_value(False)
    at = _run(at)
    assert not bool(alert_q.list_rules(db)["enabled"][0])
    at.button(key=f"rule_delete_{rid}").click()
    at = _run(at)
    assert alert_q.list_rules(db).empty
    assert "Deleted rule 'btc-eth-z'" in _texts(at)


def _keys(at: AppTest, element: str) -> set[str]:
    """Widget keys of one element type on the page as drawn."""
    return {w.key for w in at.get(element) if getattr(w, "key", None)}


def _submit(at: AppTest) -> None:
    next(b for b in at.button if b.label == "Add rule").click()


def test_stores_down_show_messages_not_tracebacks(
    app_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QP_DATABASE_URL", f"postgresql://qp@127.0.0.1:{free_port()}/qp")
    monkeypatch.setenv("QP_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    get_settings.cache_clear()
    at = _run()
    text = _texts(at)
    assert "redis DOWN" in text and "postgresql DOWN" in text
    assert "Live metrics: Redis unreachable" in text
    assert "Pair charts: database unreachable" in text
    assert "Rule editor: database unreachable" in _texts(run_page(page_test("alerts")))
    for page in ("screener", "cross_asset", "imports", "history", "system"):
        assert "unreachable" in _texts(run_page(page_test(page))), page
    assert "SIMULATED DATA" in text  # configured feed, no heartbeat readable
