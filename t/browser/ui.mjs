// ui.mjs: the progress UI in Debian's chromium, driven by playwright-core,
// against a running stack (t/e2e/test_browser.sh starts one and runs this).
//
// Prints one line per check, "PASS\t<what>" or "FAIL\t<what>\t<why>", which
// the shell suite turns into TAP; exits 0 when it ran to the end (failures
// included), 1 when it could not (no browser, no server).  Screenshots go
// into $UI_ARTIFACTS.
//
// Environment: TP_BASE_URL, TP_TOKEN (publish, cancel, train), DATABASE_URL
// (for tp-publish), TP_PUBLISH (tp-publish's path), DEV_STACK and
// TP_STATE_DIR (to restart nginx), UI_ARTIFACTS, CHROMIUM (default
// /usr/bin/chromium).

import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

const run = promisify(execFile);
const env = (k) => {
	const v = process.env[k];
	if (!v) {
		console.error(`ui.mjs: ${k} is not set`);
		process.exit(1);
	}
	return v;
};
const BASE = env('TP_BASE_URL');
const ORIGIN = new URL(BASE).origin;
const TOKEN = env('TP_TOKEN');
const PUBLISH = env('TP_PUBLISH');
const ARTIFACTS = env('UI_ARTIFACTS');
const WAIT_MS = 15000;
const tag = `${process.pid}`;
mkdirSync(ARTIFACTS, { recursive: true });

// --- checks ----------------------------------------------------------------

