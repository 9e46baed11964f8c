#!/usr/bin/env python3
"""test_progress_tracking.py: the spec's progress-watching test script.

A Python twin of tp-watch (docs/WATCH.md, tools/tp-watch.c), standard
library only.  Given a job id it polls the job's progress document until
the job ends and prints each new document as the spec's block (or, with
--json, as one line of JSON); without a job id it first starts a job
(POST /api/v2/training/jobs).  Exit status: 0 the job completed, 1 it
failed or was cancelled, 2 bad usage, an unknown job, a refusal, a bad
answer or a network that stayed down, 130 interrupted (the job goes on).

    python3 python/test_progress_tracking.py [--url URL] [--token TOKEN]
        [--request JSON|@FILE] [--interval SECONDS] [--give-up SECONDS]
        [--json] [JOB_ID]
"""

import http.client
import json
import math
import os
import re
import signal
import socket
import sys
import time
import urllib.parse

PROGNAME = "test_progress_tracking"

EXIT_COMPLETED = 0      # the job completed
EXIT_FAILED = 1         # the job failed or was cancelled
EXIT_ERROR = 2          # bad usage, unknown job, refused, or a network that stayed down
EXIT_INTERRUPTED = 130  # Ctrl-C: the job goes on

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
API_PATH = "/api/v2/training/jobs"
MAX_BODY = 1024 * 1024      # a progress document is a few KiB
MAX_REQUEST = 65536         # --request @FILE
MAX_JOB_ID = 255
BACKOFF_FIRST = 0.25        # seconds, doubled at each failure in a row
BACKOFF_CAP = 5.0
RETRY_CAP = 30.0            # the longest Retry-After honoured
CONNECT_TIMEOUT = 10.0
REQUEST_TIMEOUT = 30.0

FULL_CELL = "\u2588"
EMPTY_CELL = "\u2591"
TERMINAL_STATUSES = ("completed", "failed", "cancelled")

USAGE = """\
usage: {prog} [--url URL] [--token TOKEN] [--request JSON|@FILE]
                [--interval SECONDS] [--give-up SECONDS] [--json] [JOB_ID]

Watches a training job's progress until it ends.  Without JOB_ID, starts a
job first (POST /api/v2/training/jobs with the --request body, default {{}}).

  --url URL           the API's base URL (default $TP_BASE_URL, else
                      {default})
  --token TOKEN       a bearer token, sent with every request; needed to
                      start a job (default $TP_TOKEN)
  --request JSON      the body that starts the job; @FILE reads it from FILE
  --interval SECONDS  between polls (default 2, at least 0.1)
  --give-up SECONDS   network failures in a row for this long end it
                      (default 60)
  --json              each new document as one line of JSON

Each new document is printed as the spec's block with a 50-cell bar, then
the outcome when the job ends.

Exit status: 0 the job completed, 1 it failed or was cancelled, 2 bad
usage, an unknown job, a refusal, or a network that stayed down,
130 interrupted (the job goes on).
"""

# The long options, and whether each takes a value (getopt_long's table).
LONG_OPTIONS = {
    "url": True,
    "token": True,
    "request": True,
    "interval": True,
    "give-up": True,
    "json": False,
    "help": False,
}


class UsageError(Exception):
    """A bad command line: the message, then exit 2."""


# --- messages ------------------------------------------------------------------


def note(message):
    """Prints "test_progress_tracking: <message>" on stderr."""
    try:
        sys.stderr.write("%s: %s\n" % (PROGNAME, message))
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def fail(status, message):
    """note(message), and returns status."""
    note(message)
    return status


def usage_text():
    return USAGE.format(prog=PROGNAME, default=DEFAULT_BASE_URL)


def _out(text):
    """Writes text to stdout as UTF-8 bytes (as the C tool does), flushed."""
    data = text.encode("utf-8", "surrogateescape") if _encodable(text) else \
        text.encode("utf-8", "backslashreplace")
    buf = getattr(sys.stdout, "buffer", None)
    if buf is not None:
        sys.stdout.flush()
        buf.write(data)
        buf.flush()
    else:  # a stdout replaced by a text stream (tests)
        sys.stdout.write(text)
        sys.stdout.flush()


