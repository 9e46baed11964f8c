#!/usr/bin/env bash
# up.sh: start the peer stacks (PostgreSQL, PHP-FPM, FastAPI, one nginx) and return once each answers.
#
#   PROJECT_FCGI=unix:/path/to/tp-fcgi.sock bench/peers/up.sh
#
# On 127.0.0.1:$PEERS_HTTP_PORT (18080), each peer serves the spec's
# GET .../jobs/{job_id}/progress under its own prefix:
#   /static/api/v2/training/jobs/job-1/progress    nginx, the document from a file
#   /php/api/v2/training/jobs/{job_id}/progress    PHP-FPM, 4 children, pgsql
#   /fastapi/api/v2/training/jobs/{job_id}/progress  FastAPI, uvicorn, asyncpg
# and on 127.0.0.1:$PEERS_PROJECT_PORT (18081) the same nginx passes
# /api/v2/training/ to PROJECT_FCGI.  Settings: common.sh.  Whatever a
# previous up.sh left in the state directory is stopped first; if anything
# fails, what started is stopped again.  bench/peers/down.sh stops it all.
set -euo pipefail
umask 022
# shellcheck source=bench/peers/common.sh
. "$(dirname "$0")/common.sh"

log() { echo "peers: $*" >&2; }
# fail MESSAGE [LOG]: says what failed and the end of its log, stops what
# this script started, and exits.
fail() {
	log "$1"
	[ -n "${2:-}" ] && [ -f "$2" ] && tail -n 5 "$2" >&2
	"$peers_dir/down.sh" >/dev/null 2>&1 || true
	exit 1
}

# --- what it needs ------------------------------------------------------------------

php_fpm=$(ls /usr/sbin/php-fpm* 2>/dev/null | sort -V | tail -n 1)
# The Debian interpreter, whatever `python3` on PATH is: FastAPI, uvicorn
# and asyncpg are Debian packages (deploy/install-deps --bench).
python=/usr/bin/python3
[ -n "$php_fpm" ] || fail "PHP-FPM is not installed (deploy/install-deps --bench)"
"$python" -c 'import fastapi, uvicorn, asyncpg, uvloop, httptools' 2>/dev/null ||
	fail "FastAPI, uvicorn, asyncpg, uvloop or httptools is missing (deploy/install-deps --bench)"
for tool in nginx psql curl jq setsid; do
	command -v "$tool" >/dev/null || fail "$tool is not installed (deploy/install-deps)"
done
pg_bin=$(pg_bindir) || exit 1

"$peers_dir/down.sh" >/dev/null 2>&1 || true
for port in "$http_port" "$project_port"; do
	[ -z "$(ss -Hltn "sport = :$port")" ] || fail "port $port is in use (set PEERS_HTTP_PORT, PEERS_PROJECT_PORT)"
done

mkdir -p "$state"
chmod 755 "$state"
: >"$marker"
mkdir -p "$state/logs" "$state/pg" "$pg_sock_dir" "$state/fastapi" "$state/nginx/tmp"
# Only the users of the database may reach its socket: trust authentication
# is safe because of that.
if [ "$(id -u)" = 0 ]; then
	chown "$pg_user:" "$state/pg"
	chown "$pg_user:$app_user" "$pg_sock_dir"
	chown "$app_user:" "$state/fastapi"
	install -o "$pg_user" -m 644 /dev/null "$state/logs/postgresql.log"
fi
chmod 700 "$state/pg"
chmod 750 "$pg_sock_dir"

# --- PostgreSQL: the project's table, 1,000 jobs --------------------------------------

log "PostgreSQL in $state/pg"
run_as "$pg_user" "$pg_bin/initdb" -D "$state/pg" -U postgres -A trust -E UTF8 --locale=C \
    >"$state/logs/initdb.log" 2>&1 || fail "initdb failed" "$state/logs/initdb.log"
run_as "$pg_user" tee -a "$state/pg/postgresql.conf" >/dev/null <<EOF

