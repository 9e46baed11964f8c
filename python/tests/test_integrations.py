"""test_integrations.py: the Optuna and scikit-optimize callbacks against a stack.

Optuna is Debian's python3-optuna (deploy/install-deps installs it).
scikit-optimize is not packaged by Debian 12: its callback is driven here
by results shaped as skopt's OptimizeResult, and by skopt itself where it
is installed.
"""

import types
import unittest

import trainprog
from trainprog import SyncProgressTracker
from trainprog.integrations import optuna_callback, skopt_callback

from .test_tracker import DB, STACK, cancel, doc_at, doc_when, job

try:
    import optuna
except ImportError:
    optuna = None
try:
    import skopt
except ImportError:
    skopt = None


def objective(trial):
    x = trial.suggest_float("pierce_depth", 0.05, 0.5)
    y = trial.suggest_int("reversal_candles", 1, 5)
    return 2.0 - (x - 0.3) ** 2 - 0.1 * (y - 3) ** 2


@unittest.skipUnless(STACK, "needs a stack: DATABASE_URL, TP_BASE_URL, TP_TOKEN")
class Optuna(unittest.TestCase):

    def setUp(self):
        if optuna is None:
            self.skipTest("python3-optuna is not installed")
        optuna.logging.set_verbosity(optuna.logging.WARNING)

    def test_a_study_reports_every_trial_and_the_best(self):
        job_id = job("optuna")
        study = optuna.create_study(direction="maximize",
                                    sampler=optuna.samplers.TPESampler(seed=7))
        with SyncProgressTracker(job_id, DB) as t:
            t.start("optimization", {"optimizer": "optuna-tpe", "n_trials": 30})
            study.optimize(objective, n_trials=30, callbacks=[optuna_callback(t, 30)])
            t.flush()
            doc = doc_at(job_id, t.stats()["committed_seq"])
        self.assertEqual((doc["current_iteration"], doc["total_iterations"]), (30, 30))
        self.assertEqual(doc["step_percentage"], 100)
        self.assertEqual(doc["best_score"], study.best_value)
        self.assertEqual(doc["best_params"], study.best_params)
        self.assertEqual(doc["current_score"], study.trials[-1].value)

    def test_a_cancel_stops_the_study(self):
        job_id = job("optuna-cancel")
        study = optuna.create_study(direction="maximize",
                                    sampler=optuna.samplers.RandomSampler(seed=1))

        def cancel_at_5(study_, trial):
            if trial.number == 4:
                cancel(job_id)
        # Every update written at once, so that the cancel is learned soon.
        with SyncProgressTracker(job_id, DB, min_write_interval_ms=0) as t:
            t.start("optimization")
            t.flush()       # stored, so that it can be cancelled
            report = optuna_callback(t, 5000)
            with self.assertRaises(trainprog.Cancelled):
                study.optimize(objective, n_trials=5000, callbacks=[cancel_at_5, report])
        self.assertLess(len(study.trials), 5000, "the study stopped")
        self.assertEqual(doc_when(job_id, lambda d: d["is_complete"])["status"], "cancelled")


def fake_result(vals, xs):
    return types.SimpleNamespace(func_vals=list(vals), x_iters=[list(x) for x in xs])


@unittest.skipUnless(STACK, "needs a stack: DATABASE_URL, TP_BASE_URL, TP_TOKEN")
class ScikitOptimize(unittest.TestCase):

    def test_the_callback_reports_negated_scores_and_named_params(self):
        job_id = job("skopt-shape")
        with SyncProgressTracker(job_id, DB) as t:
            t.start("optimization", {"optimizer": "gp_minimize"})
            cb = skopt_callback(t, 10, names=["pierce_depth", "reversal_candles"])
            xs, vals = [], []
            for i, (x, v) in enumerate([((0.1, 2), -1.2), ((0.3, 3), -1.9), ((0.4, 1), -1.5)]):
                xs.append(x)
                vals.append(v)
                self.assertFalse(cb(fake_result(vals, xs)))
            t.flush()
            doc = doc_at(job_id, t.stats()["committed_seq"])
        self.assertEqual((doc["current_iteration"], doc["total_iterations"]), (3, 10))
        self.assertEqual(doc["best_score"], 1.9)
        self.assertEqual(doc["current_score"], 1.5)
        self.assertEqual(doc["best_params"], {"pierce_depth": 0.3, "reversal_candles": 3})
        self.assertEqual(doc["step_percentage"], 30)

    @unittest.skipIf(skopt is None, "scikit-optimize is not installed (Debian 12 has no package)")
    def test_gp_minimize_reports_to_the_tracker(self):
        job_id = job("skopt")
        with SyncProgressTracker(job_id, DB) as t:
            t.start("optimization")
            res = skopt.gp_minimize(lambda x: (x[0] - 0.3) ** 2 - 2, [(0.05, 0.5)], n_calls=12,
                                    random_state=1, callback=[skopt_callback(t, 12, ["x"])])
            t.flush()
            doc = doc_at(job_id, t.stats()["committed_seq"])
        self.assertEqual(doc["current_iteration"], 12)
        self.assertEqual(doc["best_score"], -res.fun)


class Arguments(unittest.TestCase):

    def test_budgets_must_be_positive(self):
        for bad in (0, -1, 2.5, None):
            with self.assertRaises(ValueError):
                optuna_callback(None, bad)
            with self.assertRaises(ValueError):
                skopt_callback(None, bad)


if __name__ == "__main__":
    unittest.main()
