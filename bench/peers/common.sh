# common.sh: the peers' settings and helpers, sourced by up.sh, down.sh and run.sh.
# shellcheck shell=bash
# shellcheck disable=SC2034  # (the settings are for the scripts that source this file)
#
# Settings (environment); bench/run sets the first three, so that a run of
# the benchmark neither needs these ports free nor meets another run's state:
#   PEERS_STATE_DIR     data, sockets, pid files and logs (default: /tmp/tpbench)
#   PEERS_HTTP_PORT     the peers' nginx on 127.0.0.1 (default: 18080)
#   PEERS_PROJECT_PORT  the same nginx in front of PROJECT_FCGI (default: 18081)
#   PEERS_PG_PORT       the peers' PostgreSQL; unix socket only, the port
#                       names the socket file (default: 55432)
#   PROJECT_FCGI        the pool to put behind PEERS_PROJECT_PORT, as nginx's
#                       fastcgi_pass takes it (default: unix:$PEERS_STATE_DIR/project.sock)

peers_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$peers_dir/../.." && pwd)

state=${PEERS_STATE_DIR:-/tmp/tpbench}
http_port=${PEERS_HTTP_PORT:-18080}
project_port=${PEERS_PROJECT_PORT:-18081}
pg_port=${PEERS_PG_PORT:-55432}
project_fcgi=${PROJECT_FCGI:-unix:$state/project.sock}

# The paths go into nginx's and PHP-FPM's configuration files and into a
# libpq URL unquoted: keep them to characters that need no quoting anywhere.
case $state in
/*) ;;
*) echo "peers: PEERS_STATE_DIR must be an absolute path" >&2; exit 1 ;;
esac
case $state in
*[!A-Za-z0-9/._-]*) echo "peers: PEERS_STATE_DIR may hold only A-Z a-z 0-9 / . _ -" >&2; exit 1 ;;
esac

pg_sock_dir=$state/pgsock
# The one database all the application peers read: the spec's table, as
# deploy/migrate creates it for the project, with the rows of seed.sql.
# bench/run counts the CPU of these backends by their process title,
# "postgres: postgres tp ...": keep the user and the database names.
db_url="postgresql://postgres@/tp?host=$pg_sock_dir&port=$pg_port"
# up.sh writes this file; down.sh deletes only a directory that has it.
marker=$state/.trainprog-peers

# The URL of each peer's copy of one job's progress (run.sh, up.sh's checks).
peer_url() {
	local job=$2
	case $1 in
	static) echo "http://127.0.0.1:$http_port/static/api/v2/training/jobs/$job/progress" ;;
	php) echo "http://127.0.0.1:$http_port/php/api/v2/training/jobs/$job/progress" ;;
	fastapi) echo "http://127.0.0.1:$http_port/fastapi/api/v2/training/jobs/$job/progress" ;;
	project) echo "http://127.0.0.1:$project_port/api/v2/training/jobs/$job/progress" ;;
	*) echo "peers: unknown peer '$1' (static, php, fastapi, project)" >&2; return 1 ;;
	esac
}

# As root, PostgreSQL runs as postgres, the PHP children and uvicorn as
# www-data (nginx's workers as nobody); as anyone else, all runs as that user.
if [ "$(id -u)" = 0 ]; then
	pg_user=postgres
	app_user=www-data
else
	pg_user=$(id -un)
	app_user=$pg_user
fi
# run_as USER CMD...: CMD as USER, exec'd in place (the pid stays the same).
run_as() {
	local user=$1
	shift
	if [ "$(id -u)" = 0 ] && [ "$user" != root ]; then
		setpriv --reuid="$user" --regid="$user" --init-groups -- "$@"
	else
		"$@"
	fi
}

pg_bindir() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	[ -n "$d" ] && [ -x "$d/initdb" ] || { echo "peers: no PostgreSQL server (deploy/install-deps)" >&2; return 1; }
	echo "$d"
}

# psql as the cluster's superuser, on the peers' database.
peers_psql() { psql -X -q -v ON_ERROR_STOP=1 -d "$db_url" "$@"; }

# wait_for SECONDS CMD...: until CMD succeeds, in steps of 0.1 s.
wait_for() {
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

read_pid() { [ -s "$1" ] && head -n 1 "$1" 2>/dev/null || true; }
# Is PID running?  A zombie is not: the daemons' parent is init, which may
# be slow to reap them.
pid_alive() {
	local st
	[ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$st" ] && [ "$st" != Z ]
}
# Is PID running a command line containing WORD?  (A pid file can outlive
# its process, and the pid be reused by another.)
pid_runs() {
	pid_alive "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -- "$2"
}
