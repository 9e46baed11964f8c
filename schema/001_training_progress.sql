-- 001_training_progress.sql: the spec's training_progress table, its integrity
-- rules and storage settings, and the database roles of the read and write paths.
--
-- Columns, types and defaults are the spec's, column for column; `seq` orders
-- writes (a write carrying an older seq changes nothing).  Applied by
-- deploy/migrate inside one transaction; do not add BEGIN/COMMIT here.

CREATE TABLE training_progress (
    id BIGSERIAL PRIMARY KEY,
    job_id VARCHAR(255) NOT NULL UNIQUE,

    -- Overall progress
    percentage FLOAT NOT NULL DEFAULT 0.0,     -- 0.0 to 100.0
    current_step VARCHAR(100) NOT NULL,        -- Step name
    step_number INTEGER NOT NULL DEFAULT 1,    -- 1-4
    total_steps INTEGER NOT NULL DEFAULT 4,

    -- Step-specific progress
    step_percentage FLOAT NOT NULL DEFAULT 0.0,
    step_details JSONB,                        -- Step metadata

    -- Time tracking
    started_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    estimated_completion TIMESTAMPTZ,

    -- Optimizer metrics (real-time monitoring)
    current_iteration INTEGER,
    total_iterations INTEGER,
    best_score FLOAT,
    current_score FLOAT,
    best_params JSONB,

    -- Status
    is_complete BOOLEAN NOT NULL DEFAULT FALSE,
    error_message TEXT,

    -- Write ordering (not in the spec's document)
    seq BIGINT NOT NULL DEFAULT 0,

    -- The API addresses jobs by 1..255 bytes of id (VARCHAR counts characters).
    CONSTRAINT training_progress_job_id_length
        CHECK (octet_length(job_id) BETWEEN 1 AND 255),
    -- NaN and infinities fail these, as they should.
    CONSTRAINT training_progress_percentage_range
        CHECK (percentage >= 0 AND percentage <= 100),
    CONSTRAINT training_progress_step_percentage_range
        CHECK (step_percentage >= 0 AND step_percentage <= 100),
    CONSTRAINT training_progress_total_steps_positive
        CHECK (total_steps >= 1),
    CONSTRAINT training_progress_step_number_range
        CHECK (step_number >= 1 AND step_number <= total_steps),
    CONSTRAINT training_progress_current_iteration_nonnegative
        CHECK (current_iteration >= 0),
    CONSTRAINT training_progress_total_iterations_nonnegative
        CHECK (total_iterations >= 0),
    CONSTRAINT training_progress_step_details_object
        CHECK (step_details IS NULL OR jsonb_typeof(step_details) = 'object'),
    CONSTRAINT training_progress_best_params_object
        CHECK (best_params IS NULL OR jsonb_typeof(best_params) = 'object'),
    CONSTRAINT training_progress_timestamps_finite
        CHECK (isfinite(started_at) AND isfinite(updated_at)
               AND (estimated_completion IS NULL OR isfinite(estimated_completion))),
    CONSTRAINT training_progress_seq_nonnegative
        CHECK (seq >= 0)
)
-- One hot row per job, rewritten every few hundred milliseconds while the job
-- runs.  Free space on each page lets those updates stay HOT (no index
-- changes, no page splits), and vacuum runs after a fixed number of dead rows
-- rather than a fraction of the table, so bloat stays bounded as jobs pile up.
WITH (
    fillfactor = 70,
    autovacuum_vacuum_scale_factor = 0.0,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_insert_scale_factor = 0.05,
    autovacuum_analyze_scale_factor = 0.05
);

COMMENT ON TABLE training_progress IS
    'One progress snapshot per training job (see docs/API.md).';
COMMENT ON COLUMN training_progress.seq IS
    'Increases with every write of a job; a write with a lower seq changes nothing.';

-- Roles.  tp_reader is what the tp-fcgi pool logs in as: it can only read,
-- and its transactions are read-only by default as a second guard.
-- tp_writer is for publishers (libtrainprog, tp-publish).  Both are created
-- without a password: set one (ALTER ROLE ... PASSWORD) or map them with
-- pg_ident.conf.  Roles that already exist are left as the operator made them.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tp_reader') THEN
        CREATE ROLE tp_reader LOGIN;
        ALTER ROLE tp_reader SET default_transaction_read_only = on;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tp_writer') THEN
        CREATE ROLE tp_writer LOGIN;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO tp_reader, tp_writer',
                   current_database());
END
$$;

GRANT USAGE ON SCHEMA public TO tp_reader, tp_writer;
GRANT SELECT ON training_progress TO tp_reader;
GRANT SELECT, INSERT, UPDATE ON training_progress TO tp_writer;
GRANT USAGE ON SEQUENCE training_progress_id_seq TO tp_writer;
