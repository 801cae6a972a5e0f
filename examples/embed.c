/*
 * Driving tether from the host's own event loop (the c-ares / curl-multi
 * pattern): watch tether_mgr_fd() for reading, sleep at most
 * tether_mgr_timeout_ms(), then call tether_mgr_dispatch(). Every callback
 * runs inside dispatch, on this thread.
 *
 *     embed ws://127.0.0.1:8080/events            # WebSocket
 *     embed tcp://127.0.0.1:1883 gateway/status   # MQTT, publish to a topic
 *
 * Build against an installed tether:
 *     cc embed.c $(pkg-config --cflags --libs tether) -o embed
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <tether/tether.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void on_event(tether_conn *c, const struct tether_event *ev, void *ud)
{
	const char *topic = ud;
	char why[256] = "";

	if (ev->reason)
		tether_reason_format(ev->reason, why, sizeof why);
	switch (ev->type) {
	case TETHER_EV_STATE:
		printf("%s: %s -> %s\n", tether_conn_name(c),
		       tether_state_name(ev->old_state),
		       tether_state_name(ev->state));
		break;
	case TETHER_EV_UP: {
		struct tether_message m = {.size = sizeof m, .topic = topic,
					   .payload = "online", .len = 6,
					   .qos = 1};
		tether_conn_send(c, &m, NULL); /* allowed inside a callback */
		break;
	}
	case TETHER_EV_DOWN:
	case TETHER_EV_FATAL:
		printf("%s: %s: %s\n", tether_conn_name(c),
		       tether_event_name(ev->type), why);
		break;
	case TETHER_EV_RETRY:
		printf("%s: retry in %llu ms\n", tether_conn_name(c),
		       (unsigned long long)ev->delay_ms);
		break;
	case TETHER_EV_MESSAGE:
		printf("%s: message: %.*s\n", tether_conn_name(c),
		       (int)ev->message->len,
		       (const char *)ev->message->payload);
		break;
	case TETHER_EV_SENT:
		printf("%s: message %llu %s\n", tether_conn_name(c),
		       (unsigned long long)ev->msg_id,
		       ev->error ? tether_strerror(ev->error) : "delivered");
		break;
	default:
		break;
	}
}

int main(int argc, char **argv)
{
	tether_mgr *m = NULL;
	tether_conn *c = NULL;
	const char *uri = argc > 1 ? argv[1] : "ws://127.0.0.1:8080/";
	const char *topic = argc > 2 ? argv[2] : NULL;
	int rc;

	if (tether_mgr_new(&m) != 0)
		return 1;
	tether_mgr_set_event_cb(m, on_event, (void *)topic);
	rc = tether_conn_new(m, "link", strncmp(uri, "ws", 2) == 0 ? "ws" : "mqtt",
			     &c);
	if (rc == 0)
		rc = tether_conn_add_endpoint(c, uri);
	if (rc == 0)
		rc = tether_conn_start(c);
	if (rc != 0) {
		fprintf(stderr, "embed: %s: %s\n", tether_strerror(rc),
			c ? tether_conn_error(c) : "");
		tether_mgr_free(m);
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	while (!stop) {
		struct pollfd pfd = {.fd = tether_mgr_fd(m), .events = POLLIN};
		/* ... the host adds its own fds here ... */
		poll(&pfd, 1, tether_mgr_timeout_ms(m));
		tether_mgr_dispatch(m);
	}
	tether_conn_stop(c);
	for (int i = 0; i < 100 && tether_conn_state(c) != TETHER_STATE_CLOSED; i++) {
		struct pollfd pfd = {.fd = tether_mgr_fd(m), .events = POLLIN};
		poll(&pfd, 1, 20);
		tether_mgr_dispatch(m);
	}
	tether_mgr_free(m);
	return 0;
}
