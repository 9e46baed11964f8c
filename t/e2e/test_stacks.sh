# test_stacks.sh: deploy/dev-stack: idempotent up, env, status, two stacks
# side by side, down that stops only its own, and running as a plain user.

main_stack || return 0
P=/api/v2/training/jobs
main_url=$TP_BASE_URL

out=$(TP_STATE_DIR=$E2E_TMP/main "$DEV_STACK" up 2>&1)
case $out in *"already running"*) pass "up on a running stack says so and changes nothing" ;;
*) fail "up on a running stack says so and changes nothing" "$out" ;; esac
ok "$DEV_STACK" status -- "status: exit 0 when everything runs"
env_out=$("$DEV_STACK" env)
case $env_out in
*"export DATABASE_URL='postgresql://tp_writer@"*"export TP_BASE_URL='http://127.0.0.1:"*) pass "env prints DATABASE_URL (a writer) and TP_BASE_URL" ;;
*) fail "env prints DATABASE_URL (a writer) and TP_BASE_URL" "$env_out" ;;
esac
# The writer role can write through DATABASE_URL; the pool's role cannot.
ok psql -X -q -d "$DATABASE_URL" -c "INSERT INTO training_progress (job_id, current_step) VALUES ('written-by-tp_writer', 'Data Collection')" \
    -- "DATABASE_URL from env can write"
ro=$(psql -X -q -d "$(echo "$DATABASE_URL" | sed 's/tp_writer@/tp_reader@/')" \
    -c "INSERT INTO training_progress (job_id, current_step) VALUES ('nope', 'x')" 2>&1)
case $ro in *"permission denied"*|*"read-only transaction"*) pass "the pool's role tp_reader cannot write" ;;
*) fail "the pool's role tp_reader cannot write" "$ro" ;; esac

# A second stack beside the first.
stack_up second || { fail "a second stack starts beside the first"; return 0; }
second_url=$TP_BASE_URL
ok test "$second_url" != "$main_url" -- "the second stack has its own port"
"$DEV_STACK" psql -q -c "INSERT INTO training_progress (job_id, current_step) VALUES ('only-in-second', 'Data Collection')" >/dev/null
http GET $P/only-in-second/progress
is "$STATUS" 200 "the second stack serves its own data"
stack_use main
http GET $P/only-in-second/progress
is "$STATUS" 404 "the first stack does not see it: separate databases"

second_pids=$(cat "$E2E_TMP/second/tp-fcgi.pid" "$E2E_TMP/second/rt/nginx/nginx.pid"; head -n 1 "$E2E_TMP/second/rt/pg/postmaster.pid")
stack_down second
gone=1
for pid in $second_pids; do proc_alive "$pid" && gone=0; done
is "$gone" 1 "down stops the second stack's PostgreSQL, pool and nginx"
ok test ! -S "$E2E_TMP/second/rt/pool/tp-fcgi.sock" -- "down removes the pool's socket"
http GET $P/written-by-tp_writer/progress
is "$STATUS" 200 "the first stack still answers: down stopped nothing else"
ok "$DEV_STACK" status -- "the first stack's status is still all running"
TP_STATE_DIR=$E2E_TMP/second "$DEV_STACK" status >/dev/null
is "$?" 1 "status: exit 1 when stopped"

# As an ordinary user: a copy of what the stack needs, owned by nobody.
if [ "$(id -u)" = 0 ]; then
	u=nobody
	d=$E2E_TMP/asuser
	mkdir -p "$d/src/build"
	cp -r "$E2E_ROOT/deploy" "$E2E_ROOT/schema" "$E2E_ROOT/conf" "$d/src/"
	cp -r "$E2E_BIN" "$d/src/build/bin"
	chown -R "$u" "$d"
	port=$(pick_port)
	if runuser -u "$u" -- env TP_STATE_DIR="$d/state" TP_HTTP_PORT="$port" \
	    "$d/src/deploy/dev-stack" up >"$E2E_TMP/asuser.log" 2>&1; then
		pass "dev-stack up works as an ordinary user ($u)"
		code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$P/x/progress")
		is "$code" 404 "the ordinary user's stack answers"
		owners=$(ps -o user= -p "$(cat "$d/state/tp-fcgi.pid")" -p "$(cat "$d/state/rt/nginx/nginx.pid")" \
		    -p "$(head -n 1 "$d/state/rt/pg/postmaster.pid")" | sort -u | tr -d ' \n')
		is "$owners" "$u" "everything runs as $u"
		runuser -u "$u" -- env TP_STATE_DIR="$d/state" "$d/src/deploy/dev-stack" down >/dev/null 2>&1
		ok test ! -e "$d/state/tp-fcgi.pid" -- "the ordinary user's stack stops"
	else
		fail "dev-stack up works as an ordinary user ($u)" "$(tail -n 20 "$E2E_TMP/asuser.log")"
	fi
else
	TESTS_RUN=$((TESTS_RUN + 1))
	echo "ok $TESTS_RUN - stacks: ordinary user # SKIP the whole suite already runs as $(id -un)"
fi
