"""Immutable domain objects shared by every layer (the core never sees raw JSON)."""

from quant_platform.domain.trade import FillType, Trade

__all__ = ["FillType", "Trade"]
