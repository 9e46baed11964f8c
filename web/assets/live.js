// live.js: one job's progress documents as they change.
//
// The stream (Server-Sent Events through nchan) when it works; otherwise
// polling every 2 s with If-None-Match, 10 s while the tab is hidden.
// Whatever fails is retried after a pause that doubles from 1 s to 30 s,
// with jitter, so that a server coming back is not met by every open page
// at once; the pause is reported (state "reconnecting") and resets after an
// answer.  It stops once the job has finished.

import { request } from './api.js';
import { apiJobPath, FINISHED } from './format.js';

const POLL_MS = 2000;
const POLL_HIDDEN_MS = 10000;
const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 30000;
// A stream that opens and ends twice without a message, on a server that
// answers GETs, is not coming (blocked by a proxy, or a server without
// streams): poll, and try the stream again after this long.
const STREAM_RETRY_MS = 5 * 60 * 1000;
// The stream does not push a job's going stalled (a read-time status):
// a conditional GET this often notices it.
const CHECK_MS = 30000;

export function backoff(attempt) {
	const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt);
	return Math.round(base * (0.5 + Math.random()));
}

export class JobFeed {
	// onDoc(doc): each new progress document.  onState({mode, retryAt, error}):
	// mode is "connecting", "live", "polling", "reconnecting", "ended" (the
	// job finished) or "missing" (no such job).
	constructor(jobId, { onDoc, onState, preferStream = true }) {
		this.jobId = jobId;
		this.url = apiJobPath(jobId) + '/progress';
		this.onDoc = onDoc;
		this.onState = onState;
		this.preferStream = preferStream && 'EventSource' in window;
		this.es = null;
		this.timer = null;
		this.checkTimer = null;
		this.etag = null;
		this.lastText = null;
		this.lastSeq = 0;
		this.lastEventId = null;
		this.attempt = 0;
		this.silentStreams = 0;
		this.pollingSince = 0;
		this.mode = 'connecting';
		this.stopped = false;
		this.onVisibility = () => this.visibilityChanged();
	}

	start() {
		document.addEventListener('visibilitychange', this.onVisibility);
		this.setState('connecting');
		if (this.preferStream)
			this.openStream();
		else
			this.startPolling();
	}

	stop() {
		this.stopped = true;
		document.removeEventListener('visibilitychange', this.onVisibility);
		this.closeStream();
		clearTimeout(this.timer);
		clearTimeout(this.checkTimer);
	}

	setState(mode, extra = {}) {
		this.mode = mode;
		this.onState({ mode, ...extra });
	}

	// A document, from the stream or a GET: passed on unless seen or older.
	deliver(doc, text) {
		if (!doc || typeof doc !== 'object')
			return;
		if (text === this.lastText || (typeof doc.seq === 'number' && doc.seq < this.lastSeq))
			return;
		this.lastText = text;
		if (typeof doc.seq === 'number')
			this.lastSeq = doc.seq;
		this.onDoc(doc);
		if (FINISHED.has(doc.status)) {
			this.stop();
			this.setState('ended');
		}
	}

	// --- the stream ---------------------------------------------------------

	openStream() {
		if (this.stopped)
			return;
		let url = this.url + '/stream';
		if (this.lastEventId)
			url += '?last_event_id=' + encodeURIComponent(this.lastEventId);
		const es = new EventSource(url);
		let heard = false;
		this.es = es;
		es.onmessage = (e) => {
			if (!heard) {
				heard = true;
				this.attempt = 0;
				this.silentStreams = 0;
				this.setState('live');
				// At once, then now and then: the stream's first document
				// has the stored status, and a stalled job reads running.
				this.scheduleCheck(0);
			}
			if (e.lastEventId)
				this.lastEventId = e.lastEventId;
			let doc;
			try {
				doc = JSON.parse(e.data);
			} catch {
				return;
			}
			this.deliver(doc, e.data);
		};
		es.onerror = () => {
			// Every error is handled here, with our own pause and jitter,
			// rather than by EventSource's fixed retry.
			this.closeStream();
			if (!this.stopped)
				this.streamFailed(heard);
		};
	}

	closeStream() {
		if (this.es) {
			this.es.onmessage = this.es.onerror = null;
			this.es.close();
			this.es = null;
		}
		clearTimeout(this.checkTimer);
	}

	async streamFailed(heard) {
		if (heard) {
			// It was working: the server restarted, or closed an idle stream.
			this.retry(() => this.openStream());
			return;
		}
		// It never delivered: is the server there at all?
		try {
			await this.getOnce();
		} catch (e) {
			if (!this.gone(e))
				this.retry(() => this.openStream(), e);
			return;
		}
		if (this.stopped)
			return;
		this.attempt = 0;
		if (++this.silentStreams >= 2) {
			this.startPolling();
			return;
		}
		// Not ready yet (a job created a moment ago, a server restarted): soon again.
		this.timer = setTimeout(() => this.openStream(), backoff(0));
	}

	// While live, a conditional GET now and then: a job going stalled is not pushed.
	scheduleCheck(delay = CHECK_MS) {
		clearTimeout(this.checkTimer);
		this.checkTimer = setTimeout(async () => {
			if (this.stopped || this.mode !== 'live')
				return;
			try {
				await this.getOnce();
			} catch {
				// The stream reports its own failures.
			}
			if (!this.stopped && this.mode === 'live')
				this.scheduleCheck();
		}, delay);
	}

	// --- polling --------------------------------------------------------------

	startPolling() {
		this.closeStream();
		this.pollingSince = Date.now();
		this.setState('polling', { interval: this.pollInterval() });
		this.poll();
	}

	pollInterval() {
		return document.hidden ? POLL_HIDDEN_MS : POLL_MS;
	}

	async poll() {
		clearTimeout(this.timer);
		if (this.stopped)
			return;
		try {
			await this.getOnce();
		} catch (e) {
			if (!this.stopped && !this.gone(e))
				this.retry(() => this.poll(), e);
			return;
		}
		if (this.stopped)
			return;
		if (this.mode !== 'polling')
			this.setState('polling', { interval: this.pollInterval() });
		this.attempt = 0;
		if (this.preferStream && Date.now() - this.pollingSince > STREAM_RETRY_MS) {
			this.silentStreams = 0;
			this.openStream();
			return;
		}
		this.timer = setTimeout(() => this.poll(), this.pollInterval());
	}

	// One GET with the ETag last seen.  Throws an ApiError when it fails.
	async getOnce() {
		const headers = this.etag ? { 'If-None-Match': this.etag } : {};
		const answer = await request(this.url, { headers });
		if (answer.status === 304)
			return;
		this.etag = answer.etag;
		this.deliver(answer.body, JSON.stringify(answer.body));
	}

	// No such job (404), or an id the API refuses (400): nothing to wait for.
	gone(e) {
		if (e.status !== 404 && e.status !== 400)
			return false;
		this.stop();
		this.setState('missing', { error: e });
		return true;
	}

	// A pause before trying again, doubling with each failure in a row.
	retry(again, error = null) {
		const wait = backoff(this.attempt++);
		this.setState('reconnecting', { retryAt: Date.now() + wait, error });
		clearTimeout(this.timer);
		this.timer = setTimeout(again, wait);
	}

	visibilityChanged() {
		if (this.stopped || this.mode !== 'polling')
			return;
		// Back in view: look now rather than at the end of a hidden pause.
		if (!document.hidden)
			this.poll();
		else
			this.setState('polling', { interval: this.pollInterval() });
	}
}
