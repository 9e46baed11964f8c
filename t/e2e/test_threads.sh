# test_threads.sh: the tracker's threads under ThreadSanitizer.
#
# Criterion's runner does not run under TSan, so this drives a TSan build of
# the benchmark (1 job flat out, then 64 jobs on a shared publisher and on
# private ones) and of the example trainer.  Any data race fails.

if [ -z "${E2E_TSAN_DIR:-}" ]; then
	TESTS_RUN=$((TESTS_RUN + 1))
	echo "ok $TESTS_RUN - threads # SKIP no ThreadSanitizer build (make check-tsan runs it)"
	return 0
fi
main_stack || return 0
tsan=$(cd "$E2E_TSAN_DIR" && pwd)
export TSAN_OPTIONS="halt_on_error=1 exitcode=66"
"$tsan/bench/bench_tracker" -s 1 -n 2000 >"$E2E_TMP/tsan-bench.out" 2>&1
rc=$?
is "$rc" 0 "the publisher benchmark runs clean under ThreadSanitizer"
[ $rc = 0 ] || sed -n '1,40s/^/#   /p' "$E2E_TMP/tsan-bench.out"
"$tsan/bin/tp-trainer" --simulate --job tsan-trainer-$$ --iterations 40 --iteration-ms 2 \
    >"$E2E_TMP/tsan-trainer.out" 2>&1
rc=$?
is "$rc" 0 "the example trainer runs clean under ThreadSanitizer"
[ $rc = 0 ] || sed -n '1,40s/^/#   /p' "$E2E_TMP/tsan-trainer.out"
unset TSAN_OPTIONS
