# test_cache.sh: the workers' read cache (fcgi/cache.c).  A kept document
# is dropped at any write: a notification from PostgreSQL for writes made
# anywhere, the pool's own counter for writes made through it.  The TTL here
# is 60 s, so every fresh read below is the invalidation's doing.

stack_up cache || { fail "a stack for the cache starts"; return 0; }
P=/api/v2/training/jobs
TOKEN=$TP_PUBLISH_TOKEN
set_pool_setting read_cache_ttl 60s
ok reload_pool -- "read_cache_ttl = 60s applied"

pct() { http GET $P/$1/progress; [ "$STATUS" = 200 ] && jq -r .step_percentage "$BODY_FILE"; }
# burst JOB [FIELD]: eight reads of JOB at once, on eight connections (so
# that both workers answer some); prints FIELD (step_percentage) of each.
burst() {
	local i urls=()
	for i in 1 2 3 4 5 6 7 8; do urls+=("$TP_BASE_URL$P/$1/progress"); done
	curl -s --max-time 10 -Z --parallel-immediate --parallel-max 8 "${urls[@]}" 2>/dev/null | jq -r ".${2:-step_percentage}"
}
worker_reqs() { status_field '[.worker_list[] | select(.pid > 0) | .requests] | map(tostring) | join(" ")'; }
# all_read JOB VALUE: a burst in which every read sees VALUE, and during
# which every worker answered (so each has read the job since its last change).
all_read() {
	local before after b a
	before=($(worker_reqs))
	[ "$(burst "$1" | sort -u)" = "$2" ] || return 1
	after=($(worker_reqs))
	[ ${#before[@]} = ${#after[@]} ] || return 1
	for ((i = 0; i < ${#before[@]}; i++)); do
		[ "${after[i]}" -gt "${before[i]}" ] || return 1
	done
}
hits() { status_field .read_cache.hits; }
sql_pct() { sql "UPDATE training_progress SET step_percentage = $2 WHERE job_id = '$1'" >/dev/null; }
# unannounced JOB VALUE: a write no one announces (tp-notify, which reads
# the changes and notifies the pools, frozen), then a burst of reads of JOB.
unannounced() {
	notify_pause
	sql_pct "$1" "$2"
	burst "$1"
	notify_resume
}

# revalidation JOB WHAT: ETags and If-None-Match on JOB, whatever answers them
# (a kept document or a fresh one): the tag is the document's, a 304 comes
# without a body, a change is a 200 with a new tag.
revalidation() {
	local job=$1 what=$2 tag tag2 sum
	http GET $P/$job/progress
	tag=$(header ETag)
	sum=$(sha256sum "$BODY_FILE" | cut -c1-32)
	is "$tag" "\"$sum\"" "$what: the ETag is the document's SHA-256 (128 bits, quoted)"
	is "$(curl -s -o /dev/null -w '%{http_code} %{size_download}' -H "If-None-Match: $tag" \
	    "$TP_BASE_URL$P/$job/progress")" "304 0" "$what: the 304 has no body"
	http GET $P/$job/progress -H "If-None-Match: $tag"
	is "$STATUS" 304 "$what: If-None-Match with it: 304"
	is "$(header ETag)" "$tag" "$what: the 304 repeats the tag"
	http GET $P/$job/progress -H "If-None-Match: \"other\", W/$tag"
	is "$STATUS" 304 "$what: a list, the tag weak: 304"
	http GET $P/$job/progress -H "If-None-Match: $tag junk"
	is "$STATUS" 200 "$what: a malformed If-None-Match: the document"
	sql_pct "$job" 77
	changed() { http GET $P/$job/progress -H "If-None-Match: $tag"; [ "$STATUS" = 200 ]; }
	ok wait_until 5 changed -- "$what: after a write, the old tag gets the new document"
	tag2=$(header ETag)
	ok test -n "$tag2" -a "$tag2" != "$tag" -- "$what: with a new tag"
	is "$(jq -r .step_percentage "$BODY_FILE")" 77 "$what: the new document"
}

json_is_status() { curl -s "$TP_BASE_URL/_trainprog/status" | jq -c "$1"; }
is "$(json_is_status '.read_cache | [.entries_per_worker, (.hits | type), (.misses | type)]')" \
    '[64,"number","number"]' "the status page shows the cache and its counters"

# --- kept, then dropped by a notification -------------------------------------
put_row cache-a step_percentage=10
ok wait_until 10 all_read cache-a 10 -- "a job is read by every worker"
h0=$(hits)
burst cache-a >/dev/null
h1=$(hits)
ok test "$h1" -ge $((h0 + 8)) -- "reads of an unchanged job are cache hits ($h0 -> $h1)"

sql_pct cache-a 20
ok wait_until 5 all_read cache-a 20 -- "an UPDATE made in psql reaches every worker (notification)"
sql "DELETE FROM training_progress WHERE job_id = 'cache-a'" >/dev/null
gone() { http GET $P/cache-a/progress; [ "$STATUS" = 404 ]; }
gone_all() { local i; for i in 1 2 3 4 5 6; do gone || return 1; done; }
ok wait_until 5 gone_all -- "a DELETE: 404 from every worker"
put_row cache-a step_percentage=30
ok wait_until 5 all_read cache-a 30 -- "stored again: read again"

# Without the notification (tp-notify frozen: a write no one announces), a worker keeps serving what it has: the proof that the
# fresh reads above were the notification's doing, not a missed cache.
put_row cache-b step_percentage=40
ok wait_until 10 all_read cache-b 40 -- "another job, read by every worker"
stale=$(unannounced cache-b 41 | grep -cx 40)
is "$stale" 8 "an unannounced write: the kept document is served (until the TTL)"
sql_pct cache-b 42
ok wait_until 5 all_read cache-b 42 -- "the next announced write drops it"

# --- writes through the pool: read your own write, every time ---------------------
post() {
	http POST "$P/$1/progress" -H "Authorization: Bearer $TOKEN" \
	    -H 'Content-Type: application/json' --data-binary "$2"
}
post cache-c '{"seq": 1, "event": "start", "step": "data_collection"}'
is "$STATUS" 200 "a job started over HTTP"
ok wait_until 10 all_read cache-c 0 -- "read by every worker"
# The notification off: only the pool's own count of its writes can tell
# a worker that another one wrote.
notify_pause
before=($(worker_reqs))
wrong=
for n in $(seq 1 30); do
	post cache-c "{\"seq\": $((n + 1)), \"event\": \"update\", \"step_percentage\": $n}"
	[ "$STATUS" = 200 ] || { wrong+="post$n=$STATUS "; continue; }
	got=$(burst cache-c | sort -u | tr '\n' ' ')
	[ "$got" = "$n " ] || wrong+="$n:$got"
done
after=($(worker_reqs))
is "$wrong" "" "30 times: a POST answered, then eight GETs at once all see it"
ok test "${after[0]}" -gt $((before[0] + 30)) -a "${after[1]}" -gt $((before[1] + 30)) -- \
    "both workers answered many of them (${before[*]} -> ${after[*]})"

code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" "$TP_BASE_URL$P/cache-c/cancel")
is "$code" 202 "a cancel over HTTP"
is "$(burst cache-c status | sort -u)" cancelling "eight GETs at once all read the cancel"
notify_resume

# --- writes landing while queries run --------------------------------------------
# A write that commits while a worker's query is in flight: its notification
# comes in with the query's result, read by libpq and gone from the socket.
# It must still drop what the worker keeps, and the row that query read
# (which may predate the write) must not be kept.  Under a load of GETs of
# an unknown job (404s are never kept, so each is a query), every write is
# read back by every worker, three bursts in a row, within seconds (the TTL
# is 60 s).
put_row cache-f step_percentage=0
ok load_start 30000 8 $P/cache-nope/progress -- "a load of GETs of an unknown job runs"
read_thrice() { all_read "$@" && all_read "$@" && all_read "$@"; }
missed=
for n in $(seq 1 30); do
	sql_pct cache-f "$n"
	wait_until 5 read_thrice cache-f "$n" || missed+="$n "
done
kill "$LOAD_PID" 2>/dev/null
wait "$LOAD_PID" 2>/dev/null
is "$missed" "" "30 writes while queries run: each read back by every worker"

# --- entity tags: revalidation from the cache -----------------------------------
put_row cache-etag step_percentage=3
ok wait_until 10 all_read cache-etag 3 -- "a tagged job is kept by every worker"
revalidation cache-etag "kept"

# --- the reader's connection lost: LISTEN again on the new one -------------------
put_row cache-d step_percentage=1
ok wait_until 10 all_read cache-d 1 -- "read before the connections are cut"
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tp-fcgi'" >/dev/null
ok wait_until 10 all_read cache-d 1 -- "served after the cut (each worker connects and LISTENs again)"
sql_pct cache-d 2
ok wait_until 5 all_read cache-d 2 -- "and a write after the cut reaches them (the new connection listens)"

# --- off ---------------------------------------------------------------------------
set_pool_setting read_cache 0
ok reload_pool -- "read_cache = 0 applied"
is "$(status_field .read_cache.entries_per_worker)" 0 "the status page says no cache"
put_row cache-e step_percentage=5
ok wait_until 10 all_read cache-e 5 -- "read by every worker"
fresh=$(unannounced cache-e 6 | grep -cx 6)
is "$fresh" 8 "no cache: even an unannounced write is read at once"
put_row cache-etag2 step_percentage=3
revalidation cache-etag2 "no cache"

stack_down cache
