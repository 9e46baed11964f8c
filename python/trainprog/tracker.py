"""tracker.py: ProgressTracker (async) and SyncProgressTracker, over libtrainprog.

    progress = ProgressTracker(job_id=job_id, db_url=db_url)
    await progress.start('data_collection', {'symbol': 'BTC/USDT'})
    await progress.update(step_percentage=50.0, iteration=30, total_iterations=50,
                          best_score=1.85)
    await progress.complete()          # returns once the state is durable
    await progress.error("Optimization failed: ...")

With db_url (or $DATABASE_URL, or libpq's PG* variables), each call goes
through libtrainprog (ctypes), so its guarantees hold: update() records the
state and returns, never waiting on the network; a sender thread writes
it; complete() and error() wait for the synchronous commit; states carry
growing sequence numbers; heartbeats keep a quiet job from reading stalled.
With base_url and token instead, events are POSTed to the service
(`_http.py`), with the same behaviour.
"""

import asyncio
import ctypes
import math

from . import _checks
from . import _lib
from .errors import BY_CODE, Cancelled, Finished, TrainprogError


class _CTracker:
    """A libtrainprog tracker; every method raises the error class of a tp_err."""

    def __init__(self, job_id, db_url, heartbeat_ms, min_write_interval_ms, terminal_timeout,
                 clock):
        opts = _lib.Options()
        _lib.lib.tp_options_init(ctypes.byref(opts))
        if db_url is not None:
            opts.conninfo = db_url.encode()
        if heartbeat_ms is not None:
            opts.heartbeat_ms = heartbeat_ms
        if min_write_interval_ms is not None:
            opts.min_write_interval_ms = min_write_interval_ms
        if terminal_timeout is not None:
            opts.terminal_timeout_ms = int(terminal_timeout * 1000)
        self._clock = None
        if clock is not None:
            # Kept: C calls it for as long as the tracker lives.
            self._clock = _lib.CLOCK_FN(lambda _arg: int(clock()))
            opts.clock = self._clock
        self._t = ctypes.c_void_p()
        self._check(_lib.lib.tp_tracker_open(ctypes.byref(self._t), job_id.encode(),
                                             ctypes.byref(opts)), "open")

    def _problem(self):
        if not self._t:
            return ""
        buf = ctypes.create_string_buffer(512)
        _lib.lib.tp_tracker_problem(self._t, buf, len(buf))
        return buf.value.decode("utf-8", "replace")

    def _check(self, err, what):
        if err == 0:
            return
        cls = BY_CODE.get(err, TrainprogError)
        text = _lib.lib.tp_strerror(err).decode()
        raise cls(f"{what}: {text}", self._problem())

    def resume(self):
        self._check(_lib.lib.tp_tracker_resume(self._t), "resume")

    def queue(self):
        self._check(_lib.lib.tp_tracker_queue(self._t), "queue")

    def start(self, step, details):
        self._check(_lib.lib.tp_tracker_start(self._t, step.encode(),
                                              details.encode() if details else None), "start")

    def update(self, fields):
        u = _lib.Update()
        for name, bit, member in (
                ("step_percentage", _lib.TP_UPD_STEP_PERCENTAGE, "step_percentage"),
                ("current_iteration", _lib.TP_UPD_ITERATION, "iteration"),
                ("total_iterations", _lib.TP_UPD_TOTAL_ITERATIONS, "total_iterations"),
                ("best_score", _lib.TP_UPD_BEST_SCORE, "best_score"),
                ("current_score", _lib.TP_UPD_CURRENT_SCORE, "current_score"),
                ("best_params", _lib.TP_UPD_BEST_PARAMS, "best_params"),
                ("step_details", _lib.TP_UPD_DETAILS, "details")):
            if name in fields:
                value = fields[name]
                setattr(u, member, value.encode() if isinstance(value, str) else value)
                u.fields |= bit
        self._check(_lib.lib.tp_tracker_update(self._t, ctypes.byref(u)), "update")

    def complete(self):
        self._check(_lib.lib.tp_tracker_complete(self._t), "complete")

    def error(self, message):
        self._check(_lib.lib.tp_tracker_error(self._t, message.encode()), "error")

    def flush(self, timeout):
        self._check(_lib.lib.tp_tracker_flush(self._t, int(timeout * 1000)), "flush")

    def stats(self):
        st = _lib.Stats()
        _lib.lib.tp_tracker_stats(self._t, ctypes.byref(st))
        return {name: getattr(st, name) for name, _ in _lib.Stats._fields_}

    def close(self):
        if self._t:
            t, self._t = self._t, ctypes.c_void_p()
            _lib.lib.tp_tracker_close(t)


