/*
 * A sender process for the spool crash test (tests/check_zeroloss.c):
 * one tether MQTT connection with a durable spool, sending numbered QoS 1
 * messages. The test kills it with SIGKILL mid-stream and starts it again.
 *
 *   spool_sender URI SPOOL_DIR FIRST COUNT RATE
 *
 * sends the payloads "FIRST" .. "FIRST+COUNT-1" to topic zl/spool, RATE
 * per second (0: as fast as the spool takes them), then keeps the
 * connection running (delivering what it has) until its stdin reaches
 * end of file; then it stops the connection and exits 0.
 *
 * On stdout, one line each, written whole:
 *   accepted SEQ        tether_conn_send returned 0 for SEQ
 *   rejected SEQ ERR    it did not (ERR: the error's name)
 *   warning TEXT        a TETHER_EV_WARNING (spool recovery)
 *   dropped ID ERR      a SENT event with an error
 *   bye SENT ERRORS     at the end: SENT events, those with an error
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <poll.h>
#include <tether/policy.h>
#include <tether/tether.h>

#define TOPIC "zl/spool"

static tether_mgr *mgr;
static atomic_uint n_sent, n_err, n_closed;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* One line, in one write(2): lines from two threads never interleave. */
static void say(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	for (ssize_t off = 0, w; off < n; off += w) {
		w = write(1, line + off, (size_t)(n - off));
		if (w < 0 && errno == EINTR)
			w = 0;
		else if (w <= 0)
			return;
	}
}

static void on_event(tether_conn *c, const struct tether_event *ev, void *ud)
{
	(void)c;
	(void)ud;
	switch (ev->type) {
	case TETHER_EV_WARNING:
		say("warning %s", ev->detail ? ev->detail : "");
		break;
	case TETHER_EV_SENT:
		atomic_fetch_add(&n_sent, 1);
		if (ev->error) {
			atomic_fetch_add(&n_err, 1);
			say("dropped %llu %s", (unsigned long long)ev->msg_id,
			    tether_err_name(ev->error));
		}
		break;
	case TETHER_EV_CLOSED:
		atomic_fetch_add(&n_closed, 1);
		break;
	default:
		break;
	}
}

/* Whether stdin reached end of file (the test closed its end). */
static int stdin_closed(int wait_ms)
{
	struct pollfd p = {.fd = 0, .events = POLLIN};
	char buf[64];

	if (poll(&p, 1, wait_ms) <= 0)
		return 0;
	return read(0, buf, sizeof(buf)) <= 0;
}

int main(int argc, char **argv)
{
	struct tether_queue_cfg q;
	tether_params *pol;
	tether_conn *c;
	unsigned long first, count, rate;
	uint64_t t0;
	int rc;

	if (argc != 6) {
		fprintf(stderr, "usage: spool_sender URI SPOOL_DIR FIRST COUNT "
				"RATE\n");
		return 2;
	}
	first = strtoul(argv[3], NULL, 10);
	count = strtoul(argv[4], NULL, 10);
	rate = strtoul(argv[5], NULL, 10);
	if (tether_mgr_new(&mgr) != 0 ||
	    tether_mgr_set_event_cb(mgr, on_event, NULL) != 0 ||
	    tether_conn_new(mgr, "sender", "mqtt", &c) != 0 ||
	    tether_conn_add_endpoint(c, argv[1]) != 0 ||
	    tether_conn_set_option(c, "version", "3.1.1") != 0 ||
	    tether_conn_set_option(c, "client_id", "zl-spool-sender") != 0 ||
	    tether_conn_set_option(c, "keepalive", "2s") != 0) {
		fprintf(stderr, "spool_sender: setup failed\n");
		return 1;
	}
	pol = tether_params_new(NULL);
	tether_params_set(pol, "type", "fixed", NULL);
	tether_params_set(pol, "interval", "100ms", NULL);
	rc = tether_conn_set_policy(c, pol);
	tether_params_free(pol);
	tether_queue_cfg_defaults(&q);
	q.max_messages = 1000000;
	q.max_bytes = 256u << 20;
	q.spool_dir = argv[2];
	q.fsync = TETHER_FSYNC_ALWAYS;
	if (rc == 0)
		rc = tether_conn_set_queue(c, &q);
	if (rc == 0)
		rc = tether_mgr_start(mgr);
	if (rc == 0)
		rc = tether_conn_start(c);
	if (rc != 0) {
		fprintf(stderr, "spool_sender: %s: %s\n", tether_strerror(rc),
			tether_conn_error(c));
		tether_mgr_free(mgr);
		return 1;
	}
	t0 = now_ms();
	for (unsigned long i = 0; i < count; i++) {
		char text[24];
		struct tether_message m = {.size = sizeof(m),
					   .topic = TOPIC,
					   .payload = text,
					   .qos = 1};

		while (rate && now_ms() < t0 + (uint64_t)i * 1000 / rate)
			usleep(500);
		m.len = (size_t)snprintf(text, sizeof(text), "%lu", first + i);
		rc = tether_conn_send(c, &m, NULL);
		if (rc == 0)
			say("accepted %lu", first + i);
		else
			say("rejected %lu %s", first + i, tether_err_name(rc));
	}
	/* deliver until told to stop (bounded: the test kills us anyway) */
	for (int i = 0; i < 6000 && !stdin_closed(50); i++)
		;
	tether_conn_stop(c);
	for (int i = 0; i < 100 && !atomic_load(&n_closed); i++)
		usleep(20000);
	tether_mgr_free(mgr);
	say("bye %u %u", atomic_load(&n_sent), atomic_load(&n_err));
	return 0;
}
