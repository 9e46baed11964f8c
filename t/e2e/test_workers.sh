# test_workers.sh: the prefork pool replaces a worker that is killed.

main_stack || return 0
P=/api/v2/training/jobs
"$DEV_STACK" seed

master=$(pool_master_pid)
before=$(pool_worker_pids)
is "$(echo $before | wc -w)" 2 "the pool runs its 2 workers"

victim=$(echo $before | cut -d' ' -f1)
kill -KILL "$victim"
replaced() {
	local now
	now=$(pool_worker_pids)
	[ "$(echo $now | wc -w)" = 2 ] && ! echo " $now " | grep -q " $victim "
}
ok wait_until 10 replaced -- "a worker killed with SIGKILL is replaced"
is "$(pool_master_pid)" "$master" "the master is the same"
ok grep -q "event=worker_died .*worker_pid=$victim cause=\"killed by signal 9" "$TP_STATE_DIR/logs/tp-fcgi.log" \
    -- "the master logs why the worker died"

codes=
for i in $(seq 20); do
	http GET $P/abc123-def456/progress
	codes+="$STATUS "
done
is "$codes" "$(printf '200 %.0s' $(seq 20))" "the endpoint keeps answering 200"

# Killing workers while requests are being served: the pool keeps going and
# comes back to full strength.  (That only in-flight requests fail is the
# business of the fault tests under load.)
two_workers() { [ "$(pool_worker_pids | wc -w)" = 2 ]; }
for round in 1 2 3; do
	: >"$E2E_TMP/loop.codes"
	for i in $(seq 10); do
		curl -s -o /dev/null -w '%{http_code}\n' "$TP_BASE_URL$P/abc123-def456/progress" >>"$E2E_TMP/loop.codes"
	done &
	loop=$!
	wait_until 10 test -s "$E2E_TMP/loop.codes"
	kill -KILL "$(pool_worker_pids | cut -d' ' -f1)" 2>/dev/null
	wait $loop
	wait_until 10 two_workers
done
ok two_workers -- "back to 2 workers after repeated kills"
http GET $P/abc123-def456/progress
is "$STATUS" 200 "still serving after repeated kills"
is "$(pool_master_pid)" "$master" "the master survived it all"

# SIGTERM while a request is in flight: the request completes (200), then
# the pool exits 0.  The request is held in flight by a lock on the table
# (for a job no worker has read yet: a kept document needs no query).
put_row inflight-job
"$DEV_STACK" psql -q -c "BEGIN; LOCK TABLE training_progress IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(0.8); COMMIT;" >/dev/null &
locker=$!
lock_held() { [ "$(sql "SELECT count(*) FROM pg_locks WHERE relation = 'training_progress'::regclass AND mode = 'AccessExclusiveLock' AND granted")" = 1 ]; }
wait_until 10 lock_held
curl -s -o "$E2E_TMP/inflight.body" -w '%{http_code}' "$TP_BASE_URL$P/inflight-job/progress" >"$E2E_TMP/inflight.code" &
client=$!
query_waiting() { [ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tp-fcgi' AND wait_event_type = 'Lock'")" -ge 1 ]; }
ok wait_until 10 query_waiting -- "a request is in flight, waiting on the lock"
master=$(pool_master_pid)
kill -TERM "$master"
wait $client
wait $locker
is "$(cat "$E2E_TMP/inflight.code")" 200 "SIGTERM: the request in flight still gets its 200"
master_gone() { ! proc_alive "$master"; }
ok wait_until 20 master_gone -- "SIGTERM: then the pool exits"
ok grep -q "event=pool_stopped" "$TP_STATE_DIR/logs/tp-fcgi.log" -- "SIGTERM: it logs a clean stop"
# Bring the pool back for the suites that follow.
ok "$DEV_STACK" up -- "dev-stack up restarts the missing pool"
http GET $P/abc123-def456/progress
is "$STATUS" 200 "serving again"
