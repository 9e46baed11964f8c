-- 003_notify.sql: news of writes, for the pool's read cache (fcgi/cache.c).
--
-- Every statement that changes training_progress sends one notification
-- on the channel trainprog_progress (no payload: a worker forgets all the
-- documents it keeps, which is cheap and always right).  Notifications are
-- sent at commit, before the writer hears that it committed, and at most
-- once per transaction: a tracker's batch of 64 jobs costs one.

CREATE FUNCTION training_progress_notify() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM pg_notify('trainprog_progress', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER training_progress_notify
    AFTER INSERT OR UPDATE OR DELETE ON training_progress
    FOR EACH STATEMENT EXECUTE FUNCTION training_progress_notify();
CREATE TRIGGER training_progress_notify_truncate
    AFTER TRUNCATE ON training_progress
    FOR EACH STATEMENT EXECUTE FUNCTION training_progress_notify();
