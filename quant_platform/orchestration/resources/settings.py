"""The platform settings that batch jobs need, as one Dagster resource."""

from __future__ import annotations

from dagster import ConfigurableResource

from quant_platform.config import Settings
from quant_platform.config.settings import validate_pair


class PlatformSettingsResource(ConfigurableResource):
    """Symbols, pairs and thresholds; defaults come from QP_* so the UI shows what runs."""

    symbols: list[str]
    pairs: list[str] = []
    retention_days: int = 7
    ohlcv_retention_days: int = 365
    alerts_retention_days: int = 90
    cointegration_pvalue: float = 0.05
    feed_max_age_s: float = 120.0
    reports_dir: str = ".qp/reports"
    stats_lookback_minutes: int = 24 * 60

    @classmethod
    def from_settings(cls, s: Settings) -> PlatformSettingsResource:
        return cls(
            symbols=list(s.symbols),
            pairs=[f"{a}/{b}" for a, b in s.pair_list],
            retention_days=s.retention_days,
            ohlcv_retention_days=s.ohlcv_retention_days,
            alerts_retention_days=s.alerts_retention_days,
            cointegration_pvalue=s.cointegration_pvalue,
            feed_max_age_s=s.feed_max_age_s,
            reports_dir=str(s.reports_dir),
            stats_lookback_minutes=s.stats_lookback_minutes,
        )

    def pair_list(self) -> list[tuple[str, str]]:
        return [validate_pair(p) for p in self.pairs]
