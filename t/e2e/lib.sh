# lib.sh: helpers for the end-to-end tests: stacks, HTTP, assertions (TAP).
#
# Sourced by t/e2e/run.  Every test talks to real processes: nginx, the
# tp-fcgi pool and PostgreSQL, started by deploy/dev-stack on a free port in
# a temporary directory, and stopped at the end whatever happens.

E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEV_STACK=$E2E_ROOT/deploy/dev-stack

TESTS_RUN=0
TESTS_FAILED=0
FAILED_NAMES=()
CURRENT_TEST=

# --- assertions -----------------------------------------------------------

pass() { TESTS_RUN=$((TESTS_RUN + 1)); echo "ok $TESTS_RUN - $CURRENT_TEST: $1"; }
fail() {
	TESTS_RUN=$((TESTS_RUN + 1))
	TESTS_FAILED=$((TESTS_FAILED + 1))
	FAILED_NAMES+=("$CURRENT_TEST: $1")
	echo "not ok $TESTS_RUN - $CURRENT_TEST: $1"
	shift
	local line
	for line in "$@"; do echo "#   $line"; done
}

# is GOT WANT DESCRIPTION
is() {
	if [ "$1" = "$2" ]; then pass "$3"; else fail "$3" "got:  $1" "want: $2"; fi
}

# ok COMMAND... -- DESCRIPTION   (passes when the command succeeds)
ok() {
	local args=() desc
	while [ $# -gt 0 ] && [ "$1" != -- ]; do args+=("$1"); shift; done
	shift
	desc=$1
	if "${args[@]}" >/dev/null 2>&1; then pass "$desc"; else fail "$desc" "command failed: ${args[*]}"; fi
}

# json_is JQ_EXPR WANT DESCRIPTION   (on the last response body)
json_is() {
	local got
	got=$(jq -c "$1" "$BODY_FILE" 2>&1) || got="(not JSON: $(head -c 200 "$BODY_FILE"))"
	is "$got" "$2" "$3"
}

# less_than A B DESCRIPTION   (decimal numbers)
less_than() {
	if awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; then pass "$3"; else fail "$3" "$1 is not below $2"; fi
}

# verdicts FILE RC MIN WHAT ERRFILE: the checks another program ran (the
# browser's, Python's), one line each in FILE: "PASS\t<what>", "FAIL\t<what>\t<why>"
# or "SKIP\t<what>\t<why>"; then one more check that the program exited 0
# (RC) after at least MIN of them (WHAT names it; ERRFILE's end says why not).
verdicts() {
	local file=$1 rc=$2 min=$3 what=$4 err=$5 verdict check why n=0
	while IFS=$'\t' read -r verdict check why; do
		case $verdict in
		PASS) pass "$check"; n=$((n + 1)) ;;
		FAIL) fail "$check" "$why"; n=$((n + 1)) ;;
		SKIP) pass "$check # SKIP $why"; n=$((n + 1)) ;;
		esac
	done <"$file"
	if [ "$rc" -ne 0 ] || [ $n -lt "$min" ]; then
		fail "$what ran to the end (exit $rc, $n checks)" "$(tail -n 5 "$err")"
	fi
}

# --- HTTP -----------------------------------------------------------------

E2E_TMP=
BODY_FILE=
HEAD_FILE=
STATUS=
TIME=

