// job.js: the job view at /jobs/{job_id}: one job's progress, live.

import { ApiError, authorized, request } from './api.js';
import { ScoreChart } from './chart.js';
import { JobFeed } from './live.js';
import {
	FINISHED, STEPS, apiJobPath, int, localTime, param, parseTime, pct, relative, score,
	statusLabel,
} from './format.js';

const $ = (id) => document.getElementById(id);
const HISTORY_PAGES_MAX = 20;
const NOTES_RECHECK_MS = 5000;		// while a notification is being sent
const NOTES_RECHECKS_MAX = 60;

let doc = null;			// the newest progress document
let announced = null;		// the status last announced
let cancelAsked = false;
let chart = null;
let notifyWanted = false;	// a desktop notification when the job ends
let notifyAsking = false;	// the browser's permission prompt is open

// The job id from the path: /jobs/<one percent-encoded segment>.
function jobIdFromPath() {
	const m = /^\/jobs\/([^/]+)\/?$/.exec(location.pathname);
	if (!m)
		return null;
	try {
		return decodeURIComponent(m[1]);
	} catch {
		return null;
	}
}

function setBar(bar, value, status) {
	const v = typeof value === 'number' && isFinite(value) ? Math.max(0, Math.min(100, value)) : 0;
	bar.setAttribute('aria-valuenow', String(Math.round(v * 10) / 10));
	bar.setAttribute('aria-valuetext', pct(v));
	bar.firstElementChild.style.width = `${v}%`;
	bar.className = bar.className.replace(/\s*\b(done|failed|stalled|cancelling|cancelled)\b/g, '');
	if (status === 'completed')
		bar.classList.add('done');
	else if (status && status !== 'running' && status !== 'queued')
		bar.classList.add(status);
}

function announce(text) {
	// A change of text is what a screen reader reads out.
	$('announce').textContent = '';
	requestAnimationFrame(() => { $('announce').textContent = text; });
}

function statusLine(d) {
	const step = `Step ${d.step_number}/${d.total_steps}: ${d.current_step}`;
	const updated = parseTime(d.updated_at);
	const ago = updated ? `, last update ${relative(updated)}` : '';
	switch (d.status) {
	case 'queued':
		return 'Queued: waiting for a trainer to take it.';
	case 'running':
		return `${step}${ago}.`;
	case 'stalled':
		return `Stalled in ${step}: no progress or heartbeat from its trainer${ago}. The trainer may have stopped.`;
	case 'cancelling':
		return `Cancelling in ${step}: the trainer stops at its next iteration.`;
	case 'cancelled':
		return `Cancelled${updated ? ' ' + relative(updated) : ''}.`;
	case 'failed':
		return `Failed in ${step}${updated ? ', ' + relative(updated) : ''}.`;
	case 'completed':
		return `Completed${updated ? ' ' + relative(updated) + ', at ' + localTime(updated) : ''}.`;
	default:
		return step;
	}
}

function renderEta(d) {
	const eta = parseTime(d.estimated_completion);
	if (FINISHED.has(d.status)) {
		$('eta-relative').textContent = '–';
		$('eta-absolute').textContent = '';
	} else if (eta === null) {
		$('eta-relative').textContent = d.status === 'queued' ? 'once started' : 'estimating…';
		$('eta-absolute').textContent = '';
	} else {
		$('eta-relative').textContent = relative(eta);
		$('eta-absolute').textContent = `(${localTime(eta)})`;
	}
}

function renderSteps(d) {
	for (const li of $('steps').children) {
		const n = Number(li.dataset.step);
		li.classList.remove('done', 'failed');
		li.removeAttribute('aria-current');
		const label = li.querySelector('.mark');
		label.removeAttribute('aria-label');
		if (d.status === 'completed' || n < d.step_number) {
			li.classList.add('done');
			label.setAttribute('aria-label', `${STEPS[n - 1]}, done`);
		} else if (n === d.step_number && d.status !== 'queued') {
			if (d.status === 'failed')
				li.classList.add('failed');
			else if (!FINISHED.has(d.status))
				li.setAttribute('aria-current', 'step');
		}
	}
	const name = d.status === 'completed' ? 'All steps' : `Step ${d.step_number}: ${STEPS[d.step_number - 1] ?? d.current_step}`;
	$('step-name').textContent = name;
	$('step-pct').textContent = pct(d.step_percentage);
	setBar($('step-bar'), d.step_percentage, d.status);

	const details = $('step-details');
	details.replaceChildren();
	const sd = d.step_details;
	if (sd && typeof sd === 'object' && !FINISHED.has(d.status)) {
		for (const [k, v] of Object.entries(sd)) {
			const dt = document.createElement('dt');
			const dd = document.createElement('dd');
			dt.textContent = k;
			dd.textContent = typeof v === 'string' ? v : param(v);
			details.append(dt, dd);
		}
	}
	details.hidden = details.childElementCount === 0;
}