let failures = 0;
function pass(what) {
	console.log(`PASS\t${what}`);
}
function fail(what, why) {
	failures++;
	console.log(`FAIL\t${what}\t${String(why).replace(/\s+/g, ' ').slice(0, 400)}`);
}
function check(cond, what, why = '') {
	if (cond)
		pass(what);
	else
		fail(what, why);
}
function eq(got, want, what) {
	check(got === want, what, `got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}
// Runs a group of checks; an exception fails the group, not the run.
async function group(name, fn) {
	try {
		await fn();
	} catch (e) {
		fail(`${name}: ran to the end`, e.stack ?? e);
	}
}

// Waits until fn() (run in the page) is truthy; a check either way.
async function waitIn(page, what, fn, arg) {
	try {
		await page.waitForFunction(fn, arg, { timeout: WAIT_MS, polling: 50 });
		pass(what);
		return true;
	} catch (e) {
		// A predicate that threw is not a slow page: say what it threw.
		fail(what, e.name === 'TimeoutError' ? `not within ${WAIT_MS / 1000} s` : e.message);
		return false;
	}
}

const text = (page, sel) => page.locator(sel).first().innerText();
const attr = (page, sel, name) => page.locator(sel).first().getAttribute(name);

async function publish(job, ...args) {
	try {
		await run(PUBLISH, ['--job', job, ...args], { env: process.env });
		return 0;
	} catch (e) {
		if (typeof e.code === 'number')
			return e.code;
		throw e;
	}
}

async function api(path, init = {}) {
	const res = await fetch(BASE + path, init);
	const body = await res.json().catch(() => null);
	return { status: res.status, body };
}

async function shot(page, name) {
	await page.screenshot({ path: `${ARTIFACTS}/${name}.png`, fullPage: true });
}

// --- the browser -------------------------------------------------------------

const browser = await chromium.launch({
	executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
	headless: true,
	// The machine has no network beyond loopback: keep chromium from trying.
	args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
	    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
}).catch((e) => {
	console.error(`ui.mjs: chromium did not start: ${e.message}`);
	process.exit(1);
});

// Every page of every context: requests that leave the origin, script errors.
const offOrigin = [];
const pageErrors = [];
const consoleErrors = [];
async function newPage(options = {}, { expectFailedLoads = false } = {}) {
	const context = await browser.newContext({ locale: 'en-US', timezoneId: 'UTC', ...options });
	const page = await context.newPage();
	page.on('request', (r) => {
		const u = r.url();
		if (!u.startsWith('data:') && new URL(u).origin !== ORIGIN)
			offOrigin.push(u);
	});
	page.on('pageerror', (e) => pageErrors.push(`${page.url()}: ${e.message}`));
	page.on('console', (m) => {
		if (m.type() !== 'error')
			return;
		// An HTTP error answer (the tests send wrong tokens and bad fields on
		// purpose) is logged by the browser as a failed load; so is a stream
		// cut or a server stopped on purpose.  Anything else is an error: a
		// CSP violation ("Refused to ..."), a script's own console.error.
		if (/^Failed to load resource: the server responded with a status of [45]\d\d/.test(m.text()))
			return;
		if (expectFailedLoads && /Failed to load resource|net::ERR_|EventSource/.test(m.text()))
			return;
		consoleErrors.push(`${page.url()}: ${m.text()}`);
	});
	return page;
}

// --- 1. the spec's lifecycle, live, without a reload -------------------------

await group('lifecycle', async () => {
	const job = `ui-life-${tag}`;
	await publish(job, 'start', 'data_collection', '--details', '{"symbol": "BTC/USDT", "timeframe": "1h"}');
	const page = await newPage();
	const res = await page.goto(`${BASE}/jobs/${encodeURIComponent(job)}`);
	eq(res.status(), 200, 'the job view is served at /jobs/{job_id}');
	const csp = res.headers()['content-security-policy'] ?? '';
	check(/script-src 'self'/.test(csp) && /default-src 'none'/.test(csp) && !/unsafe-inline/.test(csp),
	    'the job view is served with a strict Content-Security-Policy', csp);
	await page.evaluate(() => { window.__sameDocument = true; });

	await waitIn(page, 'live: the stream is used', () => document.getElementById('conn').classList.contains('live'));
	eq(await text(page, '#job-id'), job, 'the job id is shown');
	eq(await attr(page, '#overall', 'role'), 'progressbar', 'the overall bar is a progressbar');
	eq(await attr(page, '#overall', 'aria-valuemin'), '0', 'aria-valuemin is 0');
	eq(await attr(page, '#overall', 'aria-valuemax'), '100', 'aria-valuemax is 100');

	// 12.5 %: Data Collection at 50 %.
	await publish(job, 'update', '--step-pct', '50');
	await waitIn(page, '12.5 %: the bar moves without a reload',
	    () => document.getElementById('overall').getAttribute('aria-valuenow') === '12.5');
	eq(await text(page, '#overall-pct'), '12.5 %', '12.5 %: the percentage reads 12.5 %');
	eq(await attr(page, '#steps li[data-step="1"]', 'aria-current'), 'step', '12.5 %: step 1 is the current step');
	eq(await text(page, '#step-pct'), '50.0 %', '12.5 %: the step percentage');
	check((await text(page, '#step-details')).includes('BTC/USDT'), '12.5 %: the step details are shown');
	eq(await text(page, '#status'), 'Running', '12.5 %: status Running');
	await shot(page, 'lifecycle-12.5');

	// 55 %: Optimization at 60 %, iteration 30 of 50.
	await publish(job, 'start', 'optimization', '--details', '{"optimizer": "bayesian", "n_calls": 50}');
	for (const [it, cur, best] of [[10, '0.90', '1.20'], [20, '1.60', '1.60']])
		await publish(job, 'update', '--step-pct', String(it * 2), '--iteration', String(it), '--total', '50',
		    '--current-score', cur, '--best-score', best);
	await publish(job, 'update', '--step-pct', '60', '--iteration', '30', '--total', '50',
	    '--best-score', '1.85', '--current-score', '1.42',
	    '--best-params', '{"pierce_depth": 0.15, "volume_spike_threshold": 2.5, "reversal_candles": 3}');
	await waitIn(page, '55 %: the bar moves without a reload',
	    () => document.getElementById('overall').getAttribute('aria-valuenow') === '55');
	eq(await text(page, '#overall-pct'), '55.0 %', '55 %: the percentage reads 55.0 %');
	eq(await attr(page, '#steps li[data-step="2"]', 'aria-current'), 'step', '55 %: step 2 is the current step');
	check(await page.locator('#steps li[data-step="1"].done').count() === 1, '55 %: step 1 is marked done');
	eq(await text(page, '#iteration'), '30 / 50', '55 %: iteration 30 / 50');
	eq(await text(page, '#best-score'), '1.85', '55 %: best score 1.85');
	eq(await text(page, '#current-score'), '1.42', '55 %: current score 1.42');
	const params = await page.locator('#best-params tbody tr').allInnerTexts();
	check(params.some((r) => /pierce_depth\s+0\.15/.test(r)) && params.some((r) => /reversal_candles\s+3/.test(r)),
	    '55 %: the best params are a table', params.join(' | '));
	await waitIn(page, '55 %: the chart has a point per iteration seen (history and live)',
	    () => document.querySelectorAll('#chart circle').length >= 3);
	check(/\S/.test(await text(page, '#eta-relative')), '55 %: an ETA is shown');
	await shot(page, 'lifecycle-55');

	// 85 %: Validation at 50 %.
	await publish(job, 'update', '--step-pct', '100', '--iteration', '50', '--total', '50');
	await publish(job, 'start', 'validation');
	await publish(job, 'update', '--step-pct', '50');
	await waitIn(page, '85 %: the bar moves without a reload',
	    () => document.getElementById('overall').getAttribute('aria-valuenow') === '85');
	eq(await attr(page, '#steps li[data-step="3"]', 'aria-current'), 'step', '85 %: step 3 is the current step');
	await shot(page, 'lifecycle-85');

	// 100 %: completed.
	await publish(job, 'start', 'save_configuration');
	await publish(job, 'complete');
	await waitIn(page, '100 %: completed without a reload',
	    () => document.getElementById('overall').getAttribute('aria-valuenow') === '100' &&
	        document.getElementById('status').textContent === 'Completed');
	eq(await text(page, '#overall-pct'), '100.0 %', '100 %: the percentage reads 100.0 %');
	eq(await page.locator('#steps li[aria-current]').count(), 0, '100 %: no step is current any more');
	eq(await page.locator('#steps li.done').count(), 4, '100 %: all four steps are done');
	check((await text(page, '#result')).includes('1.85'), '100 %: the best score is shown as the result');
	check(await page.locator('#cancel').isHidden(), '100 %: no cancel button');
	await waitIn(page, '100 %: a live region announces the completion',
	    () => /Training completed/.test(document.getElementById('announce').textContent));
	await waitIn(page, '100 %: the feed has stopped', () => document.getElementById('conn').classList.contains('ended'));
	check(await page.evaluate(() => window.__sameDocument === true), 'the page was never reloaded');
	await shot(page, 'lifecycle-100');

	// The reader's locale: German writes 100,0 %.
	const de = await newPage({ locale: 'de-DE' });
	await de.goto(`${BASE}/jobs/${encodeURIComponent(job)}`);
	await waitIn(de, 'a page opened after the end draws the chart from the history',
	    () => document.querySelectorAll('#chart circle').length >= 1 &&
	        /up to 50\b/.test(document.getElementById('chart-summary').textContent));
	await waitIn(de, 'numbers in the reader\'s locale (de-DE: 100,0 %)',
	    () => document.getElementById('overall-pct').textContent === '100,0\u00a0%' ||
	        document.getElementById('overall-pct').textContent === '100,0 %');
	await de.context().close();
	await page.context().close();
});

// --- 2. a failed job ---------------------------------------------------------------

await group('failed', async () => {
	const job = `ui-fail-${tag}`;
	await publish(job, 'start', 'data_collection');
	await publish(job, 'start', 'optimization');
	await publish(job, 'update', '--step-pct', '40', '--iteration', '20', '--total', '50');
	const page = await newPage();
	await page.goto(`${BASE}/jobs/${encodeURIComponent(job)}`);
	await waitIn(page, 'failed: the running job is shown', () => document.getElementById('status').textContent === 'Running');
	await publish(job, 'error', 'Optimization failed: the backtest ran out of memory');
	await waitIn(page, 'failed: the status turns Failed', () => document.getElementById('status').textContent === 'Failed');
	eq(await text(page, '#error'), 'Optimization failed: the backtest ran out of memory', 'failed: the error message is shown');
	eq(await page.locator('#steps li[data-step="2"].failed').count(), 1, 'failed: the step it failed in is marked');
	await waitIn(page, 'failed: a live region announces the error',
	    () => /Training failed: Optimization failed/.test(document.getElementById('announce').textContent));
	await shot(page, 'failed');
	await page.context().close();
});

// --- 2b. ids and messages with markup, and a slash, are text --------------------------

await group('markup', async () => {
	const job = `ui/<img src=x onerror="window.__owned=1">&'-${tag}`;
	await publish(job, 'start', 'optimization');
	await publish(job, 'error', '<script>window.__owned=1</script> failed & <b>stopped</b>');
	const page = await newPage();
	await page.goto(`${BASE}/jobs/${encodeURIComponent(job)}`);
	await waitIn(page, 'markup: the failed job is shown', () => document.getElementById('status').textContent === 'Failed');
	eq(await page.evaluate(() => document.getElementById('job-id').textContent), job,
	    'markup: a job id with markup and a slash is shown as text');
	eq(await page.evaluate(() => document.getElementById('error').textContent),
	    '<script>window.__owned=1</script> failed & <b>stopped</b>', 'markup: an error message is shown as text');
	eq(await page.evaluate(() => document.querySelectorAll('main img, main script, #error b').length + (window.__owned ?? 0)),
	    0, 'markup: nothing in them became an element or ran');
	await page.context().close();
});

