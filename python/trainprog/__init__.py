"""trainprog: publish a training job's progress, as the spec's ProgressTracker.

    from trainprog import ProgressTracker

    progress = ProgressTracker(job_id=job_id, db_url=db_url)
    await progress.start('data_collection', {'symbol': 'BTC/USDT'})
    await progress.update(step_percentage=50.0, iteration=30, total_iterations=50,
                          best_score=1.85)
    await progress.complete()

SyncProgressTracker has the same calls for code that is not async.  Both go
through libtrainprog (ctypes) with a database URL, or over HTTP with
base_url and token.  See docs/TRACKER.md.
"""

from .errors import (Cancelled, Conflict, DatabaseError, Finished, InvalidArgument, NotFound,
                     StateError, Timeout, TrainprogError)
from .tracker import ProgressTracker, SyncProgressTracker

__all__ = [
    "ProgressTracker", "SyncProgressTracker", "TrainprogError", "InvalidArgument", "StateError",
    "Finished", "Timeout", "Conflict", "DatabaseError", "NotFound", "Cancelled",
]
__version__ = "0.1.0"
