-- 013_notify_targets_rls.sql: what the pool's writer may add to
-- notify_targets, narrowed to what POST /api/v2/training/jobs does.
--
-- 010 let tp_writer insert any row, so a writer session (a compromised
-- worker, say) could add a target with no job id: one that every job's end
-- is sent to, results included.  POST /jobs only ever adds targets for the
-- job it creates, in the transaction that creates it.  Row-level security
-- now says exactly that: tp_writer may insert a target whose job_id is a
-- job of training_jobs created in the same transaction (created_at is its
-- start, now()).  The owner (migrations, tp-admin) is not subject to it;
-- the sender reads every target, as before.

ALTER TABLE notify_targets ENABLE ROW LEVEL SECURITY;

CREATE POLICY notify_targets_sender_reads ON notify_targets
    FOR SELECT TO tp_sender USING (true);

CREATE POLICY notify_targets_writer_adds_for_its_new_job ON notify_targets
    FOR INSERT TO tp_writer
    WITH CHECK (job_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM public.training_jobs AS j
        WHERE j.job_id = notify_targets.job_id AND j.created_at = now()));
