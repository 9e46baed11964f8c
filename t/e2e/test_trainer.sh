# test_trainer.sh: the reference trainer on real candles: tp-ohlcv, a whole
# job started and watched by tp-watch through nginx, cancellation mid-
# optimization, two trainers racing for 20 jobs, a trainer stopped or
# killed mid-job, and bad input to both programs.

TP_STALL_SECONDS=2 stack_up trainer || { fail "a stack for the trainer starts"; return 0; }
P=/api/v2/training/jobs
eval "$("$DEV_STACK" env)"
TRAINER=$E2E_BIN/tp-trainer
OHLCV=$E2E_BIN/tp-ohlcv
WATCH=$E2E_BIN/tp-watch
TRAINER_PIDS=()

# trainer NAME [options]: a trainer in the background (LAST_TRAINER), its
# log in $E2E_TMP/trainer-NAME.log.
trainer() {
	local name=$1
	shift
	"$TRAINER" --name "$name" --poll-ms 50 "$@" >>"$E2E_TMP/trainer-$name.log" 2>&1 &
	LAST_TRAINER=$!
	TRAINER_PIDS+=("$LAST_TRAINER")
}
stop_trainers() {
	[ ${#TRAINER_PIDS[@]} -gt 0 ] || return 0
	kill -TERM "${TRAINER_PIDS[@]}" 2>/dev/null
	wait "${TRAINER_PIDS[@]}" 2>/dev/null
	TRAINER_PIDS=()
}
# submit JSON: POST /jobs with the stack's token; JOB is the new job's id.
submit() {
	http POST $P -H "Authorization: Bearer $TP_TOKEN" -H 'Content-Type: application/json' \
	    --data-binary "$1"
	JOB=$(jq -r '.job_id // empty' "$BODY_FILE" 2>/dev/null)
}
doc() { http GET "$P/$(urlenc "$1")/progress"; }
status_is() { doc "$1"; [ "$(jq -r .status "$BODY_FILE")" = "$2" ]; }
# in_step JOB STEP [MIN_ITERATION]: is the job running that step, that far?
in_step() {
	doc "$1"
	[ "$(jq -r .step_number "$BODY_FILE")" = "$2" ] &&
	    [ "$(jq -r '.current_iteration // 0' "$BODY_FILE")" -ge "${3:-0}" ]
}
gone() { ! kill -0 "$1" 2>/dev/null; }

# --- candles -------------------------------------------------------------------------
is "$(sql "SELECT count(*) FROM ohlcv_candles WHERE symbol = 'BTC/USDT'
    AND exchange = 'binanceus' AND timeframe = '1h'")" 8760 \
    "dev-stack up loads a synthetic year of hourly BTC/USDT candles"
is "$(sql "SELECT count(*) FROM ohlcv_candles WHERE NOT (low > 0 AND low <= least(open, close)
    AND high >= greatest(open, close) AND volume >= 0)")" 0 "every candle is sane"

# The same symbol and seed give the same series.
"$OHLCV" synth --symbol SYN/A --timeframe 4h --days 30 --seed 5 2>/dev/null
a=$(sql "SELECT md5(string_agg(concat_ws(' ', ts, open, high, low, close, volume), ',' ORDER BY ts))
    FROM ohlcv_candles WHERE symbol = 'SYN/A' AND exchange = 'binanceus'")
"$OHLCV" synth --symbol SYN/A --exchange other --timeframe 4h --days 30 --seed 5 2>/dev/null
b=$(sql "SELECT md5(string_agg(concat_ws(' ', ts, open, high, low, close, volume), ',' ORDER BY ts))
    FROM ohlcv_candles WHERE symbol = 'SYN/A' AND exchange = 'other'")
is "$(sql "SELECT count(*) FROM ohlcv_candles WHERE symbol = 'SYN/A' AND exchange = 'binanceus'")" 180 \
    "tp-ohlcv synth: 30 days of 4h candles"
is "$b" "$a" "the same symbol and seed give the same series"

# import: real data from a CSV file, all or nothing.
cat >"$E2E_TMP/candles.csv" <<'CSV'
timestamp,open,high,low,close,volume
2024-01-01T00:00:00Z,100,101.5,99.5,101,12.5
2024-01-01T01:00:00Z,101,102,100.5,101.5,8
1704074400,101.5,103,101,102.5,20
CSV
"$OHLCV" import --symbol CSV/USD "$E2E_TMP/candles.csv" 2>"$E2E_TMP/ohlcv.err"
is "$?:$(sql "SELECT count(*), max(close) FROM ohlcv_candles WHERE symbol = 'CSV/USD'")" "0:3|102.5" \
    "tp-ohlcv import stores a CSV file's candles"
printf 'timestamp,open,high,low,close,volume\n1704078000,102,103,101,102,5\n1704081600,102,101,100,102,5\n' \
    >"$E2E_TMP/bad.csv"
"$OHLCV" import --symbol CSV/USD "$E2E_TMP/bad.csv" 2>"$E2E_TMP/ohlcv.err"
rc=$?
is "$rc" 1 "a CSV file with a bad line: exit 1"
ok grep -q 'line 3' "$E2E_TMP/ohlcv.err" -- "naming the line ($(head -c 200 "$E2E_TMP/ohlcv.err"))"
is "$(sql "SELECT count(*) FROM ohlcv_candles WHERE symbol = 'CSV/USD'")" 3 "and nothing of it was stored"
"$OHLCV" import "$E2E_TMP/candles.csv" 2>"$E2E_TMP/ohlcv.err"
is "$?" 2 "tp-ohlcv import without --symbol: usage error"
"$OHLCV" synth --symbol 'BAD SYMBOL' 2>"$E2E_TMP/ohlcv.err"
is "$?" 2 "a symbol POST /jobs would refuse is refused here too"
"$OHLCV" synth --symbol X/Y --timeframe 7m 2>"$E2E_TMP/ohlcv.err"
is "$?" 2 "an unknown timeframe: usage error"
"$OHLCV" list >"$E2E_TMP/list.out" 2>&1
ok grep -q 'BTC/USDT *binanceus *1h *8760' "$E2E_TMP/list.out" -- "tp-ohlcv list shows the markets"

# --- usage -------------------------------------------------------------------------------
"$TRAINER" --bogus >/dev/null 2>&1
is "$?" 2 "tp-trainer: an unknown option is a usage error"
"$TRAINER" --job x >/dev/null 2>&1
is "$?" 2 "--job without --simulate is a usage error"
"$TRAINER" --poll-ms 0 >/dev/null 2>&1
is "$?" 2 "--poll-ms 0 is refused"

# --- a whole job, started and watched by tp-watch ---------------------------------------
"$WATCH" --url "$TP_BASE_URL" --token "$TP_TOKEN" --follow --json \
    --request '{"n_calls": 20, "lookback_days": 200, "seed": 7}' \
    >"$E2E_TMP/watch.out" 2>"$E2E_TMP/watch.err" &
wpid=$!
watch_queued() { jq -r .status "$E2E_TMP/watch.out" 2>/dev/null | grep -q '^queued$'; }
ok wait_until 20 watch_queued -- "tp-watch starts a job (POST /jobs) and follows it: queued"
# Only now a trainer: the watcher sees the job from its very start.
trainer w1 --min-iteration-ms 20
ok wait_until 120 gone $wpid -- "the job ends"
wait $wpid
is "$?" 0 "tp-watch exits 0: the job completed"
job=$(sed -n 's/.*started job \([^ ]*\).*/\1/p' "$E2E_TMP/watch.err" | head -n 1)
is "$(jq -r 'select(.status == "running") | .step_number' "$E2E_TMP/watch.out" | uniq | tr '\n' ' ')" \
    "1 2 3 4 " "every step seen, in order"
is "$(jq -s -c 'last | [.status, .percentage, .current_step, .is_complete]' "$E2E_TMP/watch.out")" \
    '["completed",100,"Complete",true]' "100 % at the end"
is "$(jq -s '[.[].seq] | . == (sort | unique)' "$E2E_TMP/watch.out")" true "seq only grows"
is "$(jq -s -c '[.[] | select(.step_number == 2 and .status == "running" and .total_iterations != null) | .total_iterations] | unique' \
    "$E2E_TMP/watch.out")" "[20]" "Optimization counts its 20 iterations"
is "$(jq -s -c 'last | .best_params | keys' "$E2E_TMP/watch.out")" \
    '["pierce_depth","reversal_candles","volume_spike_threshold"]' "best params name the strategy's parameters"
best=$(jq -s 'last | .best_score' "$E2E_TMP/watch.out")
stored=$(sql "SELECT score FROM trained_configurations WHERE job_id = '$job'")
ok awk -v a="$best" -v b="$stored" 'BEGIN { d = a - b; exit !(b != "" && d < 1e-9 && d > -1e-9) }' \
    -- "trained_configurations holds the job's best score ($best, $stored)"
is "$(sql "SELECT jsonb_array_length(validation->'windows') > 0 AND params ? 'pierce_depth'
    FROM trained_configurations WHERE job_id = '$job'")" t "and its walk-forward windows"
is "$(sql "SELECT claimed_by FROM training_jobs WHERE job_id = '$job'")" w1 "claimed by the trainer"

# --- cancelled mid-optimization ------------------------------------------------------------
stop_trainers
# Iterations slower than the tracker's min_write_interval_ms (100 ms): each
# one is written as it ends, and the cancel is heard at the next write.
trainer c1 --min-iteration-ms 200
submit '{"optimizer": "random", "n_calls": 300, "validation": false}'
cjob=$JOB
ok wait_until 60 in_step "$cjob" 2 3 -- "a long job reaches its third optimizer iteration"
at=$(sql "SELECT current_iteration FROM training_progress WHERE job_id = '$cjob'")
http POST "$P/$(urlenc "$cjob")/cancel" -H "Authorization: Bearer $TP_TOKEN"
is "$STATUS" 202 "cancel accepted at iteration $at"
ok wait_until 20 status_is "$cjob" cancelled -- "the job ends cancelled"
stopped() { grep -q "job $cjob: cancelled" "$E2E_TMP/trainer-c1.log"; }
ok wait_until 20 stopped -- "the trainer stops it"
# The cancel is heard at the trainer's next write (the iteration under way
# when it was accepted, at most one past the stored one), and the tracker's
# call after that returns TP_ECANCELLED: the trainer stops there.
final=$(sql "SELECT current_iteration FROM training_progress WHERE job_id = '$cjob'")
last=$(sed -n "s/.*job $cjob: cancelled: stopped at iteration \([0-9]*\).*/\1/p" "$E2E_TMP/trainer-c1.log")
if [ -n "$final" ] && [ "$final" -le $((at + 2)) ]; then
	pass "it ended cancelled within an iteration (iteration $at stored when cancelled, $final at the end)"
else
	fail "it ended cancelled within an iteration" "iteration $at stored when cancelled, ${final:-?} at the end"
fi
if [ -n "$last" ] && [ "$last" -le $((final + 1)) ]; then
	pass "and the trainer stopped at its next iteration ($last)"
else
	fail "and the trainer stopped at its next iteration" "stored $final, the trainer stopped at ${last:-?}"
fi
submit '{"n_calls": 3, "validation": false, "lookback_days": 30}'
ok wait_until 30 status_is "$JOB" completed -- "and takes the next job"

# --- stopped by SIGTERM mid-job: failed, saying so -------------------------------------------
submit '{"optimizer": "random", "n_calls": 300, "validation": false}'
tjob=$JOB
ok wait_until 60 in_step "$tjob" 2 2 -- "another long job is optimizing"
kill -TERM "$LAST_TRAINER"
ok wait_until 20 gone "$LAST_TRAINER" -- "SIGTERM stops the trainer"
wait "$LAST_TRAINER"
is "$?" 0 "and it exits 0"
TRAINER_PIDS=()
doc "$tjob"
json_is '[.status, (.error_message | test("stopped .SIGTERM"))]' '["failed",true]' \
    "its job ends failed, the message saying why (not requeued)"

# --- two trainers racing for 20 jobs ---------------------------------------------------------------
ids=()
for i in $(seq 20); do
	submit "{\"n_calls\": 4, \"optimizer\": \"random\", \"seed\": $i, \"validation\": false, \"lookback_days\": 60}"
	ids+=("$JOB")
done
is "${#ids[@]}" 20 "20 jobs queued"
: >"$E2E_TMP/trainer-r1.log"
: >"$E2E_TMP/trainer-r2.log"
trainer r1 --exit-when-idle
r1=$LAST_TRAINER
trainer r2 --exit-when-idle
r2=$LAST_TRAINER
ok wait_until 120 gone $r1 -- "trainer r1 runs out of jobs"
ok wait_until 120 gone $r2 -- "trainer r2 runs out of jobs"
TRAINER_PIDS=()
claimed=$(cat "$E2E_TMP/trainer-r1.log" "$E2E_TMP/trainer-r2.log" | sed -n 's/.*: claimed job \(.*\)$/\1/p' | sort)
is "$(echo "$claimed" | grep -c .):$(echo "$claimed" | sort -u | grep -c .)" "20:20" \
    "each of the 20 jobs claimed exactly once ($(grep -c 'claimed job' "$E2E_TMP/trainer-r1.log") by r1, $(grep -c 'claimed job' "$E2E_TMP/trainer-r2.log") by r2)"
list=$(printf "'%s'," "${ids[@]}")
list=${list%,}
is "$(sql "SELECT count(*) FILTER (WHERE p.status = 'completed'), count(c.job_id)
    FROM training_progress p LEFT JOIN trained_configurations c USING (job_id)
    WHERE p.job_id IN ($list)")" "20|20" "all 20 completed, each with its configuration"
is "$(sql "SELECT count(*) FROM training_jobs WHERE job_id IN ($list) AND claimed_by IN ('r1', 'r2')")" 20 \
    "each claimed by one of them, for good"

# --- an idle trainer is woken by a job's queueing (schema/012) -------------------------------------------
export PGAPPNAME=trainer-idle
trainer idle --poll-ms 600000
unset PGAPPNAME
# It has looked at the queue once, found nothing, and sleeps for ten minutes.
idle_waits() {
	[ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'trainer-idle'
	    AND state = 'idle' AND query LIKE 'UPDATE training_jobs AS j%'")" = 1 ]
}
ok wait_until 20 idle_waits -- "an idle trainer (--poll-ms 600000) has looked at the queue once"
submit '{"n_calls": 3, "validation": false, "lookback_days": 30}'
ok wait_until 30 status_is "$JOB" completed -- "a job queued now wakes it: claimed and completed at once"
stop_trainers

# --- a job with no candles fails, saying what to do -----------------------------------------------------
trainer n1
submit '{"symbol": "NONE/USDT", "validation": false}'
ok wait_until 30 status_is "$JOB" failed -- "a job for a market without candles fails"
json_is '.error_message | test("load some with tp-ohlcv")' true "and says how to get candles"

# --- killed outright mid-job: stalled, then given up -----------------------------------------------------
stop_trainers
submit '{"optimizer": "random", "n_calls": 300, "validation": false}'
kjob=$JOB
trainer k1 --min-iteration-ms 200
ok wait_until 60 in_step "$kjob" 2 2 -- "a job is optimizing"
kill -KILL "$LAST_TRAINER"
wait "$LAST_TRAINER" 2>/dev/null
TRAINER_PIDS=()
ok wait_until 20 status_is "$kjob" stalled -- "its trainer SIGKILLed, the job reads stalled (stall_after 2 s)"
set_pool_setting stall_fail_after 5s
reload_pool
ok wait_until 30 status_is "$kjob" failed -- "then, as docs/TRAINER.md says, failed after stall_fail_after"
json_is '.error_message | test("stall_fail_after")' true "saying why"
is "$(sql "SELECT claimed_by FROM training_jobs WHERE job_id = '$kjob'")" k1 "and no other trainer ran it"

stop_trainers
stack_down trainer
