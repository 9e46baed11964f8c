# test_migrate.sh: deploy/migrate and what schema/001 creates.

main_stack || return 0
super_url=$(sed -n 's/^RT=//p' "$TP_STATE_DIR/stack.env")
super_url="postgresql://postgres@/trainprog?host=$super_url/pgsock"
db_url() { echo "${super_url/\/trainprog?//$1?}"; }

out=$("$E2E_ROOT/deploy/migrate" "$super_url" 2>&1)
is "$?" 0 "migrate on an up-to-date database succeeds"
case $out in *"0 applied now"*) pass "and applies nothing" ;; *) fail "and applies nothing" "$out" ;; esac
is "$(sql "SELECT version || ' ' || name || ' ' || length(checksum) FROM schema_migrations")" \
    "001 training_progress 64" "schema_migrations records 001 with its checksum"
out=$("$E2E_ROOT/deploy/migrate" --status "$super_url" 2>&1)
case $out in *"applied 001 training_progress"*) pass "--status lists what is applied" ;; *) fail "--status lists what is applied" "$out" ;; esac

# The spec's columns, types, nullability and defaults, plus seq.
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
seq bigint NO 0"
is "$cols" "$want" "training_progress has the spec's columns, types and defaults, plus seq"
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
ok put_row "accept-me" "percentage=100" "step_percentage=0" "step_number=4" "current_iteration=0" \
    "step_details='{}'" -- "the edges of every range are accepted"

# Roles.
is "$(sql "SELECT rolconfig::text FROM pg_roles WHERE rolname = 'tp_reader'")" \
    "{default_transaction_read_only=on}" "tp_reader's sessions are read-only by default"
is "$(sql "SELECT string_agg(privilege_type, ',' ORDER BY privilege_type) FROM information_schema.role_table_grants WHERE grantee = 'tp_reader' AND table_name = 'training_progress'")" \
    "SELECT" "tp_reader may only SELECT"
is "$(sql "SELECT string_agg(privilege_type, ',' ORDER BY privilege_type) FROM information_schema.role_table_grants WHERE grantee = 'tp_writer' AND table_name = 'training_progress'")" \
    "INSERT,SELECT,UPDATE" "tp_writer may SELECT, INSERT and UPDATE"

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
is "$(psql -X -tA -d "$(db_url trainprog_m)" -c "SELECT count(*) FROM schema_migrations")" 1 \
    "and 001 is recorded once"
is "$(cat "$E2E_TMP/m1.log" "$E2E_TMP/m2.log" | grep -c 'applied 001')" 1 "and applied once"

# A migration that fails leaves nothing behind.
mkdir -p "$E2E_TMP/schema-broken"
cp "$E2E_ROOT"/schema/*.sql "$E2E_TMP/schema-broken/"
printf 'CREATE TABLE half_done (x int);\nSELECT 1/0;\n' >"$E2E_TMP/schema-broken/900_broken.sql"
out=$("$E2E_ROOT/deploy/migrate" --schema-dir "$E2E_TMP/schema-broken" "$(db_url trainprog_m)" 2>&1)
is "$?" 1 "a failing migration makes migrate fail"
case $out in *"migration 900 (broken) failed; nothing of it was applied"*) pass "and says which" ;; *) fail "and says which" "$out" ;; esac
is "$(psql -X -tA -d "$(db_url trainprog_m)" -c "SELECT count(*) FROM pg_tables WHERE tablename = 'half_done'")|$(psql -X -tA -d "$(db_url trainprog_m)" -c "SELECT count(*) FROM schema_migrations")" \
    "0|1" "its table was rolled back and it is not recorded"

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
