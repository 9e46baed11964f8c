# test_watch.sh: tp-watch, the spec's command-line watcher: a job's lifecycle
# watched by polling (with ETags), by following its event stream, as JSON
# lines and as the terminal's blocks (under a pty); its exit statuses
# (completed, failed, cancelled, unknown job, no server, a server that
# stays down, Ctrl-C); and starting a job with POST /jobs.

stack_up watch || { fail "a stack for tp-watch starts"; return 0; }
P=/api/v2/training/jobs
TOKEN=$TP_PUBLISH_TOKEN
WATCH=$E2E_BIN/tp-watch
W=$E2E_TMP/watch
mkdir -p "$W"

post() {
	http POST "$P/$(urlenc "$1")/progress" -H "Authorization: Bearer $TOKEN" \
	    -H 'Content-Type: application/json' --data-binary "$2"
}
# watch_bg NAME ARGS...: tp-watch in the background against this stack,
# polling every 0.2 s; its stdout in $W/NAME.out, stderr in $W/NAME.err, pid in $WPID.
watch_bg() {
	local name=$1
	shift
	"$WATCH" --url "$TP_BASE_URL" --interval 0.2 "$@" >"$W/$name.out" 2>"$W/$name.err" &
	WPID=$!
}
# has NAME REGEX: the watcher's output has a line that matches.
has() { grep -Eq -- "$2" "$W/$1.out"; }
ended() { ! proc_alive "$1"; }
# finish PID: waits (20 s at most) for the watcher to end; its exit status in RC.
finish() {
	if wait_until 20 ended "$1"; then
		wait "$1"
		RC=$?
	else
		kill -KILL "$1" 2>/dev/null
		wait "$1" 2>/dev/null
		RC=timeout
	fi
}
# statuses NAME: the second field of each plain line, repeats folded.
statuses() { awk '{print $2}' "$W/$1.out" | uniq | tr '\n' ' ' | sed 's/ $//'; }

# --- polling: each state in order, the final 100 %, exit 0 ---------------------------
j=poll-$$
post $j '{"seq": 1, "event": "queue"}'
watch_bg poll $j
ok wait_until 10 has poll '^[^ ]+ queued step=' -- "polling: the queued job is shown"
post $j '{"seq": 2, "event": "start", "step": "data_collection"}'
ok wait_until 10 has poll ' running step=1/4 Data Collection overall=0\.0 step_pct=0\.0' -- \
    "Data Collection started"
post $j '{"seq": 3, "event": "update", "step_percentage": 50}'
ok wait_until 10 has poll ' running step=1/4 Data Collection overall=12\.5 step_pct=50\.0' -- \
    "Data Collection at 50 %"
post $j '{"seq": 4, "event": "start", "step": "optimization"}'
post $j '{"seq": 5, "event": "update", "step_percentage": 60, "current_iteration": 30, "total_iterations": 50, "best_score": 1.85, "current_score": 1.42}'
ok wait_until 10 has poll ' running step=2/4 Optimization overall=55\.0 step_pct=60\.0 iter=30/50 best=1\.8500 current=1\.4200( eta=[0-9T:Z-]+)?$' -- \
    "Optimization at 60 %: the spec's fields on one line"
post $j '{"seq": 6, "event": "complete"}'
finish $WPID
is "$RC" 0 "a completed job: exit 0"
is "$(statuses poll)" "queued running completed" "every state, in order"
ok has poll '^[0-9T:.-]+Z completed step=4/4 Complete overall=100\.0 step_pct=100\.0' -- \
    "the last line: completed, 100 %"
is "$(tail -n 1 "$W/poll.out" | awk '{print $2}')" completed "and it is the last"
is "$(awk '{print $1}' "$W/poll.out" | LC_ALL=C sort -c 2>&1 && echo sorted)" sorted \
    "the lines' times (updated_at) in order"
is "$(uniq -d "$W/poll.out" | wc -l)" 0 "no document shown twice (304s print nothing)"
is "$(cat "$W/poll.err")" "" "nothing on stderr"