// --- 2b'. a desktop notification when the job ends --------------------------------------
// The browser's Notification is replaced by a recorder that grants what it
// is asked: what the page shows, and when, is what is checked.

const FAKE_NOTIFICATION = () => {
	window.__notes = [];
	window.__asked = 0;
	class Recorder {
		constructor(title, options) {
			window.__notes.push({ title, body: options?.body, tag: options?.tag });
		}
		close() {}
	}
	// A permission given lasts, as the browser's does (here: for the tab).
	Recorder.permission = sessionStorage.getItem('test.permission') ?? 'default';
	Recorder.requestPermission = async () => {
		window.__asked++;
		sessionStorage.setItem('test.permission', 'granted');
		return (Recorder.permission = 'granted');
	};
	window.Notification = Recorder;
};

await group('notification', async () => {
	const job = `ui-note-${tag}`;
	await publish(job, 'start', 'optimization');
	const page = await newPage();
	await page.addInitScript(FAKE_NOTIFICATION);
	await page.goto(`${BASE}/jobs/${encodeURIComponent(job)}`);
	await waitIn(page, 'notification: a running job offers "Notify me when it ends"',
	    () => !document.getElementById('notify-me').hidden &&
	        document.getElementById('notify-me').getAttribute('aria-pressed') === 'false');
	await page.click('#notify-me');
	await waitIn(page, 'notification: a click asks for permission, and the button is pressed',
	    () => window.__asked === 1 && document.getElementById('notify-me').getAttribute('aria-pressed') === 'true');
	// A reload keeps the request (for this tab).
	await page.reload();
	await waitIn(page, 'notification: still asked for after a reload',
	    () => document.getElementById('status')?.textContent === 'Running' &&
	        document.getElementById('notify-me').getAttribute('aria-pressed') === 'true');
	await publish(job, 'update', '--step-pct', '60', '--iteration', '30', '--total', '50', '--best-score', '1.85');
	await waitIn(page, 'notification: an update arrives', () => document.getElementById('iteration').textContent === '30 / 50');
	await publish(job, 'complete');
	await waitIn(page, 'notification: the end is notified, with the best score',
	    (j) => window.__notes.length === 1 && window.__notes[0].title === `Training job ${j}: Completed` &&
	        window.__notes[0].body === 'Best score 1.85.', job);
	await waitIn(page, 'notification: the stream ends, the button goes',
	    () => /no more updates/.test(document.getElementById('conn').textContent) &&
	        document.getElementById('notify-me').hidden);
	eq(await page.evaluate(() => window.__notes.length), 1, 'notification: one notification, not one per document');
	// A job that ended before the page opened notifies nothing, though the
	// tab still asks for it.
	await page.evaluate((j) => sessionStorage.setItem(`trainprog.notify.${j}`, '1'), job);
	await page.reload();
	await waitIn(page, 'notification: reopened, the job reads Completed',
	    () => document.getElementById('status')?.textContent === 'Completed' &&
	        /no more updates/.test(document.getElementById('conn').textContent));
	eq(await page.evaluate(() => window.__notes.length), 0, 'notification: none for a job that had already ended');
	await page.context().close();
});

