-- pgbench-upsert.sql: the baseline for the publisher benchmark: the
-- simplest guarded one-row upsert of a progress row, from pgbench clients,
-- asynchronous commit, as PostgreSQL alone can take it on this machine.
-- pgbench -D jobs=N: over the jobs pgbench-1 .. pgbench-N.
\set j random(1, :jobs)
INSERT INTO training_progress AS tp (job_id, percentage, current_step, step_number, step_percentage, seq)
VALUES ('pgbench-' || :j, 30, 'Optimization', 2, 10, (extract(epoch from clock_timestamp()) * 1000000)::bigint)
ON CONFLICT (job_id) DO UPDATE SET percentage = GREATEST(tp.percentage, EXCLUDED.percentage),
    seq = EXCLUDED.seq, updated_at = now(),
    -- as libtrainprog does: the indexed activity column moves once a second
    heartbeat_at = CASE WHEN tp.heartbeat_at < now() - interval '1 second' THEN now()
                        ELSE tp.heartbeat_at END
WHERE tp.seq < EXCLUDED.seq;
