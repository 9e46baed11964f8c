"""Tests of python/test_progress_tracking.py against a live stack.

Environment: TP_BASE_URL (the API; the module is skipped without it),
TP_TOKEN (scopes publish, cancel, train), DATABASE_URL (for tp-publish) and
TP_BIN_DIR (the directory holding tp-publish and tp-watch).

    TP_BIN_DIR=build/bin python3 -m unittest discover -s python/tests -p 'test_script.py' -v
"""

import importlib.util
import json
import os
import pty
import queue
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.normpath(os.path.join(HERE, "..", "test_progress_tracking.py"))
PYTHON = sys.executable or "python3"
PID = os.getpid()

BASE_URL = os.environ.get("TP_BASE_URL", "")
TOKEN = os.environ.get("TP_TOKEN", "")
BIN_DIR = os.environ.get("TP_BIN_DIR", "")

script = None   # the module under test, imported in setUpModule


def setUpModule():
    global script
    if not BASE_URL:
        raise unittest.SkipTest("TP_BASE_URL is not set: no stack to test against")
    spec = importlib.util.spec_from_file_location("test_progress_tracking", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)


def tool(name):
    return os.path.join(BIN_DIR, name)


def have_tools(*names):
    return bool(BIN_DIR) and all(os.access(tool(n), os.X_OK) for n in names)


def job_id(name):
    return "py-script-%d-%s" % (PID, name)


def publish(job, *args, expect=0):
    """tp-publish --job JOB ARGS...: its exit status (checked against expect)."""
    p = subprocess.run([tool("tp-publish"), "--job", job] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    if expect is not None and p.returncode != expect:
        raise AssertionError("tp-publish %s %s: exit %d, stderr %r" % (
            job, " ".join(args), p.returncode, p.stderr.decode(errors="replace")))
    return p.returncode


def api(method, path, body=None, token=TOKEN):
    """An API request: (status, parsed JSON body or None)."""
    req = urllib.request.Request(BASE_URL.rstrip("/") + path, method=method, data=body)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            status, data = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, data = e.code, e.read()
    try:
        return status, json.loads(data) if data else None
    except ValueError:
        return status, None


def progress_path(job):
    return "/api/v2/training/jobs/%s/progress" % urllib.parse.quote(job, safe="")


class Proc:
    """A process whose stdout is read line by line by a thread, so that a test
    can wait for a line with a deadline; killed by close()."""

    def __init__(self, argv, env=None):
        self.lines = []
        self._queue = queue.Queue()
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL, env=env)
        self._stderr = []
        self._threads = [threading.Thread(target=self._read_out, daemon=True),
                         threading.Thread(target=self._read_err, daemon=True)]
        for t in self._threads:
            t.start()

    def _read_out(self):
        for raw in iter(self.p.stdout.readline, b""):
            self._queue.put(raw.decode("utf-8", "replace"))
        self._queue.put(None)

    def _read_err(self):
        for raw in iter(self.p.stderr.readline, b""):
            self._stderr.append(raw.decode("utf-8", "replace"))

    def wait_for(self, predicate, timeout=15.0, what="a line"):
        """Reads lines until one satisfies predicate: that line.  Fails at the
        deadline, or when the output ends first."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s within %.0f s; output so far:\n%s\nstderr:\n%s"
                                     % (what, timeout, self.output(), self.stderr()))
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self._queue.put(None)
                raise AssertionError("the output ended without %s (exit %s); output:\n%s"
                                     "\nstderr:\n%s" % (what, self.p.poll(), self.output(),
                                                        self.stderr()))
            self.lines.append(line)
            if predicate(line):
                return line

    def wait_line(self, text, timeout=15.0):
        return self.wait_for(lambda line: line.rstrip("\n") == text, timeout, repr(text))

    def finish(self, timeout=30.0):
        """Waits for the exit: the status, with all of stdout read."""
        rc = self.p.wait(timeout=timeout)
        for t in self._threads:
            t.join(timeout=5)
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        return rc

    def output(self):
        return "".join(self.lines)

    def stderr(self):
        return "".join(self._stderr)

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for f in (self.p.stdout, self.p.stderr):
            try:
                f.close()
            except OSError:
                pass


def run(argv, timeout=60, env=None):
    """Runs argv to its end: (status, stdout, stderr); killed on timeout."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, env=env)
    try:
        out, err = p.communicate(timeout=timeout)
        return p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()


