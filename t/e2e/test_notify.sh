# test_notify.sh: notifications when jobs end (schema/009, tools/notify_send.c,
# tp-admin notify): each terminal state delivered once per target (by delivery
# id), signed webhooks that verify, Slack messages, email through an SMTP sink,
# retries after failures, the sender SIGKILLed while a receiver is down (nothing
# lost), dead letters and their retry, refused addresses, tp-admin's commands.

N=$E2E_TMP/notify
mkdir -p "$N"
PY=/usr/bin/python3
# receiver NAME ARGS...: a local receiver (t/tools/hook_receiver.py or
# smtp_sink.py), its port in NAME_PORT once it listens.
receiver() {
	local name=$1 tool=$2 port
	shift 2
	rm -f "$N/$name.port"
	"$PY" "$E2E_ROOT/t/tools/$tool" --port-file "$N/$name.port" --log "$N/$name.log" "$@" \
	    >>"$N/$name.err" 2>&1 &
	echo $! >"$N/$name.pid"
	wait_until 10 test -s "$N/$name.port" || { fail "the $name receiver starts"; return 1; }
	port=$(cat "$N/$name.port")
	printf -v "${name}_PORT" '%s' "$port"
}
stop_receiver() { kill "$(cat "$N/$1.pid")" 2>/dev/null; wait "$(cat "$N/$1.pid")" 2>/dev/null; }
lines() { [ -f "$N/$1.log" ] && wc -l <"$N/$1.log" || echo 0; }
has_lines() { [ "$(lines "$1")" -ge "$2" ]; }

receiver hook hook_receiver.py --fail 2 || return 0
receiver slack hook_receiver.py || return 0
receiver smtp smtp_sink.py || return 0

if ! TP_SMTP_URL="smtp://127.0.0.1:$smtp_PORT" stack_up notify; then
	fail "a stack with a sender of notifications starts"
	return 0
fi
super_url() { echo "postgresql://postgres@/trainprog?host=$(sed -n 's/^RT=//p' "$TP_STATE_DIR/stack.env")/pgsock"; }
admin() { "$E2E_BIN/tp-admin" --database-url "$(super_url)" "$@" 2>"$E2E_TMP/admin.err"; }
pub() { "$E2E_BIN/tp-publish" "$@" >/dev/null 2>"$E2E_TMP/pub.err"; }
outbox() { sql "SELECT $1 FROM notify_outbox $2"; }
# owed_is N WHERE: the outbox has N rows matching (asked again at each call).
owed_is() { [ "$(outbox "count(*)" "$2")" = "$1" ]; }

# --- tp-admin notify ------------------------------------------------------------

secret='s3cret-key'
hook_id=$(admin notify add webhook "http://127.0.0.1:$hook_PORT/hook" --secret "$secret")
is "$?" 0 "tp-admin notify add webhook, signed"
slack_id=$(admin notify add slack "http://localhost:$slack_PORT/services/T0/B0/x")
is "$?" 0 "tp-admin notify add slack"
mail_id=$(admin notify add email ops@example.com)
is "$?" 0 "tp-admin notify add email"
list=$(admin notify list)
ok grep -q "^$hook_id  *webhook  *yes  *\*" <<<"$list" -- "notify list: the webhook, signed, for every job"
ok grep -q "^$mail_id  *email  *-  *\*  .*ops@example.com" <<<"$list" -- "notify list: the email target"
if grep -q "$secret" <<<"$list"; then fail "notify list never shows a secret"; else pass "notify list never shows a secret"; fi
# A webhook's URL is often its credential (Slack's is): cut short unless --full.
ok grep -q "^$slack_id  *slack .* http://localhost:$slack_PORT/\.\.\.\$" <<<"$list" -- \
    "notify list shows a URL's scheme, host and port"
if grep -q "services" <<<"$list"; then fail "notify list hides the rest of the URL"; else pass "notify list hides the rest of the URL"; fi
ok grep -q "http://localhost:$slack_PORT/services/T0/B0/x\$" <<<"$(admin notify list --full)" -- \
    "notify list --full shows it whole"
# The rule tp-admin follows is POST /jobs' and the sender's (tests below).
bad_urls=("ftp://x/y" "file:///etc/passwd" "javascript:alert(1)" "http://user:pw@127.0.0.1/x"
    "http://127.0.0.1:99999/x" $'http://h\xc3\xa9.example/x' "https://[::1/x" "HTTPS://hooks.example.com/x" "http:///x")
