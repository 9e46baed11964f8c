# test_faults.sh: faults injected while the pool is under load, each with
# the number of failed requests counted (t/tools/httpload).

main_stack || return 0
"$DEV_STACK" seed
P=/api/v2/training/jobs
SOCK=$(sed -n 's/^listen = //p' "$TP_STATE_DIR/tp-fcgi.conf")

# --- a worker killed with SIGKILL -------------------------------------------
# Only a request in flight on that worker may fail: one worker, one request.
load_start 2500 4
victim=$(pool_worker_pids | cut -d' ' -f1)
kill -KILL "$victim"
load_wait
ok test "$LOAD_FAILED" -le 1 -- "SIGKILL to a worker under load: $LOAD_FAILED of $LOAD_TOTAL requests failed (at most the one in flight)"
ok test "$LOAD_TOTAL" -ge 100 -- "the load was real ($LOAD_TOTAL requests)"
two_workers() { [ "$(pool_worker_pids | wc -w)" = 2 ]; }
ok wait_until 10 two_workers -- "the worker was replaced"

# --- SIGHUP: a reload under load, with a changed setting ---------------------
before=$(pool_worker_pids)
set_pool_setting workers 3
load_start 3000 4
reload_pool
load_wait
is "$LOAD_FAILED" 0 "SIGHUP under load: no failed request (of $LOAD_TOTAL)"
is "$(status_field .workers.configured)" 3 "the reload applied the new worker count"
after=$(pool_worker_pids)
common=$(comm -12 <(echo $before | tr ' ' '\n' | sort) <(echo $after | tr ' ' '\n' | sort))
is "$common" "" "every worker was replaced"
is "$(status_field .reloads)" 1 "the status page counts the reload"
ok grep -q "event=reloaded generation=2 workers=3" "$TP_STATE_DIR/logs/tp-fcgi.log" -- "the reload is logged"

# A broken configuration is refused, and the pool goes on as it was.
cp "$TP_STATE_DIR/tp-fcgi.conf" "$E2E_TMP/good.conf"
set_pool_setting workers 0
gen=$(status_field .generation)
kill -HUP "$(pool_master_pid)"
reload_refused() { grep -q "event=reload_failed.*workers must be a whole number" "$TP_STATE_DIR/logs/tp-fcgi.log"; }
ok wait_until 10 reload_refused -- "a reload with a broken file is refused, and says why"
is "$(status_field .generation)" "$gen" "and the running generation stays"
http GET $P/abc123-def456/progress
is "$STATUS" 200 "and keeps serving"
cp "$E2E_TMP/good.conf" "$TP_STATE_DIR/tp-fcgi.conf"
set_pool_setting workers 2
reload_pool

# --- PostgreSQL restarted under load ----------------------------------------
# 503s only while it is down, full recovery within 5 s, no pool restart.
master=$(pool_master_pid)
workers=$(pool_worker_pids)
load_start 6000 2
stop_at=$(load_now)
"$DEV_STACK" db-stop >/dev/null
saw_503() { grep -q '^[0-9]* 503 ' "$LOAD_EVENTS"; }
wait_until 10 saw_503
"$DEV_STACK" db-start >/dev/null
up_at=$(load_now)
load_wait
is "$LOAD_STATUSES" "200 503 " "PostgreSQL restarted under load: only 200s and 503s"
last503=$(awk '$2 != 200 { t = $1 } END { print t + 0 }' "$LOAD_EVENTS")
first503=$(awk '$2 != 200 { print $1; exit }' "$LOAD_EVENTS")
ok test "$first503" -ge "$stop_at" -- "no 503 before the database was stopped (first at ${first503}ms, stop at ${stop_at}ms)"
recovery=$((last503 - up_at))
ok test "$recovery" -lt 5000 -- "full recovery within 5 s of PostgreSQL's start (last 503 ${recovery}ms after)"
is "$(pool_master_pid) $(pool_worker_pids)" "$master $workers" "no pool restart: the same master and workers"