// --- 2c. a stalled job ------------------------------------------------------------------

await group('stalled', async () => {
	const job = `ui-stall-${tag}`;
	await publish(job, 'start', 'optimization');
	await publish(job, 'update', '--step-pct', '20', '--iteration', '10', '--total', '50');
	// Nothing heard from its trainer for two hours.
	await run(env('DEV_STACK'), ['psql', '-q', '-tA', '-v', 'ON_ERROR_STOP=1', '-c',
	    `UPDATE training_progress SET heartbeat_at = now() - interval '2 hours' WHERE job_id = '${job}'`],
	    { env: process.env });
	const page = await newPage();
	await page.goto(`${BASE}/jobs/${encodeURIComponent(job)}`);
	await waitIn(page, 'stalled: a stalled job reads Stalled, though its stream says running',
	    () => document.getElementById('status')?.textContent === 'Stalled');
	check(/may have stopped/.test(await text(page, '#status-line')), 'stalled: the status line says the trainer may have stopped');
	check((await page.locator('#overall').getAttribute('class')).includes('stalled'), 'stalled: the bar shows it');
	await shot(page, 'stalled');
	await publish(job, 'update', '--step-pct', '30', '--iteration', '15', '--total', '50');
	await waitIn(page, 'stalled: a write makes it Running again, pushed',
	    () => document.getElementById('status')?.textContent === 'Running' &&
	        document.getElementById('iteration').textContent === '15 / 50');
	await page.context().close();
});

