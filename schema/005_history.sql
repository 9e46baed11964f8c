-- 005_history.sql: each job's history, for replay (GET .../progress/history).
--
-- A snapshot is kept at every change of step and of status (terminal
-- states included), and at progress writes in between no more often than
-- min_interval per job; when a step or status changes, the last state
-- before it is kept too if the throttle had left it out, so no step loses
-- its last iteration.  Heartbeats keep nothing.
--
-- Writers pay little: the row says when its next throttled snapshot is
-- due (history_next), so the triggers' WHEN clauses, which call no
-- function, turn away a heartbeat and every progress write that is not
-- due; only a write that is due runs PL/pgSQL and inserts.
-- The snapshot is written by an AFTER trigger, so a write the UPSERT's
-- guard refused, or an INSERT that became an UPDATE, keeps nothing.
--
-- Retention: at most max_per_job snapshots per job (enforced as each is
-- added), none older than max_age (the pool's sweep deletes them).

CREATE TABLE progress_history_settings (
    id BOOLEAN PRIMARY KEY DEFAULT true CHECK (id),
    min_interval INTERVAL NOT NULL DEFAULT '1 second'
        CHECK (min_interval >= '0 seconds' AND min_interval <= '1 day'),
    max_per_job INTEGER NOT NULL DEFAULT 10000 CHECK (max_per_job BETWEEN 10 AND 1000000),
    max_age INTERVAL NOT NULL DEFAULT '90 days' CHECK (max_age >= '1 second')
);
INSERT INTO progress_history_settings DEFAULT VALUES;

CREATE TABLE progress_history (
    job_id VARCHAR(255) NOT NULL
        REFERENCES training_progress (job_id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    status TEXT NOT NULL,
    percentage DOUBLE PRECISION NOT NULL,
    step_number INTEGER NOT NULL,
    current_step VARCHAR(100) NOT NULL,
    step_percentage DOUBLE PRECISION NOT NULL,
    current_iteration INTEGER,
    best_score DOUBLE PRECISION,
    current_score DOUBLE PRECISION,
    PRIMARY KEY (job_id, seq)
);
-- The age sweep.
CREATE INDEX progress_history_at ON progress_history (at);

-- The seq of the job's last snapshot, and when a progress write is next due
-- one (no index holds them: a write that sets them stays HOT).
ALTER TABLE training_progress
    ADD COLUMN history_seq BIGINT,
    ADD COLUMN history_next TIMESTAMPTZ;

-- Keeps a snapshot of a row (a newer state of the same seq, a status that
-- changed without a write, replaces it), then the newest max_per_job.
CREATE FUNCTION progress_history_keep(r public.training_progress, at TIMESTAMPTZ)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    keep INTEGER;
    oldest BIGINT;
BEGIN
    INSERT INTO public.progress_history AS h (job_id, seq, at, status, percentage,
        step_number, current_step, step_percentage, current_iteration, best_score,
        current_score)
    VALUES (r.job_id, r.seq, at, r.status, r.percentage, r.step_number, r.current_step,
        r.step_percentage, r.current_iteration, r.best_score, r.current_score)
    ON CONFLICT (job_id, seq) DO UPDATE SET at = EXCLUDED.at, status = EXCLUDED.status,
        percentage = EXCLUDED.percentage, step_number = EXCLUDED.step_number,
        current_step = EXCLUDED.current_step, step_percentage = EXCLUDED.step_percentage,
        current_iteration = EXCLUDED.current_iteration, best_score = EXCLUDED.best_score,
        current_score = EXCLUDED.current_score;
    SELECT s.max_per_job INTO keep FROM public.progress_history_settings AS s;
    SELECT h.seq INTO oldest FROM public.progress_history AS h
        WHERE h.job_id = r.job_id ORDER BY h.seq DESC OFFSET keep LIMIT 1;
    IF oldest IS NOT NULL THEN
        DELETE FROM public.progress_history AS h
            WHERE h.job_id = r.job_id AND h.seq <= oldest;
    END IF;
END
$$;

-- BEFORE an update that is due a snapshot (the trigger's WHEN): marks it on
-- the row.  Not before an INSERT: every UPSERT proposes one, and a PL/pgSQL
-- call on every write is what this design avoids.  A new job's first
-- snapshot is the AFTER INSERT trigger's; trainprog's UPSERT (lib/store.c)
-- marks the new row itself, another INSERT leaves the marks NULL and the
-- job's first update is due.
CREATE FUNCTION progress_history_due() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    NEW.history_seq := NEW.seq;
    NEW.history_next := now() + (SELECT s.min_interval FROM public.progress_history_settings AS s);
    RETURN NEW;
END
$$;

-- AFTER a write marked due: the snapshot, and the step's last state if the
-- throttle had left it out.
CREATE FUNCTION progress_history_write() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.history_seq IS DISTINCT FROM OLD.seq
        AND (NEW.step_number IS DISTINCT FROM OLD.step_number
             OR NEW.status IS DISTINCT FROM OLD.status) THEN
        PERFORM public.progress_history_keep(OLD, OLD.updated_at);
    END IF;
    PERFORM public.progress_history_keep(NEW, now());
    RETURN NULL;
END
$$;

CREATE TRIGGER progress_history_due_update BEFORE UPDATE ON training_progress
    FOR EACH ROW WHEN (OLD.step_number IS DISTINCT FROM NEW.step_number
        OR OLD.status IS DISTINCT FROM NEW.status
        OR (OLD.seq IS DISTINCT FROM NEW.seq
            AND (OLD.history_next IS NULL OR OLD.history_next <= now())))
    EXECUTE FUNCTION progress_history_due();
CREATE TRIGGER progress_history_write_insert AFTER INSERT ON training_progress
    FOR EACH ROW EXECUTE FUNCTION progress_history_write();
CREATE TRIGGER progress_history_write_update AFTER UPDATE ON training_progress
    FOR EACH ROW WHEN (NEW.history_next IS DISTINCT FROM OLD.history_next)
    EXECUTE FUNCTION progress_history_write();

REVOKE ALL ON FUNCTION progress_history_keep(public.training_progress, TIMESTAMPTZ)
    FROM PUBLIC;
GRANT SELECT ON progress_history TO tp_reader, tp_writer;
-- Every writer's trigger reads the throttle (it runs as the writer).
GRANT SELECT ON progress_history_settings TO PUBLIC;
-- The pool's age sweep.
GRANT DELETE ON progress_history TO tp_writer;
