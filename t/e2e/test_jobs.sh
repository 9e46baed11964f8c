# test_jobs.sh: jobs over HTTP: publishing with tokens, cancellation, the
# dashboard's list, stalled jobs.  Every request goes through nginx.

main_stack || return 0
P=/api/v2/training/jobs
TOKEN=$TP_PUBLISH_TOKEN
super_url() { echo "postgresql://postgres@/trainprog?host=$(sed -n 's/^RT=//p' "$TP_STATE_DIR/stack.env")/pgsock"; }
admin() { "$E2E_BIN/tp-admin" --database-url "$(super_url)" "$@" 2>"$E2E_TMP/admin.err"; }
pub() { "$E2E_BIN/tp-publish" "$@" 2>"$E2E_TMP/pub.err"; }

# post JOB JSON [curl options]: publishes one event with the stack's token.
post() {
	local job=$1 body=$2
	shift 2
	http POST "$P/$(urlenc "$job")/progress" -H "Authorization: Bearer $TOKEN" \
	    -H 'Content-Type: application/json' --data-binary "$body" "$@"
}
# cancel JOB [TOKEN]
cancel() { http POST "$P/$(urlenc "$1")/cancel" -H "Authorization: Bearer ${2:-$TOKEN}"; }
# field_error_is FIELD WHAT: a 400 naming the field at fault.
field_error_is() {
	is "$STATUS" 400 "$2: status"
	json_is '[keys_unsorted, .error, .field, (.message | type)]' \
	    "[[\"error\",\"message\",\"field\"],\"invalid_field\",\"$1\",\"string\"]" "$2: names $1"
}

[ -n "$TOKEN" ] && pass "dev-stack env gives a publish token" || fail "dev-stack env gives a publish token"
case $("$DEV_STACK" env) in
*"export TP_PUBLISH_TOKEN='tp_"*) pass "as TP_PUBLISH_TOKEN=..." ;;
*) fail "as TP_PUBLISH_TOKEN=..." "$("$DEV_STACK" env)" ;;
esac
is "$(stat -c %a "$TP_STATE_DIR/publish-token")" 600 "the stack keeps it in a file only its owner reads"

# --- the spec's lifecycle over HTTP ---------------------------------------------

FIX=$E2E_ROOT/t/e2e/fixtures
matches() {
	jq -e -n --slurpfile d "$BODY_FILE" --slurpfile f "$FIX/$1" \
	    '$f[0] | to_entries | map(select(.key != "estimated_completion" and .key != "job_id"))
	     | all(. as $e | $d[0][$e.key] == $e.value)' >/dev/null
}
j=http-lifecycle-$$
post $j '{"seq": 1, "event": "start", "step": "data_collection", "step_details": {"symbol": "BTC/USDT", "exchange": "binanceus", "timeframe": "5m", "lookback_days": 90}}'
is "$STATUS" 200 "start: 200"
json_is '[.job_id, .status, .seq, .current_step, .percentage]' "[\"$j\",\"running\",1,\"Data Collection\",0]" \
    "start: the new document comes back"
post $j '{"seq": 2, "event": "update", "step_percentage": 50}'
ok matches lifecycle-1.json -- "the spec's Data Collection document"
post $j '{"seq": 3, "event": "start", "step": "optimization", "step_details": {"optimizer": "bayesian", "n_calls": 50}}'
post $j '{"seq": 4, "event": "update", "step_percentage": 60, "current_iteration": 30, "total_iterations": 50, "best_score": 1.85, "current_score": 1.42, "best_params": {"pierce_depth": 0.15, "volume_spike_threshold": 2.5}}'
is "$STATUS" 200 "update with every field: 200"
ok matches lifecycle-2.json -- "the spec's Optimization document (but the ETA)"
http GET $P/$j/progress
ok matches lifecycle-2.json -- "and GET agrees"
# The ETA needs the step to have run a while (2 s): keep updating until it shows.
seq_n=4
eta_appears() {
	seq_n=$((seq_n + 1))
	post $j "{\"seq\": $seq_n, \"event\": \"update\", \"step_percentage\": 61}"
	[ "$(jq -r .estimated_completion "$BODY_FILE")" != null ]
}
ok wait_until 15 eta_appears -- "an ETA from the step's pace once it has run a while"
json_is '.estimated_completion > .updated_at' true "the ETA is after updated_at"
post $j "{\"seq\": $((seq_n + 1)), \"event\": \"start\", \"step\": \"validation\"}"
post $j "{\"seq\": $((seq_n + 2)), \"event\": \"start\", \"step\": \"save_configuration\"}"
seq_n=$((seq_n + 1))
post $j "{\"seq\": $((seq_n + 2)), \"event\": \"update\", \"best_params\": {\"pierce_depth\": 0.15, \"volume_spike_threshold\": 2.5, \"reversal_candles\": 3}}"
post $j "{\"seq\": $((seq_n + 3)), \"event\": \"complete\"}"
is "$STATUS" 200 "complete: 200"
ok matches lifecycle-4.json -- "the spec's Complete document"
json_is '[.status, .is_complete, .estimated_completion]' '["completed",true,null]' "complete: completed, no ETA"
post $j "{\"seq\": $((seq_n + 3)), \"event\": \"complete\"}"
json_is '[.status, .seq]' "[\"completed\",$((seq_n + 3))]" "a retried event (same seq) answers 200 with the job as it is"
is "$STATUS" 200 "a retried event: 200"
post $j "{\"seq\": $((seq_n + 4)), \"event\": \"update\", \"step_percentage\": 1}"
error_is 409 job_finished "a write after complete"

