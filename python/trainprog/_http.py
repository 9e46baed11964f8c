"""_http.py: the tracker over HTTP, for trainers that cannot reach PostgreSQL.

Events go to POST {base_url}/api/v2/training/jobs/{job_id}/progress with
a bearer token (the publish scope), standard library only.  It keeps
libtrainprog's promises in its own way: calls record an event and return;
a sender thread posts the events in order, merging updates that wait
(at most one write per min_write_interval_ms within a step), retries a
post that got no answer or a 5xx with the same seq (the service takes a
repeated seq as a retry: nothing is applied twice), heartbeats a quiet
job, and learns a cancellation from the answers.  complete() and error()
wait for the service's answer.  Standard library only: libtrainprog is
not needed here.
"""

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from . import _checks
from .errors import (Cancelled, Conflict, DatabaseError, Finished, NotFound, StateError,
                     Timeout, TrainprogError)

RETRY_MIN = 0.1
RETRY_MAX = 2.0
IO_TIMEOUT = 5.0
TERMINALS = ("complete", "error")


class _Event:
    __slots__ = ("body", "done", "outcome", "terminal")

    def __init__(self, body):
        self.body = body
        self.terminal = body["event"] in TERMINALS
        self.done = threading.Event()
        self.outcome = None     # None: applied; else the exception a waiter raises


