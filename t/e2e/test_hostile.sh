# test_hostile.sh: a test that attacks the deployed stack, through real
# nginx, tp-fcgi and PostgreSQL (the main stack):
#
#   1. path and encoding tricks on /api/v2/training/ (dot segments, double
#      and encoded slashes, double encoding, overlong and invalid UTF-8, NUL
#      and control characters, lengths, backslashes, ";"), and invalid UTF-8
#      in the list's query string;
#   2. requests larger than nginx or the pool take (headers, URI, body),
#      and malformed HTTP (versions, framing, smuggling attempts);
#   3. slow clients (headers byte by byte, a body that stalls), which nginx
#      must hold off so that no worker waits on them;
#   4. forged, malformed, revoked and under-scoped bearer tokens;
#   5. SQL, JSON and HTML metacharacters stored and read back verbatim, and
#      \u0000 refused wherever it hides;
#   6. what the database roles tp_reader and tp_writer may not do;
#   7. the privilege escalation through the SECURITY DEFINER trigger
#      function and a temporary table that shadows job_status_counts;
#   8. bodies with a byte order mark or control bytes cJSON skips as
#      whitespace (these once crashed a worker).
#
# Every error the API gives must be JSON in valid UTF-8 with Content-Type
# application/json.  Nothing here asserts a timing (curl and psql have time
# limits only so that the suite cannot hang); what it creates it removes:
# tokens are revoked, grants restored, helper processes killed.

main_stack || return 0
P=/api/v2/training/jobs
HX=hx$$
HX_RT=$(sed -n 's/^RT=//p' "$TP_STATE_DIR/stack.env")
HX_SUPER_URL="postgresql://postgres@/trainprog?host=$HX_RT/pgsock&port=5432"
HX_RESTARTS0=$(status_field .restarts)
HX_WRITER_TEMP0=$(sql "SELECT has_database_privilege('tp_writer', current_database(), 'TEMPORARY')")

# --- helpers ----------------------------------------------------------------

# hx_utf8_json: the last body is JSON in valid UTF-8.  iconv refuses stray
# bytes; Python's decoder also refuses overlong forms and surrogates, and its
# JSON parser raw control characters inside strings.
hx_utf8_json() {
	iconv -f UTF-8 -t UTF-8 "$BODY_FILE" >/dev/null 2>&1 &&
	    python3 -c 'import json, sys; json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))' \
	    "$BODY_FILE" 2>/dev/null
}
hx_body() { head -c 240 "$BODY_FILE" | cat -v | tr '\n' ' '; }

# hx_error STATUS CODE WHAT: one assertion on the last response: its status
# (or one of "S1 S2"), Content-Type: application/json, a body {"error": ...,
# "message": ...} in valid UTF-8, and its error code (CODE "-": any code).
hx_error() {
	local want_status=$1 want_code=$2 what=$3 shape=not-utf8-json code=- got want
	case " $want_status " in *" $STATUS "*) want_status=$STATUS ;; esac
	if hx_utf8_json; then
		shape=$(jq -r 'if type == "object" and keys_unsorted[0:2] == ["error", "message"]
		    and (.error | type) == "string" and (.message | type) == "string"
		    then "json-error" else "json-not-an-error" end' "$BODY_FILE")
		code=$(jq -r '.error // "-"' "$BODY_FILE")
	fi
	[ "$want_code" = - ] && code=-
	got="$STATUS $(header Content-Type) $shape $code"
	want="$want_status application/json json-error $want_code"
	if [ "$got" = "$want" ]; then pass "$what"; else fail "$what" "got:  $got" "want: $want" "body: $(hx_body)"; fi
}

# hx_status_in "200 409" WHAT: the last status is one of these.
hx_status_in() {
	case " $1 " in
	*" $STATUS "*) pass "$2" ;;
	*) fail "$2" "got:  $STATUS" "want: one of $1" "body: $(hx_body)" ;;
	esac
}

# hx_post JOB_PATH_SEGMENT BODY [curl options]: POST progress with the
# stack's token; the segment is sent as it is (encode it first).
hx_post() {
	local seg=$1 body=$2
	shift 2
	http POST "$P/$seg/progress" -H "Authorization: Bearer $TP_PUBLISH_TOKEN" \
	    -H 'Content-Type: application/json' --data-binary "$body" "$@"
}
# hx_post_file JOB_PATH_SEGMENT FILE: the same, the body byte for byte from FILE.
hx_post_file() {
	http POST "$P/$1/progress" -H "Authorization: Bearer $TP_PUBLISH_TOKEN" \
	    -H 'Content-Type: application/json' --data-binary @"$2"
}
hx_start() { hx_post "$1" '{"seq": 1, "event": "start", "step": "data_collection"}'; }

hx_admin() { "$E2E_BIN/tp-admin" --database-url "$HX_SUPER_URL" "$@" 2>>"$E2E_TMP/hx-admin.err"; }

# hx_psql_as ROLE SQL...: the statements, in one session as ROLE (trust
# authentication on the stack's socket), stopping at the first error;
# prints what psql said.  Bounded: the suite never waits on a lock.
hx_psql_as() {
	local role=$1 s args=()
	shift
	for s in "$@"; do args+=(-c "$s"); done
	PGOPTIONS='-c statement_timeout=5s -c lock_timeout=5s' PGCONNECT_TIMEOUT=5 timeout 30 \
	    psql -X -q -tA -v ON_ERROR_STOP=1 -h "$HX_RT/pgsock" -p 5432 -U "$role" -d trainprog \
	    "${args[@]}" 2>&1
}
# hx_refused ROLE WHAT PATTERN SQL: the statement, in a read-write
# transaction, fails with an error matching PATTERN (were it to succeed, the
# transaction is rolled back).
hx_refused() {
	local role=$1 what=$2 pattern=$3 stmt=$4 out rc
	out=$(hx_psql_as "$role" "BEGIN READ WRITE" "$stmt" "ROLLBACK")
	rc=$?
	if [ $rc -ne 0 ] && [[ $out =~ $pattern ]]; then
		pass "$role $what"
	else
		fail "$role $what" "got:  exit $rc: $(echo "$out" | head -n 2 | tr '\n' ' ')" \
		    "want: an error matching /$pattern/ ($stmt)"
	fi
}
HX_DENIED='permission denied|must be owner'

# ============================================================================
# 1. Path tricks, and invalid UTF-8 in the query string
# ============================================================================

# Dot segments, raw (curl --path-as-is) and encoded: never a job id.
for seg in .. . %2e%2e %2E%2E %2e .%2e %2e.; do
	http GET "$P/$seg/progress"
	hx_error 400 invalid_job_id "dot segment '$seg' as the job id: 400 invalid_job_id"
done
http POST "$P/%2e%2e/cancel" -H "Authorization: Bearer $TP_PUBLISH_TOKEN"
hx_error 400 invalid_job_id "dot segment on POST cancel: 400 invalid_job_id"

