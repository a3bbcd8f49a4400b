"""The ingestion daemon: feed → tick buffer, Redis, TimescaleDB; live analytics; fast alerts."""
