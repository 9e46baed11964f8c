-- 010_notify_per_job.sql: a job started with POST /api/v2/training/jobs may
-- name its own notification targets ("notify"); the pool's writer stores
-- them with the job, in its transaction.  It may add targets for a job,
-- not read or change anyone's.

GRANT INSERT ON notify_targets TO tp_writer;
GRANT USAGE ON SEQUENCE notify_targets_id_seq TO tp_writer;
