"""test_tracker.py: the Python ProgressTracker against a running stack.

Needs DATABASE_URL (role tp_writer), TP_BASE_URL and TP_TOKEN (publish,
cancel), as `deploy/dev-stack env` prints them; t/e2e/test_python.sh
starts a stack and runs this with python3 -m unittest.  Without them the
tests that need the stack are skipped; the argument checks still run.
"""

import asyncio
import json
import os
import subprocess
import sys
import time
import unittest
import urllib.parse
import urllib.request

import trainprog
from trainprog import ProgressTracker, SyncProgressTracker

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "..", "t", "e2e", "fixtures")
BASE = os.environ.get("TP_BASE_URL")
TOKEN = os.environ.get("TP_TOKEN")
DB = os.environ.get("DATABASE_URL")
STACK = bool(BASE and TOKEN and DB)
S = 1_000_000


def job(name):
    return f"py-{os.getpid()}-{name}"


def url(job_id, tail="progress"):
    return f"{BASE}/api/v2/training/jobs/{urllib.parse.quote(job_id, safe='')}/{tail}"


def get_doc(job_id):
    with urllib.request.urlopen(url(job_id), timeout=5) as r:
        return json.load(r)


def doc_when(job_id, pred, timeout=10.0):
    """The job's document once pred(doc) holds (or the last one read, after timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        doc = get_doc(job_id)
        if pred(doc) or time.monotonic() > deadline:
            return doc
        time.sleep(0.02)


def doc_at(job_id, seq, timeout=10.0):
    """The job's document once it shows seq (the read cache learns of a write
    through the change feed, a few milliseconds after the commit)."""
    return doc_when(job_id, lambda d: d.get("seq") == seq, timeout)


def cancel(job_id):
    req = urllib.request.Request(url(job_id, "cancel"), method="POST",
                                 headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.status, json.load(r)


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return json.load(f)


class FakeClock:
    def __init__(self):
        self.now = time.time_ns() // 1000

    def __call__(self):
        return self.now


@unittest.skipUnless(STACK, "needs a stack: DATABASE_URL, TP_BASE_URL, TP_TOKEN")
class Lifecycle(unittest.TestCase):

    def assert_matches(self, doc, name, eta=True):
        want = fixture(name)
        for key, value in want.items():
            self.assertIn(key, doc, f"{name}: no {key}")
            if key == "estimated_completion" and not eta:
                continue        # the service estimates on its own clock
            if key == "estimated_completion":
                self.assertIsNotNone(doc[key], f"{name}: no ETA")
                self.assertGreater(doc[key], doc["updated_at"], "the ETA is after updated_at")
                continue
            self.assertEqual(doc[key], value, f"{name}: {key}")

    def lifecycle(self, tracker, clock, job_id, run, eta=True):
        """The spec's lifecycle through tracker (whose calls run() performs)."""
        run(tracker.start("data_collection", {"symbol": "BTC/USDT", "exchange": "binanceus",
                                              "timeframe": "5m", "lookback_days": 90}))
        clock.now += 5 * S
        run(tracker.update(step_percentage=50.0))
        run(tracker.flush())
        doc = doc_at(job_id, tracker.stats()["committed_seq"])
        self.assert_matches(doc, "lifecycle-1.json")
        self.assertIsNone(doc["estimated_completion"], "one update is not enough for an ETA")

        clock.now += 5 * S
        run(tracker.start("optimization", {"optimizer": "bayesian", "n_calls": 50}))
        for i in range(1, 31):
            clock.now += 10 * S
            kw = dict(step_percentage=2.0 * i, iteration=i, total_iterations=50,
                      current_score=1.42 if i == 30 else 1.0 + (i % 7) / 10)
            if i == 12:
                kw.update(best_score=1.85,
                          best_params={"pierce_depth": 0.15, "volume_spike_threshold": 2.5})
            run(tracker.update(**kw))
        run(tracker.flush())
        self.assert_matches(doc_at(job_id, tracker.stats()["committed_seq"]), "lifecycle-2.json", eta)

        clock.now += 10 * S
        run(tracker.start("validation", {"train_window_days": 60, "test_window_days": 30,
                                         "gap_days": 7}))
        clock.now += 10 * S
        run(tracker.update(step_percentage=50.0))
        run(tracker.flush())
        doc = doc_at(job_id, tracker.stats()["committed_seq"])
        self.assert_matches(doc, "lifecycle-3.json")
        self.assertIsNone(doc["current_iteration"], "the optimizer's counters belong to its step")

        clock.now += 10 * S
        run(tracker.start("save_configuration"))
        run(tracker.update(best_params={"pierce_depth": 0.15, "volume_spike_threshold": 2.5,
                                        "reversal_candles": 3}))
        run(tracker.complete())
        doc = doc_at(job_id, tracker.stats()["committed_seq"])
        self.assert_matches(doc, "lifecycle-4.json")
        self.assertIsNone(doc["error_message"])

    def test_sync_lifecycle_reproduces_the_spec_examples(self):
        clock, job_id = FakeClock(), job("sync-life")
        with SyncProgressTracker(job_id, DB, clock=clock) as t:
            self.lifecycle(t, clock, job_id, lambda x: x)

    def test_async_lifecycle_reproduces_the_spec_examples(self):
        clock, job_id = FakeClock(), job("async-life")
        loop = asyncio.new_event_loop()
        try:
            progress = ProgressTracker(job_id=job_id, db_url=DB, clock=clock)
            # Each call awaited to its end, in order, as a training workflow does.
            self.lifecycle(progress, clock, job_id, loop.run_until_complete)
            loop.run_until_complete(progress.close())
        finally:
            loop.close()

    def test_http_mode_lifecycle_reproduces_the_spec_examples(self):
        clock, job_id = FakeClock(), job("http-life")
        with SyncProgressTracker(job_id, base_url=BASE, token=TOKEN, clock=clock) as t:
            # The service computes the ETA from its own clock and the updates
            # it received (most of these were merged): not compared here.
            self.lifecycle(t, clock, job_id, lambda x: x, eta=False)


