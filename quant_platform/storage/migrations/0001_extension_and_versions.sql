-- TimescaleDB must be in shared_preload_libraries (the local cluster and the
-- timescale/timescaledb image both do this).
CREATE EXTENSION IF NOT EXISTS timescaledb;