f=http-fail-$$
post $f '{"seq": 1, "event": "start", "step": "optimization"}'
post $f '{"seq": 2, "event": "error", "error_message": "Optimization failed: NaN in scores"}'
json_is '[.status, .is_complete, .error_message, .current_step]' \
    '["failed",true,"Optimization failed: NaN in scores","Optimization"]' "error: failed, with its message"
post $f '{"seq": 3, "event": "complete"}'
error_is 409 job_finished "complete after error"

q=http-queue-$$
post $q '{"seq": 1, "event": "queue"}'
json_is '[.status, .percentage, .is_complete]' '["queued",0,false]' "queue: a queued job"
post $q '{"seq": 2, "event": "start", "step": "data_collection"}'
json_is .status '"running"' "start after queue: running"
post $q '{"seq": 3, "event": "queue"}'
error_is 409 invalid_state "queue after start"
post $q '{"seq": 4, "event": "start", "step": "data_collection"}'
error_is 409 invalid_state "a step that goes backwards"
post $q '{"seq": 1, "event": "update", "step_percentage": 10}'
is "$STATUS" 409 "a stale seq: 409"
json_is '[.error, .field]' '["stale_seq","seq"]' "a stale seq: stale_seq, naming seq"
post http-never-$$ '{"seq": 1, "event": "update", "step_percentage": 10}'
error_is 409 invalid_state "an update before any start"
http GET $P/http-never-$$/progress
is "$STATUS" 404 "and it created nothing"

# --- 400: every field checked, and named --------------------------------------------

v=http-valid-$$
post $v '{"seq": 1, "event": "start", "step": "optimization"}'
bad() {
	local field=$1 body=$2
	post $v "$body"
	field_error_is "$field" "$3"
}
bad seq '{"event": "update"}' "no seq"
bad seq '{"seq": 0, "event": "update"}' "seq 0"
bad seq '{"seq": -5, "event": "update"}' "a negative seq"
bad seq '{"seq": 2.5, "event": "update"}' "a fractional seq"
bad seq '{"seq": 1e3, "event": "update"}' "a seq with an exponent"
bad seq '{"seq": "7", "event": "update"}' "a seq as a string"
bad seq '{"seq": 9007199254740992, "event": "update"}' "a seq above 2^53-1"
bad event '{"seq": 5}' "no event"
bad event '{"seq": 5, "event": "pause"}' "an unknown event"
bad event '{"seq": 5, "event": 3}' "an event that is not a string"
bad step '{"seq": 5, "event": "start"}' "start without a step"
bad step '{"seq": 5, "event": "start", "step": "training"}' "an unknown step"
bad step_details '{"seq": 5, "event": "start", "step": "validation", "step_details": [1]}' "step_details not an object"
bad step_details '{"seq": 5, "event": "start", "step": "validation", "step_details": "{}"}' "step_details as a string"
bad step_details '{"seq": 5, "event": "update", "step_details": {"a": "\u0000"}}' "step_details with \\u0000"
bad step_percentage '{"seq": 5, "event": "update", "step_percentage": 100.5}' "step_percentage above 100"
bad step_percentage '{"seq": 5, "event": "update", "step_percentage": -1}' "a negative step_percentage"
bad step_percentage '{"seq": 5, "event": "update", "step_percentage": "50"}' "step_percentage as a string"
bad current_iteration '{"seq": 5, "event": "update", "current_iteration": -1}' "a negative iteration"
bad current_iteration '{"seq": 5, "event": "update", "current_iteration": 1.5}' "a fractional iteration"
bad total_iterations '{"seq": 5, "event": "update", "total_iterations": 2147483648}' "total_iterations beyond int32"
bad best_score '{"seq": 5, "event": "update", "best_score": 1e400}' "a best_score out of range"
bad current_score '{"seq": 5, "event": "update", "current_score": true}' "current_score as a boolean"
bad best_params '{"seq": 5, "event": "update", "best_params": 3}' "best_params not an object"
bad error_message '{"seq": 5, "event": "error"}' "error without a message"
bad error_message '{"seq": 5, "event": "error", "error_message": ""}' "an empty error_message"
bad error_message '{"seq": 5, "event": "error", "error_message": "a\u0000b"}' "an error_message with \\u0000"
bad step '{"seq": 5, "event": "update", "step": "validation"}' "a field of another event"
bad error_message '{"seq": 5, "event": "complete", "error_message": "x"}' "complete with an error_message"
bad percentage '{"seq": 5, "event": "update", "percentage": 50}' "an unknown field (percentage is computed)"
bad seq '{"seq": 5, "seq": 6, "event": "update"}' "a field given twice"
for body in 'not json' '{"seq": 5,' '[1, 2]' '"x"' '{"seq": 5, "event": "update"} extra' ''; do
	post $v "$body"
	error_is 400 invalid_body "a body that is not one JSON object: '$body'"
