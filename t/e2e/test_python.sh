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
	verdicts "$out" $? 20 "the Python suites" "$E2E_TMP/python.err"
	stack_down python
else
	fail "a stack for the Python tests starts"
fi
