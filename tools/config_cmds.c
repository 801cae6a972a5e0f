/* tether check / tether run: the configuration file from the command line. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

/* What `log: {level}` shows: warn = what went wrong (down, give-up,
 * fatal, closed, reload); info = also every state change, attempt, up,
 * retry, suspend; debug = also messages and send outcomes. */
enum log_level { LOG_INFO = 0, LOG_DEBUG, LOG_WARN };

struct run {
	int json;
	int level;
	size_t n;
	atomic_int stopping;
	pthread_mutex_t out;
};

static int shown(int level, enum tether_event_type t)
{
	switch (t) {
	case TETHER_EV_DOWN:
	case TETHER_EV_GIVE_UP:
	case TETHER_EV_FATAL:
	case TETHER_EV_CLOSED:
	case TETHER_EV_RELOAD:
	case TETHER_EV_WARNING:
		return 1;
	case TETHER_EV_MESSAGE:
	case TETHER_EV_SENT:
		return level == LOG_DEBUG;
	default:
		return level != LOG_WARN;
	}
}

static void on_event(tether_conn *c, const struct tether_event *ev, void *ud)
{
	struct run *r = ud;
	char why[512] = "";
	const char *name = tether_conn_name(c);

	if (!shown(r->level, ev->type))
		return;
	if (ev->reason)
		tether_reason_format(ev->reason, why, sizeof(why));
	pthread_mutex_lock(&r->out);
	if (r->json) {
		printf("{\"t_ms\":%llu,\"conn\":", (unsigned long long)ev->now_ms);
		cli_json_str(stdout, name);
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
			cli_json_str(stdout, why);
		}
		if (ev->detail) {
			printf(",\"detail\":");
			cli_json_str(stdout, ev->detail);
		}
		if (ev->type == TETHER_EV_SENT)
			printf(",\"id\":%llu,\"error\":\"%s\"",
			       (unsigned long long)ev->msg_id,
			       ev->error ? tether_err_name(ev->error) : "");
		if (ev->type == TETHER_EV_MESSAGE)
			printf(",\"bytes\":%zu", ev->message->len);
		printf("}\n");
	} else {
		printf("%10.3f ", (double)ev->now_ms / 1000);
		/* a name is one field: padded as before, escaped */
		cli_text_str(stdout, name);
		printf("%*s %-8s",
		       strlen(name) < 16 ? (int)(16 - strlen(name)) : 0, "",
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
		/* the reason and the detail carry a peer's words (a close
		   reason, a DISCONNECT reason string, a redirect target) */
		if (ev->reason) {
			fputc(' ', stdout);
			cli_text_str(stdout, why);
		}
		if (ev->detail) {
			fputs(" (", stdout);
			cli_text_str(stdout, ev->detail);
			fputc(')', stdout);
		}
		if (ev->type == TETHER_EV_SENT)
			printf(" id %llu %s", (unsigned long long)ev->msg_id,
			       ev->error ? tether_strerror(ev->error)
					 : "delivered");
		if (ev->type == TETHER_EV_MESSAGE)
			printf(" %zu bytes", ev->message->len);
		printf("\n");
	}
	fflush(stdout);
	pthread_mutex_unlock(&r->out);
}

/* ----------------------------------------------------------------- loop */

static int all_closed(tether_mgr *m, const tether_config *cfg)
{
	for (size_t i = 0; i < tether_config_count(cfg); i++) {
		tether_conn *c = tether_conn_find(m, tether_config_name(cfg, i));

		if (c && tether_conn_state(c) != TETHER_STATE_CLOSED)
			return 0;
	}
	return 1;
}

/* One line for the reload as a whole (per-connection changes come as
 * reload events); errors go to stderr as well. */
static void reload_line(struct run *r, const char *path, const char *errors)
{
	pthread_mutex_lock(&r->out);
	if (r->json) {
		printf("{\"event\":\"reload\",\"file\":");
		cli_json_str(stdout, path);
		printf(",\"ok\":%s", errors ? "false" : "true");
		if (errors) {
			printf(",\"errors\":");
			cli_json_str(stdout, errors);
		}
		printf("}\n");
	} else {
		fputs("reload ", stdout);
		cli_text_str(stdout, path);
		printf(": %s\n",
		       errors ? "refused, nothing changed" : "applied");
	}
	fflush(stdout);
	pthread_mutex_unlock(&r->out);
	if (errors) {
		fprintf(stderr, "tether: reload of %s refused, nothing "
				"changed:\n", path);
		cli_errors(errors);
	}
}

