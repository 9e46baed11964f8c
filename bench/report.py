#!/usr/bin/env python3
"""report.py: bench/REPORT.md and bench/chart.svg from the numbers bench/run measured.

Standard library only.  Every number in the report comes from the run that
wrote --results; the prose that explains them is bench/NOTES.md.
"""
import argparse
import csv
import html
import math
import statistics
import sys

TARGETS = {
    "php": 3.0,        # at least 3x the PHP-FPM peer's requests/s
    "static": 0.35,    # at least 0.35x nginx's static file
    "p99_ms": 10.0,    # p99 at most 10 ms
    "drop": 0.10,      # 10,000 -> 1,000,000 rows: at most 10 % fewer requests/s
    "rss_kib": 4096,   # each worker under 4 MiB
    "writers": 0.9,    # upserts/s with the change feed at least 0.9x without it
    "push_p99_ms": 250.0,  # write to subscriber, p99
    "push_cpu": 0.2,   # push's server CPU per watcher-second at most 1/5 of polling's
    "trainer_overhead": 0.01,  # the tracker's cost to the trainer's loop: under 1 %
}


def push_section(path, m, w):
    """Section 6: the change feed's cost to writers, push, push against polling."""
    writers, watch, floor = {}, {}, {}
    try:
        lines = open(path).read().splitlines()
    except (OSError, TypeError):
        return
    for line in lines:
        f = line.split("\t")
        if f[0] == "writers" and len(f) == 4:
            writers.setdefault(f[1], []).append(float(f[3]))
        elif f[0] == "watch" and len(f) == 4:
            watch.setdefault(f[1], {})[f[2]] = f[3]
        elif f[0] == "floor" and len(f) == 4:
            floor.setdefault(f[1], {})[f[2]] = f[3]
    if not writers and not watch:
        return
    n = int(m.get("push_watchers", "0") or 0)
    secs = float(m.get("push_secs", "0") or 0)
    checks = []

    def check(name, ok, got):
        checks.append([name, got, "met" if ok else "**not met**"])

    def med(xs):
        xs = sorted(xs)
        return xs[len(xs) // 2] if xs else 0.0

    def num(d, k, default=0.0):
        try:
            return float(d.get(k, "").split()[0])
        except (ValueError, IndexError):
            return default

    w("## Live streams (section 6)")
    w("")
    if writers:
        on, off, trig = med(writers.get("on", [])), med(writers.get("off", [])), \
            med(writers.get("trigger", []))
        if off > 0:
            check(">= 0.9x the writers' upserts/s with the change feed on (32 clients)",
                  on / off >= TARGETS["writers"], "%.2fx (%.0f vs %.0f)" % (on / off, on, off))
        w("**6a, writers.** pgbench, 32 clients upserting at random among %s jobs "
          "(`bench/pgbench-upsert.sql`, asynchronous commit), %s s a run, the three modes in "
          "turn, %d rounds, medians. *on*: tp-notify reads the slot, publishes each change to "
          "nchan and notifies the pools; *off*: no feed (tp-notify stopped, its slot dropped); "
          "*trigger*: the NOTIFY trigger that schema/007 removed, put back."
          % (format(int(m.get("writers_jobs", "0") or 0), ","), m.get("writers_secs", "?"),
             len(writers.get("on", []))))
        w("")
        body = []
        for mode in ("off", "on", "trigger"):
            xs = writers.get(mode, [])
            if xs:
                body.append([mode, "%.0f" % med(xs), " ".join("%.0f" % x for x in xs),
                             "%.2f" % (med(xs) / off) if off else ""])
        w(table(["feed", "upserts/s (median)", "rounds", "of off"], body))
        w("")
    sse, poll = watch.get("sse", {}), watch.get("poll", {})
    if sse:
        lat = sse.get("latency_ms", "").split()
        latd = dict(zip(lat[0::2], lat[1::2]))
        p99 = float(latd["p99"]) if latd.get("p99", "-") != "-" else None
        msgs, gaps, reord = num(sse, "messages"), num(sse, "gaps"), num(sse, "reordered")
        behind = num(sse, "behind")
        check("every subscriber gets every update, in order", gaps == 0 and reord == 0 and
              behind == 0 and msgs > 0,
              "%.0f messages to %.0f subscribers; %.0f lost, %.0f reordered, %.0f behind at the end"
              % (msgs, num(sse, "connected"), gaps, reord, behind))
        if p99 is not None:
            check("write to subscriber p99 <= 250 ms", p99 <= TARGETS["push_p99_ms"],
                  "p50 %s ms, p99 %s ms, max %s ms" % (latd.get("p50"), latd.get("p99"),
                                                    latd.get("max")))
        rss = num(sse, "rss_kb")
        w("**6b, push.** %s subscribers (Server-Sent Events, `t/tools/subload`) over %s jobs, "
          "each job updated twice a second on average (`bench/pgbench-push.sql` at %s updates/s, "
          "jobs picked at random) for %.0f s: %.0f updates written, %.0f messages received. "
          "Latency is from the write's `clock_timestamp()` (its `updated_at`) to the document's "
          "arrival: commit, logical decoding, tp-notify, nchan, the subscriber's socket. nginx's "
          "workers grew by %.0f KiB for the subscribers: %.1f KiB each."
          % (format(n, ","), m.get("push_jobs"), 2 * int(m.get("push_jobs", "0") or 0), secs,
             num(sse, "updates"), msgs, rss, rss / n if n else 0))
        w("")
    if sse and poll and n and secs:
        per_msg = 1e6 * num(sse, "cpu_s") / max(num(sse, "messages"), 1)
        a = num(sse, "cpu_s") / (n * secs)
        b = num(poll, "cpu_s") / (n * secs)
        if b > 0:
            check("push's server CPU per watcher-second <= 1/5 of polling's",
                  a / b <= TARGETS["push_cpu"],
                  "%.2f vs %.2f us: %.3fx" % (a * 1e6, b * 1e6, a / b))
        w("**6c, push against polling.** The same watchers as 2-s pollers with `If-None-Match` "
          "(%.0f requests; statuses %s), the same writer. Server CPU is nginx, tp-notify, the "
          "pool and PostgreSQL (utime + stime of all their processes) during the writer's "
          "%.0f s: push %.1f s, polling %.1f s."
          % (num(poll, "requests"), ", ".join("%s: %s" % (k[7:], v) for k, v in sorted(poll.items())
                                               if k.startswith("status_")) or "-",
             secs, num(sse, "cpu_s"), num(poll, "cpu_s")))
        w("")
        ss, ps = watch.get("sse-slow", {}), watch.get("poll-slow", {})
        if ss and ps and num(ps, "cpu_s") > 0:
            w("**6c', the same at one update per job every 2 s** (the pollers' own rate, "
              "%.0f updates): push %.1f s (%.0f messages, %.0f lost, %.0f reordered), polling "
              "%.1f s (%.0f requests): push's CPU per watcher-second is %.3fx polling's. "
              "Push's cost follows the updates it delivers (%.1f us of server CPU a message "
              "at 2 a second); polling's follows the watchers."
              % (num(ss, "updates"), num(ss, "cpu_s"), num(ss, "messages"), num(ss, "gaps"),
                 num(ss, "reordered"), num(ps, "cpu_s"), num(ps, "requests"),
                 num(ss, "cpu_s") / num(ps, "cpu_s"), per_msg))
            w("")
        tcp, unix = floor.get("tcp", {}), floor.get("unix", {})
        if tcp and b > 0:
            f_tcp = num(tcp, "us_per_message")
            rate = num(sse, "messages") / (n * secs)
            w("**6d, the floor under a message.** `bench/bench_sendfloor` sends the same pattern "
              "and nothing else: a %s-byte message written to each of the %.0f connections of a "
              "job picked at random, %.0f times a second, %s connections read by another process "
              "on one epoll loop. Its CPU is %.2f us a message over loopback TCP (%.2f us over a "
              "unix socket): on this kernel a loopback sender also runs the receiving end's TCP "
              "processing. At the %.2f messages a watcher-second that 6b delivered, that is "
              "%.1f us per watcher-second, %.3fx polling's, before nginx, nchan, tp-notify or "
              "PostgreSQL spend anything; push spent %.1f us a message in all."
              % (tcp.get("bytes", "?"), num(tcp, "per_job"), num(tcp, "jobs_per_second"),
                 format(int(num(tcp, "connections")), ","),
                 f_tcp, num(unix, "us_per_message"), rate, f_tcp * rate, f_tcp * rate / (b * 1e6),
                 per_msg))
            w("")
    w(table(["target", "measured", ""], checks) if checks else "")
    w("")


def load(path):
    """The runs, one row per (target, case, conns): a case measured in several
    rounds is their median (errors and requests: their sums)."""
    with open(path, newline="") as f:
        raw = list(csv.DictReader(f, delimiter="\t"))
    groups = {}
    for r in raw:
        for k in ("rps", "server_cpu_us", "app_cpu_us"):
            r[k] = float(r[k])
        for k in ("conns", "p50_us", "p99_us", "errors", "requests"):
            r[k] = int(float(r[k]))
        groups.setdefault((r["target"], r["case"], r["conns"]), []).append(r)
    rows = []
    for (target, case, conns), rs in groups.items():
        row = {"target": target, "case": case, "conns": conns, "rounds": [x["rps"] for x in rs],
               "errors": sum(x["errors"] for x in rs), "requests": sum(x["requests"] for x in rs)}
        for k in ("rps", "server_cpu_us", "app_cpu_us", "p50_us", "p99_us"):
            row[k] = statistics.median(x[k] for x in rs)
        rows.append(row)
    return rows


def sequence(path, target):
    """One target's runs in the order they ran."""
    with open(path, newline="") as f:
        return [(r["case"], float(r["rps"]), int(float(r["errors"])))
                for r in csv.DictReader(f, delimiter="\t") if r["target"] == target]


def median_ci(xs, level=0.90):
    """The median of xs and a distribution-free interval around it: the order
    statistics x(k) and x(n-k+1) cover the true median with probability at
    least `level` when the xs are independent (binomial); (median, None, None)
    when there are too few of them for that."""
    xs = sorted(xs)
    n = len(xs)
    k, cum = 0, 0.0
    for j in range(n):
        cum += math.comb(n, j) / 2.0 ** n
        if cum > (1 - level) / 2:
            break
        k = j + 1
    med = statistics.median(xs)
    return (med, xs[k - 1], xs[n - k]) if k > 0 else (med, None, None)


def row_count_ratios(seq, a_case):
    """From runs A X A Y A ... (A: the small table): each other run over the
    mean of the A on either side of it, by case; and each A over the A two
    runs before it (the noise)."""
    by, aa = {}, []
    for i in range(1, len(seq) - 1):
        if seq[i][0] != a_case and seq[i - 1][0] == a_case and seq[i + 1][0] == a_case:
            by.setdefault(seq[i][0], []).append(seq[i][1] / ((seq[i - 1][1] + seq[i + 1][1]) / 2))
            aa.append(seq[i + 1][1] / seq[i - 1][1])
    return by, aa


def pct(x):
    return "%+.1f %%" % (100 * (x - 1))


def rounds_of(r):
    """The rounds' requests/s, when there were several."""
    return " / ".join("%.0f" % x for x in r["rounds"]) if len(r["rounds"]) > 1 else ""


def meta_of(path):
    m = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("\t")
            m[k] = v
    return m


def find(rows, target, case, conns):
    for r in rows:
        if r["target"] == target and r["case"] == case and r["conns"] == conns:
            return r
    return None


def ms(us):
    return "%.2f" % (us / 1000.0)


def rss_list(text):
    return [int(x) for x in text.split() if x.isdigit() and int(x) > 0]


def table(head, body):
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in body]
    return "\n".join(out)


