/* tether check / tether run: the configuration file from the command line. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tether/config.h>
#include <tether/tether.h>

#include "cli-int.h"

#define STOP_WAIT_MS 3000

/* Load CONFIG; on failure print why and return NULL. */
static tether_config *load(const char *path, int *status)
{
	tether_config *cfg = NULL;
	char *errors = NULL;
	int rc = tether_config_load_file(path, &cfg, &errors);

	if (rc != 0) {
		cli_errors(errors ? errors : tether_strerror(rc));
		free(errors);
		*status = rc == TETHER_ENOMEM ? CLI_EXIT_FAIL : CLI_EXIT_USAGE;
		return NULL;
	}
	if (tether_config_warnings(cfg))
		cli_errors(tether_config_warnings(cfg));
	return cfg;
}

int cli_check(int argc, char **argv)
{
	tether_config *cfg;
	char *dump;
	int status = CLI_EXIT_OK;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: tether check CONFIG\n");
		return CLI_EXIT_USAGE;
	}
	cfg = load(argv[1], &status);
	if (!cfg)
		return status;
	dump = tether_config_dump(cfg);
	tether_config_free(cfg);
	if (!dump) {
		fprintf(stderr, "tether: out of memory\n");
		return CLI_EXIT_FAIL;
	}
	fputs(dump, stdout);
	free(dump);
	return CLI_EXIT_OK;
}

/* ----------------------------------------------------------------- run */

struct run {
	int json;
	size_t n;
	atomic_int stopping;
	atomic_int ended; /* connections CLOSED on their own */
	pthread_mutex_t out;
};

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void on_event(tether_conn *c, const struct tether_event *ev, void *ud)
{
	struct run *r = ud;
	char why[512] = "";
	const char *name = tether_conn_name(c);

	switch (ev->type) {
	case TETHER_EV_STATE:
	case TETHER_EV_ATTEMPT:
	case TETHER_EV_UP:
	case TETHER_EV_DOWN:
	case TETHER_EV_RETRY:
	case TETHER_EV_SUSPEND:
	case TETHER_EV_GIVE_UP:
	case TETHER_EV_FATAL:
	case TETHER_EV_CLOSED:
		break;
	default:
		return;
	}
	if (ev->reason)
		tether_reason_format(ev->reason, why, sizeof(why));
	if (ev->type == TETHER_EV_CLOSED && !atomic_load(&r->stopping))
		atomic_fetch_add(&r->ended, 1);
	pthread_mutex_lock(&r->out);
	if (r->json) {
		printf("{\"t_ms\":%llu,\"conn\":", (unsigned long long)ev->now_ms);
		json_str(stdout, name);
		printf(",\"event\":\"%s\",\"state\":\"%s\"",
		       tether_event_name(ev->type),
		       tether_state_name(ev->state));
		if (ev->type == TETHER_EV_STATE)
			printf(",\"from\":\"%s\"",
			       tether_state_name(ev->old_state));
		if (ev->type == TETHER_EV_ATTEMPT || ev->type == TETHER_EV_UP)
			printf(",\"endpoint\":%u", ev->endpoint);
		if (ev->type == TETHER_EV_RETRY ||
		    ev->type == TETHER_EV_SUSPEND)
			printf(",\"delay_ms\":%llu,\"attempt\":%u",
			       (unsigned long long)ev->delay_ms, ev->attempt);
		if (ev->reason) {
			printf(",\"class\":\"%s\",\"reason\":",
			       tether_class_name(ev->reason->cls));
			json_str(stdout, why);
		}
		if (ev->detail) {
			printf(",\"detail\":");
			json_str(stdout, ev->detail);
		}
		printf("}\n");
	} else {
		printf("%10.3f %-16s %-8s", (double)ev->now_ms / 1000, name,
		       tether_event_name(ev->type));
		if (ev->type == TETHER_EV_STATE)
			printf(" %s -> %s", tether_state_name(ev->old_state),
			       tether_state_name(ev->state));
		if (ev->type == TETHER_EV_ATTEMPT)
			printf(" endpoint %u", ev->endpoint);
		if (ev->type == TETHER_EV_RETRY ||
		    ev->type == TETHER_EV_SUSPEND)
			printf(" in %llu ms (attempt %u)",
			       (unsigned long long)ev->delay_ms, ev->attempt);
		if (ev->reason)
			printf(" %s", why);
		if (ev->detail)
			printf(" (%s)", ev->detail);
		printf("\n");
	}
	fflush(stdout);
	pthread_mutex_unlock(&r->out);
}

