"""_checks.py: the arguments of start(), update() and error(), checked and encoded.

Both backends take what these return: libtrainprog applies its own checks
again (its word is final), the HTTP mode relies on these and the server's.
"""

import json
import math

from .errors import InvalidArgument

STEPS = ("data_collection", "optimization", "validation", "save_configuration")
JSON_MAX = 65536
INT32_MAX = 2**31 - 1


def job_id(value):
    if not isinstance(value, str):
        raise InvalidArgument(f"job_id must be a str, not {type(value).__name__}")
    raw = value.encode("utf-8", "surrogatepass")
    if not 1 <= len(raw) <= 255:
        raise InvalidArgument("job_id must be 1 to 255 bytes of UTF-8")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in value) or value in (".", ".."):
        raise InvalidArgument("job_id must have no control character and not be . or ..")
    return value


def step(value):
    if value not in STEPS:
        raise InvalidArgument(f"unknown step {value!r}: use one of {', '.join(STEPS)}")
    return value


def json_object(name, value):
    """A dict (or JSON text of an object) as compact JSON text; None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
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
    if len(text.encode("utf-8")) > JSON_MAX:
        raise InvalidArgument(f"{name} is longer than {JSON_MAX} bytes as JSON")
    return text


def number(name, value, lo=None, hi=None):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidArgument(f"{name} must be a number, not {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise InvalidArgument(f"{name} must be finite")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise InvalidArgument(f"{name} must be within {lo:g}..{hi:g}")
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


def update_fields(step_percentage=None, iteration=None, total_iterations=None, best_score=None,
                  current_score=None, best_params=None, details=None):
    """The update's fields as the API names them, checked; those left None are left out."""
    out = {}
    if step_percentage is not None:
        out["step_percentage"] = number("step_percentage", step_percentage, 0.0, 100.0)
    if iteration is not None:
        out["current_iteration"] = count("iteration", iteration)
    if total_iterations is not None:
        out["total_iterations"] = count("total_iterations", total_iterations)
    if best_score is not None:
        out["best_score"] = number("best_score", best_score)
    if current_score is not None:
        out["current_score"] = number("current_score", current_score)
    if best_params is not None:
        out["best_params"] = json_object("best_params", best_params)
    if details is not None:
        out["step_details"] = json_object("details", details)
    return out


def message(value):
    if not isinstance(value, str):
        value = str(value)
    if value.strip() == "":
        raise InvalidArgument("the error message must not be empty")
    return value
