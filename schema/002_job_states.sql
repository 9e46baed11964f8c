-- 002_job_states.sql: job states, liveness, cancellation, the dashboard's
-- indexes, and the API's bearer tokens (docs/API.md, docs/DESIGN.md).
--
-- A job's state lives in its training_progress row, next to its progress, so
-- that one row lock orders every write: a cancel racing a completion ends in
-- exactly one of them.  "stalled" is not stored: it is how a running job
-- reads when nothing was heard from it for a while (tp-fcgi's stall_after).

ALTER TABLE training_progress
    ADD COLUMN status TEXT NOT NULL DEFAULT 'running',
    ADD COLUMN created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ADD COLUMN step_started_at TIMESTAMPTZ,
    ADD COLUMN heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ADD COLUMN cancel_requested_at TIMESTAMPTZ,
    ADD COLUMN finished_at TIMESTAMPTZ;

-- Rows written before this migration: what their columns already say.
UPDATE training_progress SET
    status = CASE WHEN is_complete AND error_message IS NOT NULL THEN 'failed'
                  WHEN is_complete THEN 'completed'
                  ELSE 'running' END,
    created_at = started_at,
    step_started_at = updated_at,
    heartbeat_at = updated_at,
    finished_at = CASE WHEN is_complete THEN updated_at END;

ALTER TABLE training_progress
    ADD CONSTRAINT training_progress_status_known
        CHECK (status IN ('queued', 'running', 'cancelling', 'cancelled', 'completed', 'failed')),
    -- is_complete (the spec's) and the terminal states say the same thing.
    ADD CONSTRAINT training_progress_status_complete
        CHECK ((status IN ('cancelled', 'completed', 'failed')) = is_complete),
    ADD CONSTRAINT training_progress_finished_when_complete
        CHECK ((finished_at IS NOT NULL) = is_complete),
    ADD CONSTRAINT training_progress_cancel_requested
        CHECK (status NOT IN ('cancelling', 'cancelled') OR cancel_requested_at IS NOT NULL);

-- Writers that know only the spec's columns (an UPDATE of percentage and
-- updated_at, an INSERT with is_complete) keep the states consistent too:
-- a finished row gets its terminal status and finished_at, an unfinished
-- one loses them, and an update that moves updated_at but not heartbeat_at
-- counts as a sign of life (recorded to the second, like trainprog's own
-- writes do: see lib/store.c).  trainprog's own writes set every column
-- themselves, so for them the WHEN clauses are false and nothing runs.
CREATE FUNCTION training_progress_reconcile() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    IF NEW.is_complete THEN
        IF NEW.status NOT IN ('cancelled', 'completed', 'failed') THEN
            NEW.status := CASE WHEN NEW.error_message IS NOT NULL THEN 'failed'
                               ELSE 'completed' END;
        END IF;
        NEW.finished_at := coalesce(NEW.finished_at, now());
    ELSE
        IF NEW.status IN ('cancelled', 'completed', 'failed') THEN
            NEW.status := 'running';
        END IF;
        NEW.finished_at := NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.heartbeat_at IS NOT DISTINCT FROM OLD.heartbeat_at
        AND NEW.updated_at IS DISTINCT FROM OLD.updated_at THEN
        NEW.heartbeat_at := now();
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER training_progress_reconcile_insert BEFORE INSERT ON training_progress
    FOR EACH ROW
    WHEN (NEW.is_complete <> (NEW.status IN ('cancelled', 'completed', 'failed'))
          OR NEW.is_complete <> (NEW.finished_at IS NOT NULL))
    EXECUTE FUNCTION training_progress_reconcile();
CREATE TRIGGER training_progress_reconcile_update BEFORE UPDATE ON training_progress
    FOR EACH ROW
    WHEN (NEW.is_complete <> (NEW.status IN ('cancelled', 'completed', 'failed'))
          OR NEW.is_complete <> (NEW.finished_at IS NOT NULL)
          OR (NEW.heartbeat_at IS NOT DISTINCT FROM OLD.heartbeat_at
              AND NEW.updated_at IS DISTINCT FROM OLD.updated_at
              AND OLD.heartbeat_at < now() - interval '1 second'))
    EXECUTE FUNCTION training_progress_reconcile();

COMMENT ON COLUMN training_progress.status IS
    'queued, running, cancelling, cancelled, completed or failed; reads add stalled';
COMMENT ON COLUMN training_progress.heartbeat_at IS
    'Last write or heartbeat from the job: the dashboard''s activity order, and liveness';

-- The dashboard: newest activity first, all jobs or by state.  A write
-- that moves heartbeat_at moves the row in these indexes (and is not HOT),
-- so writers move it at most once a second (lib/store.c).
CREATE INDEX training_progress_activity
    ON training_progress (heartbeat_at DESC, job_id DESC);
CREATE INDEX training_progress_status_activity
    ON training_progress (status, heartbeat_at DESC, job_id DESC);

-- Bearer tokens.  A token reads tp_<token_id>_<secret>: the id finds the
-- row, and only the SHA-256 of the secret is stored, compared in constant
-- time.  Created, listed and revoked with tp-admin.
CREATE TABLE api_tokens (
    token_id TEXT PRIMARY KEY,
    secret_sha256 BYTEA NOT NULL,
    scopes TEXT[] NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at TIMESTAMPTZ,
    CONSTRAINT api_tokens_id_format CHECK (token_id ~ '^[0-9a-f]{12}$'),
    CONSTRAINT api_tokens_hash_size CHECK (octet_length(secret_sha256) = 32),
    CONSTRAINT api_tokens_scopes_known
        CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['publish', 'cancel', 'read']::text[]),
    CONSTRAINT api_tokens_name_length CHECK (length(name) <= 200)
);