done
post $v "$(printf '{"seq": 5, "event": "error", "error_message": "\xff\xfe"}')"
error_is 400 invalid_body "a body that is not UTF-8"
post $v '{"seq": 5, "event": "update", "best_params": {"a": "\udc00"}}'
error_is 400 invalid_body "half a surrogate pair"
post $v '{"seq": 5, "event": "update", "step_percentage": null, "best_params": null}'
is "$STATUS" 200 "null counts as not given"
http GET $P/$v/progress
json_is '[.seq, .step_percentage, .best_params]' '[5,0,null]' "and nothing invalid was ever stored"
post $v '{"seq": 6, "event": "update"}' -H 'Content-Type: application/json; charset=utf-8'
is "$STATUS" 200 "application/json with a charset is JSON"

# --- 401, 403, 404, 405, 413, 415 ----------------------------------------------------

http POST $P/$v/progress -H 'Content-Type: application/json' --data-binary '{"seq": 9, "event": "update"}'
error_is 401 unauthorized "no token"
case $(header WWW-Authenticate) in Bearer*) pass "401 says Bearer" ;; *) fail "401 says Bearer" "$(header WWW-Authenticate)" ;; esac
for t in "Basic dXNlcjpwYXNz" "Bearer" "Bearer nope" "Bearer tp_000000000000_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
    "Bearer ${TOKEN%?}x" "Bearer ${TOKEN}x"; do
	http POST $P/$v/progress -H "Authorization: $t" -H 'Content-Type: application/json' \
	    --data-binary '{"seq": 9, "event": "update"}'
	error_is 401 invalid_token "a token that is not one of ours: ${t:0:30}"
done
read_token=$(admin token create --scope read --name e2e-read)
is "$?" 0 "tp-admin creates a read token"
http POST $P/$v/progress -H "Authorization: Bearer $read_token" -H 'Content-Type: application/json' \
    --data-binary '{"seq": 9, "event": "update"}'
error_is 403 forbidden "a token without the publish scope"
cancel $v "$read_token"
error_is 403 forbidden "a token without the cancel scope"
pub_token=$(admin token create --scope publish)
cancel $v "$pub_token"
error_is 403 forbidden "publish does not imply cancel"

http POST $P/$v/progress -H "Authorization: Bearer $TOKEN" -H 'Content-Type: text/plain' \
    --data-binary '{"seq": 9, "event": "update"}'
error_is 415 unsupported_media_type "a text/plain body"
http POST $P/$v/progress -H "Authorization: Bearer $TOKEN" --data-binary '{"seq": 9, "event": "update"}' \
    -H 'Content-Type:'
error_is 415 unsupported_media_type "no Content-Type"
head -c 70000 /dev/zero | tr '\0' ' ' >"$E2E_TMP/big.json"
http POST $P/$v/progress -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    --data-binary @"$E2E_TMP/big.json"
error_is 413 payload_too_large "a body over 64 KiB"
{ printf '{"seq": 9, "event": "update", "best_params": {"k": "'; head -c 60000 /dev/zero | tr '\0' x; printf '"}}'; } >"$E2E_TMP/fits.json"
http POST $P/$v/progress -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    --data-binary @"$E2E_TMP/fits.json"
is "$STATUS" 200 "a 60 KB event fits"
json_is '.best_params.k | length' 60000 "and comes back whole"

cancel http-no-such-job-$$
error_is 404 not_found "cancel of an unknown job"
http GET $P/$v/cancel
error_is 405 method_not_allowed "GET on cancel"
is "$(header Allow)" POST "GET on cancel: Allow: POST"
post "$(printf 'bad\001id')" '{"seq": 1, "event": "queue"}'
error_is 400 invalid_job_id "POST with a job id holding a control character"

