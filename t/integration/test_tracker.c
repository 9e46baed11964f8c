/*
 * test_tracker.c: the tracker against a real PostgreSQL, read back through
 * nginx and tp-fcgi.  Run by t/e2e/test_tracker.sh, which starts a stack and
 * sets DATABASE_URL, TP_BASE_URL, TP_STATE_DIR, TP_DEV_STACK and
 * TP_FIXTURES.  Uses only the public API, plus libpq and curl to look.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <libpq-fe.h>

#include <tp/tracker.h>

#define S	INT64_C(1000000)

/* --- helpers -------------------------------------------------------------- */

static const char *
env(const char *name)
{
	const char	*v = getenv(name);

	cr_assert(v != NULL && *v != '\0', "%s is not set: run through t/e2e/run tracker", name);
	return v;
}

/* A job id unique to this run and test. */
static const char *
job(const char *name)
{
	static char	 buf[8][128];
	static int	 k;
	char		*b = buf[k++ % 8];

	snprintf(b, 128, "it-%ld-%s", (long)getpid(), name);
	return b;
}

/* A clock the test moves by hand, starting now. */
struct fake_clock {
	int64_t	 fc_now;
};

static int64_t
fake_now(void *arg)
{
	return ((struct fake_clock *)arg)->fc_now;
}

static int64_t
real_now_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static struct tp_tracker *
open_tracker(const char *id, struct fake_clock *fc, struct tp_publisher *pub)
{
	struct tp_options	 o;
	struct tp_tracker	*t = NULL;
	enum tp_err		 err;

	tp_options_init(&o);
	o.terminal_timeout_ms = 20000;
	if (fc != NULL) {
		o.clock = fake_now;
		o.clock_arg = fc;
	}
	o.publisher = pub;
	err = tp_tracker_open(&t, id, &o);
	cr_assert_eq(err, TP_OK, "open: %s", tp_strerror(err));
	return t;
}

/*
 * Waits until tp-notify has handled everything committed so far: the
 * tracker writes to PostgreSQL directly, and the pools' read caches learn
 * of it through tp-notify (schema/007), a few milliseconds later.
 */
static void
feed_sync(void)
{
	static PGconn	*db;
	const char	*params[1];
	char		 lsn[64];
	PGresult	*res;
	bool		 done;
	int		 i;

	if (db == NULL || PQstatus(db) != CONNECTION_OK) {
		if (db != NULL)
			PQfinish(db);
		db = PQconnectdb(env("DATABASE_URL"));
	}
	res = PQexec(db, "SELECT pg_current_wal_insert_lsn()::text");
	cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(db));
	snprintf(lsn, sizeof(lsn), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	params[0] = lsn;
	for (i = 0; i < 100; i++) {
		res = PQexecParams(db, "SELECT confirmed_flush_lsn >= $1::pg_lsn"
		    " FROM pg_replication_slots WHERE slot_name = 'trainprog_feed'",
		    1, NULL, params, NULL, NULL, 0);
		done = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
		    strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		PQclear(res);
		if (done)
			return;
		usleep(100000);
	}
	cr_assert_fail("tp-notify did not read the feed up to %s within 10 s", lsn);
}

/* GET the job's progress document through nginx; NULL on 404. */
static cJSON *
get_doc(const char *id)
{
	char	 cmd[512], buf[65536];
	FILE	*fp;
	size_t	 n;
	cJSON	*doc;

	feed_sync();
	snprintf(cmd, sizeof(cmd), "curl -s -w '\\n%%{http_code}' '%s/api/v2/training/jobs/%s/progress'",
	    env("TP_BASE_URL"), id);
	cr_assert_not_null(fp = popen(cmd, "r"));
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	pclose(fp);
	buf[n] = '\0';
	if (n >= 3 && strcmp(buf + n - 3, "404") == 0)
		return NULL;
	cr_assert(n >= 3 && strcmp(buf + n - 3, "200") == 0, "GET %s: %s", id, buf);
	cr_assert_not_null(doc = cJSON_Parse(buf), "not JSON: %s", buf);
	return doc;
}

static cJSON *
fixture(const char *name)
{
	char	 path[512], buf[8192];
	FILE	*fp;
	size_t	 n;
	cJSON	*doc;

	snprintf(path, sizeof(path), "%s/%s", env("TP_FIXTURES"), name);
	cr_assert_not_null(fp = fopen(path, "r"), "%s", path);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	cr_assert_not_null(doc = cJSON_Parse(buf));
	return doc;
}

/*
 * Every field of the spec's snippet is in the document with the same value,
 * except estimated_completion, whose value depends on time: that one must
 * be a timestamp in the future of updated_at.
 */
