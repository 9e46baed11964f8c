/* test_jobreq.c: tools/train/jobreq.c: the request of POST /jobs, its defaults and its canonical form. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "../../lib/internal.h"
#include "../../tools/train/train.h"

static struct jobreq	 r;
static char		 field[160], err[256];

/* Parses a NUL-terminated body. */
static int
parse(const char *body)
{
	return jobreq_parse(body, strlen(body), &r, field, sizeof(field), err, sizeof(err));
}

/* The body is accepted. */
static void
accepts(const char *body)
{
	cr_assert_eq(parse(body), 0, "%s refused: %s: %s", body, field, err);
}

/* The body is refused, naming `want` ("" for the body as a whole), with a sentence. */
static void
refuses(const char *body, const char *want)
{
	cr_assert_eq(parse(body), -1, "%s accepted", body);
	cr_assert_str_eq(field, want, "%s: names \"%s\" (%s)", body, field, err);
	cr_assert_neq(err[0], '\0', "%s: says why", body);
}

/* The canonical form of the last request parsed, and its SHA-256 in hex. */
static char *
canonical_hex(char hex[65])
{
	unsigned char	 d[32];
	char		*c = jobreq_canonical(&r);
	int		 i;

	cr_assert_not_null(c);
	sha256(c, strlen(c), d);
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	return c;
}

Test(jobreq, defaults_of_the_empty_object)
{
	accepts("{}");
	cr_assert_str_eq(r.jr_job_id, "");
	cr_assert_str_eq(r.jr_symbol, "BTC/USDT");
	cr_assert_str_eq(r.jr_exchange, "binanceus");
	cr_assert_str_eq(r.jr_timeframe, "1h");
	cr_assert_eq(r.jr_lookback_days, 180);
	cr_assert_eq(r.jr_optimizer, OPT_BAYESIAN);
	cr_assert_eq(r.jr_n_calls, 50);
	cr_assert_eq(r.jr_seed, 42);
	cr_assert_float_eq(r.jr_fee, 0.001, 1e-15);
	cr_assert_eq(r.jr_space.os_n, 3);
	cr_assert_str_eq(r.jr_space.os_dim[0].od_name, "pierce_depth");
	cr_assert_float_eq(r.jr_space.os_dim[0].od_min, 0.05, 1e-15);
	cr_assert_float_eq(r.jr_space.os_dim[0].od_max, 0.5, 1e-15);
	cr_assert_float_eq(r.jr_space.os_dim[0].od_step, 0.05, 1e-15);
	cr_assert_not(r.jr_space.os_dim[0].od_integer);
	cr_assert_str_eq(r.jr_space.os_dim[1].od_name, "volume_spike_threshold");
	cr_assert_float_eq(r.jr_space.os_dim[1].od_min, 1.5, 1e-15);
	cr_assert_float_eq(r.jr_space.os_dim[1].od_max, 4.0, 1e-15);
	cr_assert_float_eq(r.jr_space.os_dim[1].od_step, 0.25, 1e-15);
	cr_assert_not(r.jr_space.os_dim[1].od_integer);
	cr_assert_str_eq(r.jr_space.os_dim[2].od_name, "reversal_candles");
	cr_assert_eq(r.jr_space.os_dim[2].od_min, 1);
	cr_assert_eq(r.jr_space.os_dim[2].od_max, 5);
	cr_assert(r.jr_space.os_dim[2].od_integer);
	cr_assert(r.jr_validate);
	cr_assert_eq(r.jr_train_days, 60);
	cr_assert_eq(r.jr_test_days, 30);
	cr_assert_eq(r.jr_gap_days, 7);
	/* Whitespace around the object is fine. */
	accepts(" \n{ }\r\n\t");
}

Test(jobreq, the_canonical_form_of_the_defaults)
{
	char	*c;

	accepts("{}");
	c = jobreq_canonical(&r);
	cr_assert_str_eq(c, "{\"symbol\":\"BTC/USDT\",\"exchange\":\"binanceus\","
	    "\"timeframe\":\"1h\",\"lookback_days\":180,\"optimizer\":\"bayesian\","
	    "\"n_calls\":50,\"seed\":42,\"fee\":0.001,\"params\":{"
	    "\"pierce_depth\":{\"min\":0.05,\"max\":0.5,\"step\":0.05,\"type\":\"float\"},"
	    "\"volume_spike_threshold\":{\"min\":1.5,\"max\":4,\"step\":0.25,\"type\":\"float\"},"
	    "\"reversal_candles\":{\"min\":1,\"max\":5,\"step\":0,\"type\":\"int\"}},"
	    "\"validation\":{\"train_window_days\":60,\"test_window_days\":30,\"gap_days\":7}}");
	free(c);
}