// --- 3. cancel from the button, by keyboard ---------------------------------------------

await group('cancel', async () => {
	const job = `ui-cancel-${tag}`;
	await publish(job, 'start', 'optimization');
	await publish(job, 'update', '--step-pct', '10', '--iteration', '5', '--total', '50');
	const page = await newPage();
	await page.goto(`${BASE}/jobs/${encodeURIComponent(job)}`);
	await waitIn(page, 'cancel: the button is offered', () => !document.getElementById('cancel').hidden);
	// By keyboard: Tab to the button, Enter.
	let focused = false;
	for (let i = 0; i < 10 && !focused; i++) {
		await page.keyboard.press('Tab');
		focused = await page.evaluate(() => document.activeElement?.id === 'cancel');
	}
	check(focused, 'cancel: the button is reached with Tab');
	await page.keyboard.press('Enter');
	await waitIn(page, 'cancel: a token is asked for', () => document.getElementById('token-dialog').open);
	await page.keyboard.type('tp_000000000000_wrong');
	await page.keyboard.press('Enter');
	await waitIn(page, 'cancel: a refused token is asked for again, saying why',
	    () => document.getElementById('token-dialog').open &&
	        /token/i.test(document.querySelector('#token-dialog .why').textContent) &&
	        document.querySelector('#token-dialog input').value === '');
	await page.fill('#token-dialog input[name="token"]', TOKEN);
	await page.keyboard.press('Enter');
	await waitIn(page, 'cancel: the job reads Cancelling', () => document.getElementById('status').textContent === 'Cancelling');
	check(await page.locator('#cancel').isDisabled(), 'cancel: the button is disabled while cancelling');
	await shot(page, 'cancelling');
	const rc = await publish(job, 'update', '--step-pct', '12', '--iteration', '6', '--total', '50');
	eq(rc, 4, 'cancel: the trainer is told to stop (tp-publish exit 4)');
	await waitIn(page, 'cancel: the job reads Cancelled', () => document.getElementById('status').textContent === 'Cancelled');
	eq(await text(page, '#error'), 'cancelled by request', 'cancel: "cancelled by request" is shown');
	check(await page.evaluate(() => sessionStorage.getItem('trainprog.token') !== null),
	    'cancel: the token is kept for the session');
	await shot(page, 'cancelled');
	await page.context().close();
});

