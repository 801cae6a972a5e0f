/*
 * A process holding one tether MQTT connection, for the last-will tests
 * (tests/check_mqtt_gateway.c): the test kills it with SIGKILL (the broker
 * publishes the will) or closes its stdin (it stops the connection with a
 * DISCONNECT: no will).
 *
 *   mqtt_holder URI KEY=VALUE...
 *
 * Each KEY=VALUE is a transport option (tether_conn_set_option). On
 * stdout, one line each: "up" once the link is up, "closed" after the
 * orderly stop, "error TEXT" when it cannot start.
 */
#include "config.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tether/tether.h>

static atomic_int closed;

static void on_event(tether_conn *c, const struct tether_event *ev, void *ud)
{
	(void)c;
	(void)ud;
	if (ev->type == TETHER_EV_UP) {
		printf("up\n");
		fflush(stdout);
	} else if (ev->type == TETHER_EV_CLOSED) {
		atomic_store(&closed, 1);
	}
}

int main(int argc, char **argv)
{
	tether_mgr *m;
	tether_conn *c;
	char buf[64];
	int rc;

	if (argc < 2) {
		fprintf(stderr, "usage: mqtt_holder URI KEY=VALUE...\n");
		return 2;
	}
	if (tether_mgr_new(&m) != 0 ||
	    tether_mgr_set_event_cb(m, on_event, NULL) != 0 ||
	    tether_conn_new(m, "holder", "mqtt", &c) != 0 ||
	    tether_conn_add_endpoint(c, argv[1]) != 0)
		return 1;
	for (int i = 2; i < argc; i++) {
		char *eq = strchr(argv[i], '=');

		if (!eq)
			return 2;
		*eq = '\0';
		if (tether_conn_set_option(c, argv[i], eq + 1) != 0)
			return 2;
	}
	rc = tether_mgr_start(m);
	if (rc == 0)
		rc = tether_conn_start(c);
	if (rc != 0) {
		printf("error %s\n", tether_conn_error(c));
		fflush(stdout);
		tether_mgr_free(m);
		return 1;
	}
	/* until stdin ends: then an orderly stop */
	while (read(0, buf, sizeof(buf)) > 0)
		;
	tether_conn_stop(c);
	for (int i = 0; i < 500 && !atomic_load(&closed); i++)
		usleep(10000);
	printf("closed\n");
	fflush(stdout);
	tether_mgr_free(m);
	return 0;
}