Test(jobreq, every_field_at_its_bounds)
{
	static const char *const ok[] = {
		"{\"job_id\": \"x\"}",
		"{\"job_id\": \"caf\\u00e9 a/b %20\"}",
		"{\"symbol\": \"A\"}",
		"{\"symbol\": \"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345\"}",	/* 32 */
		"{\"symbol\": \"eth-usd_1.x/Y\"}",
		"{\"exchange\": \"a\"}",
		"{\"exchange\": \"abcdefghijklmnopqrstuvwxyz012345\"}",
		"{\"exchange\": \"coinbase_pro.v-2\"}",
		"{\"timeframe\": \"1m\"}", "{\"timeframe\": \"5m\"}", "{\"timeframe\": \"15m\"}",
		"{\"timeframe\": \"30m\"}", "{\"timeframe\": \"4h\"}", "{\"timeframe\": \"1d\"}",
		"{\"lookback_days\": 97}",
		"{\"lookback_days\": 1, \"validation\": false}",
		"{\"lookback_days\": 3650}",
		"{\"lookback_days\": 1e2}",
		"{\"optimizer\": \"grid\", \"n_calls\": 1000}",
		"{\"optimizer\": \"random\", \"n_calls\": 1}",
		"{\"optimizer\": \"bayesian\", \"n_calls\": 300}",
		"{\"seed\": 0}",
		"{\"seed\": 9007199254740991}",
		"{\"fee\": 0}",
		"{\"fee\": 0.0499999}",
		"{\"params\": {}}",
		"{\"params\": {\"pierce_depth\": {\"min\": 0.1, \"max\": 0.2}}}",
		"{\"params\": {\"pierce_depth\": {\"min\": -1, \"max\": 1, \"step\": 0}}}",
		"{\"params\": {\"reversal_candles\": {\"min\": 1, \"max\": 2, \"step\": 1, \"type\": \"int\"}}}",
		"{\"params\": {\"volume_spike_threshold\": {\"min\": 1, \"max\": 9, \"type\": \"float\"}}}",
		"{\"validation\": {}}",
		"{\"validation\": {\"train_window_days\": 1, \"test_window_days\": 1, \"gap_days\": 0}}",
		"{\"validation\": {\"train_window_days\": 143, \"test_window_days\": 30}}",	/* 180 */
		"{\"validation\": false}",
	};
	size_t	 i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		accepts(ok[i]);
}

Test(jobreq, values_are_as_sent)
{
	accepts("{\"job_id\": \"run-7\", \"symbol\": \"ETH/USDT\", \"exchange\": \"kraken\","
	    " \"timeframe\": \"15m\", \"lookback_days\": 90, \"optimizer\": \"grid\","
	    " \"n_calls\": 400, \"seed\": 7, \"fee\": 0.002,"
	    " \"params\": {\"reversal_candles\": {\"min\": 2, \"max\": 8, \"step\": 2},"
	    " \"pierce_depth\": {\"min\": 0.1, \"max\": 0.3, \"type\": \"float\"}},"
	    " \"validation\": {\"gap_days\": 0, \"train_window_days\": 50}}");
	cr_assert_str_eq(r.jr_job_id, "run-7");
	cr_assert_str_eq(r.jr_symbol, "ETH/USDT");
	cr_assert_str_eq(r.jr_exchange, "kraken");
	cr_assert_str_eq(r.jr_timeframe, "15m");
	cr_assert_eq(r.jr_lookback_days, 90);
	cr_assert_eq(r.jr_optimizer, OPT_GRID);
	cr_assert_eq(r.jr_n_calls, 400);
	cr_assert_eq(r.jr_seed, 7);
	cr_assert_float_eq(r.jr_fee, 0.002, 1e-15);
	/* The fixed order, whatever the body's. */
	cr_assert_str_eq(r.jr_space.os_dim[0].od_name, "pierce_depth");
	cr_assert_float_eq(r.jr_space.os_dim[0].od_min, 0.1, 1e-15);
	cr_assert_eq(r.jr_space.os_dim[0].od_step, 0, "a step left out is 0 (continuous)");
	cr_assert_float_eq(r.jr_space.os_dim[1].od_step, 0.25, 1e-15, "a parameter left out keeps its default");
	cr_assert_eq(r.jr_space.os_dim[2].od_min, 2);
	cr_assert_eq(r.jr_space.os_dim[2].od_max, 8);
	cr_assert_eq(r.jr_space.os_dim[2].od_step, 2);
	cr_assert(r.jr_space.os_dim[2].od_integer, "a type left out is the parameter's");
	cr_assert(r.jr_validate);
	cr_assert_eq(r.jr_train_days, 50);
	cr_assert_eq(r.jr_test_days, 30);
	cr_assert_eq(r.jr_gap_days, 0);
	accepts("{\"validation\": false}");
	cr_assert_not(r.jr_validate);
}

