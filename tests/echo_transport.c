/*
 * The "echo" test transport (see echo_transport.h). Ownership: a link
 * owns its settings and at most one reporter thread, joined before the
 * next starts and before the link goes; the thread owns its job. The
 * counters below are for the tests and locked.
 */
#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "echo_transport.h"

#define ECHO_MAX_SIZE_DEFAULT (64u * 1024u)
#define ECHO_MAX_SIZE_MIN 16u
#define ECHO_MAX_SIZE_MAX (1024u * 1024u)

static const char *const modes[] = {"echo", "drop", NULL};
enum { MODE_ECHO = 0, MODE_DROP };

/* Declared once: the configuration file, `tether check` and the reader
 * below all go by it. */
static const struct tether_option echo_options[] = {
    {.name = "greeting", .type = TETHER_OPTION_TEXT, .def = "hello",
     .doc = "what the echo says first"},
    {.name = "mode", .type = TETHER_OPTION_CHOICE, .def = "echo",
     .choices = modes, .doc = "echo: send messages back; drop: do not"},
    {.name = "max_size", .type = TETHER_OPTION_SIZE, .def = "64KiB",
     .min = ECHO_MAX_SIZE_MIN, .max = ECHO_MAX_SIZE_MAX,
     .doc = "largest message"},
    {.name = "token", .type = TETHER_OPTION_TEXT, .secret = 1,
     .doc = "a credential (mode echo only)"},
    {.name = "verify", .type = TETHER_OPTION_BOOL, .def = "true",
     .place = TETHER_OPTION_TLS, .doc = "verify the peer"},
    {.name = NULL},
};

static const struct tether_default_port echo_ports[] = {{"echo", 7},
							 {NULL, 0}};

static const char *const echo_schemes[] = {"echo", NULL};

static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned links_made;
static char last_greeting[128];

unsigned th_echo_links_made(void)
{
	unsigned n;

	pthread_mutex_lock(&stats_lock);
	n = links_made;
	pthread_mutex_unlock(&stats_lock);
	return n;
}

void th_echo_greeting(char *buf, size_t len)
{
	pthread_mutex_lock(&stats_lock);
	snprintf(buf, len, "%s", last_greeting);
	pthread_mutex_unlock(&stats_lock);
}

struct echo_settings {
	char *greeting;
	int mode;
	uint64_t max_size;
	int verify;
};

struct echo_link {
	tether_conn *conn;
	struct echo_settings set;
	pthread_t th;
	int running;
};

enum job_kind { JOB_UP, JOB_CLOSED, JOB_SENT };

struct echo_job {
	enum job_kind kind;
	tether_conn *conn;
	uint32_t attempt;
	uint64_t msg_id;
	int echo;
	struct tether_message msg; /* JOB_SENT in mode echo: a copy */
	void *payload;
	char *topic;
};

/* The default of an option, from the table. */
static const char *def_of(const char *name)
{
	for (const struct tether_option *o = echo_options; o->name; o++)
		if (strcmp(o->name, name) == 0)
			return o->def;
	return NULL;
}

static int read_settings(struct echo_settings *s, tether_params *p)
{
	const char *g = NULL;
	char *token = NULL;
	int rc = 0, r;

	if (tether_params_string(p, "greeting", "a greeting",
				 def_of("greeting"), &g))
		rc = TETHER_ECONFIG;
	if (tether_params_choice(p, "mode", modes, MODE_ECHO, &s->mode, NULL))
		rc = TETHER_ECONFIG;
	if (tether_params_size(p, "max_size", ECHO_MAX_SIZE_DEFAULT,
			       ECHO_MAX_SIZE_MIN, ECHO_MAX_SIZE_MAX,
			       &s->max_size))
		rc = TETHER_ECONFIG;
	if (tether_params_bool(p, "verify", 1, &s->verify))
		rc = TETHER_ECONFIG;
	r = tether_params_secret(p, "token", "a token", &token);
	if (r == TETHER_ENOMEM)
		return r;
	if (r)
		rc = TETHER_ECONFIG;
	/* a cross-field rule, for the loader's check() path */
	if (token && s->mode == MODE_DROP)
		rc = tether_params_fail(p, "token",
					"not used in mode drop (nothing is "
					"sent back)");
	tether_secret_free(token);
	if (g) {
		s->greeting = strdup(g);
		if (!s->greeting)
			return TETHER_ENOMEM;
	}
	return rc;
}

static int echo_check(tether_conn *conn, tether_params *opts)
{
	struct echo_settings s = {0};
	int rc;

	(void)conn; /* NULL when the configuration loader asks */
	rc = read_settings(&s, opts);
	free(s.greeting);
	return rc;
}

/* Nothing is shared between links; the runtime wants a context all the
 * same (NULL means it could not be made). */
struct echo_ctx {
	tether_mgr *mgr;
};