static void
assert_matches(const cJSON *doc, const char *fixture_name)
{
	cJSON		*want = fixture(fixture_name), *w, *got;
	char		*a, *b;

	cJSON_ArrayForEach(w, want) {
		got = cJSON_GetObjectItemCaseSensitive(doc, w->string);
		cr_assert_not_null(got, "%s: no %s", fixture_name, w->string);
		if (strcmp(w->string, "estimated_completion") == 0) {
			cr_assert(cJSON_IsString(got), "%s: estimated_completion is null", fixture_name);
			cr_assert_gt(strcmp(got->valuestring,
			    cJSON_GetObjectItem(doc, "updated_at")->valuestring), 0,
			    "the ETA is after updated_at");
			continue;
		}
		a = cJSON_PrintUnformatted(w);
		b = cJSON_PrintUnformatted(got);
		cr_assert(cJSON_Compare(w, got, 1), "%s: %s is %s, want %s", fixture_name,
		    w->string, b, a);
		free(a);
		free(b);
	}
	cJSON_Delete(want);
}

static void
must(struct tp_tracker *t, enum tp_err err, const char *what)
{
	char	 problem[512];

	if (err == TP_OK)
		return;
	tp_tracker_problem(t, problem, sizeof(problem));
	cr_assert_fail("%s: %s (%s)", what, tp_strerror(err), problem);
}

static void
update_pct(struct tp_tracker *t, double pct)
{
	struct tp_update	 u = { .fields = TP_UPD_STEP_PERCENTAGE, .step_percentage = pct };

	must(t, tp_tracker_update(t, &u), "update");
}

static double
num(const cJSON *doc, const char *name)
{
	const cJSON	*v = cJSON_GetObjectItem(doc, name);

	cr_assert(cJSON_IsNumber(v), "%s is not a number", name);
	return v->valuedouble;
}

