# test_history.sh: each job's history (schema/005_history.sql) and
# GET .../progress/history: what is kept (steps, statuses, throttled
# progress, a step's last state), in seq order, paged, pruned by count and
# by age; bad ids and parameters.

main_stack || return 0
P=/api/v2/training/jobs
TOKEN=$TP_PUBLISH_TOKEN

# post JOB JSON: one event with the stack's token.
post() {
	http POST "$P/$(urlenc "$1")/progress" -H "Authorization: Bearer $TOKEN" \
	    -H 'Content-Type: application/json' --data-binary "$2"
}
# history JOB [QUERY]: the history, into $BODY_FILE.
history() { http GET "$P/$(urlenc "$1")/progress/history${2:+?$2}"; }
settings() { sql "UPDATE progress_history_settings SET $1" >/dev/null; }
# The snapshots' seq, step_number, status and iteration, one line each.
lines() { jq -r '.snapshots[] | "\(.seq) \(.step_number) \(.status) \(.current_iteration)"' "$BODY_FILE"; }
nonempty() { [ -s "$BODY_FILE" ]; }

settings "min_interval = '1 hour', max_per_job = 10000, max_age = '90 days'"

# --- a lifecycle with the throttle shut: steps, statuses, a step's last state ----
j=hist-a-$$
post $j '{"seq": 1, "event": "start", "step": "data_collection"}'
is "$STATUS" 200 "start"
for i in 1 2 3 4 5; do
	post $j "{\"seq\": $((1 + i)), \"event\": \"update\", \"step_percentage\": $((i * 20)), \"current_iteration\": $i}"
done
post $j '{"seq": 10, "event": "start", "step": "optimization"}'
post $j '{"seq": 11, "event": "update", "step_percentage": 50, "current_iteration": 7, "best_score": 0.5}'
post $j '{"seq": 12, "event": "complete"}'
is "$STATUS" 200 "complete"
history $j
is "$STATUS" 200 "the history of a finished job"
ok nonempty -- "with a body"
is "$(lines | tr '\n' ';')" "1 1 running null;6 1 running 5;10 2 running null;11 2 running 7;12 4 completed null;" \
    "steps and the terminal state kept, and each step's last state though throttled"
json_is '[.job_id, .next_since_seq, .has_more, (.snapshots[1] | keys_unsorted)]' \
    "[\"$j\",12,false,[\"seq\",\"at\",\"status\",\"percentage\",\"step_number\",\"current_step\",\"step_percentage\",\"current_iteration\",\"best_score\",\"current_score\"]]" \
    "the page's fields, and each snapshot's"
json_is '[.snapshots[] | .percentage]' '[0,25,25,50,100]' "the overall percentage of each"
json_is '.snapshots | map(.at) | . == sort' true "in time order too"
json_is '[.snapshots[3] | .best_score, .current_step, .step_percentage]' '[0.5,"Optimization",50]' \
    "a snapshot holds the state as it was"

# Paging: since_seq and limit, next_since_seq, has_more.
history $j "limit=2"
is "$(lines | cut -d' ' -f1 | tr '\n' ' ')" "1 6 " "limit=2: the first two"
json_is '[.next_since_seq, .has_more]' '[6,true]' "next_since_seq is the last seq given; more there"
history $j "since_seq=6&limit=2"
is "$(lines | cut -d' ' -f1 | tr '\n' ' ')" "10 11 " "since_seq=6: the ones after"
history $j "since_seq=12"
json_is '[.snapshots, .next_since_seq, .has_more]' '[[],12,false]' "nothing after the last: empty, same seq"

# --- the throttle open: every progress write is kept ----------------------------
settings "min_interval = '0'"
k=hist-b-$$
post $k '{"seq": 1, "event": "start", "step": "optimization"}'
for i in 1 2 3 4 5 6 7 8 9; do
	post $k "{\"seq\": $((1 + i)), \"event\": \"update\", \"current_iteration\": $i}"
