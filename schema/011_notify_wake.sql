-- 011_notify_wake.sql: the sender sleeps until there is something to send.
-- A row of notify_outbox that is owed and due now (a job just ended with
-- targets, or tp-admin gave a dead letter another round) sends a
-- notification on channel trainprog_outbox when its transaction commits;
-- tp-notify's sender LISTENs on it, and otherwise wakes only when the
-- earliest retry falls due.  Only those rare transactions notify (a job's
-- end, not its progress), so the notification queue's lock at commit costs
-- the writers of progress nothing.  The sender's own retries (due later)
-- and deliveries (no longer owed) do not notify.

-- A trigger's wake-up call: a notification on the channel its one argument
-- names, for whoever LISTENs there.
CREATE FUNCTION wake_listeners() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM pg_catalog.pg_notify(TG_ARGV[0], '');
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION wake_listeners() FROM PUBLIC;

CREATE TRIGGER notify_outbox_wake AFTER INSERT OR UPDATE ON notify_outbox
    FOR EACH ROW
    WHEN (NEW.delivered_at IS NULL AND NEW.dead_at IS NULL
          AND NEW.next_attempt_at <= now())
    EXECUTE FUNCTION wake_listeners('trainprog_outbox');
