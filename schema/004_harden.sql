-- 004_harden.sql: functions that cannot be steered by a session's own
-- objects, and roles that cannot make any.
--
-- A function with SET search_path that does not name pg_temp still searches
-- it, first.  A SECURITY DEFINER trigger function that looks up
-- job_status_counts that way can be handed a temporary table of the same
-- name, with a trigger of the caller's: that trigger then runs as the
-- function's owner.  Every function here now lists pg_temp last, and the
-- SECURITY DEFINER ones name every table by its schema as well.  And the
-- roles of the service may not create temporary objects at all (they never
-- need to): TEMPORARY on this database is taken from PUBLIC.

CREATE OR REPLACE FUNCTION fold_job_status_counts() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    IF pg_catalog.pg_try_advisory_xact_lock(74185527) THEN
        WITH gone AS (DELETE FROM public.job_status_counts RETURNING status, n)
        INSERT INTO public.job_status_counts (status, n)
            SELECT status, sum(n) FROM gone GROUP BY status HAVING sum(n) <> 0;
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION training_progress_count_status() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    last_id BIGINT := 0;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_catalog.pg_advisory_xact_lock(74185527);
        DELETE FROM public.job_status_counts;
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO public.job_status_counts (status, n) VALUES (OLD.status, -1)
            RETURNING id INTO last_id;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO public.job_status_counts (status, n) VALUES (NEW.status, 1)
            RETURNING id INTO last_id;
    END IF;
    IF last_id % 256 = 0 THEN
        PERFORM public.fold_job_status_counts();
    END IF;
    RETURN NULL;
END
$$;

-- Not SECURITY DEFINER (they run as whoever writes), but the same rule.
ALTER FUNCTION training_progress_reconcile() SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION training_progress_notify() SET search_path = pg_catalog, public, pg_temp;

-- Nobody but the owner creates objects in public (PostgreSQL 15's default;
-- a database made by an older release may still allow it), and nobody but
-- the database's owner (and superusers) creates temporary ones here.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
DO $$
BEGIN
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
END
$$;
