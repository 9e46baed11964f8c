# test_ops.sh: running the pool: status and ping, recycling, crash storms,
# privileges, socket activation, log reopening.

main_stack || return 0
"$DEV_STACK" seed
P=/api/v2/training/jobs
two_workers() { [ "$(pool_worker_pids | wc -w)" = 2 ]; }

# --- status and ping -----------------------------------------------------------
http GET /_trainprog/status
is "$STATUS" 200 "the status page answers"
json_is '[.pool, (.workers | keys), (.worker_list[0] | keys)]' \
    '["tp-fcgi",["active","configured","idle","starting","stopping","total"],["current_request","database","generation","pid","requests","slot","started_at","state"]]' \
    "the status page has its fields"
json_is '[.workers.total, .workers.configured, .database.reachable, (.listen_queue | type), (.accepted_requests | type)]' \
    '[2,2,true,"number","number"]' "workers, the database, the listen queue, the counters"
http GET /_trainprog/ping
is "$STATUS" 200 "the ping answers"
json_is . '{"status":"ok"}' "with a small JSON body"
http POST /_trainprog/ping
error_is 405 method_not_allowed "the ping answers GET and HEAD only"
# Loopback only: the same request from 127.0.0.2 is refused.
code=$(curl -s -o "$BODY_FILE" -w '%{http_code}' --interface 127.0.0.2 "$TP_BASE_URL/_trainprog/status")
is "$code" 403 "the status page is refused to a host not allowed"
json_is .error '"forbidden"' "with a JSON body"
code=$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.2 "$TP_BASE_URL/_trainprog/ping")
is "$code" 403 "so is the ping"
code=$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.2 "$TP_BASE_URL$P/abc123-def456/progress")
is "$code" 200 "while the API itself stays open"

# The status page answers while every worker is busy.
"$DEV_STACK" psql -q -c "BEGIN; LOCK TABLE training_progress IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(3); COMMIT;" >/dev/null 2>&1 &
locker=$!
lock_held() { [ "$(sql "SELECT count(*) FROM pg_locks WHERE relation = 'training_progress'::regclass AND mode = 'AccessExclusiveLock' AND granted")" = 1 ]; }
wait_until 10 lock_held
# (An unknown job: its 404 needs the database, which waits on the lock.)
for i in 1 2 3; do
	curl -s -o /dev/null "$TP_BASE_URL$P/ops-busy-probe/progress" &
done
all_busy() { [ "$(status_field .workers.active)" = 2 ]; }
ok wait_until 5 all_busy -- "every worker is busy"
http GET /_trainprog/status
is "$STATUS" 200 "the status page still answers"
less_than "$TIME" 0.5 "and at once (${TIME}s)"
json_is '[.worker_list[] | .current_request.uri] | unique' '["/api/v2/training/jobs/ops-busy-probe/progress"]' \
    "it shows each worker's current request"
ok test "$(jq '.max_workers_reached' "$BODY_FILE")" -ge 1 -- "and counts the times every worker was busy"
wait $locker
wait

# --- max_requests: recycling with jitter ----------------------------------------
set_pool_setting max_requests 5
set_pool_setting max_requests_jitter 2
reload_pool
before=$(pool_worker_pids)
recycled=$(status_field .recycled)
codes=
for i in $(seq 40); do
	http GET $P/abc123-def456/progress
	codes+="$STATUS "
done
is "$codes" "$(printf '200 %.0s' $(seq 40))" "40 requests with max_requests 5: all answered"
ok test "$(status_field .recycled)" -ge $((recycled + 5)) -- "workers were recycled ($(status_field .recycled) so far)"
# Which worker takes a connection is the kernel's choice: one may idle while
# the other serves everything.  Keep asking (bounded) until every worker of
# before has served its share and been replaced.
survivors() { comm -12 <(echo $before | tr ' ' '\n' | sort) <(pool_worker_pids | tr ' ' '\n' | sort); }
more=
for i in $(seq 200); do
	[ -z "$(survivors)" ] && break
	http GET $P/abc123-def456/progress
	[ "$STATUS" = 200 ] || more+="$STATUS "
done
is "$(survivors)" "" "and replaced by new ones"
is "$more" "" "every request meanwhile answered 200"
ok grep -q "event=worker_recycled requests=" "$TP_STATE_DIR/logs/tp-fcgi.log" -- "each recycling is logged"
is "$(status_field .restarts)" 0 "recycling is not counted as a crash"
set_pool_setting max_requests 0
reload_pool

# --- a crash storm -------------------------------------------------------------
set_pool_setting storm_deaths 4
set_pool_setting storm_window 3s
reload_pool
kill_one() { local p; p=$(pool_worker_pids | cut -d' ' -f1); [ -n "$p" ] && kill -KILL "$p"; }
for i in 1 2 3 4; do
	wait_until 10 two_workers
	kill_one
	sleep 0.05
