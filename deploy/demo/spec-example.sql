-- spec-example.sql: the spec's example response as a training_progress row.
-- Used by `deploy/dev-stack seed` (so `make run` has a job to show) and by
-- the end-to-end tests, which check that the API gives the spec's document back.
INSERT INTO training_progress (
    job_id, percentage, current_step, step_number, total_steps,
    step_percentage, step_details, started_at, updated_at,
    estimated_completion, current_iteration, total_iterations,
    best_score, current_score, best_params, is_complete, error_message, seq
) VALUES (
    'abc123-def456', 62.5, 'Optimization', 2, 4,
    75.0, '{"optimizer": "bayesian", "n_calls": 50}',
    '2025-10-23T06:00:00Z', '2025-10-23T06:10:25Z',
    '2025-10-23T06:15:30Z', 38, 50,
    1.85, 1.42,
    '{"pierce_depth": 0.15, "volume_spike_threshold": 2.5, "reversal_candles": 3}',
    FALSE, NULL, 1
)
ON CONFLICT (job_id) DO NOTHING;
