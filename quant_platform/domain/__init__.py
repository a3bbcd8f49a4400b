"""Immutable domain objects shared by every layer (the core never sees raw JSON).

This package imports nothing else from quant_platform, so any layer may import it.
"""

from quant_platform.domain.alert import (
    ENGINE_KINDS,
    AlertEvent,
    DeliveryResult,
    RuleKind,
    Severity,
    json_safe,
)
from quant_platform.domain.service import ServiceStatus
from quant_platform.domain.trade import FillType, Trade

__all__ = [
    "ENGINE_KINDS",
    "AlertEvent",
    "DeliveryResult",
    "FillType",
    "RuleKind",
    "ServiceStatus",
    "Severity",
    "Trade",
    "json_safe",
]