for bad in "${bad_urls[@]}"; do
	admin notify add webhook "$bad" >/dev/null
	is "$?" 2 "notify add refuses $bad"
done
for bad in "not an address" "a@b@c" '"q"@example.com' "a@b,c@d"; do
	admin notify add email "$bad" >/dev/null
	is "$?" 2 "notify add refuses the email address $bad"
done
ok grep -q "the address must be an email address" "$E2E_TMP/admin.err" -- "and says why: $(cat "$E2E_TMP/admin.err")"
admin notify add slack "http://x" --secret s >/dev/null
is "$?" 2 "--secret goes with webhooks only"
admin notify add sms "+1555" >/dev/null
is "$?" 2 "an unknown kind is refused"
admin notify remove 999999 >/dev/null
is "$?" 3 "removing a target that does not exist: exit 3"

# --- each terminal state, once per target --------------------------------------------

pub --job nt-done start optimization && pub --job nt-done update --step-pct 100 --best-score 1.85 \
    --best-params '{"pierce_depth": 0.15}' && pub --job nt-done complete
pub --job nt-fail start validation && pub --job nt-fail error "Validation failed: no trades"
pub --job nt-cancel start optimization
http POST "/api/v2/training/jobs/nt-cancel/cancel" -H "Authorization: Bearer $TP_PUBLISH_TOKEN"
pub --job nt-cancel update --step-pct 10
is "$(outbox "count(*)" "WHERE job_id LIKE 'nt-%'")" 9 \
    "three terminal states, three targets: nine notifications owed, in the same transactions"

wait_until 60 has_lines slack 3 && pass "the Slack target got its three messages" ||
    fail "the Slack target got its three messages" "$(lines slack) lines"
wait_until 60 has_lines smtp 3 && pass "the SMTP server got three emails" ||
    fail "the SMTP server got three emails" "$(cat "$N/smtp.err" 2>/dev/null | tail -n 3)"
# The webhook answers 500 twice first: delivered on later tries.
wait_until 60 owed_is 3 "WHERE target_id = $hook_id AND delivered_at IS NOT NULL" &&
    pass "the webhook's three, delivered in spite of two 500s" ||
    fail "the webhook's three, delivered in spite of two 500s" "$(outbox "attempts, last_error" "WHERE target_id = $hook_id")"
is "$(outbox "max(attempts)" "WHERE target_id = $hook_id")" 2 \
    "the receiver's two 500s were the first tries of two notifications: each delivered on its second"

# Each notification once per target, whatever the tries: by delivery id.
"$PY" - "$N/hook.log" "$secret" "$TP_BASE_URL" >"$N/verify.out" 2>&1 <<'EOF'
import hashlib, hmac, json, sys, urllib.request
log, secret, base = sys.argv[1], sys.argv[2].encode(), sys.argv[3]
reqs = [json.loads(l) for l in open(log)]
ok = [r for r in reqs if r["status"] == 200]
ids = [r["headers"]["X-Trainprog-Delivery"] for r in ok]
print("delivered", len(ok), "distinct", len(set(ids)))
events = sorted(r["headers"]["X-Trainprog-Event"] for r in ok)
print("events", ",".join(events))
all_ids = {r["headers"]["X-Trainprog-Delivery"] for r in reqs}
print("same id on retries", len(all_ids) == len(set(ids)))
good = 0
for r in reqs:
    sig = r["headers"]["X-Trainprog-Signature"]
    t = sig.split(",")[0][2:]
    v1 = sig.split("v1=")[1]
    want = hmac.new(secret, (t + "." + r["body"]).encode(), hashlib.sha256).hexdigest()
    good += hmac.compare_digest(want, v1)
print("signatures", good, "of", len(reqs))
body = json.loads(next(r["body"] for r in ok if r["headers"]["X-Trainprog-Event"] == "job.completed"))
doc = json.load(urllib.request.urlopen(base + "/api/v2/training/jobs/nt-done/progress"))
print("body keys", ",".join(sorted(body)), "job is GET's", body["job"] == doc,
      "content-type", next(r for r in ok)["headers"]["Content-Type"])
