/* tp/progress.h: the training step model and the overall-percentage formula. */
#ifndef TP_PROGRESS_H
#define TP_PROGRESS_H

#include <stddef.h>

#ifndef TP_API
#define TP_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The four weighted steps of a training job, numbered as the spec numbers
 * them (step_number 1..4).  TP_STEP_NONE is never a valid step; functions
 * that look a step up return it when the input is unknown.
 */
enum tp_step {
	TP_STEP_NONE = 0,
	TP_STEP_DATA_COLLECTION = 1,	/* weight 25 % */
	TP_STEP_OPTIMIZATION = 2,	/* weight 50 % */
	TP_STEP_VALIDATION = 3,		/* weight 20 %, optional */
	TP_STEP_SAVE_CONFIGURATION = 4	/* weight  5 % */
};

#define TP_STEP_COUNT	4

/* The longest job id, in bytes (the table's VARCHAR(255), counted in bytes). */
#define TP_JOB_ID_MAX	255

/* What current_step says once a job has completed. */
#define TP_STEP_COMPLETE_NAME	"Complete"

/*
 * Stable machine key of a step ("optimization"), or NULL for an invalid step.
 * The string is static; do not free it.
 */
TP_API const char	*tp_step_key(enum tp_step step);

/* Display name of a step ("Optimization"), or NULL.  Static storage. */
TP_API const char	*tp_step_name(enum tp_step step);

/* Weight of a step as a fraction (0.50 for Optimization), or 0 if invalid. */
TP_API double		 tp_step_weight(enum tp_step step);

/* The step whose key is `key` (exact, case-sensitive), or TP_STEP_NONE. */
TP_API enum tp_step	 tp_step_from_key(const char *key);

/* The step whose display name is `name`, or TP_STEP_NONE. */
TP_API enum tp_step	 tp_step_from_name(const char *name);

/*
 * Overall percentage for a job that is in `step` with `step_pct` (0..100)
 * done within it:
 *
 *   100 * (weights of the steps before `step`) + weight(step) * step_pct
 *
 * A step skipped on the way (Validation is optional) counts as done, so
 * Save Configuration always starts at 95.  step_pct is clamped to 0..100
 * (NaN counts as 0).  Returns -1 for an invalid step.
 */
TP_API double		 tp_progress_percentage(enum tp_step step, double step_pct);

/*
 * Checks a job id: 1..TP_JOB_ID_MAX bytes of valid UTF-8 without control
 * characters (C0, DEL or C1), and not "." or "..".  Returns NULL when the id
 * is acceptable, otherwise a static English sentence saying why not.
 */
TP_API const char	*tp_job_id_problem(const char *id, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* TP_PROGRESS_H */
