// format.js: numbers, times and statuses as the reader's locale writes them.

const locale = undefined;	// the browser's

const pctFmt = new Intl.NumberFormat(locale, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const scoreFmt = new Intl.NumberFormat(locale, { minimumFractionDigits: 2, maximumFractionDigits: 4 });
const intFmt = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });
const paramFmt = new Intl.NumberFormat(locale, { maximumFractionDigits: 6 });
const relFmt = new Intl.RelativeTimeFormat(locale, { numeric: 'auto', style: 'short' });
const timeFmt = new Intl.DateTimeFormat(locale, { timeStyle: 'medium' });
const dateTimeFmt = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' });

export const STEPS = ['Data Collection', 'Optimization', 'Validation', 'Save Configuration'];
export const STATUSES = ['queued', 'running', 'stalled', 'cancelling', 'cancelled', 'completed', 'failed'];
export const FINISHED = new Set(['completed', 'failed', 'cancelled']);

const STATUS_LABELS = {
	queued: 'Queued', running: 'Running', stalled: 'Stalled', cancelling: 'Cancelling',
	cancelled: 'Cancelled', completed: 'Completed', failed: 'Failed',
};

export function statusLabel(s) {
	return STATUS_LABELS[s] ?? String(s);
}

// "55.0 %" in the reader's way of writing it; "–" when unknown.
export function pct(v) {
	return typeof v === 'number' && isFinite(v) ? `${pctFmt.format(v)} %` : '–';
}

export function score(v) {
	return typeof v === 'number' && isFinite(v) ? scoreFmt.format(v) : '–';
}

export function int(v) {
	return typeof v === 'number' && isFinite(v) ? intFmt.format(v) : '–';
}

// A parameter's value: a number in the reader's locale, anything else as JSON.
export function param(v) {
	return typeof v === 'number' ? paramFmt.format(v) : JSON.stringify(v);
}

const UNITS = [
	['year', 365 * 86400], ['month', 30 * 86400], ['week', 7 * 86400], ['day', 86400],
	['hour', 3600], ['minute', 60], ['second', 1],
];

// "in 4 min", "12 sec ago": the largest unit that fits, relative to now (ms).
export function relative(when, now = Date.now()) {
	const secs = Math.round((when - now) / 1000);
	const abs = Math.abs(secs);
	if (abs < 5)
		return relFmt.format(0, 'second');
	for (const [unit, size] of UNITS)
		if (abs >= size || unit === 'second')
			return relFmt.format(Math.round(secs / size), unit);
	return '';
}

// A local time: the time alone when it is today, with the date otherwise.
export function localTime(when, now = Date.now()) {
	const d = new Date(when), n = new Date(now);
	const sameDay = d.getFullYear() === n.getFullYear() && d.getMonth() === n.getMonth() &&
	    d.getDate() === n.getDate();
	return sameDay ? timeFmt.format(d) : dateTimeFmt.format(d);
}

// Milliseconds since the epoch of an API timestamp, or null.
export function parseTime(s) {
	if (typeof s !== 'string')
		return null;
	const t = Date.parse(s);
	return Number.isNaN(t) ? null : t;
}

// The job view's path for a job id, and the API's paths: one percent-encoded segment.
export function jobPath(id) {
	return `/jobs/${encodeURIComponent(id)}`;
}

export function apiJobPath(id) {
	return `/api/v2/training/jobs/${encodeURIComponent(id)}`;
}
