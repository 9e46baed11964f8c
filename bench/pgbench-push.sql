-- pgbench-push.sql: the writer of the push benchmark (bench/run, section 6):
-- a progress update of one of the jobs push-0 .. push-(:jobs - 1), its seq
-- one more than the last, stamped with the time of the write (subscribers
-- measure their latency from it).  Run at a fixed rate (pgbench -R).
\set j random(0, :jobs - 1)
UPDATE training_progress
   SET seq = seq + 1, updated_at = clock_timestamp(), heartbeat_at = clock_timestamp(),
       step_percentage = (seq % 100)::float8, percentage = 25 + (seq % 100)::float8 / 4,
       current_iteration = (seq % 50)::int4
 WHERE job_id = 'push-' || :j;