def chart(rows, path, conns_levels):
    """Two panels: the peers side by side, and this stack's read matrix."""
    peers = [("static", "nginx static file"), ("project-peer", "trainprog (tp-fcgi)"),
             ("php", "PHP-FPM + pgsql"), ("fastapi", "FastAPI + asyncpg")]
    colors = {"static": "#9e9e9e", "project-peer": "#1f77b4", "php": "#ff7f0e",
              "fastapi": "#2ca02c", "hot": "#1f77b4", "random-small": "#17becf",
              "random-all": "#9467bd", "unknown": "#d62728", "revalidate": "#8c564b"}
    peer_levels = sorted({r["conns"] for r in rows if r["target"] in dict(peers)})
    own = [r for r in rows if r["target"] == "project"]
    cases = []
    for r in own:
        if r["case"] not in cases:
            cases.append(r["case"])
    W, H, pad = 900, 640, 60
    panel_h = (H - 3 * pad) / 2
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
             'font-family="sans-serif" font-size="12">' % (W, H),
             '<rect width="100%" height="100%" fill="white"/>']

    def panel(y0, title, groups, series, value):
        vmax = max([value(g, s) or 0 for g in groups for s, _ in series] + [1])
        parts.append('<text x="%d" y="%d" font-size="14" font-weight="bold">%s</text>'
                     % (pad, y0 - 10, html.escape(title)))
        gw = (W - 2 * pad) / max(len(groups), 1)
        bw = gw * 0.8 / max(len(series), 1)
        parts.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>'
                     % (pad, y0 + panel_h, W - pad, y0 + panel_h))
        for gi, g in enumerate(groups):
            gx = pad + gi * gw + gw * 0.1
            for si, (s, label) in enumerate(series):
                v = value(g, s)
                if v is None:
                    continue
                h = panel_h * v / vmax
                x = gx + si * bw
                parts.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s">'
                             '<title>%s, %s: %.0f req/s</title></rect>'
                             % (x, y0 + panel_h - h, bw * 0.9, h, colors.get(s, "#555"),
                                html.escape(label), g, v))
                parts.append('<text x="%.1f" y="%.1f" font-size="9" text-anchor="middle">%.0f</text>'
                             % (x + bw * 0.45, y0 + panel_h - h - 3, v))
            parts.append('<text x="%.1f" y="%.1f" text-anchor="middle">%s connection%s</text>'
                         % (pad + gi * gw + gw / 2, y0 + panel_h + 16, g, "" if g == 1 else "s"))
        lx = pad
        for s, label in series:
            parts.append('<rect x="%d" y="%.1f" width="10" height="10" fill="%s"/>'
                         % (lx, y0 + panel_h + 26, colors.get(s, "#555")))
            parts.append('<text x="%d" y="%.1f">%s</text>' % (lx + 14, y0 + panel_h + 35,
                                                            html.escape(label)))
            lx += 20 + 7 * len(label)

    if peer_levels:
        panel(pad, "GET progress, one hot job, behind one nginx: requests/s (higher is better)",
              peer_levels, peers,
              lambda g, s: (find(rows, s, "hot", g) or {}).get("rps"))
    else:
        parts.append('<text x="%d" y="%d">peers not measured in this run</text>' % (pad, pad))
    own_series = [(c, c) for c in cases]
    randoms = [c for c in cases if c.startswith("random")]
    for i, c in enumerate(randoms):
        colors[c] = colors["random-small"] if i == 0 and len(randoms) > 1 else colors["random-all"]
    panel(2 * pad + panel_h + 20, "GET progress through this stack's nginx: requests/s by case",
          conns_levels, own_series, lambda g, s: (find(rows, "project", s, g) or {}).get("rps"))
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


