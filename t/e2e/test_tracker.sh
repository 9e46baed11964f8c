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