# nginx resolves these to another path, but the pool reads the raw URI:
# never a document of another job, always the JSON 404.
for path in "$P/a/../progress" "$P/victim/progress/../../other/progress" "$P/x/..%2F..%2Fprogress" \
    "$P/..;/..;/progress" "$P/x/progress/.." "/api/v2/training/jobs/./x/progress"; do
	http GET "$path"
	hx_error 404 unknown_path "traversal inside the API, $path: 404 unknown_path"
done

# Double slashes are not merged for the pool: a different path.
for path in "$P//x/progress" "$P/x//progress" "/api/v2//training/jobs/x/progress" \
    "//api/v2/training/jobs/x/progress"; do
	http GET "$path"
	hx_error 404 unknown_path "double slash, $path: 404 unknown_path"
done

# Paths that leave the API's prefix are nginx's business: they never reach
# the pool (its count of accepted requests stays put) and never answer 200.
hx_acc0=$(status_field .accepted_requests)
hx_codes=
for path in /api/v2/training/../../etc/passwd /api/v2/training/%2e%2e/%2e%2e/etc/passwd \
    /api/v2/training%2F..%2F..%2Fetc/passwd "$P/..%2F..%2F..%2Fetc%2Fpasswd/progress" \
    /api/v2/Training/jobs/x/progress /api/v2/trainingx/jobs/x/progress /API/v2/training/jobs/x/progress \
    /.trainprog/error/400 /api/v2/training/../../../../../x; do
	http GET "$path"
	hx_codes+="$STATUS "
done
case " $hx_codes" in
*" 2"??" "*) fail "paths outside the API prefix: none answers 2xx" "statuses: $hx_codes" ;;
*) pass "paths outside the API prefix: none answers 2xx ($hx_codes)" ;;
esac
is "$(status_field .accepted_requests)" "$hx_acc0" "paths outside the API prefix never reach the pool"
is "$(status_field .workers.active)" 0 "... and no worker is busy"

# %2F stays inside the job id; %252F is a literal "%2F".
hx_post "$HX-a%2Fb" '{"seq": 1, "event": "start", "step": "data_collection"}'
json_is .job_id "\"$HX-a/b\"" "POST to $HX-a%2Fb stores the job id \"$HX-a/b\""
hx_post "$HX-a%252Fb" '{"seq": 1, "event": "start", "step": "optimization"}'
json_is .job_id "\"$HX-a%2Fb\"" "POST to $HX-a%252Fb stores the job id \"$HX-a%2Fb\" (decoded once)"
http GET "$P/$HX-a%2Fb/progress"
json_is '[.job_id, .current_step]' "[\"$HX-a/b\",\"Data Collection\"]" "GET $HX-a%2Fb reads the job \"a/b\""
http GET "$P/$HX-a%2fb/progress"
json_is .job_id "\"$HX-a/b\"" "a lowercase %2f too"
http GET "$P/$HX-a%252Fb/progress"
json_is '[.job_id, .current_step]' "[\"$HX-a%2Fb\",\"Optimization\"]" "GET $HX-a%252Fb reads the other job, \"a%2Fb\""
http GET "$P/$HX-a/b/progress"
hx_error 404 unknown_path "a raw slash is not the encoded one: 404 unknown_path"
hx_post "$HX-c%2F..%2Fd" '{"seq": 1, "event": "start", "step": "data_collection"}'
json_is .job_id "\"$HX-c/../d\"" "an encoded \"/../\" stays inside the job id"
http GET "$P/d/progress"
hx_error 404 not_found "... and reaches no other job"

# Overlong forms, surrogates, beyond U+10FFFF, stray bytes: not UTF-8.
for seg in %C0%AE%C0%AE %C0%AF %E0%80%AF %C0%80 %FF a%FEb %ED%A0%80 %F4%90%80%80 %F8%88%80%80%80 \
    %E2%82 "$(printf 'raw\xff')"; do
	http GET "$P/$seg/progress"
	hx_error 400 invalid_job_id "job id $(printf '%s' "$seg" | cat -v): 400 invalid_job_id"
done
http POST "$P/%C0%AE%C0%AE/progress" -H "Authorization: Bearer $TP_PUBLISH_TOKEN" \
    -H 'Content-Type: application/json' --data-binary '{"seq": 1, "event": "queue"}'
hx_error 400 invalid_job_id "overlong dots on POST progress: 400 invalid_job_id"

# NUL: nginx refuses it before any location (the errors snippet makes it JSON).
for seg in %00 a%00b; do
	http GET "$P/$seg/progress"
	hx_error 400 bad_request "job id $seg: 400 bad_request"
done
# Control characters, C0, DEL and C1.
for seg in %01 a%09b a%0Ab a%0Db %1B%5B2J %1F a%7Fb %C2%80 %C2%9F; do
	http GET "$P/$seg/progress"
	hx_error 400 invalid_job_id "job id $seg: 400 invalid_job_id"
done