def _encodable(text):
    try:
        text.encode("utf-8", "surrogateescape")
        return True
    except UnicodeEncodeError:
        return False


# --- JSON as cJSON reads and prints it -----------------------------------------


class JsonObject(dict):
    """A JSON object: lookups see a key's first occurrence (as cJSON's do),
    and the members are kept in order, duplicates included, for printing."""

    __slots__ = ("pairs",)

    def __init__(self, pairs):
        super().__init__()
        self.pairs = list(pairs)
        for key, value in self.pairs:
            if key not in self:
                dict.__setitem__(self, key, value)


def _no_constant(name):
    raise ValueError("%s is not JSON" % name)


_DECODER = json.JSONDecoder(object_pairs_hook=JsonObject, parse_int=float,
                            parse_constant=_no_constant)


def parse_json(text):
    """One JSON value, the whole of text (whitespace around it aside); numbers
    as floats, as cJSON holds them.  Raises ValueError."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    return _DECODER.decode(text)


def _c_g(value, precision):
    return "%1.*g" % (precision, value)


def format_number(d):
    """A number as cJSON_PrintUnformatted writes it."""
    d = float(d)
    if math.isnan(d) or math.isinf(d):
        return "null"
    # cJSON's valueint: the double saturated to an int, then truncated.
    if d >= 2147483647.0:
        valueint = 2147483647
    elif d <= -2147483648.0:
        valueint = -2147483648
    else:
        valueint = int(d)
    if d == float(valueint):
        return "%d" % valueint
    text = _c_g(d, 15)
    test = float(text)
    biggest = max(abs(test), abs(d))
    if not abs(test - d) <= biggest * sys.float_info.epsilon:
        text = _c_g(d, 17)
    return text


def _format_string(s):
    # cJSON's escaping is exactly json's with ensure_ascii=False: \" \\ \b \f \n
    # \r \t, \u00xx (lower-case hex) for the other control characters, and
    # everything else (DEL, U+2028, lone surrogates) as it is.
    return json.dumps(s, ensure_ascii=False)


def dump_json(value):
    """value compactly, as cJSON_PrintUnformatted writes it."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return format_number(value)
    if isinstance(value, str):
        return _format_string(value)
    if isinstance(value, list):
        return "[" + ",".join(dump_json(v) for v in value) + "]"
    if isinstance(value, dict):
        pairs = value.pairs if isinstance(value, JsonObject) else value.items()
        return "{" + ",".join(_format_string(k) + ":" + dump_json(v)
                              for k, v in pairs) + "}"
    raise TypeError("not a JSON value: %r" % (value,))


# --- the progress document -------------------------------------------------------


def _num(doc, key):
    """A number member of doc, or None when absent, null or not a number."""
    v = doc.get(key) if isinstance(doc, dict) else None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return None if math.isnan(v) else v


def _str(doc, key):
    """A string member of doc, or None."""
    v = doc.get(key) if isinstance(doc, dict) else None
    return v if isinstance(v, str) else None


def _int_text(doc, key):
    """A whole number as text, "?" when absent (C's "%.0f")."""
    v = _num(doc, key)
    return "?" if v is None else "%.0f" % v


def _lround(x):
    """C's lround(): halves away from zero."""
    f = math.floor(x)
    return int(f) + 1 if x - f >= 0.5 else int(f)


def is_terminal(status):
    return status in TERMINAL_STATUSES


def bar(percentage):
    """The 50-cell bar of a percentage: round(percentage / 2) cells full."""
    pct = 0.0 if percentage is None else float(percentage)
    cells = _lround(min(max(pct, 0.0), 100.0) / 2)
    return "[" + FULL_CELL * cells + EMPTY_CELL * (50 - cells) + "]"