EOF
v=$(cat "$N/verify.out")
ok grep -q "^delivered 3 distinct 3$" <<<"$v" -- "the webhook: three delivered, three distinct delivery ids"
ok grep -q "^events job.cancelled,job.completed,job.failed$" <<<"$v" -- "X-Trainprog-Event: completed, failed, cancelled"
ok grep -q "^same id on retries True$" <<<"$v" -- "X-Trainprog-Delivery is the same on every retry"
ok grep -q "^signatures 5 of 5$" <<<"$v" -- "every X-Trainprog-Signature verifies (HMAC-SHA256 of t.body)"
ok grep -q "^body keys delivered_at,event,job job is GET's True content-type application/json$" <<<"$v" -- \
    "the body: event, delivered_at and the job's document as GET has it"
[ -n "$v" ] || fail "the webhook checks ran" "$(cat "$N/verify.out")"

slack=$(jq -sc '[.[] | .body | fromjson | select(.text | test("nt-done"))][0]' "$N/slack.log" 2>/dev/null)
ok jq -e '.text | test("completed: best score 1.8500")' <<<"${slack:-null}" -- "Slack: the text says completed and the best score"
ok jq -e '[.blocks[] | .fields[]?.text] | any(test("pierce_depth 0.15"))' <<<"${slack:-null}" -- "Slack: the best params"
ok jq -e --arg u "$TP_BASE_URL/jobs/nt-done" '[.blocks[] | .text.text? // ""] | any(contains($u))' <<<"${slack:-null}" -- \
    "Slack: a link to the job view"
if grep -q "X-Trainprog-Signature" "$N/slack.log"; then fail "Slack messages carry no webhook headers"; else pass "Slack messages carry no webhook headers"; fi
mail=$(jq -sr '[.[] | select(.data | test("nt-fail"))][0].data' "$N/smtp.log" 2>/dev/null)
ok grep -q "^Subject: Training job nt-fail failed" <<<"$mail" -- "email: the subject names the job and the outcome"
ok grep -q "Validation failed: no trades" <<<"$mail" -- "email: the error message"
ok jq -se '[.[] | .to[]] | all(. == "<ops@example.com>")' "$N/smtp.log" -- "email: to the configured address"

# --- the sender killed while the receiver is down: nothing lost ------------------------

stop_receiver hook
pub --job nt-down start optimization && pub --job nt-down complete
wait_until 30 owed_is 1 "WHERE job_id = 'nt-down' AND attempts > 0 AND target_id = $hook_id" ||
    fail "the sender tried the receiver that is down"
for p in $(pgrep -P "$(notify_pid)"); do kill -KILL "$p"; done
receiver hook hook_receiver.py || return 0
sql "UPDATE notify_targets SET address = 'http://127.0.0.1:$hook_PORT/hook' WHERE id = $hook_id" >/dev/null
sql "UPDATE notify_outbox SET next_attempt_at = now() WHERE job_id = 'nt-down'" >/dev/null
wait_until 60 owed_is 3 "WHERE job_id = 'nt-down' AND delivered_at IS NOT NULL" &&
    pass "SIGKILLed sender, receiver down then back: the notifications still arrive" ||
    fail "SIGKILLed sender, receiver down then back: the notifications still arrive" \
        "$(outbox "target_id, attempts, last_error" "WHERE job_id = 'nt-down'")"
ok grep -q '"X-Trainprog-Event": "job.completed"' "$N/hook.log" -- "the webhook got nt-down's notification"

# --- dead letters, and their retry -----------------------------------------------------

sql "UPDATE notify_settings SET max_attempts = 2" >/dev/null
dead_id=$(admin notify add webhook "http://127.0.0.1:1/nothing-listens" --job nt-dead)
pub --job nt-dead start optimization && pub --job nt-dead error "boom"
wait_until 60 owed_is 1 "WHERE target_id = $dead_id AND dead_at IS NOT NULL" &&
    pass "after max_attempts failed tries, a dead letter" ||
    fail "after max_attempts failed tries, a dead letter" "$(outbox "attempts, last_error" "WHERE target_id = $dead_id")"
is "$(outbox "attempts" "WHERE target_id = $dead_id")" 2 "dead after exactly max_attempts (2) tries"
dead=$(admin notify dead)
ok grep -q "job.failed .*webhook .*2 .*nt-dead" <<<"$dead" -- "tp-admin notify dead lists it, with its tries"
wait_until 60 owed_is 3 "WHERE job_id = 'nt-dead' AND target_id <> $dead_id AND delivered_at IS NOT NULL" &&
    pass "a target for one job adds to those for every job" ||
    fail "a target for one job adds to those for every job"
