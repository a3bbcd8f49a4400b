"""Settings: defaults, parsing, and errors that name the variable and what is allowed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from quant_platform.config import SettingsError, load_settings


def test_defaults_bind_loopback_and_default_symbols(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in list(os.environ):
        if k.startswith("QP_"):
            monkeypatch.delenv(k)
    s = load_settings()
    assert s.bind_host == "127.0.0.1"
    assert s.symbols == ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT")
    assert len(s.pair_list) == 6
    assert s.stream == "trade"


def test_symbols_from_env_csv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QP_SYMBOLS", " btcusdt, ETHUSDT ")
    monkeypatch.setenv("QP_PAIRS", "ETHUSDT/BTCUSDT")
    s = load_settings()
    assert s.symbols == ("BTCUSDT", "ETHUSDT")
    assert s.pair_list == [("ETHUSDT", "BTCUSDT")]


@pytest.mark.parametrize(
    ("var", "value", "expect"),
    [
        ("QP_SYMBOLS", "btc usdt!", "QP_SYMBOLS"),
        ("QP_STREAM", "bookTicker", "QP_STREAM"),
        ("QP_FEED_URL", "http://x", "ws://"),
        ("QP_DATABASE_URL", "mysql://x", "postgresql://"),
        ("QP_FLUSH_MAX_ROWS", "0", "QP_FLUSH_MAX_ROWS"),
        ("QP_PAIRS", "BTCUSDT-ETHUSDT", "BTCUSDT/ETHUSDT"),
        ("QP_PAIRS", "BTCUSDT/XRPUSDT", "not in QP_SYMBOLS"),
        ("QP_REDIS_PREFIX", "bad prefix*", "QP_REDIS_PREFIX"),
        ("QP_TASK_MAX_RESTARTS", "0", "QP_TASK_MAX_RESTARTS"),
        ("QP_TASK_RESTART_WINDOW_S", "-1", "QP_TASK_RESTART_WINDOW_S"),
    ],
)
def test_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, expect: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert expect in err.value.message
    assert "README" in err.value.message
    # an ordinary exception: a notebook or the dashboard catches it; it never exits
    assert isinstance(err.value, Exception) and not isinstance(err.value, SystemExit)


def test_qp_cli_stops_on_bad_setting() -> None:
    env = {**os.environ, "QP_SYMBOLS": "btc usdt!"}
    proc = subprocess.run(
        [sys.executable, "-m", "quant_platform.cli.main", "db", "version"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "QP_SYMBOLS" in proc.stderr and "BTCUSDT" in proc.stderr
