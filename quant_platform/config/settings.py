"""Settings from `QP_*` environment variables and an optional `.env` file.

Every process (daemon, Dagster code server, dashboard, CLI, tests) reads the
same class, so one table in the README documents the whole platform. A bad
value stops the process at start with the variable's name and what is allowed.
"""

from __future__ import annotations

import itertools
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "QP_"
SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,20}$")
DEFAULT_SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT")
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class SettingsError(ValueError):
    """A configuration error; the message names each bad variable and what is allowed.

    A plain exception, not SystemExit: library code never ends the process (a
    notebook that imports settings keeps running). The `qp` CLI turns it into
    exit status 2 with the message; the dashboard shows it on the page.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def validate_symbol(symbol: str) -> str:
    """Symbols reach Redis keys, SQL parameters and URLs: allow only A-Z0-9.

    Raises:
        ValueError: anything but 2-20 letters/digits, naming the value and the fix.
    """
    s = symbol.strip().upper()
    if not SYMBOL_RE.match(s):
        raise ValueError(
            f"{symbol!r} is not a symbol: use 2-20 letters/digits like BTCUSDT, comma-separated"
        )
    return s


def validate_pair(pair: str) -> tuple[str, str]:
    """`ETHUSDT/BTCUSDT` (any case, spaces around the parts) as (Y, X): the one pair parser.

    Raises:
        ValueError: not two different valid symbols separated by '/'.
    """
    parts = str(pair).split("/")
    if len(parts) != 2:
        raise ValueError(f"{pair!r} is not a pair: write pairs as BTCUSDT/ETHUSDT")
    y, x = (validate_symbol(p) for p in parts)
    if y == x:
        raise ValueError(f"{pair!r} pairs a symbol with itself")
    return y, x


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [p for p in (x.strip() for x in value.split(",")) if p]
    return value


class Settings(BaseSettings):
    """Platform configuration. Field `foo_bar` is read from `QP_FOO_BAR`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    # --- storage -----------------------------------------------------------
    database_url: str = "postgresql://qp@127.0.0.1:55432/qp"
    redis_url: str = "redis://127.0.0.1:56379/0"
    redis_prefix: str = Field("qp:", pattern=r"^[A-Za-z0-9_:.\-]{0,32}$")
    data_dir: Path = PROJECT_ROOT / ".qp"

    # --- market ------------------------------------------------------------
    symbols: Annotated[tuple[str, ...], NoDecode] = DEFAULT_SYMBOLS
    pairs: Annotated[tuple[str, ...], NoDecode] = ()
    # Symbols another daemon ingests; this one reads their ticks from that daemon's Redis
    # streams for its cross-shard pairs (`--shard` sets it; ingestion/remote_legs.py).
    remote_symbols: Annotated[tuple[str, ...], NoDecode] = ()
    stream: Literal["trade", "aggTrade"] = "trade"
    stream_fallback: bool = True
    feed: Literal["simulator", "binance"] = "simulator"
    feed_url: str = "wss://fstream.binance.com"
    rest_url: str = "https://fapi.binance.com"
    # A Binance API key (no secret: MARKET_DATA endpoints are not signed). With it, @trade
    # gaps older than /fapi/v1/trades reaches are filled from /fapi/v1/historicalTrades as
    # kind `trade`; without, from aggTrades. A SecretStr: it never shows in a repr or log.
    binance_api_key: SecretStr | None = None

    # --- simulator history and partitions ----------------------------------
    sim_history_hours: float = Field(24.0, ge=0, le=168)
    sim_history_rate: float = Field(2.0, gt=0, le=1000)
    partitions_start: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}(-\d{2}:00)?$")

    # --- ingestion ---------------------------------------------------------
    tick_buffer_size: int = Field(1000, ge=10, le=1_000_000)
    flush_interval_s: float = Field(5.0, gt=0, le=300)
    flush_max_rows: int = Field(1000, ge=1, le=1_000_000)
    spool_memory_rows: int = Field(200_000, ge=1000)
    flush_batch_max_rows: int = Field(20_000, ge=100, le=1_000_000)
    spool_max_bytes: int = Field(2 << 30, ge=1 << 20)
    # Where unflushed batches wait; default <data_dir>/spool. Each shard gets its own
    # (config.sharding), since two daemons must never replay one spool.
    spool_path: Path | None = None
    spool_alarm_fraction: float = Field(0.5, gt=0, lt=1)
    db_statement_timeout_s: float = Field(30.0, gt=0)
    redis_stream_maxlen: int = Field(10_000, ge=100)
    reconnect_base_s: float = Field(0.5, gt=0)
    reconnect_cap_s: float = Field(30.0, gt=0)
    max_consecutive_failures: int = Field(10, ge=1)
    reconnect_healthy_s: float = Field(60.0, gt=0)
    stream_silence_s: float = Field(30.0, gt=0)
    quiet_symbol_silence_s: float = Field(300.0, gt=0)
    quiet_symbols: Annotated[tuple[str, ...], NoDecode] = ()
    connection_max_age_s: float = Field(23.5 * 3600, gt=60)
    resume_lookback_s: float = Field(7 * 86400.0, ge=0)
    resume_hole_window_s: float = Field(3600.0, ge=0)
    venue_time_refresh_s: float = Field(300.0, gt=0)
    # A background task that dies more than `task_max_restarts` times within
    # `task_restart_window_s` makes the daemon exit non-zero (its supervisor restarts it).
    task_max_restarts: int = Field(10, ge=1)
    task_restart_window_s: float = Field(600.0, gt=0)

    # --- analytics and alerts -----------------------------------------------
    analytics_interval_s: float = Field(5.0, gt=0)
    analytics_window_s: int = Field(3600, ge=60)
    analytics_bar_s: int = Field(1, ge=1)
    analytics_worker: Literal["process", "thread", "inline"] = "process"
    zscore_window: int = Field(300, ge=10)
    # A remote leg whose newest bar is this far behind the daemon's newest: pair marked stale.
    remote_stale_s: float = Field(30.0, gt=0)
    stats_persist_interval_s: float = Field(60.0, gt=0)
    # The daemon refreshes the open hour's OHLCV bars this often (0 = leave it to Dagster).
    open_bars_interval_s: float = Field(30.0, ge=0)
    alert_interval_s: float = Field(0.5, gt=0)
    alert_cooldown_s: float = Field(60.0, ge=0)
    alert_rules_file: Path | None = None
    reports_file: Path | None = None
    cointegration_pvalue: float = Field(0.05, gt=0, lt=1)
    stats_lookback_minutes: int = Field(24 * 60, ge=30)
    feed_max_age_s: float = Field(120.0, gt=0)

    # --- retention ----------------------------------------------------------
    retention_days: int = Field(7, ge=1)
    ohlcv_retention_days: int = Field(365, ge=1)
    alerts_retention_days: int = Field(90, ge=1)

    # --- processes and ports -------------------------------------------------
    bind_host: str = "127.0.0.1"
    pg_port: int = Field(55432, ge=1024, le=65535)
    # As root the local cluster runs as `postgres`, which may not enter the checkout
    # (root's home, `mktemp -d`): its files go here instead, one folder per data dir.
    pg_clusters_dir: Path = Path("/var/lib/qp/clusters")
    redis_port: int = Field(56379, ge=1024, le=65535)
    dagster_port: int = Field(3000, ge=1, le=65535)
    dashboard_port: int = Field(8501, ge=1, le=65535)
    metrics_port: int = Field(9108, ge=1, le=65535)
    sim_port: int = Field(9443, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # --- Dagster executor -----------------------------------------------------
    # celery: the fan-out jobs (OHLCV backfill, pair-screen fan-out) and the resample job
    # run their steps on `qp worker` processes; in_process: every step in the run process.
    dagster_executor: Literal["in_process", "celery"] = "in_process"
    # A step unacknowledged this long is handed to another worker (its worker is presumed
    # dead): longer than the longest step, or a slow step runs twice.
    celery_visibility_timeout_s: float = Field(600.0, ge=5)

    @field_validator("symbols", "quiet_symbols", "remote_symbols", mode="before")
    @classmethod
    def _parse_symbols(cls, value: object) -> object:
        value = _split_csv(value)
        if isinstance(value, list | tuple):
            return tuple(validate_symbol(str(s)) for s in value)
        return value

    @field_validator("symbols")
    @classmethod
    def _non_empty_unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one symbol is needed, e.g. BTCUSDT,ETHUSDT")
        if len(set(value)) != len(value):
            raise ValueError(f"duplicate symbols in {','.join(value)}")
        return value

    @field_validator("pairs", mode="before")
    @classmethod
    def _parse_pairs(cls, value: object) -> object:
        value = _split_csv(value)
        if isinstance(value, list | tuple):
            return tuple("/".join(validate_pair(str(p))) for p in value)
        return value

    @field_validator("database_url")
    @classmethod
    def _pg_url(cls, value: str) -> str:
        if not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("use a postgresql:// URL, e.g. postgresql://qp@127.0.0.1:55432/qp")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("use a redis:// URL, e.g. redis://127.0.0.1:56379/0")
        return value

    @field_validator("feed_url")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        if not value.startswith(("ws://", "wss://")):
            raise ValueError("use a ws:// or wss:// host URL, e.g. wss://fstream.binance.com")
        return value.rstrip("/")

    @field_validator("rest_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("use an http(s):// base URL, e.g. https://fapi.binance.com")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _pairs_known(self) -> Settings:
        both = set(self.remote_symbols) & set(self.symbols)
        if both:
            raise ValueError(f"{','.join(sorted(both))} in both QP_SYMBOLS and QP_REMOTE_SYMBOLS")
        known = set(self.symbols) | set(self.remote_symbols)
        for p in self.pairs:
            for s in p.split("/"):
                if s not in known:
                    raise ValueError(
                        f"pair {p} uses {s}, which is not in QP_SYMBOLS (or QP_REMOTE_SYMBOLS)"
                    )
        if self.reconnect_cap_s < self.reconnect_base_s:
            raise ValueError("QP_RECONNECT_CAP_S must be >= QP_RECONNECT_BASE_S")
        return self

    # --- derived -------------------------------------------------------------
    @property
    def pair_list(self) -> list[tuple[str, str]]:
        """Configured pairs, or every pair of the configured symbols."""
        if self.pairs:
            return [tuple(p.split("/")) for p in self.pairs]  # type: ignore[misc]
        return list(itertools.combinations(self.symbols, 2))

    @property
    def dagster_home(self) -> Path:
        return self.data_dir / "dagster"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def spool_dir(self) -> Path:
        return self.spool_path or self.data_dir / "spool"


def _describe(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        field = str(e["loc"][0]) if e["loc"] else ""
        var = f"{ENV_PREFIX}{field.upper()}" if field else "settings"
        msg = e["msg"].removeprefix("Value error, ")
        given = e.get("input")
        shown = f" (got {given!r})" if given is not None and not isinstance(given, dict) else ""
        lines.append(f"{var}: {msg}{shown}")
    return (
        "configuration error:\n  " + "\n  ".join(lines) + "\n(see the settings table in README.md)"
    )


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning validation errors into one message that names each variable.

    Raises:
        SettingsError: a QP_* variable (or an override) is invalid.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as err:
        raise SettingsError(_describe(err)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings (cached; tests build their own with `load_settings`).

    Raises:
        SettingsError: a QP_* variable is invalid.
    """
    return load_settings()