# bench/peers/up.sh
listen_addresses = ''
unix_socket_directories = '$pg_sock_dir'
port = $pg_port
# A cluster for one run, deleted by down.sh: nothing to keep across a crash.
fsync = off
log_min_messages = warning
EOF
run_as "$pg_user" "$pg_bin/pg_ctl" -D "$state/pg" -l "$state/logs/postgresql.log" -w -t 60 start >/dev/null ||
	fail "PostgreSQL did not start" "$state/logs/postgresql.log"
psql -X -q -d "postgresql://postgres@/postgres?host=$pg_sock_dir&port=$pg_port" -c 'CREATE DATABASE tp' ||
	fail "could not create the database"
# The project's own schema, so that the peers read the table the project
# reads: the same columns, constraints and storage settings.
"$repo_root/deploy/migrate" "$db_url" >"$state/logs/migrate.log" 2>&1 ||
	fail "deploy/migrate failed" "$state/logs/migrate.log"
peers_psql -f "$peers_dir/seed.sql" >/dev/null || fail "seed.sql failed"

# --- static: the spec's example document for job-1, from a file ---------------------

# Compact, as the applications answer, so that all send about the same bytes.
mkdir -p "$state/static/api/v2/training/jobs/job-1"
cat >"$state/static/api/v2/training/jobs/job-1/progress" <<'EOF'
{"job_id":"job-1","percentage":62.5,"current_step":"Optimization","step_number":2,"total_steps":4,"step_percentage":75.0,"step_details":{"n_calls":50,"optimizer":"bayesian"},"started_at":"2025-10-23T06:00:00Z","updated_at":"2025-10-23T06:10:25Z","estimated_completion":"2025-10-23T06:15:30Z","current_iteration":38,"total_iterations":50,"best_score":1.85,"current_score":1.42,"best_params":{"pierce_depth":0.15,"reversal_candles":3,"volume_spike_threshold":2.5},"is_complete":false,"error_message":null}
EOF

# --- php: a static pool of 4 children -------------------------------------------------

log "PHP-FPM ($php_fpm)"
{
	echo "; written by bench/peers/up.sh"
	echo "[global]"
	echo "pid = $state/php-fpm.pid"
	echo "error_log = $state/logs/php-fpm.log"
	echo "daemonize = yes"
	# bench/run finds the children by their title, "php-fpm: pool peer".
	echo "[peer]"
	if [ "$(id -u)" = 0 ]; then
		echo "user = $app_user"
		echo "group = $app_user"
	fi
	echo "listen = $state/php-fpm.sock"
	# nginx's workers run as nobody.
	echo "listen.mode = 0666"
	# nginx opens a connection per request: at 256 clients, a short queue
	# would turn into 502s.
	echo "listen.backlog = 4096"
	echo "pm = static"
	echo "pm.max_children = 4"
	echo "env[PEERS_DB_URL] = \"$db_url\""
} >"$state/php-fpm.conf"
"$php_fpm" -t --fpm-config "$state/php-fpm.conf" >"$state/logs/php-fpm-test.log" 2>&1 ||
	fail "PHP-FPM rejected its configuration" "$state/logs/php-fpm-test.log"
"$php_fpm" --fpm-config "$state/php-fpm.conf" || fail "PHP-FPM did not start" "$state/logs/php-fpm.log"

# --- fastapi: uvicorn, 2 workers, uvloop, httptools -------------------------------------

log "FastAPI (uvicorn)"
# A clean environment: none of the caller's Python settings (a virtualenv,
# PYTHONPATH) may change what runs, and no bytecode lands in the repository.
uvicorn=(env -i PATH=/usr/bin:/bin LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 PEERS_DB_URL="$db_url"
	"$python" -m uvicorn fastapi_app:app --app-dir "$peers_dir"
	--uds "$state/fastapi/uvicorn.sock" --workers 2 --loop uvloop --http httptools
	--log-level warning --no-access-log)
if [ "$(id -u)" = 0 ]; then
	uvicorn=(setpriv --reuid="$app_user" --regid="$app_user" --init-groups -- "${uvicorn[@]}")