Test(jobreq, just_outside_the_bounds_names_the_field)
{
	static const struct { const char *body, *field; } bad[] = {
		{ "{\"job_id\": \"\"}", "job_id" },
		{ "{\"job_id\": 7}", "job_id" },
		{ "{\"job_id\": \"..\"}", "job_id" },
		{ "{\"job_id\": \"a\\nb\"}", "job_id" },
		{ "{\"job_id\": \"\\u0085\"}", "job_id" },
		{ "{\"symbol\": \"\"}", "symbol" },
		{ "{\"symbol\": \"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456\"}", "symbol" },	/* 33 */
		{ "{\"symbol\": \"BTC USDT\"}", "symbol" },
		{ "{\"symbol\": \"BTC\\\"\"}", "symbol" },
		{ "{\"symbol\": 5}", "symbol" },
		{ "{\"exchange\": \"\"}", "exchange" },
		{ "{\"exchange\": \"abcdefghijklmnopqrstuvwxyz0123456\"}", "exchange" },
		{ "{\"exchange\": \"Binance\"}", "exchange" },
		{ "{\"exchange\": \"a/b\"}", "exchange" },
		{ "{\"timeframe\": \"2h\"}", "timeframe" },
		{ "{\"timeframe\": \"1H\"}", "timeframe" },
		{ "{\"timeframe\": \"\"}", "timeframe" },
		{ "{\"timeframe\": 60}", "timeframe" },
		{ "{\"lookback_days\": 0, \"validation\": false}", "lookback_days" },
		{ "{\"lookback_days\": 3651}", "lookback_days" },
		{ "{\"lookback_days\": 90.5}", "lookback_days" },
		{ "{\"lookback_days\": \"90\"}", "lookback_days" },
		{ "{\"lookback_days\": 96}", "validation" },
		{ "{\"optimizer\": \"Bayesian\"}", "optimizer" },
		{ "{\"optimizer\": \"annealing\"}", "optimizer" },
		{ "{\"optimizer\": null}", "optimizer" },
		{ "{\"n_calls\": 0}", "n_calls" },
		{ "{\"optimizer\": \"grid\", \"n_calls\": 1001}", "n_calls" },
		{ "{\"n_calls\": 301}", "n_calls" },
		{ "{\"optimizer\": \"bayesian\", \"n_calls\": 301}", "n_calls" },
		{ "{\"n_calls\": 5.5}", "n_calls" },
		{ "{\"seed\": -1}", "seed" },
		{ "{\"seed\": 9007199254740992}", "seed" },
		{ "{\"seed\": 0.5}", "seed" },
		{ "{\"seed\": true}", "seed" },
		{ "{\"fee\": -0.0001}", "fee" },
		{ "{\"fee\": 0.05}", "fee" },
		{ "{\"fee\": 1e400}", "fee" },
		{ "{\"fee\": \"0.001\"}", "fee" },
		{ "{\"params\": []}", "params" },
		{ "{\"params\": {\"rsi\": {\"min\": 1, \"max\": 2}}}", "params.rsi" },
		{ "{\"params\": {\"pierce_depth\": 0.1}}", "params.pierce_depth" },
		{ "{\"params\": {\"pierce_depth\": {\"max\": 1}}}", "params.pierce_depth.min" },
		{ "{\"params\": {\"pierce_depth\": {\"min\": 1}}}", "params.pierce_depth.max" },
		{ "{\"params\": {\"pierce_depth\": {\"min\": 1, \"max\": 1}}}", "params.pierce_depth.max" },
		{ "{\"params\": {\"pierce_depth\": {\"min\": 2, \"max\": 1}}}", "params.pierce_depth.max" },
		{ "{\"params\": {\"pierce_depth\": {\"min\": \"0\", \"max\": 1}}}", "params.pierce_depth.min" },
		{ "{\"params\": {\"pierce_depth\": {\"min\": 0, \"max\": 1e999}}}", "params.pierce_depth.max" },
		{ "{\"params\": {\"pierce_depth\": {\"min\": 0, \"max\": 1, \"step\": -0.1}}}", "params.pierce_depth.step" },
		{ "{\"params\": {\"pierce_depth\": {\"min\": 0, \"max\": 1, \"type\": \"double\"}}}", "params.pierce_depth.type" },
		{ "{\"params\": {\"pierce_depth\": {\"min\": 0, \"max\": 1, \"scale\": 1}}}", "params.pierce_depth.scale" },
		{ "{\"params\": {\"reversal_candles\": {\"min\": 1.5, \"max\": 4}}}", "params.reversal_candles.min" },
		{ "{\"params\": {\"reversal_candles\": {\"min\": 1, \"max\": 4.5}}}", "params.reversal_candles.max" },
		{ "{\"params\": {\"reversal_candles\": {\"min\": 1, \"max\": 1e10}}}", "params.reversal_candles.max" },
		{ "{\"params\": {\"pierce_depth\": {\"min\": -2e9, \"max\": 1}}}", "params.pierce_depth.min" },
		{ "{\"params\": {\"reversal_candles\": {\"min\": 1, \"max\": 4, \"step\": 0.5}}}", "params.reversal_candles.step" },
		{ "{\"params\": {\"volume_spike_threshold\": {\"min\": 1.5, \"max\": 4, \"type\": \"int\"}}}", "params.volume_spike_threshold.min" },
		{ "{\"validation\": true}", "validation" },
		{ "{\"validation\": null}", "validation" },
		{ "{\"validation\": {\"train_window_days\": 0}}", "validation.train_window_days" },
		{ "{\"validation\": {\"test_window_days\": 0}}", "validation.test_window_days" },
		{ "{\"validation\": {\"gap_days\": -1}}", "validation.gap_days" },
		{ "{\"validation\": {\"gap_days\": 1.5}}", "validation.gap_days" },
		{ "{\"validation\": {\"folds\": 3}}", "validation.folds" },
		{ "{\"validation\": {\"train_window_days\": 144, \"test_window_days\": 30}}", "validation" },
		{ "{\"symbl\": \"BTC/USDT\"}", "symbl" },
		{ "{\"seed\": 1, \"seed\": 1}", "seed" },
		{ "{\"params\": {\"pierce_depth\": {\"min\": 0, \"min\": 0, \"max\": 1}}}", "params.pierce_depth.min" },
	};
	size_t	 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		refuses(bad[i].body, bad[i].field);
}

