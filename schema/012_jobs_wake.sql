-- 012_jobs_wake.sql: a queued job wakes the trainers.  POST
-- /api/v2/training/jobs stores the job in training_jobs; at its commit a
-- notification on channel trainprog_jobs (wake_listeners, schema/011)
-- wakes every tp-trainer that LISTENs, and one of them claims it, instead
-- of finding it at its next look at the queue.  One notification per job
-- started: the lock a NOTIFY takes at commit is never in a progress
-- writer's way.

CREATE TRIGGER training_jobs_wake AFTER INSERT ON training_jobs
    FOR EACH ROW EXECUTE FUNCTION wake_listeners('trainprog_jobs');
