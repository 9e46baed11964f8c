"""bench_python.py: what the Python ProgressTracker's update() costs its caller.

    PYTHONPATH=python python3 bench/bench_python.py [-n CALLS]

Times each call of SyncProgressTracker.update() (libtrainprog through
ctypes) and of the async ProgressTracker's awaited update(), against the
database of $DATABASE_URL, the sender writing meanwhile.  Prints TSV lines
"python <metric> <value>" for bench/run: p50, p99, p99.9 and max in
microseconds, and the writes made.  Asserts nothing about timings.
"""

import argparse
import asyncio
import os
import sys
import time

import trainprog


def pct(sorted_ns, q):
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1000


def report(name, ns, writes):
    ns.sort()
    for label, q in (("p50", 0.5), ("p99", 0.99), ("p999", 0.999)):
        print(f"python\t{name}_{label}_us\t{pct(ns, q):.2f}")
    print(f"python\t{name}_max_us\t{ns[-1] / 1000:.2f}")
    print(f"python\t{name}_writes\t{writes}")


def sync_round(n):
    t = trainprog.SyncProgressTracker(f"bench-py-sync-{os.getpid()}")
    t.start("optimization", {"optimizer": "bench"})
    ns = []
    clock = time.perf_counter_ns
    for i in range(1, n + 1):
        t0 = clock()
        t.update(step_percentage=100.0 * i / n, iteration=i, total_iterations=n,
                 current_score=i / n, best_score=1.0)
        ns.append(clock() - t0)
    t.complete()
    writes = t.stats()["writes"]
    t.close()
    return ns, writes


async def async_round(n):
    p = trainprog.ProgressTracker(f"bench-py-async-{os.getpid()}")
    await p.start("optimization", {"optimizer": "bench"})
    ns = []
    clock = time.perf_counter_ns
    for i in range(1, n + 1):
        t0 = clock()
        await p.update(step_percentage=100.0 * i / n, iteration=i, total_iterations=n,
                       current_score=i / n, best_score=1.0)
        ns.append(clock() - t0)
    await p.complete()
    writes = p.stats()["writes"]
    await p.close()
    return ns, writes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=100000)
    a = ap.parse_args()
    if not 1 <= a.n <= 10_000_000:
        print("bench_python: -n 1..10000000", file=sys.stderr)
        return 2
    print(f"python\tcalls\t{a.n}")
    report("sync", *sync_round(a.n))
    report("async", *asyncio.run(async_round(a.n)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
