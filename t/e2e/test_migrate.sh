# test_migrate.sh: deploy/migrate and what schema/001 and 002 create.

main_stack || return 0
super_url=$(sed -n 's/^RT=//p' "$TP_STATE_DIR/stack.env")
super_url="postgresql://postgres@/trainprog?host=$super_url/pgsock"
db_url() { echo "${super_url/\/trainprog?//$1?}"; }

out=$("$E2E_ROOT/deploy/migrate" "$super_url" 2>&1)
is "$?" 0 "migrate on an up-to-date database succeeds"
case $out in *"0 applied now"*) pass "and applies nothing" ;; *) fail "and applies nothing" "$out" ;; esac
is "$(sql "SELECT version || ' ' || name || ' ' || length(checksum) FROM schema_migrations ORDER BY version" | tr '\n' ',')" \
    "001 training_progress 64,002 job_states 64,003 notify 64,004 harden 64,005 history 64,006 history_cheaper 64,007 change_feed 64,008 training_jobs 64,009 notifications 64,010 notify_per_job 64,011 notify_wake 64,012 jobs_wake 64,013 notify_targets_rls 64,014 notify_retention 64,015 job_notifications 64," "schema_migrations records each migration with its checksum"
out=$("$E2E_ROOT/deploy/migrate" --status "$super_url" 2>&1)
case $out in *"applied 001 training_progress"*) pass "--status lists what is applied" ;; *) fail "--status lists what is applied" "$out" ;; esac

# The spec's columns, types, nullability and defaults, plus seq (001), the
# job states (002) and the history's marks (005).
cols=$(sql "SELECT string_agg(column_name || ' ' || data_type || ' ' || is_nullable || ' ' ||
            coalesce(column_default, '-'), E'\n' ORDER BY ordinal_position)
            FROM information_schema.columns WHERE table_name = 'training_progress'")
want="id bigint NO nextval('training_progress_id_seq'::regclass)
job_id character varying NO -
percentage double precision NO 0.0
current_step character varying NO -
step_number integer NO 1
total_steps integer NO 4
step_percentage double precision NO 0.0
step_details jsonb YES -
started_at timestamp with time zone NO now()
updated_at timestamp with time zone NO now()
estimated_completion timestamp with time zone YES -
current_iteration integer YES -
total_iterations integer YES -
best_score double precision YES -
current_score double precision YES -
best_params jsonb YES -
is_complete boolean NO false
error_message text YES -
seq bigint NO 0
status text NO 'running'::text
created_at timestamp with time zone NO now()
step_started_at timestamp with time zone YES -
heartbeat_at timestamp with time zone NO now()
cancel_requested_at timestamp with time zone YES -
finished_at timestamp with time zone YES -
history_seq bigint YES -
history_next timestamp with time zone YES -"
is "$cols" "$want" "training_progress has the spec's columns, types and defaults, plus seq, the states and the history's marks"
is "$(sql "SELECT character_maximum_length FROM information_schema.columns WHERE table_name = 'training_progress' AND column_name IN ('job_id', 'current_step') ORDER BY ordinal_position" | tr '\n' ' ')" \
    "255 100 " "VARCHAR(255) and VARCHAR(100)"
is "$(sql "SELECT array_to_string(reloptions, ',') FROM pg_class WHERE relname = 'training_progress'")" \
    "fillfactor=70,autovacuum_vacuum_scale_factor=0.0,autovacuum_vacuum_threshold=1000,autovacuum_vacuum_insert_scale_factor=0.05,autovacuum_analyze_scale_factor=0.05" \
    "storage settings for one hot row per job"
is "$(sql "SELECT count(*) FROM pg_indexes WHERE tablename = 'training_progress' AND indexdef LIKE '%UNIQUE%(job_id)%'")" \
    1 "job_id is unique (one row per job)"

# Integrity checks refuse what the spec's ranges forbid.
reject() {
	local what=$1 out
	shift
	out=$(put_row "reject-me" "$@" 2>&1)
	case $out in *"violates check constraint"*) pass "refused: $what" ;;
	*) fail "refused: $what" "$out" ;; esac
}
reject "percentage above 100" "percentage=100.5"
reject "negative percentage" "percentage=-1"
reject "NaN percentage" "percentage='NaN'"
reject "step_percentage above 100" "step_percentage=101"
reject "step_number 0" "step_number=0"
reject "step_number above total_steps" "step_number=5"
reject "negative current_iteration" "current_iteration=-1"
reject "negative total_iterations" "total_iterations=-1"
reject "step_details that is not an object" "step_details='[1,2]'"
reject "best_params that is not an object" "best_params='\"x\"'"
reject "infinite timestamps" "estimated_completion='infinity'"
reject "negative seq" "seq=-1"
out=$(put_row "" 2>&1)
case $out in *"violates check constraint"*) pass "refused: an empty job_id" ;; *) fail "refused: an empty job_id" "$out" ;; esac
reject "an unknown status" "status='paused'"
reject "cancelling without a request time" "status='cancelling'"
ok put_row "accept-me" "percentage=100" "step_percentage=0" "step_number=4" "current_iteration=0" \
    "step_details='{}'" -- "the edges of every range are accepted"

