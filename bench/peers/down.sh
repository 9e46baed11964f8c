#!/usr/bin/env bash
# down.sh: stop every process up.sh started and delete its state directory; safe to run twice.
#
# Only the processes named in the state directory's pid files are stopped,
# and only if they still run what up.sh started there (a pid can be reused).
set -euo pipefail
# shellcheck source=bench/peers/common.sh
. "$(dirname "$0")/common.sh"

# stop NAME PID SIGNAL: signal PID and wait up to 10 s for it to end; then SIGKILL.
stop() {
	local name=$1 pid=$2 sig=$3
	kill "-$sig" "$pid" 2>/dev/null || return 0
	if ! wait_for 10 eval "! pid_alive $pid"; then
		echo "peers: $name (pid $pid) did not stop within 10 s: killing it" >&2
		kill -KILL "$pid" 2>/dev/null || true
		wait_for 5 eval "! pid_alive $pid" || true
	fi
}

[ -d "$state" ] || exit 0

# nginx first, so no request reaches a peer that is stopping.  QUIT: its
# workers finish what they are answering.
pid=$(read_pid "$state/nginx.pid")
pid_runs "$pid" "$state/nginx/nginx.conf" && stop nginx "$pid" QUIT

# uvicorn's workers are its children: the master stops them on TERM; any
# it leaves behind are stopped after it.
pid=$(read_pid "$state/uvicorn.pid")
if pid_runs "$pid" "$state/fastapi/uvicorn.sock"; then
	workers=$(pgrep -P "$pid" || true)
	stop uvicorn "$pid" TERM
	for w in $workers; do
		pid_runs "$w" multiprocessing && stop "uvicorn worker" "$w" TERM
	done
fi

pid=$(read_pid "$state/php-fpm.pid")
pid_runs "$pid" "$state/php-fpm.conf" && stop php-fpm "$pid" TERM

# The pid file names the postmaster; fast: its backends are rolled back.
if pid_runs "$(read_pid "$state/pg/postmaster.pid")" "$state/pg"; then
	pg_bin=$(pg_bindir)
	run_as "$pg_user" "$pg_bin/pg_ctl" -D "$state/pg" -m fast -w -t 30 stop >/dev/null
fi

# Only a directory that up.sh made (it holds the marker) is deleted.
if [ -f "$marker" ]; then
	rm -rf "$state"
fi
