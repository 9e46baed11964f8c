# test_stream.sh: GET .../progress/stream, Server-Sent Events and WebSocket
# through nchan, fed by tp-notify from the logical replication slot: a
# lifecycle in order ending with its terminal state, Last-Event-ID resume,
# the end of a stream and what comes after it, tp-notify killed, PostgreSQL
# and nginx restarted mid-stream, 1,000 subscribers on one job, bad
# requests.

stack_up stream || { fail "a stack for the streams starts"; return 0; }
P=/api/v2/training/jobs
TOKEN=$TP_PUBLISH_TOKEN
NCHAN=$TP_STATE_DIR/rt/nchan/nchan.sock
SUBLOAD=$(tools_dir)/subload
S=$E2E_TMP/stream
mkdir -p "$S"

post() {
	http POST "$P/$(urlenc "$1")/progress" -H "Authorization: Bearer $TOKEN" \
	    -H 'Content-Type: application/json' --data-binary "$2"
}
chan() { printf '%s' "$1" | sha256sum | cut -c1-32; }
# subscribers JOB: how many streams nchan holds open on JOB's channel.
subscribers() {
	curl -s --unix-socket "$NCHAN" -H 'Accept: application/json' \
	    "http://nchan/pub/live/$(chan "$1")" | jq -r '.subscribers // 0' 2>/dev/null
}
has_subscribers() { [ "$(subscribers "$1")" = "$2" ]; }
# sse JOB OUT [CURL ARGS]: a Server-Sent Events subscriber in the background
# (curl, up to 60 s), its raw stream in OUT; $! is its pid.
sse() {
	local job=$1 out=$2
	shift 2
	curl -sN --max-time 60 -H 'Accept: text/event-stream' "$@" \
	    "$TP_BASE_URL$P/$(urlenc "$job")/progress/stream" >"$out" 2>/dev/null &
}
# seqs OUT: the seq of each event's document, space-separated.
seqs() { sed -n 's/^data: //p' "$1" | jq -r .seq | tr '\n' ' ' | sed 's/ $//'; }
statuses() { sed -n 's/^data: //p' "$1" | jq -r .status | tr '\n' ' ' | sed 's/ $//'; }
ids() { sed -n 's/^id: //p' "$1"; }
# ended PID: the subscriber's curl exited by itself (the server ended the stream).
ended() { ! proc_alive "$1"; }
nonempty() { [ -s "$BODY_FILE" ]; }

# --- bad requests ---------------------------------------------------------------
http GET "$P/no-such-job/progress/stream" -H 'Accept: text/event-stream'
is "$STATUS" 404 "an unknown job: 404, not a hanging stream"
ok nonempty -- "with a body"
json_is .error '"not_found"' "the API's JSON error"
http GET "$P/$(head -c 300 /dev/zero | tr '\0' x)/progress/stream" -H 'Accept: text/event-stream'
is "$STATUS" 400 "a job id over 255 bytes: 400"
json_is .error '"invalid_job_id"' "invalid_job_id"
post bad-req '{"seq": 1, "event": "start", "step": "data_collection"}'
http GET "$P/bad-req/progress/stream"
is "$STATUS" 406 "neither Server-Sent Events nor WebSocket asked for: 406"
json_is .error '"not_acceptable"' "not_acceptable, in JSON"
http POST "$P/bad-req/progress/stream" -H 'Accept: text/event-stream'
is "$STATUS" 405 "POST: 405"
is "$(header Allow)" "GET" "Allow: GET"
http HEAD "$P/bad-req/progress/stream" -H 'Accept: text/event-stream'
is "$STATUS" 405 "HEAD: 405 (a stream has no head)"
http GET "$P/bad-req/progress/streams" -H 'Accept: text/event-stream'
is "$STATUS" 404 "a path next to it: 404"

# --- a lifecycle, in order, ending with the terminal state ---------------------------
j=life-$$
post $j '{"seq": 1, "event": "queue"}'
is "$STATUS" 200 "a job queued"
sse $j "$S/life"
pid=$!
ok wait_until 10 has_subscribers $j 1 -- "a subscriber is on the job's channel"
post $j '{"seq": 2, "event": "start", "step": "data_collection"}'
post $j '{"seq": 3, "event": "update", "step_percentage": 50}'
post $j '{"seq": 4, "event": "start", "step": "optimization"}'
post $j '{"seq": 5, "event": "update", "step_percentage": 40, "current_iteration": 4, "best_score": 0.5}'
post $j '{"seq": 6, "event": "complete"}'
is "$STATUS" 200 "completed"
ok wait_until 10 ended $pid -- "the stream ends once the terminal state is delivered"
is "$(seqs "$S/life")" "1 2 3 4 5 6" "every state, in order: the current one first, then each change"
is "$(statuses "$S/life")" "queued running running running running completed" "statuses"
is "$(sed -n 's/^data: //p' "$S/life" | tail -n 1 | jq -c '[.is_complete, .percentage]')" \
    "[true,100]" "the last document is the terminal one"