/*
 * SIGHUP: load path again, on a thread of its own, so that the loop below
 * still answers SIGTERM and SIGINT while a large file is parsed; the
 * running configuration changes only when the whole file is good, and
 * only on this thread (tether_config_reload()).
 */
struct reloader {
	const char *path;
	pthread_t thread;
	int running;  /* a load is under way (joined when done) */
	int again;    /* SIGHUP came meanwhile: load once more */
	atomic_int done;
	tether_config *next;
	char *errors;
	int rc;
};

static void *reload_main(void *arg)
{
	struct reloader *rl = arg;

	rl->rc = tether_config_load_file(rl->path, &rl->next, &rl->errors);
	atomic_store(&rl->done, 1);
	return NULL;
}

static void reload_start(struct reloader *rl)
{
	if (rl->running) {
		rl->again = 1;
		return;
	}
	rl->next = NULL;
	rl->errors = NULL;
	atomic_store(&rl->done, 0);
	if (pthread_create(&rl->thread, NULL, reload_main, rl) != 0) {
		reload_main(rl); /* no thread: load here, as before */
		return;
	}
	rl->running = 1;
}

/* Wait for the load under way; its result is the caller's. */
static void reload_join(struct reloader *rl)
{
	if (rl->running)
		pthread_join(rl->thread, NULL);
	rl->running = 0;
}

/* A load still under way at the stop (a file on a hung mount, a FIFO
   nobody writes) is left to end with the process: kept reachable here. */
static struct reloader *dropped_reload;

/* The load ended: apply it or say why not. */
static void reload_apply(tether_mgr *m, struct reloader *rl,
			 tether_config **cfg, struct run *r)
{
	char *errors = rl->errors;
	int rc = rl->rc;

	rl->errors = NULL;
	if (rc == 0)
		rc = tether_config_reload(rl->next, m, &errors);
	if (rc != 0) {
		if (!errors)
			errors = strdup(tether_strerror(rc));
		reload_line(r, rl->path, errors ? errors : "out of memory");
		free(errors);
		tether_config_free(rl->next);
		rl->next = NULL;
		return;
	}
	if (strcmp(tether_config_log_format(rl->next),
		   tether_config_log_format(*cfg)) != 0 ||
	    strcmp(tether_config_log_level(rl->next),
		   tether_config_log_level(*cfg)) != 0)
		fprintf(stderr, "tether: log: takes effect at the next start\n");
	tether_config_free(*cfg);
	*cfg = rl->next;
	rl->next = NULL;
	r->n = tether_config_count(*cfg);
	reload_line(r, rl->path, NULL);
}

static int run_loop(tether_mgr *m, const char *path, tether_config **cfg,
		    struct run *r, const sigset_t *set)
{
	struct timespec tick = {0, 50 * 1000 * 1000};
	struct reloader *rl = calloc(1, sizeof(*rl));
	int status = CLI_EXIT_OK;

	if (!rl) {
		fprintf(stderr, "tether: out of memory\n");
		return CLI_EXIT_FAIL;
	}
	rl->path = path;
	for (;;) {
		int sig = sigtimedwait(set, NULL, &tick);

		if (sig == SIGINT || sig == SIGTERM)
			break;
		if (sig == SIGHUP)
			reload_start(rl);
		if (atomic_load(&rl->done)) {
			reload_join(rl);
			atomic_store(&rl->done, 0);
			reload_apply(m, rl, cfg, r);
			if (rl->again) {
				rl->again = 0;
				reload_start(rl);
			}
			continue;
		}
		if (r->n && !rl->running && all_closed(m, *cfg)) {
			fprintf(stderr,
				"tether: every connection has ended "
				"(fatal reasons or the policy gave up)\n");
			status = CLI_EXIT_FAIL;
			break;
		}
	}
	if (status == CLI_EXIT_OK) {
		/* a stop does not wait for a reload: the connections stop
		   now, and the file being loaded is dropped */
		atomic_store(&r->stopping, 1);
		for (size_t i = 0; i < tether_config_count(*cfg); i++)
			tether_conn_stop(
			    tether_conn_find(m, tether_config_name(*cfg, i)));
		if (rl->running)
			fprintf(stderr, "tether: stopping; the reload of %s "
					"under way is dropped\n", path);
		for (int waited = 0;
		     waited < STOP_WAIT_MS && !all_closed(m, *cfg);
		     waited += 50)
			nanosleep(&(struct timespec){0, 50 * 1000 * 1000},
				  NULL);
	}
	if (rl->running && !atomic_load(&rl->done)) {
		pthread_detach(rl->thread);
		dropped_reload = rl;
		return status;
	}
	reload_join(rl);
	tether_config_free(rl->next);
	free(rl->errors);
	free(rl);
	return status;
}