-- The pool checks tokens with either role; neither may list or change them.
GRANT SELECT (token_id, secret_sha256, scopes, revoked_at) ON api_tokens TO tp_reader, tp_writer;

-- Counts per status, for the dashboard, without counting 100,000 rows on
-- every request.  A job changes status a handful of times in its life; each
-- change appends a -1 and a +1 here, from a trigger.  Appending never waits
-- on another writer (no shared counter row to lock), and every so often a
-- writer folds the rows into one per status (DELETE ... RETURNING, then
-- one row per sum, in the same transaction), so the sums stay exact.  "stalled" is counted from the index, at read time.
CREATE TABLE job_status_counts (
    id BIGSERIAL PRIMARY KEY,
    status TEXT NOT NULL,
    n BIGINT NOT NULL
);

-- One folder at a time (the others skip: there is no hurry), so that a
-- fold never waits on rows another fold is deleting: writers never wait on
-- each other here, and cannot deadlock.
CREATE FUNCTION fold_job_status_counts() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    IF pg_try_advisory_xact_lock(74185527) THEN
        WITH gone AS (DELETE FROM job_status_counts RETURNING status, n)
        INSERT INTO job_status_counts (status, n)
            SELECT status, sum(n) FROM gone GROUP BY status HAVING sum(n) <> 0;
    END IF;
END
$$;

CREATE FUNCTION training_progress_count_status() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    last_id BIGINT := 0;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_advisory_xact_lock(74185527);
        DELETE FROM job_status_counts;
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO job_status_counts (status, n) VALUES (OLD.status, -1)
            RETURNING id INTO last_id;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO job_status_counts (status, n) VALUES (NEW.status, 1)
            RETURNING id INTO last_id;
    END IF;
    IF last_id % 256 = 0 THEN
        PERFORM fold_job_status_counts();
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER training_progress_count_insert AFTER INSERT ON training_progress
    FOR EACH ROW EXECUTE FUNCTION training_progress_count_status();
-- Not "UPDATE OF status": that misses a status set by the trigger above.
CREATE TRIGGER training_progress_count_update AFTER UPDATE ON training_progress
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION training_progress_count_status();
CREATE TRIGGER training_progress_count_delete AFTER DELETE ON training_progress
    FOR EACH ROW EXECUTE FUNCTION training_progress_count_status();
CREATE TRIGGER training_progress_count_truncate AFTER TRUNCATE ON training_progress
    FOR EACH STATEMENT EXECUTE FUNCTION training_progress_count_status();

-- The rows already there.
INSERT INTO job_status_counts (status, n)
    SELECT status, count(*) FROM training_progress GROUP BY status;

REVOKE ALL ON FUNCTION fold_job_status_counts() FROM PUBLIC;
GRANT SELECT ON job_status_counts TO tp_reader, tp_writer;