// --- 4. the dashboard: counts, filter, paging, starting a job ------------------------------

await group('dashboard', async () => {
	for (let i = 0; i < 23; i++)
		await publish(`ui-page-${tag}-${String(i).padStart(2, '0')}`, 'queue');
	const page = await newPage();
	const res = await page.goto(`${BASE}/`);
	eq(res.status(), 200, 'the dashboard is served at /');
	await waitIn(page, 'dashboard: the first page lists 20 jobs',
	    () => document.querySelectorAll('#jobs tr').length === 20);
	const { body } = await api('/api/v2/training/jobs?limit=1');
	const shown = {};
	for (const b of await page.locator('#counts button').all())
		shown[(await b.getAttribute('data-status')) || 'total'] = Number((await b.locator('.n').innerText()).replace(/\D/g, ''));
	eq(JSON.stringify(shown), JSON.stringify({ total: body.counts.total, queued: body.counts.queued,
	    running: body.counts.running, stalled: body.counts.stalled, cancelling: body.counts.cancelling,
	    cancelled: body.counts.cancelled, completed: body.counts.completed, failed: body.counts.failed }),
	    'dashboard: the counts are the API\'s');
	const page1 = await page.locator('#jobs tr').evaluateAll((rows) => rows.map((r) => r.dataset.jobId));
	await page.click('#next-page');
	await waitIn(page, 'dashboard: the next page comes from the cursor',
	    (first) => { const ids = [...document.querySelectorAll('#jobs tr')].map((r) => r.dataset.jobId);
	        return ids.length > 0 && !ids.some((id) => first.includes(id)); }, page1);
	eq(await text(page, '#page-info'), 'Page 2', 'dashboard: page 2');
	await page.click('#prev-page');
	await waitIn(page, 'dashboard: back to the first page',
	    (first) => document.querySelector('#jobs tr')?.dataset.jobId === first[0], page1);
	await page.selectOption('#status-filter', 'queued');
	await waitIn(page, 'dashboard: the status filter lists only queued jobs',
	    () => { const b = [...document.querySelectorAll('#jobs .badge')].map((x) => x.textContent);
	        return b.length > 0 && b.every((x) => x === 'Queued'); });
	check(page.url().endsWith('/?status=queued'), 'dashboard: the filter is in the address', page.url());
	await shot(page, 'dashboard');

	// Starting a job: a bad field first, then a good request.
	await page.fill('#start-form input[name="n_calls"]', '5000');
	await page.click('#start-form button[type="submit"]');
	await waitIn(page, 'start: a token is asked for', () => document.getElementById('token-dialog').open);
	await page.fill('#token-dialog input[name="token"]', TOKEN);
	await page.keyboard.press('Enter');
	await waitIn(page, 'start: a bad field is named next to it',
	    () => document.querySelector('#start-form input[name="n_calls"]').getAttribute('aria-invalid') === 'true' &&
	        /n_calls/.test(document.querySelector('#start-form .field-error')?.textContent ?? ''));
	// Whom to tell when it ends: a bad address is named under its own input,
	// in words without the API's field name.
	await page.fill('#start-form input[name="n_calls"]', '5');
	await page.fill('#start-form input[name="notify_email"]', 'not an address');
	await page.click('#start-form button[type="submit"]');
	await waitIn(page, 'start: a bad email to notify is named under its own input',
	    () => { const i = document.querySelector('#start-form input[name="notify_email"]');
	        return i.getAttribute('aria-invalid') === 'true' &&
	            /^must be an email address/.test(i.closest('label').querySelector('.field-error')?.textContent ?? ''); });
	check(await page.evaluate(() => document.activeElement?.name) === 'notify_email', 'start: and it has the focus');
	await page.fill('#start-form input[name="notify_email"]', 'owner@example.com');
	await page.fill('#start-form input[name="notify_slack"]', 'https://hooks.slack.com/services/T0/B0/x');
	await shot(page, 'start-form');
	await page.click('#start-form button[type="submit"]');
	await page.waitForURL(/\/jobs\/job-[0-9a-f]{24}$/, { timeout: WAIT_MS }).then(
	    () => pass('start: the new job opens in the job view'),
	    () => fail('start: the new job opens in the job view', page.url()));
	const started = decodeURIComponent(page.url().split('/jobs/')[1] ?? '');
	const { stdout: targets } = await run(env('DEV_STACK'), ['psql', '-q', '-tA', '-v', 'ON_ERROR_STOP=1', '-c',
	    `SELECT string_agg(kind || ' ' || address, ',' ORDER BY id) FROM notify_targets WHERE job_id = '${started}'`],
	    { env: process.env });
	eq(targets.trim(), 'email owner@example.com,slack https://hooks.slack.com/services/T0/B0/x',
	    'start: the job is started with the targets to tell when it ends');
	await waitIn(page, 'start: it reads Queued (no trainer in this stack)',
	    () => document.getElementById('status').textContent === 'Queued');
	// Its page says whom its end will be told, cut short (GET .../notifications).
	await waitIn(page, 'start: its page lists whom the end will be told, cut short',
	    () => { const li = [...document.querySelectorAll('#notifications li')].map((l) => l.textContent);
	        return !document.getElementById('notifications-panel').hidden && li.length === 2 &&
	            li[0] === 'Email o...@example.com (this job): to be told when the job ends' &&
	            li[1] === 'Slack https://hooks.slack.com (this job): to be told when the job ends'; });
	// Its end: this stack has no mail server, so the email is tried and
	// fails, and the page shows that, with the reason, without a reload.
	// (The Slack target goes first: resolving its host can take the
	// sender longer than this test waits, where DNS is slow to say no.)
	await run(env('DEV_STACK'), ['psql', '-q', '-tA', '-v', 'ON_ERROR_STOP=1', '-c',
	    `DELETE FROM notify_targets WHERE job_id = '${started}' AND kind = 'slack'`], { env: process.env });
	await publish(started, 'start', 'data_collection');
	await publish(started, 'complete');
	await waitIn(page, 'start: after the end, the page shows the email not delivered yet, why, and when next',
	    () => /^Email o\.\.\.@example\.com \(this job\): not delivered yet \(no SMTP server.*\); next try /
	        .test(document.querySelector('#notifications li')?.textContent ?? ''));
	await page.context().close();
});

