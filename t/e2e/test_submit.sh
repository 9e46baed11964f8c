# test_submit.sh: POST /api/v2/training/jobs, starting a training job, through nginx.

main_stack || return 0
P=/api/v2/training/jobs
super_url() { echo "postgresql://postgres@/trainprog?host=$(sed -n 's/^RT=//p' "$TP_STATE_DIR/stack.env")/pgsock"; }
admin() { "$E2E_BIN/tp-admin" --database-url "$(super_url)" "$@" 2>"$E2E_TMP/admin.err"; }

train_token=$(admin token create --scope train --name e2e-train)
is "$?" 0 "tp-admin creates a token with the train scope"
case $train_token in tp_[0-9a-f]*_*) pass "and prints it" ;; *) fail "and prints it" "$train_token $(cat "$E2E_TMP/admin.err")" ;; esac

# submit JSON [curl options]: starts a job with the train token.
submit() {
	local body=$1
	shift
	http POST $P -H "Authorization: Bearer $train_token" -H 'Content-Type: application/json' \
	    --data-binary "$body" "$@"
}
# stored JOB_ID JQ: a jq expression over the request stored for the job.
stored() { sql "SELECT request FROM training_jobs WHERE job_id = '$1'" | jq -c "$2"; }

# --- 201: a job with every default, its id made by the server -------------------

submit '{}'
is "$STATUS" 201 "POST {}: 201 Created"
json_is 'keys_unsorted' '["job_id","progress_url","stream_url"]' "the body names the job and its URLs"
id=$(jq -r .job_id "$BODY_FILE")
case $id in job-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]*) pass "a job id made by the server: $id" ;; *) fail "a job id made by the server" "$id" ;; esac
is "${#id}" 28 "job- and 24 hex digits"
json_is .progress_url "\"$P/$id/progress\"" "progress_url"
json_is .stream_url "\"$P/$id/progress/stream\"" "stream_url"
is "$(header Location)" "$P/$id/progress" "Location: the progress URL"
is "$(header Content-Type)" application/json "Content-Type: application/json"
http GET "$P/$id/progress"
is "$STATUS" 200 "GET the progress URL: 200"
json_is '[.job_id, .status, .percentage, .is_complete, .seq]' "[\"$id\",\"queued\",0,false,1]" \
    "the job reads queued"
is "$(stored "$id" '[.symbol, .exchange, .timeframe, .lookback_days, .optimizer, .n_calls, .seed, .fee]')" \
    '["BTC/USDT","binanceus","1h",180,"bayesian",50,42,0.001]' "the stored request has every default"
is "$(stored "$id" '.params')" \
    '{"pierce_depth":{"max":0.5,"min":0.05,"step":0.05,"type":"float"},"reversal_candles":{"max":5,"min":1,"step":0,"type":"int"},"volume_spike_threshold":{"max":4,"min":1.5,"step":0.25,"type":"float"}}' \
    "the parameters' default ranges"
is "$(stored "$id" '.validation')" '{"gap_days":7,"test_window_days":30,"train_window_days":60}' \
    "the default validation windows"
is "$(stored "$id" 'has("job_id")')" false "the stored request has no job_id"
token_id=${train_token:3:12}
is "$(sql "SELECT token_id || ' ' || octet_length(request_sha256) || ' ' || (claimed_at IS NULL)
    FROM training_jobs WHERE job_id = '$id'")" "$token_id 32 true" "the token, the hash, unclaimed"
is "$(sql "SELECT encode(request_sha256, 'hex') = encode(sha256(convert_to(
    '{\"symbol\":\"BTC/USDT\",\"exchange\":\"binanceus\",\"timeframe\":\"1h\",\"lookback_days\":180,\"optimizer\":\"bayesian\",\"n_calls\":50,\"seed\":42,\"fee\":0.001,\"params\":{\"pierce_depth\":{\"min\":0.05,\"max\":0.5,\"step\":0.05,\"type\":\"float\"},\"volume_spike_threshold\":{\"min\":1.5,\"max\":4,\"step\":0.25,\"type\":\"float\"},\"reversal_candles\":{\"min\":1,\"max\":5,\"step\":0,\"type\":\"int\"}},\"validation\":{\"train_window_days\":60,\"test_window_days\":30,\"gap_days\":7}}',
    'UTF8')), 'hex') FROM training_jobs WHERE job_id = '$id'")" t \
    "request_sha256 is the SHA-256 of the canonical request"

