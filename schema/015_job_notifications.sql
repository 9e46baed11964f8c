-- 015_job_notifications.sql: whom a job's end was told, or will be, for
-- GET /api/v2/training/jobs/{job_id}/notifications and the job's page.
--
-- The pool's reader may not read notify_targets: a webhook's URL is often
-- its credential and a secret is a key.  job_notifications(job) shows each
-- target that applies to the job (its own, and those for every job) cut to
-- what tells it apart without giving it away: an email address's first
-- letter and domain, a URL's scheme, host and port.  Never a secret.  With
-- it, the state of the job's notification to that target:
--   waiting    the job has not ended;
--   pending    owed, not tried yet (or being sent);
--   retrying   tried and failed, to be tried again at next_attempt_at;
--   delivered  at delivered_at;
--   dead       given up on (tp-admin notify dead);
--   none       nothing is owed: the target came after the job's end, or
--              the delivery has been pruned (schema/014).
-- Run migrate before restarting the pool: its reader prepares the query.
--
-- notify_target_shown(kind, address) is the cut itself, also what
-- `tp-admin notify list` shows of a URL: one rule for both.  It is shown
-- only when it is plainly a host (and port) or a domain; a row written by
-- hand with anything else there (user:password@, a stray character) shows
-- as "?" rather than risk a credential.
CREATE FUNCTION notify_target_shown(kind text, address text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT
    SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN kind = 'email'
                THEN CASE WHEN address ~ '^[^@]+@[A-Za-z0-9.-]+$'
                          THEN left(address, 1) || '...@' || split_part(address, '@', 2)
                          ELSE '?' END
                ELSE coalesce(substring(address FROM
                     '^(https?://(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?)(?:[/?#]|$)'),
                     coalesce(substring(address FROM '^([a-z]+)://'), '?') || '://?') END
$$;

CREATE FUNCTION job_notifications(job text)
    RETURNS TABLE (kind text, target text, every_job boolean, event text, state text,
                   attempts integer, delivered_at timestamptz, next_attempt_at timestamptz,
                   last_error text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT t.kind,
           public.notify_target_shown(t.kind, t.address),
           t.job_id IS NULL,
           o.event,
           CASE WHEN o.id IS NULL THEN CASE WHEN p.is_complete THEN 'none' ELSE 'waiting' END
                WHEN o.delivered_at IS NOT NULL THEN 'delivered'
                WHEN o.dead_at IS NOT NULL THEN 'dead'
                WHEN o.attempts = 0 THEN 'pending'
                ELSE 'retrying' END,
           coalesce(o.attempts, 0),
           o.delivered_at,
           CASE WHEN o.delivered_at IS NULL AND o.dead_at IS NULL THEN o.next_attempt_at END,
           o.last_error
    FROM public.notify_targets AS t
    LEFT JOIN public.training_progress AS p ON p.job_id = job
    -- The newest, should a job have ended twice (a writer that sets
    -- is_complete back and forth owes a notification each time).
    LEFT JOIN LATERAL (SELECT r.* FROM public.notify_outbox AS r
                       WHERE r.target_id = t.id AND r.job_id = job
                       ORDER BY r.id DESC LIMIT 1) AS o ON true
    WHERE t.job_id IS NULL OR t.job_id = job
    ORDER BY t.id
$$;
REVOKE ALL ON FUNCTION job_notifications(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION job_notifications(text) TO tp_reader;