sql "UPDATE notify_targets SET address = 'http://127.0.0.1:$hook_PORT/late' WHERE id = $dead_id" >/dev/null
before=$(lines hook)
admin notify dead --retry all >/dev/null
is "$?" 0 "tp-admin notify dead --retry all"
wait_until 60 owed_is 1 "WHERE target_id = $dead_id AND delivered_at IS NOT NULL" &&
    pass "a dead letter retried is delivered once its target answers" ||
    fail "a dead letter retried is delivered once its target answers"
ok grep -q '"/late"' "$N/hook.log" -- "it went to the target's new address"
admin notify dead --retry 999999 >/dev/null
is "$?" 3 "retrying a dead letter that does not exist: exit 3"

# --- PostgreSQL restarted: the sender connects and listens again -----------------------

one_sender() { [ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tp-notify sender'")" = 1 ]; }
"$DEV_STACK" db-stop >/dev/null
"$DEV_STACK" db-start >/dev/null
wait_until 30 one_sender && pass "after PostgreSQL restarted, the sender connects again" ||
    fail "after PostgreSQL restarted, the sender connects again"
# It is asleep now, listening: a job's end wakes it (well before its 60-s idle limit).
pub --job nt-restart start optimization && pub --job nt-restart complete
wait_until 20 owed_is 3 "WHERE job_id = 'nt-restart' AND delivered_at IS NOT NULL" &&
    pass "and a job's end wakes it: delivered" ||
    fail "and a job's end wakes it: delivered" "$(outbox "target_id, attempts, last_error" "WHERE job_id = 'nt-restart'")"

# --- refused addresses ------------------------------------------------------------------

priv_id=$(admin notify add webhook "http://10.255.255.1:9/x" --job nt-priv)
link_id=$(admin notify add slack "http://169.254.169.254/latest/meta-data" --job nt-priv)
pub --job nt-priv start optimization && pub --job nt-priv complete
wait_until 30 owed_is 2 "WHERE target_id IN ($priv_id, $link_id) AND dead_at IS NOT NULL" &&
    pass "private and link-local targets are refused (dead at once, not retried)" ||
    fail "private and link-local targets are refused (dead at once, not retried)" \
        "$(outbox "target_id, attempts, last_error" "WHERE target_id IN ($priv_id, $link_id)")"
ok grep -q "refused: 169.254.169.254 resolves to a private or link-local address" \
    <<<"$(outbox "last_error" "WHERE target_id = $link_id")" -- "the reason is recorded"
if grep -q "$secret" "$TP_STATE_DIR/logs/tp-notify.log"; then
	fail "the webhook's secret is never logged"
else
	pass "the webhook's secret is never logged"
fi
# A row stored without the rule (by hand, or before it was one) is held to it
# when sent: dead at once, with the rule's reason, nothing sent.
# (A raw non-ASCII byte in the path: what the sender's URL parser alone let by.)
hand_id=$(sql "INSERT INTO notify_targets (kind, address, job_id) VALUES ('webhook',
    'http://127.0.0.1:$hook_PORT/by-hand-café', 'nt-hand') RETURNING id" | head -n 1)
pub --job nt-hand start optimization && pub --job nt-hand complete
wait_until 30 owed_is 1 "WHERE target_id = $hand_id AND dead_at IS NOT NULL AND attempts = 1" &&
    pass "a stored target the rule refuses is a dead letter at once" ||
    fail "a stored target the rule refuses is a dead letter at once" \
        "$(outbox "target_id, attempts, last_error" "WHERE target_id = $hand_id")"
ok grep -q "refused: the target's url has a space, a control character or a byte that is not ASCII" \
    <<<"$(outbox "last_error" "WHERE target_id = $hand_id")" -- "with the rule's reason"
if grep -q "by-hand" "$N/hook.log"; then fail "nothing was sent to it"; else pass "nothing was sent to it"; fi
removed=$(admin notify remove "$priv_id" 2>&1 >/dev/null; echo "rc=$?")
ok grep -q "rc=0" <<<"$removed" -- "tp-admin notify remove"
is "$(outbox "count(*)" "WHERE target_id = $priv_id")" 0 "what a removed target was owed goes with it"

# --- a job's own targets, from POST /jobs ------------------------------------------------

submit() {
	http POST /api/v2/training/jobs -H "Authorization: Bearer $TP_PUBLISH_TOKEN" \
	    -H 'Content-Type: application/json' --data-binary "$1"
}
submit '{"job_id": "nt-api", "notify": [{"kind": "webhook", "url": "http://127.0.0.1:'"$hook_PORT"'/api", "secret": "k2"},
    {"kind": "email", "address": "owner@example.com"}]}'