def metrics(path, groups):
    """The numeric lines "<group>\t<metric>\t<value>" of a benchmark's TSV, for
    the groups named, as {"group.metric": value}; {} when there is no file."""
    v = {}
    try:
        lines = open(path).read().splitlines()
    except (OSError, TypeError):
        return v
    for line in lines:
        f = line.split("\t")
        if len(f) == 3 and f[0] in groups:
            try:
                v[f[0] + "." + f[1]] = float(f[2])
            except ValueError:
                pass
    return v


def trainer_section(path, w):
    """Section 7: the reference trainer's backtests and the tracker's cost to it."""
    v = metrics(path, ("backtest", "trainer", "trainer0"))
    if not v:
        return
    w("## The reference trainer (section 7)")
    w("")
    rows = []
    if "backtest.backtest_per_s" in v:
        rows.append(["backtests a second, a year of hourly candles (8,760)",
                     "%.0f" % v["backtest.backtest_per_s"]])
    for k, label in (("backtest.random50_s", "a 50-call random search (s)"),
                     ("backtest.bayesian50_s", "a 50-call Bayesian search (s)")):
        if k in v:
            rows.append([label, "%.3f" % v[k]])
    if rows:
        w(table(["tools/train (bench/bench_backtest.c)", "measured"], rows))
        w("")
    if "trainer.plain_s" in v and "trainer.tracked_s" in v:
        over = v.get("trainer.overhead", v["trainer.tracked_s"] / v["trainer.plain_s"] - 1)
        w("**The tracker's cost to a trainer** (bench/bench_trainer.c): tp-trainer's Optimization "
          "loop (ask, backtest a year of hourly candles, tell, report) over %d iterations, "
          "without and with a `tp_tracker_update()` per iteration against this run's "
          "PostgreSQL, one publisher for every job as tp-trainer has, in %d rounds in which "
          "the two loops run back to back (either first); the overhead is the median of the "
          "rounds' ratios. Medians: %.4f s plain, %.4f s tracked, %d writes a round with the "
          "default `min_write_interval_ms` of %d ms (the other updates coalesced). Once a job, "
          "outside the loop, `tp_tracker_complete()` waits for its synchronous commit: %.1f ms."
          % (v.get("trainer.iterations", 0), v.get("trainer.rounds", 0), v["trainer.plain_s"],
             v["trainer.tracked_s"], v.get("trainer.writes_per_round", 0),
             v.get("trainer.interval_ms", 0), v.get("trainer.complete_ms", 0)))
        w("")
        ok = over < TARGETS["trainer_overhead"]
        rows = [["publishing progress costs the trainer under 1 %", "%+.2f %%" % (100 * over),
                 "met" if ok else "**not met**"]]
        if "trainer0.overhead" in v:
            rows.append(["the same with `min_write_interval_ms` 0 (%d writes a round)"
                         % v.get("trainer0.writes_per_round", 0),
                         "%+.2f %%" % (100 * v["trainer0.overhead"]), "for comparison"])
        w(table(["target", "measured", ""], rows))
        w("")