static const char *
str(const cJSON *doc, const char *name)
{
	const cJSON	*v = cJSON_GetObjectItem(doc, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void
dev_stack(const char *cmd)
{
	char	 line[512];

	snprintf(line, sizeof(line), "'%s' %s >/dev/null", env("TP_DEV_STACK"), cmd);
	cr_assert_eq(system(line), 0, "%s failed", line);
}

/* --- the spec's lifecycle --------------------------------------------------- */

/*
 * The spec's "Complete Training Lifecycle": each of its four documents comes
 * back, field for field, from GET after the trainer publishes that state.
 * The clock is simulated (10 s per optimizer iteration), so the ETA is
 * checked against the pace too.
 */
Test(tracker, lifecycle_reproduces_the_spec_examples, .timeout = 60)
{
	const char		*id = job("lifecycle");
	struct fake_clock	 fc = { real_now_us() };
	struct tp_tracker	*t = open_tracker(id, &fc, NULL);
	struct tp_update	 u;
	cJSON			*doc;
	int			 i;
	double			 eta_s;
	struct tm		 tm;
	char			*end;

	must(t, tp_tracker_start(t, "data_collection", "{\"symbol\": \"BTC/USDT\", "
	    "\"exchange\": \"binanceus\", \"timeframe\": \"5m\", \"lookback_days\": 90}"), "start");
	fc.fc_now += 5 * S;
	update_pct(t, 50.0);
	must(t, tp_tracker_flush(t, 10000), "flush");
	doc = get_doc(id);
	assert_matches(doc, "lifecycle-1.json");
	cr_assert(cJSON_IsNull(cJSON_GetObjectItem(doc, "estimated_completion")),
	    "one update is not enough data for an ETA");
	cJSON_Delete(doc);

	fc.fc_now += 5 * S;
	must(t, tp_tracker_start(t, "optimization", "{\"optimizer\": \"bayesian\", \"n_calls\": 50}"),
	    "start");
	for (i = 1; i <= 30; i++) {
		fc.fc_now += 10 * S;
		memset(&u, 0, sizeof(u));
		u.fields = TP_UPD_STEP_PERCENTAGE | TP_UPD_ITERATION |
		    TP_UPD_TOTAL_ITERATIONS | TP_UPD_CURRENT_SCORE;
		u.step_percentage = 2.0 * i;
		u.iteration = i;
		u.total_iterations = 50;
		u.current_score = i == 30 ? 1.42 : 1.0 + (i % 7) / 10.0;
		if (i == 12) {
			u.fields |= TP_UPD_BEST_SCORE | TP_UPD_BEST_PARAMS;
			u.best_score = 1.85;
			u.best_params = "{\"pierce_depth\": 0.15, \"volume_spike_threshold\": 2.5}";
		}
		must(t, tp_tracker_update(t, &u), "update");
	}
	must(t, tp_tracker_flush(t, 10000), "flush");
	doc = get_doc(id);
	assert_matches(doc, "lifecycle-2.json");
	/* 1 % every 10 s at 55 %: 450 s to go. */
	memset(&tm, 0, sizeof(tm));
	end = strptime(str(doc, "estimated_completion"), "%Y-%m-%dT%H:%M:%S", &tm);
	cr_assert_not_null(end);
	eta_s = (double)timegm(&tm) + strtod(*end == '.' ? end : "0", NULL);
	cr_assert_lt(fabs(eta_s - ((double)fc.fc_now / 1e6 + 450.0)), 450.0 * 0.02,
	    "ETA %.0f s ahead, want 450 s +-2%%", eta_s - (double)fc.fc_now / 1e6);
	cJSON_Delete(doc);

	fc.fc_now += 10 * S;
	must(t, tp_tracker_start(t, "validation", "{\"train_window_days\": 60, "
	    "\"test_window_days\": 30, \"gap_days\": 7}"), "start");
	fc.fc_now += 10 * S;
	update_pct(t, 50.0);
	must(t, tp_tracker_flush(t, 10000), "flush");
	doc = get_doc(id);
	assert_matches(doc, "lifecycle-3.json");
	cr_assert(cJSON_IsNull(cJSON_GetObjectItem(doc, "current_iteration")),
	    "the optimizer's counters belong to its step");
	cJSON_Delete(doc);

	fc.fc_now += 10 * S;
	must(t, tp_tracker_start(t, "save_configuration", NULL), "start");
	memset(&u, 0, sizeof(u));
	u.fields = TP_UPD_BEST_PARAMS;
	u.best_params = "{\"pierce_depth\": 0.15, \"volume_spike_threshold\": 2.5, "
	    "\"reversal_candles\": 3}";
	must(t, tp_tracker_update(t, &u), "update");
	must(t, tp_tracker_complete(t), "complete");
	doc = get_doc(id);
	assert_matches(doc, "lifecycle-4.json");
	cr_assert(cJSON_IsNull(cJSON_GetObjectItem(doc, "error_message")));
	cr_assert(cJSON_IsNull(cJSON_GetObjectItem(doc, "estimated_completion")));
	cJSON_Delete(doc);
	tp_tracker_close(t);
}

/* --- the guard ------------------------------------------------------------ */

/*
 * A loop far faster than min_write_interval_ms: most of its updates are
 * coalesced, yet the step's last iteration is stored before the next step
 * starts, and so is in the job's history.
 */
Test(tracker, a_fast_loop_is_coalesced_but_each_step_ends_stored, .timeout = 60)
{
	const char		*id = job("fast-loop");
	struct tp_tracker	*t = open_tracker(id, NULL, NULL);
	struct tp_tracker_stats	 st;
	struct tp_update	 u = { 0 };
	const char		*params[1] = { id };
	PGconn			*db;
	PGresult		*res;
	int			 i;

	must(t, tp_tracker_start(t, "optimization", NULL), "start");
	for (i = 1; i <= 5000; i++) {
		u.fields = TP_UPD_STEP_PERCENTAGE | TP_UPD_ITERATION | TP_UPD_TOTAL_ITERATIONS;
		u.step_percentage = 100.0 * i / 5000;
		u.iteration = i;
		u.total_iterations = 5000;
		must(t, tp_tracker_update(t, &u), "update");
	}
	must(t, tp_tracker_start(t, "validation", NULL), "start");
	must(t, tp_tracker_flush(t, 10000), "flush");
	tp_tracker_stats(t, &st);
	cr_assert_eq(st.ts_states, 5002);
	cr_assert_lt(st.ts_writes, 5002, "nothing coalesced: %llu writes",
	    (unsigned long long)st.ts_writes);

	db = PQconnectdb(env("DATABASE_URL"));
	res = PQexecParams(db, "SELECT current_iteration FROM progress_history"
	    " WHERE job_id = $1 AND step_number = 2 ORDER BY seq DESC LIMIT 1",
	    1, NULL, params, NULL, NULL, 0);
	cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(db));
	cr_assert_eq(PQntuples(res), 1, "no optimization snapshot in the history");
	cr_assert_str_eq(PQgetvalue(res, 0, 0), "5000", "the step's last iteration is missing");
	PQclear(res);
	PQfinish(db);
	tp_tracker_close(t);
}

Test(tracker, a_stale_sequence_number_changes_nothing, .timeout = 30)
{
	const char		*id = job("stale");
	struct fake_clock	 later = { real_now_us() + 1000 * S }, earlier = { real_now_us() };
	struct tp_tracker	*a = open_tracker(id, &later, NULL), *b;
	struct tp_tracker_stats	 st;
	cJSON			*doc;

	must(a, tp_tracker_start(a, "optimization", NULL), "start");
	update_pct(a, 50.0);
	must(a, tp_tracker_flush(a, 10000), "flush");

	/* b's clock is behind: every one of its sequence numbers is older. */
	b = open_tracker(id, &earlier, NULL);
	must(b, tp_tracker_start(b, "validation", "{\"from\": \"b\"}"), "start");
	update_pct(b, 90.0);
	must(b, tp_tracker_flush(b, 10000), "flush");
	tp_tracker_stats(b, &st);
	cr_assert_eq(st.ts_writes, 0, "b wrote %llu states", (unsigned long long)st.ts_writes);
	cr_assert_geq(st.ts_refused, 1);

	doc = get_doc(id);
	cr_assert_str_eq(str(doc, "current_step"), "Optimization");
	cr_assert_eq(num(doc, "percentage"), 50.0);
	cr_assert(cJSON_IsNull(cJSON_GetObjectItem(doc, "step_details")));
	cJSON_Delete(doc);
	tp_tracker_close(b);
	tp_tracker_close(a);
}

Test(tracker, nothing_changes_a_finished_job, .timeout = 30)
{
	const char		*id = job("finished");
	struct tp_tracker	*a = open_tracker(id, NULL, NULL), *b;
	struct tp_tracker_stats	 st;
	cJSON			*doc;

	must(a, tp_tracker_start(a, "save_configuration", NULL), "start");
	must(a, tp_tracker_complete(a), "complete");
	cr_assert_eq(tp_tracker_update(a, &(struct tp_update){ .fields = TP_UPD_STEP_PERCENTAGE }),
	    TP_EFINISHED);
	tp_tracker_close(a);

	/* A second writer that does not know: refused, and it learns. */
	b = open_tracker(id, NULL, NULL);
	must(b, tp_tracker_start(b, "data_collection", NULL), "start");
	must(b, tp_tracker_flush(b, 10000), "flush");
	tp_tracker_stats(b, &st);
	cr_assert_eq(st.ts_writes, 0);
	cr_assert_eq(st.ts_refused, 1);
	cr_assert_eq(tp_tracker_start(b, "optimization", NULL), TP_EFINISHED);
	cr_assert_eq(tp_tracker_error(b, "too late"), TP_EFINISHED);
	tp_tracker_close(b);

	doc = get_doc(id);
	cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(doc, "is_complete")));
	cr_assert_str_eq(str(doc, "current_step"), "Complete");
	cr_assert(cJSON_IsNull(cJSON_GetObjectItem(doc, "error_message")));
	cJSON_Delete(doc);
}

