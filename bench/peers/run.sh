#!/usr/bin/env bash
# run.sh: a quick side-by-side load of the running peers with wrk, one line of results each.
#
#   bench/peers/run.sh [static|php|fastapi|project ...]     (default: all four)
#
# SECS (default 8) seconds at CONNS (64) connections each, one after the
# other, on one hot job (job-7; static: its file, job-1).  Prints the peer,
# the status of a first GET, requests/s, p50 and p99 in ms, and the errors
# (answers other than 200, and socket errors).  For the report, with CPU
# time and rounds, use bench/run; this is for trying the peers by hand.
set -euo pipefail
# shellcheck source=bench/peers/common.sh
. "$(dirname "$0")/common.sh"

secs=${SECS:-8}
conns=${CONNS:-64}
command -v wrk >/dev/null || { echo "peers: wrk is not installed (deploy/install-deps)" >&2; exit 1; }
[ $# -gt 0 ] || set -- static php fastapi project

printf '%-8s %6s %10s %8s %8s %7s\n' peer status 'req/s' 'p50 ms' 'p99 ms' errors
for peer in "$@"; do
	job="job-7"
	[ "$peer" = static ] && job="job-1"
	url=$(peer_url "$peer" "$job")
	status=$(curl -s -o /dev/null --max-time 5 -w '%{http_code}' "$url" || true)
	# bench/wrk.lua tallies the statuses and prints one RESULT line.
	result=$(wrk -t 2 -c "$conns" -d "${secs}s" --timeout 5s -s "$peers_dir/../wrk.lua" "$url" -- \
	    hot "/${url#http://*/}" 1 2>&1 | grep '^RESULT' || true)
	if [ -z "$result" ]; then
		printf '%-8s %6s  wrk gave no result\n' "$peer" "$status"
		continue
	fi
	echo "$result" | tr ' ' '\n' | awk -F= -v peer="$peer" -v status="$status" '
	    { v[$1] = $2 }
	    END {
	        errors = v["requests"] - v["status_200"] + v["err_connect"] + v["err_read"] \
	            + v["err_write"] + v["err_timeout"]
	        printf "%-8s %6s %10.0f %8.2f %8.2f %7d\n", peer, status, v["rps"],
	            v["p50_us"] / 1000, v["p99_us"] / 1000, errors
	    }'
done