def python_section(path, w):
    """Section 8: the Python ProgressTracker's update(), timed per call."""
    v = {k.split(".", 1)[1]: x for k, x in metrics(path, ("python",)).items()}
    if "sync_p50_us" not in v:
        return
    w("## The Python tracker (section 8)")
    w("")
    w("**update() of `trainprog.SyncProgressTracker` and of the async `ProgressTracker`** "
      "(bench/bench_python.py): %d calls each on one job, libtrainprog through ctypes, "
      "against this run's PostgreSQL, its sender writing meanwhile (at most every 100 ms). "
      "The spec expected 5-10 ms an update." % v.get("calls", 0))
    w("")
    rows = []
    for name, label in (("sync", "`update()`"), ("async", "`await update()`")):
        rows.append([label] + ["%.1f" % v.get("%s_%s_us" % (name, q), 0)
                               for q in ("p50", "p99", "p999", "max")]
                    + ["%d" % v.get(name + "_writes", 0)])
    w(table(["call", "p50 us", "p99 us", "p99.9 us", "max us", "writes"], rows))
    w("")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--meta", required=True)
    ap.add_argument("--publisher")
    ap.add_argument("--profile")
    ap.add_argument("--push")
    ap.add_argument("--trainer")
    ap.add_argument("--python")
    ap.add_argument("--notes")
    ap.add_argument("--chart", required=True)
    a = ap.parse_args()
    rows = load(a.results)
    m = meta_of(a.meta)
    rowsn = int(m.get("rows", "0"))
    small = min(rowsn, 10000)
    levels = sorted({r["conns"] for r in rows if r["target"] == "project"})
    chart(rows, a.chart, levels)

    o = []
    w = o.append
    w("# Benchmark report")
    w("")
    w("Generated by `make bench` (bench/run, bench/report.py); every number below comes from "
      "one run, on %s, %s cores (%s), kernel %s, PostgreSQL %s, nginx %s. wrk on loopback, %s s per "
      "run; tp-fcgi with %s workers. The machine is shared and noisy: compare the ratios, which "
      "come from the same run, rather than the absolute numbers across runs. At 64 connections "
      "(the targets' level) every case ran in %s rounds, one case after the other, and each "
      "figure is the median of its rounds (errors: their sum)."
      % (m.get("date"), m.get("cores"), m.get("cpu", "?"), m.get("kernel"),
         m.get("postgresql"), m.get("nginx"), m.get("secs"), m.get("workers"), m.get("rounds", "1")))
    hp = int(m.get("huge_pages_mib", "0") or 0)
    if m.get("smoke") != "1":
        w("")
        w("PostgreSQL ran with `shared_buffers = 1GB`, the table and its `job_id` index "
          "prewarmed, %s." % ("in huge pages (%d MiB of them in use)" % hp if hp > 0 else
                               "in ordinary 4 KiB pages (no huge pages could be reserved)"))
    if m.get("smoke") == "1":
        w("")
        w("**Smoke run** (`make bench-smoke`): short runs on a small table, to check that the "
          "benchmark works. Its numbers mean nothing.")
    w("")
    w("![requests per second](chart.svg)")
    w("")

    # Targets.
    hot64 = find(rows, "project-peer", "hot", 64)
    php64 = find(rows, "php", "hot", 64)
    static64 = find(rows, "static", "hot", 64)
    own64 = find(rows, "project", "hot", 64)
    r_small = find(rows, "project", "random-%d" % small, 64)
    r_all = find(rows, "project", "random-%d" % rowsn, 64)
    rss = rss_list(m.get("worker_rss_kb", ""))
    checks = []

    def check(name, ok, got):
        checks.append([name, got, "met" if ok else "**not met**"])

    if hot64 and php64:
        ratio = hot64["rps"] / php64["rps"]
        check(">= 3x the PHP-FPM peer's requests/s (hot job, 64 connections, same nginx)",
              ratio >= TARGETS["php"], "%.2fx (%.0f vs %.0f)" % (ratio, hot64["rps"], php64["rps"]))
    if hot64 and static64:
        ratio = hot64["rps"] / static64["rps"]
        check(">= 0.35x nginx's static file", ratio >= TARGETS["static"],
              "%.2fx (%.0f vs %.0f)" % (ratio, hot64["rps"], static64["rps"]))
    for label, r in (("behind the peers' nginx", hot64), ("behind this stack's nginx", own64)):
        if r:
            check("p99 <= 10 ms, %s" % label, r["p99_us"] <= TARGETS["p99_ms"] * 1000,
                  "%s ms" % ms(r["p99_us"]))
            check("zero errors, %s" % label, r["errors"] == 0, "%d of %d" % (r["errors"], r["requests"]))
    rc = sequence(a.results, "rowcount")
    by, aa = row_count_ratios(rc, "small-%d" % small)
    ab = by.get("random-%d" % rowsn, [])
    if ab and rowsn > small:
        med, lo, hi = median_ci(ab)
        check("10,000 -> %s rows: requests/s drop <= 10 %%" % format(rowsn, ","),
              1 - med <= TARGETS["drop"],
              "%s (table of %s rows vs one of %s; median of %d paired runs%s; see below)"
              % (pct(med), format(rowsn, ","), format(small, ","), len(ab), "; 90 %% interval %s to %s" % (pct(lo), pct(hi)) if lo else ""))
    elif r_small and r_all and rowsn > small:
        drop = 1 - r_all["rps"] / r_small["rps"]
        check("10,000 -> %s rows: requests/s drop <= 10 %%" % format(rowsn, ","),
              drop <= TARGETS["drop"],
              "%+.1f %% (%.0f -> %.0f)" % (-100 * drop, r_small["rps"], r_all["rps"]))
    if rss:
        check("each worker under 4 MiB RSS", max(rss) < TARGETS["rss_kib"],
              "largest %.2f MiB (%s)" % (max(rss) / 1024.0,
                                         ", ".join("%.2f" % (x / 1024.0) for x in rss)))
    mem = [x for x in m.get("worker_mem_kb", "").split() if x]
    if rss and mem:
        checks[-1][1] += "; of the first: %s kB" % mem[0].rstrip(",").replace(",", ", ")
    w("## Targets (hot job, 64 connections)")
    w("")
    w(table(["target", "measured", ""], checks) if checks else "Not measured in this run.")
    w("")

    # Peers.
    peer_names = [("static", "nginx, static file"), ("project-peer", "trainprog (tp-fcgi)"),
                  ("php", "PHP-FPM 4 children, pgsql"), ("fastapi", "FastAPI 2 workers, asyncpg")]
    peer_rows = []
    for c in sorted({r["conns"] for r in rows if r["target"] in dict(peer_names)}):
        ours = find(rows, "project-peer", "hot", c)
        for t, label in peer_names:
            r = find(rows, t, "hot", c)
            if not r:
                continue
            ratio = "%.2f" % (ours["rps"] / r["rps"]) if ours and t != "project-peer" else ""
            peer_rows.append([c, label, "%.0f" % r["rps"], ms(r["p50_us"]), ms(r["p99_us"]),
                              r["errors"], "%.0f" % r["app_cpu_us"], "%.0f" % r["server_cpu_us"], ratio,
                              rounds_of(r)])
    w("## Side by side: the peers behind one nginx")
    w("")
    if peer_rows:
        w("The same `GET /api/v2/training/jobs/{id}/progress` of the spec's example row, from the "
          "peers of `bench/peers` and from this pool, all behind the peers' nginx "
          "(one worker process), each on its own PostgreSQL with the same rows. *app CPU* is the "
          "CPU time of the application's processes (and its PostgreSQL backends) per request; "
          "*server CPU* is the whole machine's less wrk's. *trainprog / peer* is the ratio of "
          "requests per second.")
        w("")
        w(table(["conns", "server", "req/s", "p50 ms", "p99 ms", "errors", "app CPU us/req",
                 "server CPU us/req", "trainprog / peer", "rounds (req/s)"], peer_rows))
        php_rss = rss_list(m.get("php_rss_kb", ""))
        py_rss = rss_list(m.get("fastapi_rss_kb", ""))
        w("")
        w("Memory per worker (RSS): tp-fcgi %s MiB; PHP-FPM children %s MiB; uvicorn workers %s MiB."
          % ("/".join("%.1f" % (x / 1024.0) for x in rss) or "?",
             "/".join("%.1f" % (x / 1024.0) for x in php_rss) or "?",
             "/".join("%.1f" % (x / 1024.0) for x in py_rss) or "?"))
    else:
        w("Not measured in this run (no `bench/peers`, or `BENCH_PEERS=none`).")
    w("")

    # The matrix.
    w("## The read path through this stack's nginx")
    w("")
    w("deploy/dev-stack's nginx (the project's snippet) and pool; the table holds %s finished "
      "jobs plus the 1,000 of the peers. *hot*: one job again and again; *random-N*: a job chosen "
      "at random among N of them (random-%s: the first %s); *unknown*: ids that do not exist "
      "(404, from the database); *revalidate*: the hot job with `If-None-Match` naming its "
      "`ETag` (304, no body), as a poller that keeps the tag it saw."
      % (format(rowsn, ","), small, format(small, ",")))
    w("")
    mat = []
    for r in rows:
        if r["target"] == "project":
            mat.append([r["case"], r["conns"], "%.0f" % r["rps"], ms(r["p50_us"]), ms(r["p99_us"]),
                        r["errors"], "%.0f" % r["app_cpu_us"], "%.0f" % r["server_cpu_us"], rounds_of(r)])
    w(table(["case", "conns", "req/s", "p50 ms", "p99 ms", "errors", "pool+PG CPU us/req",
             "server CPU us/req", "rounds (req/s)"], mat))
    w("")
    scal = []
    for c in levels:
        a_ = find(rows, "project", "random-%d" % small, c)
        b_ = find(rows, "project", "random-%d" % rowsn, c)
        if a_ and b_ and rowsn > small:
            scal.append([c, "%.0f" % a_["rps"], "%.0f" % b_["rps"], "%+.1f %%" % (100 * (b_["rps"] / a_["rps"] - 1))])
    if scal:
        w("From %s to %s rows read at random, in the same table (at 64 connections: medians "
          "of the rounds above, one comparison per round):" % (format(small, ","), format(rowsn, ",")))
        w("")
        w(table(["conns", "req/s over %s" % format(small, ","), "req/s over %s" % format(rowsn, ","),
                 "change"], scal))
        w("")
    if ab:
        w("### The row count measured apart (the target's figure)")
        w("")
        w("A second stack, the same in all but its table (%s rows and the peers' 1,000), ran "
          "beside this one. At 64 connections, %s s per run, in rounds of *B A C A* after a "
          "first *A*: *A* reads at random the small table's %s rows, *B* the big table's %s, "
          "*C* the big table's first %s (the same rows as *A*: the table's size alone). Each "
          "*B* and *C* is compared with the mean of the *A* on either side of it; the *A* "
          "compared with the *A* two runs before show what this machine's noise alone gives. "
          "Intervals: distribution-free 90 %% intervals of the median (order statistics)."
          % (format(small, ","), m.get("pair_secs", "?"), format(small, ","), format(rowsn, ","),
             format(small, ",")))
        w("")
        body = []
        for label, xs in (("B: %s rows, table of %s, vs A" % (format(rowsn, ","), format(rowsn, ",")), ab),
                          ("C: %s rows, table of %s, vs A" % (format(small, ","), format(rowsn, ",")),
                           by.get("random-%d" % small, [])),
                          ("A vs A (noise)", aa)):
            if not xs:
                continue
            med, lo, hi = median_ci(xs)
            body.append([label, pct(med), "%s to %s" % (pct(lo), pct(hi)) if lo else "",
                         " / ".join("%.2f" % x for x in xs)])
        w(table(["comparison", "median change", "90 % interval", "each run's ratio"], body))
        w("")
        w("Requests/s of the runs in order: " + " / ".join("%s %.0f" % (
            "A" if c.startswith("small") else ("B" if c == "random-%d" % rowsn else "C"), x)
            for c, x, _ in rc) + ".")
        w("")

    # The list.
    lst = [r for r in rows if r["target"] == "list"]
    if lst:
        single = find(rows, "list", "single", lst[0]["conns"])
        w("## The dashboard's list (%s jobs more, %d connections)" % (format(int(m.get("list_jobs", "0")), ","),
                                                                     lst[0]["conns"]))
        w("")
        body = []
        for r in lst:
            body.append([r["case"], "%.0f" % r["rps"], ms(r["p50_us"]), ms(r["p99_us"]), r["errors"],
                         "%.2f" % (r["rps"] / single["rps"]) if single else ""])
        w(table(["request", "req/s", "p50 ms", "p99 ms", "errors", "of a single GET"], body))
        w("")
        w("*single*: one job's progress; *list-50*: the first page, all statuses, with the counts; "
          "*active-50*: `?active=true`; *failed-200*: `?status=failed&limit=200`; *deep-page*: a "
          "page 80 % of the way down the completed jobs, by cursor.")
        w("")

    push_section(a.push, m, w)
    trainer_section(a.trainer, w)
    python_section(a.python, w)

    for path, title in ((a.publisher, "The publisher path (libtrainprog)"),
                        (a.profile, "Profiles of the workers (64 connections)")):
        text = open(path).read().strip() if path else ""
        if text:
            w("## " + title)
            w("")
            w("```")
            w(text)
            w("```")
            w("")
    if a.notes:
        try:
            w(open(a.notes).read().strip())
            w("")
        except OSError:
            pass
    sys.stdout.write("\n".join(o))


if __name__ == "__main__":
    main()