done
storm_logged() { grep -q "event=crash_storm msg=\"4 workers died within 3000ms" "$TP_STATE_DIR/logs/tp-fcgi.log"; }
ok wait_until 5 storm_logged -- "4 deaths in 3 s: a crash storm, logged loudly"
is "$(status_field .crash_storm)" true "the status page shows it"
storm_over() { grep -q "event=crash_storm_over" "$TP_STATE_DIR/logs/tp-fcgi.log"; }
ok wait_until 15 storm_over -- "and its end, once workers stop dying"
ok wait_until 15 two_workers -- "the pool is back to full strength"
is "$(status_field .crash_storm)" false "the status page too"
set_pool_setting storm_deaths 10
set_pool_setting storm_window 10s
reload_pool

# --- a pool on its own: privileges, socket activation, the log ----------------------
d=$E2E_TMP/ops
mkdir -p "$d"
chmod 755 "$d"
fcgi_get() { REQUEST_METHOD=GET REQUEST_URI=$2 cgi-fcgi -bind -connect "$1" 2>/dev/null | tr -d '\r' | head -n 1; }

if [ "$(id -u)" = 0 ]; then
	"$E2E_BIN/tp-fcgi" --listen="$d/drop.sock" --workers=2 --user=nobody --group=nogroup \
	    --database-url="host=/nonexistent" --log="$d/drop.log" &
	pool=$!
	wait_until 10 test -S "$d/drop.sock"
	children_up() { [ "$(pgrep -P $pool | wc -l)" -ge 2 ]; }
	wait_until 10 children_up
	ids=$(for p in $pool $(pgrep -P $pool); do awk '/^(Uid|Gid):/ { print $2, $3, $4, $5 }' /proc/$p/status; done | sort -u | tr '\n' ';')
	is "$ids" "65534 65534 65534 65534;" "started as root with user=nobody: master and workers run as nobody, all ids"
	groups=$(awk '/^Groups:/ { $1 = ""; print }' /proc/$pool/status | tr -d ' ')
	ok test "$groups" != 0 -- "no supplementary group root is kept ($groups)"
	is "$(fcgi_get "$d/drop.sock" /_trainprog/ping)" "Status: 200 OK" "and serves"
	ok grep -q "event=privileges_dropped" "$d/drop.log" -- "the drop is logged"
	kill -TERM $pool
	wait $pool
	is "$?" 0 "it stops cleanly as nobody"
else
	TESTS_RUN=$((TESTS_RUN + 1))
	echo "ok $TESTS_RUN - ops: privilege drop # SKIP not running as root"
fi
out=$("$E2E_BIN/tp-fcgi" -t --user=no-such-user 2>&1)
case "$?:$out" in 1:*'there is no user "no-such-user"'*) pass "-t: an unknown user" ;; *) fail "-t: an unknown user" "$out" ;; esac
out=$("$E2E_BIN/tp-fcgi" -t --request-timeout=1s --db-timeout=2s --statement-timeout=1s 2>&1)
case "$?:$out" in 1:*"db_timeout (2000ms) must be below request_timeout (1000ms)"*) pass "-t: the database budget must fit in the request deadline" ;;
*) fail "-t: the database budget must fit in the request deadline" "$out" ;; esac
out=$("$E2E_BIN/tp-fcgi" -t --database-password-file=/nonexistent/pw 2>&1)
case "$?:$out" in 1:*"database_password_file /nonexistent/pw: No such file"*) pass "-t: a missing password file" ;;
*) fail "-t: a missing password file" "$out" ;; esac

# Socket activation, the systemd way (LISTEN_FDS, fd 3) and the FastCGI way (fd 0).
for how in systemd stdin; do
	"$(tools_dir)/activate" "$how" "$d/$how.sock" "$E2E_BIN/tp-fcgi" --listen="$d/unused-$how.sock" \
	    --workers=1 --database-url="host=/nonexistent" --log="$d/$how.log" &
	pool=$!
	wait_until 10 grep -q "event=pool_start" "$d/$how.log"
	is "$(fcgi_get "$d/$how.sock" /_trainprog/ping)" "Status: 200 OK" "socket activation ($how): it serves the inherited socket"
	ok test ! -e "$d/unused-$how.sock" -- "socket activation ($how): and binds nothing itself"
	kill -TERM $pool
	wait $pool
	ok test -S "$d/$how.sock" -- "socket activation ($how): the inherited socket is left in place at exit"
done

# The pid file and the log are opened as root, often in a directory the
# service user owns: never through a symbolic link or a second name.
if [ "$(id -u)" = 0 ]; then
	mkdir -p "$d/owned"
	chown nobody "$d/owned"
	printf 'precious\n' >"$d/target"
	ln -sf "$d/target" "$d/owned/link.pid"
	ln -f "$d/target" "$d/owned/hard.pid"
	ln -sf "$d/target" "$d/owned/link.log"
	for how in "pid-file=$d/owned/link.pid:a symbolic link" \
	    "pid-file=$d/owned/hard.pid:a hard link" "log=$d/owned/link.log:a symbolic link"; do
		setting=${how%%:*}
		rm -f "$d/files.log"
		out=$("$E2E_BIN/tp-fcgi" --listen="$d/files.sock" --workers=1 --database-url="host=/nonexistent" \
		    --user=nobody --group=nogroup --log="$d/files.log" "--$setting" 2>&1)
		rc=$?
		# Once the log is open, stderr is the log.
		out+=$(cat "$d/files.log" 2>/dev/null)
		case "$rc:$out" in
		1:*"${how#*:}"*) pass "--${setting%%=*} at ${how#*:}: refused, saying so" ;;
		*) fail "--${setting%%=*} at ${how#*:}: refused, saying so" "exit $rc" "$out" "$(tail -n 3 "$d/files.log")" ;;
		esac
	done
	is "$(cat "$d/target")" precious "the file they pointed at is untouched"