# --- tokens: created, listed, used, revoked ---------------------------------------------

tok=$(admin token create --scope publish,cancel --name "e2e lifecycle")
is "$?" 0 "token create: exit 0"
case $tok in tp_[0-9a-f]*_*) pass "token create prints the token" ;; *) fail "token create prints the token" "$tok" ;; esac
is "$(printf '%s\n' "$tok" | wc -l)" 1 "and only the token, on one line"
tid=$(echo "$tok" | cut -c4-15)
secret=$(echo "$tok" | cut -c17-)
is "$(sql "SELECT encode(secret_sha256, 'hex') FROM api_tokens WHERE token_id = '$tid'")" \
    "$(printf '%s' "$secret" | sha256sum | cut -d' ' -f1)" "only the SHA-256 of the secret is stored"
is "$(sql "SELECT count(*) FROM api_tokens WHERE position('$secret' IN name || array_to_string(scopes, '') || encode(secret_sha256, 'escape')) > 0")" \
    0 "the secret itself is stored nowhere"
out=$(admin token list)
case $out in *"$tid"*"publish,cancel"*"e2e lifecycle"*) pass "token list shows it" ;; *) fail "token list shows it" "$out" ;; esac
case $out in *"$secret"*) fail "token list never shows a secret" ;; *) pass "token list never shows a secret" ;; esac
TOKEN=$tok post http-tok-$$ '{"seq": 1, "event": "queue"}'
is "$STATUS" 200 "the new token publishes"
admin token revoke "$tid"
is "$?" 0 "token revoke: exit 0"
TOKEN=$tok post http-tok-$$ '{"seq": 2, "event": "start", "step": "validation"}'
error_is 401 invalid_token "a revoked token is refused at once"
out=$(admin token list)
case $out in *"$tid"*Z*Z*) pass "token list shows when it was revoked" ;; *) fail "token list shows when it was revoked" "$out" ;; esac
admin token revoke 0123456789ab
is "$?" 3 "revoking an unknown token: exit 3"
admin token create --scope everything >/dev/null
is "$?" 2 "an unknown scope: exit 2"
grep -q "unknown scope" "$E2E_TMP/admin.err" && pass "and says so" || fail "and says so" "$(cat "$E2E_TMP/admin.err")"
admin token create >/dev/null
is "$?" 2 "no scope: exit 2"
admin token frobnicate >/dev/null
is "$?" 2 "an unknown command: exit 2"
"$E2E_BIN/tp-admin" --database-url "postgresql://postgres@/nosuchdb?host=/nonexistent" token list >/dev/null 2>&1
is "$?" 1 "an unreachable database: exit 1"

# --- cancellation ----------------------------------------------------------------------

c=http-cancel-$$
post $c '{"seq": 1, "event": "start", "step": "optimization"}'
post $c '{"seq": 2, "event": "update", "step_percentage": 40}'
cancel $c
is "$STATUS" 202 "cancel of a running job: 202"
json_is '[.status, .is_complete, .job_id]' "[\"cancelling\",false,\"$c\"]" "the job is cancelling"
cancel $c
is "$STATUS" 202 "cancel again: still 202 (nothing changes)"
post $c '{"seq": 3, "event": "update", "step_percentage": 50}'
error_is 409 job_cancelled "the trainer's next write is told to stop"
http GET $P/$c/progress
json_is '[.status, .is_complete, .error_message]' '["cancelled",true,"cancelled by request"]' \
    "the final state is cancelled, and says why"
cancel $c
error_is 409 job_finished "cancel of a cancelled job"
post $c '{"seq": 4, "event": "complete"}'
error_is 409 job_cancelled "complete after the cancel"

cq=http-cancel-queued-$$
post $cq '{"seq": 1, "event": "queue"}'
cancel $cq
is "$STATUS" 202 "cancel of a queued job: 202"
json_is '[.status, .is_complete]' '["cancelled",true]' "a queued job is cancelled at once"
post $cq '{"seq": 2, "event": "start", "step": "data_collection"}'
error_is 409 job_cancelled "and its trainer cannot start it"

cd_=http-cancel-done-$$
post $cd_ '{"seq": 1, "event": "complete"}'
cancel $cd_
error_is 409 job_finished "cancel of a completed job"

# tp-publish (the tracker) sees the cancel and exits 4.
tc=cli-cancel-$$
pub --job $tc start optimization
cancel $tc
pub --job $tc update --step-pct 30
is "$?" 4 "tp-publish exits 4 when the job was cancelled"
grep -q cancel "$E2E_TMP/pub.err" && pass "and says so" || fail "and says so" "$(cat "$E2E_TMP/pub.err")"
pub --job $tc complete
is "$?" 4 "complete after the cancel: exit 4 too"
http GET $P/$tc/progress
json_is .status '"cancelled"' "the job reads cancelled"