Test(jobreq, bodies_that_are_not_one_object)
{
	static const char *const bad[] = {
		"", "   ", "[]", "\"x\"", "42", "null", "{", "{\"seed\": 1,}", "{} {}", "{}x",
		"{seed: 1}", "{\"symbol\": \"a\\u0000b\"}", "{\"symbol\\u0000x\": \"a\"}", "{\"\": 1}",
	};
	size_t	 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		refuses(bad[i], "");
	/* A NUL byte in the body, and bytes after the length given, are not read. */
	cr_assert_eq(jobreq_parse("{}\0{", 4, &r, field, sizeof(field), err, sizeof(err)), -1);
	cr_assert_eq(jobreq_parse("{}garbage", 2, &r, field, sizeof(field), err, sizeof(err)), 0);
	/* An escaped backslash before u0000 is text, not a NUL. */
	refuses("{\"symbol\": \"\\\\u0000\"}", "symbol");
}

Test(jobreq, canonical_reparses_to_the_same_request)
{
	static const char *const bodies[] = {
		"{}",
		"{\"job_id\": \"keep-out\", \"symbol\": \"ETH/USDT\", \"fee\": 0.000123456789012345,"
		" \"seed\": 9007199254740991, \"optimizer\": \"random\", \"n_calls\": 999}",
		"{\"params\": {\"pierce_depth\": {\"min\": 1e-7, \"max\": 123456.789, \"step\": 0.1}},"
		" \"validation\": false, \"lookback_days\": 1}",
		"{\"params\": {\"reversal_candles\": {\"min\": -3, \"max\": 3, \"type\": \"float\","
		" \"step\": 0.3333333333333333}}}",
		"{\"fee\": -0, \"params\": {\"pierce_depth\": {\"min\": -0, \"max\": 1}}}",
	};
	struct jobreq	 first;
	char		*c1, *c2, h1[65], h2[65];
	size_t		 i;
	int		 d;

	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		accepts(bodies[i]);
		first = r;
		c1 = canonical_hex(h1);
		cr_assert_null(strstr(c1, "job_id"), "no job_id in the canonical form");
		accepts(c1);
		c2 = canonical_hex(h2);
		cr_assert_str_eq(c1, c2, "stable: %s", bodies[i]);
		cr_assert_str_eq(h1, h2);
		cr_assert_str_eq(r.jr_symbol, first.jr_symbol);
		cr_assert_str_eq(r.jr_exchange, first.jr_exchange);
		cr_assert_str_eq(r.jr_timeframe, first.jr_timeframe);
		cr_assert_eq(r.jr_lookback_days, first.jr_lookback_days);
		cr_assert_eq(r.jr_optimizer, first.jr_optimizer);
		cr_assert_eq(r.jr_n_calls, first.jr_n_calls);
		cr_assert_eq(r.jr_seed, first.jr_seed);
		cr_assert(r.jr_fee == first.jr_fee, "fee %.17g != %.17g", r.jr_fee, first.jr_fee);
		cr_assert_eq(r.jr_space.os_n, first.jr_space.os_n);
		for (d = 0; d < r.jr_space.os_n; d++) {
			cr_assert_str_eq(r.jr_space.os_dim[d].od_name, first.jr_space.os_dim[d].od_name);
			cr_assert(r.jr_space.os_dim[d].od_min == first.jr_space.os_dim[d].od_min);
			cr_assert(r.jr_space.os_dim[d].od_max == first.jr_space.os_dim[d].od_max);
			cr_assert(r.jr_space.os_dim[d].od_step == first.jr_space.os_dim[d].od_step);
			cr_assert_eq(r.jr_space.os_dim[d].od_integer,
			    first.jr_space.os_dim[d].od_integer);
		}
		cr_assert_eq(r.jr_validate, first.jr_validate);
		cr_assert_eq(r.jr_train_days, first.jr_train_days);
		cr_assert_eq(r.jr_test_days, first.jr_test_days);
		cr_assert_eq(r.jr_gap_days, first.jr_gap_days);
		free(c1);
		free(c2);
	}
}