submit '{}'
is "$STATUS" 201 "another {}: another job"
id2=$(jq -r .job_id "$BODY_FILE")
[ "$id2" != "$id" ] && pass "with another id" || fail "with another id" "$id2"

# --- a client-chosen id: idempotent -------------------------------------------------

c="e2e submit/$$ é"
body="{\"job_id\": \"$c\", \"symbol\": \"ETH/USDT\", \"optimizer\": \"grid\", \"n_calls\": 400, \"validation\": false}"
submit "$body"
is "$STATUS" 201 "a client-chosen job_id: 201"
first=$(cat "$BODY_FILE")
enc=$(urlenc "$c")
json_is '[.job_id, .progress_url, .stream_url]' "[\"$c\",\"$P/$enc/progress\",\"$P/$enc/progress/stream\"]" \
    "the URLs carry the id percent-encoded"
is "$(header Location)" "$P/$enc/progress" "and so does Location"
http GET "$(jq -r .progress_url <<<"$first")"
json_is '[.job_id, .status]' "[\"$c\",\"queued\"]" "the progress URL works as given"
is "$(stored "$c" '[.symbol, .optimizer, .n_calls, .validation]')" '["ETH/USDT","grid",400,false]' \
    "the request is stored as sent"

submit "$body"
is "$STATUS" 200 "the same request again: 200"
is "$(cat "$BODY_FILE")" "$first" "with the same body"
is "$(header Location)" "$P/$enc/progress" "and the same Location"
submit "{\"validation\": false, \"n_calls\": 4e2, \"optimizer\": \"grid\", \"job_id\": \"$c\", \"symbol\": \"ETH/USDT\", \"fee\": 0.001}"
is "$STATUS" 200 "the same request in another order and spelling: 200"
is "$(sql "SELECT count(*) FROM training_jobs WHERE job_id = '$c'")" 1 "one job, stored once"
submit "{\"job_id\": \"$c\", \"symbol\": \"ETH/USDT\", \"optimizer\": \"grid\", \"n_calls\": 401, \"validation\": false}"
error_is 409 job_conflict "a different request under the same job_id"
is "$(stored "$c" '.n_calls')" 400 "the stored request is unchanged"

# The longest id, every byte percent-encoded in the URLs: 255 slashes.
slashes=$(printf '/%.0s' $(seq 255))
submit "{\"job_id\": \"$slashes\"}"
is "$STATUS" 201 "a job_id of 255 bytes that all need encoding: 201"
is "$(header Location)" "$P/$(printf '%%2F%.0s' $(seq 255))/progress" "its Location holds 765 bytes of escapes"
http GET "$(jq -r .progress_url "$BODY_FILE")"
json_is .status '"queued"' "and its progress_url works"

# An id a trainer published directly (no training_jobs row) is not ours to start.
d=e2e-direct-$$
http POST "$P/$d/progress" -H "Authorization: Bearer $TP_PUBLISH_TOKEN" -H 'Content-Type: application/json' \
    --data-binary '{"seq": 1, "event": "start", "step": "data_collection"}'
is "$STATUS" 200 "a job published directly"
submit "{\"job_id\": \"$d\"}"
error_is 409 job_exists "starting a job id that was published directly"
is "$(sql "SELECT count(*) FROM training_jobs WHERE job_id = '$d'")" 0 "nothing stored for it"
http GET "$P/$d/progress"
json_is '[.status, .seq]' '["running",1]' "and its progress is untouched"

# --- 401, 403, 413, 415 ---------------------------------------------------------------

http POST $P -H 'Content-Type: application/json' --data-binary '{}'
error_is 401 unauthorized "no token"
case $(header WWW-Authenticate) in Bearer*) pass "401 says Bearer" ;; *) fail "401 says Bearer" "$(header WWW-Authenticate)" ;; esac
http POST $P -H 'Authorization: Bearer tp_000000000000_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' \
    -H 'Content-Type: application/json' --data-binary '{}'
