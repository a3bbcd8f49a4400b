"""Where the time partitions (hourly OHLCV, daily reports) start: at the data's start.

Dagster lists every partition from its start date as "missing" until it is
materialised, so a start far before the first trade fills the Catalog with
thousands of empty partitions. The start is, in order: `QP_PARTITIONS_START`
(`YYYY-MM-DD` or `YYYY-MM-DD-HH:00`), else the data start `qp up` recorded on
its first run (`<QP_DATA_DIR>/partitions_start`: the first seeded hour, or the
hour it first started with no history), else the project epoch 2026-01-01.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from quant_platform.config import Settings

EPOCH = "2026-01-01-00:00"
MARKER = "partitions_start"
_FMT = "%Y-%m-%d-%H:%M"


def marker_path(settings: Settings) -> Path:
    return settings.data_dir / MARKER


def hour_key(t: datetime) -> str:
    """`t` floored to its UTC hour, as an hourly partition key."""
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0).strftime(_FMT)


def record_data_start(settings: Settings, start: datetime) -> str:
    """Write the data start once (first start); returns the key in effect."""
    path = marker_path(settings)
    if path.exists():
        return read_marker(path) or EPOCH
    path.parent.mkdir(parents=True, exist_ok=True)
    key = hour_key(start)
    path.write_text(key + "\n")
    return key


def read_marker(path: Path) -> str | None:
    try:
        text = path.read_text().strip()
        datetime.strptime(text, _FMT)
    except (OSError, ValueError):
        return None
    return text


def partitions_start(settings: Settings) -> str:
    """The hourly partition key partitions start at (see the module docstring)."""
    if settings.partitions_start:
        v = settings.partitions_start
        return v if len(v) > 10 else f"{v}-00:00"
    return read_marker(marker_path(settings)) or EPOCH


def hourly_start(settings: Settings) -> datetime:
    return datetime.strptime(partitions_start(settings), _FMT).replace(tzinfo=UTC)


def daily_start(settings: Settings) -> str:
    """The daily partition start: the day of the hourly start."""
    return partitions_start(settings)[:10]