function renderParams(params) {
	const body = $('best-params').tBodies[0];
	body.replaceChildren();
	const entries = params && typeof params === 'object' ? Object.entries(params) : [];
	if (entries.length === 0) {
		const tr = body.insertRow();
		const td = tr.insertCell();
		td.colSpan = 2;
		td.className = 'muted';
		td.textContent = 'none yet';
		return;
	}
	for (const [k, v] of entries) {
		const tr = body.insertRow();
		const th = document.createElement('th');
		th.scope = 'row';
		th.textContent = k;
		tr.append(th);
		const td = tr.insertCell();
		td.className = 'num';
		td.textContent = param(v);
	}
}

function renderOutcome(d) {
	const outcome = $('outcome'), error = $('error'), result = $('result');
	error.hidden = result.hidden = true;
	if (d.status === 'failed' || d.status === 'cancelled') {
		error.textContent = d.error_message ?? statusLabel(d.status);
		error.hidden = false;
	} else if (d.status === 'completed') {
		const params = d.best_params && typeof d.best_params === 'object' ?
		    Object.entries(d.best_params).map(([k, v]) => `${k} ${param(v)}`).join(', ') : '';
		result.textContent = `Training completed. Best score ${score(d.best_score)}` +
		    (params ? ` with ${params}.` : '.');
		result.hidden = false;
	}
	outcome.hidden = error.hidden && result.hidden;
}

function render(d) {
	doc = d;
	$('job-id').textContent = d.job_id;
	const badge = $('status');
	badge.textContent = statusLabel(d.status);
	badge.className = `badge ${d.status}`;
	$('status-line').textContent = statusLine(d);
	$('overall-pct').textContent = pct(d.percentage);
	setBar($('overall'), d.percentage, d.status);
	renderEta(d);
	renderSteps(d);

	$('iteration').textContent = typeof d.current_iteration === 'number' ?
	    `${int(d.current_iteration)} / ${int(d.total_iterations)}` : '–';
	$('best-score').textContent = score(d.best_score);
	$('current-score').textContent = score(d.current_score);
	renderParams(d.best_params);
	renderOutcome(d);
	if (chart.add(d))
		chart.draw();

	const cancel = $('cancel');
	cancel.hidden = FINISHED.has(d.status);
	cancel.disabled = d.status === 'cancelling' || cancelAsked;
	cancel.textContent = d.status === 'cancelling' ? 'Cancelling…' : 'Cancel training';

	document.title = `${pct(d.percentage)} · ${statusLabel(d.status)} · ${d.job_id}`;
	renderNotify(d);
	if (announced !== null && announced !== d.status) {
		// (Not for the cancel one asked for here; for any other end, yes.)
		if (FINISHED.has(d.status) && !(cancelAsked && d.status === 'cancelled'))
			notifyEnd(d);
		if (FINISHED.has(d.status)) {
			notesRechecks = 0;
			notesFollowing = true;
			loadNotifications(d.job_id);
		}
		if (d.status === 'completed')
			announce(`Training completed. Best score ${score(d.best_score)}.`);
		else if (d.status === 'failed')
			announce(`Training failed: ${d.error_message ?? 'no message'}`);
		else if (d.status === 'cancelled')
			announce('Training was cancelled.');
		else if (d.status === 'stalled')
			announce('The job has stalled: no news from its trainer.');
	}
	announced = d.status;
}

// --- a desktop notification when the job ends ----------------------------------
// Asked for with the button while the job runs, and kept for the tab
// (sessionStorage), so that a reload does not forget it.  Only a change to
// an end seen by this page notifies: a job that had ended before it opened
// does not.