fi

# SIGUSR1: reopen the log file after rotation.
"$E2E_BIN/tp-fcgi" --listen="$d/log.sock" --workers=1 --database-url="host=/nonexistent" \
    --log="$d/pool.log" &
pool=$!
wait_until 10 test -S "$d/log.sock"
mv "$d/pool.log" "$d/pool.log.1"
kill -USR1 $pool
reopened() { grep -q "event=log_reopened" "$d/pool.log" 2>/dev/null; }
ok wait_until 10 reopened -- "SIGUSR1: the log file is reopened"
"$(tools_dir)/fcgi-raw" "$d/log.sock" garbage >/dev/null
worker_logged() { grep -q "role=worker.*event=connection_refused" "$d/pool.log"; }
ok wait_until 10 worker_logged -- "the workers write to the new file too"
ok grep -q "event=pool_start" "$d/pool.log.1" -- "and the old records stay in the rotated one"
kill -TERM $pool
wait $pool

# database_password_file: the password reaches PostgreSQL, and nothing else.
sql "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tp_pwtest') THEN CREATE ROLE tp_pwtest LOGIN PASSWORD 'right horse battery'; END IF; END \$\$; GRANT SELECT ON training_progress TO tp_pwtest" >/dev/null
pgdata=$(sed -n 's/^RT=//p' "$TP_STATE_DIR/stack.env")/pg
sed -i '1i local all tp_pwtest scram-sha-256' "$pgdata/pg_hba.conf"
sql "SELECT pg_reload_conf()" >/dev/null
pgsock=$(sed -n 's/^RT=//p' "$TP_STATE_DIR/stack.env")/pgsock
printf 'right horse battery\n' >"$d/pw"
chmod 600 "$d/pw"
# Started as root with user=nobody, as OPERATIONS describes: the password
# file may be readable by root alone, at start and at every reload.
# (nobody may then pass through the cluster's socket directory, for this test.)
as_nobody=()
if [ "$(id -u)" = 0 ]; then
	as_nobody=(--user=nobody --group=nogroup)
	chmod 711 "$pgsock"
fi
"$E2E_BIN/tp-fcgi" --listen="$d/pw.sock" --workers=1 --log="$d/pw.log" "${as_nobody[@]}" \
    --database-url="host=$pgsock dbname=trainprog user=tp_pwtest" --database-password-file="$d/pw" &
pool=$!
wait_until 10 test -S "$d/pw.sock"
fcgi_body() { REQUEST_METHOD=GET REQUEST_URI=$2 cgi-fcgi -bind -connect "$1" 2>/dev/null | tr -d '\r' | tail -n 1; }
is "$(fcgi_body "$d/pw.sock" $P/abc123-def456/progress | jq -r .job_id)" abc123-def456 \
    "database_password_file: the pool logs in with the password"
ok test -z "$(grep -F 'right horse' "$d/pw.log")" -- "and never writes it to the log"
printf 'wrong\n' >"$d/pw"
kill -HUP $pool
wrong_logged() { grep -q 'event=db_unavailable.*password authentication failed' "$d/pw.log"; }
kill_current_workers() { pkill -KILL -P $pool; }
kill_current_workers
ok wait_until 10 wrong_logged -- "a wrong password is reported (by libpq's words), after a reload re-read the file"
ok test -z "$(grep -F 'wrong' "$d/pw.log" | grep -v 'password authentication failed' | grep -F '"wrong')" -- "still without the password itself"
if [ "$(id -u)" = 0 ]; then
	ok test -z "$(grep 'event=reload_failed' "$d/pw.log")" -- \
	    "the reload, as nobody, read the root-only file (through the descriptor kept from the start)"
	# A file put in its place (a rename) is another file: opened anew, as
	# nobody, which may not: the reload is refused and says what to do.
	printf 'right horse battery\n' >"$d/pw.new"
	chmod 600 "$d/pw.new"
	mv "$d/pw.new" "$d/pw"
	kill -HUP $pool
	refused() { grep -q 'event=reload_failed.*database_password_file.*Permission denied.*restart the pool to read it as root' "$d/pw.log"; }
	ok wait_until 10 refused -- "a replaced root-only file: the reload is refused, saying why and what to do"
	ok proc_alive $pool -- "and the pool keeps running"
fi
kill -TERM $pool
wait $pool
chmod 700 "$pgsock"
sed -i '1d' "$pgdata/pg_hba.conf"
sql "SELECT pg_reload_conf()" >/dev/null
