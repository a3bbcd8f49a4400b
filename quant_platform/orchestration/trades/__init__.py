"""The daemon-written `trades` table as an observed external asset."""

from dagster import Definitions

from quant_platform.orchestration.trades.assets import trades
from quant_platform.orchestration.trades.sensors import observe_trades, trades_observation_sensor

defs = Definitions(assets=[trades], sensors=[trades_observation_sensor])

__all__ = ["defs", "observe_trades", "trades", "trades_observation_sensor"]