error_is 401 invalid_token "an unknown token"
pub_only=$(admin token create --scope publish,cancel --name e2e-no-train)
http POST $P -H "Authorization: Bearer $pub_only" -H 'Content-Type: application/json' --data-binary '{}'
error_is 403 forbidden "a token without the train scope"
json_is .message '"the token may not train: it lacks the \"train\" scope"' "403 names the scope"
http POST $P -H "Authorization: Bearer $train_token" -H 'Content-Type: text/plain' --data-binary '{}'
error_is 415 unsupported_media_type "a text/plain body"
http POST $P -H "Authorization: Bearer $train_token" --data-binary '{}' -H 'Content-Type:'
error_is 415 unsupported_media_type "no Content-Type"
submit '{}' -H 'Content-Type: application/vnd.trainprog+json; charset=utf-8'
is "$STATUS" 201 "application/...+json with parameters is JSON"
head -c 70000 /dev/zero | tr '\0' ' ' >"$E2E_TMP/big.json"
http POST $P -H "Authorization: Bearer $train_token" -H 'Content-Type: application/json' \
    --data-binary @"$E2E_TMP/big.json"
error_is 413 payload_too_large "a body over 64 KiB"
n_before=$(sql "SELECT count(*) FROM training_jobs")
admin token revoke "${pub_only:3:12}" >/dev/null

# --- 400: every field checked, and named ------------------------------------------

long33=$(printf 'A%.0s' $(seq 33))
longid=$(printf 'x%.0s' $(seq 256))
while IFS='|' read -r field body; do
	[ -n "$field" ] || continue
	submit "$body"
	is "$STATUS" 400 "$body: 400"
	json_is '[keys_unsorted, .error, .field, (.message | type)]' \
	    "[[\"error\",\"message\",\"field\"],\"invalid_field\",\"$field\",\"string\"]" "$body: names $field"
done <<EOF
job_id|{"job_id": ""}
job_id|{"job_id": 5}
job_id|{"job_id": ".."}
job_id|{"job_id": "a\u0001b"}
job_id|{"job_id": "$longid"}
symbol|{"symbol": ""}
symbol|{"symbol": "$long33"}
symbol|{"symbol": "BTC USDT"}
symbol|{"symbol": ["BTC/USDT"]}
exchange|{"exchange": "Binance"}
exchange|{"exchange": ""}
timeframe|{"timeframe": "2h"}
timeframe|{"timeframe": 3600}
lookback_days|{"lookback_days": 0}
lookback_days|{"lookback_days": 3651}
lookback_days|{"lookback_days": 100.5}
lookback_days|{"lookback_days": "180"}
optimizer|{"optimizer": "annealing"}
n_calls|{"n_calls": 0}
n_calls|{"optimizer": "random", "n_calls": 1001}
n_calls|{"optimizer": "bayesian", "n_calls": 301}
n_calls|{"n_calls": 2.5}
seed|{"seed": -1}
seed|{"seed": 9007199254740992}
seed|{"seed": null}
fee|{"fee": 0.05}
fee|{"fee": -0.001}
fee|{"fee": "0.001"}
params|{"params": [1]}
params.rsi|{"params": {"rsi": {"min": 1, "max": 2}}}
params.pierce_depth|{"params": {"pierce_depth": [0.1, 0.2]}}
params.pierce_depth.min|{"params": {"pierce_depth": {"max": 0.2}}}
params.pierce_depth.max|{"params": {"pierce_depth": {"min": 0.3, "max": 0.2}}}
params.pierce_depth.step|{"params": {"pierce_depth": {"min": 0.1, "max": 0.2, "step": -1}}}
params.pierce_depth.type|{"params": {"pierce_depth": {"min": 0.1, "max": 0.2, "type": "double"}}}
params.pierce_depth.log|{"params": {"pierce_depth": {"min": 0.1, "max": 0.2, "log": true}}}
params.reversal_candles.max|{"params": {"reversal_candles": {"min": 1, "max": 4.5}}}
validation|{"validation": true}
validation|{"lookback_days": 90}
validation|{"validation": {"train_window_days": 150, "test_window_days": 30}}
validation.train_window_days|{"validation": {"train_window_days": 0}}
validation.test_window_days|{"validation": {"test_window_days": 0}}
validation.gap_days|{"validation": {"gap_days": -1}}
validation.folds|{"validation": {"folds": 2}}
strategy|{"strategy": "sweep"}
seed|{"seed": 1, "seed": 2}
EOF
for body in 'not json' '{"seed": 1,' '[]' '"x"' '{} {}' '' '{"symbol": "a\u0000b"}'; do
	submit "$body"
	error_is 400 invalid_body "a body that is not one JSON object: '$body'"
