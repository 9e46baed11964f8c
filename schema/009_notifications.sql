-- 009_notifications.sql: notifications when a job ends, from an outbox.
--
-- notify_targets are where notifications go: a generic JSON webhook
-- (signed with its secret, if it has one), a Slack or Mattermost incoming
-- webhook, or an email address; for every job (job_id NULL) or for one.
-- A job that reaches completed, failed or cancelled gets one notify_outbox
-- row per target, written by a trigger in the same transaction as the
-- state change: a state change committed is a notification owed, and none
-- is owed for a change rolled back.  tp-notify's sender delivers them (at
-- least once: the same delivery_id on every try), retries with backoff,
-- and after notify_settings.max_attempts tries marks one dead (dead_at);
-- `tp-admin notify dead --retry` gives a dead one another round.

CREATE TABLE notify_targets (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('webhook', 'slack', 'email')),
    -- An http(s) URL for webhook and slack; an address for email.
    address TEXT NOT NULL CHECK (length(address) BETWEEN 1 AND 2048),
    -- The webhook's HMAC key; never logged, never listed in full.
    secret TEXT CHECK (secret IS NULL OR (kind = 'webhook' AND length(secret) BETWEEN 1 AND 256)),
    -- NULL: every job; else the job it was asked for.
    job_id VARCHAR(255),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (kind = 'email' OR address ~ '^https?://'),
    CHECK (kind <> 'email' OR address ~ '^[^@[:space:]<>]+@[^@[:space:]<>]+$')
);
CREATE INDEX notify_targets_job ON notify_targets (job_id);

CREATE TABLE notify_settings (
    one BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
    -- Tries before a notification is dead.
    max_attempts INTEGER NOT NULL DEFAULT 8 CHECK (max_attempts BETWEEN 1 AND 100)
);
INSERT INTO notify_settings DEFAULT VALUES;

CREATE TABLE notify_outbox (
    id BIGSERIAL PRIMARY KEY,
    -- The same on every try: a receiver drops what it has seen.
    delivery_id UUID NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    target_id BIGINT NOT NULL REFERENCES notify_targets (id) ON DELETE CASCADE,
    job_id VARCHAR(255) NOT NULL,
    event TEXT NOT NULL CHECK (event IN ('job.completed', 'job.failed', 'job.cancelled')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_error TEXT,
    delivered_at TIMESTAMPTZ,
    dead_at TIMESTAMPTZ
);
-- What the sender looks for: owed, not dead, due.
CREATE INDEX notify_outbox_due ON notify_outbox (next_attempt_at)
    WHERE delivered_at IS NULL AND dead_at IS NULL;
CREATE INDEX notify_outbox_job ON notify_outbox (job_id);

-- One outbox row per target of the job, when it reaches a terminal status.
CREATE FUNCTION notify_enqueue() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    INSERT INTO public.notify_outbox (target_id, job_id, event)
    SELECT t.id, NEW.job_id, 'job.' || NEW.status
    FROM public.notify_targets AS t
    WHERE t.job_id IS NULL OR t.job_id = NEW.job_id;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION notify_enqueue() FROM PUBLIC;

CREATE TRIGGER notify_enqueue_update AFTER UPDATE OF status ON training_progress
    FOR EACH ROW
    WHEN (NEW.status IN ('completed', 'failed', 'cancelled')
          AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION notify_enqueue();
CREATE TRIGGER notify_enqueue_insert AFTER INSERT ON training_progress
    FOR EACH ROW
    WHEN (NEW.status IN ('completed', 'failed', 'cancelled'))
    EXECUTE FUNCTION notify_enqueue();

-- tp-notify's sender: its own role, which may read the targets and the
-- jobs, and mark what it delivered; nothing else.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tp_sender') THEN
        CREATE ROLE tp_sender LOGIN;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO tp_sender', current_database());
END
$$;
GRANT USAGE ON SCHEMA public TO tp_sender;
GRANT SELECT ON training_progress, notify_targets, notify_settings TO tp_sender;
GRANT SELECT, UPDATE (attempts, next_attempt_at, last_error, delivered_at, dead_at)
    ON notify_outbox TO tp_sender;
