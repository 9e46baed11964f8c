# test_pool.sh: tp-fcgi on its own: -t, flags, the listen socket, stopping.

FCGI=$E2E_BIN/tp-fcgi
d=$E2E_TMP/pool
mkdir -p "$d"

# -t: 0 and a confirmation for a valid file, non-zero and a precise message
# for each broken one.
printf 'listen = %s/a.sock\nworkers = 3\ndb_timeout = 2s\n' "$d" >"$d/good.conf"
out=$("$FCGI" -t -c "$d/good.conf" 2>&1)
is "$?" 0 "-t accepts a valid file"
is "$out" "tp-fcgi: configuration is valid" "-t says so"
check_bad() {
	local text=$1 want=$2 out rc
	printf '%b' "$text" >"$d/bad.conf"
	out=$("$FCGI" -t -c "$d/bad.conf" 2>&1)
	rc=$?
	if [ $rc -ne 0 ] && [[ $out == *"$want"* ]]; then pass "-t refuses: $want"
	else fail "-t refuses: $want" "exit $rc: $out"; fi
}
check_bad 'workers = 0\n' "bad.conf:1: workers must be a whole number from 1 to 512"
check_bad '\n\nwokers = 2\n' "bad.conf:3: unknown setting \"wokers\""
check_bad 'db_timeout = soon\n' "db_timeout must be a duration"
check_bad 'listen_mode = 9\n' "listen_mode must be an octal mode"
check_bad 'statement_timeout = 5s\ndb_timeout = 1s\n' "statement_timeout (5000ms) must not exceed db_timeout (1000ms)"
check_bad 'listen_group = no-such-group\n' "there is no group \"no-such-group\""
check_bad 'listen\n' "bad.conf:1: expected \"name = value\""
check_bad 'log_level = chatty\n' "log_level must be debug, info, warn or error"
out=$("$FCGI" -t -c "$d/missing.conf" 2>&1)
case "$?:$out" in 1:*"missing.conf: No such file or directory"*) pass "-t on a missing file" ;; *) fail "-t on a missing file" "$out" ;; esac
out=$("$FCGI" --wrokers=2 2>&1)
case "$?:$out" in 2:*'unknown option "--wrokers=2"'*) pass "an unknown flag is refused" ;; *) fail "an unknown flag is refused" "$out" ;; esac
out=$("$FCGI" -t -c "$d/good.conf" --workers=0 2>&1)
case "$?:$out" in 1:*"--workers: workers must be"*) pass "flags are checked like the file" ;; *) fail "flags are checked like the file" "$out" ;; esac
ok "$FCGI" -t -c "$d/good.conf" --workers 7 -- "flags accept --name value too"
ok "$FCGI" --help -- "--help"

# The socket: permissions, a live socket is not stolen, a stale one is replaced.
sock=$d/pool.sock
# Starts a pool on $sock; returns once it has bound (it writes its pid file
# after binding).
start_pool() {
	rm -f "$d/pool.pid"
	"$FCGI" --listen="$sock" --workers=1 --pid-file="$d/pool.pid" \
	    --database-url="host=/nonexistent" "$@" >>"$d/pool.log" 2>&1 &
	POOL_PID=$!
	wait_until 10 grep -qx "$POOL_PID" "$d/pool.pid"
}
start_pool
ok test -S "$sock" -- "the pool binds its socket"
is "$(stat -c %a "$sock")" 660 "the socket's mode is 0660 by default"
is "$(cat "$d/pool.pid")" "$POOL_PID" "the pid file names the master"
first=$POOL_PID
out=$("$FCGI" --listen="$sock" --workers=1 2>&1)
rc=$?
if [ $rc -ne 0 ] && [[ $out == *"is in use by a running server"* ]]; then pass "a second pool refuses a socket that is being served"
else fail "a second pool refuses a socket that is being served" "exit $rc: $out"; fi
ok proc_alive "$first" -- "and the first pool runs on"
ok test -S "$sock" -- "and its socket is still there"
# A request straight over FastCGI still reaches the first pool.
fcgi_out=$(REQUEST_METHOD=GET REQUEST_URI=/api/v2/training/nope cgi-fcgi -bind -connect "$sock" 2>/dev/null | tr -d '\r')
case $fcgi_out in *"Status: 404"*) pass "the first pool still answers on it" ;; *) fail "the first pool still answers on it" "$fcgi_out" ;; esac