# The race: a cancel and a completion at the same moment, many times.  One
# row lock orders them: the cancel is accepted (202) exactly when the job
# ends cancelled and the completion is refused; otherwise the cancel is
# refused (409) and the job ends completed.
race() {
	local via=$1 n=$2 i id cs ps final delay pdelay bad=0 cancelled=0 completed=0
	for ((i = 0; i < n; i++)); do
		id=race-$via-$$-$i
		if [ "$via" = http ]; then
			post $id '{"seq": 1, "event": "start", "step": "save_configuration"}'
		else
			pub --job $id start save_configuration
		fi
		# Random head starts, so that either may win: up to 10 ms each
		# over HTTP; for the cancel, up to 40 ms against tp-publish, which
		# takes longer than curl to get going.
		delay=$(awk -v r=$RANDOM -v m=$([ "$via" = http ] && echo 10 || echo 40) \
		    'BEGIN { printf "%.3f", (r % m) / 1000 }')
		pdelay=$(awk -v r=$RANDOM 'BEGIN { printf "%.3f", (r % 10) / 1000 }')
		( sleep "$delay"; curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
		    "$TP_BASE_URL$P/$id/cancel" >"$E2E_TMP/race.c" ) &
		if [ "$via" = http ]; then
			( sleep "$pdelay"; curl -s -o "$E2E_TMP/race.pb" -w '%{http_code}' -X POST \
			    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
			    --data-binary '{"seq": 2, "event": "complete"}' \
			    "$TP_BASE_URL$P/$id/progress" >"$E2E_TMP/race.p" ) &
		else
			( "$E2E_BIN/tp-publish" --job $id complete 2>/dev/null; echo $? >"$E2E_TMP/race.p" ) &
		fi
		wait
		cs=$(cat "$E2E_TMP/race.c")
		ps=$(cat "$E2E_TMP/race.p")
		final=$(curl -s "$TP_BASE_URL$P/$id/progress" | jq -r '[.status, .is_complete] | join(" ")')
		case "$via $cs $ps $final" in
		"http 202 409 cancelled true" | "cli 202 4 cancelled true") cancelled=$((cancelled + 1)) ;;
		"http 409 200 completed true" | "cli 409 0 completed true") completed=$((completed + 1)) ;;
		*) bad=$((bad + 1)); echo "# race $id: cancel $cs, complete $ps, final $final" ;;
		esac
	done
	is "$bad" 0 "$via: $n races of cancel and complete: each ends in exactly one terminal state ($cancelled cancelled, $completed completed)"
}
race http 60
race cli 40

# --- SQL metacharacters, in every string field, stored and returned verbatim --------------

nasty_text="Robert'); DROP TABLE training_progress;-- \"q\" \\ \\u0041 \$1 %s \$\$x\$\$ é ☃ 😀 {} [] ; --"
id="meta'; DELETE FROM api_tokens;--$$"
ev=$(jq -cn --arg s "$nasty_text" '{seq: 1, event: "start", step: "optimization", step_details: {($s): $s, nested: {list: [$s]}}}')
post "$id" "$ev"
is "$STATUS" 200 "an event full of SQL metacharacters: 200"
json_is '[.job_id, (.step_details | to_entries | map(select(.key != "nested"))[0] | [.key, .value]), .step_details.nested.list[0]]' \
    "$(jq -cn --arg id "$id" --arg s "$nasty_text" '[$id, [$s, $s], $s]')" "step_details keys and values verbatim"
ev=$(jq -cn --arg s "$nasty_text" '{seq: 2, event: "update", step_percentage: 10, best_params: {($s): $s}}')
post "$id" "$ev"
json_is '.best_params | to_entries[0] | [.key, .value]' "$(jq -cn --arg s "$nasty_text" '[$s, $s]')" "best_params verbatim"
ev=$(jq -cn --arg s "$nasty_text" '{seq: 3, event: "error", error_message: $s}')
post "$id" "$ev"
json_is .error_message "$(jq -cn --arg s "$nasty_text" '$s')" "error_message verbatim"
http GET "$P/$(urlenc "$id")/progress"
json_is '[.job_id, .error_message]' "$(jq -cn --arg id "$id" --arg s "$nasty_text" '[$id, $s]')" "and GET returns them verbatim"
is "$(sql "SELECT count(*) > 0 FROM api_tokens")|$(sql "SELECT count(*) > 0 FROM training_progress")" "t|t" \
    "every table survived"
pub --job "$id-cli" error "$nasty_text"
http GET "$P/$(urlenc "$id-cli")/progress"
json_is .error_message "$(jq -cn --arg s "$nasty_text" '$s')" "tp-publish stores them verbatim too"

