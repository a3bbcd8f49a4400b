-- Alert rules (edited from the CLI, YAML and the dashboard) and every fired alert,
-- from the daemon's fast engine and from Dagster sensors alike.
CREATE TABLE IF NOT EXISTS alert_rules (
    id          bigserial PRIMARY KEY,
    name        text        NOT NULL UNIQUE,
    kind        text        NOT NULL CHECK (kind IN ('zscore', 'correlation_break',
                                                     'volatility_spike', 'custom',
                                                     'cointegration_break', 'stale_feed',
                                                     'run_failure')),
    target      text        NOT NULL DEFAULT '*',
    params      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    expression  text,
    severity    text        NOT NULL DEFAULT 'warning'
                            CHECK (severity IN ('info', 'warning', 'critical')),
    cooldown_s  double precision NOT NULL DEFAULT 60,
    enabled     boolean     NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS alert_events (
    id          bigserial,
    time        timestamptz NOT NULL,
    rule_id     bigint,
    rule_name   text        NOT NULL,
    kind        text        NOT NULL,
    target      text        NOT NULL,
    severity    text        NOT NULL,
    message     text        NOT NULL,
    metrics     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    source      text        NOT NULL DEFAULT 'daemon',
    deliveries  jsonb       NOT NULL DEFAULT '[]'::jsonb,
    PRIMARY KEY (id, time)
);
CREATE INDEX IF NOT EXISTS alert_events_time_idx ON alert_events (time DESC);
