-- 014_notify_retention.sql: notifications do not pile up for ever.
--
-- Until now every delivered notify_outbox row, and every target a job
-- asked for (POST /jobs' "notify", tp-admin notify add --job), stayed.
-- notify_prune() deletes, a batch at a time:
--   - outbox rows delivered longer than notify_settings.keep_delivered ago
--     (30 days by default); dead letters stay until retried or their
--     target is removed: someone has to look at them;
--   - targets of one job, once that job has finished longer than
--     keep_delivered ago and nothing of the target's is left in the outbox
--     (a target with a dead letter stays, so the letter can be retried).
-- Targets for every job are never pruned.  tp-notify's sender calls it
-- after connecting and then every hour; it returns how many rows went.
-- tp_sender may call it and nothing more: it deletes nothing itself.  And
-- since what it prunes is what was marked delivered, tp_sender may mark a
-- row delivered only once and only as of now() (a trigger): it cannot age
-- a dead letter or a row still owed into the pruning.

ALTER TABLE notify_settings
    ADD COLUMN keep_delivered INTERVAL NOT NULL DEFAULT '30 days'
        CHECK (keep_delivered >= interval '1 hour');

CREATE FUNCTION notify_prune(batch integer) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    keep interval;
    outbox bigint;
    targets bigint;
BEGIN
    IF batch IS NULL OR batch < 1 OR batch > 100000 THEN
        RAISE EXCEPTION 'notify_prune: batch must be 1 to 100000, not %', batch;
    END IF;
    SELECT s.keep_delivered INTO keep FROM public.notify_settings AS s;
    DELETE FROM public.notify_outbox AS o
    WHERE o.id IN (SELECT d.id FROM public.notify_outbox AS d
                   WHERE d.delivered_at < now() - keep
                   ORDER BY d.delivered_at LIMIT batch);
    GET DIAGNOSTICS outbox = ROW_COUNT;
    DELETE FROM public.notify_targets AS t
    WHERE t.id IN (SELECT x.id FROM public.notify_targets AS x
                   JOIN public.training_progress AS p ON p.job_id = x.job_id
                   WHERE x.job_id IS NOT NULL AND p.finished_at < now() - keep
                     AND NOT EXISTS (SELECT 1 FROM public.notify_outbox AS r
                                     WHERE r.target_id = x.id)
                   ORDER BY x.id LIMIT batch);
    GET DIAGNOSTICS targets = ROW_COUNT;
    RETURN outbox + targets;
END
$$;
REVOKE ALL ON FUNCTION notify_prune(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION notify_prune(integer) TO tp_sender;

-- The sender's look for what to delete: delivered rows by age.
CREATE INDEX notify_outbox_delivered ON notify_outbox (delivered_at)
    WHERE delivered_at IS NOT NULL;
-- A target's rows, for the check above and for ON DELETE CASCADE.
CREATE INDEX notify_outbox_target ON notify_outbox (target_id);

-- The sender records a delivery once, as of now(): never moved, never
-- back-dated.  (The owner may: tests age rows this way.)
CREATE FUNCTION notify_outbox_delivered_once() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    IF current_user = 'tp_sender' AND NEW.delivered_at IS DISTINCT FROM OLD.delivered_at
       AND (OLD.delivered_at IS NOT NULL OR NEW.delivered_at IS DISTINCT FROM now()) THEN
        RAISE EXCEPTION 'notify_outbox: a delivery is recorded once, as of now()'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER notify_outbox_delivered_once BEFORE UPDATE OF delivered_at ON notify_outbox
    FOR EACH ROW EXECUTE FUNCTION notify_outbox_delivered_once();
