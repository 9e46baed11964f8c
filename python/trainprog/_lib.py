"""_lib.py: libtrainprog.so.0 through ctypes: where it is, and its prototypes.

The library is looked for, in order:
  1. $TRAINPROG_LIB, a path to libtrainprog.so.0;
  2. beside a source tree: python/trainprog/ -> build/lib/libtrainprog.so.0
     (so `make` and PYTHONPATH=python are enough);
  3. beside an installed package: <prefix>/lib/python3.X/dist-packages/trainprog/
     -> <prefix>/lib/libtrainprog.so.0 (make install);
  4. the dynamic loader's own search (ldconfig's cache, LD_LIBRARY_PATH).

Importing this module loads the library (ImportError when it is not
found); the package imports it only for the libtrainprog backend
(_ctracker.py), so that HTTP mode works without the library.
"""

import ctypes
import os

_HERE = os.path.dirname(os.path.abspath(__file__))

CLOCK_FN = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p)


class Options(ctypes.Structure):
    """struct tp_options (include/tp/tracker.h), member for member."""

    _fields_ = [
        ("conninfo", ctypes.c_char_p),
        ("terminal_timeout_ms", ctypes.c_int),
        ("close_timeout_ms", ctypes.c_int),
        ("io_timeout_ms", ctypes.c_int),
        ("clock", CLOCK_FN),
        ("clock_arg", ctypes.c_void_p),
        ("publisher", ctypes.c_void_p),
        ("heartbeat_ms", ctypes.c_int),
        ("min_write_interval_ms", ctypes.c_int),
    ]


class Update(ctypes.Structure):
    """struct tp_update."""

    _fields_ = [
        ("fields", ctypes.c_uint),
        ("step_percentage", ctypes.c_double),
        ("iteration", ctypes.c_int32),
        ("total_iterations", ctypes.c_int32),
        ("best_score", ctypes.c_double),
        ("current_score", ctypes.c_double),
        ("best_params", ctypes.c_char_p),
        ("details", ctypes.c_char_p),
    ]


class Stats(ctypes.Structure):
    """struct tp_tracker_stats."""

    _fields_ = [(name, ctypes.c_uint64) for name in (
        "states", "writes", "refused", "coalesced", "failures", "reconnects", "seq",
        "committed_seq", "heartbeats")]


def _candidates():
    env = os.environ.get("TRAINPROG_LIB")
    if env:
        yield env
    yield os.path.normpath(os.path.join(_HERE, "..", "..", "build", "lib", "libtrainprog.so.0"))
    yield os.path.normpath(os.path.join(_HERE, "..", "..", "..", "libtrainprog.so.0"))
    yield "libtrainprog.so.0"


def _load():
    tried = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append(path + " (no such file)")
            continue
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"{path} ({e})")
    raise ImportError("trainprog: libtrainprog.so.0 not found; build it with `make`, install it "
                      "with `make install`, or set TRAINPROG_LIB to its path. Tried: " +
                      "; ".join(tried))


lib = _load()

_P = ctypes.c_void_p
_ERR = ctypes.c_int

for _name, _res, _args in (
        ("tp_strerror", ctypes.c_char_p, [_ERR]),
        ("tp_options_init", None, [ctypes.POINTER(Options)]),
        ("tp_tracker_open", _ERR, [ctypes.POINTER(_P), ctypes.c_char_p, ctypes.POINTER(Options)]),
        ("tp_tracker_resume", _ERR, [_P]),
        ("tp_tracker_queue", _ERR, [_P]),
        ("tp_tracker_start", _ERR, [_P, ctypes.c_char_p, ctypes.c_char_p]),
        ("tp_tracker_update", _ERR, [_P, ctypes.POINTER(Update)]),
        ("tp_tracker_complete", _ERR, [_P]),
        ("tp_tracker_error", _ERR, [_P, ctypes.c_char_p]),
        ("tp_tracker_flush", _ERR, [_P, ctypes.c_int]),
        ("tp_tracker_stats", None, [_P, ctypes.POINTER(Stats)]),
        ("tp_tracker_problem", ctypes.c_size_t, [_P, ctypes.c_char_p, ctypes.c_size_t]),
        ("tp_tracker_close", None, [_P]),
        ("tp_job_id_problem", ctypes.c_char_p, [ctypes.c_char_p, ctypes.c_size_t])):
    _fn = getattr(lib, _name)
    _fn.restype = _res
    _fn.argtypes = _args


def job_id_problem(raw):
    """What tp_job_id_problem says is wrong with a job id's bytes, or None."""
    why = lib.tp_job_id_problem(raw, len(raw))
    return why.decode() if why else None