const notifyKey = (id) => `trainprog.notify.${id}`;

function renderNotify(d) {
	const button = $('notify-me');
	button.hidden = !('Notification' in window) || FINISHED.has(d.status);
	if (button.hidden)
		return;
	const blocked = Notification.permission === 'denied';
	button.disabled = blocked || notifyAsking;
	button.title = blocked ? 'Notifications are blocked for this site in the browser\'s settings' : '';
	button.setAttribute('aria-pressed', String(notifyOn()));
}

// What the button shows, and what a click turns around.
function notifyOn() {
	return notifyWanted && Notification.permission === 'granted';
}

async function toggleNotify(id) {
	if (notifyAsking)
		return;
	const on = !notifyOn();
	if (on && Notification.permission !== 'granted') {
		let permission = 'denied';
		notifyAsking = true;
		if (doc)
			renderNotify(doc);
		try {
			permission = await Notification.requestPermission();
		} catch {
			// an old browser's callback form, or none: treated as refused
		} finally {
			notifyAsking = false;
		}
		if (permission !== 'granted') {
			announce('Notifications are not allowed for this site.');
			if (doc)
				renderNotify(doc);
			return;
		}
	}
	notifyWanted = on;
	if (notifyWanted)
		sessionStorage.setItem(notifyKey(id), '1');
	else
		sessionStorage.removeItem(notifyKey(id));
	announce(notifyWanted ? 'You will be notified when the job ends.' : 'No notification when the job ends.');
	if (doc)
		renderNotify(doc);
}

function notifyEnd(d) {
	if (!notifyWanted || !('Notification' in window) || Notification.permission !== 'granted')
		return;
	notifyWanted = false;
	sessionStorage.removeItem(notifyKey(d.job_id));
	const body = d.status === 'completed' ? `Best score ${score(d.best_score)}.` :
	    d.status === 'failed' ? (d.error_message ?? 'It failed.') : 'It was cancelled.';
	try {
		const n = new Notification(`Training job ${d.job_id}: ${statusLabel(d.status)}`,
		    { body, tag: `trainprog-${d.job_id}` });
		n.onclick = () => {
			window.focus();
			n.close();
		};
	} catch {
		// a browser that shows notifications only from a service worker
	}
}

// --- whom the job's end is told (GET .../notifications) ---------------------------

const KIND_LABEL = { email: 'Email', slack: 'Slack', webhook: 'Webhook' };
let notesTimer = null;
let notesRechecks = 0;
let notesAsked = 0;		// requests sent: an older answer is not shown over a newer
let notesFollowing = false;	// since the end, or while one is in flight: a failed look is retried

function noteText(n) {
	const when = (s) => {
		const t = parseTime(s);
		return t ? `${relative(t)} (${localTime(t)})` : '';
	};
	switch (n.state) {
	case 'waiting':
		return 'to be told when the job ends';
	case 'pending':
		return 'being sent';
	case 'retrying':
		return `not delivered yet (${n.last_error ?? 'no answer'}); next try ${when(n.next_attempt_at)}`;
	case 'delivered':
		return `delivered ${when(n.delivered_at)}`;
	case 'dead':
		return `given up after ${n.attempts} tries: ${n.last_error ?? 'no reason'}`;
	default:
		return 'nothing sent for this job';
	}
}

function renderNotifications(items) {
	const list = $('notifications');
	list.replaceChildren();
	for (const n of items) {
		const li = document.createElement('li');
		li.className = `note ${n.state}`;
		const who = document.createElement('span');
		who.className = 'who';
		who.textContent = `${KIND_LABEL[n.kind] ?? n.kind} ${n.target}`;
		const scope = document.createElement('span');
		scope.className = 'muted';
		scope.textContent = n.every_job ? ' (every job)' : ' (this job)';
		const what = document.createElement('span');
		what.className = 'what';
		what.textContent = `: ${noteText(n)}`;
		li.append(who, scope, what);
		list.append(li);
	}
	$('notifications-panel').hidden = items.length === 0;
}