is "$STATUS" 201 "POST /jobs with a notify list: 201"
is "$(sql "SELECT string_agg(kind || ' ' || address || ' ' || (secret IS NOT NULL)::text, ',' ORDER BY id)
    FROM notify_targets WHERE job_id = 'nt-api'")" \
    "webhook http://127.0.0.1:$hook_PORT/api true,email owner@example.com false" \
    "the job's targets are stored with it, the webhook's secret too"
if sql "SELECT request::text FROM training_jobs WHERE job_id = 'nt-api'" | grep -q "k2"; then
	fail "the secret is not stored in the request"
else
	pass "the secret is not stored in the request"
fi
# GET .../notifications (schema/015): whom its end will be told, cut short.
notes() { http GET "/api/v2/training/jobs/$1/notifications"; [ -s "$BODY_FILE" ] || echo '{}' >"$BODY_FILE"; }
notes nt-api
is "$STATUS" 200 "GET .../notifications: 200"
is "$(jq -c '[.notifications[] | [.kind, .target, .every_job, .state, .event]]' "$BODY_FILE")" \
    "$(jq -cn --arg h "http://127.0.0.1:$hook_PORT" --arg s "http://localhost:$slack_PORT" '[
        ["webhook", $h, true, "waiting", null], ["slack", $s, true, "waiting", null],
        ["email", "o...@example.com", true, "waiting", null],
        ["webhook", $h, false, "waiting", null], ["email", "o...@example.com", false, "waiting", null]]')" \
    "before its end: every target that applies, waiting, each cut to scheme, host and port or a letter and the domain"
if grep -qE 'k2|/api|/services|owner@|ops@' "$BODY_FILE"; then
	fail "no secret, path or whole address in it" "$(cat "$BODY_FILE")"
else
	pass "no secret, path or whole address in it"
fi
pub --job nt-api start data_collection && pub --job nt-api complete
wait_until 60 owed_is 5 "WHERE job_id = 'nt-api' AND delivered_at IS NOT NULL" &&
    pass "its end notifies its own two targets and the three for every job" ||
    fail "its end notifies its own two targets and the three for every job" \
        "$(outbox "target_id, attempts, last_error" "WHERE job_id = 'nt-api'")"
ok grep -q '"/api"' "$N/hook.log" -- "the job's webhook got it"
notes nt-api
is "$(jq -c '[(.notifications | length), ([.notifications[] | [.state, .event, .attempts, (.delivered_at | type), .next_attempt_at]] | unique)]' "$BODY_FILE")" \
    '[5,[["delivered","job.completed",1,"string",null]]]' "after its end: all five delivered, when, in one try"
# Rows written by hand, which no writer's rule lets in: what could be a
# credential never shows, whatever the URL's shape.
pub --job nt-mask start optimization
for a in 'http://u:p/w@h.example/x' 'http://u:pw@h.example/x' 'https://svc:k#ey@h.example/' \
    'http://h.example:s3cret/x' 'https://[::1]:8443/x?token=t' 'http://h_1.example:80#frag'; do
	sql "INSERT INTO notify_targets (kind, address, job_id) VALUES ('webhook', '$a', 'nt-mask')" >/dev/null
done
sql "INSERT INTO notify_targets (kind, address, job_id) VALUES ('email', 'x\"y@exa_mple.com', 'nt-mask')" >/dev/null
notes nt-mask
is "$(jq -c '[.notifications[] | select(.every_job | not) | .target]' "$BODY_FILE")" \
    '["http://?","http://?","https://?","http://?","https://[::1]:8443","http://h_1.example:80","?"]' \
    "targets written by hand: a host and port, or ? (never a user, password, path or query)"
