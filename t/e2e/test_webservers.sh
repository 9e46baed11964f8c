# test_webservers.sh: the API behind the other web servers operators run:
# Debian's Apache httpd 2.4 (mod_proxy_fcgi) and lighttpd 1.4 (mod_fastcgi),
# each a private instance on loopback (own configuration, pid file and logs
# in $E2E_TMP, workers as www-data) in front of the main stack's pool, set
# up with the snippets we ship (conf/apache, conf/lighttpd) with only the
# socket paths changed.  Each answers the same contract as nginx, as far as
# it can; where it cannot (lighttpd's own errors are not JSON), what it does
# is checked instead (docs/OPERATIONS.md says which).

if [ "$(id -u)" != 0 ] || ! id www-data >/dev/null 2>&1; then
	TESTS_RUN=$((TESTS_RUN + 1))
	echo "ok $TESTS_RUN - webservers # SKIP needs root and a www-data user"
	return 0
fi
main_stack || return 0
P=/api/v2/training/jobs
ws_main_url=$TP_BASE_URL
ws_sock=$(sed -n 's/^listen = //p' "$TP_STATE_DIR/tp-fcgi.conf")
ws_status_sock=$(sed -n 's/^status_listen = //p' "$TP_STATE_DIR/tp-fcgi.conf")

# The spec's example job, as `dev-stack seed` stores it (afresh: other
# suites may have written to it), and a job id with a slash in it.
sql "DELETE FROM training_progress WHERE job_id = 'abc123-def456'" >/dev/null
"$DEV_STACK" seed
put_row "web/servers"
put_row "ws-bare-post"
head -c 65536 /dev/zero | tr '\0' x >"$E2E_TMP/ws-64k"
head -c 65537 /dev/zero | tr '\0' x >"$E2E_TMP/ws-64k+1"

# ws_snippet FILE SOCKET: a shipped snippet with the pool's sockets in it,
# as an operator would set them.
ws_snippet() {
	sed -e "s#/run/trainprog/tp-fcgi-status.sock#$ws_status_sock#g" \
	    -e "s#/run/trainprog/tp-fcgi.sock#$2#g" "$E2E_ROOT/$1"
}

# The servers this suite starts, stopped at the end and on any way out.
ws_stops=()
ws_stop_all() {
	local s
	for s in ${ws_stops[@]+"${ws_stops[@]}"}; do $s >/dev/null 2>&1; done
	ws_stops=()
}
eval "set -- $(trap -p EXIT)"
ws_prev_exit=${3:-}
# shellcheck disable=SC2064 # the runner's own trap, expanded now
trap "ws_stop_all; $ws_prev_exit" EXIT

# gone CONF: no process runs with CONF on its command line any more.
gone() { ! pgrep -f -- "$1" >/dev/null; }
# workers_are_www_data CONF: every process of the server but its root
# master runs as www-data, and there is at least one.
workers_are_www_data() {
	local users
	users=$(pgrep -f -- "$1" | xargs -r ps -o user= -p | sort -u | grep -vx root | tr '\n' ' ')
	[ "$users" = "www-data " ]
}
# Requests that reached the pool's workers so far (the status page is
# served by a process of its own, and counts nothing).
pool_count() { curl -s --max-time 5 "$ws_main_url/_trainprog/status" | jq '.accepted_requests + .refused_connections'; }
# chunked JOB: publishes a start event for JOB, sent chunked.
chunked() {
	http POST "$P/$1/progress" -H "Authorization: Bearer $TP_PUBLISH_TOKEN" -H 'Content-Type: application/json' \
	    -H 'Transfer-Encoding: chunked' --data-binary '{"seq": 1, "event": "start", "step": "data_collection"}'
}
answers_ping() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1/_trainprog/ping")" = 200 ]; }

# ws_start DIR CONF_FUNCTION COMMAND...: picks two free ports, ws_port (the
# server, in front of the pool) and ws_dead_port (in front of a socket that
# does not exist), writes the configuration (CONF_FUNCTION uses them),
# starts the server, and waits until it answers.  A port may be taken
# between the check and the bind: then two others, three times at most.
ws_start() {
	local dir=$1 conf=$2 _
	shift 2
	for _ in 1 2 3; do
		ws_port=$(pick_port)
		ws_dead_port=$(pick_port)
		[ "$ws_port" = "$ws_dead_port" ] && continue
		"$conf"
		"$@" >"$dir/start.out" 2>&1 &&
		    wait_until 20 answers_ping "http://127.0.0.1:$ws_port" && return 0
		grep -q 'Address already in use' "$dir/start.out" "$dir/error.log" 2>/dev/null || return 1
	done
	return 1
}

