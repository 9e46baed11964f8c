// dashboard.js: the dashboard at /: counts, the list of jobs, and a form to start one.

import { ApiError, authorized, request } from './api.js';
import { backoff } from './live.js';
import {
	STATUSES, int, jobPath, localTime, parseTime, pct, relative, score, statusLabel,
} from './format.js';

const $ = (id) => document.getElementById(id);
const LIST = '/api/v2/training/jobs';
const PAGE = 20;
const REFRESH_MS = 5000;
const REFRESH_HIDDEN_MS = 30000;

// Where the list is: the filter and the cursors of the pages before this one.
const view = { filter: '', cursors: [null] };
let timer = null;
let failures = 0;
let loading = null;

function filterQuery(filter) {
	if (filter === '')
		return '';
	if (filter === 'active')
		return 'active=true';
	return `status=${encodeURIComponent(filter)}`;
}

function readLocation() {
	const q = new URLSearchParams(location.search);
	const f = q.get('status') ?? (q.get('active') === 'true' ? 'active' : '');
	view.filter = f === 'active' || STATUSES.includes(f) ? f : '';
	$('status-filter').value = view.filter;
}

function writeLocation() {
	const q = filterQuery(view.filter);
	history.replaceState(null, '', q ? `/?${q}` : '/');
}

// The count buttons are made once and then updated in place, so that a
// keyboard user's focus stays where it is across refreshes.
function renderCounts(counts) {
	const box = $('counts');
	const entries = [['', 'All', counts.total], ...STATUSES.map((s) => [s, statusLabel(s), counts[s]])];
	if (box.childElementCount !== entries.length) {
		box.replaceChildren();
		for (const [status, label] of entries) {
			const b = document.createElement('button');
			b.type = 'button';
			b.dataset.status = status;
			const num = document.createElement('span');
			num.className = 'n';
			const name = document.createElement('span');
			name.textContent = label;
			b.append(num, name);
			b.addEventListener('click', () => setFilter(status));
			box.append(b);
		}
	}
	entries.forEach(([status, , n], i) => {
		const b = box.children[i];
		b.querySelector('.n').textContent = int(n ?? 0);
		b.setAttribute('aria-pressed', String(view.filter === status));
	});
}

function cell(tr, label, content, cls) {
	const td = tr.insertCell();
	td.dataset.label = label;
	if (cls)
		td.className = cls;
	if (content instanceof Node)
		td.append(content);
	else
		td.textContent = content;
	return td;
}

function renderJobs(jobs) {
	const body = $('jobs');
	// A refresh must not take the focus away from the link it was on.
	const focused = document.activeElement?.closest?.('#jobs tr')?.dataset.jobId;
	body.replaceChildren();
	for (const j of jobs) {
		const tr = body.insertRow();
		tr.dataset.jobId = j.job_id;
		const a = document.createElement('a');
		a.href = jobPath(j.job_id);
		a.className = 'mono';
		a.textContent = j.job_id;
		cell(tr, 'Job', a);

		const badge = document.createElement('span');
		badge.className = `badge ${j.status}`;
		badge.textContent = statusLabel(j.status);
		cell(tr, 'Status', badge);

		const wrap = document.createElement('div');
		const bar = document.createElement('div');
		bar.className = 'bar small' + (j.status === 'completed' ? ' done' :
		    ['failed', 'stalled', 'cancelling', 'cancelled'].includes(j.status) ? ` ${j.status}` : '');
		bar.setAttribute('role', 'progressbar');
		bar.setAttribute('aria-valuemin', '0');
		bar.setAttribute('aria-valuemax', '100');
		bar.setAttribute('aria-valuenow', String(j.percentage ?? 0));
		bar.setAttribute('aria-label', `Progress of ${j.job_id}`);
		const fill = document.createElement('div');
		fill.className = 'fill';
		fill.style.width = `${Math.max(0, Math.min(100, j.percentage ?? 0))}%`;
		bar.append(fill);
		const label = document.createElement('span');
		label.className = 'num';
		label.textContent = pct(j.percentage);
		wrap.append(bar, label);
		cell(tr, 'Progress', wrap);

		cell(tr, 'Step', j.status === 'queued' ? '–' : `${j.step_number}/4 ${j.current_step}`);
		cell(tr, 'Best score', score(j.best_score), 'num');
		const eta = parseTime(j.estimated_completion);
		const running = j.status === 'running';
		const etaCell = cell(tr, 'ETA', !running ? '–' : eta !== null ? relative(eta) : 'estimating…');
		if (running && eta !== null)
			etaCell.title = localTime(eta);
	}
	$('empty').hidden = jobs.length !== 0;
	if (focused !== undefined)
		[...body.rows].find((r) => r.dataset.jobId === focused)?.querySelector('a')?.focus();
}

function renderPager(nextCursor) {
	const page = view.cursors.length;
	$('first-page').disabled = page === 1;
	$('prev-page').disabled = page === 1;
	$('next-page').disabled = nextCursor === null;
	$('next-page').dataset.cursor = nextCursor ?? '';
	$('page-info').textContent = `Page ${int(page)}`;
}

function schedule(ms) {
	clearTimeout(timer);
	timer = setTimeout(load, ms);
}

