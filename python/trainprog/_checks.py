"""_checks.py: the arguments of start(), update() and error(), checked and encoded.

Both backends take what these return: libtrainprog applies its own checks
again (its word is final), the HTTP mode relies on these and the server's.
JSON arguments come back as UTF-8 JSON text (bytes), the form both
backends send on: the library takes it as it is, the HTTP mode puts it
into its request body as it is.
"""

import collections
import json
import math

from .errors import InvalidArgument

STEPS = ("data_collection", "optimization", "validation", "save_configuration")
JSON_MAX = 65536
INT32_MAX = 2**31 - 1
JOB_ID_MAX = 255


def job_id(value, problem=None):
    """job_id as UTF-8 bytes, or InvalidArgument.  problem(raw) says what is
    wrong with the bytes, or None: libtrainprog's tp_job_id_problem where the
    library is loaded, else job_id_problem below."""
    if not isinstance(value, str):
        raise InvalidArgument(f"job_id must be a str, not {type(value).__name__}")
    try:
        raw = value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidArgument(f"job_id is not valid UTF-8: it holds a lone surrogate "
                              f"({value[e.start]!r}) at index {e.start}") from None
    why = (problem or job_id_problem)(raw)
    if why:
        raise InvalidArgument(why)
    return raw


def job_id_problem(raw):
    """tp_job_id_problem (lib/progress.c) in Python, rule for rule and word for
    word, for HTTP mode, which must work without libtrainprog.  raw is
    strictly encoded UTF-8, so the library's "not valid UTF-8" cannot arise."""
    if not raw:
        return "job_id is empty"
    if len(raw) > JOB_ID_MAX:
        return f"job_id is longer than {JOB_ID_MAX} bytes"
    if raw in (b".", b".."):
        return 'job_id must not be "." or ".."'
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in raw.decode("utf-8")):
        return "job_id contains a control character"
    return None


def step(value):
    if value not in STEPS:
        raise InvalidArgument(f"unknown step {value!r}: use one of {', '.join(STEPS)}")
    return value


def _no_constant(name):
    raise ValueError(f"{name} is not JSON")


def json_object(name, value):
    """A dict (or JSON text of an object) as compact UTF-8 JSON text; None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parsed = json.loads(value, parse_constant=_no_constant)
        except ValueError as e:
            raise InvalidArgument(f"{name} is not JSON: {e}") from None
        if not isinstance(parsed, dict):
            raise InvalidArgument(f"{name} must be a JSON object")
        text = value
    elif isinstance(value, dict):
        try:
            text = json.dumps(value, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError) as e:
            raise InvalidArgument(f"{name} cannot be written as JSON: {e}") from None
    else:
        raise InvalidArgument(f"{name} must be a dict or JSON text, not {type(value).__name__}")
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgument(f"{name} holds a lone surrogate: it is not UTF-8") from None
    if len(raw) > JSON_MAX:
        raise InvalidArgument(f"{name} is longer than {JSON_MAX} bytes as JSON")
    return raw


def number(name, value, lo=None, hi=None):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidArgument(f"{name} must be a number, not {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise InvalidArgument(f"{name} must be finite")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        bounds = [f">= {lo:g}"] if lo is not None else []
        bounds += [f"<= {hi:g}"] if hi is not None else []
        raise InvalidArgument(f"{name} must be {' and '.join(bounds)}")
    return value


def count(name, value):
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise InvalidArgument(f"{name} must be a whole number, not {value!r}")
    if not 0 <= value <= INT32_MAX:
        raise InvalidArgument(f"{name} must be within 0..{INT32_MAX}")
    return value


def percentage(name, value):
    return number(name, value, 0.0, 100.0)


# update()'s fields, in the order of its arguments.  arg: the argument's
# name, which is also struct tp_update's member; name: the API's name (the
# document's, and the HTTP event's); bit: the TP_UPD_* bit of
# include/tp/tracker.h; check(arg, value): the value as the backends take it.
Field = collections.namedtuple("Field", "arg name bit check")
UPDATE_FIELDS = (
    Field("step_percentage", "step_percentage", 1 << 0, percentage),
    Field("iteration", "current_iteration", 1 << 1, count),
    Field("total_iterations", "total_iterations", 1 << 2, count),
    Field("best_score", "best_score", 1 << 3, number),
    Field("current_score", "current_score", 1 << 4, number),
    Field("best_params", "best_params", 1 << 5, json_object),
    Field("details", "step_details", 1 << 6, json_object),
)


def update_fields(*values):
    """update()'s arguments, in UPDATE_FIELDS' order, checked: a (Field, value)
    pair for each one given (not None)."""
    return [(f, f.check(f.arg, v)) for f, v in zip(UPDATE_FIELDS, values, strict=True)
            if v is not None]


def message(value):
    if not isinstance(value, str):
        value = str(value)
    if value.strip() == "":
        raise InvalidArgument("the error message must not be empty")
    # A failure is recorded whatever its text holds: a lone surrogate (from
    # a file name, say) becomes "?" rather than an error of its own.
    return value.encode("utf-8", "replace").decode("utf-8")