def run_script(*args, timeout=60, env=None):
    return run([PYTHON, SCRIPT] + list(args), timeout=timeout, env=env)


def run_on_pty(argv, timeout=60):
    """Runs argv with stdout on a pseudo-terminal: (status, stdout)."""
    master, slave = pty.openpty()
    p = subprocess.Popen(argv, stdout=slave, stderr=subprocess.DEVNULL,
                         stdin=subprocess.DEVNULL)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                if p.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:     # EIO: the other end is closed
                break
            if not data:
                break
            out += data
        return p.wait(timeout=10), out.decode("utf-8", "replace").replace("\r\n", "\n")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)


# The spec's example at 55 %, and its block as tp-watch prints it: 50 cells,
# round(55.0 / 2) = 28 of them full (C's lround: halves away from zero).
SPEC_DOC = {
    "job_id": "abc123-def456", "percentage": 55.0, "current_step": "Optimization",
    "step_number": 2, "total_steps": 4, "step_percentage": 60.0,
    "step_details": {"n_calls": 50, "optimizer": "bayesian"},
    "started_at": "2025-10-23T06:00:00Z", "updated_at": "2025-10-23T06:10:25Z",
    "estimated_completion": "2025-10-23T06:15:30Z", "current_iteration": 30,
    "total_iterations": 50, "best_score": 1.85, "current_score": 1.42,
    "best_params": {"pierce_depth": 0.15}, "is_complete": False, "error_message": None,
    "status": "running", "seq": 1,
}
SPEC_BLOCK = (
    "[06:10:25] Step 2/4: Optimization\n"
    "  Overall: 55.0%  |  Step: 60.0%\n"
    "  Iteration: 30/50\n"
    "  Best Score: 1.8500\n"
    "  Current Score: 1.4200\n"
    "  ETA: 2025-10-23T06:15:30Z\n"
    "  [" + "\u2588" * 28 + "\u2591" * 22 + "] 55.0%\n"
)

TIME_PREFIX = re.compile(r"^\[\d\d:\d\d:\d\d\]", re.M)


class RenderTest(unittest.TestCase):

    def test_spec_block(self):
        self.assertEqual(script.render_block(SPEC_DOC, clock="06:10:25"), SPEC_BLOCK)

    def test_spec_block_local_time(self):
        block = script.render_block(SPEC_DOC)
        self.assertRegex(block.splitlines()[0], r"^\[\d\d:\d\d:\d\d\] Step 2/4: Optimization$")
        self.assertEqual(block.split("\n", 1)[1], SPEC_BLOCK.split("\n", 1)[1])

    def test_bar_rounds_halves_up(self):
        self.assertEqual(script.bar(53).count("\u2588"), 27)     # 26.5 -> 27
        self.assertEqual(script.bar(0).count("\u2588"), 0)
        self.assertEqual(script.bar(100).count("\u2588"), 50)
        self.assertEqual(script.bar(0.99).count("\u2588"), 0)
        self.assertEqual(script.bar(1).count("\u2588"), 1)       # 0.5 -> 1

    def test_outcomes(self):
        done = dict(SPEC_DOC, status="completed", best_params={"a": 1.0, "b": 0.35})
        self.assertTrue(script.render_block(done, "J", "00:00:00").endswith(
            "\nJob J completed. Best score: 1.8500  Best params: {\"a\":1,\"b\":0.35}\n"))
        failed = dict(SPEC_DOC, status="failed", error_message="boom")
        self.assertTrue(script.render_block(failed, "J", "00:00:00").endswith(
            "\nJob J failed: boom\n"))
        queued = dict(SPEC_DOC, status="queued", current_iteration=None)
        lines = script.render_block(queued, "J", "00:00:00").splitlines()
        self.assertEqual(lines[1], "  Status: queued")
        self.assertNotIn("  Iteration: 30/50", lines)


