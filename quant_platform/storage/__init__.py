"""Storage layer: TimescaleDB schema and writers, Redis layout and sinks."""