# --- a query held up by a lock ----------------------------------------------
# The client gets an error within the deadline; the pool keeps serving.
restarts=$(status_field .restarts)
load_start 4000 2
"$DEV_STACK" psql -q -c "BEGIN; LOCK TABLE training_progress IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(2.5); COMMIT;" >/dev/null &
locker=$!
wait $locker
load_wait
is "$LOAD_STATUSES" "200 503 " "a table locked under load: 503s while it is held, 200s otherwise"
ok test "$LOAD_SLOWEST" -lt 2000 -- "every answer within the 1.5 s database budget plus margin (slowest ${LOAD_SLOWEST}ms)"
is "$(status_field .restarts)" "$restarts" "no worker died or was killed over it"
ok grep -q 'event=slow_request method=GET path="/api/v2/training/jobs/abc123-def456/progress" status=503 duration_ms=' \
    "$TP_STATE_DIR/logs/tp-fcgi.log" -- "slow requests are logged with their path and duration"
http GET $P/abc123-def456/progress
is "$STATUS" 200 "served again once the lock is gone"

# --- malformed FastCGI records straight to the socket, under load -------------
refused=$(status_field .refused_connections)
restarts=$(status_field .restarts)
load_start 3000 2
for c in truncated huge-length unknown-type second-begin management bad-version bad-role \
    nul-param garbage abort; do
	is "$("$(tools_dir)/fcgi-raw" "$SOCK" "$c")" closed "malformed records ($c): the connection is closed"
done
is "$("$(tools_dir)/fcgi-raw" "$SOCK" params-overflow)" "Status: 431 Request Header Fields Too Large" \
    "parameters over max_params_size: 431"
is "$("$(tools_dir)/fcgi-raw" "$SOCK" body-overflow)" "Status: 413 Payload Too Large" \
    "a body over max_body_size: 413"
is "$("$(tools_dir)/fcgi-raw" "$SOCK" valid)" "Status: 200 OK" "a valid request written the same way is answered"
# Apache waits for room in the socket before each record: a large body must
# not wait on a guard that waits for all of it (it did, 5 s, then closed).
is "$("$(tools_dir)/fcgi-raw" "$SOCK" polled-body)" "Status: 401 Unauthorized" \
    "a 60 KB body from a client that writes only when the socket has room is read and answered"
load_wait
is "$LOAD_FAILED" 0 "the pool kept serving meanwhile: no failed request (of $LOAD_TOTAL)"
is "$(status_field .restarts)" "$restarts" "no worker crashed"
is "$(status_field .refused_connections)" "$((refused + 12))" "the status page counts the refused connections"
start=$(date +%s%3N)
is "$("$(tools_dir)/fcgi-raw" "$SOCK" slow)" closed "a request trickling in is closed after the guard's wait"
ok test $(($(date +%s%3N) - start)) -lt 8000 -- "within about 5 s"

# --- a request that overruns request_timeout --------------------------------
# A worker frozen (SIGSTOP) while its query waits on a lock: only the
# master's deadline can end that request.  The database budget is raised for
# the test, so that there is time to catch the worker busy.
set_pool_setting statement_timeout 5s
set_pool_setting db_timeout 5500ms
set_pool_setting request_timeout 6s
reload_pool
"$DEV_STACK" psql -q -c "BEGIN; LOCK TABLE training_progress IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(15); COMMIT;" >/dev/null 2>&1 &
locker=$!
lock_held() { [ "$(sql "SELECT count(*) FROM pg_locks WHERE relation = 'training_progress'::regclass AND mode = 'AccessExclusiveLock' AND granted")" = 1 ]; }
wait_until 10 lock_held
curl -s -o "$E2E_TMP/overrun.body" -w '%{http_code}' "$TP_BASE_URL$P/abc123-def456/progress" >"$E2E_TMP/overrun.code" &
client=$!
busy_pid() { curl -s "$TP_BASE_URL/_trainprog/status" | jq -r '.worker_list[] | select(.state == "busy") | .pid' 2>/dev/null | head -n 1 | grep .; }
ok wait_until 4 busy_pid -- "a request is in flight"
stuck=$(busy_pid)
kill -STOP "$stuck"
wait $client
is "$(cat "$E2E_TMP/overrun.code")" 502 "the client of a stuck worker gets an answer (502 from nginx)"
is "$(status_field .timed_out_requests)" 1 "the master killed the worker at request_timeout"
ok grep -q "event=request_timeout .*worker_pid=$stuck method=GET path=\"/api/v2/training/jobs/abc123-def456/progress\"" \
    "$TP_STATE_DIR/logs/tp-fcgi.log" -- "and logged the request's path"
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(15)%' AND pid <> pg_backend_pid()" >/dev/null
wait $locker 2>/dev/null
ok wait_until 10 two_workers -- "the pool is back to full strength"
http GET $P/abc123-def456/progress
is "$STATUS" 200 "and serving"
set_pool_setting request_timeout 30s
set_pool_setting db_timeout 1500ms
set_pool_setting statement_timeout 1000ms
reload_pool