// --- 5. the stream blocked: polling, and slower in the background ----------------------------

await group('polling', async () => {
	const job = `ui-poll-${tag}`;
	await publish(job, 'start', 'optimization');
	const page = await newPage({}, { expectFailedLoads: true });
	await page.route('**/progress/stream**', (route) => route.abort());
	await page.goto(`${BASE}/jobs/${encodeURIComponent(job)}`);
	await waitIn(page, 'blocked stream: it falls back to polling every 2 s',
	    () => /every 2 s/.test(document.getElementById('conn').textContent));
	await publish(job, 'update', '--step-pct', '50', '--iteration', '25', '--total', '50');
	await waitIn(page, 'blocked stream: updates still arrive',
	    () => document.getElementById('overall').getAttribute('aria-valuenow') === '50');
	const etags = [];
	for (let i = 0; i < 2; i++) {
		const r = await page.waitForRequest((q) => q.url().endsWith('/progress'), { timeout: WAIT_MS });
		etags.push(r.headers()['if-none-match'] ?? null);
	}
	check(etags.every((e) => e && e.startsWith('"')),
	    'blocked stream: each poll sends the ETag it last saw (If-None-Match)', JSON.stringify(etags));
	await page.evaluate(() => {
		Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
		document.dispatchEvent(new Event('visibilitychange'));
	});
	await waitIn(page, 'a tab in the background polls every 10 s',
	    () => /every 10 s/.test(document.getElementById('conn').textContent));
	await page.context().close();
});

