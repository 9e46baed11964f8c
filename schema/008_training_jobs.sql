-- 008_training_jobs.sql: jobs started over the API, the market data they
-- train on, and what they find (docs/API.md "Starting a job", docs/TRAINER.md).
--
-- POST /api/v2/training/jobs stores the request here, with every default
-- filled in, next to a queued training_progress row; a trainer (tp-trainer)
-- claims the oldest unclaimed queued job with FOR UPDATE SKIP LOCKED, so
-- trainers on several hosts never run one job twice.  The job's progress
-- and state stay in training_progress, written by libtrainprog as for any
-- trainer; this table only says what to train and who took it.

-- A token may now start jobs.
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_scopes_known;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_scopes_known
    CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['publish', 'cancel', 'read', 'train']::text[]);

CREATE TABLE training_jobs (
    job_id VARCHAR(255) PRIMARY KEY,
    -- The request as the trainer reads it: every field present.
    request JSONB NOT NULL,
    -- SHA-256 of the canonical request: the same request under the same
    -- job_id is the same job (200), a different one a conflict (409).
    request_sha256 BYTEA NOT NULL,
    -- The token that asked (no foreign key: a revoked token stays).
    token_id TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Set once, by the trainer that takes the job ("host:pid").
    claimed_at TIMESTAMPTZ,
    claimed_by TEXT,
    CONSTRAINT training_jobs_hash_size CHECK (octet_length(request_sha256) = 32),
    CONSTRAINT training_jobs_claim CHECK ((claimed_at IS NULL) = (claimed_by IS NULL)),
    CONSTRAINT training_jobs_request_object CHECK (jsonb_typeof(request) = 'object')
);
-- What trainers look through: only the jobs nobody has taken.
CREATE INDEX training_jobs_unclaimed ON training_jobs (created_at, job_id)
    WHERE claimed_at IS NULL;

GRANT SELECT, INSERT ON training_jobs TO tp_writer;
GRANT UPDATE (claimed_at, claimed_by) ON training_jobs TO tp_writer;
GRANT SELECT ON training_jobs TO tp_reader;

-- Candles, one row per (market, timeframe, start time).  tp-ohlcv loads
-- them (import from CSV, or a synthetic series); Data Collection reads them.
CREATE TABLE ohlcv_candles (
    symbol TEXT NOT NULL,
    exchange TEXT NOT NULL,
    timeframe TEXT NOT NULL,
    ts TIMESTAMPTZ NOT NULL,
    open DOUBLE PRECISION NOT NULL,
    high DOUBLE PRECISION NOT NULL,
    low DOUBLE PRECISION NOT NULL,
    close DOUBLE PRECISION NOT NULL,
    volume DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (symbol, exchange, timeframe, ts),
    CONSTRAINT ohlcv_candles_prices CHECK (low > 0 AND low <= least(open, close)
        AND high >= greatest(open, close) AND volume >= 0
        AND 'NaN'::float8 NOT IN (open, high, low, close, volume)
        AND 'Infinity'::float8 NOT IN (open, high, low, close, volume))
);
GRANT SELECT, INSERT, UPDATE, DELETE ON ohlcv_candles TO tp_writer;
GRANT SELECT ON ohlcv_candles TO tp_reader;

-- What a job found: the best parameters, their in-sample score, and the
-- walk-forward validation's summary.  One per job.
CREATE TABLE trained_configurations (
    id BIGSERIAL PRIMARY KEY,
    job_id VARCHAR(255) NOT NULL UNIQUE,
    strategy TEXT NOT NULL,
    symbol TEXT NOT NULL,
    exchange TEXT NOT NULL,
    timeframe TEXT NOT NULL,
    params JSONB NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    validation JSONB,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT ON trained_configurations TO tp_writer;
GRANT USAGE ON SEQUENCE trained_configurations_id_seq TO tp_writer;
GRANT SELECT ON trained_configurations TO tp_reader;
