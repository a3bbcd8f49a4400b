-- Funding-rate history of USD-M perpetuals: one row per symbol and funding time.
-- Filled by the REST fundingRate backfill, the @markPrice stream (the rate in force
-- when a funding time passes) and `qp import` of public-data fundingRate files; the
-- three write the same (symbol, funding_time, funding_rate) for the same interval.
CREATE TABLE IF NOT EXISTS funding_rates (
    symbol        text             NOT NULL,
    funding_time  timestamptz      NOT NULL,
    funding_rate  double precision NOT NULL,
    CONSTRAINT funding_rates_pkey PRIMARY KEY (symbol, funding_time)
);
SELECT create_hypertable('funding_rates', 'funding_time', chunk_time_interval => interval '90 days',
                         if_not_exists => true);
