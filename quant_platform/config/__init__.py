"""One source of truth for configuration: `Settings`, read from QP_* variables."""

from quant_platform.config.settings import Settings, SettingsError, get_settings, load_settings

__all__ = ["Settings", "SettingsError", "get_settings", "load_settings"]