# SIGTERM: exit 0, socket and pid file removed.
kill -TERM "$first"
wait "$first"
is "$?" 0 "SIGTERM: the pool exits 0"
ok test ! -e "$sock" -- "SIGTERM: the socket is removed"
ok test ! -e "$d/pool.pid" -- "SIGTERM: the pid file is removed"

# A stale socket (nobody listening) is replaced.
"$FCGI" --listen="$sock" --workers=1 --database-url="host=/nonexistent" >>"$d/pool.log" 2>&1 &
stale=$!
wait_until 10 test -S "$sock"
wait_until 10 pgrep -P "$stale"
stale_worker=$(pgrep -P "$stale")
kill -KILL "$stale"
wait "$stale" 2>/dev/null
worker_gone() { ! proc_alive "$stale_worker"; }
ok wait_until 5 worker_gone -- "a worker does not outlive its killed master"
ok test -S "$sock" -- "a killed pool leaves its socket behind"
start_pool --listen-mode=0600
ok proc_alive "$POOL_PID" -- "a new pool replaces a stale socket"
is "$(stat -c %a "$sock")" 600 "listen_mode is applied"
kill -TERM "$POOL_PID"; wait "$POOL_PID"

# Something that is not a socket is never replaced.
echo "precious" >"$d/not-a-socket"
out=$("$FCGI" --listen="$d/not-a-socket" --workers=1 2>&1)
case "$?:$out" in 1:*"exists and is not a socket"*) pass "a regular file at the socket path is refused" ;; *) fail "a regular file at the socket path is refused" "$out" ;; esac
is "$(cat "$d/not-a-socket")" precious "and left untouched"

# TCP on loopback.
# (The port may be taken between pick_port and bind by another suite's
# stack: then the pool exits 1 saying so, and another port is tried.)
tcp_listening() { [ -n "$(ss -Hltn "sport = :$port")" ]; }
tcp_up_or_gone() { tcp_listening || ! proc_alive "$tcp"; }
for try in 1 2 3; do
	port=$(pick_port)
	"$FCGI" --listen="127.0.0.1:$port" --workers=1 --database-url="host=/nonexistent" >"$d/tcp.log" 2>&1 &
	tcp=$!
	wait_until 10 tcp_up_or_gone
	proc_alive "$tcp" || ! grep -q 'in use' "$d/tcp.log" || { wait "$tcp"; continue; }
	break
done
cat "$d/tcp.log" >>"$d/pool.log"
ok wait_until 10 tcp_listening -- "listens on loopback TCP"
fcgi_out=$(REQUEST_METHOD=GET REQUEST_URI=/api/v2/training/jobs/x/progress cgi-fcgi -bind -connect "127.0.0.1:$port" 2>/dev/null | tr -d '\r')
case $fcgi_out in *"Status: 503"*"Retry-After"*'"database_unavailable"'*) pass "answers over TCP (503: no database here)" ;; *) fail "answers over TCP (503: no database here)" "$fcgi_out" ;; esac
kill -TERM "$tcp"; wait "$tcp"
is "$?" 0 "the TCP pool stops cleanly"

# The master never talks to PostgreSQL; the workers do, after fork.
ok grep -q "role=worker.*event=db_unavailable" "$d/pool.log" -- "workers report the database, not the master"
ok test -z "$(grep 'role=master.*event=db_' "$d/pool.log")" -- "the master has no database events"