# Writers that know only the spec's columns keep the states consistent.
put_row legacy-done "is_complete=true"
is "$(sql "SELECT status, finished_at IS NOT NULL FROM training_progress WHERE job_id = 'legacy-done'")" \
    "completed|t" "a finished row written with the spec's columns reads completed"
put_row legacy-failed "is_complete=true" "error_message='boom'"
is "$(sql "SELECT status FROM training_progress WHERE job_id = 'legacy-failed'")" failed \
    "with an error_message: failed"
put_row legacy-running "heartbeat_at=now() - interval '1 hour'" "updated_at=now() - interval '1 hour'"
sql "UPDATE training_progress SET percentage = 10, updated_at = now() WHERE job_id = 'legacy-running'" >/dev/null
is "$(sql "SELECT heartbeat_at > now() - interval '1 minute' FROM training_progress WHERE job_id = 'legacy-running'")" t \
    "an update of updated_at alone is a sign of life"
sql "UPDATE training_progress SET is_complete = false WHERE job_id = 'legacy-done'" >/dev/null
is "$(sql "SELECT status, finished_at IS NULL FROM training_progress WHERE job_id = 'legacy-done'")" \
    "running|t" "a row made unfinished again reads running"
sql "DELETE FROM training_progress WHERE job_id LIKE 'legacy-%' OR job_id = 'accept-me'" >/dev/null

# Roles.
is "$(sql "SELECT rolconfig::text FROM pg_roles WHERE rolname = 'tp_reader'")" \
    "{default_transaction_read_only=on}" "tp_reader's sessions are read-only by default"
is "$(sql "SELECT string_agg(privilege_type, ',' ORDER BY privilege_type) FROM information_schema.role_table_grants WHERE grantee = 'tp_reader' AND table_name = 'training_progress'")" \
    "SELECT" "tp_reader may only SELECT"
is "$(sql "SELECT string_agg(privilege_type, ',' ORDER BY privilege_type) FROM information_schema.role_table_grants WHERE grantee = 'tp_writer' AND table_name = 'training_progress'")" \
    "INSERT,SELECT,UPDATE" "tp_writer may SELECT, INSERT and UPDATE"
is "$(sql "SELECT string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.column_privileges WHERE grantee = 'tp_reader' AND table_name = 'api_tokens'")" \
    "revoked_at,scopes,secret_sha256,token_id" "tp_reader reads only what checking a token needs"
is "$(sql "SELECT count(*) FROM information_schema.column_privileges WHERE grantee = 'tp_writer' AND table_name = 'api_tokens' AND privilege_type <> 'SELECT'")" \
    0 "and neither pool role may change tokens"

# Two migrators at once on a new database: one applies, the other waits and
# finds it done.
sql "CREATE DATABASE trainprog_m" >/dev/null
"$E2E_ROOT/deploy/migrate" "$(db_url trainprog_m)" >"$E2E_TMP/m1.log" 2>&1 &
m1=$!
"$E2E_ROOT/deploy/migrate" "$(db_url trainprog_m)" >"$E2E_TMP/m2.log" 2>&1 &
m2=$!
wait $m1; r1=$?
wait $m2; r2=$?
is "$r1 $r2" "0 0" "two concurrent migrations both succeed"
nmig=$(ls "$E2E_ROOT"/schema/[0-9][0-9][0-9]_*.sql | wc -l)
is "$(psql -X -tA -d "$(db_url trainprog_m)" -c "SELECT count(*) FROM schema_migrations")" "$nmig" \
    "and each migration is recorded once"
is "$(cat "$E2E_TMP/m1.log" "$E2E_TMP/m2.log" | grep -c 'applied [0-9][0-9][0-9] ')" "$nmig" "and applied once"

# The counts per status the dashboard reads (kept by triggers) agree with
# the rows, through inserts, changes of status, deletes, truncation, and
# the folding of the counters.
mdb() { psql -X -q -tA -v ON_ERROR_STOP=1 -d "$(db_url trainprog_m)" -c "$1"; }
counts_agree() {
	[ "$(mdb "SELECT coalesce(string_agg(status || '=' || n, ',' ORDER BY status), '') FROM
	        (SELECT status, sum(n) AS n FROM job_status_counts GROUP BY status HAVING sum(n) <> 0) c")" = \
	  "$(mdb "SELECT coalesce(string_agg(status || '=' || n, ',' ORDER BY status), '') FROM
	        (SELECT status, count(*) AS n FROM training_progress GROUP BY status) c")" ]
}
mdb "INSERT INTO training_progress (job_id, current_step) SELECT 'c-' || g, 'Optimization' FROM generate_series(1, 700) g"
mdb "UPDATE training_progress SET is_complete = true WHERE job_id LIKE 'c-%' AND right(job_id, 1) IN ('1', '2')"
mdb "UPDATE training_progress SET status = 'cancelling', cancel_requested_at = now() WHERE job_id LIKE 'c-%' AND right(job_id, 1) = '3'"
mdb "DELETE FROM training_progress WHERE right(job_id, 1) = '4'"
ok counts_agree -- "job_status_counts agrees with the rows after inserts, updates and deletes"
less_than "$(mdb "SELECT count(*) FROM job_status_counts")" 400 "and it is folded as it grows"
mdb "TRUNCATE training_progress"
ok counts_agree -- "and after a TRUNCATE"