# --- following the event stream ---------------------------------------------------
j=follow-$$
post $j '{"seq": 1, "event": "start", "step": "data_collection"}'
watch_bg follow --follow --json $j
ok wait_until 10 has follow '"seq":1' -- "--follow --json: the current document first"
for i in 2 3 4 5; do
	post $j "{\"seq\": $i, \"event\": \"update\", \"step_percentage\": $((i * 10))}"
done
post $j '{"seq": 6, "event": "complete"}'
finish $WPID
is "$RC" 0 "following: a completed job, exit 0"
is "$(jq -r .seq "$W/follow.out" | tr '\n' ' ' | sed 's/ $//')" "1 2 3 4 5 6" \
    "every document pushed, in order, none twice (posted without waiting)"
is "$(jq -r .status "$W/follow.out" | uniq | tr '\n' ' ' | sed 's/ $//')" "running completed" \
    "statuses"
http GET "$P/$j/progress"
is "$(tail -n 1 "$W/follow.out")" "$(cat "$BODY_FILE")" \
    "--json: the last line is the document GET answers, byte for byte"
is "$(wc -l <"$W/follow.out")" 6 "one line per document"
is "$(grep -c 'no event stream' "$W/follow.err")" 0 "it did follow the stream (no fallback)"

# A job whose stream already ended: the one final event, then exit.
watch_bg followed --follow $j
finish $WPID
is "$RC" 0 "--follow on a completed job: exit 0 at once"
is "$(wc -l <"$W/followed.out")" 1 "one line"
ok has followed ' completed step=4/4 Complete overall=100\.0 ' -- "the final document"

# Plain lines while following.
j=followplain-$$
post $j '{"seq": 1, "event": "queue"}'
watch_bg followplain --follow $j
ok wait_until 10 has followplain ' queued ' -- "--follow: the queued job"
post $j '{"seq": 2, "event": "start", "step": "optimization"}'
post $j '{"seq": 3, "event": "update", "step_percentage": 50, "current_iteration": 5, "total_iterations": 10}'
post $j '{"seq": 4, "event": "error", "error_message": "Optimization failed: \"NaN\" in scores"}'
finish $WPID
is "$RC" 1 "--follow: a failed job, exit 1"
is "$(statuses followplain)" "queued running failed" "queued, running, failed"
ok has followplain ' running step=2/4 Optimization overall=50\.0 step_pct=50\.0 iter=5/10' -- \
    "the update, as a plain line"
ok has followplain ' failed step=2/4 Optimization overall=50\.0 step_pct=50\.0 iter=5/10 .*error="Optimization failed: \\"NaN\\" in scores"$' -- \
    "the failure keeps its step, and its message as a JSON string"

# --- a failed job, polling: exit 1 ---------------------------------------------------
j=failed-$$
post $j '{"seq": 1, "event": "start", "step": "data_collection"}'
watch_bg failed --json $j
ok wait_until 10 has failed '"status":"running"' -- "--json while polling"
post $j '{"seq": 2, "event": "error", "error_message": "no candles"}'
finish $WPID
is "$RC" 1 "a failed job: exit 1"
is "$(tail -n 1 "$W/failed.out" | jq -c '[.status, .error_message, .is_complete]')" \
    '["failed","no candles",true]' "the last document is the failed one"
ok jq -e . "$W/failed.out" -- "each line is JSON"

# --- a cancelled job: cancelling, then cancelled; exit 1 ----------------------------------
j=cancel-$$
post $j '{"seq": 1, "event": "start", "step": "optimization"}'
watch_bg cancel $j
ok wait_until 10 has cancel ' running ' -- "running"
http POST "$P/$j/cancel" -H "Authorization: Bearer $TOKEN"
is "$STATUS" 202 "cancel: 202"
ok wait_until 10 has cancel ' cancelling ' -- "the watcher shows cancelling"
post $j '{"seq": 2, "event": "update", "step_percentage": 10}'
is "$STATUS" 409 "the trainer's next write finishes the cancellation"
finish $WPID
is "$RC" 1 "a cancelled job: exit 1"
is "$(statuses cancel)" "running cancelling cancelled" "running, cancelling, cancelled"
ok has cancel ' cancelled .*error="cancelled by request"$' -- "with its message"

