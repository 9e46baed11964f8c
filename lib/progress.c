/* progress.c: the step model, the overall-percentage formula and job id rules. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

/*
 * Weights are whole percentages so that step boundaries (25, 75, 95, 100)
 * come out exact: 0.25 + 0.50 + 0.20 in binary floating point is not 0.95.
 */
struct step_def {
	const char	*sd_key;
	const char	*sd_name;
	int		 sd_weight_pct;
	int		 sd_before_pct;	/* sum of the weights of earlier steps */
};

static const struct step_def steps[TP_STEP_COUNT + 1] = {
	[TP_STEP_NONE] = { NULL, NULL, 0, 0 },
	[TP_STEP_DATA_COLLECTION] = { "data_collection", "Data Collection", 25, 0 },
	[TP_STEP_OPTIMIZATION] = { "optimization", "Optimization", 50, 25 },
	[TP_STEP_VALIDATION] = { "validation", "Validation", 20, 75 },
	[TP_STEP_SAVE_CONFIGURATION] = { "save_configuration", "Save Configuration", 5, 95 },
};

static int
step_valid(enum tp_step step)
{
	return step >= TP_STEP_DATA_COLLECTION && step <= TP_STEP_SAVE_CONFIGURATION;
}

TP_API const char *
tp_step_key(enum tp_step step)
{
	return step_valid(step) ? steps[step].sd_key : NULL;
}

TP_API const char *
tp_step_name(enum tp_step step)
{
	return step_valid(step) ? steps[step].sd_name : NULL;
}

TP_API double
tp_step_weight(enum tp_step step)
{
	return step_valid(step) ? steps[step].sd_weight_pct / 100.0 : 0.0;
}

/* The step whose key (or, with by_name, display name) is s; TP_STEP_NONE if none. */
static enum tp_step
step_lookup(const char *s, bool by_name)
{
	int	 i;

	if (s == NULL)
		return TP_STEP_NONE;
	for (i = TP_STEP_DATA_COLLECTION; i <= TP_STEP_SAVE_CONFIGURATION; i++)
		if (strcmp(by_name ? steps[i].sd_name : steps[i].sd_key, s) == 0)
			return (enum tp_step)i;
	return TP_STEP_NONE;
}

TP_API enum tp_step
tp_step_from_key(const char *key)
{
	return step_lookup(key, false);
}

TP_API enum tp_step
tp_step_from_name(const char *name)
{
	return step_lookup(name, true);
}

TP_API double
tp_progress_percentage(enum tp_step step, double step_pct)
{
	if (!step_valid(step))
		return -1.0;
	if (isnan(step_pct) || step_pct < 0.0)
		step_pct = 0.0;
	else if (step_pct > 100.0)
		step_pct = 100.0;
	/* weight * pct / 100 keeps 50 * 60 / 100 == 30 exact. */
	return steps[step].sd_before_pct + steps[step].sd_weight_pct * step_pct / 100.0;
}

/*
 * Length of the UTF-8 sequence at s (at most `left` bytes), or 0 if it is not
 * a valid, shortest-form encoding of a scalar value (no surrogates, nothing
 * above U+10FFFF).  *cp receives the code point.
 */
static size_t
utf8_decode(const unsigned char *s, size_t left, uint32_t *cp)
{
	uint32_t	 c;
	size_t		 n, i;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		c = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		c = s[0] & 0x07;
	} else
		return 0;
	if (left < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

TP_API const char *
tp_job_id_problem(const char *id, size_t len)
{
	const unsigned char	*s = (const unsigned char *)id;
	uint32_t		 cp;
	size_t			 i, n;

	if (id == NULL || len == 0)
		return "job_id is empty";
	if (len > TP_JOB_ID_MAX)
		return "job_id is longer than 255 bytes";
	if ((len == 1 && id[0] == '.') || (len == 2 && id[0] == '.' && id[1] == '.'))
		return "job_id must not be \".\" or \"..\"";
	for (i = 0; i < len; i += n) {
		if ((n = utf8_decode(s + i, len - i, &cp)) == 0)
			return "job_id is not valid UTF-8";
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f))
			return "job_id contains a control character";
	}
	return NULL;
}