# error_or_status_is STATUS CODE WHAT: an error the web server answers
# itself, or lets the pool answer: the API's JSON error where it gives one
# ($ws_json_errors), else the status alone.
error_or_status_is() {
	if [ "$ws_json_errors" = 1 ]; then
		error_is "$@"
	else
		is "$STATUS" "$1" "$3: status (the server's own page, not JSON)"
	fi
}

# contract NAME: the API through the server at $TP_BASE_URL.
contract() {
	local n=$1 length seen
	CURRENT_TEST="webservers: $n"

	http GET $P/abc123-def456/progress
	is "$STATUS" 200 "GET the spec's example: 200"
	is "$(jq -S 'del(.status, .seq)' "$BODY_FILE")" "$(jq -S . "$E2E_ROOT/t/e2e/fixtures/spec-example.json")" \
	    "the document is the spec's example response"
	is "$(header Content-Type)" application/json "Content-Type: application/json"
	length=$(stat -c %s "$BODY_FILE")
	is "$(header Content-Length)" "$length" "Content-Length, the pool's, matches the body"
	http_head $P/abc123-def456/progress
	is "$STATUS $(header Content-Length) $(stat -c %s "$BODY_FILE")" "200 $length 0" \
	    "HEAD: 200, the same Content-Length, no body"

	http GET $P/no-such-job/progress
	error_is 404 not_found "an unknown job"
	# The pool's 400 behind Apache; lighttpd refuses it itself
	# (url-invalid-utf8-reject, on by default).
	http GET $P/%FF/progress
	error_or_status_is 400 invalid_job_id "a job id that is not UTF-8 (%FF)"
	http GET "$P/web%2Fservers/progress"
	is "$STATUS $(jq -r .job_id "$BODY_FILE" 2>/dev/null)" "200 web/servers" "a job id with %2F round-trips"
	# No nchan here: a stream is refused at once, with what to do instead.
	http GET $P/abc123-def456/progress/stream -H 'Accept: text/event-stream'
	error_is 501 streams_unavailable "a stream, where there is no nchan: 501"
	http GET "$P?limit=5&active=true"
	is "$STATUS" 200 "the list, with a query string: 200"
	json_is '[(.jobs | type), (.counts | type), (.counts.total > 0)]' '["array","object",true]' \
	    "the list: jobs and counts"

	http POST "$P/ws-$n/progress" -H "Authorization: Bearer $TP_PUBLISH_TOKEN" \
	    -H 'Content-Type: application/json' --data-binary '{"seq": 1, "event": "start", "step": "data_collection"}'
	is "$STATUS" 200 "POST publish with the bearer token: 200"
	json_is '[.job_id, .status, .seq]' "[\"ws-$n\",\"running\",1]" "and the new document comes back"
	http POST "$P/ws-$n/progress" -H 'Content-Type: application/json' \
	    --data-binary '{"seq": 2, "event": "update", "step_percentage": 10}'
	error_is 401 unauthorized "POST publish without a token"
	http POST "$P/ws-$n/cancel" -H "Authorization: Bearer $TP_PUBLISH_TOKEN" -H 'Content-Length: 0'
	is "$STATUS" 202 "POST cancel: 202"
	json_is .status '"cancelling"' "the job is cancelling"

	seen=$(pool_count)
	http DELETE $P/abc123-def456/progress
	error_is 405 method_not_allowed "DELETE"
	is "$(header Allow)" "GET, HEAD, POST" "DELETE: Allow names the endpoint's methods"
	if [ "$ws_own_405" = 1 ]; then
		is "$(($(pool_count) - seen))" 0 "DELETE: refused before it reaches the pool"
	else
		is "$(($(pool_count) - seen))" 1 "DELETE: passed to the pool, which refuses it"
	fi

	seen=$(pool_count)
	http POST "$P/ws-$n/progress" -H "Authorization: Bearer $TP_PUBLISH_TOKEN" \
	    -H 'Content-Type: application/json' --data-binary "@$E2E_TMP/ws-64k+1"
	error_or_status_is 413 payload_too_large "a body of 64 KiB + 1"
	is "$(($(pool_count) - seen))" 0 "a body of 64 KiB + 1: refused before it reaches the pool"
	# 64 KiB is allowed: it reaches the pool whole (not JSON, so a 400).
	http POST "$P/ws-$n/progress" -H "Authorization: Bearer $TP_PUBLISH_TOKEN" \
	    -H 'Content-Type: application/json' --data-binary "@$E2E_TMP/ws-64k"
	error_is 400 invalid_body "a body of exactly 64 KiB reaches the pool"

	http GET /_trainprog/status
	is "$STATUS $(jq -r .pool "$BODY_FILE" 2>/dev/null)" "200 tp-fcgi" "the status page, from loopback"
	http GET /_trainprog/ping
	is "$STATUS" 200 "the ping, from loopback"
	http GET /_trainprog/status --interface 127.0.0.2
	error_or_status_is 403 forbidden "the status page from 127.0.0.2"
}