# --- errors: exit 2 with a message -------------------------------------------------------
"$WATCH" --url "$TP_BASE_URL" --interval 0.2 no-such-job-$$ >"$W/unknown.out" 2>"$W/unknown.err"
is "$?" 2 "an unknown job: exit 2"
ok grep -q "no training job has the id" "$W/unknown.err" -- "with the server's message"
"$WATCH" --url "$TP_BASE_URL" --follow no-such-job-$$ >"$W/unknown2.out" 2>"$W/unknown2.err"
is "$?" 2 "an unknown job, --follow: exit 2"
ok grep -q "no training job has the id" "$W/unknown2.err" -- "with the server's message"
is "$(cat "$W/unknown.out" "$W/unknown2.out")" "" "nothing on stdout"

env -u TP_BASE_URL "$WATCH" some-job >/dev/null 2>"$W/nourl.err"
is "$?" 2 "no --url and no TP_BASE_URL: exit 2"
ok grep -q -e "give --url" "$W/nourl.err" -- "it says to give --url"
TP_BASE_URL=$TP_BASE_URL "$WATCH" --interval 0.2 no-such-job-$$ >/dev/null 2>&1
is "$?" 2 "TP_BASE_URL stands for --url"
for bad in "--interval 0" "--interval 0.05" "--interval x" "--give-up -1" "--bogus" "--interval"; do
	# shellcheck disable=SC2086
	"$WATCH" --url "$TP_BASE_URL" $bad >/dev/null 2>"$W/bad.err"
	rc=$?
	if [ $rc = 2 ] && [ -s "$W/bad.err" ]; then pass "$bad: exit 2, with a message"
	else fail "$bad: exit 2, with a message" "exit $rc: $(cat "$W/bad.err")"; fi
done
"$WATCH" --url "$TP_BASE_URL" a b >/dev/null 2>&1
is "$?" 2 "two job ids: exit 2"
ok "$WATCH" --help -- "--help: exit 0"
ok grep -q "Exit status" <("$WATCH" --help) -- "--help prints the usage"
"$WATCH" --url "$TP_BASE_URL" "$(printf 'x%.0s' $(seq 256))" >/dev/null 2>&1
is "$?" 2 "a job id over 255 bytes: exit 2"

# A server that stays down: retried, then given up.
port=$(pick_port)
t0=$(date +%s%N)
"$WATCH" --url "http://127.0.0.1:$port" --interval 0.2 --give-up 1 some-job \
    >"$W/down.out" 2>"$W/down.err"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
is "$rc" 2 "connection refused: exit 2 after --give-up"
ok grep -q "trying again" "$W/down.err" -- "each retry noted on stderr"
ok grep -q "giving up after" "$W/down.err" -- "then it gives up"
less_than "$ms" 5000 "within --give-up 1 (and a pause): ${ms} ms"
"$WATCH" --url "http://127.0.0.1:$port" --follow --give-up 1 some-job >/dev/null 2>&1
is "$?" 2 "--follow, connection refused: exit 2"

# A job id that needs percent-encoding.
j="odd id/$$ ü"
post "$j" '{"seq": 1, "event": "start", "step": "validation"}'
post "$j" '{"seq": 2, "event": "complete"}'
"$WATCH" --url "$TP_BASE_URL" --json "$j" >"$W/odd.out" 2>"$W/odd.err"
is "$?" 0 "a job id with a slash, a space and UTF-8: percent-encoded, exit 0"
is "$(jq -r .job_id "$W/odd.out")" "$j" "its document"

# --- Ctrl-C stops the watching, not the job ---------------------------------------------
for mode in poll follow; do
	j=sigint-$mode-$$
	post $j '{"seq": 1, "event": "start", "step": "data_collection"}'
	if [ $mode = follow ]; then watch_bg sigint-$mode --follow $j; else watch_bg sigint-$mode $j; fi
	ok wait_until 10 has sigint-$mode ' running ' -- "$mode: watching"
	kill -INT $WPID
	finish $WPID
	is "$RC" 130 "$mode: SIGINT: exit 130"
	ok grep -q "stopped watching job $j (it goes on)" "$W/sigint-$mode.err" -- "$mode: it says so"
	http GET "$P/$j/progress"
	json_is .status '"running"' "$mode: the job is still running"