# Lengths in bytes, not characters.
http GET "$P/$(printf 'x%.0s' $(seq 256))/progress"
hx_error 400 invalid_job_id "a 256-byte job id: 400"
hx_id255=$HX-$(printf 'y%.0s' $(seq $((255 - ${#HX} - 1))))
http GET "$P/$hx_id255/progress"
hx_error 404 not_found "a 255-byte job id is valid (404 not_found while unknown)"
hx_start "$hx_id255"
is "$STATUS" 200 "a 255-byte job id: published"
json_is '.job_id | length' 255 "... and read back whole"
hx_e=$(printf '%%C3%%A9%.0s' $(seq 127))
hx_start "${hx_e}x"
json_is '[(.job_id | length), (.job_id | utf8bytelength)]' '[128,255]' "127 x \"é\" + \"x\" (255 bytes): published"
http GET "$P/${hx_e}%C3%A9/progress"
hx_error 400 invalid_job_id "128 x \"é\" (256 bytes): 400 invalid_job_id"

# Backslashes are ordinary bytes of the id, raw or encoded.
hx_post "$HX-back%5Cslash" '{"seq": 1, "event": "start", "step": "data_collection"}'
json_is .job_id "\"$HX-back\\\\slash\"" "POST to back%5Cslash stores a backslash"
http GET "$P/$HX-back\\slash/progress"
json_is '[.job_id, .status]' "[\"$HX-back\\\\slash\",\"running\"]" "a raw backslash reads the same job"

# ";" is part of the id (no path parameters are stripped).
hx_post "$HX-semi;a=b" '{"seq": 1, "event": "start", "step": "data_collection"}'
json_is .job_id "\"$HX-semi;a=b\"" "a raw ';' stays in the job id"
hx_start "$HX-semi"
http GET "$P/$HX-semi;jsessionid=0/progress"
hx_error 404 not_found "$HX-semi;jsessionid=0 is not the job $HX-semi"

# The list's query string: invalid UTF-8 (encoded or raw) is a 400 whose
# message is still valid UTF-8 JSON (it must not echo the raw bytes).
for q in '%FF=1' 'status=%FF%FE' 'st%C3=1' 'status=%C0%AE' 'status=%ED%A0%80' 'active=%E2%82' \
    "status=$(printf '\xff')" 'cursor=%FF%FE' 'limit=%C0%B1'; do
	http GET "$P?$q"
	hx_error 400 invalid_query "query $(printf '%s' "$q" | cat -v): 400 invalid_query, valid UTF-8 JSON"
done
# Metacharacters in the query: refused, and escaped in the message.
for q in "status=running'--" 'status=running%27%3B%20DROP%20TABLE%20training_progress%3B--' \
    'limit=1;DROP%20TABLE%20training_progress' 'cursor=%27%20OR%201=1--' 'status=%0A%01%22%5C%3C/script%3E' \
    'status=running&status=failed' '%3Cscript%3E=1'; do
	http GET "$P?$q"
	hx_error 400 invalid_query "query $q: 400 invalid_query"
done

# ============================================================================
# 2. Sizes
# ============================================================================

hx_big=$(head -c 20480 /dev/zero | tr '\0' a)
# nginx's own refusals come before any location: only server-level
# error_page lines (conf/nginx/trainprog-server-errors.conf) make them JSON.
# Headers over its buffers are its 494, sent as 400 (or as 431 if mapped).
http GET "$P/x/progress" -H "X-Big: $hx_big"
hx_error "400 431" - "a 20 KB request header: nginx's 400, as JSON"
http GET "$P/x/progress" -H "Authorization: Bearer $hx_big"
hx_error "400 431" - "a 20 KB Authorization header: nginx's 400, as JSON"
http GET "$P/$(head -c 102400 /dev/zero | tr '\0' a)/progress"
hx_error 414 - "a 100 KB URI: nginx's 414, as JSON"
hx_hdrs=()
for i in $(seq 1000); do hx_hdrs+=(-H "X-Many-$i: v"); done
http GET "$P/x/progress" "${hx_hdrs[@]}"
hx_error "400 431" - "1000 request headers: nginx's 400, as JSON"
hx_hdrs=()
for i in $(seq 300); do hx_hdrs+=(-H "X-Many-$i: v"); done
http GET "$P/x/progress" "${hx_hdrs[@]}"
hx_error 404 not_found "300 small request headers: served as usual"

# Headers nginx takes (each line within its 8k buffers) but over the pool's
# max_params_size: the pool's 431 must arrive whole.  It closed the socket
# with the request unread, so the kernel reset the connection and nginx
# could lose the body (Content-Length: 88, no bytes; the client then waits).
# A race: tried up to 20 times, stopping at the first incomplete answer.
hx_h=$(head -c 8180 /dev/zero | tr '\0' h)
hx_whole=0
for i in $(seq 20); do
	: >"$BODY_FILE"
	hx_out=$(curl -s -o "$BODY_FILE" -D "$HEAD_FILE" -w '%{http_code} %{size_download}' --max-time 5 \
	    -H "X-A: $hx_h" -H "X-B: $hx_h" -H "X-C: $hx_h" -H "X-D: $hx_h" "$TP_BASE_URL$P/x/progress") || true
	STATUS=${hx_out%% *}
	if [ "$STATUS" != 431 ] || ! hx_utf8_json; then break; fi
	hx_whole=$((hx_whole + 1))
done
if [ "$hx_whole" = 20 ]; then
	pass "headers over the pool's max_params_size: 20 whole JSON 431s"
else
	fail "headers over the pool's max_params_size: 20 whole JSON 431s" \
	    "got:  $hx_whole whole, then status ${hx_out% *} with ${hx_out#* } bytes of body" "want: 20"
fi
hx_error 431 headers_too_large "... a JSON 431 headers_too_large"

# Malformed HTTP, sent byte for byte.
cat >"$E2E_TMP/hx-raw.py" <<'PY'
# hx-raw.py PORT HEAD_FILE BODY_FILE < REQUEST: sends the request as it is,
# reads one response (within 5 s), writes its head and body, prints its status.
import socket, sys
port, head_file, body_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
data, head, body, n = b"", b"", b"", None
try:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(sys.stdin.buffer.read())
    while b"\r\n\r\n" not in data:
        c = s.recv(65536)
        if not c:
            break
        data += c
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v.strip())
    while n is None or len(body) < n:
        c = s.recv(65536)
        if not c:
            break
        body += c
except OSError:
    pass
open(head_file, "wb").write(head + b"\r\n")
open(body_file, "wb").write(body if n is None else body[:n])
words = head.split(b" ", 2)
print(words[1].decode() if len(words) > 1 and words[0].startswith(b"HTTP/") else "000")
PY
# hx_raw REQUEST: sends REQUEST (\r, \n, \xHH escapes) as it is; sets STATUS,
# HEAD_FILE and BODY_FILE like http.
hx_raw() { STATUS=$(printf '%b' "$1" | python3 "$E2E_TMP/hx-raw.py" "$(http_port)" "$HEAD_FILE" "$BODY_FILE"); }
hx_raw "GET $P/x/progress HTTP/3.0\r\nHost: x\r\n\r\n"
hx_error 505 - "HTTP/3.0 in the request line: nginx's 505, as JSON"
hx_raw "POST $P/x/progress HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nxx"
hx_error 501 - "Transfer-Encoding: gzip: nginx's 501, as JSON"
hx_raw "GET $P/x/progress HTTP/1.1\r\n\r\n"
hx_error 400 bad_request "HTTP/1.1 without Host: 400 bad_request"
hx_raw "POST $P/x/progress HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
hx_error 400 bad_request "Content-Length and Transfer-Encoding together (smuggling): 400 bad_request"
hx_raw "POST $P/x/progress HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}x"
hx_error 400 bad_request "two Content-Length headers: 400 bad_request"
hx_raw "GET $P/x/progress HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n"
hx_error 400 bad_request "a folded header line: 400 bad_request"
hx_raw "GET $P/x/progress HTTP/1.1\r\nHost: x\r\nX-Nul: a\x00b\r\n\r\n"
hx_error 400 bad_request "a NUL in a header: 400 bad_request"
hx_raw "GET $P/x/pro\x00gress HTTP/1.1\r\nHost: x\r\n\r\n"
hx_error 400 bad_request "a raw NUL in the path: 400 bad_request"
hx_raw "GET http://elsewhere.example$P/x/progress HTTP/1.1\r\nHost: x\r\n\r\n"
hx_error 404 not_found "an absolute-form target is read by its path only"

# Bodies: 64 KiB is taken, a byte more is a JSON 413, chunked or not.
hx_start "$HX-big"
hx_pre='{"seq": 2, "event": "error", "error_message": "'
hx_post_body() { # LENGTH FILE: an error event of exactly LENGTH bytes
	{ printf '%s' "$hx_pre"; head -c $(($1 - ${#hx_pre} - 2)) /dev/zero | tr '\0' x; printf '"}'; } >"$2"
}
hx_post_body 65537 "$E2E_TMP/hx-65537"
hx_post_file "$HX-big" "$E2E_TMP/hx-65537"
hx_error 413 payload_too_large "a 65,537-byte event: 413 payload_too_large"
http POST "$P/$HX-big/progress" -H "Authorization: Bearer $TP_PUBLISH_TOKEN" -H 'Content-Type: application/json' \
    -H 'Transfer-Encoding: chunked' --data-binary @"$E2E_TMP/hx-65537"
hx_error 413 payload_too_large "the same, chunked: 413 payload_too_large"
http POST "$P/$HX-big/progress" -H 'Content-Type: application/json' --data-binary @"$E2E_TMP/hx-65537"
hx_error 413 payload_too_large "the same without a token: 413 (nginx, before the pool)"
hx_post_body 65536 "$E2E_TMP/hx-65536"
hx_post_file "$HX-big" "$E2E_TMP/hx-65536"
is "$STATUS" 200 "a 65,536-byte event: taken"
json_is '[.status, (.error_message | length)]' '["failed",8192]' "... its message cut at 8 KiB"

# ============================================================================
# 3. Slow clients: nginx holds them; no worker waits on them
# ============================================================================

cat >"$E2E_TMP/hx-slow.py" <<'PY'
# hx-slow.py PORT MODE READY_FILE TOKEN: a slow client that never finishes.
# headers: sends a request's headers one byte at a time, never the blank
# line that ends them.  body: a POST announcing 1000 bytes, sends 100, then
# one byte now and then.  Touches READY_FILE once it has sent that much,
# writes READY_FILE.closed if the server hangs up; gives up after 60 s.
import socket, sys, time
port, mode, ready, token = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
end = time.monotonic() + 60
s = socket.create_connection(("127.0.0.1", port), timeout=10)
try:
    if mode == "headers":
        for c in b"GET /api/v2/training/jobs/slow/progress HTTP/1.1\r\nHost: localhost\r\nX-Slow: ":
            s.sendall(bytes([c]))
            time.sleep(0.01)
    else:
        s.sendall(b"POST /api/v2/training/jobs/slow/progress HTTP/1.1\r\nHost: localhost\r\n"
                  b"Authorization: Bearer " + token.encode() + b"\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                  b'{"seq": 1, "event": "start", "step": "data_collection", "step_details": {"x": "'
                  + b"y" * 20)
    open(ready, "w").close()
    while time.monotonic() < end:
        time.sleep(0.5)
        s.sendall(b"y")
except OSError:
    open(ready + ".closed", "w").close()
PY
hx_nslow=$(($(status_field .workers.configured) + 2))
hx_acc0=$(status_field .accepted_requests)
hx_ref0=$(status_field .refused_connections)
hx_slow_pids=()
for ((i = 0; i < hx_nslow; i++)); do
	for mode in headers body; do
		python3 "$E2E_TMP/hx-slow.py" "$(http_port)" $mode "$E2E_TMP/hx-slow-$mode-$i" \
		    "$TP_PUBLISH_TOKEN" >/dev/null 2>&1 &
		hx_slow_pids+=($!)
	done
done
hx_slow_ready() {
	local i
	for ((i = 0; i < hx_nslow; i++)); do
		[ -e "$E2E_TMP/hx-slow-headers-$i" ] && [ -e "$E2E_TMP/hx-slow-body-$i" ] || return 1
	done
}
ok wait_until 30 hx_slow_ready -- "$((2 * hx_nslow)) slow clients (more than the pool has workers) are sending"
is "$(status_field .workers.active)" 0 "while they trickle, no worker is busy"
is "$(status_field .accepted_requests)" "$hx_acc0" "... the pool has not seen their requests"
is "$(status_field .refused_connections)" "$hx_ref0" "... nor refused any connection"
http GET "$P/$HX-a%2Fb/progress"
is "$STATUS" 200 "... and a GET is answered meanwhile"
hx_post "$HX-a%2Fb" '{"seq": 2, "event": "update", "step_percentage": 40}'
is "$STATUS" 200 "... and so is a POST"
hx_held=0
for pid in "${hx_slow_pids[@]}"; do proc_alive "$pid" && hx_held=$((hx_held + 1)); done
is "$hx_held:$(find "$E2E_TMP" -maxdepth 1 -name 'hx-slow-*.closed' | wc -l)" "$((2 * hx_nslow)):0" \
    "... while every slow client is still connected"
is "$(status_field .accepted_requests)" "$((hx_acc0 + 2))" "the pool served exactly those two requests"
kill "${hx_slow_pids[@]}" 2>/dev/null
for pid in "${hx_slow_pids[@]}"; do wait "$pid" 2>/dev/null; done
hx_left=0
for pid in "${hx_slow_pids[@]}"; do proc_alive "$pid" && hx_left=$((hx_left + 1)); done
is "$hx_left" 0 "the slow clients are gone"
http GET "$P/slow/progress"
hx_error 404 not_found "their POST never arrived (no job \"slow\")"

# ============================================================================
# 4. Tokens
# ============================================================================
# fcgi/auth.c compares the SHA-256 of the secret in constant time
# (equal_ct), and gives an unknown id and a wrong secret the same answer: no
# oracle for which ids exist.  Only the bodies and headers are compared
# here: timings are never asserted in tests.

hx_auth() { # AUTHORIZATION-VALUE [BODY]: a publish (by default a queue event)
	local body='{"seq": 1, "event": "queue"}'
	[ $# -ge 2 ] && body=$2
	http POST "$P/$HX-tok/progress" -H "Authorization: $1" -H 'Content-Type: application/json' \
	    --data-binary "$body"
}
hx_answer() { printf '%s|%s|%s' "$STATUS" "$(header WWW-Authenticate)" "$(cat "$BODY_FILE")"; }
hx_tok_id=${TP_PUBLISH_TOKEN:3:12}
hx_secret=${TP_PUBLISH_TOKEN:16}
hx_fake_secret=$(printf 'A%.0s' $(seq ${#hx_secret}))
hx_unknown_id=000000000000
[ "$hx_tok_id" = $hx_unknown_id ] && hx_unknown_id=000000000001

hx_auth "Bearer tp_${hx_unknown_id}_$hx_secret"
hx_error 401 invalid_token "an unknown token id: 401 invalid_token"
hx_ans_unknown=$(hx_answer)
hx_auth "Bearer tp_${hx_tok_id}_$hx_fake_secret"
hx_error 401 invalid_token "a known id with a wrong secret: 401 invalid_token"
is "$(hx_answer)" "$hx_ans_unknown" "unknown id and wrong secret: identical status, WWW-Authenticate and body"
hx_auth "bearer tp_${hx_unknown_id}_$hx_secret"
is "$(hx_answer)" "$hx_ans_unknown" "lowercase 'bearer' with an unknown id: the same answer"

hx_bad_auth() { # WHAT AUTHORIZATION-VALUE (named, so that no secret is printed)
	hx_auth "$2"
	hx_error 401 invalid_token "$1: 401 invalid_token"
}
hx_bad_auth "a token id alone" "Bearer tp_${hx_tok_id}"
hx_bad_auth "a valid token plus one character" "Bearer ${TP_PUBLISH_TOKEN}x"
hx_bad_auth "a valid token less its last character" "Bearer ${TP_PUBLISH_TOKEN%?}"
hx_bad_auth "the id in upper-case hex" "Bearer tp_$(echo "$hx_tok_id" | tr a-f A-F)_$hx_secret"
hx_bad_auth "'-' instead of '_' as separators" "Bearer tp-${hx_tok_id}-$hx_secret"
hx_bad_auth "a secret with a character outside base64url" "Bearer tp_${hx_tok_id}_${hx_secret%?}!"
hx_bad_auth "'TP_' instead of 'tp_'" "Bearer TP_${hx_tok_id}_$hx_secret"
hx_bad_auth "SQL as the token" "Bearer ' OR 1=1 --"
hx_bad_auth "'Bearer' without a token" "Bearer"
hx_bad_auth "'Bearer ' and nothing else" "Bearer "
hx_bad_auth "the token without a scheme" "$TP_PUBLISH_TOKEN"
hx_bad_auth "scheme Basic" "Basic dXNlcjpwYXNz"
hx_bad_auth "scheme Token with a valid token" "Token $TP_PUBLISH_TOKEN"
hx_bad_auth "no space after Bearer" "Bearer$TP_PUBLISH_TOKEN"
hx_bad_auth "'Bearer:' with a valid token" "Bearer: $TP_PUBLISH_TOKEN"
http POST "$P/$HX-tok/progress?access_token=$TP_PUBLISH_TOKEN" -H 'Content-Type: application/json' \
    --data-binary '{"seq": 1, "event": "queue"}'
hx_error 401 unauthorized "a token in the query string is ignored: 401 unauthorized"
http POST "$P/$HX-tok/cancel?access_token=$TP_PUBLISH_TOKEN"
hx_error 401 unauthorized "... on cancel too"
http GET "$P/$HX-tok/progress"
hx_error 404 not_found "none of them created the job"

# Lowercase "bearer" is not refused: the scheme is case-insensitive (RFC
# 9110, 11.1; auth.c compares it with strncasecmp).  Above, an unknown token
# under it got the same 401 as under "Bearer"; a valid one is accepted.
hx_auth "bearer $TP_PUBLISH_TOKEN"
is "$STATUS" 200 "lowercase 'bearer' with a valid token: accepted (the scheme is case-insensitive)"

# A revoked token is refused at its next request, like an unknown one.
hx_t2=$(hx_admin token create --scope publish --name "$HX-revoked")
hx_auth "Bearer $hx_t2" '{"seq": 2, "event": "start", "step": "data_collection"}'
is "$STATUS" 200 "a new publish token publishes"
hx_admin token revoke "${hx_t2:3:12}" >/dev/null
hx_auth "Bearer $hx_t2" '{"seq": 3, "event": "update", "step_percentage": 1}'
hx_error 401 invalid_token "once revoked: 401 invalid_token"
hx_auth "Bearer tp_${hx_unknown_id}_$hx_secret" '{"seq": 3, "event": "update", "step_percentage": 1}'
hx_ans_unknown=$(hx_answer)
hx_auth "Bearer $hx_t2" '{"seq": 3, "event": "update", "step_percentage": 1}'
is "$(hx_answer)" "$hx_ans_unknown" "a revoked token gets the unknown token's answer"
http GET "$P/$HX-tok/progress"
json_is .seq 2 "... and its write did not happen"

# Scopes.
hx_tr=$(hx_admin token create --scope read --name "$HX-read")
hx_tc=$(hx_admin token create --scope cancel --name "$HX-cancel")
hx_auth "Bearer $hx_tr" '{"seq": 3, "event": "update", "step_percentage": 1}'
hx_error 403 forbidden "a read-only token cannot publish: 403 forbidden"
http POST "$P/$HX-tok/cancel" -H "Authorization: Bearer $hx_tr"
hx_error 403 forbidden "a read-only token cannot cancel: 403 forbidden"
hx_auth "Bearer $hx_tc" '{"seq": 3, "event": "update", "step_percentage": 1}'
hx_error 403 forbidden "a cancel-only token cannot publish: 403 forbidden"
http GET "$P/$HX-tok/progress"
json_is '[.seq, .status]' '[2,"running"]' "none of the refused writes happened"
hx_admin token revoke "${hx_tr:3:12}" >/dev/null
hx_admin token revoke "${hx_tc:3:12}" >/dev/null
is "$(sql "SELECT count(*) FROM api_tokens WHERE name LIKE '$HX-%' AND revoked_at IS NULL")" 0 \
    "the suite's tokens are revoked"

# ============================================================================
# 5. Metacharacters stored and read back verbatim
# ============================================================================

hx_rows0=$(sql "SELECT count(*) FROM training_progress")
hx_ids=(
	"$HX-o'brien"
	"$HX-a''b"
	"$HX-x'; DROP TABLE training_progress; --"
	"$HX-/* c */ -- d"
	"$HX-\$\$ \$tag\$ \$\$"
	"$HX-back\\slash\\\\"
	"$HX-100%_done_%"
	"$HX-quote\"d \"\""
	"$HX-caf"$'\xc3\xa9'"-"$'\xf0\x9f\x98\x80'
	"$HX-line"$'\xe2\x80\xa8'"sep"
	"$HX-</script><img src=x onerror=alert(1)>"
	"$HX-sp ace+plus&a=b?c#d"
)
hx_details=$(cat <<'JSON'
{"sql'quote": "o'brien", "doubled''": "a''b", "semi;colon": "x'; DROP TABLE training_progress; --",
 "comment/*": "/* not a comment */ -- nor this", "dollar$$": "$$ $tag$ body $tag$ $$",
 "back\\slash": "C:\\temp\\new", "like%_": "100% _done_", "quote\"d": "say \"hi\"",
 "newline\nkey": "line1\nline2\ttabbed\r", "sep\u2028": "para\u2029graph", "accent\u00e9": "caf\u00e9",
 "emoji\ud83d\ude00": "\ud83d\ude00 grin", "html": "</script><img src=x onerror=alert(1)>",
 "nested": {"arr": ["'", "\"", "\\", ";--", "/*", "$$", "%", "_", null, true, 1.5]}, "": "empty key"}
JSON
)
hx_params=$(cat <<'JSON'
{"p'1": 0.15, "p;--": "v'; DELETE FROM api_tokens; --", "p\\": "\\\\server\\share", "p%_": "%_%",
 "p\"": "\"", "p/*": "*/", "p$$": "$$", "p</b>": "<b>bold</b>&amp;<!--", "p\u2028\u00e9\ud83d\ude00": "\t\n",
 "p''": "''"}
JSON
)
hx_message=$(cat <<'JSON'
"it's ''quoted''; DROP TABLE training_progress; -- /* $$ \\ % _ \"x\" \n\t \u2028 \u00e9 \ud83d\ude00 </script><img src=x onerror=alert(1)>"
JSON
)
hx_listed='[]'
for id in "${hx_ids[@]}"; do
	seg=$(urlenc "$id")
	hx_codes=
	hx_post "$seg" "{\"seq\": 1, \"event\": \"start\", \"step\": \"data_collection\", \"step_details\": $hx_details}"
	hx_codes+="$STATUS "
	hx_post "$seg" "{\"seq\": 2, \"event\": \"update\", \"step_percentage\": 10, \"best_params\": $hx_params}"
	hx_codes+="$STATUS "
	hx_post "$seg" "{\"seq\": 3, \"event\": \"error\", \"error_message\": $hx_message}"
	hx_codes+="$STATUS"
	is "$hx_codes" "200 200 200" "job $(printf '%s' "$id" | cat -v): start, update, error published"
	http GET "$P/$seg/progress"
	hx_want=$(jq -cnS --arg id "$id" --argjson d "$hx_details" --argjson p "$hx_params" --argjson m "$hx_message" \
	    '{job_id: $id, step_details: $d, best_params: $p, error_message: $m, status: "failed"}')
	hx_got=$(jq -cS '{job_id, step_details, best_params, error_message, status}' "$BODY_FILE" 2>&1)
	is "$hx_got" "$hx_want" "job $(printf '%s' "$id" | cat -v): id, step_details, best_params, error_message read back verbatim"
	ok hx_utf8_json -- "... in valid UTF-8 JSON"
	hx_listed=$(jq -c --arg id "$id" '. + [$id]' <<<"$hx_listed")
done
is "$(sql "SELECT count(*) FROM training_progress")" "$((hx_rows0 + ${#hx_ids[@]}))" \
    "training_progress has exactly one new row per job"
is "$(sql "SELECT to_regclass('public.training_progress') IS NOT NULL AND to_regclass('public.api_tokens') IS NOT NULL
    AND (SELECT count(*) FROM api_tokens) > 0")" t "training_progress and api_tokens are still there"
is "$(sql "SELECT count(*) FROM training_progress WHERE job_id = ANY (ARRAY[$(for id in "${hx_ids[@]}"; do
    printf "'%s'," "${id//\'/\'\'}"; done | sed 's/,$//')])")" "${#hx_ids[@]}" "the rows have exactly the ids sent"
http GET "$P?status=failed&limit=200"
is "$STATUS" 200 "the list with all these jobs: 200"
ok hx_utf8_json -- "... valid UTF-8 JSON"
is "$(jq -c --argjson ids "$hx_listed" '[$ids[] as $i | any(.jobs[]; .job_id == $i)] | all' "$BODY_FILE")" true \
    "... listing every id verbatim"

# \u0000 wherever it hides: a 400 naming the field.
hx_nul() { # FIELD BODY WHAT: on a fresh running job (seq 1), BODY with seq 2
	local j=$HX-nul-$((++hx_nul_n))
	hx_start "$j" >/dev/null
	hx_post "$j" "$2"
	hx_error 400 invalid_field "$3: 400 invalid_field"
	json_is .field "\"$1\"" "$3: names $1"
}
hx_nul_n=0
hx_nul step_details '{"seq": 2, "event": "update", "step_details": {"a\u0000b": 1}}' "\\u0000 in a step_details key"
hx_nul step_details '{"seq": 2, "event": "update", "step_details": {"a": {"b": ["x\u0000"]}}}' "\\u0000 deep in step_details"
hx_nul best_params '{"seq": 2, "event": "update", "best_params": {"k\u0000": 1}}' "\\u0000 in a best_params key"
hx_nul best_params '{"seq": 2, "event": "update", "best_params": {"k": "\u0000"}}' "\\u0000 in a best_params value"
hx_nul error_message '{"seq": 2, "event": "error", "error_message": "boom\u0000"}' "\\u0000 at the end of error_message"
# In the event's own names and values, cJSON would cut the text at the
# \u0000 ("seq\u0000" reads as "seq"): the body as a whole is refused.
hx_nul_body() { # BODY WHAT
	local j=$HX-nul-$((++hx_nul_n))
	hx_start "$j" >/dev/null
	hx_post "$j" "$1"
	hx_error 400 invalid_body "$2: 400 invalid_body"
}
hx_nul_body '{"seq": 2, "event": "update\u0000"}' "\\u0000 in the event's value"
hx_nul_body '{"seq": 2, "event\u0000": "update"}' "\\u0000 in the key \"event\""
hx_nul_body '{"seq\u0000": 2, "event": "update", "step_percentage": 50}' "\\u0000 in the key \"seq\""
hx_nul_body '{"seq": 2, "event": "update", "step_percentage\u0000": 50}' "\\u0000 in the key \"step_percentage\""
hx_nul step '{"seq": 2, "event": "start", "step": "optimization\u0000"}' "\\u0000 in the step's value"
# What jsonb refuses though cJSON takes it, or cannot store: was the database's 500.
hx_nul best_params '{"seq": 2, "event": "update", "best_params": {"x": 1e1000000}}' \
    "a number numeric cannot hold (1e1000000) in best_params"
hx_nul step_details '{"seq": 2, "event": "update", "step_details": {"x": [01]}}' \
    "a number written 01 in step_details"
hx_many=$(printf "1e300,%.0s" $(seq 249))1e300
hx_nul best_params "{\"seq\": 2, \"event\": \"update\", \"best_params\": {\"x\": [$hx_many]}}" \
    "250 numbers of 301 digits as stored (75 KB, sent in 1.5 KB) in best_params"
is "$(sql "SELECT count(*) FROM training_progress WHERE job_id LIKE '$HX-nul-%' AND (seq <> 1 OR step_percentage <> 0)")" 0 \
    "none of them was applied"

# ============================================================================
# 6. What the database roles may not do
# ============================================================================
# As the roles themselves, over the stack's socket.  tp_reader's sessions
# are read-only by default; each statement runs in an explicit read-write
# transaction so that only the privileges stop it.

hx_refused tp_reader "cannot INSERT into training_progress" "$HX_DENIED" \
    "INSERT INTO training_progress (job_id, current_step) VALUES ('$HX-r', 'x')"
hx_refused tp_reader "cannot UPDATE training_progress" "$HX_DENIED" "UPDATE training_progress SET seq = seq + 1"
hx_refused tp_reader "cannot DELETE from training_progress" "$HX_DENIED" "DELETE FROM training_progress"
hx_refused tp_reader "cannot read api_tokens.name" "$HX_DENIED" "SELECT name FROM api_tokens"
hx_refused tp_reader "cannot CREATE TABLE" "$HX_DENIED" "CREATE TABLE $HX (x int)"
hx_refused tp_reader "cannot CREATE TEMP TABLE" "permission denied" "CREATE TEMP TABLE $HX (x int)"

hx_refused tp_writer "cannot DELETE from training_progress" "$HX_DENIED" "DELETE FROM training_progress"
hx_refused tp_writer "cannot TRUNCATE training_progress" "$HX_DENIED" "TRUNCATE training_progress"
hx_refused tp_writer "cannot ALTER training_progress" "$HX_DENIED" \
    "ALTER TABLE training_progress DISABLE TRIGGER USER"
hx_refused tp_writer "cannot DROP training_progress" "$HX_DENIED" "DROP TABLE training_progress"
hx_refused tp_writer "cannot read api_tokens.name" "$HX_DENIED" "SELECT name FROM api_tokens"
hx_refused tp_writer "cannot INSERT into api_tokens" "$HX_DENIED" \
    "INSERT INTO api_tokens (token_id, secret_sha256, scopes) VALUES ('0123456789ab', sha256(''), '{publish}')"
hx_refused tp_writer "cannot un-revoke api_tokens" "$HX_DENIED" "UPDATE api_tokens SET revoked_at = NULL"
hx_refused tp_writer "cannot INSERT into job_status_counts" "$HX_DENIED" \
    "INSERT INTO job_status_counts (status, n) VALUES ('running', 1000)"
hx_refused tp_writer "cannot DELETE from job_status_counts" "$HX_DENIED" "DELETE FROM job_status_counts"
hx_refused tp_writer "cannot CREATE TABLE in public" "$HX_DENIED" "CREATE TABLE public.$HX (x int)"
hx_refused tp_writer "cannot CREATE FUNCTION in public" "$HX_DENIED" \
    "CREATE FUNCTION public.$HX() RETURNS int LANGUAGE sql AS 'SELECT 1'"
hx_refused tp_writer "cannot CREATE SCHEMA" "$HX_DENIED" "CREATE SCHEMA $HX"
hx_refused tp_writer "cannot CREATE TEMP TABLE" "permission denied" "CREATE TEMP TABLE $HX (x int)"
hx_refused tp_writer "cannot call fold_job_status_counts()" "$HX_DENIED" "SELECT fold_job_status_counts()"
hx_refused tp_writer "cannot make itself superuser" "permission denied|must be superuser|must have" \
    "ALTER ROLE tp_writer SUPERUSER"
hx_refused tp_writer "cannot SET ROLE postgres" "permission denied" "SET ROLE postgres"
hx_refused tp_writer "cannot run a program through COPY" "permission denied|must be superuser|pg_execute_server_program" \
    "COPY (SELECT 1) TO PROGRAM 'true'"
# notify_targets (schema/013): the writer adds targets only for a job it
# creates in the same transaction, as POST /jobs does; never one for every
# job, nor one on a job that exists already.
HX_RLS='row-level security'
hx_refused tp_writer "cannot add a notification target for every job" "$HX_RLS" \
    "INSERT INTO notify_targets (kind, address) VALUES ('webhook', 'https://evil.example/x')"
sql "INSERT INTO training_jobs (job_id, request, request_sha256, claimed_at, claimed_by)
    VALUES ('$HX-tj', '{}', sha256(''::bytea), now(), 'hx')" >/dev/null
hx_refused tp_writer "cannot add a notification target to a job created before" "$HX_RLS" \
    "INSERT INTO notify_targets (kind, address, job_id) VALUES ('webhook', 'https://evil.example/x', '$HX-tj')"
# ... nor by making up a training_jobs row for a job a trainer published on its own.
sql "INSERT INTO training_progress (job_id, current_step) VALUES ('$HX-pub', 'Data Collection')" >/dev/null
hx_refused tp_writer "cannot add a notification target to a published job, even with a made-up request" "$HX_RLS" \
    "INSERT INTO training_jobs (job_id, request, request_sha256, claimed_at, claimed_by)
     VALUES ('$HX-pub', '{}', sha256(''::bytea), now(), 'hx');
     INSERT INTO notify_targets (kind, address, job_id) VALUES ('webhook', 'https://evil.example/x', '$HX-pub')"
hx_refused tp_writer "cannot read notification targets" "$HX_DENIED" "SELECT address FROM notify_targets"
# tp_sender marks deliveries; what is marked delivered long enough ago is
# pruned (schema/014), so it may mark a row once, as of now(), and no other way.
hx_target=$(sql "INSERT INTO notify_targets (kind, address, job_id) VALUES ('webhook', 'https://h.example/x', '$HX-sent')
    RETURNING id" | head -n 1)
sql "INSERT INTO notify_outbox (target_id, job_id, event, dead_at) VALUES ($hx_target, '$HX-sent', 'job.failed', now())" >/dev/null
hx_refused tp_sender "cannot back-date a delivery (to have a dead letter pruned)" "recorded once, as of now" \
    "UPDATE notify_outbox SET delivered_at = '-infinity', dead_at = NULL WHERE job_id = '$HX-sent'"
hx_out=$(hx_psql_as tp_sender "BEGIN READ WRITE" \
    "UPDATE notify_outbox SET delivered_at = now() WHERE job_id = '$HX-sent'" "ROLLBACK")
is "$?:$hx_out" "0:" "tp_sender records a delivery as of now()"
hx_refused tp_sender "cannot move a delivery once recorded" "recorded once, as of now" \
    "UPDATE notify_outbox SET delivered_at = now() WHERE job_id = '$HX-sent';
     UPDATE notify_outbox SET delivered_at = now() - interval '1 day' WHERE job_id = '$HX-sent'"
hx_refused tp_sender "cannot DELETE from notify_outbox" "$HX_DENIED" "DELETE FROM notify_outbox"
sql "DELETE FROM notify_targets WHERE id = $hx_target" >/dev/null
hx_out=$(hx_psql_as tp_writer "BEGIN READ WRITE" \
    "INSERT INTO training_jobs (job_id, request, request_sha256) VALUES ('$HX-tj2', '{}', sha256(''::bytea))" \
    "INSERT INTO notify_targets (kind, address, job_id) VALUES ('webhook', 'https://h.example/x', '$HX-tj2')" \
    "ROLLBACK")
is "$?:$hx_out" "0:" "tp_writer adds a target for the job it creates in the same transaction"
sql "DELETE FROM training_jobs WHERE job_id = '$HX-tj'" >/dev/null
is "$(sql "SELECT coalesce(string_agg(nspname, ','), '') FROM pg_namespace
    WHERE has_schema_privilege('tp_writer', oid, 'CREATE')")" "" "tp_writer may CREATE in no schema"
is "$(sql "SELECT has_database_privilege('tp_writer', current_database(), 'CREATE')")" f \
    "tp_writer may not CREATE schemas in the database"

# ============================================================================
# 7. Privilege escalation through the SECURITY DEFINER trigger function
# ============================================================================
# training_progress_count_status() runs as its owner (a superuser) and
# inserts into job_status_counts.  With a search_path that does not name
# pg_temp, PostgreSQL looks in the session's temporary schema first, so a
# temporary job_status_counts with a trigger of the attacker's runs as that
# owner.  TEMPORARY is granted explicitly first, so that the attempt gets
# as far as it can even once PUBLIC has lost it.

sql "GRANT TEMPORARY ON DATABASE trainprog TO tp_writer" >/dev/null
hx_drift() { sql "SELECT (SELECT coalesce(sum(n), 0) FROM job_status_counts) - (SELECT count(*) FROM training_progress)"; }
hx_drift0=$(hx_drift)
hx_attempt=$(PGOPTIONS='-c statement_timeout=5s -c lock_timeout=5s' PGCONNECT_TIMEOUT=5 timeout 30 \
    psql -X -q -tA -h "$HX_RT/pgsock" -p 5432 -U tp_writer -d trainprog -v id="$HX-escalation" 2>&1 <<'SQL'
CREATE TABLE pg_temp.job_status_counts (id bigserial, status text, n bigint);
CREATE FUNCTION pg_temp.hx_escalate() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    EXECUTE 'ALTER ROLE tp_writer SUPERUSER';
    RETURN NEW;
END
$f$;
CREATE TRIGGER hx_escalate BEFORE INSERT ON pg_temp.job_status_counts
    FOR EACH ROW EXECUTE FUNCTION pg_temp.hx_escalate();
INSERT INTO training_progress (job_id, current_step) VALUES (:'id', 'Data Collection');
SQL
)
is "$(sql "SELECT count(*) FROM training_progress WHERE job_id = '$HX-escalation'")" 1 \
    "the attempt got as far as its INSERT"
hx_super=$(sql "SELECT rolsuper FROM pg_roles WHERE rolname = 'tp_writer'")
if [ "$hx_super" = f ]; then
	pass "tp_writer is still not a superuser after the temp-table trigger attempt"
else
	fail "tp_writer is still not a superuser after the temp-table trigger attempt" "got:  rolsuper = $hx_super" \
	    "want: f" "session: $(echo "$hx_attempt" | tr '\n' ' ' | head -c 300)"
fi
is "$(hx_drift)" "$hx_drift0" "the trigger counted the new row in public.job_status_counts, not in the temp table"
hx_bad=$(sql "SELECT coalesce(string_agg(p.oid::regprocedure::text || ' ' || coalesce(array_to_string(p.proconfig, ';'), '(none)'), ', '), '')
    FROM pg_proc p WHERE p.prosecdef AND NOT coalesce((SELECT bool_or(c ~ '^search_path=(.*[ ,])?\"?pg_temp\"?$')
    FROM unnest(p.proconfig) c), false)")
is "$hx_bad" "" "every SECURITY DEFINER function sets a search_path ending in pg_temp"
# Clean up, whatever happened: the role, the grant, the row, the counts.
sql "ALTER ROLE tp_writer NOSUPERUSER" >/dev/null
sql "REVOKE TEMPORARY ON DATABASE trainprog FROM tp_writer" >/dev/null
sql "DELETE FROM training_progress WHERE job_id = '$HX-escalation'" >/dev/null
hx_fix=$((hx_drift0 - $(hx_drift)))
[ "$hx_fix" != 0 ] && sql "INSERT INTO job_status_counts (status, n) VALUES ('running', $hx_fix)" >/dev/null
is "$(sql "SELECT rolsuper FROM pg_roles WHERE rolname = 'tp_writer'"):$(hx_drift)" "f:$hx_drift0" \
    "cleaned up: tp_writer no superuser, the counts as before"

# ============================================================================
# 8. A byte order mark, and control bytes cJSON takes for whitespace
# ============================================================================
# Each must be an accepted (200) or an in-order refused (409) event, never a
# crashed worker (the pool's restarts stay put).

hx_restarts=$(status_field .restarts)
hx_ctl() { # WHAT JOB BODY: publishes BODY (with \xHH escapes), byte for byte
	printf '%b' "$3" >"$E2E_TMP/hx-ctl"
	hx_post_file "$2" "$E2E_TMP/hx-ctl"
	hx_status_in "200 409" "$1: 200 or 409"
}
hx_s='{"seq":1,"event":"start","step":"data_collection"}'
hx_ctl "a UTF-8 byte order mark first" "$HX-ctl-1" '\xEF\xBB\xBF'"$hx_s"
hx_ctl "\\x0b first" "$HX-ctl-2" '\x0b'"$hx_s"
hx_ctl "\\x01 first" "$HX-ctl-3" '\x01'"$hx_s"
hx_ctl "\\x1f first" "$HX-ctl-4" '\x1f'"$hx_s"
hx_ctl "control bytes between every token" "$HX-ctl-5" \
    '{\x1f"seq"\x01:\x0b1\x1f,\x01"event":\x0b"start",\x1f"step"\x01:\x01"data_collection"\x0b}'
hx_ctl "control bytes after each value and the object" "$HX-ctl-6" \
    '{"seq":1\x0b,"event":"start"\x01,"step":"data_collection"\x1f}\x0b\x01'
hx_ctl "a byte order mark, then control bytes" "$HX-ctl-7" '\xEF\xBB\xBF\x01\x0b'"$hx_s"'\x1f'
hx_codes=
for i in 1 2 3 4 5 6 7; do
	http GET "$P/$HX-ctl-$i/progress"
	hx_codes+="$STATUS "
done
is "$hx_codes" "200 200 200 200 200 200 200 " "... each of them started its job"
hx_start "$HX-ctl"
hx_ctl "\\x0b and \\x01 after numbers (update)" "$HX-ctl" '{"seq":2\x0b,"event":"update","step_percentage":10\x01}'
# Inside best_params the text is stored as sent, and PostgreSQL's json
# takes only spaces, tabs and line breaks between tokens: a 400 naming
# the field, never the database's 500.
printf '%b' '{"seq":3,"event":"update","best_params":{\x01"a"\x1f:\x0b1\x01}\x1f}' >"$E2E_TMP/hx-ctl"
hx_post_file "$HX-ctl" "$E2E_TMP/hx-ctl"
hx_error 400 invalid_field "control bytes inside best_params (update): 400 invalid_field"
json_is .field '"best_params"' "control bytes inside best_params: names best_params"
hx_ctl "\\x0b after error_message (error)" "$HX-ctl" '{"seq":4,"event":"error","error_message":"x"\x0b}'
is "$(status_field .restarts)" "$hx_restarts" "no worker died on those bodies"
http GET "$P/$HX-ctl/progress"
is "$STATUS" 200 "an anonymous GET still succeeds afterwards"
json_is '[.seq, .step_percentage, .best_params, .error_message, .status]' '[4,10,null,"x","failed"]' \
    "the events read as sent (the refused one left nothing)"
http GET "$P?limit=1"
is "$STATUS" 200 "... and so does the list"

# ============================================================================
# The whole suite
# ============================================================================

is "$(status_field .restarts)" "$HX_RESTARTS0" "no worker died during the hostile suite"
is "$(sql "SELECT has_database_privilege('tp_writer', current_database(), 'TEMPORARY')")" "$HX_WRITER_TEMP0" \
    "tp_writer's TEMPORARY privilege is as the suite found it"
# Leave the pool whole for the suites after this one (workers that died respawn).
hx_pool_whole() {
	[ "$(status_field '[.worker_list[] | select(.state == "idle")] | length')" -ge "$(status_field .workers.configured)" ]
}
ok wait_until 60 hx_pool_whole -- "the pool has all its workers idle at the end"