async function load() {
	clearTimeout(timer);
	if (loading)
		loading.abort();
	const ctl = new AbortController();
	loading = ctl;
	const params = [filterQuery(view.filter), `limit=${PAGE}`];
	const cursor = view.cursors[view.cursors.length - 1];
	if (cursor)
		params.push(`cursor=${encodeURIComponent(cursor)}`);
	const state = $('list-state');
	try {
		const { body } = await request(`${LIST}?${params.filter(Boolean).join('&')}`, { signal: ctl.signal });
		failures = 0;
		renderCounts(body.counts ?? {});
		renderJobs(body.jobs ?? []);
		renderPager(body.next_cursor ?? null);
		state.className = 'conn polling';
		state.textContent = `Updated ${localTime(Date.now())}; refreshed every ${REFRESH_MS / 1000} s.`;
		schedule(document.hidden ? REFRESH_HIDDEN_MS : REFRESH_MS);
	} catch (e) {
		if (e.name === 'AbortError')
			return;
		if (e instanceof ApiError && e.code === 'invalid_query' && cursor) {
			// A cursor the server no longer takes: back to the first page.
			view.cursors = [null];
			schedule(0);
			return;
		}
		const wait = backoff(failures++);
		state.className = 'conn reconnecting';
		state.textContent = `Cannot load the jobs (${e.message}): trying again in ${Math.ceil(wait / 1000)} s.`;
		schedule(wait);
	} finally {
		if (loading === ctl)
			loading = null;
	}
}

function setFilter(filter) {
	view.filter = filter;
	view.cursors = [null];
	$('status-filter').value = filter;
	writeLocation();
	load();
}

// --- starting a job -----------------------------------------------------------

function clearFieldErrors(form) {
	for (const e of form.querySelectorAll('.field-error'))
		e.remove();
	for (const i of form.querySelectorAll('[aria-invalid]'))
		i.removeAttribute('aria-invalid');
}

// Where to say that the job ended: an input, the target's kind, and the
// member the input fills.  POST /jobs names a bad one "notify[i].url".
const NOTIFY = [['notify_email', 'email', 'address'], ['notify_slack', 'slack', 'url']];

// Marks the input that a refusal names (field: the API's name, or the
// input's own), with the message next to it.  False when no input matches.
function fieldError(form, field, message, notifyInputs = []) {
	const target = /^notify\[(\d+)\]/.exec(field);
	const input = form.elements.namedItem(target ? notifyInputs[Number(target[1])] ?? '' :
	    field.split('.')[0]);
	if (!input)
		return false;
	// "notify[0].address must be ..." reads "must be ..." under its own label.
	if (target && message.startsWith(`${field} `))
		message = message.slice(field.length + 1);
	input.setAttribute('aria-invalid', 'true');
	const p = document.createElement('span');
	p.className = 'field-error';
	p.id = `error-${input.name}`;
	p.textContent = message;
	input.setAttribute('aria-describedby', p.id);
	input.closest('label').append(p);
	input.focus();
	return true;
}

async function startJob(e) {
	e.preventDefault();
	const form = e.target;
	const error = $('start-error');
	const submit = form.querySelector('button[type="submit"]');
	clearFieldErrors(form);
	error.hidden = true;
	const req = {};
	for (const name of ['symbol', 'exchange', 'timeframe', 'optimizer']) {
		const v = form.elements[name].value.trim();
		if (v !== '')
			req[name] = v;
	}
	for (const name of ['lookback_days', 'n_calls', 'seed']) {
		const raw = form.elements[name].value.trim();
		if (raw === '')
			continue;
		const v = Number(raw);
		if (!Number.isFinite(v)) {
			fieldError(form, name, 'a number, please');
			return;
		}
		req[name] = v;
	}
	const notifyInputs = [];
	for (const [name, kind, member] of NOTIFY) {
		const v = form.elements[name].value.trim();
		if (v === '')
			continue;
		(req.notify ??= []).push({ kind, [member]: v });
		notifyInputs.push(name);
	}
	submit.disabled = true;
	try {
		const answer = await authorized(LIST, {
			method: 'POST',
			headers: { 'Content-Type': 'application/json' },
			body: JSON.stringify(req),
		}, 'Starting a job needs a token with the "train" scope.');
		if (answer !== null)
			location.assign(jobPath(answer.body.job_id));
	} catch (err) {
		if (!(err instanceof ApiError && err.field &&
		    fieldError(form, err.field, err.message, notifyInputs))) {
			error.textContent = `The job was not started: ${err.message}`;
			error.hidden = false;
		}
	} finally {
		submit.disabled = false;
	}
}

function main() {
	readLocation();
	$('status-filter').addEventListener('change', (e) => setFilter(e.target.value));
	$('next-page').addEventListener('click', (e) => {
		const c = e.currentTarget.dataset.cursor;
		if (c) {
			view.cursors.push(c);
			load();
		}
	});
	$('prev-page').addEventListener('click', () => {
		if (view.cursors.length > 1) {
			view.cursors.pop();
			load();
		}
	});
	$('first-page').addEventListener('click', () => {
		view.cursors = [null];
		load();
	});
	$('start-form').addEventListener('submit', startJob);
	document.addEventListener('visibilitychange', () => {
		if (!document.hidden)
			load();
	});
	load();
}

main();