Test(tracker, two_writers_on_one_job_cannot_make_it_regress, .timeout = 30)
{
	const char		*id = job("two-writers");
	struct fake_clock	 ca = { real_now_us() }, cb = { real_now_us() + 60 * S };
	struct tp_tracker	*a = open_tracker(id, &ca, NULL), *b = open_tracker(id, &cb, NULL);
	struct tp_tracker_stats	 st;
	cJSON			*doc;

	must(a, tp_tracker_start(a, "optimization", NULL), "start");
	update_pct(a, 60.0);
	must(a, tp_tracker_flush(a, 10000), "flush");

	/* b is newer but behind: 12.5 % would go backwards from 55 %. */
	must(b, tp_tracker_start(b, "data_collection", NULL), "start");
	update_pct(b, 50.0);
	must(b, tp_tracker_flush(b, 10000), "flush");
	tp_tracker_stats(b, &st);
	cr_assert_eq(st.ts_writes, 0);
	doc = get_doc(id);
	cr_assert_eq(num(doc, "percentage"), 55.0);
	cr_assert_str_eq(str(doc, "current_step"), "Optimization");
	cJSON_Delete(doc);

	/* a keeps going; b's failure lands, keeping a's progress. */
	ca.fc_now += 10 * S;
	update_pct(a, 70.0);
	must(a, tp_tracker_flush(a, 10000), "flush");
	cb.fc_now += 60 * S;
	must(b, tp_tracker_error(b, "b gave up"), "error");
	doc = get_doc(id);
	cr_assert_eq(num(doc, "percentage"), 60.0);
	cr_assert_str_eq(str(doc, "current_step"), "Optimization");
	cr_assert_eq(num(doc, "step_percentage"), 70.0);
	cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(doc, "is_complete")));
	cr_assert_str_eq(str(doc, "error_message"), "b gave up");
	cJSON_Delete(doc);
	/* And now a is the one that cannot finish it. */
	cr_assert_eq(tp_tracker_complete(a), TP_ECONFLICT);
	tp_tracker_close(a);
	tp_tracker_close(b);
}