Test(jobreq, key_order_and_spelling_do_not_change_the_canonical_form)
{
	char	*a, *b, ha[65], hb[65];

	accepts("{\"seed\": 7, \"symbol\": \"ETH/USDT\", \"params\": {\"reversal_candles\":"
	    " {\"type\": \"int\", \"max\": 6, \"min\": 2}, \"pierce_depth\": {\"step\": 0.05,"
	    " \"max\": 0.4, \"min\": 0.1}}, \"validation\": {\"gap_days\": 3, \"test_window_days\": 20}}");
	a = canonical_hex(ha);
	accepts("{\"validation\": {\"test_window_days\": 2e1, \"gap_days\": 3.0},"
	    " \"params\": {\"pierce_depth\": {\"min\": 0.1, \"max\": 0.40, \"step\": 5e-2},"
	    " \"reversal_candles\": {\"min\": 2, \"max\": 6}},"
	    " \"symbol\": \"ETH/USDT\", \"seed\": 7.0, \"job_id\": \"ignored-here\"}");
	b = canonical_hex(hb);
	cr_assert_str_eq(a, b);
	cr_assert_str_eq(ha, hb);
	free(b);
	/* Defaults spelt out are the defaults. */
	accepts("{}");
	b = canonical_hex(hb);
	free(a);
	accepts("{\"symbol\": \"BTC/USDT\", \"exchange\": \"binanceus\", \"timeframe\": \"1h\","
	    " \"lookback_days\": 180, \"optimizer\": \"bayesian\", \"n_calls\": 50, \"seed\": 42,"
	    " \"fee\": 0.001, \"validation\": {\"train_window_days\": 60}}");
	a = canonical_hex(ha);
	cr_assert_str_eq(ha, hb);
	/* And a change is a change. */
	accepts("{\"seed\": 43}");
	free(a);
	a = canonical_hex(ha);
	cr_assert_str_neq(ha, hb);
	free(a);
	free(b);
}