http GET "$P/$j/progress"
is "$(sed -n 's/^data: //p' "$S/life" | tail -n 1)" "$(cat "$BODY_FILE")" \
    "each message is the document GET answers, byte for byte"
is "$(ids "$S/life" | grep -c .)" 6 "each event has an id"

# After the end: the final document, as a stream's one event, then the end;
# with that event's id as Last-Event-ID, 204 (an EventSource stops).
http GET "$P/$j/progress/stream" -H 'Accept: text/event-stream'
is "$STATUS" 200 "a subscriber after the end: 200"
is "$(header Content-Type)" "text/event-stream" "an event stream"
is "$(sed -n 's/^id: //p' "$BODY_FILE")" "end:6" "one event, id end:<seq>"
is "$(sed -n 's/^data: //p' "$BODY_FILE" | jq -c '[.seq, .status]')" '[6,"completed"]' \
    "the final document"
http GET "$P/$j/progress/stream" -H 'Accept: text/event-stream' -H 'Last-Event-ID: end:6'
is "$STATUS" 204 "reconnecting with that id: 204, the stream is over"
http GET "$P/$j/progress/stream" -H 'Accept: text/event-stream' \
    -H "Last-Event-ID: $(ids "$S/life" | sed -n 3p)"
is "$(sed -n 's/^data: //p' "$BODY_FILE" | jq -r .seq)" 6 \
    "reconnecting after the end from an earlier event: the final document"

# --- Last-Event-ID: resume with no gap and no duplicate -------------------------
j=resume-$$
post $j '{"seq": 1, "event": "start", "step": "data_collection"}'
sse $j "$S/r1"
pid=$!
ok wait_until 10 has_subscribers $j 1 -- "subscribed"
post $j '{"seq": 2, "event": "update", "step_percentage": 10}'
got2() { [ "$(seqs "$S/r1")" = "1 2" ]; }
ok wait_until 10 got2 -- "two documents received"
kill $pid
wait $pid 2>/dev/null
last=$(ids "$S/r1" | tail -n 1)
post $j '{"seq": 3, "event": "update", "step_percentage": 20}'
post $j '{"seq": 4, "event": "update", "step_percentage": 30}'
sse $j "$S/r2" -H "Last-Event-ID: $last"
pid=$!
got4() { [ "$(seqs "$S/r2")" = "3 4" ]; }
ok wait_until 10 got4 -- "resumed after $last: exactly what was missed, in order"
post $j '{"seq": 5, "event": "complete"}'
ok wait_until 10 ended $pid -- "the resumed stream ends with the job"
is "$(seqs "$S/r2")" "3 4 5" "no gap, no duplicate"
sse $j "$S/r3" -G --data-urlencode "last_event_id=$last"
pid=$!
ok wait_until 10 ended $pid -- "resumed with ?last_event_id= (what an EventSource can set)"
is "$(seqs "$S/r3")" "5" "a job that ended meanwhile: its final document"

# --- WebSocket on the same URL ---------------------------------------------------
j=ws-$$
post $j '{"seq": 1, "event": "start", "step": "data_collection"}'
"$SUBLOAD" -q -m ws -p "$(http_port)" -u "$P/$j/progress/stream" -n 1 -e -d 60 \
    -o "$S/ws.conn" >"$S/ws.out" 2>&1 &
pid=$!
ok wait_until 10 has_subscribers $j 1 -- "a WebSocket subscriber"
for i in 2 3 4; do
	post $j "{\"seq\": $i, \"event\": \"update\", \"step_percentage\": $((i * 10))}"
done
post $j '{"seq": 5, "event": "error", "error_message": "out of memory"}'
ok wait_until 10 ended $pid -- "the WebSocket closes after the terminal state"
wait $pid 2>/dev/null
is "$(awk '$1 == "messages" {print $2}' "$S/ws.out")" 5 "five messages"
is "$(awk '{print $4, $5, $6, $7, $8}' "$S/ws.conn")" "1 5 0 0 1" \
    "seq 1 to 5, no gap, no reordering, the terminal (failed) state seen"
"$SUBLOAD" -q -m ws -p "$(http_port)" -u "$P/$j/progress/stream" -n 1 -e -d 30 \
    -o "$S/ws2.conn" >"$S/ws2.out" 2>&1
is "$(awk '{print $3, $5, $8}' "$S/ws2.conn")" "1 5 1" \
    "a WebSocket after the end: the final document, then the end"

# --- tp-notify killed mid-job: the slot kept the changes ---------------------------
j=kill-$$
post $j '{"seq": 1, "event": "start", "step": "data_collection"}'
sse $j "$S/k"
pid=$!
ok wait_until 10 has_subscribers $j 1 -- "subscribed"
post $j '{"seq": 2, "event": "update", "step_percentage": 10}'
w1=$(notify_worker_pid)
kill -KILL "$w1"
post $j '{"seq": 3, "event": "update", "step_percentage": 20}'
post $j '{"seq": 4, "event": "complete"}'
ok wait_until 30 ended $pid -- "tp-notify's worker SIGKILLed: the subscriber still gets the end"
is "$(seqs "$S/k" | tr ' ' '\n' | sort -n -u | tr '\n' ' ' | sed 's/ $//')" "1 2 3 4" \
    "every state arrived (a repeat of the last one published is allowed)"