def outcome_line(doc, job_id):
    """The line after the last block: how the job ended; None while it runs."""
    status = _str(doc, "status")
    if not is_terminal(status):
        return None
    if status != "completed":
        err = _str(doc, "error_message")
        return "Job %s %s: %s" % (job_id, status, err if err is not None else "(no message)")
    best = _num(doc, "best_score")
    if best is None:
        return "Job %s completed." % job_id
    params = dump_json(doc["best_params"]) if "best_params" in doc else "null"
    return "Job %s completed. Best score: %.4f  Best params: %s" % (job_id, best, params)


def render_block(doc, job_id=None, clock=None):
    """The spec's block for a progress document, as tp-watch prints it on a
    terminal, ending in a newline; followed by the outcome line when the job
    has ended.  clock is the "HH:MM:SS" shown (default: the local time now);
    job_id names the job in the outcome (default: the document's job_id)."""
    if clock is None:
        clock = time.strftime("%H:%M:%S", time.localtime())
    if job_id is None:
        job_id = _str(doc, "job_id") or "?"
    status = _str(doc, "status") or ""
    pct = _num(doc, "percentage")
    spct = _num(doc, "step_percentage")
    pct = 0.0 if pct is None else pct
    spct = 0.0 if spct is None else spct
    step = _str(doc, "current_step")
    lines = ["[%s] Step %s/%s: %s" % (clock, _int_text(doc, "step_number"),
                                       _int_text(doc, "total_steps"),
                                       step if step is not None else "?")]
    if status != "running" and not is_terminal(status):
        lines.append("  Status: %s" % status)
    lines.append("  Overall: %.1f%%  |  Step: %.1f%%" % (pct, spct))
    it = _num(doc, "current_iteration")
    if it is not None:
        lines.append("  Iteration: %.0f/%s" % (it, _int_text(doc, "total_iterations")))
    best = _num(doc, "best_score")
    if best is not None:
        lines.append("  Best Score: %.4f" % best)
    cur = _num(doc, "current_score")
    if cur is not None:
        lines.append("  Current Score: %.4f" % cur)
    eta = _str(doc, "estimated_completion")
    if eta is not None:
        # To the second, as the spec shows it: the fraction is noise to a reader.
        dot = eta.find(".")
        if dot >= 0 and eta.endswith("Z"):
            lines.append("  ETA: %sZ" % eta[:dot])
        else:
            lines.append("  ETA: %s" % eta)
    lines.append("  %s %.1f%%" % (bar(pct), pct))
    end = outcome_line(doc, job_id)
    if end is not None:
        lines.append(end)
    return "\n".join(lines) + "\n"


# --- HTTP ------------------------------------------------------------------------------


class Response:
    """What one HTTP exchange brought back: code 0 and error set when no
    answer came (error_kind "connect" when no connection was made)."""

    def __init__(self):
        self.code = 0
        self.body = b""
        self.too_big = False
        self.etag = ""
        self.retry_after = -1.0
        self.error = None
        self.error_kind = None

    def failed_network(self):
        return self.error is not None

    def json_body(self):
        try:
            return parse_json(self.body)
        except (ValueError, UnicodeDecodeError):
            return None


def _retry_after(value):
    """Retry-After in whole seconds (digits only), or -1."""
    if value and re.fullmatch(r"[0-9]+", value.strip(" \t")):
        return float(int(value.strip(" \t")))
    return -1.0


