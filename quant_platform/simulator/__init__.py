"""Local exchange simulator in Binance USD-M wire format (WebSocket + REST backfill).

Import `ExchangeSimulator` from `quant_platform.simulator.server`.
"""