done

# --- a database outage while polling: retried, noted, recovered ---------------------------
j=outage-$$
post $j '{"seq": 1, "event": "start", "step": "data_collection"}'
watch_bg outage $j
ok wait_until 10 has outage ' running ' -- "watching before the outage"
"$DEV_STACK" db-stop >/dev/null
noted() { grep -q "$2" "$W/$1.err"; }
ok wait_until 20 noted outage 'database_unavailable.*trying again' -- \
    "PostgreSQL down: 503 noted on stderr, tried again"
"$DEV_STACK" db-start >/dev/null
posted() { post "$j" "$1"; [ "$STATUS" = 200 ]; }
ok wait_until 30 posted '{"seq": 2, "event": "complete"}' -- "PostgreSQL back"
finish $WPID
is "$RC" 0 "the watcher saw the job complete: exit 0"
ok grep -q "reached the server again" "$W/outage.err" -- "and said it reached the server again"

# --- a stream not ready yet (retry: only): the watcher comes back ----------------------
# A job created while tp-notify is frozen has no channel yet: its stream is
# an empty one that says "retry: 1000".
NGINX_LOG=$TP_STATE_DIR/logs/nginx-access.log
j=early-$$
notify_pause
post $j '{"seq": 1, "event": "start", "step": "data_collection"}'
watch_bg early --follow --json $j
stream_asked() { [ "$(grep -c "GET $P/$j/progress/stream " "$NGINX_LOG")" -ge "$1" ]; }
ok wait_until 20 stream_asked 2 -- "not ready: it asks for the stream again"
ok proc_alive $WPID -- "and keeps watching"
notify_resume
ok wait_until 20 has early '"seq":1' -- "once the stream is there, the document"
post $j '{"seq": 2, "event": "complete"}'
finish $WPID
is "$RC" 0 "then the end: exit 0"
is "$(jq -r .seq "$W/early.out" | tr '\n' ' ' | sed 's/ $//')" "1 2" "both documents"
is "$(grep -c 'no event stream' "$W/early.err")" 0 "no fallback to polling"

# --- nginx restarted mid-stream: resumed, nothing twice ----------------------------
NCHAN=$TP_STATE_DIR/rt/nchan/nchan.sock
chan() { printf '%s' "$1" | sha256sum | cut -c1-32; }
subscribers() {
	curl -s --unix-socket "$NCHAN" -H 'Accept: application/json' \
	    "http://nchan/pub/live/$(chan "$1")" | jq -r '.subscribers // 0' 2>/dev/null
}
has_subscribers() { [ "$(subscribers "$1")" = "$2" ]; }
j=restart-$$
post $j '{"seq": 1, "event": "start", "step": "data_collection"}'
watch_bg restart --follow --json $j
ok wait_until 10 has restart '"seq":1' -- "following"
"$DEV_STACK" nginx-restart >/dev/null
if wait_until 30 has_subscribers $j 1; then
	pass "nginx restarted: the watcher is back on the job's channel"
else
	fail "nginx restarted: the watcher is back on the job's channel" "its stderr:" \
	    "$(cat "$W/restart.err")"
fi
post $j '{"seq": 2, "event": "update", "step_percentage": 40}'
post $j '{"seq": 3, "event": "complete"}'
finish $WPID
is "$RC" 0 "exit 0"
is "$(jq -r .seq "$W/restart.out" | tr '\n' ' ' | sed 's/ $//')" "1 2 3" \
    "every document, none twice (the current one sent again after the restart is skipped)"

