"""Dagster: assets per domain, resources, schedules, sensors, checks."""