# --- the dashboard's list ----------------------------------------------------------------

http GET "$P?limit=200"
is "$STATUS" 200 "the list: 200"
json_is '[keys_unsorted, (.jobs[0] | keys_unsorted)]' \
    '[["jobs","next_cursor","counts"],["job_id","status","percentage","current_step","step_number","best_score","updated_at","estimated_completion"]]' \
    "the list: jobs, next_cursor, counts; compact items"
counts_match() {
	http GET "$P?limit=1"
	[ "$(jq -c '.counts' "$BODY_FILE")" = \
	  "$(sql "SELECT json_build_object('queued', count(*) FILTER (WHERE status = 'queued'), 'running', count(*) FILTER (WHERE status = 'running' AND heartbeat_at >= now() - interval '60 seconds'), 'stalled', count(*) FILTER (WHERE status = 'running' AND heartbeat_at < now() - interval '60 seconds'), 'cancelling', count(*) FILTER (WHERE status = 'cancelling'), 'cancelled', count(*) FILTER (WHERE status = 'cancelled'), 'completed', count(*) FILTER (WHERE status = 'completed'), 'failed', count(*) FILTER (WHERE status = 'failed'), 'total', count(*)) FROM training_progress" | jq -c .)" ]
}
# (a job may turn stalled between the two reads: read again if so)
ok wait_until 5 counts_match -- "the counts agree with the table"
http GET "$P?limit=200"
json_is '[.jobs[] | select(.job_id == "'"$c"'") | .status]' '["cancelled"]' "a cancelled job is listed as such"
http GET "$P?status=cancelled,failed&limit=200"
json_is '[.jobs[].status] | unique' '["cancelled","failed"]' "status=cancelled,failed lists only those"
http GET "$P?active=true&limit=200"
json_is '[.jobs[].status] | unique - ["queued","running","stalled","cancelling"]' '[]' "active=true lists only unfinished jobs"
http GET "$P?active=false&limit=200"
json_is '[.jobs[].status] | unique - ["cancelled","completed","failed"]' '[]' "active=false lists only finished jobs"
http GET "$P?active=true&status=completed"
json_is '.jobs' '[]' "active=true&status=completed: nothing"
http_head "$P"
is "$STATUS" 200 "HEAD on the list: 200, no body"
for qs in "limit=0" "limit=201" "limit=x" "status=paused" "status=" "active=yes" "cursor=!!" "cursor=YWJj" "color=red" "limit=5&limit=6"; do
	http GET "$P?$qs"
	error_is 400 invalid_query "the list refuses ?$qs"
done

# --- a stack of its own: stalled jobs, pages, settings, outages --------------------------

TP_STALL_SECONDS=2 stack_up jobs || { fail "a stack with TP_STALL_SECONDS=2 starts"; return 0; }
TOKEN=$TP_PUBLISH_TOKEN
is "$(sed -n 's/^stall_after = //p' "$TP_STATE_DIR/tp-fcgi.conf")" 2s "TP_STALL_SECONDS becomes the pool's stall_after"

s=stall-$$
post $s '{"seq": 1, "event": "start", "step": "optimization"}'
json_is .status '"running"' "a job just written to reads running"
reads_stalled() { http GET $P/$s/progress; [ "$(jq -r .status "$BODY_FILE")" = stalled ]; }
ok wait_until 15 reads_stalled -- "silent for stall_after, it reads stalled"
json_is .is_complete false "a stalled job is not finished"
http GET "$P?status=stalled"
json_is "[.jobs[].job_id] | index(\"$s\") != null" true "the list finds it under status=stalled"
json_is '.counts.stalled >= 1' true "and counts it"
http GET "$P?status=running"
json_is "[.jobs[].job_id] | index(\"$s\")" null "and not under status=running"
http GET "$P?active=true"
json_is "[.jobs[] | select(.job_id == \"$s\") | .status]" '["stalled"]' "active=true includes stalled jobs"
post $s '{"seq": 2, "event": "update", "step_percentage": 10}'
json_is .status '"running"' "a write brings it back to running"
http GET "$P?status=running"
json_is "[.jobs[].job_id] | index(\"$s\") != null" true "and the list agrees"

# A stalled job has nobody to finish a cancel: it is cancelled at once.
sc=stall-cancel-$$
post $sc '{"seq": 1, "event": "start", "step": "optimization"}'
sc_stalled() { http GET $P/$sc/progress; [ "$(jq -r .status "$BODY_FILE")" = stalled ]; }
ok wait_until 15 sc_stalled -- "another job goes stalled"
cancel $sc
is "$STATUS" 202 "cancel of a stalled job: 202"
json_is '[.status, .is_complete, .error_message]' '["cancelled",true,"cancelled by request"]' \
    "a stalled job is cancelled at once"