# --- a server without streams (501): polling instead ---------------------------------
# A proxy in front of the stack that answers the stream as a pool behind a
# web server without nchan does (501 streams_unavailable), and passes
# everything else on.
cat >"$W/nostreams.py" <<'PY'
import http.server, json, sys, urllib.error, urllib.request
port, upstream = int(sys.argv[1]), sys.argv[2]
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def reply(self, code, headers, body):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body) if code != 304 else 0))
        self.end_headers()
        if code != 304:
            self.wfile.write(body)
    def do_GET(self):
        if self.path.split("?")[0].endswith("/progress/stream"):
            body = json.dumps({"error": "streams_unavailable",
                               "message": "live streams need nginx with the nchan module"}).encode()
            return self.reply(501, [("Content-Type", "application/json")], body)
        req = urllib.request.Request(upstream + self.path, headers={
            k: v for k, v in self.headers.items() if k.lower() in ("accept", "if-none-match")})
        try:
            r = urllib.request.urlopen(req, timeout=10)
        except urllib.error.HTTPError as e:
            r = e
        body = r.read()
        self.reply(r.status if hasattr(r, "status") else r.code,
                   [(k, r.headers[k]) for k in ("Content-Type", "ETag") if r.headers.get(k)], body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
PY
pport=$(pick_port)
python3 "$W/nostreams.py" "$pport" "$TP_BASE_URL" 2>"$W/nostreams.log" &
ppid=$!
proxy_up() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$pport$P/x/progress/stream")" = 501 ]; }
ok wait_until 10 proxy_up -- "a server without streams answers 501"
j=nostreams-$$
post $j '{"seq": 1, "event": "start", "step": "data_collection"}'
"$WATCH" --url "http://127.0.0.1:$pport" --interval 0.2 --follow $j >"$W/fallback.out" \
    2>"$W/fallback.err" &
WPID=$!
ok wait_until 10 has fallback ' running ' -- "--follow on it: the document, by polling"
ok grep -q "no event stream for job $j (.*HTTP 501 streams_unavailable)): polling every 0.2 s" \
    "$W/fallback.err" -- "with a note on stderr"
post $j '{"seq": 2, "event": "update", "step_percentage": 50}'
ok wait_until 10 has fallback ' step_pct=50\.0' -- "changes seen by polling"
post $j '{"seq": 3, "event": "complete"}'
finish $WPID
is "$RC" 0 "exit 0"
is "$(statuses fallback)" "running completed" "running, completed"
kill $ppid 2>/dev/null
wait $ppid 2>/dev/null

# --- the terminal's block, under a pty ------------------------------------------------
j=tty-$$
post $j '{"seq": 1, "event": "start", "step": "optimization"}'
post $j '{"seq": 2, "event": "update", "step_percentage": 60, "current_iteration": 30, "total_iterations": 50, "best_score": 1.85, "current_score": 1.42, "best_params": {"pierce_depth": 0.15}}'
script -qec "$(printf '%q ' "$WATCH" --url "$TP_BASE_URL" --interval 0.2 "$j")" /dev/null \
    >"$W/tty.out" 2>&1 </dev/null &
spid=$!
ok wait_until 10 has tty 'Current Score' -- "a block on a terminal"
post $j '{"seq": 3, "event": "complete"}'
finish $spid
is "$RC" 0 "under a pty: exit 0"
tr -d '\r' <"$W/tty.out" >"$W/tty.txt"
bar55=$(printf '█%.0s' $(seq 28))$(printf '░%.0s' $(seq 22))
want="Step 2/4: Optimization
  Overall: 55.0%  |  Step: 60.0%
  Iteration: 30/50
  Best Score: 1.8500
  Current Score: 1.4200
  [$bar55] 55.0%"
is "$(sed -n '1,/\] 55\.0%$/p' "$W/tty.txt" | grep -v '^  ETA: ' | sed '1s/^\[[0-2][0-9]:[0-5][0-9]:[0-5][0-9]\] //')" \
    "$want" "the spec's block: the time, the step, both percentages, the iteration, the scores, a 50-cell bar"
ok grep -Eq '^\[[0-2][0-9]:[0-5][0-9]:[0-5][0-9]\] Step 2/4: Optimization$' "$W/tty.txt" -- \
    "the first line starts with the time of arrival"
bar100=$(printf '█%.0s' $(seq 50))
ok grep -qF "  [$bar100] 100.0%" "$W/tty.txt" -- "the final block: a full bar"
ok grep -qF "Job $j completed. Best score: 1.8500  Best params: {\"pierce_depth\":0.15}" \
    "$W/tty.txt" -- "the outcome, with the best score and parameters"