static void run_usage(FILE *f)
{
	fprintf(f,
		"usage: tether run CONFIG [--json] [--metrics [ADDRESS:]PORT "
		"[--metrics-any]]\n"
		"\n"
		"Run every connection of CONFIG, one line per event; SIGHUP\n"
		"reloads CONFIG (a bad file changes nothing); SIGINT or SIGTERM\n"
		"stops gracefully (exit 0); exit 1 when every connection ended\n"
		"on its own (fatal, gave up), 2 for a bad command line or\n"
		"configuration. The file's log: and metrics: sections apply\n"
		"unless the options below say otherwise.\n"
		"\n"
		"  --json                one JSON object per line instead of text\n"
		"  --metrics [ADDR:]PORT serve Prometheus metrics over HTTP at\n"
		"                        http://ADDR:PORT/metrics (ADDR defaults\n"
		"                        to 127.0.0.1; [::1]:PORT for IPv6; port 0\n"
		"                        picks a free one, printed on stderr)\n"
		"  --metrics-any         allow a non-loopback ADDR (0.0.0.0...);\n"
		"                        without it only loopback is accepted\n"
		"  -h, --help            this text\n");
}

int cli_run(int argc, char **argv)
{
	struct run r = {.out = PTHREAD_MUTEX_INITIALIZER};
	struct cli_metrics *ms = NULL;
	const char *path = NULL, *metrics = NULL;
	tether_config *cfg;
	tether_mgr *m = NULL;
	char *errors = NULL;
	sigset_t set;
	int status = CLI_EXIT_OK, rc;
	int bad = 0, metrics_any = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			r.json = 1;
		} else if (strcmp(argv[i], "--help") == 0 ||
			   strcmp(argv[i], "-h") == 0) {
			run_usage(stdout);
			return CLI_EXIT_OK;
		} else if (strcmp(argv[i], "--metrics") == 0 && i + 1 < argc) {
			metrics = argv[++i];
		} else if (strncmp(argv[i], "--metrics=", 10) == 0) {
			metrics = argv[i] + 10;
		} else if (strcmp(argv[i], "--metrics-any") == 0) {
			metrics_any = 1;
		} else if (argv[i][0] != '-' && !path) {
			path = argv[i];
		} else {
			bad = 1;
		}
	}
	if (!path || bad) {
		run_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	cfg = load(path, &status);
	if (!cfg)
		return status;
	r.n = tether_config_count(cfg);
	if (strcmp(tether_config_log_format(cfg), "json") == 0)
		r.json = 1;
	r.level = !strcmp(tether_config_log_level(cfg), "debug")  ? LOG_DEBUG
		  : !strcmp(tether_config_log_level(cfg), "warn") ? LOG_WARN
								  : LOG_INFO;
	if (!metrics)
		metrics = tether_config_metrics_listen(cfg);
	if (metrics_any && !metrics) {
		tether_config_free(cfg);
		run_usage(stderr);
		return CLI_EXIT_USAGE;
	}
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
	if (rc == 0 && metrics) {
		/* before the loop starts: a bad address or a busy port stops
		   the run before any connection is attempted */
		status = cli_metrics_start(&ms, m, metrics, metrics_any);
		if (status != CLI_EXIT_OK) {
			free(errors);
			tether_mgr_free(m);
			tether_config_free(cfg);
			return status;
		}
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
		status = run_loop(m, path, &cfg, &r, &set);
	}
	cli_metrics_stop(ms);
	free(errors);
	tether_mgr_free(m);
	tether_config_free(cfg);
	return status;
}
