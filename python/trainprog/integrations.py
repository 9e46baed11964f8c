"""integrations.py: report an optimizer's trials to a tracker, as callbacks.

Optuna (Debian: python3-optuna):

    tracker.start('optimization', {'optimizer': 'optuna', 'n_trials': 50})
    study.optimize(objective, n_trials=50,
                   callbacks=[optuna_callback(tracker, n_trials=50)])

scikit-optimize (not packaged by Debian 12; pip's scikit-optimize):

    tracker.start('optimization', {'optimizer': 'gp_minimize', 'n_calls': 50})
    gp_minimize(f, space, n_calls=50, callback=[skopt_callback(tracker, 50, names)])

Each callback reports the iteration, the step's percentage, the trial's
score and the best so far with its parameters, through update(), which
never waits on the network (an async ProgressTracker's `sync` calls are
used).  When the job is cancelled, update() raises
trainprog.Cancelled inside the optimizer's loop: Optuna and skopt let it
propagate, which stops the search.
"""

import math


def _finite(x):
    return isinstance(x, (int, float)) and math.isfinite(x)


def optuna_callback(tracker, n_trials):
    """A callback for optuna.Study.optimize(callbacks=[...]).

    The score is the trial's value; "best" follows the study's direction
    (study.best_value, study.best_params).  Failed and pruned trials count
    as iterations without a score.
    """
    if not isinstance(n_trials, int) or n_trials < 1:
        raise ValueError("n_trials must be a whole number >= 1")
    tracker = getattr(tracker, "sync", tracker)     # an async ProgressTracker's own calls
    done = {"n": 0}

    def callback(study, trial):
        done["n"] += 1
        n = done["n"]
        kwargs = {
            "step_percentage": min(100.0, 100.0 * n / n_trials),
            "iteration": n,
            "total_iterations": max(n_trials, n),
        }
        if _finite(trial.value):
            kwargs["current_score"] = float(trial.value)
        try:
            best = study.best_trial
        except ValueError:      # no trial has completed yet
            best = None
        if best is not None and _finite(best.value):
            kwargs["best_score"] = float(best.value)
            kwargs["best_params"] = dict(best.params)
        tracker.update(**kwargs)

    return callback


def skopt_callback(tracker, n_calls, names=None, maximize=True):
    """A callback for skopt's *_minimize(callback=[...]).

    skopt minimizes; with maximize=True (the default, for scores such as a
    Sharpe ratio) the objective is taken to return the negated score, and
    the scores reported are negated back.  names: the dimensions' names,
    for best_params (default x0, x1, ...).
    """
    if not isinstance(n_calls, int) or n_calls < 1:
        raise ValueError("n_calls must be a whole number >= 1")
    tracker = getattr(tracker, "sync", tracker)
    sign = -1.0 if maximize else 1.0

    def callback(res):
        n = len(res.func_vals)
        best_i = min(range(n), key=lambda i: res.func_vals[i])
        keys = names or [f"x{i}" for i in range(len(res.x_iters[best_i]))]
        params = {k: (v.item() if hasattr(v, "item") else v)
                  for k, v in zip(keys, res.x_iters[best_i])}
        tracker.update(step_percentage=min(100.0, 100.0 * n / n_calls), iteration=n,
                       total_iterations=max(n_calls, n),
                       current_score=sign * float(res.func_vals[-1]),
                       best_score=sign * float(res.func_vals[best_i]), best_params=params)
        return False    # never asks skopt to stop: a cancel raises instead

    return callback