j=ttyq-$$
post $j '{"seq": 1, "event": "queue"}'
post $j '{"seq": 2, "event": "error", "error_message": "no data"}'
script -qec "$(printf '%q ' "$WATCH" --url "$TP_BASE_URL" "$j")" /dev/null >"$W/ttyq.out" 2>&1 </dev/null
tr -d '\r' <"$W/ttyq.out" >"$W/ttyq.txt"
ok grep -qx "Job $j failed: no data" "$W/ttyq.txt" -- "a failed job's outcome: its error message"

# --- starting a job (POST /jobs) -------------------------------------------------------
super_url="postgresql://postgres@/trainprog?host=$(sed -n 's/^RT=//p' "$TP_STATE_DIR/stack.env")/pgsock"
train=$("$E2E_BIN/tp-admin" --database-url "$super_url" token create --scope train \
    --name e2e-watch 2>"$W/admin.err")
is "$?" 0 "a token with the train scope"
j=started-$$
watch_bg start --token "$train" --request "{\"job_id\": \"$j\"}"
ok wait_until 10 has start ' queued ' -- "no JOB_ID: a job is started and watched"
ok grep -qx "tp-watch: started job $j" "$W/start.err" -- "it says which"
post $j '{"seq": 2, "event": "start", "step": "data_collection"}'
ok wait_until 10 has start ' running ' -- "the started job runs"
post $j '{"seq": 3, "event": "complete"}'
finish $WPID
is "$RC" 0 "and completes: exit 0"
is "$(statuses start)" "queued running completed" "queued, running, completed"

"$WATCH" --url "$TP_BASE_URL" --token "$train" --request '{"job_id": "'$j'", "n_calls": 7}' \
    >/dev/null 2>"$W/conflict.err"
is "$?" 2 "another request under the same job_id: exit 2"
ok grep -q "HTTP 409" "$W/conflict.err" -- "with the server's message and status"
"$WATCH" --url "$TP_BASE_URL" --token nope >/dev/null 2>"$W/badtoken.err"
is "$?" 2 "a bad token: exit 2"
ok grep -q "HTTP 401" "$W/badtoken.err" -- "401, said"
printf '{"job_id": "%s-file"}' "$j" >"$W/request.json"
watch_bg startfile --token "$train" --request @"$W/request.json" --json
ok wait_until 10 has startfile '"status":"queued"' -- "--request @FILE"
kill -INT $WPID
finish $WPID
is "$RC" 130 "Ctrl-C after starting: exit 130"
ok grep -q "stopped watching job $j-file (it goes on)" "$W/startfile.err" -- "the job goes on"
env -u TP_TOKEN "$WATCH" --url "$TP_BASE_URL" >/dev/null 2>"$W/notoken.err"
is "$?" 2 "starting a job without a token: exit 2"
ok grep -q "needs a token" "$W/notoken.err" -- "it says so"
"$WATCH" --url "$TP_BASE_URL" --token x --request '[1]' >/dev/null 2>"$W/badreq.err"
is "$?" 2 "--request that is not a JSON object: exit 2"

# --- a server that wants a token for reads --------------------------------------------
rtok=$("$E2E_BIN/tp-admin" --database-url "$super_url" token create --scope read \
    --name e2e-watch-read 2>"$W/admin.err")
set_pool_setting read_token_required yes
reload_pool
env -u TP_TOKEN "$WATCH" --url "$TP_BASE_URL" --interval 0.2 "$j" >/dev/null 2>"$W/noread.err"
is "$?" 2 "read_token_required, no token: exit 2"
ok grep -q "HTTP 401" "$W/noread.err" -- "401, said"
"$WATCH" --url "$TP_BASE_URL" --interval 0.2 --token "$rtok" --json "$j" >"$W/read.out" 2>"$W/read.err"
is "$?" 0 "with a read token: the job watched to its end (exit 0)"
"$WATCH" --url "$TP_BASE_URL" --token "$(printf 'tp_x\r\nX-Evil: 1')" "$j" >/dev/null 2>"$W/evil.err"
is "$?" 2 "a token with a line break is refused, not sent"
set_pool_setting read_token_required no
reload_pool