/* --- many jobs ---------------------------------------------------------------- */

#define MANY_JOBS	500
#define MANY_THREADS	10

struct many {
	struct tp_publisher	*m_pub;
	int			 m_first, m_count;
	int			 m_ok;
	char			 m_why[256];	/* the first failure, if any */
};

static void *
many_worker(void *arg)
{
	struct many		*m = arg;
	struct tp_tracker	*ts[MANY_JOBS];
	char			 id[64];
	int			 i, step;
	static const char *const keys[] = {
		"data_collection", "optimization", "validation", "save_configuration"
	};

	for (i = 0; i < m->m_count; i++) {
		snprintf(id, sizeof(id), "%s-%04d", job("many"), m->m_first + i);
		ts[i] = open_tracker(id, NULL, m->m_pub);
	}
	for (step = 0; step < 4; step++)
		for (i = 0; i < m->m_count; i++) {
			tp_tracker_start(ts[i], keys[step], NULL);
			update_pct(ts[i], 50.0);
			update_pct(ts[i], 100.0);
		}
	for (i = 0; i < m->m_count; i++) {
		enum tp_err	 err = tp_tracker_complete(ts[i]);
		char		 problem[200];

		if (err == TP_OK)
			m->m_ok++;
		else if (m->m_why[0] == '\0') {
			tp_tracker_problem(ts[i], problem, sizeof(problem));
			snprintf(m->m_why, sizeof(m->m_why), "%s: %s", tp_strerror(err), problem);
		}
		tp_tracker_close(ts[i]);
	}
	return NULL;
}

/*
 * 500 jobs published at once from one process, through one publisher with
 * four connections: every job ends complete.
 */
Test(tracker, five_hundred_jobs_at_once, .timeout = 120)
{
	struct tp_options	 o;
	struct tp_publisher	*pub;
	struct many		 m[MANY_THREADS];
	pthread_t		 th[MANY_THREADS];
	PGconn			*db;
	PGresult		*res;
	char			 pattern[128];
	const char		*params[1] = { pattern }, *why;
	int			 i, ok = 0;

	tp_options_init(&o);
	cr_assert_eq(tp_publisher_open(&pub, &o, 4), TP_OK);
	for (i = 0; i < MANY_THREADS; i++) {
		m[i].m_pub = pub;
		m[i].m_first = i * (MANY_JOBS / MANY_THREADS);
		m[i].m_count = MANY_JOBS / MANY_THREADS;
		m[i].m_ok = 0;
		m[i].m_why[0] = '\0';
		cr_assert_eq(pthread_create(&th[i], NULL, many_worker, &m[i]), 0);
	}
	why = "";
	for (i = 0; i < MANY_THREADS; i++) {
		pthread_join(th[i], NULL);
		ok += m[i].m_ok;
		if (*why == '\0')
			why = m[i].m_why;
	}
	tp_publisher_close(pub);
	cr_assert_eq(ok, MANY_JOBS, "%d of %d completed (%s)", ok, MANY_JOBS, why);

	db = PQconnectdb(env("DATABASE_URL"));
	cr_assert_eq(PQstatus(db), CONNECTION_OK, "%s", PQerrorMessage(db));
	snprintf(pattern, sizeof(pattern), "%s-%%", job("many"));
	res = PQexecParams(db, "SELECT count(*) FROM training_progress WHERE job_id LIKE $1"
	    " AND is_complete AND percentage = 100 AND current_step = 'Complete'"
	    " AND error_message IS NULL", 1, NULL, params, NULL, NULL, 0);
	cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(db));
	cr_assert_eq(atoi(PQgetvalue(res, 0, 0)), MANY_JOBS, "%s of %d stored as complete",
	    PQgetvalue(res, 0, 0), MANY_JOBS);
	PQclear(res);
	PQfinish(db);
}

/* --- the database going away ------------------------------------------------- */

static int64_t
mono_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * PostgreSQL restarted mid-job: update() keeps returning at once while it
 * is down, the newest state is written when it is back, and complete()
 * succeeds; nothing that matters is lost.
 */
