"""_ctracker.py: the tracker over libtrainprog (ctypes), for db_url.

Importing this module loads the library, so tracker.py imports it only
when this backend is chosen: HTTP mode works where the library is not.
"""

import ctypes

from . import _checks
from . import _lib
from .errors import BY_CODE, TrainprogError


class CTracker:
    """A libtrainprog tracker; every method raises the error class of a tp_err."""

    def __init__(self, job_id, db_url, heartbeat_ms, min_write_interval_ms, terminal_timeout,
                 clock):
        raw_id = _checks.job_id(job_id, _lib.job_id_problem)
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
        self._check(_lib.lib.tp_tracker_open(ctypes.byref(self._t), raw_id, ctypes.byref(opts)),
                    "open")

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
        """details: UTF-8 JSON text or None, as _checks.json_object gives it."""
        self._check(_lib.lib.tp_tracker_start(self._t, step.encode(), details), "start")

    def update(self, fields):
        """fields: _checks.update_fields' pairs; JSON values are UTF-8 text already."""
        u = _lib.Update()
        for f, value in fields:
            setattr(u, f.arg, value)
            u.fields |= f.bit
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
