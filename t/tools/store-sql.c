/*
 * store-sql.c: prints one of lib/store.c's statements, for the tests that
 * ask PostgreSQL how it runs the very SQL the pool prepares.
 *
 *   store-sql NAME      NAME: a statement's name without "tp_" (jobs_counts)
 */
#include <stdio.h>
#include <string.h>

#include "../../lib/internal.h"

int
main(int argc, char **argv)
{
	const char	*name;
	int		 i;

	for (i = 0; argc == 2 && i < STMT_COUNT; i++) {
		name = store_statements[i].ss_name;
		if (strncmp(name, "tp_", 3) == 0 && strcmp(argv[1], name + 3) == 0) {
			printf("%s\n", store_statements[i].ss_sql);
			return 0;
		}
	}
	fprintf(stderr, "usage: store-sql NAME, one of:");
	for (i = 0; i < STMT_COUNT; i++)
		fprintf(stderr, " %s", store_statements[i].ss_name + 3);
	fprintf(stderr, "\n");
	return 2;
}