Test(tracker, postgres_restarted_mid_job_loses_nothing, .timeout = 90)
{
	const char		*id = job("restart");
	struct tp_tracker	*t = open_tracker(id, NULL, NULL);
	struct tp_tracker_stats	 st;
	struct tp_update	 u;
	int64_t			 t0, slowest = 0;
	cJSON			*doc;
	int			 i;

	must(t, tp_tracker_start(t, "optimization", NULL), "start");
	update_pct(t, 10.0);
	must(t, tp_tracker_flush(t, 10000), "flush");

	dev_stack("db-stop");
	for (i = 1; i <= 2000; i++) {
		memset(&u, 0, sizeof(u));
		u.fields = TP_UPD_STEP_PERCENTAGE | TP_UPD_ITERATION | TP_UPD_BEST_SCORE;
		u.step_percentage = 10.0 + i * 0.04;
		u.iteration = i;
		u.best_score = i;
		t0 = mono_us();
		must(t, tp_tracker_update(t, &u), "update");
		if (mono_us() - t0 > slowest)
			slowest = mono_us() - t0;
	}
	/* Functional, not a benchmark: a blocking update() would take seconds. */
	cr_assert_lt(slowest, 100000, "an update() took %lld us with the database down",
	    (long long)slowest);
	tp_tracker_stats(t, &st);
	dev_stack("db-start");

	must(t, tp_tracker_start(t, "save_configuration", NULL), "start");
	must(t, tp_tracker_complete(t), "complete");
	tp_tracker_stats(t, &st);
	cr_assert_gt(st.ts_failures, 0, "the outage was noticed");
	cr_assert_gt(st.ts_coalesced, 1900, "updates made during the outage were coalesced");
	doc = get_doc(id);
	cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(doc, "is_complete")));
	cr_assert_eq(num(doc, "percentage"), 100.0);
	cr_assert_eq(num(doc, "best_score"), 2000.0, "the newest best score survived");
	cJSON_Delete(doc);
	tp_tracker_close(t);
}

/* A hung database (SIGSTOP): update() still never waits. */
Test(tracker, update_never_waits_on_a_hung_database, .timeout = 60)
{
	const char		*id = job("hung");
	struct tp_tracker	*t = open_tracker(id, NULL, NULL);
	int64_t			 t0, slowest = 0;
	int			 i;

	must(t, tp_tracker_start(t, "optimization", NULL), "start");
	must(t, tp_tracker_flush(t, 10000), "flush");
	dev_stack("db-pause");
	for (i = 1; i <= 20000; i++) {
		t0 = mono_us();
		update_pct(t, i / 200.0);
		if (mono_us() - t0 > slowest)
			slowest = mono_us() - t0;
	}
	dev_stack("db-resume");
	cr_assert_lt(slowest, 100000, "an update() took %lld us with the database hung",
	    (long long)slowest);
	must(t, tp_tracker_flush(t, 15000), "flush after the database came back");
	tp_tracker_close(t);
}

/* complete() waits a bounded time, and succeeds once the database is back. */
Test(tracker, complete_is_bounded_and_succeeds_when_the_database_returns, .timeout = 90)
{
	const char		*id = job("bounded");
	struct tp_options	 o;
	struct tp_tracker	*t;
	int64_t			 t0;
	enum tp_err		 err;
	cJSON			*doc;

	tp_options_init(&o);
	o.terminal_timeout_ms = 1000;
	o.io_timeout_ms = 1000;
	cr_assert_eq(tp_tracker_open(&t, id, &o), TP_OK);
	must(t, tp_tracker_start(t, "save_configuration", NULL), "start");
	must(t, tp_tracker_flush(t, 10000), "flush");
	dev_stack("db-stop");
	t0 = mono_us();
	err = tp_tracker_complete(t);
	cr_assert_eq(err, TP_ETIMEDOUT, "complete() with the database down: %s", tp_strerror(err));
	cr_assert_lt(mono_us() - t0, 5 * S, "complete() gave up within its timeout");
	dev_stack("db-start");
	/* Asked again, it waits again: the sender has kept trying. */
	for (int i = 0; i < 20 && (err = tp_tracker_complete(t)) == TP_ETIMEDOUT; i++)
		continue;
	cr_assert_eq(err, TP_OK, "%s", tp_strerror(err));
	doc = get_doc(id);
	cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(doc, "is_complete")));
	cJSON_Delete(doc);
	tp_tracker_close(t);
}

/* --- resume ------------------------------------------------------------------ */

