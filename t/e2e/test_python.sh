# test_python.sh: the Python package (python/trainprog) and the spec's test
# script (python/test_progress_tracking.py) against a stack, with Debian's
# python3: the spec's lifecycle through libtrainprog (sync and async) and
# over HTTP, error(), cancellation, the context managers, bad arguments,
# the Optuna and scikit-optimize callbacks, and the script's output and
# exit statuses.  Each unittest test is one check.

PY=/usr/bin/python3
if [ ! -x "$PY" ]; then
	fail "Debian's python3 is installed"
elif stack_up python; then
	out=$E2E_TMP/python.out
	# The library of the normal build: an ASan one cannot be loaded into python3.
	(cd "$E2E_ROOT/python" && PYTHONPATH=. TRAINPROG_LIB=$E2E_ROOT/build/lib/libtrainprog.so.0 \
	    TP_TOKEN=$TP_PUBLISH_TOKEN TP_BIN_DIR=$E2E_BIN timeout 600 "$PY" -m tests.tap) \
	    >"$out" 2>"$E2E_TMP/python.err"
	rc=$?
	n=0
	while IFS=$'\t' read -r verdict what why; do
		case $verdict in
		PASS) pass "$what"; n=$((n + 1)) ;;
		FAIL) fail "$what" "$why"; n=$((n + 1)) ;;
		SKIP) pass "$what # SKIP $why"; n=$((n + 1)) ;;
		esac
	done <"$out"
	if [ $rc -ne 0 ] || [ $n -lt 20 ]; then
		fail "the Python suites ran to the end (exit $rc, $n tests)" "$(tail -n 5 "$E2E_TMP/python.err")"
	fi
	stack_down python
else
	fail "a stack for the Python tests starts"
fi