# http METHOD PATH [curl options...]: sets STATUS, TIME, BODY_FILE, HEAD_FILE
http() {
	local method=$1 path=$2
	shift 2
	local out
	out=$(curl -s --path-as-is -X "$method" -o "$BODY_FILE" -D "$HEAD_FILE" \
	    -w '%{http_code} %{time_total}' --max-time 10 "$@" "$TP_BASE_URL$path") || true
	STATUS=${out%% *}
	TIME=${out##* }
}

# HEAD requests need curl's -I so that it does not wait for a body.
http_head() {
	local path=$1 out
	out=$(curl -s --path-as-is -I -o "$HEAD_FILE" -w '%{http_code} %{time_total}' \
	    --max-time 10 "$TP_BASE_URL$path") || true
	: >"$BODY_FILE"
	STATUS=${out%% *}
	TIME=${out##* }
}

# header NAME: the value of a response header of the last request
header() {
	grep -i "^$1:" "$HEAD_FILE" | head -n 1 | cut -d: -f2- | sed 's/^ *//; s/\r$//'
}

# Every error body is {"error": "<code>", "message": "<text>"} and nothing else.
error_is() {
	local want_status=$1 want_code=$2 what=$3
	is "$STATUS" "$want_status" "$what: status"
	json_is '[keys_unsorted, (.error|type), (.message|type)]' \
	    '[["error","message"],"string","string"]' "$what: body is a JSON error"
	json_is .error "\"$want_code\"" "$what: error code"
	is "$(header Content-Type)" application/json "$what: Content-Type"
}

# --- stacks ---------------------------------------------------------------

# A port nobody listens on right now.
pick_port() {
	local p i low=32768
	# Below the kernel's ephemeral range: a port there is never taken by an
	# outgoing connection between this check and the server's bind().
	read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || low=32768
	[ "$low" -gt 12000 ] || low=32768
	for ((i = 0; i < 200; i++)); do
		p=$((10000 + RANDOM % (low - 10000)))
		if [ -z "$(ss -Hatn "sport = :$p" 2>/dev/null)" ]; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# stack_up NAME: starts a stack in $E2E_TMP/NAME and points the helpers at it.
stack_up() {
	local name=$1 port tries
	for tries in 1 2 3; do
		port=$(pick_port)
		if TP_STATE_DIR=$E2E_TMP/$name TP_HTTP_PORT=$port TP_BIN_DIR=$E2E_BIN \
		    TP_WORKERS=${E2E_WORKERS:-2} TP_TRAINERS=${E2E_TRAINERS:-0} "$DEV_STACK" up >"$E2E_TMP/$name.up.log" 2>&1; then
			stack_use "$name"
			return 0
		fi
		# The port may have been taken between the check and nginx's bind.
		grep -q 'port .* free' "$E2E_TMP/$name.up.log" || break
	done
	cat "$E2E_TMP/$name.up.log" >&2
	return 1
}

# stack_use NAME: points TP_STATE_DIR, TP_BASE_URL and DATABASE_URL at NAME.
stack_use() {
	export TP_STATE_DIR=$E2E_TMP/$1
	eval "$("$DEV_STACK" env)"
}

stack_down() {
	TP_STATE_DIR=$E2E_TMP/$1 "$DEV_STACK" down >/dev/null 2>&1 || true
}

# Runs SQL as the stack's superuser; prints the rows, unaligned.
sql() {
	"$DEV_STACK" psql -q -tA -v ON_ERROR_STOP=1 -c "$1"
}

# proc_alive PID: running, and not a zombie waiting for init to reap it.
proc_alive() {
	local st
	kill -0 "$1" 2>/dev/null || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$st" ] && [ "$st" != Z ]
}

pool_master_pid() { head -n 1 "$TP_STATE_DIR/tp-fcgi.pid"; }
# feed_sync: waits (10 s at most) until tp-notify has handled everything
# committed so far, and so has told the pools' read caches (schema/007:
# writes made outside the pool reach the caches through tp-notify, a few
# milliseconds after they commit).  Call it between such a write and a GET
# that must see it.  (The insert position, not the write position: an
# asynchronous commit is decoded once it is flushed.)
feed_sync() {
	local lsn
	lsn=$(sql "SELECT pg_current_wal_insert_lsn()") || return 1
	wait_until 10 feed_past "$lsn"
}
feed_past() {
	[ "$(sql "SELECT confirmed_flush_lsn >= '$1' FROM pg_replication_slots
	    WHERE slot_name = 'trainprog_feed'")" = t ]
}
# tp-notify's supervisor, and its worker (the one that streams changes).
notify_pid() { head -n 1 "$TP_STATE_DIR/tp-notify.pid"; }
notify_worker_pid() { pgrep -P "$(notify_pid)" | head -n 1; }
# notify_pause / notify_resume: tp-notify frozen (SIGSTOP) and thawed: writes
# no one announces until then (the slot keeps them).
notify_pause() { kill -STOP "$(notify_pid)" $(pgrep -P "$(notify_pid)"); }
notify_resume() { kill -CONT "$(notify_pid)" $(pgrep -P "$(notify_pid)"); }
# The workers' pids, from the status page (the master's children include
# the status process too).
pool_worker_pids() {
	curl -s --max-time 5 "$TP_BASE_URL/_trainprog/status" |
	    jq -r '[.worker_list[] | select(.pid > 0) | .pid] | sort | map(tostring) | join(" ")' |
	    sed 's/$/ /'
}

# wait_until SECONDS COMMAND...: polls (every 0.1 s) until COMMAND succeeds.
wait_until() {
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 10; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# main_stack: the stack most suites share, started on first use.
main_stack() {
	if [ ! -f "$E2E_TMP/main/stack.env" ]; then
		stack_up main || { fail "the main stack starts"; return 1; }
	fi
	stack_use main
}

# put_row JOB_ID [COLUMN=SQL-VALUE ...]: stores a minimal valid row.
# Values are SQL literals written by the tests themselves; job ids with
# quotes go through psql's :'var' quoting.
put_row() {
	local id=$1 cols="job_id" vals=":'id'" kv
	shift
	for kv in "$@"; do
		cols+=", ${kv%%=*}"
		vals+=", ${kv#*=}"
	done
	case " $* " in
	*" current_step="*) ;;
	*) cols+=", current_step"; vals+=", 'Data Collection'" ;;
	esac
	"$DEV_STACK" psql -q -v ON_ERROR_STOP=1 -v id="$id" >/dev/null <<SQL
DELETE FROM training_progress WHERE job_id = :'id';
INSERT INTO training_progress ($cols) VALUES ($vals);
SQL
}

# urlenc STRING: percent-encodes every byte outside the unreserved set.
urlenc() {
	local LC_ALL=C s=$1 out= c i
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case $c in
		[A-Za-z0-9._~-]) out+=$c ;;
		*) out+=$(printf '%%%02X' "'$c") ;;
		esac
	done
	echo "$out"
}