def _failure_message(exc):
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class SyncProgressTracker:
    """The ProgressTracker, for code that is not async.  Same arguments and calls.

    job_id: the job (1 to 255 bytes of UTF-8, no control character).
    db_url: a libpq connection string or URL (None: $DATABASE_URL, then PG*).
    base_url, token: HTTP mode instead: POST the events to the service at
      base_url with this bearer token (the publish scope); for trainers that
      cannot reach PostgreSQL.  Standard library only.
    resume: continue the job's stored state (a restarted trainer, or a job
      queued by POST /jobs); its steps go on from the stored one.
    heartbeat_ms, min_write_interval_ms: as struct tp_options (15000 and 100).
    terminal_timeout: seconds complete() and error() wait (10).
    clock: a callable giving the wall clock in microseconds (simulations, tests).

    As a context manager, an exception that leaves the block marks the job
    failed with its message (``ValueError: ...``), and the tracker is closed.
    """

    def __init__(self, job_id, db_url=None, *, base_url=None, token=None, resume=False,
                 heartbeat_ms=None, min_write_interval_ms=None, terminal_timeout=None,
                 clock=None):
        _checks.job_id(job_id)
        for name, v in (("heartbeat_ms", heartbeat_ms),
                        ("min_write_interval_ms", min_write_interval_ms)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise _checks.InvalidArgument(f"{name} must be a whole number >= 0")
        if terminal_timeout is not None and not (isinstance(terminal_timeout, (int, float))
                                                 and math.isfinite(terminal_timeout)
                                                 and terminal_timeout >= 0):
            raise _checks.InvalidArgument("terminal_timeout must be a number of seconds >= 0")
        if clock is not None and not callable(clock):
            raise _checks.InvalidArgument("clock must be callable")
        self.job_id = job_id
        if base_url is not None:
            if db_url is not None:
                raise _checks.InvalidArgument("give db_url or base_url, not both")
            if not token:
                raise _checks.InvalidArgument("HTTP mode needs a token (the publish scope)")
            from ._http import HttpTracker
            self._b = HttpTracker(job_id, base_url, token, heartbeat_ms, min_write_interval_ms,
                                  terminal_timeout, clock)
        else:
            if token is not None:
                raise _checks.InvalidArgument("a token goes with base_url (HTTP mode)")
            self._b = _CTracker(job_id, db_url, heartbeat_ms, min_write_interval_ms,
                                terminal_timeout, clock)
        if resume:
            try:
                self._b.resume()
            except Exception:
                self._b.close()
                raise

    # --- the spec's calls ---------------------------------------------------

    def queue(self):
        """The job exists and waits; only before the first start()."""
        self._b.queue()

    def start(self, step, details=None):
        """Starts a step: data_collection, optimization, validation (optional) or
        save_configuration; steps only go forward.  details: a dict (step_details)."""
        self._b.start(_checks.step(step), _checks.json_object("details", details))

    def update(self, step_percentage=None, iteration=None, total_iterations=None,
               best_score=None, current_score=None, best_params=None, details=None):
        """Updates the current step with the arguments given; never waits on the network."""
        self._b.update(_checks.update_fields(step_percentage, iteration, total_iterations,
                                             best_score, current_score, best_params, details))

    def complete(self):
        """Marks the job completed; returns once that is durable (else raises Timeout)."""
        self._b.complete()

    def error(self, message):
        """Marks the job failed with message; returns once that is durable."""
        self._b.error(_checks.message(message).replace("\0", "\ufffd"))

    # --- more -------------------------------------------------------------------

    def flush(self, timeout=10.0):
        """Waits until everything recorded so far is written (Timeout, Cancelled)."""
        self._b.flush(timeout)

    def stats(self):
        """The tracker's counters: states, writes, refused, coalesced, failures, ..."""
        return self._b.stats()

    def close(self):
        """Writes what is pending (2 s at most) and lets go.  Idempotent."""
        b = getattr(self, "_b", None)
        if b is not None:
            b.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc is not None and not isinstance(exc, (Cancelled, Finished, GeneratorExit)):
                try:
                    self.error(_failure_message(exc))
                except TrainprogError:
                    pass
        finally:
            self.close()
        return False

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class ProgressTracker:
    """The spec's ProgressTracker: the calls of SyncProgressTracker, awaited.

    start() and update() never wait on the network (they only record the
    state), so they run on the event loop; complete(), error(), flush() and
    close() wait for the database and run in a worker thread, so that the
    loop goes on meanwhile.  ``async with`` marks the job failed when an
    exception leaves the block.
    """

    def __init__(self, job_id, db_url=None, **kwargs):
        self._s = SyncProgressTracker(job_id, db_url, **kwargs)
        self.job_id = job_id

    @property
    def sync(self):
        """The same tracker's synchronous calls (for an optimizer's callbacks)."""
        return self._s

    async def queue(self):
        self._s.queue()

    async def start(self, step, details=None):
        self._s.start(step, details)

    async def update(self, step_percentage=None, iteration=None, total_iterations=None,
                     best_score=None, current_score=None, best_params=None, details=None):
        self._s.update(step_percentage, iteration, total_iterations, best_score, current_score,
                       best_params, details)

    async def complete(self):
        await asyncio.to_thread(self._s.complete)

    async def error(self, message):
        await asyncio.to_thread(self._s.error, message)

    async def flush(self, timeout=10.0):
        await asyncio.to_thread(self._s.flush, timeout)

    def stats(self):
        return self._s.stats()

    async def close(self):
        await asyncio.to_thread(self._s.close)

    async def __aenter__(self):
        return self

    async def __aexit__(self, exc_type, exc, tb):
        try:
            if exc is not None and not isinstance(exc, (Cancelled, Finished,
                                                        asyncio.CancelledError)):
                try:
                    await self.error(_failure_message(exc))
                except TrainprogError:
                    pass
        finally:
            await self.close()
        return False
