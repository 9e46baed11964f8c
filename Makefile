# Makefile: build, test and run trainprog.  `make help` lists the targets.

CC	?= cc
PREFIX	?= /usr/local
SYSCONFDIR ?= $(PREFIX)/etc
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
# Where the Python package goes: the directory Debian's python3 searches under
# PREFIX (/usr/local/lib/python3.11/dist-packages; /usr/lib/python3/dist-packages
# for PREFIX=/usr).
PYTHON_SITE ?= $(if $(filter /usr,$(PREFIX)),/usr/lib/python3/dist-packages,$(PREFIX)/lib/$(shell \
    /usr/bin/python3 -c 'import sys; print("python3.%d" % sys.version_info[1])' 2>/dev/null || \
    echo python3)/dist-packages)
DESTDIR	?=

# `make SANITIZE=address,undefined` builds an instrumented tree in build/san.
SANITIZE ?=
ifeq ($(SANITIZE),)
B	:= build
SANFLAGS :=
else
B	:= build/san
SANFLAGS := -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
endif

VERSION	:= $(shell sed -n 's/^\#define TP_VERSION[^"]*"\(.*\)"/\1/p' include/tp/trainprog.h)
PKGS	:= libpq libcjson fcgi
# Asked of pkg-config when first used, not when make reads this file: on a
# machine without the libraries, `make run` installs them first (deps), and
# the flags must be read after that.  Each is computed once.
lazy = $(eval $(1) := $$(shell $(2)))$($(1))
PKG_CFLAGS = $(call lazy,PKG_CFLAGS,pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(call lazy,PKG_LIBS,pkg-config --libs $(PKGS) 2>/dev/null)
LIB_PKG_LIBS = $(call lazy,LIB_PKG_LIBS,pkg-config --libs libpq libcjson 2>/dev/null)
LIB_LIBS   = $(LIB_PKG_LIBS) -lpthread -lm

WARN	:= -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes -Wshadow \
	   -Wpointer-arith -Wsign-compare -Wformat=2 -Wundef -Wvla
ifeq ($(WERROR),1)
WARN	+= -Werror
endif
OPT	?= -O2 -g
CPPFLAGS += -D_GNU_SOURCE -Iinclude $(PKG_CFLAGS)
XCFLAGS	:= -std=c11 $(WARN) $(OPT) -fPIC -fvisibility=hidden $(SANFLAGS) $(CFLAGS)
XLDFLAGS := $(SANFLAGS) $(LDFLAGS)

LIB_SRC	 := lib/clock.c lib/conn.c lib/eta.c lib/pgoutput.c lib/progress.c lib/publisher.c \
	    lib/render.c lib/sha256.c lib/store.c lib/target.c lib/threads.c lib/token.c lib/tracker.c
FCGI_SRC := fcgi/auth.c fcgi/cache.c fcgi/config.c fcgi/db.c fcgi/body.c fcgi/guard.c \
	    fcgi/handler_cancel.c fcgi/handler_history.c fcgi/handler_jobs.c \
	    fcgi/handler_notifications.c fcgi/handler_ping.c \
	    fcgi/handler_progress.c fcgi/handler_publish.c fcgi/handler_stream.c fcgi/handler_submit.c \
	    fcgi/http.c fcgi/listen.c \
	    fcgi/log.c fcgi/master.c fcgi/priv.c fcgi/query.c fcgi/router.c \
	    fcgi/scoreboard.c fcgi/serve.c fcgi/status.c fcgi/worker.c
# The reference trainer's engine (tools/train/train.h): tp-trainer, tp-ohlcv,
# and POST /jobs's request parser in tp-fcgi.
TRAIN_SRC := tools/train/backtest.c tools/train/candles.c tools/train/jobreq.c \
	     tools/train/optimize.c tools/train/rng.c tools/train/walkforward.c
UNIT_TESTS := test_progress test_eta test_render test_store test_router test_config test_guard \
	      test_token test_body test_cache test_query test_http test_publisher test_pgoutput \
	      test_pubhttp test_train test_jobreq test_sse test_sha256 test_notify_send test_target

LIB_OBJ	 := $(LIB_SRC:%.c=$(B)/obj/%.o)
FCGI_OBJ := $(FCGI_SRC:%.c=$(B)/obj/%.o)
TRAIN_OBJ := $(TRAIN_SRC:%.c=$(B)/obj/%.o)
CURL_LIBS = $(call lazy,CURL_LIBS,pkg-config --libs libcurl 2>/dev/null)
UNIT_BIN := $(UNIT_TESTS:%=$(B)/t/%)

.PHONY: all deps run test unit e2e check-san check-tsan bench bench-smoke clean install help

all: $(B)/bin/tp-fcgi $(B)/bin/tp-publish $(B)/bin/tp-admin $(B)/bin/tp-trainer $(B)/bin/tp-notify \
     $(B)/bin/tp-ohlcv $(B)/bin/tp-watch $(B)/lib/libtrainprog.a $(B)/lib/libtrainprog.so

help:
	@echo "make run        install what is missing, build, start the local stack (Ctrl-C stops it)"
	@echo "make test       install what is missing, build, run every test (also under ASan+UBSan)"
	@echo "make all        build into build/ (SANITIZE=address,undefined: build/san/)"
	@echo "make unit       build and run the unit tests"
	@echo "make e2e        run the end-to-end tests against a private stack"
	@echo "make bench      run the benchmarks side by side, write bench/REPORT.md"
	@echo "make bench-smoke  check in seconds that the benchmark runs (CI)"
	@echo "make fuzz       run the libFuzzer targets FUZZ_SECS (60) each; fuzz-smoke 10 s, fuzz-replay: past findings"
	@echo "make install    install under PREFIX (default /usr/local), honouring DESTDIR"
	@echo "make clean      remove build/"

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(XCFLAGS) -MMD -MP -c $< -o $@

$(B)/lib/libtrainprog.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

# The shared library exports only what include/tp/ declares (TP_API).
$(B)/lib/libtrainprog.so.0: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,libtrainprog.so.0 -Wl,--no-undefined $(XLDFLAGS) \
	    -o $@ $^ $(LIB_LIBS)

$(B)/lib/libtrainprog.so: $(B)/lib/libtrainprog.so.0
	ln -sf libtrainprog.so.0 $@

$(B)/lib/libtptrain.a: $(TRAIN_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(B)/bin/tp-fcgi: $(B)/obj/fcgi/main.o $(FCGI_OBJ) $(B)/lib/libtptrain.a $(B)/lib/libtrainprog.a
	@mkdir -p $(dir $@)
	$(CC) $(XLDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread -lm

# tp-publish is a customer of the library: it links the shared one, and its
# input checks are the library's exported ones (tp_update_problem() ...).
$(B)/bin/tp-publish: $(B)/obj/tools/tp-publish.o $(B)/lib/libtrainprog.so
	@mkdir -p $(dir $@)
	$(CC) $(XLDFLAGS) -o $@ $< -L$(B)/lib -ltrainprog -Wl,-rpath,'$$ORIGIN/../lib'

$(B)/bin/tp-admin: $(B)/obj/tools/tp-admin.o $(B)/lib/libtrainprog.a
	@mkdir -p $(dir $@)
	$(CC) $(XLDFLAGS) -o $@ $^ $(LIB_LIBS)

# The change feed: the library's internals, and its own HTTP client for nchan.
# Its sender of notifications (notify_send.c) delivers with libcurl.
$(B)/bin/tp-notify: $(B)/obj/tools/tp-notify.o $(B)/obj/tools/pubhttp.o $(B)/obj/tools/notify_send.o \
    $(B)/obj/tools/pgwait.o $(B)/lib/libtrainprog.a
	@mkdir -p $(dir $@)
	$(CC) $(XLDFLAGS) -o $@ $^ $(LIB_LIBS) $(CURL_LIBS)

# The reference trainer publishes through the shared library, as any
# trainer would; its engine and its own queries are its own.
$(B)/bin/tp-trainer: $(B)/obj/tools/tp-trainer.o $(B)/obj/tools/pgwait.o $(B)/lib/libtptrain.a \
    $(B)/lib/libtrainprog.so
	@mkdir -p $(dir $@)
	$(CC) $(XLDFLAGS) -o $@ $< $(B)/obj/tools/pgwait.o $(B)/lib/libtptrain.a -L$(B)/lib -ltrainprog \
	    -Wl,-rpath,'$$ORIGIN/../lib' $(LIB_PKG_LIBS) -lm

# tp-ohlcv checks markets with jobreq.c, which checks job ids with the
# library's tp_job_id_problem(). job ids with the library's tp_job_id_problem().
$(B)/bin/tp-ohlcv: $(B)/obj/tools/tp-ohlcv.o $(B)/lib/libtptrain.a $(B)/lib/libtrainprog.a
	@mkdir -p $(dir $@)
	$(CC) $(XLDFLAGS) -o $@ $^ $(LIB_LIBS)

# The spec's test client: libcurl, and its own Server-Sent Events parser.
$(B)/bin/tp-watch: $(B)/obj/tools/tp-watch.o $(B)/obj/tools/sse.o
	@mkdir -p $(dir $@)
	$(CC) $(XLDFLAGS) -o $@ $^ $(CURL_LIBS) $(LIB_PKG_LIBS) -lm

# Unit tests: Criterion, one binary per source file under test.
$(B)/t/test_%: $(B)/obj/t/unit/test_%.o $(B)/obj/t/unit/fake_pg.o $(FCGI_OBJ) \
    $(B)/lib/libtptrain.a $(B)/lib/libtrainprog.a
	@mkdir -p $(dir $@)
	$(CC) $(XLDFLAGS) -o $@ $^ $(PKG_LIBS) -lcriterion -lpthread -lm

# tp-notify's HTTP client, alone.
$(B)/t/test_pubhttp: $(B)/obj/t/unit/test_pubhttp.o $(B)/obj/tools/pubhttp.o $(B)/lib/libtrainprog.a
	@mkdir -p $(dir $@)
	$(CC) $(XLDFLAGS) -o $@ $^ $(LIB_LIBS) -lcriterion

# tp-notify's sender of notifications, alone.
$(B)/t/test_notify_send: $(B)/obj/t/unit/test_notify_send.o $(B)/obj/tools/notify_send.o \
    $(B)/obj/tools/pgwait.o $(B)/lib/libtrainprog.a
	@mkdir -p $(dir $@)
	$(CC) $(XLDFLAGS) -o $@ $^ $(LIB_LIBS) $(CURL_LIBS) -lcriterion

# tp-watch's event-stream parser, alone.
$(B)/t/test_sse: $(B)/obj/t/unit/test_sse.o $(B)/obj/tools/sse.o
	@mkdir -p $(dir $@)
	$(CC) $(XLDFLAGS) -o $@ $^ -lcriterion

# Integration tests: Criterion against a real stack (run by t/e2e/test_*.sh).
$(B)/t/it_%: $(B)/obj/t/integration/test_%.o $(B)/lib/libtrainprog.a
	@mkdir -p $(dir $@)
	$(CC) $(XLDFLAGS) -o $@ $^ $(LIB_LIBS) -lcriterion

INTEGRATION_BIN := $(B)/t/it_tracker

# Tools the end-to-end tests drive the stack with.
TEST_TOOLS := $(B)/t/httpload $(B)/t/fcgi-raw $(B)/t/activate $(B)/t/clockshift.so \
	      $(B)/t/store-sql $(B)/t/subload
$(B)/t/%: $(B)/obj/t/tools/%.o
	@mkdir -p $(dir $@)
	$(CC) $(XLDFLAGS) -o $@ $^ -lpthread

# Prints lib/store.c's SQL: it needs the library's internal symbols.
$(B)/t/store-sql: $(B)/obj/t/tools/store-sql.o $(B)/lib/libtrainprog.a
	@mkdir -p $(dir $@)
	$(CC) $(XLDFLAGS) -o $@ $^ $(LIB_LIBS)

# An LD_PRELOAD library, never instrumented: the sanitizers' runtimes must
# stay first in a sanitized program's library list.
$(B)/t/clockshift.so: t/tools/clockshift.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -std=c11 $(WARN) -O2 -fPIC -shared -o $@ $< -ldl

$(B)/bench/bench_tracker: $(B)/obj/bench/bench_tracker.o $(B)/lib/libtrainprog.a
	@mkdir -p $(dir $@)
	$(CC) $(XLDFLAGS) -o $@ $^ $(LIB_LIBS)

$(B)/bench/bench_backtest: $(B)/obj/bench/bench_backtest.o $(B)/lib/libtptrain.a
	@mkdir -p $(dir $@)
	$(CC) $(XLDFLAGS) -o $@ $^ $(LIB_PKG_LIBS) -lm

# The trainer's loop with and without the tracker (a real database).
$(B)/bench/bench_trainer: $(B)/obj/bench/bench_trainer.o $(B)/lib/libtptrain.a $(B)/lib/libtrainprog.a
	@mkdir -p $(dir $@)
	$(CC) $(XLDFLAGS) -o $@ $^ $(LIB_LIBS)

# A bare sender on this machine's sockets: the floor under a pushed message.
$(B)/bench/bench_sendfloor: $(B)/obj/bench/bench_sendfloor.o
	@mkdir -p $(dir $@)
	$(CC) $(XLDFLAGS) -o $@ $^

deps:
	@deploy/install-deps

unit: $(UNIT_BIN)
	@t/unit/run $(UNIT_BIN)

e2e: all $(INTEGRATION_BIN) $(TEST_TOOLS)
	t/e2e/run --bin-dir $(B)/bin

# Every suite again on an ASan+UBSan build: leaks, overflows and undefined
# behaviour fail the run.
check-san:
	$(MAKE) SANITIZE=address,undefined all unit build/san/t/it_tracker build/san/t/httpload \
	    build/san/t/fcgi-raw build/san/t/activate build/san/t/clockshift.so build/san/t/store-sql \
	    build/san/t/subload
	t/e2e/run --bin-dir build/san/bin --sanitized

# The tracker's threads under ThreadSanitizer (which cannot be combined with
# ASan, and which Criterion's runner does not survive).
check-tsan:
	$(MAKE) SANITIZE=thread B=build/tsan build/tsan/bench/bench_tracker build/tsan/bin/tp-trainer
	E2E_TSAN_DIR=build/tsan t/e2e/run --bin-dir build/bin threads

test: deps
	$(MAKE) all unit e2e
	$(MAKE) check-san
	$(MAKE) check-tsan
	@echo "make test: all suites passed"

# The targets a newcomer types install what is missing first, then build in
# a make of their own, so that nothing is built before the libraries exist.
run: deps
	$(MAKE) all
	deploy/dev-stack run

# Benchmarks: timings live here, never in tests.  BENCH_SECS sets the length.
# bench writes bench/REPORT.md and bench/chart.svg; bench-smoke (run by CI)
# checks in a few seconds that all of it works, and asserts no timing.
bench: deps
	deploy/install-deps --bench
	$(MAKE) all $(B)/bench/bench_tracker $(B)/bench/bench_backtest $(B)/bench/bench_trainer $(B)/bench/bench_sendfloor $(B)/t/subload
	bench/run

bench-smoke: deps
	$(MAKE) all $(B)/bench/bench_tracker $(B)/bench/bench_backtest $(B)/bench/bench_trainer $(B)/bench/bench_sendfloor $(B)/t/subload
	bench/run --smoke

install: deps
	$(MAKE) all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	    $(DESTDIR)$(PREFIX)/include/tp $(DESTDIR)$(PREFIX)/share/trainprog/schema \
	    $(DESTDIR)$(PREFIX)/share/trainprog/nginx $(DESTDIR)$(PREFIX)/share/trainprog/deploy \
	    $(DESTDIR)$(PREFIX)/share/trainprog/apache $(DESTDIR)$(PREFIX)/share/trainprog/lighttpd \
	    $(DESTDIR)$(PREFIX)/share/trainprog/web/assets \
	    $(DESTDIR)$(PREFIX)/share/doc/trainprog $(DESTDIR)$(SYSCONFDIR)/trainprog \
	    $(DESTDIR)$(SYSTEMDUNITDIR)
	install -m 0755 $(B)/bin/tp-fcgi $(B)/bin/tp-publish $(B)/bin/tp-admin $(B)/bin/tp-trainer \
	    $(B)/bin/tp-notify $(B)/bin/tp-ohlcv $(B)/bin/tp-watch $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 $(B)/lib/libtrainprog.a $(DESTDIR)$(PREFIX)/lib/
	install -m 0755 $(B)/lib/libtrainprog.so.0 $(DESTDIR)$(PREFIX)/lib/
	ln -sf libtrainprog.so.0 $(DESTDIR)$(PREFIX)/lib/libtrainprog.so
	sed -e 's#@PREFIX@#$(PREFIX)#' -e 's#@VERSION@#$(VERSION)#' trainprog.pc.in \
	    >$(DESTDIR)$(PREFIX)/lib/pkgconfig/trainprog.pc
	install -m 0644 include/tp/*.h $(DESTDIR)$(PREFIX)/include/tp/
	install -m 0644 schema/*.sql $(DESTDIR)$(PREFIX)/share/trainprog/schema/
	install -m 0644 conf/nginx/*.conf $(DESTDIR)$(PREFIX)/share/trainprog/nginx/
	sed -e 's#/usr/local/share/trainprog/web#$(PREFIX)/share/trainprog/web#' conf/nginx/trainprog-web.conf \
	    >$(DESTDIR)$(PREFIX)/share/trainprog/nginx/trainprog-web.conf
	install -d $(DESTDIR)$(PYTHON_SITE)/trainprog
	install -m 0644 python/trainprog/*.py $(DESTDIR)$(PYTHON_SITE)/trainprog/
	install -m 0644 web/*.html $(DESTDIR)$(PREFIX)/share/trainprog/web/
	install -m 0644 web/assets/* $(DESTDIR)$(PREFIX)/share/trainprog/web/assets/
	install -m 0644 conf/apache/*.conf $(DESTDIR)$(PREFIX)/share/trainprog/apache/
	install -m 0644 conf/lighttpd/*.conf $(DESTDIR)$(PREFIX)/share/trainprog/lighttpd/
	install -m 0644 conf/tp-fcgi.conf $(DESTDIR)$(PREFIX)/share/trainprog/tp-fcgi.conf.example
	install -m 0755 deploy/migrate $(DESTDIR)$(PREFIX)/share/trainprog/deploy/
	install -m 0644 README.md docs/*.md $(DESTDIR)$(PREFIX)/share/doc/trainprog/
	install -d $(DESTDIR)$(PREFIX)/lib/tmpfiles.d
	install -m 0644 deploy/systemd/trainprog-feed.tmpfiles $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/trainprog-feed.conf
	for u in tp-fcgi.service tp-fcgi.socket tp-notify.service tp-trainer@.service; do \
	    sed -e 's#@PREFIX@#$(PREFIX)#g' -e 's#@SYSCONFDIR@#$(SYSCONFDIR)#g' deploy/systemd/$$u.in \
	        >$(DESTDIR)$(SYSTEMDUNITDIR)/$$u; done
	@# An operator's configuration is never overwritten.
	test -e $(DESTDIR)$(SYSCONFDIR)/trainprog/tp-fcgi.conf || \
	    install -m 0640 conf/tp-fcgi.conf $(DESTDIR)$(SYSCONFDIR)/trainprog/tp-fcgi.conf

clean:
	rm -rf build

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)

# --- fuzzing ---------------------------------------------------------------
# libFuzzer targets for every parser of untrusted bytes in tp-fcgi (t/fuzz/),
# built with clang under ASan+UBSan into build/fuzz/ only.  `make fuzz` runs
# each FUZZ_SECS seconds (default 60; FUZZ_TARGETS picks some, FUZZ_JOBS
# runs that many at once) on a copy of its seeds in build/fuzz/corpus/, and
# fails if any crashed; fuzz-smoke is the same for 10 s (CI); fuzz-replay
# runs only the seeds and t/fuzz/regressions/ (fast, deterministic).
# t/fuzz/README.md says more.
FUZZ_CC		?= clang
FUZZ_SECS	?= 60
FUZZ_JOBS	?= 1
FUZZ_ALL	:= fuzz_guard fuzz_router fuzz_query fuzz_event fuzz_json fuzz_pgoutput \
		   fuzz_csv fuzz_jobreq fuzz_sse
FUZZ_TARGETS	?= $(FUZZ_ALL)
FUZZ_SANFLAGS	:= -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS	:= -std=c11 $(WARN) -O1 -g $(FUZZ_SANFLAGS) $(CFLAGS)
FUZZ_OBJ	:= $(LIB_SRC:%.c=build/fuzz/obj/%.o) $(FCGI_SRC:%.c=build/fuzz/obj/%.o) \
		   $(TRAIN_SRC:%.c=build/fuzz/obj/%.o) build/fuzz/obj/tools/sse.o
FUZZ_BIN	:= $(FUZZ_ALL:%=build/fuzz/%)

.PHONY: fuzz fuzz-smoke fuzz-replay fuzz-build

# Product code gets coverage instrumentation; the harness links libFuzzer's main.
build/fuzz/obj/%.o: %.c
	@command -v $(FUZZ_CC) >/dev/null || { echo "fuzz: needs $(FUZZ_CC) with libFuzzer (deploy/install-deps installs it)" >&2; exit 1; }
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

# An archive: each target links only the objects it needs.
build/fuzz/libtp-fuzz.a: $(FUZZ_OBJ)
	rm -f $@
	ar rcs $@ $^

$(FUZZ_BIN): build/fuzz/%: build/fuzz/obj/t/fuzz/%.o build/fuzz/obj/t/fuzz/common.o \
	    build/fuzz/libtp-fuzz.a
	$(FUZZ_CC) $(FUZZ_SANFLAGS) -fsanitize=fuzzer $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread -lm

fuzz-build: $(FUZZ_BIN)

fuzz: deps
	$(MAKE) fuzz-build
	t/fuzz/run --secs $(FUZZ_SECS) --jobs $(FUZZ_JOBS) $(FUZZ_TARGETS)

fuzz-smoke: deps
	$(MAKE) fuzz-build
	t/fuzz/run --secs 10 --jobs $(FUZZ_JOBS) $(FUZZ_TARGETS)

fuzz-replay: deps
	$(MAKE) fuzz-build
	t/fuzz/run --replay $(FUZZ_TARGETS)

-include $(shell find build/fuzz/obj -name '*.d' 2>/dev/null)