class Watcher:
    """Watches one job: the state between polls, as tp-watch's struct watch."""

    def __init__(self, base, token=None, interval=2.0, give_up=60.0, json_out=False):
        self.base = base.rstrip("/")
        parts = urllib.parse.urlsplit(self.base)
        self.scheme = parts.scheme.lower()
        self.host = parts.hostname or ""
        self.port = parts.port
        self.prefix = parts.path
        self.token = token or None
        self.interval = interval
        self.give_up = give_up
        self.json_out = json_out
        self.job = None
        self.job_enc = None
        self.last = None        # the last document shown, compact
        self.last_seq = -1
        self.etag = ""          # the ETag of the last 200
        self.status = None      # the exit status, once known
        self.fail_since = 0.0   # when the failures in a row began; 0: none
        self.backoff_next = BACKOFF_FIRST

    # -- plumbing --

    def set_job(self, job_id):
        self.job = job_id
        raw = os.fsencode(job_id) if isinstance(job_id, str) else job_id
        self.job_enc = urllib.parse.quote(raw, safe="")

    def job_path(self):
        return "%s%s/%s/progress" % (self.prefix, API_PATH, self.job_enc)

    def _connection(self):
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=CONNECT_TIMEOUT)
        return http.client.HTTPConnection(self.host, self.port, timeout=CONNECT_TIMEOUT)

    def exchange(self, method, path, headers, body=None):
        """One HTTP exchange: a Response (never raises for network errors)."""
        r = Response()
        headers = dict(headers)
        headers["User-Agent"] = "%s/1" % PROGNAME
        if self.token:
            headers["Authorization"] = "Bearer %s" % self.token
        conn = self._connection()
        started = time.monotonic()
        try:
            try:
                conn.connect()
            except OSError as e:
                r.error = self._connect_error(e, started)
                r.error_kind = "connect"
                return r
            deadline = started + REQUEST_TIMEOUT
            sock = conn.sock    # http.client lets go of it once the answer is read
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                r.code = resp.status
                r.etag = (resp.getheader("ETag") or "").strip(" \t")
                r.retry_after = _retry_after(resp.getheader("Retry-After"))
                chunks, size = [], 0
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise socket.timeout("timed out")
                    sock.settimeout(left)
                    chunk = resp.read1(65536)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > MAX_BODY:
                        r.too_big = True
                        break
                    chunks.append(chunk)
                r.body = b"".join(chunks)
            except socket.timeout:
                r.code = 0
                r.error = "Operation timed out after %d milliseconds" % \
                    int((time.monotonic() - started) * 1000)
            except (OSError, http.client.HTTPException) as e:
                r.code = 0
                r.error = self._transfer_error(e)
        finally:
            conn.close()
        return r

    def _connect_error(self, e, started):
        ms = int((time.monotonic() - started) * 1000)
        if isinstance(e, socket.gaierror):
            return "Could not resolve host: %s" % self.host
        if isinstance(e, socket.timeout):
            return "Failed to connect to %s port %s after %d ms: Timeout was reached" % (
                self.host, self._port_number(), ms)
        reason = "Couldn't connect to server"
        if not isinstance(e, ConnectionRefusedError) and e.strerror:
            reason = e.strerror
        return "Failed to connect to %s port %s after %d ms: %s" % (
            self.host, self._port_number(), ms, reason)

    def _port_number(self):
        if self.port is not None:
            return self.port
        return 443 if self.scheme == "https" else 80

    @staticmethod
    def _transfer_error(e):
        if isinstance(e, http.client.RemoteDisconnected):
            return "Empty reply from server"
        if isinstance(e, ConnectionResetError):
            return "Recv failure: Connection reset by peer"
        if isinstance(e, http.client.IncompleteRead):
            return "transfer closed with outstanding read data remaining"
        return str(e) or e.__class__.__name__

    # -- failures --

    @staticmethod
    def server_says(r):
        """The server's words from an error body, as "message (HTTP 404 not_found)"."""
        doc = r.json_body()
        m = c = None
        if isinstance(doc, dict) and "error" in doc:
            e = doc["error"]
            if isinstance(e, dict):
                c, m = e.get("code"), e.get("message")
            else:
                c, m = e, doc.get("message")
        if isinstance(m, str) and isinstance(c, str):
            return "%s (HTTP %d %s)" % (m, r.code, c)
        if isinstance(m, str):
            return "%s (HTTP %d)" % (m, r.code)
        return "the server answered HTTP %d" % r.code

    @staticmethod
    def error_code(r):
        doc = r.json_body()
        e = doc.get("error") if isinstance(doc, dict) else None
        if isinstance(e, dict):
            e = e.get("code")
        return e if isinstance(e, str) else ""

    @staticmethod
    def transient(r):
        """A failure that may pass: nothing answered, or 502, 503, 504, 429."""
        return r.failed_network() or r.code in (502, 503, 504, 429)

    @classmethod
    def read_transient(cls, r):
        """Reads also wait out a 500 (a web server restarting)."""
        return cls.transient(r) or r.code == 500

    def describe(self, r):
        return r.error if r.failed_network() else self.server_says(r)

    def backoff(self, r):
        """A note, then a pause: 0 to try again, or EXIT_ERROR after
        --give-up seconds of failures in a row."""
        why = self.describe(r)
        t = time.monotonic()
        if self.fail_since == 0:
            self.fail_since = t
            self.backoff_next = BACKOFF_FIRST
        left = self.fail_since + self.give_up - t
        if left <= 0:
            return fail(EXIT_ERROR, "giving up after %.1f s of failures: %s" % (
                t - self.fail_since, why))
        pause = self.backoff_next
        if r.retry_after >= 0:
            pause = min(max(r.retry_after, BACKOFF_FIRST), RETRY_CAP)
        self.backoff_next = min(self.backoff_next * 2, BACKOFF_CAP)
        pause = min(pause, left)
        note("%s; trying again in %.1f s" % (why, pause))
        time.sleep(pause)
        return 0

    def recovered(self):
        if self.fail_since != 0:
            note("reached the server again")
        self.fail_since = 0

    def refused(self, r, what):
        """A refusal that will not pass: the server's message, and exit 2."""
        why = self.server_says(r)
        if r.code == 404 and self.error_code(r) == "not_found":
            return fail(EXIT_ERROR, "job %s: %s" % (self.job, why))
        return fail(EXIT_ERROR, "%s: %s" % (what, why))

    # -- documents --

    def show(self, body):
        """A progress document as received: shown when it is new.  False to go
        on; True once the exit status is known (the job ended, or the answer
        is not a progress document)."""
        try:
            text = body.decode("utf-8")
            doc = parse_json(text)
        except (ValueError, UnicodeDecodeError):
            doc = None
        status = _str(doc, "status") if isinstance(doc, dict) else None
        if status is None:
            shown = body[:80].decode("utf-8", "replace")
            self.status = fail(EXIT_ERROR, "the server sent something that is not a "
                                           "progress document: %s" % shown)
            return True
        seq = _num(doc, "seq")
        if seq is not None and not math.isinf(seq) and int(seq) < self.last_seq:
            return False    # an older document: each is shown once
        if "\n" in text or "\r" in text:
            compact = dump_json(doc)
        else:
            compact = text
        if self.last is not None and compact == self.last:
            return False
        try:
            if self.json_out:
                _out(compact + "\n")
            else:
                _out(render_block(doc, self.job))
        except OSError as e:
            self.status = fail(EXIT_ERROR, "cannot write the output: %s" % (
                e.strerror or e))
            return True
        self.last = compact
        if seq is not None and not math.isinf(seq):
            self.last_seq = int(seq)
        if is_terminal(status):
            self.status = EXIT_COMPLETED if status == "completed" else EXIT_FAILED
            return True
        return False

    # -- watching --

    def poll_once(self):
        """One GET of the progress, with If-None-Match: 0 to go on, else an
        exit status.  Transient failures are waited out here."""
        while True:
            headers = {"Accept": "application/json"}
            if self.etag:
                headers["If-None-Match"] = self.etag
            r = self.exchange("GET", self.job_path(), headers)
            if r.too_big:
                return fail(EXIT_ERROR, "the answer is larger than %d bytes" % MAX_BODY)
            if self.read_transient(r):
                rc = self.backoff(r)
                if rc != 0:
                    return rc
                continue
            self.recovered()
            if r.code == 304:
                return 0
            if r.code == 200:
                self.etag = r.etag
                return self.status if self.show(r.body) else 0
            return self.refused(r, "GET progress")

    def watch(self):
        """Polls every interval until the job ends: the exit status."""
        while True:
            nxt = time.monotonic() + self.interval
            rc = self.poll_once()
            if rc != 0 or self.status is not None:
                return self.status if self.status is not None else rc
            pause = nxt - time.monotonic()
            if pause > 0:
                time.sleep(pause)

    def start_job(self, body):
        """POST /api/v2/training/jobs: starts a job and sets self.job; 0 or an
        exit status.  Only a POST that surely did not reach the server (no
        connection, 502) is sent again, or any failed one when the request
        names its job_id (then the server knows a repeat)."""
        try:
            req = parse_json(body)
        except (ValueError, UnicodeDecodeError):
            req = None
        idempotent = isinstance(req, dict) and isinstance(req.get("job_id"), str)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        path = self.prefix + API_PATH
        while True:
            try:
                r = self.exchange("POST", path, headers, body)
            except KeyboardInterrupt:
                return fail(EXIT_INTERRUPTED, "stopped before the server answered: the "
                                              "job may or may not have started")
            if self.transient(r) and (idempotent or r.error_kind == "connect" or
                                      r.code == 502):
                rc = self.backoff(r)
                if rc != 0:
                    return rc
                continue
            if r.failed_network():
                return fail(EXIT_ERROR, "starting a job: %s (it may or may not have "
                                        "started)" % r.error)
            self.recovered()
            if r.code not in (200, 201):
                return self.refused(r, "starting a job")
            doc = r.json_body()
            job_id = _str(doc, "job_id") if isinstance(doc, dict) else None
            if not job_id:
                return fail(EXIT_ERROR, "starting a job: the answer (HTTP %d) names no "
                                        "job_id" % r.code)
            self.set_job(job_id)
            note("started job %s%s" % (job_id, " (already started by the same request)"
                                       if r.code == 200 else ""))
            return 0