Test(tracker, resume_continues_a_stored_job, .timeout = 30)
{
	const char		*id = job("resume");
	struct tp_tracker	*a = open_tracker(id, NULL, NULL), *b;
	cJSON			*doc;

	cr_assert_eq(tp_tracker_resume(a), TP_ENOTFOUND);
	must(a, tp_tracker_start(a, "optimization", "{\"n_calls\": 50}"), "start");
	update_pct(a, 60.0);
	tp_tracker_close(a);

	b = open_tracker(id, NULL, NULL);
	must(b, tp_tracker_resume(b), "resume");
	cr_assert_eq(tp_tracker_resume(b), TP_OK, "resume twice before anything else is fine");
	cr_assert_eq(tp_tracker_start(b, "data_collection", NULL), TP_ESTATE);
	update_pct(b, 80.0);
	must(b, tp_tracker_flush(b, 10000), "flush");
	doc = get_doc(id);
	cr_assert_eq(num(doc, "percentage"), 65.0);
	cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "step_details"), "n_calls")->valueint, 50);
	cJSON_Delete(doc);
	cr_assert_eq(tp_tracker_resume(b), TP_ESTATE, "not after other calls");
	must(b, tp_tracker_complete(b), "complete");
	tp_tracker_close(b);

	b = open_tracker(id, NULL, NULL);
	must(b, tp_tracker_resume(b), "resume");
	cr_assert_eq(tp_tracker_update(b, &(struct tp_update){ .fields = TP_UPD_ITERATION }),
	    TP_EFINISHED);
	cr_assert_eq(tp_tracker_complete(b), TP_EFINISHED);
	tp_tracker_close(b);
}

/* --- cancellation and liveness ------------------------------------------------- */

/* POST .../cancel through nginx with the stack's token; the HTTP status. */
static int
post_cancel(const char *id)
{
	char	 cmd[1024], buf[64];
	FILE	*fp;
	size_t	 n;

	snprintf(cmd, sizeof(cmd), "curl -s -o /dev/null -w '%%{http_code}' -X POST"
	    " -H 'Authorization: Bearer %s' '%s/api/v2/training/jobs/%s/cancel'",
	    env("TP_PUBLISH_TOKEN"), env("TP_BASE_URL"), id);
	cr_assert_not_null(fp = popen(cmd, "r"));
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	pclose(fp);
	buf[n] = '\0';
	return atoi(buf);
}

/* One column of the job's row, as text ("" for NULL). */
static char *
column(const char *id, const char *col)
{
	static char	 out[256];
	char		 sql[256];
	const char	*params[1] = { id };
	PGconn		*db = PQconnectdb(env("DATABASE_URL"));
	PGresult	*res;

	cr_assert_eq(PQstatus(db), CONNECTION_OK, "%s", PQerrorMessage(db));
	/* col is one of this file's literals. */
	snprintf(sql, sizeof(sql), "SELECT (%s)::text FROM training_progress WHERE job_id = $1", col);
	res = PQexecParams(db, sql, 1, NULL, params, NULL, NULL, 0);
	cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(db));
	cr_assert_eq(PQntuples(res), 1);
	snprintf(out, sizeof(out), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	PQfinish(db);
	return out;
}

/* Polls (every 50 ms, at most `secs`) until the column reads `want`. */
static bool
column_becomes(const char *id, const char *col, const char *want, int secs)
{
	int	 i;

	for (i = 0; i < secs * 20; i++) {
		if (strcmp(column(id, col), want) == 0)
			return true;
		usleep(50000);
	}
	return false;
}

Test(tracker, a_cancel_stops_the_trainer_with_TP_ECANCELLED, .timeout = 60)
{
	const char		*id = job("cancel");
	struct tp_tracker	*t = open_tracker(id, NULL, NULL);
	struct tp_update	 u = { .fields = TP_UPD_STEP_PERCENTAGE, .step_percentage = 50 };
	enum tp_err		 err;
	cJSON			*doc;
	int			 i;

	must(t, tp_tracker_start(t, "optimization", NULL), "start");
	update_pct(t, 10.0);
	must(t, tp_tracker_flush(t, 10000), "flush");
	cr_assert_eq(post_cancel(id), 202);
	doc = get_doc(id);
	cr_assert_str_eq(str(doc, "status"), "cancelling");
	cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(doc, "is_complete")));
	cJSON_Delete(doc);

	/* The next write learns it: update() returns at once, flush() tells. */
	err = TP_OK;
	for (i = 0; i < 100 && err == TP_OK; i++) {
		u.step_percentage = 50 + i * 0.1;
		if ((err = tp_tracker_update(t, &u)) == TP_OK)
			err = tp_tracker_flush(t, 10000);
	}
	cr_assert_eq(err, TP_ECANCELLED, "got %s", tp_strerror(err));
	cr_assert_eq(tp_tracker_update(t, &u), TP_ECANCELLED, "every call after says so");
	cr_assert_eq(tp_tracker_complete(t), TP_ECANCELLED, "and complete() cannot undo it");
	tp_tracker_close(t);

	doc = get_doc(id);
	cr_assert_str_eq(str(doc, "status"), "cancelled");
	cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(doc, "is_complete")));
	cr_assert_str_eq(str(doc, "error_message"), "cancelled by request");
	cr_assert(cJSON_IsNull(cJSON_GetObjectItem(doc, "estimated_completion")));
	cJSON_Delete(doc);
	cr_assert_eq(post_cancel(id), 409, "a finished job cannot be cancelled again");

	/* A trainer that resumes the job learns it at its first call. */
	t = open_tracker(id, NULL, NULL);
	must(t, tp_tracker_resume(t), "resume");
	cr_assert_eq(tp_tracker_update(t, &u), TP_ECANCELLED);
	tp_tracker_close(t);
}