@unittest.skipUnless(STACK, "needs a stack: DATABASE_URL, TP_BASE_URL, TP_TOKEN")
class Outcomes(unittest.TestCase):

    def test_error_marks_the_job_failed_where_it_was(self):
        job_id = job("error")
        t = SyncProgressTracker(job_id, DB)
        t.start("optimization")
        t.update(step_percentage=40, iteration=20, total_iterations=50)
        t.error("Optimization failed: out of memory")
        doc = doc_at(job_id, t.stats()["committed_seq"])
        self.assertEqual(doc["status"], "failed")
        self.assertEqual(doc["error_message"], "Optimization failed: out of memory")
        self.assertEqual(doc["percentage"], 45.0)
        self.assertTrue(doc["is_complete"])
        with self.assertRaises(trainprog.Finished):
            t.update(step_percentage=50)
        t.close()

    def check_cancel(self, **mode):
        job_id = job("cancel-" + ("http" if mode else "c"))
        t = SyncProgressTracker(job_id, **(mode or {"db_url": DB}))
        t.start("optimization")
        t.update(step_percentage=10, iteration=5, total_iterations=50)
        t.flush()
        status, doc = cancel(job_id)
        self.assertEqual((status, doc["status"]), (202, "cancelling"))
        # The next write learns it; from then on every call raises Cancelled.
        t.update(step_percentage=12, iteration=6, total_iterations=50)
        with self.assertRaises(trainprog.Cancelled):
            t.flush()
        with self.assertRaises(trainprog.Cancelled):
            t.update(step_percentage=14)
        with self.assertRaises(trainprog.Cancelled):
            t.complete()
        self.assertEqual(doc_when(job_id, lambda d: d["status"] == "cancelled")["status"], "cancelled")
        t.close()

    def test_flush_sends_an_update_the_interval_holds(self):
        # With a minute between writes, the update after start() waits; flush()
        # sends it at once (a 5-s timeout: without the hurry it would take 60 s).
        for name, mode in (("c", {"db_url": DB}), ("http", {"base_url": BASE, "token": TOKEN})):
            with self.subTest(mode=name):
                job_id = job("flush-held-" + name)
                with SyncProgressTracker(job_id, min_write_interval_ms=60000, **mode) as t:
                    t.start("optimization")
                    t.update(step_percentage=30, iteration=3, total_iterations=10)
                    t.flush(timeout=5.0)
                    doc = doc_at(job_id, t.stats()["committed_seq"])
                    self.assertEqual((doc["step_percentage"], doc["current_iteration"]), (30, 3))
                    t.complete()

    def test_a_cancelled_job_raises_Cancelled_from_the_next_call(self):
        self.check_cancel()

    def test_http_mode_a_cancelled_job_raises_Cancelled(self):
        self.check_cancel(base_url=BASE, token=TOKEN)

    def test_an_exception_in_the_with_block_fails_the_job_with_its_message(self):
        job_id = job("with")
        with self.assertRaises(ZeroDivisionError):
            with SyncProgressTracker(job_id, DB) as t:
                t.start("validation")
                1 / 0
        doc = doc_when(job_id, lambda d: d["is_complete"])
        self.assertEqual(doc["status"], "failed")
        self.assertEqual(doc["error_message"], "ZeroDivisionError: division by zero")

    def test_an_exception_in_async_with_fails_the_job(self):
        job_id = job("async-with")

        async def main():
            async with ProgressTracker(job_id, DB) as p:
                await p.start("data_collection", {"symbol": "BTC/USDT"})
                raise RuntimeError("no candles for BTC/USDT")
        with self.assertRaises(RuntimeError):
            asyncio.run(main())
        doc = doc_when(job_id, lambda d: d["is_complete"])
        self.assertEqual((doc["status"], doc["error_message"]),
                         ("failed", "RuntimeError: no candles for BTC/USDT"))

    def test_an_exception_whose_text_is_not_utf8_still_fails_the_job(self):
        # A file name read with surrogateescape, say: the failure is recorded,
        # its lone surrogate as "?", in both modes.
        for name, mode in (("c", {"db_url": DB}), ("http", {"base_url": BASE, "token": TOKEN})):
            job_id = job("with-surrogate-" + name)
            with self.assertRaises(OSError):
                with SyncProgressTracker(job_id, **mode) as t:
                    t.start("data_collection")
                    raise OSError("cannot read candles-\udc80.csv")
            doc = doc_when(job_id, lambda d: d["is_complete"])
            self.assertEqual((doc["status"], doc["error_message"]),
                             ("failed", "OSError: cannot read candles-?.csv"))

    def test_a_with_block_that_ends_normally_leaves_the_job_as_it_is(self):
        job_id = job("with-ok")
        with SyncProgressTracker(job_id, DB) as t:
            t.start("data_collection")
            t.update(step_percentage=20)
        self.assertEqual(doc_when(job_id, lambda d: d["step_percentage"] == 20)["status"], "running")

    def test_resume_continues_a_queued_job(self):
        job_id = job("resume")
        with SyncProgressTracker(job_id, DB) as q:
            q.queue()
        with SyncProgressTracker(job_id, DB, resume=True) as t:
            t.start("data_collection")
            t.flush()
            self.assertEqual(doc_at(job_id, t.stats()["committed_seq"])["status"], "running")
        with self.assertRaises(trainprog.NotFound):
            SyncProgressTracker(job("never"), DB, resume=True)

    def test_update_does_not_wait_on_a_database_that_is_not_there(self):
        # A port nothing listens on: update() records and returns; complete() times out.
        t = SyncProgressTracker(job("away"), "host=127.0.0.1 port=1 connect_timeout=1",
                                terminal_timeout=0.5)
        t.start("optimization")
        t0 = time.monotonic()
        for i in range(1000):
            t.update(step_percentage=i / 10, iteration=i)
        self.assertEqual(t.stats()["writes"], 0)
        with self.assertRaises(trainprog.Timeout):
            t.complete()
        self.assertLess(time.monotonic() - t0, 30, "bounded by terminal_timeout, not hung")
        t.close()