# A job being cancelled whose trainer is gone is finished by the next cancel
# once it has been silent for stall_after.
g=gone-$$
post $g '{"seq": 1, "event": "start", "step": "validation"}'
cancel $g
json_is .status '"cancelling"' "cancel of a job whose trainer is gone: cancelling"
cancel_finishes() { cancel $g; [ "$STATUS" = 202 ] && [ "$(jq -r .status "$BODY_FILE")" = cancelled ]; }
ok wait_until 15 cancel_finishes -- "after stall_after, cancelling it again finishes it as cancelled"

# The counts cost what the live jobs cost, however many jobs have stalled:
# PostgreSQL runs the very statement the pool prepares (t/tools/store-sql),
# and says how many rows of training_progress it read.
counts_sql=$("$(tools_dir)/store-sql" jobs_counts)
rows_read() {
	"$DEV_STACK" psql -q -tA -v ON_ERROR_STOP=1 <<SQL | jq '[.. | objects | select(.["Relation Name"]? == "training_progress") | .["Actual Rows"] * .["Actual Loops"] + (.["Heap Fetches"] // 0)] | add'
PREPARE counts(float8) AS $counts_sql;
EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE counts(2);
SQL
}
# Rows written past the triggers (the counts table is told by hand): fast.
add_stalled() {
	sql "SET session_replication_role = replica;
	     INSERT INTO training_progress (job_id, current_step, status, heartbeat_at)
	         SELECT 'cost-$1-' || g, 'Optimization', 'running', now() - interval '2 hours'
	         FROM generate_series(1, $2) g;
	     INSERT INTO job_status_counts (status, n) VALUES ('running', $2)" >/dev/null
}
# (A live job too, heard from "in an hour", so that the count has something
# to read however long the inserts take.)
sql "INSERT INTO training_progress (job_id, current_step, heartbeat_at)
     VALUES ('live-$$', 'Optimization', now() + interval '1 hour')" >/dev/null
add_stalled a 1000
few=$(rows_read)
add_stalled b 200000
sql "ANALYZE training_progress" >/dev/null
many=$(rows_read)
# Jobs only turn stalled as time passes: never more live rows to read later.
reads_only_live() { [ "$few" -ge 1 ] && [ "$few" -lt 1000 ] && [ "$many" -le "$few" ]; }
ok reads_only_live -- "counting stalled jobs reads the live ones only: $few rows with 1,000 stalled, $many with 201,000"
http GET "$P?limit=1"
json_is .counts.stalled "$(sql "SELECT count(*) FROM training_progress WHERE status = 'running' AND heartbeat_at < now() - interval '2 seconds'")" \
    "and the list counts them all"
json_is .counts.running "$(sql "SELECT count(*) FROM training_progress WHERE status = 'running' AND heartbeat_at >= now() - interval '2 seconds'")" \
    "and the live ones apart"
sql "SET session_replication_role = replica;
     DELETE FROM training_progress WHERE job_id LIKE 'cost-%';
     INSERT INTO job_status_counts (status, n) VALUES ('running', -201000)" >/dev/null
sql "DELETE FROM training_progress WHERE job_id = 'live-$$'" >/dev/null

# stall_fail_after: a job silent that long is given up, by the pool itself.
set_pool_setting stall_fail_after 4s
reload_pool
x=expire-$$
post $x '{"seq": 1, "event": "start", "step": "optimization"}'
xc=expire-cancel-$$
post $xc '{"seq": 1, "event": "start", "step": "validation"}'
cancel $xc
expired_x() { http GET $P/$x/progress; [ "$(jq -r .status "$BODY_FILE")" = failed ]; }
ok wait_until 20 expired_x -- "a job silent for stall_fail_after is given up: failed"
json_is '[.is_complete, .error_message]' \
    '[true,"no progress or heartbeat from the job for 4 s: given up as failed (stall_fail_after)"]' \
    "finished, and the message says why"
# (It was written a moment after the first: it may be given up a sweep later.)
expired_xc() { http GET $P/$xc/progress; [ "$(jq -r .status "$BODY_FILE")" = cancelled ]; }
wait_until 10 expired_xc
json_is '[.status, .error_message]' '["cancelled","cancelled by request"]' "one being cancelled ends cancelled"
post $x '{"seq": 2, "event": "update", "step_percentage": 50}'
error_is 409 job_finished "its trainer, back too late, is told the job has finished"
ok test "$(status_field .expired_jobs)" -ge 2 -- "the status page counts the jobs given up"
ok grep -q "event=jobs_expired" "$TP_STATE_DIR/logs/tp-fcgi.log" -- "and the log says so"
out=$("$E2E_BIN/tp-fcgi" -t --stall-after=60s --stall-fail-after=30s 2>&1)
case "$?:$out" in 1:*"stall_fail_after (30000ms) must be 0 (never) or longer than stall_after"*) pass "-t: stall_fail_after must exceed stall_after" ;;
*) fail "-t: stall_fail_after must exceed stall_after" "$out" ;; esac
sed -i '/^stall_fail_after = /d' "$TP_STATE_DIR/tp-fcgi.conf"
reload_pool
# (The job the tests below write to was given up too: they take a new one.)
s=after-expiry-$$
post $s '{"seq": 2, "event": "start", "step": "optimization"}'