Test(tracker, heartbeats_keep_a_quiet_job_alive_and_bring_the_cancel, .timeout = 60)
{
	const char		*id = job("heartbeat");
	struct tp_options	 o;
	struct tp_tracker	*t = NULL;
	struct tp_tracker_stats	 st;
	char			 before[256], updated[256];

	tp_options_init(&o);
	o.heartbeat_ms = 200;
	cr_assert_eq(tp_tracker_open(&t, id, &o), TP_OK);
	must(t, tp_tracker_start(t, "validation", NULL), "start");
	must(t, tp_tracker_flush(t, 10000), "flush");
	snprintf(before, sizeof(before), "%s", column(id, "heartbeat_at"));
	snprintf(updated, sizeof(updated), "%s", column(id, "updated_at"));

	/* Nothing new to say: the heartbeat moves, the progress does not. */
	cr_assert(column_becomes(id, "heartbeat_at > updated_at", "true", 10),
	    "no heartbeat within 10 s");
	cr_assert_str_eq(column(id, "updated_at"), updated, "a heartbeat is not an update");
	cr_assert_neq(strcmp(column(id, "heartbeat_at"), before), 0);
	tp_tracker_stats(t, &st);
	cr_assert_gt(st.ts_heartbeats, 0);

	/* A cancel while the trainer is quiet is finished by its next heartbeat. */
	cr_assert_eq(post_cancel(id), 202);
	cr_assert(column_becomes(id, "status", "cancelled", 10),
	    "the heartbeat did not finish the cancellation");
	cr_assert(column_becomes(id, "is_complete", "true", 1));
	cr_assert_eq(tp_tracker_update(t, &(struct tp_update){ .fields = TP_UPD_ITERATION,
	    .iteration = 3 }), TP_ECANCELLED);
	tp_tracker_close(t);
}

/* --- API edges ---------------------------------------------------------------- */

Test(tracker, bad_arguments)
{
	struct tp_tracker	*t = NULL;
	struct tp_options	 o;

	cr_assert_eq(tp_tracker_open(&t, "", NULL), TP_EINVAL);
	cr_assert_eq(tp_tracker_open(&t, "a\nb", NULL), TP_EINVAL);
	cr_assert_eq(tp_tracker_open(NULL, "x", NULL), TP_EINVAL);
	tp_options_init(&o);
	o.io_timeout_ms = 0;
	cr_assert_eq(tp_tracker_open(&t, "x", &o), TP_EINVAL);
	cr_assert_null(t);
	t = open_tracker(job("bad-args"), NULL, NULL);
	cr_assert_eq(tp_tracker_update(t, NULL), TP_EINVAL);
	cr_assert_eq(tp_tracker_start(t, "training", NULL), TP_EINVAL);
	cr_assert_eq(tp_tracker_start(t, "optimization", "{oops"), TP_EINVAL);
	cr_assert_eq(tp_tracker_error(t, NULL), TP_EINVAL);
	tp_tracker_close(t);
	tp_tracker_close(NULL);
	tp_publisher_close(NULL);
	cr_assert_str_eq(tp_strerror(TP_ECONFLICT),
	    "the database refused: another writer finished the job or is ahead");
	cr_assert_str_eq(tp_strerror((enum tp_err)999), "unknown error");
}

/* A child after fork() must not use its parent's tracker. */
Test(tracker, a_forked_child_gets_TP_EFORK, .timeout = 30)
{
	struct tp_tracker	*t = open_tracker(job("fork"), NULL, NULL);
	pid_t			 pid;
	int			 status;

	must(t, tp_tracker_start(t, "optimization", NULL), "start");
	if ((pid = fork()) == 0) {
		int bad = tp_tracker_update(t, &(struct tp_update){ .fields = 0 }) != TP_EFORK;

		tp_tracker_close(t);	/* frees memory only */
		_exit(bad);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	update_pct(t, 10.0);
	must(t, tp_tracker_flush(t, 10000), "the parent's tracker still works");
	tp_tracker_close(t);
}
