-- 013_notify_targets_rls.sql: what the pool's writer may add to
-- notify_targets, narrowed to what POST /api/v2/training/jobs does.
--
-- 010 let tp_writer insert any row, so a writer session (a compromised
-- worker, say) could add a target with no job id: one that every job's end
-- is sent to, results included.  POST /jobs only ever adds targets for the
-- job it creates, in the transaction that creates it and before the job
-- has any progress.  Row-level security now says exactly that: tp_writer
-- may insert a target whose job_id is a job of training_jobs created in
-- the same transaction (created_at is its start, now()) that has no row in
-- training_progress yet, so not a job a trainer published on its own,
-- even with a training_jobs row made up for it.  (A writer may read every
-- job's progress anyway: this keeps it to what POST /jobs does.)  The
-- owner (migrations, tp-admin) is not subject to it; the sender reads
-- every target, as before.

ALTER TABLE notify_targets ENABLE ROW LEVEL SECURITY;

CREATE POLICY notify_targets_sender_reads ON notify_targets
    FOR SELECT TO tp_sender USING (true);

CREATE POLICY notify_targets_writer_adds_for_its_new_job ON notify_targets
    FOR INSERT TO tp_writer
    WITH CHECK (job_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM public.training_jobs AS j
        WHERE j.job_id = notify_targets.job_id AND j.created_at = now())
        AND NOT EXISTS (
        SELECT 1 FROM public.training_progress AS p
        WHERE p.job_id = notify_targets.job_id));
