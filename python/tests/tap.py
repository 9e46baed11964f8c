"""tap.py: runs the Python suites and prints one line per test for t/e2e.

    python3 -m tests.tap            (from python/, with PYTHONPATH=.)

Each line is "PASS\t<test>", "FAIL\t<test>\t<why>" or "SKIP\t<test>\t<why>"
(a failed subtest is a FAIL line naming it, "<test> (mode='http')");
the exit status is 0 when the run got to the end (failures included).
"""

import sys
import unittest


class Result(unittest.TestResult):
    """One line per test; a test with failed subtests is a FAIL line for each,
    and a test that ended with no verdict at all is a FAIL too."""

    def _name(self, test):
        return test.id().replace("tests.", "", 1)

    def startTest(self, test):
        super().startTest(test)
        self._said = False

    def stopTest(self, test):
        if not self._said:
            self._print("FAIL", self._name(test), "the test ended without a verdict")
        super().stopTest(test)

    def _print(self, verdict, name, why=None):
        self._said = True
        print(f"{verdict}\t{name}" + ("" if why is None else f"\t{why}"), flush=True)

    def addSuccess(self, test):
        self._print("PASS", self._name(test))

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._fail(test, err)

    def addError(self, test, err):
        super().addError(test, err)
        self._fail(test, err)

    def addSubTest(self, test, subtest, err):
        # unittest calls neither addSuccess nor addFailure for a test whose
        # subtests failed: without this, such a test would just vanish.
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._fail(subtest, err, self._name(test) + " " + subtest._subDescription())

    def _fail(self, test, err, name=None):
        why = self._exc_info_to_string(err, test).strip().splitlines()
        self._print("FAIL", name or self._name(test), " | ".join(why[-3:]))

    def addSkip(self, test, reason):
        self._print("SKIP", self._name(test), reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._print("PASS", self._name(test) + " (failed, as expected)")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._print("FAIL", self._name(test), "expected to fail, it passed")


def main():
    suite = unittest.defaultTestLoader.discover("tests", top_level_dir=".")
    suite.run(Result())
    return 0


if __name__ == "__main__":
    sys.exit(main())
