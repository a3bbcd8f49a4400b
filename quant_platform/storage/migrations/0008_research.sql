-- Research workspace (issue 13): pair screens, the promoted live pair set, uploads.

-- One row per screened pair per screen run; `screen_id` groups a run (the Dagster
-- asset uses its partition date, the CLI and dashboard a timestamp).
CREATE TABLE IF NOT EXISTS pair_screens (
    screen_id           text             NOT NULL,
    screened_at         timestamptz      NOT NULL DEFAULT now(),
    bar_interval        text             NOT NULL,
    window_start        timestamptz      NOT NULL,
    window_end          timestamptz      NOT NULL,
    symbol_y            text             NOT NULL,
    symbol_x            text             NOT NULL,
    rank                integer          NOT NULL,
    n_obs               integer          NOT NULL,
    pvalue              double precision NOT NULL,
    qvalue              double precision NOT NULL,
    eg_pvalue_yx        double precision,
    eg_pvalue_xy        double precision,
    eg_stat             double precision,
    johansen_trace      double precision,
    johansen_crit_95    double precision,
    hedge_ratio         double precision,
    hedge_ratio_cv      double precision,
    half_life_bars      double precision,
    half_life_s         double precision,
    hurst               double precision,
    mean_crossings      integer,
    return_correlation  double precision,
    liquidity           double precision,
    CONSTRAINT pair_screens_pkey PRIMARY KEY (screen_id, symbol_y, symbol_x)
);
CREATE INDEX IF NOT EXISTS pair_screens_time_idx ON pair_screens (screened_at DESC);

-- Pairs promoted to live analytics beside QP_PAIRS (the daemon re-reads the Redis
-- set `<prefix>live:pairs` every cycle; this table is its durable record).
CREATE TABLE IF NOT EXISTS live_pairs (
    symbol_y    text        NOT NULL,
    symbol_x    text        NOT NULL,
    added_at    timestamptz NOT NULL DEFAULT now(),
    added_by    text        NOT NULL DEFAULT 'dashboard',
    screen_id   text,
    CONSTRAINT live_pairs_pkey PRIMARY KEY (symbol_y, symbol_x)
);

-- Dashboard uploads, kept apart from the feed's tables under a source tag, so
-- uploaded data never mixes silently with the market data.
CREATE TABLE IF NOT EXISTS uploaded_trades (
    source          text             NOT NULL,
    time            timestamptz      NOT NULL,
    symbol          text             NOT NULL,
    kind            text             NOT NULL,
    trade_id        bigint           NOT NULL,
    price           double precision NOT NULL CHECK (price > 0),
    qty             double precision NOT NULL CHECK (qty > 0),
    is_buyer_maker  boolean          NOT NULL,
    uploaded_at     timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT uploaded_trades_key UNIQUE (source, symbol, kind, trade_id, time)
);
CREATE TABLE IF NOT EXISTS uploaded_ohlcv (
    source        text             NOT NULL,
    bucket        timestamptz      NOT NULL,
    symbol        text             NOT NULL,
    interval      text             NOT NULL,
    open          double precision NOT NULL,
    high          double precision NOT NULL,
    low           double precision NOT NULL,
    close         double precision NOT NULL,
    volume        double precision NOT NULL,
    quote_volume  double precision,
    uploaded_at   timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT uploaded_ohlcv_pkey PRIMARY KEY (source, symbol, interval, bucket)
);
