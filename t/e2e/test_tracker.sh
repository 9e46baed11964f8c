# test_tracker.sh: libtrainprog against the real stack (t/integration/test_tracker.c).

main_stack || return 0
it=$(dirname "$E2E_BIN")/t/it_tracker
if [ ! -x "$it" ]; then
	fail "the tracker's integration tests are built" "no $it (make $it)"
	return 0
fi
# One at a time: some of these stop and freeze the database.
TP_DEV_STACK=$DEV_STACK TP_FIXTURES=$E2E_ROOT/t/e2e/fixtures \
    "$it" --jobs 1 --tap="$E2E_TMP/tracker.tap" >"$E2E_TMP/tracker.out" 2>&1
rc=$?
while IFS= read -r line; do
	case $line in
	"ok - "*) name=${line#ok - }; pass "${name%% (*}" ;;
	"not ok - "*) name=${line#not ok - }; fail "${name%% (*}" "$(grep -B6 "FAIL\] ${name%% *}" "$E2E_TMP/tracker.out" | head -n 12)" ;;
	esac
done <"$E2E_TMP/tracker.tap"
[ $rc = 0 ] || grep -q '^not ok' "$E2E_TMP/tracker.tap" ||
	fail "the integration test binary exited $rc" "$(tail -n 20 "$E2E_TMP/tracker.out")"

# complete() waits a bounded time however the wall clock moves.  The tracker's
# waits are measured on CLOCK_MONOTONIC: here the wall clock the tracker sees
# runs an hour ahead of the one the kernel counts (t/tools/clockshift.so), as
# when it is stepped back during a wait, and the database never answers (a
# socket that accepts nothing).  A wait timed on the wall clock would last an
# hour; complete() must give up after its terminal_timeout (10 s) instead.
hole=$E2E_TMP/blackhole
mkdir -p "$hole"
python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1] + "/.s.PGSQL.5432")
s.listen(64)
time.sleep(300)' "$hole" &
hole_pid=$!
wait_until 10 test -S "$hole/.s.PGSQL.5432"
shifted_asan=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
ASAN_OPTIONS=$shifted_asan CLOCKSHIFT_SECONDS=3600 LD_PRELOAD="$(tools_dir)/clockshift.so" \
    DATABASE_URL="host=$hole port=5432 dbname=trainprog user=tp_writer" \
    timeout -s KILL 60 "$E2E_BIN/tp-trainer" --simulate --job clock-step --iterations 2 --iteration-ms 1 \
    >"$E2E_TMP/clockshift.out" 2>&1
rc=$?
is "$rc" 1 "complete() gives up in bounded time while the wall clock is an hour off (not killed after 60 s)"
ok grep -q "did not confirm in time" "$E2E_TMP/clockshift.out" -- "and says why"
kill $hole_pid 2>/dev/null
wait $hole_pid 2>/dev/null