class BadArguments(unittest.TestCase):
    """Refused before anything is written, with a message that says why."""

    def tracker(self):
        return SyncProgressTracker(job("bad"), "host=/nonexistent")

    def test_bad_job_ids(self):
        for bad in ("", "x" * 256, "a\x01b", ".", "..", 42, None):
            with self.assertRaises(trainprog.InvalidArgument, msg=repr(bad)):
                SyncProgressTracker(bad, "host=/nonexistent")

    def test_a_job_id_that_is_not_utf8_is_an_invalid_argument(self):
        # A lone surrogate has no UTF-8: refused here, in both modes, rather
        # than failing later on encoding it.
        for mode in ({"db_url": "host=/nonexistent"},
                     {"base_url": "http://127.0.0.1:1", "token": "t"}):
            with self.assertRaises(trainprog.InvalidArgument, msg=repr(mode)):
                SyncProgressTracker("a\udc80", **mode)

    def test_http_mode_checks_job_ids_as_the_library_does(self):
        from trainprog import _checks, _lib
        for job_id in ("", "x" * 255, "x" * 256, "\u00e9" * 127 + "x", "\u00e9" * 128, ".",
                       "..", "...", ".a", "a\x00b", "a\x1fb", "a\x7fb", "a\x80b", "a\x9fb",
                       "a\xa0b", "job-42", "\u65e5\u672c", "\u2028", "\U0001F600", "a/b"):
            raw = job_id.encode()
            self.assertEqual(_checks.job_id_problem(raw), _lib.job_id_problem(raw), repr(job_id))
            mode = {"base_url": "http://127.0.0.1:1", "token": "t"}
            if _lib.job_id_problem(raw) is None:
                SyncProgressTracker(job_id, **mode).close()
            else:
                with self.assertRaises(trainprog.InvalidArgument, msg=repr(job_id)):
                    SyncProgressTracker(job_id, **mode)

    def test_http_mode_does_without_libtrainprog(self):
        # A fresh interpreter: HTTP mode must not even import the library's module.
        code = ("import sys, trainprog\n"
                "t = trainprog.SyncProgressTracker('j', base_url='http://127.0.0.1:1', token='t')\n"
                "t.close()\n"
                "print('trainprog._lib' in sys.modules, 'trainprog._ctracker' in sys.modules)\n")
        out = subprocess.run([sys.executable, "-c", code], cwd=os.path.join(HERE, ".."),
                             capture_output=True, text=True, timeout=60, check=True)
        self.assertEqual(out.stdout.split(), ["False", "False"], out.stderr)

    def test_bad_calls(self):
        t = self.tracker()
        with self.assertRaises(trainprog.StateError):
            t.update(step_percentage=1)
        for call in (lambda: t.start("training"), lambda: t.start("optimization", [1, 2]),
                     lambda: t.start("optimization", "{not json"),
                     lambda: t.start("optimization", '"a string"')):
            with self.assertRaises(trainprog.InvalidArgument):
                call()
        t.start("optimization")
        for kw in ({"step_percentage": 101}, {"step_percentage": -1},
                   {"step_percentage": float("nan")}, {"best_score": float("inf")},
                   {"iteration": -1}, {"iteration": 1.5}, {"iteration": True},
                   {"total_iterations": 2**31}, {"best_params": [1]},
                   {"best_params": {"x": float("nan")}}, {"current_score": "1.2"},
                   {"details": {"big": "x" * 70000}}):
            with self.assertRaises(trainprog.InvalidArgument, msg=repr(kw)) as cm:
                t.update(**kw)
            self.assertTrue(str(cm.exception), "a message says why")
        with self.assertRaises(trainprog.StateError):
            t.start("data_collection")
        with self.assertRaises(trainprog.InvalidArgument):
            t.error("   ")
        self.assertEqual(t.stats()["states"], 1, "nothing refused was recorded")
        t.close()

    def test_bad_options(self):
        for kw in ({"heartbeat_ms": -1}, {"min_write_interval_ms": 1.5},
                   {"terminal_timeout": -2}, {"clock": 5}, {"token": "tp_x"},
                   {"base_url": "http://127.0.0.1:1"},
                   {"base_url": "ftp://x", "token": "t"}):
            with self.assertRaises(trainprog.InvalidArgument, msg=repr(kw)):
                SyncProgressTracker(job("opts"), **kw)

    def test_errors_are_one_family(self):
        for cls in (trainprog.InvalidArgument, trainprog.Cancelled, trainprog.Timeout,
                    trainprog.Finished, trainprog.Conflict, trainprog.NotFound):
            self.assertTrue(issubclass(cls, trainprog.TrainprogError))
        self.assertTrue(issubclass(trainprog.InvalidArgument, ValueError))
        self.assertTrue(issubclass(trainprog.Timeout, TimeoutError))


if __name__ == "__main__":
    unittest.main()
