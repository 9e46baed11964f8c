"""errors.py: what the tracker's calls raise, one class per outcome of libtrainprog."""


class TrainprogError(Exception):
    """Any failure of a tracker call.  ``code`` names libtrainprog's enum tp_err."""

    code = "TP_ERROR"

    def __init__(self, message, problem=""):
        super().__init__(message if not problem else f"{message}: {problem}")
        self.problem = problem


class InvalidArgument(TrainprogError, ValueError):
    """An argument the tracker refuses (an unknown step, a percentage over 100,
    a score that is not finite, JSON that is not an object); nothing changed."""

    code = "TP_EINVAL"


class StateError(TrainprogError):
    """Not now: an update before any start, a step that would go backwards."""

    code = "TP_ESTATE"


class Finished(TrainprogError):
    """The job has completed or failed: nothing more is written."""

    code = "TP_EFINISHED"


class Timeout(TrainprogError, TimeoutError):
    """The database did not confirm in time; the tracker keeps trying until
    close(), and calling complete() or error() again waits again."""

    code = "TP_ETIMEDOUT"


class Conflict(TrainprogError):
    """The terminal state was refused: another writer finished the job, or is ahead."""

    code = "TP_ECONFLICT"


class DatabaseError(TrainprogError):
    """The database (or, in HTTP mode, the service) answered with an error."""

    code = "TP_EDB"


class NotFound(TrainprogError, LookupError):
    """resume: the job has no stored progress."""

    code = "TP_ENOTFOUND"


class Cancelled(TrainprogError):
    """The job was cancelled (POST .../cancel): stop training.  Its final
    state, "cancelled", is already stored."""

    code = "TP_ECANCELLED"


# libtrainprog's enum tp_err, in its order (include/tp/tracker.h).
BY_CODE = {
    1: InvalidArgument,
    2: StateError,
    3: Finished,
    4: Timeout,
    5: Conflict,
    6: DatabaseError,
    7: NotFound,
    8: TrainprogError,     # TP_ENOMEM
    9: TrainprogError,     # TP_EFORK
    10: TrainprogError,    # TP_ESYS
    11: Cancelled,
}
