# test_errors.sh: every error status of the API, each with a JSON body.

main_stack || return 0
P=/api/v2/training/jobs
"$DEV_STACK" seed

http GET $P/no-such-job/progress
error_is 404 not_found "unknown job"
json_is .message '"no training job has the id \"no-such-job\""' "unknown job: the message names it"

# Invalid job ids.
http GET $P//progress
error_is 400 invalid_job_id "empty job id"
http GET "$P/$(printf 'x%.0s' $(seq 256))/progress"
error_is 400 invalid_job_id "a 256-byte job id"
json_is .message '"job_id is longer than 255 bytes"' "256 bytes: says why"
http GET "$P/bad%01id/progress"
error_is 400 invalid_job_id "a control character in the job id"
http GET "$P/bad%0Aid/progress"
error_is 400 invalid_job_id "a newline in the job id"
http GET "$P/%E2%82/progress"
error_is 400 invalid_job_id "a job id that is not UTF-8"
http GET "$P/../progress"
error_is 400 invalid_job_id "a dot-segment job id"
# nginx refuses these itself, before any location; the optional server
# snippet gives them the API's JSON body.
http GET "$P/%zz/progress"
error_is 400 bad_request "malformed percent-encoding (%zz)"
http GET "$P/%00/progress"
error_is 400 bad_request "an encoded NUL (%00)"
http GET "$P/abc%/progress"
error_is 400 bad_request "a truncated escape"

# Other methods: 405 with the endpoint's Allow, from nginx (methods the API
# never takes) and from the pool (POST where only GET is) alike.
for m in PUT DELETE PATCH OPTIONS; do
	http $m $P/abc123-def456/progress
	error_is 405 method_not_allowed "$m"
	is "$(header Allow)" "GET, HEAD, POST" "$m: Allow: GET, HEAD, POST"
	http $m $P/abc123-def456/cancel
	error_is 405 method_not_allowed "$m on cancel"
	is "$(header Allow)" "POST" "$m on cancel: Allow: POST"
	http $m /api/v2/training/jobs
	error_is 405 method_not_allowed "$m on the list"
	is "$(header Allow)" "GET, HEAD, POST" "$m on the list: Allow: GET, HEAD, POST"
done
for path in $P/abc123-def456/progress/history $P/abc123-def456/cancel; do
	[ "$path" = $P/abc123-def456/cancel ] && m=GET allow=POST || m=POST allow="GET, HEAD"
	http $m "$path"
	error_is 405 method_not_allowed "$m $path (from the pool)"
	is "$(header Allow)" "$allow" "$m $path: Allow: $allow"
done
# The pool's own answer, straight over FastCGI (as any web server would ask).
pool_sock=$(sed -n 's/^listen = //p' "$TP_STATE_DIR/tp-fcgi.conf")
fcgi_out=$(REQUEST_METHOD=DELETE REQUEST_URI=$P/abc123-def456/progress \
    cgi-fcgi -bind -connect "$pool_sock" 2>/dev/null | tr -d '\r')
case $fcgi_out in
*"Status: 405"*"Allow: GET, HEAD"*'"error":"method_not_allowed"'*) pass "the pool itself answers 405 with Allow" ;;
*) fail "the pool itself answers 405 with Allow" "$fcgi_out" ;;
esac

# Unknown paths under the API's prefix.
for path in /api/v2/training/ /api/v2/training/jobs/ $P/abc123-def456 $P/abc123-def456/progress/ \
    $P/abc123-def456/status /api/v2/training/anything/else; do
	http GET "$path"
	error_is 404 unknown_path "unknown path $path"
done

# A body larger than the API accepts.
head -c 70000 /dev/zero | tr '\0' x >"$E2E_TMP/big"
http GET $P/abc123-def456/progress --data-binary @"$E2E_TMP/big" -X GET
error_is 413 payload_too_large "an oversized body"

# HEAD on an error: status and headers, no body.
http_head $P/no-such-job/progress
is "$STATUS" 404 "HEAD of an unknown job: 404"
is "$(stat -c %s "$BODY_FILE")" 0 "HEAD of an unknown job: no body"

# Anything unexpected is a 500 with a JSON body: here the pool's role has
# lost its right to read (a misconfiguration, not an outage).
sql "REVOKE SELECT ON training_progress FROM tp_reader" >/dev/null
http GET $P/abc123-def456/progress
error_is 500 internal_error "the database refuses the query"
sql "GRANT SELECT ON training_progress TO tp_reader" >/dev/null
http GET $P/abc123-def456/progress
is "$STATUS" 200 "served again once the grant is back"

# A row the code cannot read (schema drift) is a 500, not a crash.  (A job
# no worker has read: a schema change sends no notification, so a kept
# document of another job would still be served, for read_cache_ttl.)
put_row drift-job
# (total_steps: step_number is in a trigger's WHEN, which PostgreSQL does not let change type.)
sql "ALTER TABLE training_progress ALTER COLUMN total_steps TYPE bigint" >/dev/null
http GET $P/drift-job/progress
error_is 500 internal_error "a column of an unexpected type"
sql "ALTER TABLE training_progress ALTER COLUMN total_steps TYPE integer" >/dev/null
http GET $P/abc123-def456/progress
is "$STATUS" 200 "served again once the column is back"

# The pool not running at all: nginx's 502, as JSON.
master=$(pool_master_pid)
kill -STOP "$master" $(pool_worker_pids)
mv "$pool_sock" "$pool_sock.away"
http GET $P/abc123-def456/progress
error_is 502 bad_gateway "the pool is not reachable"
mv "$pool_sock.away" "$pool_sock"
kill -CONT "$master" $(pgrep -P "$master")
http GET $P/abc123-def456/progress
is "$STATUS" 200 "served again once the pool is back"