done
history $k
is "$(jq '.snapshots | length' "$BODY_FILE")" 10 "min_interval 0: every write kept"
json_is '[.snapshots[] | .seq] == ([.snapshots[] | .seq] | sort)' true "in seq order"

# Heartbeats and refused writes keep nothing.
before=$(sql "SELECT count(*) FROM progress_history WHERE job_id = '$k'")
sql "UPDATE training_progress SET heartbeat_at = now() WHERE job_id = '$k'" >/dev/null
post $k '{"seq": 3, "event": "update", "current_iteration": 99}'
is "$STATUS" 409 "a stale event is refused"
is "$(sql "SELECT count(*) FROM progress_history WHERE job_id = '$k'")" "$before" \
    "neither a heartbeat nor a refused write adds a snapshot"

# A cancel is a status change: kept, and the end it brings.
cancel() { http POST "$P/$(urlenc "$1")/cancel" -H "Authorization: Bearer $TOKEN"; }
cancel $k
is "$STATUS" 202 "cancel requested"
post $k '{"seq": 20, "event": "update", "current_iteration": 10}'
is "$STATUS" 409 "the next write finds it cancelled"
history $k "since_seq=9"
is "$(lines | cut -d' ' -f3 | tr '\n' ' ')" "cancelling cancelled " "cancelling, then cancelled, kept"

# --- retention by count: the newest max_per_job --------------------------------
settings "max_per_job = 10"
c=hist-c-$$
post $c '{"seq": 1, "event": "start", "step": "optimization"}'
for i in $(seq 1 14); do
	post $c "{\"seq\": $((1 + i)), \"event\": \"update\", \"current_iteration\": $i}"
done
history $c
json_is '[.snapshots[] | .seq]' '[6,7,8,9,10,11,12,13,14,15]' "max_per_job 10: the newest ten kept"
settings "max_per_job = 10000"

# --- retention by age: the pool's sweep ---------------------------------------
sql "UPDATE progress_history SET at = now() - interval '2 days' WHERE job_id = '$c' AND seq <= 8" >/dev/null
settings "max_age = '1 day'"
set_pool_setting history_prune_every 1s
ok reload_pool -- "history_prune_every = 1s applied"
aged() { history $c; [ "$(jq -c '[.snapshots[] | .seq][0]' "$BODY_FILE")" = 9 ]; }
ok wait_until 20 aged -- "snapshots older than max_age are deleted by the pool"
ok test "$(status_field .history_pruned)" -ge 3 -- "the status page counts them"
settings "max_age = '90 days'"
set_pool_setting history_prune_every 60s
reload_pool >/dev/null

# A job's history goes with the job.
sql "DELETE FROM training_progress WHERE job_id = '$c'" >/dev/null
is "$(sql "SELECT count(*) FROM progress_history WHERE job_id = '$c'")" 0 "deleting a job deletes its history"

# --- refusals --------------------------------------------------------------------
history no-such-job-$$
error_is 404 not_found "an unknown job"
post hist-empty-$$ '{"seq": 1, "event": "queue"}'
sql "DELETE FROM progress_history WHERE job_id = 'hist-empty-$$'" >/dev/null
history hist-empty-$$
json_is '[.snapshots, .next_since_seq, .has_more]' '[[],0,false]' "a job without snapshots: an empty page"
for q in "since_seq=-1" "limit=0" "limit=1001" "limit=x" "since_seq=1&since_seq=2" "cursor=abc"; do
	history $j "$q"
	error_is 400 invalid_query "?$q"
done
http GET "$P/%01/progress/history"
error_is 400 invalid_job_id "a bad job id"
http POST "$P/$j/progress/history"
error_is 405 method_not_allowed "POST"
is "$(header Allow)" "GET, HEAD" "Allow: GET, HEAD"
http_head "$P/$j/progress/history"
is "$STATUS" 200 "HEAD"
settings "min_interval = '1 second'"