static int echo_ctx_new(tether_mgr *mgr, void **ctx)
{
	struct echo_ctx *x = calloc(1, sizeof(*x));

	*ctx = x;
	if (!x)
		return TETHER_ENOMEM;
	x->mgr = mgr;
	return 0;
}

static void echo_ctx_free(void *ctx)
{
	free(ctx);
}

static void join(struct echo_link *l)
{
	if (l->running)
		pthread_join(l->th, NULL);
	l->running = 0;
}

static void *job_main(void *arg)
{
	struct echo_job *j = arg;

	switch (j->kind) {
	case JOB_UP:
		tether_transport_up(j->conn, j->attempt, 0);
		break;
	case JOB_CLOSED:
		tether_transport_closed(j->conn, j->attempt);
		break;
	case JOB_SENT:
		tether_transport_sent(j->conn, j->attempt, j->msg_id, 0);
		if (j->echo)
			tether_transport_message(j->conn, j->attempt, &j->msg);
		break;
	}
	free(j->payload);
	free(j->topic);
	free(j);
	return NULL;
}

/* Run j on a fresh thread once the previous one is done; 0 or an error
 * (j freed). */
static int spawn(struct echo_link *l, struct echo_job *j)
{
	join(l);
	if (pthread_create(&l->th, NULL, job_main, j) != 0) {
		free(j->payload);
		free(j->topic);
		free(j);
		return TETHER_ENOMEM;
	}
	l->running = 1;
	return 0;
}

static struct echo_job *job(struct echo_link *l, enum job_kind kind,
			    uint32_t attempt)
{
	struct echo_job *j = calloc(1, sizeof(*j));

	if (j) {
		j->kind = kind;
		j->conn = l->conn;
		j->attempt = attempt;
	}
	return j;
}

static int echo_link_new(void *ctx, tether_conn *conn, tether_params *opts,
			 void **out)
{
	struct echo_link *l = calloc(1, sizeof(*l));
	int rc;

	(void)ctx;
	*out = NULL;
	if (!l)
		return TETHER_ENOMEM;
	l->conn = conn;
	rc = read_settings(&l->set, opts);
	if (rc != 0) {
		free(l->set.greeting);
		free(l);
		return rc;
	}
	pthread_mutex_lock(&stats_lock);
	links_made++;
	snprintf(last_greeting, sizeof(last_greeting), "%s",
		 l->set.greeting ? l->set.greeting : "");
	pthread_mutex_unlock(&stats_lock);
	*out = l;
	return 0;
}

static void echo_link_free(void *link)
{
	struct echo_link *l = link;

	if (!l)
		return;
	join(l);
	free(l->set.greeting);
	free(l);
}

static int echo_connect(void *link, uint32_t attempt, const char *uri)
{
	struct echo_link *l = link;
	struct echo_job *j;

	if (strncmp(uri, "echo://", 7) != 0)
		return TETHER_EINVAL;
	j = job(l, JOB_UP, attempt);
	return j ? spawn(l, j) : TETHER_ENOMEM;
}

static void echo_abort(void *link, uint32_t attempt)
{
	(void)attempt;
	join(link);
}

static void echo_close(void *link, uint32_t attempt)
{
	struct echo_link *l = link;
	struct echo_job *j = job(l, JOB_CLOSED, attempt);

	if (j)
		spawn(l, j);
}

static int echo_send(void *link, uint32_t attempt, uint64_t msg_id,
		     const struct tether_message *msg)
{
	struct echo_link *l = link;
	struct echo_job *j;

	if (msg->len > l->set.max_size)
		return TETHER_EINVAL;
	j = job(l, JOB_SENT, attempt);
	if (!j)
		return TETHER_ENOMEM;
	j->msg_id = msg_id;
	j->echo = l->set.mode == MODE_ECHO;
	if (j->echo) {
		j->msg = *msg;
		j->payload = malloc(msg->len ? msg->len : 1);
		j->topic = msg->topic ? strdup(msg->topic) : NULL;
		if (!j->payload || (msg->topic && !j->topic)) {
			free(j->payload);
			free(j->topic);
			free(j);
			return TETHER_ENOMEM;
		}
		memcpy(j->payload, msg->payload, msg->len);
		j->msg.payload = j->payload;
		j->msg.topic = j->topic;
		j->msg.props = NULL;
	}
	return spawn(l, j);
}

const struct tether_transport_ops th_echo_transport = {
    .abi = TETHER_TRANSPORT_ABI,
    .name = "echo",
    .schemes = echo_schemes,
    .ctx_new = echo_ctx_new,
    .ctx_free = echo_ctx_free,
    .link_new = echo_link_new,
    .link_free = echo_link_free,
    .connect = echo_connect,
    .abort = echo_abort,
    .close = echo_close,
    .send = echo_send,
    .ping = NULL, /* no heartbeat: the link cannot go quiet */
    .check = echo_check,
    .options = echo_options,
    .yaml_section = "echo",
    .default_ports = echo_ports,
};