class HttpTracker:
    def __init__(self, job_id, base_url, token, heartbeat_ms, min_write_interval_ms,
                 terminal_timeout, clock):
        raw_id = _checks.job_id(job_id)
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise _checks.InvalidArgument(f"base_url must be an http or https URL, not {base_url!r}")
        self._url = (base_url.rstrip("/") + "/api/v2/training/jobs/" +
                     urllib.parse.quote(raw_id, safe="") + "/progress")
        self._token = token
        self._heartbeat = (15000 if heartbeat_ms is None else heartbeat_ms) / 1000
        self._interval = (100 if min_write_interval_ms is None else min_write_interval_ms) / 1000
        self._terminal_timeout = 10.0 if terminal_timeout is None else terminal_timeout
        self._clock = clock or (lambda: time.time_ns() // 1000)
        self._mu = threading.Condition()
        self._queue = []            # events not yet applied, oldest first
        self._seq = 0
        self._step = -1             # index in _checks.STEPS of the current step
        self._queued = False
        self._finished = None       # "completed", "failed", "cancelled" once known
        self._problem = ""
        self._last_write = 0.0
        self._stats = dict.fromkeys(("states", "writes", "refused", "coalesced", "failures",
                                     "reconnects", "seq", "committed_seq", "heartbeats"), 0)
        self._stop = False
        self._sending = None        # the event being posted: nothing merges into it
        self._hurry = None          # flush(): the last event then queued goes without waiting
        self._thread = threading.Thread(target=self._run, name="trainprog-http", daemon=True)
        self._thread.start()

    # --- the callers' side ---------------------------------------------------

    def _closed_for_writes(self):
        if self._finished == "cancelled":
            raise Cancelled("the job was cancelled: stop training", self._problem)
        if self._finished is not None:
            raise Finished(f"the job has already finished ({self._finished})", self._problem)

    def _next_seq(self):
        """The next sequence number: max(previous + 1, wall clock in microseconds)."""
        self._seq = max(self._seq + 1, int(self._clock()))
        return self._seq

    def _record(self, body, merge=False):
        """Queues an event with the next seq; merges an update into one waiting."""
        seq = self._next_seq()
        self._stats["states"] += 1
        self._stats["seq"] = seq
        last = self._queue[-1] if self._queue else None
        if merge and last is not None and last.body["event"] == "update" and last is not self._sending:
            last.body.update(body)
            last.body["seq"] = seq
            self._stats["coalesced"] += 1
            return last
        body["seq"] = seq
        ev = _Event(body)
        self._queue.append(ev)
        self._mu.notify_all()
        return ev

    def resume(self):
        try:
            with urllib.request.urlopen(self._request("GET"), timeout=IO_TIMEOUT) as r:
                doc = json.load(r)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                raise NotFound("resume: the job has no stored progress") from None
            raise DatabaseError(f"resume: the service answered {e.code}",
                                _error_answer(e).get("message", "")) from None
        except OSError as e:
            raise Timeout("resume: the service cannot be reached", str(e)) from None
        with self._mu:
            self._seq = max(self._seq, int(doc.get("seq") or 0))
            status = doc.get("status")
            if status in ("completed", "failed", "cancelled"):
                self._finished = status
            elif status == "queued":
                self._queued = True
            else:
                self._step = int(doc.get("step_number") or 1) - 1

    def queue(self):
        with self._mu:
            self._closed_for_writes()
            if self._step >= 0:
                raise StateError("queue: the job has already started")
            self._queued = True
            self._record({"event": "queue"})

    def start(self, step, details):
        with self._mu:
            self._closed_for_writes()
            i = _checks.STEPS.index(step)
            if i < self._step:
                raise StateError(f"start: steps only go forward ({step} after "
                                 f"{_checks.STEPS[self._step]})")
            self._step = i
            body = {"event": "start", "step": step}
            if details is not None:
                body["step_details"] = details
            self._record(body)

    def update(self, fields):
        with self._mu:
            self._closed_for_writes()
            if self._step < 0:
                raise StateError("update: no step has started")
            body = {"event": "update"}
            body.update((f.name, value) for f, value in fields)
            self._record(body, merge=True)

    def _finish(self, body):
        with self._mu:
            self._closed_for_writes()
            terminal = next((e for e in self._queue if e.terminal), None)
            ev = terminal or self._record(body)
        if not ev.done.wait(self._terminal_timeout):
            raise Timeout("the service did not confirm in time", self._problem)
        if ev.outcome is not None:
            raise ev.outcome

    def complete(self):
        if self._step < 0:
            raise StateError("complete: no step has started")
        self._finish({"event": "complete"})

    def error(self, message):
        self._finish({"event": "error", "error_message": message})

    def flush(self, timeout):
        with self._mu:
            # As the library's flush: an update waiting out the interval goes now
            # (only what is queued now: later updates wait their turn again).
            if self._queue:
                self._hurry = self._queue[-1]
                self._mu.notify_all()
            # The sender notifies after each post, and close() when it stops it.
            if not self._mu.wait_for(lambda: not self._queue or self._stop, timeout):
                raise Timeout("flush: not everything was written in time", self._problem)
            if self._finished == "cancelled":
                raise Cancelled("the job was cancelled: stop training", self._problem)

    def stats(self):
        with self._mu:
            return dict(self._stats)

    def close(self):
        try:
            self.flush(2.0)
        except TrainprogError:
            pass
        with self._mu:
            self._stop = True
            self._mu.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(IO_TIMEOUT + 1)

    # --- the sender ---------------------------------------------------------------

    def _request(self, method, body=None):
        req = urllib.request.Request(self._url, method=method,
                                     data=None if body is None else _encode(body))
        req.add_header("Authorization", f"Bearer {self._token}")
        if body is not None:
            req.add_header("Content-Type", "application/json")
        return req

    def _post(self, body):
        """(status, answer): status 0 when there was no answer."""
        try:
            with urllib.request.urlopen(self._request("POST", body), timeout=IO_TIMEOUT) as r:
                return r.status, json.load(r)
        except urllib.error.HTTPError as e:
            return e.code, _error_answer(e)
        except (OSError, ValueError) as e:
            return 0, {"message": str(e)}

    def _run(self):
        pause = RETRY_MIN
        while True:
            with self._mu:
                ev = None
                while not self._stop:
                    now = time.monotonic()
                    if self._queue:
                        ev = self._queue[0]
                        due = self._last_write + self._interval
                        waiting_update = ev.body["event"] == "update" and len(self._queue) == 1
                        if not waiting_update or now >= due or ev is self._hurry:
                            break
                        self._mu.wait(due - now)
                        continue
                    if (self._heartbeat > 0 and self._step >= 0 and self._finished is None
                            and now - self._last_write >= self._heartbeat):
                        # An update with no field, under a seq of its own.
                        ev = _Event({"event": "update", "seq": self._next_seq()})
                        break
                    self._mu.wait(self._heartbeat if self._heartbeat > 0 else None)
                if self._stop:
                    return
                self._sending = ev
                body = dict(ev.body)
            status, answer = self._post(body)
            with self._mu:
                self._sending = None
                self._last_write = time.monotonic()
                if status == 0 or status >= 500:
                    self._stats["failures"] += 1
                    self._problem = answer.get("message", f"the service answered {status}")
                    # The same seq again after the pause (other notifications,
                    # a flush's say, do not cut it short; a stop does).
                    resume = time.monotonic() + pause
                    while not self._stop and time.monotonic() < resume:
                        self._mu.wait(resume - time.monotonic())
                    pause = min(pause * 2, RETRY_MAX)
                    continue
                pause = RETRY_MIN
                heartbeat = ev not in self._queue
                if not heartbeat:
                    self._queue.remove(ev)
                if self._hurry is ev:
                    self._hurry = None
                self._settle(ev, status, answer, heartbeat)
                self._mu.notify_all()

    def _settle(self, ev, status, answer, heartbeat):
        code = answer.get("error", "")
        text = answer.get("message", code)
        if status == 200:
            if heartbeat:
                self._stats["heartbeats"] += 1
            else:
                self._stats["writes"] += 1
                self._stats["committed_seq"] = ev.body["seq"]
            if answer.get("status") in ("completed", "failed", "cancelled"):
                self._finished = answer["status"]
            if answer.get("status") == "cancelled" and not ev.terminal:
                self._problem = "the job was cancelled: stop training"
        elif code == "job_cancelled":
            self._finished = "cancelled"
            self._problem = text
            ev.outcome = Cancelled("the job was cancelled: stop training", text)
            self._drop_rest(ev.outcome)
        elif code == "job_finished":
            self._finished = self._finished or "completed"
            self._problem = text
            ev.outcome = Conflict("another writer finished the job", text)
            self._drop_rest(ev.outcome)
        else:
            self._stats["refused"] += 1
            self._problem = f"{status} {code}: {text}"
            ev.outcome = DatabaseError(f"the service refused the {ev.body['event']}", self._problem)
        ev.done.set()

    def _drop_rest(self, outcome):
        for other in self._queue:
            other.outcome = outcome
            other.done.set()
        self._queue.clear()


def _encode(body):
    """An event as the JSON of its POST.  Its JSON fields (best_params,
    step_details) are UTF-8 JSON text already (_checks.json_object), so they
    go in as they are rather than being parsed and written again."""
    return b"{" + b",".join(json.dumps(k).encode() + b":" +
                            (v if isinstance(v, bytes) else json.dumps(v).encode())
                            for k, v in body.items()) + b"}"


def _error_answer(e):
    """The JSON object of an error answer's body (an HTTPError), or {}."""
    try:
        answer = json.loads(e.read() or b"{}")
    except (OSError, ValueError):
        return {}
    return answer if isinstance(answer, dict) else {}