// --- 6. errors do not become a storm --------------------------------------------------------

await group('backoff', async () => {
	const job = `ui-storm-${tag}`;
	await publish(job, 'start', 'optimization');
	const page = await newPage({}, { expectFailedLoads: true });
	let apiRequests = 0;
	await page.route('**/api/v2/training/**', (route) => {
		apiRequests++;
		return route.fulfill({ status: 503, contentType: 'application/json', headers: { 'Retry-After': '1' },
		    body: '{"error":"database_unavailable","message":"the database is unavailable"}' });
	});
	await page.goto(`${BASE}/jobs/${encodeURIComponent(job)}`);
	await waitIn(page, 'server errors: the page says it is reconnecting',
	    () => document.getElementById('conn').classList.contains('reconnecting'));
	await page.waitForTimeout(8000);
	// Backoff from 1 s doubling (with jitter of -50..+50 %): at most about
	// 1+1+2+4 requests in 8 s for progress and stream, plus history's one.
	check(apiRequests <= 12, 'server errors: requests back off instead of storming', `${apiRequests} requests in 8 s`);
	await page.context().close();
});

// --- 7. reconnect after nginx restarts ----------------------------------------------------------

await group('restart', async () => {
	const job = `ui-restart-${tag}`;
	await publish(job, 'start', 'optimization');
	await publish(job, 'update', '--step-pct', '10', '--iteration', '5', '--total', '50');
	const page = await newPage({}, { expectFailedLoads: true });
	await page.goto(`${BASE}/jobs/${encodeURIComponent(job)}`);
	await waitIn(page, 'restart: live before', () => document.getElementById('conn').classList.contains('live'));
	await page.evaluate(() => {
		window.__modes = [];
		new MutationObserver(() => window.__modes.push(document.getElementById('conn').className))
		    .observe(document.getElementById('conn'), { attributes: true, childList: true });
	});
	await run(env('DEV_STACK'), ['nginx-restart'], { env: process.env });
	await waitIn(page, 'restart: the page showed it was reconnecting',
	    () => window.__modes.some((m) => m.includes('reconnecting')));
	await publish(job, 'update', '--step-pct', '30', '--iteration', '15', '--total', '50');
	await waitIn(page, 'restart: updates arrive again after nginx restarted',
	    () => document.getElementById('overall').getAttribute('aria-valuenow') === '40');
	await waitIn(page, 'restart: live again', () => document.getElementById('conn').classList.contains('live'));
	await page.context().close();
});

// --- 8. 375 px wide, and dark ---------------------------------------------------------------

await group('layout', async () => {
	const job = `ui-life-${tag}`;
	for (const [name, path] of [['job', `/jobs/${encodeURIComponent(job)}`], ['dashboard', '/']]) {
		const page = await newPage({ viewport: { width: 375, height: 812 }, colorScheme: 'dark' });
		await page.goto(BASE + path);
		await waitIn(page, `375 px: the ${name} has loaded`, () =>
		    document.querySelectorAll('#jobs tr').length > 0 ||
		    document.getElementById('status')?.textContent === 'Completed');
		const width = await page.evaluate(() => document.documentElement.scrollWidth);
		check(width <= 375, `375 px: the ${name} does not scroll sideways`, `scrollWidth ${width}`);
		const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
		const [r, g, b] = bg.match(/\d+/g).map(Number);
		check(0.2126 * r + 0.7152 * g + 0.0722 * b < 60, `dark mode: the ${name} is dark`, bg);
		await shot(page, `${name}-375-dark`);
		await page.context().close();
	}
});

// --- what every page did ----------------------------------------------------------------------

check(offOrigin.length === 0, 'no request left the origin', offOrigin.slice(0, 5).join(' '));
check(pageErrors.length === 0, 'no script error on any page', pageErrors.slice(0, 5).join(' | '));
check(consoleErrors.length === 0, 'nothing logged as an error (CSP violations included)', consoleErrors.slice(0, 5).join(' | '));
await browser.close();
console.error(`ui.mjs: ${failures} failed`);
process.exit(0);