done
is "$(sql "SELECT count(*) FROM training_jobs")" "$n_before" "no refused request stored anything"

# --- cancel, and the list --------------------------------------------------------------

submit "{\"job_id\": \"e2e-cancel-$$\"}"
is "$STATUS" 201 "a job to cancel"
http POST "$P/e2e-cancel-$$/cancel" -H "Authorization: Bearer $TP_PUBLISH_TOKEN"
is "$STATUS" 202 "cancel of a queued job: 202"
json_is '[.status, .is_complete, .error_message]' '["cancelled",true,"cancelled by request"]' \
    "a queued job is cancelled at once"
http GET "$P/e2e-cancel-$$/progress"
json_is .status '"cancelled"' "and reads cancelled"
submit "{\"job_id\": \"e2e-cancel-$$\"}"
is "$STATUS" 200 "the same request again still names the (cancelled) job: 200"

http GET "$P?status=queued&limit=200"
is "$STATUS" 200 "GET the list: 200"
json_is "[.jobs[].job_id | select(. == \"$id\" or . == \"$c\")] | sort" \
    "$(jq -cn --arg a "$id" --arg b "$c" '[$a, $b] | sort')" "the list shows the queued jobs"
json_is '.counts.queued >= 3' true "and counts them"
http_head "$P"
is "$STATUS" 200 "HEAD the list: 200"
http DELETE $P
error_is 405 method_not_allowed "DELETE on the list"
is "$(header Allow)" "GET, HEAD, POST" "Allow: GET, HEAD, POST"
http PUT $P -H "Authorization: Bearer $train_token"
error_is 405 method_not_allowed "PUT on the list"
is "$(header Allow)" "GET, HEAD, POST" "PUT: Allow: GET, HEAD, POST"

# Straight over FastCGI, as any web server would ask.
fcgi_out=$(REQUEST_METHOD=POST REQUEST_URI=$P CONTENT_TYPE=application/json CONTENT_LENGTH=0 \
    cgi-fcgi -bind -connect "$(sed -n 's/^listen = //p' "$TP_STATE_DIR/tp-fcgi.conf")" 2>/dev/null </dev/null | tr -d '\r')
case $fcgi_out in
*"Status: 401"*'"error":"unauthorized"'*) pass "the pool itself takes POST /jobs (401 without a token)" ;;
*) fail "the pool itself takes POST /jobs (401 without a token)" "$fcgi_out" ;;
esac
# Without database_write_url the pool takes no writes: starting a job neither.
cp "$TP_STATE_DIR/tp-fcgi.conf" "$E2E_TMP/submit-pool.conf"
sed -i '/^database_write_url = /d' "$TP_STATE_DIR/tp-fcgi.conf"
reload_pool
n_before=$(sql "SELECT count(*) FROM training_jobs")
submit '{}'
error_is 403 writes_disabled "no database_write_url: starting a job is refused"
is "$(sql "SELECT count(*) FROM training_jobs")" "$n_before" "and nothing is stored"
http GET "$P?status=queued"
is "$STATUS" 200 "the list is still read"
cp "$E2E_TMP/submit-pool.conf" "$TP_STATE_DIR/tp-fcgi.conf"
reload_pool
submit '{}'
is "$STATUS" 201 "with it back: 201"

admin token revoke "$token_id" >/dev/null
submit '{}'
error_is 401 invalid_token "a revoked train token"
