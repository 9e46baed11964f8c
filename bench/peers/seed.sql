-- seed.sql: the peers' rows: jobs job-1 to job-1000, each holding the spec's example progress.
--
-- The values are deploy/demo/spec-example.sql's, and the same as bench/run
-- stores for the 1,000 jobs of its own stack: every stack serves identical
-- rows, so a difference in requests/s is the software's, not the data's.
-- The table is the project's own (deploy/migrate runs first), triggers and all.
INSERT INTO training_progress (
    job_id, percentage, current_step, step_number, total_steps,
    step_percentage, step_details, started_at, updated_at,
    estimated_completion, current_iteration, total_iterations,
    best_score, current_score, best_params, is_complete, error_message, seq
)
SELECT 'job-' || n, 62.5, 'Optimization', 2, 4,
       75.0, '{"optimizer": "bayesian", "n_calls": 50}',
       '2025-10-23T06:00:00Z', '2025-10-23T06:10:25Z',
       '2025-10-23T06:15:30Z', 38, 50,
       1.85, 1.42,
       '{"pierce_depth": 0.15, "volume_spike_threshold": 2.5, "reversal_candles": 3}',
       FALSE, NULL, 1
FROM generate_series(1, 1000) AS n;

-- Statistics and a visibility map now, not from autovacuum during a run.
VACUUM ANALYZE training_progress;