is "$(seqs "$S/k" | tr ' ' '\n' | sort -n -c >/dev/null 2>&1 && echo ordered)" ordered \
    "in order"
w2=$(notify_worker_pid)
ok test -n "$w2" -a "$w2" != "$w1" -- "the supervisor started another worker"

# --- PostgreSQL restarted mid-stream ----------------------------------------------
j=pg-$$
post $j '{"seq": 1, "event": "start", "step": "data_collection"}'
sse $j "$S/pg"
pid=$!
ok wait_until 10 has_subscribers $j 1 -- "subscribed"
"$DEV_STACK" db-stop >/dev/null
"$DEV_STACK" db-start >/dev/null
posted() { post $j "$1"; [ "$STATUS" = 200 ]; }
ok wait_until 30 posted '{"seq": 2, "event": "update", "step_percentage": 50}' -- \
    "PostgreSQL restarted: publishing works again"
post $j '{"seq": 3, "event": "complete"}'
ok wait_until 30 ended $pid -- "the stream went on through the restart, to the end"
is "$(seqs "$S/pg")" "1 2 3" "every state, in order"

# --- nginx restarted: channels lost, tp-notify publishes every running job again ------
j=nginx-$$
post $j '{"seq": 1, "event": "start", "step": "data_collection"}'
post $j '{"seq": 2, "event": "update", "step_percentage": 70}'
"$DEV_STACK" nginx-restart >/dev/null
channel_ready() {
	[ "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$NCHAN" \
	    "http://nchan/pub/live/$(chan "$1")")" = 200 ]
}
ok wait_until 10 channel_ready $j -- "nginx restarted: tp-notify publishes the running job again"
sse $j "$S/n"
pid=$!
got_one() { [ -n "$(seqs "$S/n")" ]; }
ok wait_until 10 got_one -- "a new subscriber gets a document"
is "$(seqs "$S/n")" 2 "the current one"
post $j '{"seq": 3, "event": "complete"}'
ok wait_until 10 ended $pid -- "and the rest, to the end"
is "$(seqs "$S/n")" "2 3" "in order"

# --- a channel not there yet: come back in a second ------------------------------
# (A job created while tp-notify is frozen has no channel: a subscriber must
# not wait on an empty one, which nchan 1.3.6 does not survive.)
j=early-$$
notify_pause
post $j '{"seq": 1, "event": "start", "step": "data_collection"}'
http GET "$P/$j/progress/stream" -H 'Accept: text/event-stream'
is "$STATUS" 200 "a stream whose channel is not there yet: 200"
is "$(tr -d '\r' <"$BODY_FILE" | head -n 1)" "retry: 1000" "an empty stream that says: come back in a second"
http GET "$P/$j/progress/stream" -H 'Upgrade: websocket' -H 'Connection: Upgrade' \
    -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='
is "$STATUS $(header Retry-After)" "503 1" "a WebSocket: 503, Retry-After: 1"
json_is .error '"stream_not_ready"' "stream_not_ready, in JSON"
"$SUBLOAD" -q -p "$(http_port)" -u "$P/$j/progress/stream" -n 20 -e -d 60 >"$S/early.out" 2>&1 &
pid=$!
notify_resume
post $j '{"seq": 2, "event": "complete"}'
ok wait_until 30 ended $pid -- "subscribers that came early: served once tp-notify caught up"
wait $pid 2>/dev/null
is "$(awk '$1 == "terminal_seen" || $1 == "ended" {printf "%s ", $2}' "$S/early.out")" "20 20 " \
    "each saw the end"

# --- 1,000 subscribers on one job ---------------------------------------------------------
j=many-$$
post $j '{"seq": 1, "event": "start", "step": "data_collection"}'
"$SUBLOAD" -q -p "$(http_port)" -u "$P/$j/progress/stream" -n 1000 -S 20 -e -d 120 \
    >"$S/many.out" 2>&1 &
pid=$!
ok wait_until 60 has_subscribers $j 1000 -- "1,000 subscribers on one job"
for i in $(seq 2 20); do
	post $j "{\"seq\": $i, \"event\": \"update\", \"step_percentage\": $((i * 5))}"
done
post $j '{"seq": 21, "event": "complete"}'
ok wait_until 60 ended $pid -- "all 1,000 streams ended"
wait $pid 2>/dev/null
field() { awk -v k="$1" '$1 == k {print $2}' "$S/many.out"; }
is "$(field messages)" 21000 "each got all 21 documents"
is "$(field gaps) $(field reordered)" "0 0" "none lost, none out of order"
is "$(field terminal_seen) $(field ended)" "1000 1000" "each saw the terminal state, then the end"
