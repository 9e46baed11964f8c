# test_publish.sh: tp-publish, the command-line publisher.

main_stack || return 0
P=/api/v2/training/jobs
# tp-publish writes to PostgreSQL directly: the pools' caches learn of it
# through tp-notify, which feed_sync waits for.
pub() {
	local rc=0
	"$E2E_BIN/tp-publish" "$@" 2>"$E2E_TMP/pub.err" || rc=$?
	feed_sync
	return $rc
}
FIX=$E2E_ROOT/t/e2e/fixtures

# matches FIXTURE: every field of the spec's snippet (but the time-dependent
# ETA) has the same value in the last response.
matches() {
	jq -e -n --slurpfile d "$BODY_FILE" --slurpfile f "$FIX/$1" \
	    '$f[0] | to_entries | map(select(.key != "estimated_completion"))
	     | all(. as $e | $d[0][$e.key] == $e.value)' >/dev/null
}

# The spec's lifecycle, one command at a time.
j=cli-lifecycle-$$
pub --job $j start data_collection --details '{"symbol": "BTC/USDT", "exchange": "binanceus", "timeframe": "5m", "lookback_days": 90}'
is "$?" 0 "start data_collection"
pub --job $j update --step-pct 50
is "$?" 0 "update"
http GET $P/$j/progress
ok matches lifecycle-1.json -- "the spec's Data Collection document"
pub --job $j start optimization --details '{"optimizer": "bayesian", "n_calls": 50}'
pub --job $j update --step-pct 60 --iteration 30 --total 50 --best-score 1.85 --current-score 1.42 \
    --best-params '{"pierce_depth": 0.15, "volume_spike_threshold": 2.5}'
is "$?" 0 "update with every option"
http GET $P/$j/progress
ok matches lifecycle-2.json -- "the spec's Optimization document (but the ETA)"
pub --job $j start validation --details '{"train_window_days": 60, "test_window_days": 30, "gap_days": 7}'
pub --job $j update --step-pct 50
http GET $P/$j/progress
ok matches lifecycle-3.json -- "the spec's Validation document"
pub --job $j start save_configuration
pub --job $j update --best-params '{"pierce_depth": 0.15, "volume_spike_threshold": 2.5, "reversal_candles": 3}'
pub --job $j complete
is "$?" 0 "complete"
http GET $P/$j/progress
ok matches lifecycle-4.json -- "the spec's Complete document"

# A finished job stays finished: exit 3.
before=$(cat "$BODY_FILE")
pub --job $j update --step-pct 10
is "$?" 3 "update of a finished job: exit 3"
pub --job $j complete
is "$?" 3 "complete twice: exit 3"
pub --job $j error "late"
is "$?" 3 "error after complete: exit 3"
ok grep -q "already finished" "$E2E_TMP/pub.err" -- "and it says so"
http GET $P/$j/progress
is "$(cat "$BODY_FILE")" "$before" "nothing changed"

# A failure.
f=cli-failed-$$
pub --job $f start optimization
pub --job $f update --step-pct 30
pub --job $f error 'Optimization failed: "NaN" in scores'
is "$?" 0 "error MESSAGE"
http GET $P/$f/progress
json_is '[.is_complete, .error_message, .current_step, .percentage]' \
    '[true,"Optimization failed: \"NaN\" in scores","Optimization",40]' "a failed job keeps its step"

# Bad input: exit 2, a message, and nothing written.
b=cli-bad-$$
pub --job $b start optimization --details '{"n": 1}'
http GET $P/$b/progress
before=$(cat "$BODY_FILE")
bad() {
	local want=$1 out rc
	shift
	pub "$@"
	rc=$?
	out=$(cat "$E2E_TMP/pub.err")
	if [ $rc = 2 ] && [[ $out == *"$want"* ]]; then pass "refused ($want): $*"
	else fail "refused ($want): $*" "exit $rc: $out"; fi
}
bad "--job ID is required" update --step-pct 5
bad "a command is required" --job $b
bad "unknown command" --job $b finish
bad "unknown step \"training\"" --job $b start training
bad "start needs a step" --job $b start
bad "--details: malformed JSON" --job $b start validation --details '{"a": }'
bad "--details: JSON must be an object" --job $b start validation --details '[1, 2]'
bad "--details: JSON must not contain" --job $b start validation --details '{"a": "\u0000"}'
bad "--step-pct must be a number from 0 to 100" --job $b update --step-pct 101
bad "--step-pct must be a number from 0 to 100" --job $b update --step-pct -1
bad "--step-pct must be a number from 0 to 100" --job $b update --step-pct abc
bad "--step-pct must be a number from 0 to 100" --job $b update --step-pct nan
bad "--iteration must be a whole number" --job $b update --iteration -1
bad "--iteration must be a whole number" --job $b update --iteration 1.5
bad "--iteration must be a whole number" --job $b update --iteration 99999999999
bad "--total must be a whole number" --job $b update --total ten
bad "--best-score must be a finite number" --job $b update --best-score inf
bad "--best-params: malformed JSON" --job $b update --best-params '{"x": 1'
bad "update needs at least one option" --job $b update
bad "update: unknown option" --job $b update --speed 3
bad "--step-pct needs a value" --job $b update --step-pct
bad "error needs exactly one non-empty MESSAGE" --job $b error ""
bad "error needs exactly one non-empty MESSAGE" --job $b error a b
bad "complete takes no arguments" --job $b complete now
bad "--job: job_id contains a control character" --job "$(printf 'a\tb')" start optimization
bad "--job: job_id is longer than 255 bytes" --job "$(printf 'x%.0s' $(seq 256))" start optimization
bad "steps only go forward" --job $b start data_collection
bad "unknown option" --jb $b start optimization
http GET $P/$b/progress
is "$(cat "$BODY_FILE")" "$before" "none of the refused commands wrote anything"

m=cli-missing-$$
bad "has no progress yet: start a step first" --job $m update --step-pct 5
http GET $P/$m/progress
is "$STATUS" 404 "update of a missing job creates nothing"

# The database out of reach: exit 1, with libpq's reason.
pub --job cli-nodb-$$ --database-url "host=/nonexistent dbname=x" --timeout 2 start optimization
is "$?" 1 "an unreachable database: exit 1"
ok grep -q "No such file or directory" "$E2E_TMP/pub.err" -- "and libpq's reason is shown"

ok "$E2E_BIN/tp-publish" --help -- "--help"