# --- the master killed with SIGKILL: no orphans -------------------------------
master=$(pool_master_pid)
children=$(pgrep -P "$master" | tr '\n' ' ')
kill -KILL "$master"
orphans_gone() { local p; for p in $children; do proc_alive "$p" && return 1; done; return 0; }
ok wait_until 1 orphans_gone -- "the master killed: no worker outlives it by a second"
ok "$DEV_STACK" up -- "and the stack comes back (the stale socket is replaced)"
http GET $P/abc123-def456/progress
is "$STATUS" 200 "serving again"

# --- SIGTERM under load: in-flight requests finish, then exit 0 ---------------
# A pool of our own on the stack's socket, so that its exit status is ours.
managed=$(pool_master_pid)
kill -TERM "$managed"
managed_gone() { ! proc_alive "$managed"; }
wait_until 20 managed_gone
"$E2E_BIN/tp-fcgi" -c "$TP_STATE_DIR/tp-fcgi.conf" --pid-file="$E2E_TMP/own.pid" \
    >>"$TP_STATE_DIR/logs/tp-fcgi.log" 2>&1 &
own=$!
wait_until 10 test -s "$E2E_TMP/own.pid"
wait_until 10 two_workers
load_start 3000 4
kill -TERM "$own"
wait "$own"
rc=$?
load_wait
is "$rc" 0 "SIGTERM under load: the pool exits 0"
is "$(grep -c "pid=$own .*event=workers_killed" "$TP_STATE_DIR/logs/tp-fcgi.log")" 0 \
    "no worker had to be killed: every request in flight finished"
only_502() { [ -z "$(echo "$LOAD_STATUSES" | tr ' ' '\n' | grep -vxE '200|502|')" ]; }
ok only_502 -- "clients saw 200s, then nginx's 502 once the pool was gone: nothing cut off ($LOAD_STATUSES)"
ok "$DEV_STACK" up -- "the managed pool starts again"

# --- abandoned requests are not served -----------------------------------------
# Every worker is frozen; publishes queue in the pool's listen backlog and
# their clients give up (nginx then closes its connections to the pool).
# When the workers come back they must drop those requests, not run them:
# nobody waits for the answers, and the writes would still happen.
stack_use main
frozen=$(pool_worker_pids)
before=$(status_field .abandoned_requests)
kill -STOP $frozen
for i in $(seq 12); do
	curl -s -o /dev/null --max-time 1 -H "Authorization: Bearer $TP_PUBLISH_TOKEN" \
	    -H 'Content-Type: application/json' -d '{"seq": 1, "event": "start", "step": "data_collection"}' \
	    "$TP_BASE_URL$P/abandoned-$$-$i/progress" &
done
wait
gave_up() { [ "$(grep -c "abandoned-$$-.* 499 " "$TP_STATE_DIR/logs/nginx-access.log")" = 12 ]; }
ok wait_until 10 gave_up -- "12 publishes queued while every worker is frozen; their clients gave up (nginx: 499)"
kill -CONT $frozen
all_dropped() { [ "$(status_field .abandoned_requests)" -ge $((before + 12)) ]; }
ok wait_until 10 all_dropped -- "the workers, back, drop all 12 unserved ($(status_field .abandoned_requests) abandoned in all)"
is "$(sql "SELECT count(*) FROM training_progress WHERE job_id LIKE 'abandoned-$$-%'")" 0 \
    "none of the abandoned publishes was written"
ok grep -q "event=request_abandoned" "$TP_STATE_DIR/logs/tp-fcgi.log" -- "each is logged"
http GET $P/abc123-def456/progress
is "$STATUS" 200 "requests that are waited for are served as ever"