# --- Apache httpd -----------------------------------------------------------

ap=$E2E_TMP/apache
if ! command -v apache2 >/dev/null; then
	CURRENT_TEST="webservers: apache"
	TESTS_RUN=$((TESTS_RUN + 1))
	echo "ok $TESTS_RUN - webservers: apache # SKIP apache2 is not installed (deploy/install-deps)"
else
	mkdir -p "$ap"
	M=/usr/lib/apache2/modules
	ws_snippet conf/apache/trainprog.conf "$ws_sock" >"$ap/trainprog.conf"
	# The same snippet in front of a socket nobody listens on: the pool down.
	ws_snippet conf/apache/trainprog.conf "$ap/nobody.sock" |
	    sed 's#fcgi://trainprog/#fcgi://trainprog-down/#' >"$ap/trainprog-down.conf"
	apache_conf() {
	cat >"$ap/httpd.conf" <<EOF
ServerRoot $ap
DefaultRuntimeDir $ap
PidFile $ap/httpd.pid
ErrorLog $ap/error.log
LogLevel warn
ServerName localhost
User www-data
Group www-data
LoadModule mpm_event_module $M/mod_mpm_event.so
LoadModule authz_core_module $M/mod_authz_core.so
LoadModule authz_host_module $M/mod_authz_host.so
LoadModule alias_module $M/mod_alias.so
LoadModule env_module $M/mod_env.so
LoadModule headers_module $M/mod_headers.so
LoadModule buffer_module $M/mod_buffer.so
LoadModule proxy_module $M/mod_proxy.so
LoadModule proxy_fcgi_module $M/mod_proxy_fcgi.so
StartServers 1
ServerLimit 1
ThreadsPerChild 8
MaxRequestWorkers 8
Listen 127.0.0.1:$ws_port
Listen 127.0.0.1:$ws_dead_port
<VirtualHost 127.0.0.1:$ws_port>
    Include $ap/trainprog.conf
</VirtualHost>
<VirtualHost 127.0.0.1:$ws_dead_port>
    Include $ap/trainprog-down.conf
</VirtualHost>
EOF
	}
	CURRENT_TEST="webservers: apache"
	ok grep -q "$ws_sock" "$ap/trainprog.conf" -- "the snippet takes the pool's socket path"
	apache_stop() {
		[ -s "$ap/httpd.pid" ] && apache2 -d "$ap" -f "$ap/httpd.conf" -k stop
		wait_until 20 gone "$ap/httpd.conf"
	}
	ws_stops+=(apache_stop)
	if ! ws_start "$ap" apache_conf apache2 -d "$ap" -f "$ap/httpd.conf" -k start; then
		fail "apache2 starts and answers" "$(cat "$ap/start.out" "$ap/error.log" 2>/dev/null | tail -n 5)"
	else
		pass "apache2 starts with the snippet and answers"
		ok workers_are_www_data "$ap/httpd.conf" -- "its workers run as www-data"
		TP_BASE_URL=http://127.0.0.1:$ws_port
		ws_json_errors=1 ws_own_405=1
		contract apache
		# What Apache does its own way.
		http POST "$P/ws-bare-post/cancel" -H "Authorization: Bearer $TP_PUBLISH_TOKEN"
		is "$STATUS" 202 "a POST without a body nor Content-Length is passed on"
		chunked "ws-apache-chunked"
		error_is 411 length_required "a chunked body (Apache would spool any size)"
		TP_BASE_URL=http://127.0.0.1:$ws_dead_port
		http GET $P/abc123-def456/progress
		error_is 503 bad_gateway "the pool unreachable: Apache's 503"
		is "$(header Retry-After)" 2 "with Retry-After"
		TP_BASE_URL=$ws_main_url
	fi
	CURRENT_TEST="webservers: apache"
	apache_stop
	ok gone "$ap/httpd.conf" -- "apache2 stops, every process of it"
	ws_stops=()