Test(jobreq, notify_targets_are_checked_and_kept_out_of_the_canonical_form)
{
	static const struct { const char *body, *field; } bad[] = {
		{ "{\"notify\": {}}", "notify" },
		{ "{\"notify\": [1]}", "notify[0]" },
		{ "{\"notify\": [{}]}", "notify[0].kind" },
		{ "{\"notify\": [{\"kind\": \"sms\", \"url\": \"http://x\"}]}", "notify[0].kind" },
		{ "{\"notify\": [{\"kind\": \"webhook\"}]}", "notify[0].url" },
		{ "{\"notify\": [{\"kind\": \"webhook\", \"url\": \"ftp://x/y\"}]}", "notify[0].url" },
		{ "{\"notify\": [{\"kind\": \"webhook\", \"url\": \"http://\"}]}", "notify[0].url" },
		{ "{\"notify\": [{\"kind\": \"webhook\", \"url\": \"http://a b\"}]}", "notify[0].url" },
		{ "{\"notify\": [{\"kind\": \"slack\", \"url\": \"https://h/x\", \"secret\": \"s\"}]}",
		  "notify[0].secret" },
		{ "{\"notify\": [{\"kind\": \"webhook\", \"url\": \"https://h/x\", \"secret\": \"\"}]}",
		  "notify[0].secret" },
		{ "{\"notify\": [{\"kind\": \"email\", \"address\": \"nobody\"}]}", "notify[0].address" },
		{ "{\"notify\": [{\"kind\": \"email\", \"address\": \"a@b@c\"}]}", "notify[0].address" },
		{ "{\"notify\": [{\"kind\": \"email\", \"address\": \"<a@b>\"}]}", "notify[0].address" },
		{ "{\"notify\": [{\"kind\": \"email\", \"url\": \"http://x\"}]}", "notify[0].url" },
		{ "{\"notify\": [{\"kind\": \"webhook\", \"url\": \"http://x\", \"to\": 1}]}",
		  "notify[0].to" },
		{ "{\"notify\": [{\"kind\": \"slack\", \"url\": \"http://x\"},"
		  " {\"kind\": \"slack\", \"address\": \"a@b\"}]}", "notify[1].address" },
		{ "{\"notify\": [{\"kind\": \"email\", \"address\": \"a@b\"},"
		  " {\"kind\": \"email\", \"address\": \"a@b\"}, {\"kind\": \"email\", \"address\": \"a@b\"},"
		  " {\"kind\": \"email\", \"address\": \"a@b\"}, {\"kind\": \"email\", \"address\": \"a@b\"},"
		  " {\"kind\": \"email\", \"address\": \"a@b\"}, {\"kind\": \"email\", \"address\": \"a@b\"},"
		  " {\"kind\": \"email\", \"address\": \"a@b\"}, {\"kind\": \"email\", \"address\": \"a@b\"}]}",
		  "notify" },
	};
	char	 hex[65], plain[65];
	char	*c;
	size_t	 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		refuses(bad[i].body, bad[i].field);
	accepts("{}");
	free(canonical_hex(plain));
	accepts("{\"notify\": [{\"kind\": \"webhook\", \"url\": \"https://hooks.example.com/t\","
	    " \"secret\": \"k\"}, {\"kind\": \"slack\", \"url\": \"http://127.0.0.1:9/s\"},"
	    " {\"kind\": \"email\", \"address\": \"ops@example.com\"}]}");
	cr_assert_eq(r.jr_nnotify, 3);
	cr_assert_str_eq(r.jr_notify[0].jn_kind, "webhook");
	cr_assert_str_eq(r.jr_notify[0].jn_address, "https://hooks.example.com/t");
	cr_assert_str_eq(r.jr_notify[0].jn_secret, "k");
	cr_assert_str_eq(r.jr_notify[1].jn_secret, "");
	cr_assert_str_eq(r.jr_notify[2].jn_address, "ops@example.com");
	c = canonical_hex(hex);
	cr_assert_str_eq(hex, plain, "targets do not make another request");
	cr_assert_null(strstr(c, "notify"), "nor are they stored with it (secrets): %s", c);
	free(c);
}
