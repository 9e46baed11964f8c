"""tap.py: runs the Python suites and prints one line per test for t/e2e.

    python3 -m tests.tap            (from python/, with PYTHONPATH=.)

Each line is "PASS\t<test>", "FAIL\t<test>\t<why>" or "SKIP\t<test>\t<why>";
the exit status is 0 when the run got to the end (failures included).
"""

import sys
import unittest


class Result(unittest.TestResult):
    def _name(self, test):
        return test.id().replace("tests.", "", 1)

    def addSuccess(self, test):
        print(f"PASS\t{self._name(test)}", flush=True)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._fail(test, err)

    def addError(self, test, err):
        super().addError(test, err)
        self._fail(test, err)

    def _fail(self, test, err):
        why = self._exc_info_to_string(err, test).strip().splitlines()
        print(f"FAIL\t{self._name(test)}\t{' | '.join(why[-3:])}", flush=True)

    def addSkip(self, test, reason):
        print(f"SKIP\t{self._name(test)}\t{reason}", flush=True)


def main():
    suite = unittest.defaultTestLoader.discover("tests", top_level_dir=".")
    suite.run(Result())
    return 0


if __name__ == "__main__":
    sys.exit(main())
