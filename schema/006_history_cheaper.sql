-- 006_history_cheaper.sql: the history's throttle without a row trigger
-- before every update.
--
-- A BEFORE UPDATE row trigger makes PostgreSQL fetch and lock each row once
-- more before it tests the trigger's WHEN, on every write, due or not:
-- measurable on a tracker's batches.  trainprog's UPSERT (lib/store.c) now
-- marks a write due itself (history_seq, history_next, as 005 did), and the
-- one trigger left runs AFTER an update that was marked, or that changed
-- the step or the status (whoever wrote it: a cancel, a heartbeat, psql).
-- Progress written by other means than the UPSERT is kept at its step and
-- status changes only.

DROP TRIGGER progress_history_due_update ON training_progress;
DROP FUNCTION progress_history_due();
DROP TRIGGER progress_history_write_update ON training_progress;
CREATE TRIGGER progress_history_write_update AFTER UPDATE ON training_progress
    FOR EACH ROW WHEN (NEW.history_next IS DISTINCT FROM OLD.history_next
        OR NEW.step_number IS DISTINCT FROM OLD.step_number
        OR NEW.status IS DISTINCT FROM OLD.status)
    EXECUTE FUNCTION progress_history_write();