// Asks again while something is being sent, every 5 s for 5 minutes at most.
async function loadNotifications(id) {
	clearTimeout(notesTimer);
	const asked = ++notesAsked;
	const again = () => {
		notesFollowing = true;
		if (notesRechecks++ < NOTES_RECHECKS_MAX)
			notesTimer = setTimeout(() => loadNotifications(id), NOTES_RECHECK_MS);
	};
	let answer;
	try {
		answer = await request(`${apiJobPath(id)}/notifications`);
	} catch {
		// An older server, or reads that need a token: no panel.  A failure
		// while following a delivery is tried again, as the next look would.
		if (asked === notesAsked && notesFollowing)
			again();
		return;
	}
	if (asked !== notesAsked)
		return;
	const items = answer.body?.notifications ?? [];
	renderNotifications(items);
	if (items.some((n) => n.state === 'pending' || n.state === 'retrying'))
		again();
	else
		notesFollowing = false;
}

function renderConn(state) {
	const conn = $('conn');
	clearInterval(renderConn.timer);
	conn.className = `conn ${state.mode}`;
	switch (state.mode) {
	case 'connecting':
		conn.textContent = 'Connecting…';
		break;
	case 'live':
		conn.textContent = 'Live: updates are pushed as they happen.';
		break;
	case 'polling':
		conn.textContent = `Checking for updates every ${Math.round(state.interval / 1000)} s.`;
		break;
	case 'reconnecting': {
		const tick = () => {
			const secs = Math.max(0, Math.ceil((state.retryAt - Date.now()) / 1000));
			const why = state.error instanceof ApiError ? ` (${state.error.message})` : '';
			conn.textContent = `Reconnecting${why}: trying again in ${secs} s…`;
		};
		tick();
		renderConn.timer = setInterval(tick, 1000);
		break;
	}
	case 'ended':
		conn.textContent = 'The job has finished: no more updates.';
		break;
	case 'missing':
		conn.textContent = '';
		$('status').textContent = 'Not found';
		$('status-line').textContent = state.error?.message ?? 'No such job.';
		break;
	}
}

async function loadHistory(id) {
	let since = 0;
	for (let page = 0; page < HISTORY_PAGES_MAX; page++) {
		let answer;
		try {
			answer = await request(`${apiJobPath(id)}/progress/history?since_seq=${since}&limit=1000`);
		} catch {
			return;		// the chart then starts from the live documents
		}
		const h = answer.body;
		for (const s of h.snapshots ?? [])
			chart.add(s);
		if (!h.has_more || h.next_since_seq === since)
			break;
		since = h.next_since_seq;
	}
	chart.draw();
}

async function cancelJob(id) {
	const button = $('cancel');
	cancelAsked = true;
	button.disabled = true;
	try {
		const answer = await authorized(`${apiJobPath(id)}/cancel`, { method: 'POST' },
		    'Cancelling a job needs a token with the "cancel" scope.');
		if (answer === null) {
			cancelAsked = false;
			button.disabled = false;
			return;
		}
		render(answer.body);
		announce(answer.body.status === 'cancelled' ? 'Training was cancelled.' :
		    'Cancel requested: the trainer stops at its next iteration.');
	} catch (e) {
		cancelAsked = false;
		if (doc)
			render(doc);
		announce(`Cancel failed: ${e.message}`);
		$('status-line').textContent = `Cancel failed: ${e.message}`;
	}
}

function main() {
	const id = jobIdFromPath();
	chart = new ScoreChart($('chart'), $('chart-summary'));
	chart.draw();
	if (id === null) {
		$('status').textContent = 'Not found';
		$('status-line').textContent = 'This address names no job: /jobs/<job id>.';
		return;
	}
	$('job-id').textContent = id;
	$('cancel').addEventListener('click', () => cancelJob(id));
	notifyWanted = sessionStorage.getItem(notifyKey(id)) === '1';
	$('notify-me').addEventListener('click', () => toggleNotify(id));
	// Relative times age: "in 4 min" becomes "in 3 min".
	setInterval(() => {
		if (doc) {
			renderEta(doc);
			$('status-line').textContent = statusLine(doc);
		}
	}, 15000);
	const feed = new JobFeed(id, { onDoc: render, onState: renderConn });
	feed.start();
	loadHistory(id);
	loadNotifications(id);
}

main();
