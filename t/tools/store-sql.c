/*
 * store-sql.c: prints one of lib/store.c's statements, for the tests that
 * ask PostgreSQL how it runs the very SQL the pool prepares.
 *
 *   store-sql jobs_counts|jobs_list|expire_stalled|progress_get
 */
#include <stdio.h>
#include <string.h>

#include "../../lib/internal.h"

static const struct {
	const char	*name;
	const char	*sql;
} statements[] = {
	{ "jobs_counts", store_jobs_counts_sql },
	{ "jobs_list", store_jobs_list_sql },
	{ "expire_stalled", store_expire_stalled_sql },
	{ "progress_get", store_progress_get_sql },
};

int
main(int argc, char **argv)
{
	size_t	 i;

	for (i = 0; argc == 2 && i < sizeof(statements) / sizeof(statements[0]); i++)
		if (strcmp(argv[1], statements[i].name) == 0) {
			printf("%s\n", statements[i].sql);
			return 0;
		}
	fprintf(stderr, "usage: store-sql jobs_counts|jobs_list|expire_stalled|progress_get\n");
	return 2;
}