# --- load and the pool's own view -------------------------------------------

tools_dir() { echo "$(dirname "$E2E_BIN")/t"; }
http_port() { echo "${TP_BASE_URL##*:}"; }

# load_start MILLISECONDS CONNECTIONS [PATH]: a bounded load in the
# background (t/tools/httpload); returns once responses are coming.
load_start() {
	LOAD_OUT=$E2E_TMP/load.out
	LOAD_EVENTS=$E2E_TMP/load.events
	: >"$LOAD_EVENTS"
	LOAD_T0=$(date +%s%3N)
	"$(tools_dir)/httpload" -p "$(http_port)" -c "$2" -d "$1" -o "$LOAD_EVENTS" \
	    -u "${3:-/api/v2/training/jobs/abc123-def456/progress}" >"$LOAD_OUT" 2>&1 &
	LOAD_PID=$!
	wait_until 10 load_flowing
}
load_flowing() { [ "$(wc -l <"$LOAD_EVENTS")" -ge 20 ]; }
# Milliseconds since load_start, on the same clock as the events (roughly).
load_now() { echo $(($(date +%s%3N) - LOAD_T0)); }

# load_wait: waits for the load to end and sets LOAD_TOTAL, LOAD_OK,
# LOAD_FAILED, LOAD_SLOWEST and LOAD_STATUSES ("200 503 ").
load_wait() {
	wait "$LOAD_PID"
	LOAD_TOTAL=$(sed -n 's/^total //p' "$LOAD_OUT")
	LOAD_OK=$(sed -n 's/^status 200 //p' "$LOAD_OUT")
	LOAD_OK=${LOAD_OK:-0}
	LOAD_FAILED=$((LOAD_TOTAL - LOAD_OK))
	LOAD_SLOWEST=$(sed -n 's/^slowest_ms //p' "$LOAD_OUT")
	LOAD_STATUSES=$(sed -n 's/^status \([0-9]*\) .*/\1/p' "$LOAD_OUT" | tr '\n' ' ')
}

# status_field JQ: a field of the pool's status page.
status_field() { curl -s --max-time 5 "$TP_BASE_URL/_trainprog/status" | jq -r "$1"; }

# set_pool_setting NAME VALUE: changes the stack's tp-fcgi.conf (reload to apply).
set_pool_setting() {
	local f=$TP_STATE_DIR/tp-fcgi.conf
	sed -i "/^$1 = /d" "$f"
	echo "$1 = $2" >>"$f"
}

# reload_pool: SIGHUP, then waits until the new generation has all its workers idle.
reload_pool() {
	local gen
	gen=$(status_field .generation)
	kill -HUP "$(pool_master_pid)"
	wait_until 10 reloaded_past "$gen"
}
reloaded_past() {
	local doc
	doc=$(curl -s --max-time 5 "$TP_BASE_URL/_trainprog/status") || return 1
	[ "$(echo "$doc" | jq -r '.generation')" -gt "$1" ] &&
	    [ "$(echo "$doc" | jq -r '[.worker_list[] | select(.state == "idle" or .state == "busy")] | length')" -ge \
	      "$(echo "$doc" | jq -r '.workers.configured')" ] &&
	    [ "$(echo "$doc" | jq -r '.workers.stopping')" = 0 ]
}
