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
(`_http.py`), with the same behaviour.  Each backend's module is imported
when it is chosen, so HTTP mode needs neither libtrainprog nor anything
beyond the standard library.
"""

import asyncio
import math

from . import _checks
from .errors import Cancelled, Finished, TrainprogError


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
            from ._ctracker import CTracker     # loads libtrainprog
            self._b = CTracker(job_id, db_url, heartbeat_ms, min_write_interval_ms,
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
