# test_db_outage.sh: PostgreSQL stopped, hung and restarted under the pool.

main_stack || return 0
P=/api/v2/training/jobs
"$DEV_STACK" seed

ok_now() { http GET $P/abc123-def456/progress; [ "$STATUS" = 200 ]; }
# Recovered means every worker answers: several 200s in a row.
all_ok() { local i; for i in 1 2 3 4 5 6; do ok_now || return 1; done; }

master=$(pool_master_pid)
workers=$(pool_worker_pids)
ok ok_now -- "served before the outage"

# Restarted while idle: the next requests find their connections dead,
# reconnect and re-prepare on the spot, and still answer 200.
"$DEV_STACK" db-stop >/dev/null
"$DEV_STACK" db-start >/dev/null
codes=
for i in 1 2 3 4 5 6; do
	http GET $P/abc123-def456/progress
	codes+="$STATUS "
done
is "$codes" "200 200 200 200 200 200 " "after a restart, every worker reconnects by itself (no 503 at all)"

# Stopped: 503 with Retry-After and a JSON body, quickly, every time.
"$DEV_STACK" db-stop >/dev/null
slowest=0
for i in 1 2 3 4 5 6; do
	http GET $P/abc123-def456/progress
	[ "$STATUS" = 503 ] || break
	slowest=$(awk -v a="$TIME" -v b="$slowest" 'BEGIN { print (a > b) ? a : b }')
done
error_is 503 database_unavailable "database stopped"
ok test -n "$(header Retry-After)" -- "database stopped: Retry-After is set"
less_than "$slowest" 2 "database stopped: every 503 came within 2 s (slowest ${slowest}s)"

"$DEV_STACK" db-start >/dev/null
ok wait_until 10 all_ok -- "database started again: every worker answers 200 again"
is "$(pool_master_pid)" "$master" "no pool restart: same master"
is "$(pool_worker_pids)" "$workers" "no pool restart: same workers"

# Hung: every PostgreSQL process stopped with SIGSTOP.  Connections and
# queries wait on a server that never answers; the request deadline turns
# that into a 503 within 2 s instead of a stuck worker.
# (Jobs no worker has read: a document read just before is served from
# the worker's cache, for read_cache_ttl at most; see below.)
"$DEV_STACK" db-pause >/dev/null
slowest=0
codes=
for i in 1 2 3 4; do
	http GET $P/hung-probe-$i/progress
	codes+="$STATUS "
	slowest=$(awk -v a="$TIME" -v b="$slowest" 'BEGIN { print (a > b) ? a : b }')
done
# A job read just before: 200 from a worker's cache (a document at most
# read_cache_ttl old), or 503; 503 for everyone once the TTL is past.
kept_codes=
for i in 1 2 3 4; do
	http GET $P/abc123-def456/progress
	kept_codes+="$STATUS "
	slowest=$(awk -v a="$TIME" -v b="$slowest" 'BEGIN { print (a > b) ? a : b }')
done
hung_503() { http GET $P/abc123-def456/progress; [ "$STATUS" = 503 ]; }
wait_until 10 hung_503
hung_code=$STATUS
"$DEV_STACK" db-resume >/dev/null
is "$codes" "503 503 503 503 " "database hung: 503s"
less_than "$slowest" 2 "database hung: answered within 2 s (slowest ${slowest}s)"
is "$(echo $kept_codes | tr ' ' '\n' | grep -vx -e 200 -e 503)" "" \
    "database hung: a job read just before: 200 (kept) or 503 ($kept_codes)"
is "$hung_code" 503 "database hung: past read_cache_ttl, that job's reads are 503 too"
ok wait_until 10 all_ok -- "database resumed: every worker answers 200 again"
is "$(pool_master_pid)" "$master" "after the hang: same master"
is "$(pool_worker_pids)" "$workers" "after the hang: same workers"