fi
# uvicorn writes no pid file: the shell writes its own pid, then becomes
# uvicorn (exec keeps the pid).  setsid: out of the caller's process group.
# The subshell execs too, so that no shell stays behind holding the
# caller's output open.
(
	cd "$state/fastapi"
	exec setsid sh -c 'echo $$ >"$0"; exec "$@"' "$state/uvicorn.pid" "${uvicorn[@]}" \
	    </dev/null >>"$state/logs/uvicorn.log" 2>&1
) &

# --- nginx: one worker in front of them all ---------------------------------------------

log "nginx on 127.0.0.1:$http_port and :$project_port (project: $project_fcgi)"
cat >"$state/nginx/nginx.conf" <<EOF
# written by bench/peers/up.sh
# Started as root, the workers run as nobody.  One worker: every peer sits
# behind the same single event loop.
worker_processes 1;
worker_rlimit_nofile 8192;
pid $state/nginx.pid;
error_log $state/logs/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    # sendfile stays off (nginx's default): for a body of 500 bytes a copy is
    # cheaper, and with it on the static file served ~20 % fewer requests/s.
    # wrk's connections are kept for the whole run: nginx's default (1,000
    # requests) would add reconnections to the measured tail.
    keepalive_requests 100000;
    client_body_temp_path $state/nginx/tmp/body;
    fastcgi_temp_path $state/nginx/tmp/fastcgi;
    proxy_temp_path $state/nginx/tmp/proxy;
    uwsgi_temp_path $state/nginx/tmp/uwsgi;
    scgi_temp_path $state/nginx/tmp/scgi;

    # uvicorn speaks HTTP/1.1 and keeps connections: nginx reuses them.
    upstream fastapi_peer {
        server unix:$state/fastapi/uvicorn.sock;
        keepalive 64;
    }

    server {
        listen 127.0.0.1:$http_port backlog=4096;

        # The ceiling: no application, no database.
        location /static/ {
            alias $state/static/;
            default_type application/json;
        }
        location /php/ {
            fastcgi_pass unix:$state/php-fpm.sock;
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $peers_dir/progress.php;
        }
        # The trailing / drops the /fastapi prefix: the app has the API's paths.
        location /fastapi/ {
            proxy_pass http://fastapi_peer/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }

    # The project, with the API's own paths, on a port of its own.
    server {
        listen 127.0.0.1:$project_port backlog=4096;
        location /api/v2/training/ {
            fastcgi_pass $project_fcgi;
            include /etc/nginx/fastcgi_params;
        }
    }
}
EOF
nginx -t -q -p "$state/nginx" -c "$state/nginx/nginx.conf" -e "$state/logs/nginx-error.log" \
    2>>"$state/logs/nginx-error.log" || fail "nginx rejected its configuration" "$state/logs/nginx-error.log"
nginx -p "$state/nginx" -c "$state/nginx/nginx.conf" -e "$state/logs/nginx-error.log" \
    2>>"$state/logs/nginx-error.log" || fail "nginx did not start" "$state/logs/nginx-error.log"

# --- ready: each answers job-1, and with the same document -----------------------------

answers() { curl -fs -o /dev/null --max-time 2 "$(peer_url "$1" job-1)"; }
for peer in static php fastapi; do
	case $peer in
	php) peer_log=$state/logs/php-fpm.log ;;
	fastapi) peer_log=$state/logs/uvicorn.log ;;
	*) peer_log=$state/logs/nginx-error.log ;;
	esac
	wait_for 30 answers "$peer" || fail "$peer does not answer $(peer_url "$peer" job-1)" "$peer_log"
done
# A peer that renders another document would measure other work: each must
# give the file's document, field for field (the order of keys aside).
expected=$(jq -S . "$state/static/api/v2/training/jobs/job-1/progress")
for peer in php fastapi; do
	got=$(curl -fs --max-time 2 "$(peer_url "$peer" job-1)" | jq -S .) || got=
	[ "$got" = "$expected" ] || fail "$peer's document for job-1 is not the spec's example: $got"
done
log "up: http://127.0.0.1:$http_port/{static,php,fastapi}/api/v2/training/jobs/job-N/progress," \
    "project on http://127.0.0.1:$project_port"