# Pages: newest activity first, ties by job_id, a cursor that holds across inserts.
sql "INSERT INTO training_progress (job_id, current_step, is_complete, heartbeat_at)
     SELECT 'page-' || lpad(g::text, 3, '0'), 'Complete', true,
            now() - interval '1 hour' - (g / 3) * interval '1 second'
     FROM generate_series(1, 73) g" >/dev/null
want=$(sql "SELECT string_agg(job_id, ' ' ORDER BY heartbeat_at DESC, job_id DESC) FROM training_progress WHERE job_id LIKE 'page-%'")
got= cursor= pages=0 n=0
while :; do
	http GET "$P?status=completed&limit=7${cursor:+&cursor=$cursor}"
	[ "$STATUS" = 200 ] || break
	got+=" $(jq -r '[.jobs[].job_id | select(startswith("page-"))] | join(" ")' "$BODY_FILE")"
	cursor=$(jq -r '.next_cursor // empty' "$BODY_FILE")
	pages=$((pages + 1))
	# Jobs created while paging are newer than the cursor: later pages do not shift.
	n=$((n + 1))
	post "page-new-$n" '{"seq": 1, "event": "complete"}'
	[ -n "$cursor" ] || break
	[ $pages -lt 50 ] || break
done
got=$(echo $got)
is "$got" "$want" "73 jobs paged 7 at a time across inserts: each once, in order"
is "$pages" 11 "in 11 pages, the last without next_cursor"
http GET "$P?status=completed"
json_is '.jobs | length' 50 "the default limit is 50"
http GET "$P?status=completed&limit=200"
json_is '[(.jobs | length), (.next_cursor == null)]' \
    "[$(sql "SELECT least(count(*), 200) FROM training_progress WHERE status = 'completed'"),true]" \
    "limit=200 returns up to 200"

# Without database_write_url the API is read-only.
cp "$TP_STATE_DIR/tp-fcgi.conf" "$E2E_TMP/jobs-pool.conf"
sed -i '/^database_write_url = /d' "$TP_STATE_DIR/tp-fcgi.conf"
reload_pool
post $s '{"seq": 3, "event": "update"}'
error_is 403 writes_disabled "no database_write_url: publishing is refused"
cancel $s
error_is 403 writes_disabled "and so is cancelling"
http GET $P/$s/progress
is "$STATUS" 200 "reads go on"

# read_token_required: reads need a token with the read scope.
cp "$E2E_TMP/jobs-pool.conf" "$TP_STATE_DIR/tp-fcgi.conf"
set_pool_setting read_token_required yes
reload_pool
http GET $P/$s/progress
error_is 401 unauthorized "read_token_required: a GET without a token"
http GET "$P"
error_is 401 unauthorized "read_token_required: the list without a token"
http GET $P/$s/progress -H "Authorization: Bearer $TOKEN"
error_is 403 forbidden "a token without the read scope"
rt=$(admin token create --scope read)
http GET $P/$s/progress -H "Authorization: Bearer $rt"
is "$STATUS" 200 "a read token reads"
http GET "$P" -H "Authorization: Bearer $rt"
is "$STATUS" 200 "and lists"
post $s '{"seq": 3, "event": "update"}'
is "$STATUS" 200 "publishing is unchanged"
cp "$E2E_TMP/jobs-pool.conf" "$TP_STATE_DIR/tp-fcgi.conf"
reload_pool

# The database away: 503 with Retry-After, for writes and the list alike.
"$DEV_STACK" db-stop >/dev/null
post $s '{"seq": 4, "event": "update"}'
error_is 503 database_unavailable "publishing while the database is down"
[ -n "$(header Retry-After)" ] && pass "with Retry-After" || fail "with Retry-After"
cancel $s
error_is 503 database_unavailable "cancelling while the database is down"
http GET "$P"
error_is 503 database_unavailable "the list while the database is down"
"$DEV_STACK" db-start >/dev/null
writes_again() { post $s '{"seq": 4, "event": "update", "step_percentage": 20}'; [ "$STATUS" = 200 ]; }
ok wait_until 10 writes_again -- "writes resume by themselves once it is back"
stack_down jobs
stack_use main