# tp-admin notify list cuts them by the same rule.
if admin notify list | grep -qE 'u:p|svc|s3cret|k#ey|token='; then
	fail "notify list cuts hand-written targets as the API does" "$(admin notify list | grep nt-mask)"
else
	pass "notify list cuts hand-written targets as the API does"
fi
notes nt-hand
is "$(jq -c '[.notifications[] | select(.every_job | not) | [.state, .target, (.last_error | test("^refused: the target"))]]' "$BODY_FILE")" \
    "[[\"dead\",\"http://127.0.0.1:$hook_PORT\",true]]" "a dead letter reads dead, with its reason"
notes nt-nothing-here
is "$STATUS $(jq -r .error "$BODY_FILE")" "404 not_found" "GET .../notifications of an unknown job: 404"
http POST /api/v2/training/jobs/nt-api/notifications
is "$STATUS" 405 "POST .../notifications: 405"
ok grep -q '"<owner@example.com>"' "$N/smtp.log" -- "the job's email address got it"
for bad in '{"notify": [{"kind": "webhook", "url": "gopher://x"}]}|notify[0].url' \
    '{"notify": [{"kind": "email", "address": "nobody"}]}|notify[0].address' \
    '{"notify": [{"kind": "webhook", "url": "https://h/x", "secret": "a\nb"}]}|notify[0].secret' \
    '{"notify": "http://x"}|notify'; do
	submit "${bad%|*}"
	is "$STATUS $(jq -r .field "$BODY_FILE" 2>/dev/null)" "400 ${bad##*|}" "POST /jobs refuses ${bad%|*}"
done
# The URLs tp-admin refused above, refused here too: one rule.
for bad in "${bad_urls[@]}"; do
	submit "$(jq -cn --arg u "$bad" '{notify: [{kind: "slack", url: $u}]}')"
	is "$STATUS $(jq -r .field "$BODY_FILE" 2>/dev/null)" "400 notify[0].url" "POST /jobs refuses $bad"
done
ok grep -q "notify\[0\].url has no host" "$BODY_FILE" -- "and says why: $(cat "$BODY_FILE")"

# --- retention (schema/014): delivered rows and finished jobs' own targets go ------------

# nt-api and nt-hand finished two hours ago, as far as notify_prune() can
# tell, and nt-api's deliveries are as old; what is kept is an hour.
sql "UPDATE notify_settings SET keep_delivered = '1 hour'" >/dev/null
sql "UPDATE notify_outbox SET delivered_at = now() - interval '2 hours' WHERE job_id = 'nt-api'" >/dev/null
sql "UPDATE training_progress SET finished_at = now() - interval '2 hours'
    WHERE job_id IN ('nt-api', 'nt-hand')" >/dev/null
targets_before=$(sql "SELECT count(*) FROM notify_targets")
done_rows=$(outbox "count(*)" "WHERE job_id = 'nt-done'")
# The sender prunes when it connects (and hourly): make it connect again.
"$DEV_STACK" db-stop >/dev/null
"$DEV_STACK" db-start >/dev/null
pruned() { owed_is 0 "WHERE job_id = 'nt-api'" && [ "$(sql "SELECT count(*) FROM notify_targets WHERE job_id = 'nt-api'")" = 0 ]; }
wait_until 30 pruned && pass "the sender deletes deliveries past keep_delivered, and the finished job's own targets" ||
    fail "the sender deletes deliveries past keep_delivered, and the finished job's own targets" \
        "$(outbox "target_id, delivered_at" "WHERE job_id = 'nt-api'")"
is "$(sql "SELECT count(*) FROM notify_targets")" "$((targets_before - 2))" "only those two targets went"
is "$(sql "SELECT count(*) FROM notify_targets WHERE id = $hand_id")" 1 \
    "a finished job's target with a dead letter stays (the letter can be retried)"
is "$(outbox "count(*)" "WHERE job_id = 'nt-done'")" "$done_rows" "deliveries younger than keep_delivered stay"
is "$(sql "SELECT count(*) FROM notify_targets WHERE job_id IS NULL")" 3 "targets for every job stay"
# tp_sender prunes through the function only.
is "$(sql "SELECT has_table_privilege('tp_sender', 'notify_outbox', 'DELETE') OR
    has_table_privilege('tp_sender', 'notify_targets', 'DELETE')")" f "tp_sender may not DELETE itself"

stop_receiver hook
stop_receiver slack
stop_receiver smtp
stack_down notify
