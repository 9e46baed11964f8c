# test_browser.sh: the progress UI (web/) in Debian's chromium, driven by
# playwright-core (t/browser/ui.mjs): the spec's lifecycle at 12.5, 55, 85
# and 100 % without a reload, a failed job, cancel from the button, the
# dashboard's counts, filter, paging and start form, polling when the stream
# is blocked, backoff on errors, reconnect after nginx restarts, 375 px and
# dark mode, no request off the origin, no script error.  Screenshots are
# kept in build/ui-artifacts/.

if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
	fail "chromium is installed (deploy/install-deps installs it)"
elif [ ! -d "$E2E_ROOT/t/browser/node_modules/playwright-core" ]; then
	fail "playwright-core is installed in t/browser (deploy/install-deps runs npm ci there)"
elif stack_up browser; then
	artifacts=$E2E_ROOT/build/ui-artifacts$([ "${sanitized:-0}" = 1 ] && echo -san)
	rm -rf "$artifacts"
	out=$E2E_TMP/browser.out
	TP_TOKEN=$TP_PUBLISH_TOKEN TP_PUBLISH=$E2E_BIN/tp-publish DEV_STACK=$DEV_STACK \
	    UI_ARTIFACTS=$artifacts node "$E2E_ROOT/t/browser/ui.mjs" >"$out" 2>"$E2E_TMP/browser.err"
	verdicts "$out" $? 60 ui.mjs "$E2E_TMP/browser.err"
	stack_down browser
else
	fail "a stack for the browser starts"
fi