fi

# --- lighttpd ---------------------------------------------------------------

lt=$E2E_TMP/lighttpd
if ! command -v lighttpd >/dev/null; then
	CURRENT_TEST="webservers: lighttpd"
	TESTS_RUN=$((TESTS_RUN + 1))
	echo "ok $TESTS_RUN - webservers: lighttpd # SKIP lighttpd is not installed (deploy/install-deps)"
else
	mkdir -p "$lt/www" "$lt/tmp"
	: >"$lt/error.log"
	chown www-data "$lt/tmp" "$lt/error.log"
	ws_snippet conf/lighttpd/trainprog.conf "$ws_sock" >"$lt/trainprog.conf"
	ws_snippet conf/lighttpd/trainprog.conf "$lt/nobody.sock" >"$lt/trainprog-down.conf"
	lighttpd_conf() {
	cat >"$lt/lighttpd.conf" <<EOF
server.modules = ( "mod_access", "mod_fastcgi" )
server.document-root = "$lt/www"
server.bind = "127.0.0.1"
server.port = $ws_port
server.pid-file = "$lt/lighttpd.pid"
server.errorlog = "$lt/error.log"
server.upload-dirs = ( "$lt/tmp" )
server.username = "www-data"
server.groupname = "www-data"
# As in Debian's /etc/lighttpd/lighttpd.conf: %2F decoded, dot segments
# removed (REQUEST_URI stays raw); invalid UTF-8 and controls refused.
server.http-parseopts = (
  "header-strict"            => "enable",
  "host-strict"              => "enable",
  "host-normalize"           => "enable",
  "url-normalize-unreserved" => "enable",
  "url-normalize-required"   => "enable",
  "url-ctrls-reject"         => "enable",
  "url-path-2f-decode"       => "enable",
  "url-path-dotseg-remove"   => "enable",
)
include "$lt/trainprog.conf"
\$SERVER["socket"] == "127.0.0.1:$ws_dead_port" {
    include "$lt/trainprog-down.conf"
}
EOF
	}
	CURRENT_TEST="webservers: lighttpd"
	ok grep -q "$ws_sock" "$lt/trainprog.conf" -- "the snippet takes the pool's socket path"
	lighttpd_stop() {
		local pid
		pid=$(cat "$lt/lighttpd.pid" 2>/dev/null)
		[ -n "$pid" ] && kill -TERM "$pid"
		wait_until 20 gone "$lt/lighttpd.conf"
	}
	ws_stops+=(lighttpd_stop)
	if ! ws_start "$lt" lighttpd_conf lighttpd -f "$lt/lighttpd.conf"; then
		fail "lighttpd starts and answers" "$(cat "$lt/start.out" "$lt/error.log" 2>/dev/null | tail -n 5)"
	else
		pass "lighttpd starts with the snippet and answers"
		ok workers_are_www_data "$lt/lighttpd.conf" -- "it runs as www-data"
		TP_BASE_URL=http://127.0.0.1:$ws_port
		ws_json_errors=0 ws_own_405=0
		contract lighttpd
		# What lighttpd does its own way.
		http POST "$P/ws-bare-post/cancel" -H "Authorization: Bearer $TP_PUBLISH_TOKEN"
		is "$STATUS" 411 "a POST without a body nor Content-Length: lighttpd's 411"
		chunked "ws-lighttpd-chunked"
		is "$STATUS $(jq -r .job_id "$BODY_FILE" 2>/dev/null)" "200 ws-lighttpd-chunked" "a chunked body is taken"
		seen=$(pool_count)
		http POST "$P/ws-lighttpd-chunked/progress" -H "Authorization: Bearer $TP_PUBLISH_TOKEN" \
		    -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' --data-binary "@$E2E_TMP/ws-64k+1"
		is "$STATUS $(($(pool_count) - seen))" "413 0" "a chunked body over 64 KiB: 413, before it reaches the pool"
		TP_BASE_URL=http://127.0.0.1:$ws_dead_port
		http GET $P/abc123-def456/progress
		is "$STATUS" 503 "the pool unreachable: lighttpd's 503"
		TP_BASE_URL=$ws_main_url
	fi
	CURRENT_TEST="webservers: lighttpd"
	lighttpd_stop
	ok gone "$lt/lighttpd.conf" -- "lighttpd stops"
	ws_stops=()
fi

# shellcheck disable=SC2064
trap "$ws_prev_exit" EXIT
TP_BASE_URL=$ws_main_url
