/* test_config.c: fcgi/config.c: defaults, the file format, flags, checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "../../fcgi/pool.h"

static struct config	 cf;
static char		 err[CONFIG_ERR_MAX];
static char		 path[64];

static void
setup(void)
{
	unsetenv("DATABASE_URL");
	cr_assert_eq(config_init(&cf), 0);
	err[0] = '\0';
	path[0] = '\0';
}

static void
teardown(void)
{
	config_free(&cf);
	if (path[0] != '\0')
		unlink(path);
}

TestSuite(config, .init = setup, .fini = teardown);

static const char *
write_file(const char *text)
{
	FILE	*fp;
	int	 fd;

	snprintf(path, sizeof(path), "/tmp/tp-config-test.XXXXXX");
	cr_assert_neq(fd = mkstemp(path), -1);
	fp = fdopen(fd, "w");
	fputs(text, fp);
	fclose(fp);
	return path;
}

Test(config, defaults)
{
	cr_assert_str_eq(cf.cf_listen, "/run/trainprog/tp-fcgi.sock");
	cr_assert_eq(cf.cf_listen_mode, 0660);
	cr_assert_eq(cf.cf_workers, 4);
	cr_assert_eq(cf.cf_db_timeout_ms, 1500);
	cr_assert_eq(cf.cf_statement_timeout_ms, 1000);
	cr_assert_null(cf.cf_database_url);
	cr_assert_eq(config_check(&cf, err, sizeof(err)), 0, "%s", err);
}

Test(config, database_url_defaults_to_the_environment)
{
	config_free(&cf);
	setenv("DATABASE_URL", "postgresql:///x", 1);
	cr_assert_eq(config_init(&cf), 0);
	cr_assert_str_eq(cf.cf_database_url, "postgresql:///x");
	cr_assert_eq(config_set(&cf, "database-url", "host=/tmp dbname=y", err, sizeof(err)), 0);
	cr_assert_str_eq(cf.cf_database_url, "host=/tmp dbname=y");
	unsetenv("DATABASE_URL");
}

Test(config, file_with_comments_quotes_and_units)
{
	write_file("# a comment\n"
	    "\n"
	    "listen = 127.0.0.1:9000\n"
	    "  workers=8  \n"
	    "; another comment\n"
	    "database_url = \"host=/tmp dbname=tp user=tp_reader\"\n"
	    "db_timeout = 2s\n"
	    "statement_timeout = 1500ms\n"
	    "listen_mode = 0600\n"
	    "shutdown_timeout = 1min\n");
	cr_assert_eq(config_load_file(&cf, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(cf.cf_listen, "127.0.0.1:9000");
	cr_assert_eq(cf.cf_workers, 8);
	cr_assert_str_eq(cf.cf_database_url, "host=/tmp dbname=tp user=tp_reader");
	cr_assert_eq(cf.cf_db_timeout_ms, 2000);
	cr_assert_eq(cf.cf_statement_timeout_ms, 1500);
	cr_assert_eq(cf.cf_listen_mode, 0600);
	cr_assert_eq(cf.cf_shutdown_timeout_ms, 60000);
}

Test(config, errors_name_the_file_and_line)
{
	write_file("workers = 2\nwokers = 3\n");
	cr_assert_eq(config_load_file(&cf, path, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, ":2: unknown setting \"wokers\""), "%s", err);
}

Test(config, bad_values_are_refused_precisely)
{
	cr_assert_eq(config_set(&cf, "workers", "0", err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "workers must be a whole number from 1 to 512"), "%s", err);
	cr_assert_eq(config_set(&cf, "workers", "4x", err, sizeof(err)), -1);
	cr_assert_eq(config_set(&cf, "workers", "", err, sizeof(err)), -1);
	cr_assert_eq(config_set(&cf, "workers", "99999999999999999999", err, sizeof(err)), -1);
	cr_assert_eq(config_set(&cf, "db_timeout", "5 s", err, sizeof(err)), -1);
	cr_assert_eq(config_set(&cf, "db_timeout", "-1", err, sizeof(err)), -1);
	cr_assert_eq(config_set(&cf, "db_timeout", "10h", err, sizeof(err)), -1);
	cr_assert_eq(config_set(&cf, "listen_mode", "0999", err, sizeof(err)), -1);
	cr_assert_eq(config_set(&cf, "log_level", "loud", err, sizeof(err)), -1);
	cr_assert_eq(config_set(&cf, "nonsense", "1", err, sizeof(err)), -1);
	cr_assert_eq(cf.cf_workers, 4, "a refused value leaves the old one");
}

Test(config, malformed_lines)
{
	write_file("workers 4\n");
	cr_assert_eq(config_load_file(&cf, path, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, ":1: expected \"name = value\""), "%s", err);
	unlink(path);
	write_file("database_url = \"unterminated\n");
	cr_assert_eq(config_load_file(&cf, path, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, ":1: unbalanced quotes"), "%s", err);
}

Test(config, missing_file)
{
	cr_assert_eq(config_load_file(&cf, "/nonexistent/tp.conf", err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "No such file"), "%s", err);
}

Test(config, cross_checks)
{
	cr_assert_eq(config_set(&cf, "statement_timeout", "5s", err, sizeof(err)), 0);
	cr_assert_eq(config_check(&cf, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "must not exceed db_timeout"), "%s", err);
	cr_assert_eq(config_set(&cf, "statement_timeout", "1s", err, sizeof(err)), 0);
	cr_assert_eq(config_set(&cf, "listen_group", "no-such-group-here", err, sizeof(err)), 0);
	cr_assert_eq(config_check(&cf, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "no group"), "%s", err);
}

Test(config, process_manager_settings)
{
	cr_assert_eq(cf.cf_request_timeout_ms, 30000);
	cr_assert_eq(cf.cf_slow_request_ms, 1000);
	cr_assert_eq(cf.cf_max_requests, 0);
	cr_assert_eq(cf.cf_max_params_size, 32768);
	cr_assert_eq(cf.cf_max_body_size, 65536);
	cr_assert_eq(cf.cf_storm_deaths, 10);
	cr_assert_eq(cf.cf_storm_window_ms, 10000);
	cr_assert_str_eq(cf.cf_log, "stderr");
	cr_assert_null(cf.cf_status_listen);
	cr_assert_eq(config_set(&cf, "max_params_size", "1000000", err, sizeof(err)), -1,
	    "the guard's buffer must fit a socket's receive buffer");
	cr_assert_eq(config_set(&cf, "request-timeout", "0", err, sizeof(err)), 0);
	cr_assert_eq(config_check(&cf, err, sizeof(err)), 0, "no deadline at all is allowed: %s", err);
	cr_assert_eq(config_set(&cf, "status_listen", cf.cf_listen, err, sizeof(err)), 0);
	cr_assert_eq(config_check(&cf, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "status_listen must differ from listen"));
}

Test(config, write_path_settings)
{
	cr_assert_null(cf.cf_database_write_url, "read-only unless told");
	cr_assert_eq(cf.cf_stall_after_ms, 60000);
	cr_assert_not(cf.cf_read_token_required);
	cr_assert_eq(config_set(&cf, "read-token-required", "yes", err, sizeof(err)), 0);
	cr_assert(cf.cf_read_token_required);
	cr_assert_eq(config_set(&cf, "read_token_required", "maybe", err, sizeof(err)), -1);
	cr_assert_eq(config_set(&cf, "stall_after", "1s", err, sizeof(err)), 0);
	cr_assert_eq(config_check(&cf, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "at least 2s"), "%s", err);
	cr_assert_eq(config_set(&cf, "stall_after", "0", err, sizeof(err)), 0);
	cr_assert_eq(config_check(&cf, err, sizeof(err)), 0, "0: nothing stalls: %s", err);
	cr_assert_eq(config_set(&cf, "stall_after", "2s", err, sizeof(err)), 0);
	cr_assert_eq(config_check(&cf, err, sizeof(err)), 0, "%s", err);
}

Test(config, load_reads_file_flags_and_password)
{
	struct config		 c2;
	struct config_flag	 fl[1];
	char			 pw[64];
	FILE			*fp;
	int			 fd;

	write_file("workers = 3\ndatabase_password_file = PWFILE\n");
	snprintf(pw, sizeof(pw), "/tmp/tp-pw-test.XXXXXX");
	cr_assert_neq(fd = mkstemp(pw), -1);
	fp = fdopen(fd, "w");
	fputs("s3cret\n", fp);
	fclose(fp);
	/* The file names the password file: rewrite it with the real path. */
	fp = fopen(path, "w");
	fprintf(fp, "workers = 3\ndatabase_password_file = %s\n", pw);
	fclose(fp);
	snprintf(fl[0].fl_name, sizeof(fl[0].fl_name), "workers");
	fl[0].fl_value = "5";
	cr_assert_eq(config_load(&c2, path, fl, 1, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c2.cf_workers, 5, "flags win over the file");
	cr_assert_str_eq(c2.cf_database_password, "s3cret");
	config_free(&c2);
	unlink(pw);
	fl[0].fl_value = "0";
	cr_assert_eq(config_load(&c2, path, fl, 1, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "--workers: workers must be"), "%s", err);
}