class LiveTest(unittest.TestCase):

    def setUp(self):
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            p.close()

    def watch(self, *args):
        p = Proc([PYTHON, SCRIPT] + list(args))
        self.procs.append(p)
        return p

    def need_tools(self, *names):
        if not have_tools(*names):
            self.skipTest("TP_BIN_DIR does not hold %s" % ", ".join(names))

    def test_lifecycle(self):
        self.need_tools("tp-publish")
        job = job_id("life")
        publish(job, "start", "data_collection")
        p = self.watch("--interval", "0.2", job)
        # The first block, before anything else is published.
        p.wait_for(lambda l: "Step 1/4: Data Collection" in l, what="the first block")
        p.wait_for(lambda l: l.startswith("  ["), what="the first bar")
        steps = [
            (("update", "--step-pct", "50"), "  Overall: 12.5%  |  Step: 50.0%"),
            (("start", "optimization"), None),
            (("update", "--step-pct", "60", "--iteration", "30", "--total", "50",
              "--best-score", "1.85", "--current-score", "1.42"), "  Iteration: 30/50"),
            (("start", "validation"), None),
            (("start", "save_configuration"), None),
        ]
        expected_heads = {"optimization": "Step 2/4: Optimization",
                          "validation": "Step 3/4: Validation",
                          "save_configuration": "Step 4/4: Save Configuration"}
        for args, line in steps:
            publish(job, *args)
            if line is None:
                head = expected_heads[args[1]]
                p.wait_for(lambda l, h=head: h in l, what=repr(head))
            else:
                p.wait_line(line)
        publish(job, "complete")
        rc = p.finish(timeout=30)
        out = p.output()
        self.assertEqual(rc, 0, "stdout:\n%s\nstderr:\n%s" % (out, p.stderr()))
        for text in ("Step 2/4: Optimization", "Overall: 55.0%  |  Step: 60.0%",
                     "Iteration: 30/50", "Best Score: 1.8500", "Current Score: 1.4200",
                     "Step 3/4: Validation", "Step 4/4: Save Configuration"):
            self.assertIn(text, out)
        self.assertIn("Job %s completed." % job, out)
        # Every block is whole: a bar of 50 cells after each header.
        heads = [l for l in out.splitlines() if re.match(r"^\[\d\d:\d\d:\d\d\] Step ", l)]
        bars = [l for l in out.splitlines() if l.startswith("  [")]
        self.assertEqual(len(heads), len(bars))
        for b in bars:
            self.assertRegex(b, r"^  \[[\u2588\u2591]{50}\] \d+\.\d%$")

    def test_failed(self):
        self.need_tools("tp-publish")
        job = job_id("fail")
        publish(job, "start", "data_collection")
        p = self.watch("--interval", "0.2", job)
        p.wait_for(lambda l: l.startswith("  ["), what="the first block")
        publish(job, "error", "boom")
        rc = p.finish(timeout=30)
        self.assertEqual(rc, 1, p.stderr())
        self.assertIn("boom", p.output())
        self.assertIn("Job %s failed: boom" % job, p.output())

    def test_cancelled(self):
        self.need_tools("tp-publish")
        job = job_id("cancel")
        publish(job, "start", "data_collection")
        p = self.watch("--interval", "0.2", job)
        p.wait_for(lambda l: l.startswith("  ["), what="the first block")
        status, body = api("POST", "/api/v2/training/jobs/%s/cancel" %
                           urllib.parse.quote(job, safe=""))
        self.assertEqual(status, 202, body)
        p.wait_line("  Status: cancelling")
        # The trainer's next write ends the job (tp-publish says 4: cancelled).
        self.assertEqual(publish(job, "update", "--step-pct", "10", expect=None), 4)
        rc = p.finish(timeout=30)
        self.assertEqual(rc, 1, p.stderr())
        self.assertIn("Job %s cancelled" % job, p.output())

    def test_unknown_job(self):
        job = job_id("nope")
        started = time.monotonic()
        rc, out, err = run_script("--interval", "0.2", job, timeout=30)
        self.assertEqual(rc, 2, err)
        self.assertLess(time.monotonic() - started, 10)
        self.assertEqual(out, "")
        self.assertIn("test_progress_tracking: job %s: " % job, err)
        self.assertIn("HTTP 404 not_found", err)

    def test_no_server(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        started = time.monotonic()
        rc, out, err = run_script("--url", "http://127.0.0.1:%d" % port, "--give-up", "1.5",
                                  "--interval", "0.2", job_id("noserver"), timeout=30)
        took = time.monotonic() - started
        self.assertEqual(rc, 2, err)
        self.assertGreaterEqual(took, 1.4)
        self.assertLess(took, 15)
        self.assertIn("trying again in", err)
        self.assertIn("test_progress_tracking: giving up after", err)

    def test_start_job(self):
        if not TOKEN:
            self.skipTest("TP_TOKEN is not set")
        p = self.watch("--json", "--interval", "0.2")
        started = None
        try:
            line = p.wait_for(lambda l: l.strip() != "", timeout=20, what="a document")
            doc = json.loads(line)
            started = doc["job_id"]
            self.assertEqual(doc["status"], "queued")
            p.p.send_signal(signal.SIGINT)
            rc = p.finish(timeout=15)
            self.assertEqual(rc, 130, p.stderr())
            self.assertIn("test_progress_tracking: started job %s\n" % started, p.stderr())
            self.assertIn("test_progress_tracking: stopped watching job %s (it goes on)"
                          % started, p.stderr())
            status, body = api("GET", progress_path(started))
            self.assertEqual(status, 200)
            self.assertEqual(body["job_id"], started)
        finally:
            if started is not None:     # no trainer will take it: leave nothing queued
                api("POST", "/api/v2/training/jobs/%s/cancel" %
                    urllib.parse.quote(started, safe=""))

    def finished_job(self, name):
        job = job_id(name)
        publish(job, "start", "optimization")
        publish(job, "update", "--step-pct", "40", "--iteration", "4", "--total", "10",
                "--best-score", "2.5", "--current-score", "1.25",
                "--best-params", '{"pierce_depth": 0.35, "reversal_candles": 2}')
        publish(job, "complete")
        return job

    def test_json_same_as_tp_watch(self):
        self.need_tools("tp-publish", "tp-watch")
        job = self.finished_job("same")
        rc_c, out_c, err_c = run([tool("tp-watch"), "--json", job], timeout=30)
        rc_py, out_py, err_py = run_script("--json", job, timeout=30)
        self.assertEqual(rc_c, 0, err_c)
        self.assertEqual(rc_py, 0, err_py)
        self.assertEqual(len(out_py.splitlines()), 1)
        self.assertEqual(out_py, out_c)
        self.assertEqual(json.loads(out_py)["status"], "completed")

    def test_block_same_as_tp_watch(self):
        # tp-watch prints blocks on a terminal only: it runs under a pty here.
        self.need_tools("tp-publish", "tp-watch")
        for job in (self.finished_job("block"), self.failed_job("blockfail")):
            rc_c, out_c = run_on_pty([tool("tp-watch"), job], timeout=30)
            rc_py, out_py, err_py = run_script(job, timeout=30)
            self.assertEqual(rc_py, rc_c, err_py)
            self.assertEqual(TIME_PREFIX.sub("[T]", out_py), TIME_PREFIX.sub("[T]", out_c))
            self.assertIn("Job %s " % job, out_py)

    def failed_job(self, name):
        job = job_id(name)
        publish(job, "start", "data_collection")
        publish(job, "error", 'boom: "quoted"')
        return job

    def test_bad_usage(self):
        for args in (["--interval", "0", "x"], ["--no-such-option"], ["--interval"],
                     ["a", "b"]):
            rc, out, err = run_script(*args, timeout=30)
            self.assertEqual(rc, 2, args)
            self.assertIn("test_progress_tracking: ", err)
            self.assertIn("usage:", err)
            self.assertEqual(out, "")
        rc, out, err = run_script("--help", timeout=30)
        self.assertEqual(rc, 0)
        self.assertIn("usage:", out)


if __name__ == "__main__":
    unittest.main()