static int all_closed(tether_mgr *m, const tether_config *cfg)
{
	for (size_t i = 0; i < tether_config_count(cfg); i++) {
		tether_conn *c = tether_conn_find(m, tether_config_name(cfg, i));

		if (c && tether_conn_state(c) != TETHER_STATE_CLOSED)
			return 0;
	}
	return 1;
}

static int run_loop(tether_mgr *m, const tether_config *cfg, struct run *r,
		    const sigset_t *set)
{
	struct timespec tick = {0, 100 * 1000 * 1000};

	for (;;) {
		int sig = sigtimedwait(set, NULL, &tick);

		if (sig == SIGHUP) {
			fprintf(stderr, "tether: reload not supported yet\n");
			continue;
		}
		if (sig == SIGINT || sig == SIGTERM)
			break;
		if (r->n && (size_t)atomic_load(&r->ended) >= r->n &&
		    all_closed(m, cfg)) {
			fprintf(stderr,
				"tether: every connection has ended "
				"(fatal reasons or the policy gave up)\n");
			return CLI_EXIT_FAIL;
		}
	}
	atomic_store(&r->stopping, 1);
	for (size_t i = 0; i < tether_config_count(cfg); i++)
		tether_conn_stop(tether_conn_find(m, tether_config_name(cfg, i)));
	for (int waited = 0; waited < STOP_WAIT_MS && !all_closed(m, cfg);
	     waited += 50)
		nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
	return CLI_EXIT_OK;
}

int cli_run(int argc, char **argv)
{
	struct run r = {.out = PTHREAD_MUTEX_INITIALIZER};
	const char *path = NULL;
	tether_config *cfg;
	tether_mgr *m = NULL;
	char *errors = NULL;
	sigset_t set;
	int status = CLI_EXIT_OK, rc;

	int bad = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			r.json = 1;
		else if (argv[i][0] != '-' && !path)
			path = argv[i];
		else
			bad = 1;
	}
	if (!path || bad) {
		fprintf(stderr, "usage: tether run CONFIG [--json]\n");
		return CLI_EXIT_USAGE;
	}
	cfg = load(path, &status);
	if (!cfg)
		return status;
	r.n = tether_config_count(cfg);
	/* blocked here, so the loop thread inherits the mask and only
	   sigtimedwait below sees them */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	rc = tether_mgr_new(&m);
	if (rc == 0)
		rc = tether_mgr_set_event_cb(m, on_event, &r);
	if (rc == 0)
		rc = tether_config_apply(cfg, m, &errors);
	for (size_t i = 0; rc == 0 && i < r.n; i++) {
		tether_conn *c = tether_conn_find(m, tether_config_name(cfg, i));

		rc = tether_conn_start(c);
		if (rc != 0)
			fprintf(stderr, "tether: %s: %s\n",
				tether_config_name(cfg, i),
				tether_conn_error(c)[0] ? tether_conn_error(c)
							: tether_strerror(rc));
	}
	if (rc == 0)
		rc = tether_mgr_start(m);
	if (rc != 0) {
		if (errors)
			cli_errors(errors);
		else
			fprintf(stderr, "tether: %s\n", tether_strerror(rc));
		status = CLI_EXIT_FAIL;
	} else {
		status = run_loop(m, cfg, &r, &set);
	}
	free(errors);
	tether_mgr_free(m);
	tether_config_free(cfg);
	return status;
}
