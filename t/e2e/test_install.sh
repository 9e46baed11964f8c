# test_install.sh: make install under PREFIX and DESTDIR, and building a
# trainer against the installed library with pkg-config.

main_stack || return 0
d=$E2E_TMP/install
prefix=/opt/trainprog
if ! make -s -C "$E2E_ROOT" install DESTDIR="$d" PREFIX="$prefix" >"$E2E_TMP/install.log" 2>&1; then
	fail "make install" "$(tail -n 20 "$E2E_TMP/install.log")"
	return 0
fi
for f in bin/tp-fcgi bin/tp-publish bin/tp-trainer bin/tp-notify bin/tp-ohlcv bin/tp-watch lib/libtrainprog.so.0 lib/libtrainprog.a \
    lib/pkgconfig/trainprog.pc include/tp/tracker.h include/tp/progress.h include/tp/notify.h \
    share/trainprog/schema/001_training_progress.sql share/trainprog/nginx/trainprog-server.conf \
    share/trainprog/nginx/trainprog-stream-http.conf share/trainprog/nginx/trainprog-stream-server.conf \
    share/trainprog/nginx/trainprog-web.conf share/trainprog/web/index.html share/trainprog/web/job.html \
    share/trainprog/web/assets/app.css share/trainprog/web/assets/live.js share/trainprog/web/assets/job.js \
    lib/systemd/system/tp-notify.service lib/systemd/system/tp-trainer@.service \
    share/trainprog/deploy/migrate share/trainprog/tp-fcgi.conf.example \
    etc/trainprog/tp-fcgi.conf lib/systemd/system/tp-fcgi.service lib/systemd/system/tp-fcgi.socket \
    share/doc/trainprog/OPERATIONS.md; do
	ok test -e "$d$prefix/$f" -- "installed: $prefix/$f"
done
is "$(sed -n 's/^prefix=//p' "$d$prefix/lib/pkgconfig/trainprog.pc")" "$prefix" "trainprog.pc names PREFIX, not DESTDIR"
is "$(grep -c "root $prefix/share/trainprog/web;" "$d$prefix/share/trainprog/nginx/trainprog-web.conf")" 3 \
    "trainprog-web.conf serves the UI from PREFIX"
ok cmp "$E2E_ROOT/web/assets/live.js" "$d$prefix/share/trainprog/web/assets/live.js" -- "the UI's files are installed as they are"
# The Python package, under the directory Debian's python3 searches for PREFIX, finds
# the installed library by itself.
ok /usr/bin/python3 -c "import sys; sys.exit(0 if '$(make -s --no-print-directory -C "$E2E_ROOT" --eval 'print-site: ; @echo $(PYTHON_SITE)' print-site PREFIX=/usr/local)' in sys.path else 1)" -- \
    "make install PREFIX=/usr/local puts the Python package where Debian's python3 looks"
pysite=$(make -s --no-print-directory -C "$E2E_ROOT" --eval 'print-site: ; @echo $(PYTHON_SITE)' print-site PREFIX="$prefix")
is "$(cd / && env -u TRAINPROG_LIB PYTHONPATH="$d$pysite" /usr/bin/python3 -c \
    'import trainprog, trainprog._lib as l; print(l.lib._name)')" "$d$prefix/lib/libtrainprog.so.0" \
    "the installed package imports and loads the installed libtrainprog"
is "$(sed -n 's/^ExecStart=//p' "$d$prefix/lib/systemd/system/tp-fcgi.service")" \
    "$prefix/bin/tp-fcgi -c $prefix/etc/trainprog/tp-fcgi.conf" "the service unit names the installed files"
ok "$d$prefix/bin/tp-fcgi" -t -c "$d$prefix/etc/trainprog/tp-fcgi.conf" --listen-group=root -- \
    "the installed configuration passes -t"
# A second install keeps the operator's configuration.
echo "workers = 7" >>"$d$prefix/etc/trainprog/tp-fcgi.conf"
make -s -C "$E2E_ROOT" install DESTDIR="$d" PREFIX="$prefix" >/dev/null 2>&1
ok grep -q "workers = 7" "$d$prefix/etc/trainprog/tp-fcgi.conf" -- "make install never overwrites tp-fcgi.conf"
# The units, checked by systemd's own tools (installed without DESTDIR, so
# that the paths they name exist).
if command -v systemd-analyze >/dev/null; then
	real=$E2E_TMP/prefix
	make -s -C "$E2E_ROOT" install PREFIX="$real" >/dev/null 2>&1
	for u in tp-fcgi.service tp-fcgi.socket tp-notify.service tp-trainer@.service; do
		ok systemd-analyze verify "$real/lib/systemd/system/$u" -- "systemd-analyze verify $u"
	done
	exposure=$(systemd-analyze security --offline=yes "$real/lib/systemd/system/tp-fcgi.service" 2>/dev/null |
	    sed -n 's/.*Overall exposure level for tp-fcgi.service: \([0-9.]*\).*/\1/p')
	less_than "${exposure:-99}" 3 "systemd-analyze security: exposure $exposure (below 3: hardened)"
else
	TESTS_RUN=$((TESTS_RUN + 1))
	echo "ok $TESTS_RUN - install: systemd units # SKIP no systemd-analyze here"
fi

# Only the public API is exported.
others=$(nm -D --defined-only "$d$prefix/lib/libtrainprog.so.0" | awk '{print $3}' | grep -v '^tp_' || true)
is "$others" "" "libtrainprog.so exports only tp_* symbols"

# The reference trainer built against the installed files, as a user would
# build a trainer: its engine (and its wait for queued jobs) from the tree, the
# tracker from the install.
flags=$(PKG_CONFIG_SYSROOT_DIR=$d PKG_CONFIG_PATH=$d$prefix/lib/pkgconfig pkg-config --cflags --libs trainprog)
if cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror "$E2E_ROOT/tools/tp-trainer.c" \
    "$E2E_ROOT/tools/pgwait.c" "$E2E_ROOT"/tools/train/*.c $flags $(pkg-config --cflags --libs libpq libcjson) -lm \
    -o "$E2E_TMP/trainer-installed" 2>"$E2E_TMP/cc.log"; then
	pass "tools/tp-trainer.c builds with pkg-config --cflags --libs trainprog"
	LD_LIBRARY_PATH=$d$prefix/lib "$E2E_TMP/trainer-installed" --simulate --job "installed-$$" \
	    --iterations 5 --iteration-ms 1 >/dev/null 2>&1
	is "$?" 0 "and runs against the installed library"
	http GET "/api/v2/training/jobs/installed-$$/progress"
	json_is '[.is_complete, .percentage, .current_step]' '[true,100,"Complete"]' "its job completed"
else
	fail "tools/tp-trainer.c builds with pkg-config --cflags --libs trainprog" "$(cat "$E2E_TMP/cc.log")"
fi