# --- the command line ------------------------------------------------------------------

_DECIMAL = re.compile(r"[ \t\n\v\f\r]*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_secs(text, lo, hi):
    """A number of seconds in [lo, hi] (as strtod reads it), or None."""
    if _DECIMAL.fullmatch(text):
        value = float(text)
    else:
        try:
            value = float.fromhex(text.lstrip(" \t\n\v\f\r"))
        except (ValueError, OverflowError):
            return None
    if not math.isfinite(value) or value < lo or value > hi:
        return None
    return value


def parse_args(argv):
    """getopt_long's reading of argv ("+" ordering: options end at the first
    operand): a list of (name, value) and the operands.  Raises UsageError."""
    opts, i = [], 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            i += 1
            break
        if a.startswith("--"):
            name, eq, value = a[2:].partition("=")
            if name in LONG_OPTIONS:
                match = name
            else:
                found = [n for n in LONG_OPTIONS if n.startswith(name)] if name else []
                if len(found) != 1:
                    raise UsageError('unknown option "%s" (try --help)' % a)
                match = found[0]
            if LONG_OPTIONS[match]:
                if not eq:
                    if i + 1 >= len(argv):
                        raise UsageError("%s needs a value (try --help)" % a)
                    i += 1
                    value = argv[i]
            elif eq:
                raise UsageError('option "--%s" takes no value (try --help)' % match)
            opts.append((match, value))
            i += 1
            continue
        if a.startswith("-") and a != "-":
            for ch in a[1:]:
                if ch != "h":
                    raise UsageError('unknown option "-%s" (try --help)' % ch)
                opts.append(("help", None))
            i += 1
            continue
        break
    return opts, argv[i:]


def request_body(arg):
    """The body of --request: the text, or @FILE's contents (bytes).
    Raises UsageError."""
    if arg is None:
        return b"{}"
    if arg.startswith("@"):
        name = arg[1:]
        try:
            with open(name, "rb") as fp:
                data = fp.read(MAX_REQUEST + 1)
        except OSError as e:
            raise UsageError("--request: cannot read %s: %s" % (name, e.strerror or e))
        if len(data) > MAX_REQUEST:
            raise UsageError("--request: %s: larger than 64 KiB" % name)
    else:
        data = os.fsencode(arg)
    try:
        text = data.decode("utf-8")
        doc, _ = _DECODER.raw_decode(text.lstrip(" \t\n\r"))
    except (ValueError, UnicodeDecodeError):
        doc = None
    if not isinstance(doc, dict):
        raise UsageError("--request must be a JSON object, not %s" %
                         data[:60].decode("utf-8", "replace"))
    return data


def _check_job_id(job_id):
    raw = os.fsencode(job_id)
    if not 1 <= len(raw) <= MAX_JOB_ID:
        raise UsageError("JOB_ID must be 1 to %d bytes, not %d" % (MAX_JOB_ID, len(raw)))
    if any(b < 0x20 or b == 0x7F for b in raw):
        raise UsageError("JOB_ID must not hold a control character")


def configure(argv, environ=None):
    """The Watcher and the --request body (None when watching a given job)
    for a command line; None, None after --help.  Raises UsageError."""
    environ = os.environ if environ is None else environ
    base = environ.get("TP_BASE_URL") or None
    token = environ.get("TP_TOKEN")
    reqarg = None
    interval, give_up, json_out = 2.0, 60.0, False
    opts, operands = parse_args(argv)
    for name, value in opts:
        if name == "url":
            base = value
        elif name == "token":
            token = value
        elif name == "request":
            reqarg = value
        elif name == "json":
            json_out = True
        elif name == "interval":
            interval = parse_secs(value, 0.1, 86400)
            if interval is None:
                raise UsageError('--interval must be seconds from 0.1 to 86400, not "%s" '
                                 '(try --help)' % value)
        elif name == "give-up":
            give_up = parse_secs(value, 0, 86400 * 7)
            if give_up is None:
                raise UsageError('--give-up must be seconds from 0 to 604800, not "%s" '
                                 '(try --help)' % value)
        elif name == "help":
            return None, None
    if len(operands) > 1:
        raise UsageError('one JOB_ID at most, not "%s" too (try --help)' % operands[1])
    if base is None or base == "":
        base = DEFAULT_BASE_URL
    if not (base.startswith("http://") or base.startswith("https://")):
        raise UsageError('--url must start with http:// or https://, not "%s"' % base)
    try:
        urllib.parse.urlsplit(base).port
    except ValueError:
        raise UsageError('--url has a bad port: "%s"' % base)
    # A token goes on every request: a server may want one for reads too.
    if token:
        if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in token):
            raise UsageError("the token must not hold spaces or control characters")
        if len(os.fsencode(token)) > 480:
            raise UsageError("the token is longer than 480 bytes")
    w = Watcher(base, token, interval, give_up, json_out)
    body = None
    if operands:
        _check_job_id(operands[0])
        if reqarg is not None:
            raise UsageError("--request starts a job: give it without JOB_ID")
        w.set_job(operands[0])
    else:
        if not token:
            raise UsageError("starting a job needs a token: give --token or set TP_TOKEN "
                             "(or name a JOB_ID to watch)")
        body = request_body(reqarg)
    return w, body


def main(argv):
    """Runs the watcher on argv (without the program's name): the exit status."""
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:      # not the main thread
        pass
    w = None
    try:
        try:
            w, body = configure(argv)
        except UsageError as e:
            note(str(e))
            sys.stderr.write(usage_text())
            return EXIT_ERROR
        if w is None:
            _out(usage_text())
            return 0
        rc = 0
        if w.job is None:
            rc = w.start_job(body)
        if rc == 0:
            rc = w.watch()
    except KeyboardInterrupt:
        rc = EXIT_INTERRUPTED
    except OSError as e:    # stdout gone, say
        rc = fail(EXIT_ERROR, "cannot write the output: %s" % (e.strerror or e))
    if rc == EXIT_INTERRUPTED and w is not None and w.job is not None:
        note("stopped watching job %s (it goes on)" % w.job)
    if rc == EXIT_ERROR:
        _quiet_stdout()
    return rc


def _quiet_stdout():
    """After a failed write, keeps the interpreter's last flush from failing."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
