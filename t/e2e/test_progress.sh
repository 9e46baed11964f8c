# test_progress.sh: GET/HEAD /api/v2/training/jobs/{job_id}/progress, the 200s.

main_stack || return 0
P=/api/v2/training/jobs

# The spec's example response, stored as a row, comes back equal (as JSON).
"$DEV_STACK" psql -q -v ON_ERROR_STOP=1 -c "DELETE FROM training_progress WHERE job_id = 'abc123-def456'" \
    -f "$E2E_ROOT/deploy/demo/spec-example.sql" >/dev/null
http GET $P/abc123-def456/progress
is "$STATUS" 200 "spec example: 200"
# The spec's 17 fields, then the additions (status, seq) after them.
is "$(jq -S 'del(.status, .seq)' "$BODY_FILE")" "$(jq -S . "$E2E_ROOT/t/e2e/fixtures/spec-example.json")" \
    "spec example: the document equals the spec's example response (plus status and seq)"
is "$(jq -c keys_unsorted "$BODY_FILE")" "$(jq -c 'keys_unsorted + ["status", "seq"]' "$E2E_ROOT/t/e2e/fixtures/spec-example.json")" \
    "spec example: fields in the spec's order, the additions last"
json_is '[.status, .seq]' '["running",1]' "spec example: status and seq"
is "$(header Content-Type)" application/json "Content-Type: application/json"
is "$(header Cache-Control)" no-cache "Cache-Control: no-cache"
json_is '[.step_details, .best_params] | map(type)' '["object","object"]' \
    "step_details and best_params are objects, not strings"
length=$(header Content-Length)
is "$length" "$(stat -c %s "$BODY_FILE")" "Content-Length matches the body"

http_head $P/abc123-def456/progress
is "$STATUS" 200 "HEAD: 200"
is "$(header Content-Length)" "$length" "HEAD: same Content-Length as GET"
is "$(stat -c %s "$BODY_FILE")" 0 "HEAD: no body"

# A fresh row: every field present, null where unknown, timestamps in UTC.
put_row fresh-job "started_at='2026-01-02 03:04:05.678901+02'" "updated_at='2026-01-02T01:04:05Z'"
http GET $P/fresh-job/progress
is "$STATUS" 200 "minimal row: 200"
json_is '[(keys_unsorted | length), (to_entries | map(select(.value == null)) | map(.key))]' \
    '[19,["step_details","estimated_completion","current_iteration","total_iterations","best_score","current_score","best_params","error_message"]]' \
    "minimal row: all 17 fields and the 2 additions, the unknown ones null"
json_is '[.percentage, .step_number, .total_steps, .step_percentage, .is_complete]' \
    '[0,1,4,0,false]' "minimal row: the schema's defaults"
json_is .started_at '"2026-01-02T01:04:05.678901Z"' "timestamps are RFC 3339 in UTC with Z (microseconds kept)"
json_is .updated_at '"2026-01-02T01:04:05Z"' "whole seconds have no fraction"

# A finished job and a failed one.
put_row done-job "percentage=100" "current_step='Complete'" "step_number=4" \
    "step_percentage=100" "is_complete=true" "best_score=1.85" "best_params='{\"pierce_depth\": 0.15}'"
http GET $P/done-job/progress
json_is '[.percentage, .current_step, .step_number, .step_percentage, .is_complete, .error_message]' \
    '[100,"Complete",4,100,true,null]' "completed job"
json_is .status '"completed"' "completed job: status"
put_row failed-job "percentage=40" "current_step='Optimization'" "step_number=2" \
    "step_percentage=30" "is_complete=true" "error_message='Optimization failed: \"NaN\" in scores'"
http GET $P/failed-job/progress
json_is '[.is_complete, .error_message]' '[true,"Optimization failed: \"NaN\" in scores"]' "failed job"
json_is .status '"failed"' "failed job: status"

# Job ids that need encoding, and SQL metacharacters, come back verbatim.
for id in "a/b" "with space" "quote'd" 'dq"x' "semi;colon--" "%41" "caf$(printf '\xc3\xa9')" "Robert'); DROP TABLE training_progress;--" "..."; do
	put_row "$id"
	http GET "$P/$(urlenc "$id")/progress"
	if [ "$STATUS" = 200 ] && [ "$(jq -r .job_id "$BODY_FILE")" = "$id" ]; then
		pass "job id $id round-trips"
	else
		fail "job id $id round-trips" "status $STATUS, body $(head -c 200 "$BODY_FILE")"
	fi
done
is "$(sql 'SELECT count(*) > 0 FROM training_progress')" t "the table survived the injection attempts"

# 255 bytes is the longest job id.
long=$(printf 'x%.0s' $(seq 255))
put_row "$long"
http GET "$P/$long/progress"
is "$STATUS" 200 "a 255-byte job id is served"

# Query strings are ignored.
http GET "$P/abc123-def456/progress?cachebust=123"
is "$STATUS" 200 "a query string does not change the answer"