# 002 on a table that already has rows: their states come from their columns.
sql "CREATE DATABASE trainprog_b" >/dev/null
mkdir -p "$E2E_TMP/schema-001"
cp "$E2E_ROOT"/schema/001_*.sql "$E2E_TMP/schema-001/"
"$E2E_ROOT/deploy/migrate" --schema-dir "$E2E_TMP/schema-001" "$(db_url trainprog_b)" >/dev/null 2>&1
psql -X -q -d "$(db_url trainprog_b)" -c "INSERT INTO training_progress (job_id, current_step, is_complete, error_message)
    VALUES ('b-run', 'Optimization', false, NULL), ('b-done', 'Complete', true, NULL), ('b-fail', 'Validation', true, 'x')"
"$E2E_ROOT/deploy/migrate" "$(db_url trainprog_b)" >/dev/null 2>&1
is "$(psql -X -tA -d "$(db_url trainprog_b)" -c "SELECT string_agg(job_id || '=' || status, ',' ORDER BY job_id) FROM training_progress")" \
    "b-done=completed,b-fail=failed,b-run=running" "002 gives existing rows the states their columns say"
is "$(psql -X -tA -d "$(db_url trainprog_b)" -c "SELECT string_agg(status || '=' || n, ',' ORDER BY status) FROM job_status_counts")" \
    "completed=1,failed=1,running=1" "and counts them"
sql "DROP DATABASE trainprog_b" >/dev/null

# A migration that fails leaves nothing behind.
mkdir -p "$E2E_TMP/schema-broken"
cp "$E2E_ROOT"/schema/*.sql "$E2E_TMP/schema-broken/"
printf 'CREATE TABLE half_done (x int);\nSELECT 1/0;\n' >"$E2E_TMP/schema-broken/900_broken.sql"
out=$("$E2E_ROOT/deploy/migrate" --schema-dir "$E2E_TMP/schema-broken" "$(db_url trainprog_m)" 2>&1)
is "$?" 1 "a failing migration makes migrate fail"
case $out in *"migration 900 (broken) failed; nothing of it was applied"*) pass "and says which" ;; *) fail "and says which" "$out" ;; esac
is "$(psql -X -tA -d "$(db_url trainprog_m)" -c "SELECT count(*) FROM pg_tables WHERE tablename = 'half_done'")|$(psql -X -tA -d "$(db_url trainprog_m)" -c "SELECT count(*) FROM schema_migrations")" \
    "0|$nmig" "its table was rolled back and it is not recorded"

# An applied migration whose file changed is refused.
mkdir -p "$E2E_TMP/schema-edited"
cp "$E2E_ROOT"/schema/*.sql "$E2E_TMP/schema-edited/"
echo "-- edited afterwards" >>"$E2E_TMP/schema-edited/001_training_progress.sql"
out=$("$E2E_ROOT/deploy/migrate" --schema-dir "$E2E_TMP/schema-edited" "$(db_url trainprog_m)" 2>&1)
is "$?" 1 "an edited, already applied migration makes migrate fail"
case $out in *"contents changed"*) pass "and says why" ;; *) fail "and says why" "$out" ;; esac

out=$("$E2E_ROOT/deploy/migrate" "postgresql://postgres@/nosuchdb?host=/nonexistent" 2>&1)
is "$?" 1 "an unreachable database: non-zero exit"
case $out in *"cannot connect"*) pass "an unreachable database: a clear message" ;; *) fail "an unreachable database: a clear message" "$out" ;; esac

# 007: the change feed.  Writers send no notification any more (the trigger
# is gone); the publication carries the table; tp_notify may replicate.
is "$(sql "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'training_progress_notify%'")" 0 \
    "007: no notification trigger on training_progress"
is "$(sql "SELECT string_agg(tablename, ',') FROM pg_publication_tables WHERE pubname = 'trainprog_feed'")" \
    training_progress "007: the publication trainprog_feed carries training_progress"
is "$(sql "SELECT rolreplication AND rolcanlogin FROM pg_roles WHERE rolname = 'tp_notify'")" t \
    "007: tp_notify logs in and may replicate"
is "$(sql "SELECT has_table_privilege('tp_notify', 'training_progress', 'SELECT'),
           has_table_privilege('tp_notify', 'training_progress', 'UPDATE')")" "t|f" \
    "007: tp_notify reads training_progress and cannot write it"
