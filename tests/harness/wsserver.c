/* wsserver: the test harness's WebSocket server as a program, driven by
 * commands on stdin (for the Python binding's tests and for poking at
 * things by hand). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws_server.h"

static const char usage[] =
    "usage: wsserver [--reject STATUS]\n"
    "\n"
    "Serves ws:// on 127.0.0.1:<ephemeral> (subprotocol tether-test, echo)\n"
    "and prints 'listening on 127.0.0.1:<port>'. Commands on stdin, one\n"
    "per line, for connections that upgrade from then on:\n"
    "  echo              accept and echo every message\n"
    "  reject STATUS     refuse the upgrade with HTTP STATUS\n"
    "  ignore_pings      accept and echo, never answer pings\n"
    "  close_all CODE    send a close frame with CODE to every open\n"
    "                    connection now\n"
    "  stats             print 'upgrades N open M pings P'\n"
    "  quit              exit (so does end of input)\n";

static int parse_num(const char *s, long min, long max, int *out)
{
	char *end;
	long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

/* Run one command line; returns 1 to quit, 0 otherwise. */
static int command(struct th_ws_server *s, char *line)
{
	char *verb = strtok(line, " \t\r\n");
	char *arg = strtok(NULL, " \t\r\n");
	struct th_ws_server_opts o = {0};
	int n = 0;

	if (!verb)
		return 0;
	if (!strcmp(verb, "quit")) {
		return 1;
	} else if (!strcmp(verb, "echo") && !arg) {
		o.behaviour = TH_WS_ECHO;
		th_ws_server_set(s, &o);
	} else if (!strcmp(verb, "ignore_pings") && !arg) {
		o.behaviour = TH_WS_IGNORE_PINGS;
		th_ws_server_set(s, &o);
	} else if (!strcmp(verb, "reject") &&
		   parse_num(arg, 100, 599, &n) == 0) {
		o.behaviour = TH_WS_REJECT;
		o.reject_status = n;
		th_ws_server_set(s, &o);
	} else if (!strcmp(verb, "close_all") &&
		   parse_num(arg, 1000, 4999, &n) == 0) {
		th_ws_server_close_all(s, n, "wsserver close_all");
	} else if (!strcmp(verb, "stats") && !arg) {
		printf("upgrades %u open %u pings %u\n",
		       th_ws_server_upgrades(s), th_ws_server_open(s),
		       th_ws_server_pings(s));
	} else {
		fprintf(stderr, "wsserver: bad command '%s' (see --help)\n",
			verb);
		return 0;
	}
	/* Every command is acknowledged, so a driver knows it took effect. */
	printf("ok\n");
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	struct th_ws_server_opts o = {0};
	struct th_ws_server *s;
	char line[512];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--reject") && i + 1 < argc) {
			if (parse_num(argv[++i], 100, 599, &o.reject_status)) {
				fprintf(stderr, "wsserver: bad status '%s'\n",
					argv[i]);
				return 2;
			}
			o.behaviour = TH_WS_REJECT;
		} else {
			fprintf(stderr, "wsserver: unexpected '%s'\n%s",
				argv[i], usage);
			return 2;
		}
	}
	if (th_ws_server_start(&o, &s) != 0) {
		fprintf(stderr, "wsserver: cannot start\n");
		return 1;
	}
	printf("listening on 127.0.0.1:%u\n", (unsigned)th_ws_server_port(s));
	fflush(stdout);

	while (fgets(line, sizeof(line), stdin))
		if (command(s, line))
			break;
	th_ws_server_free(s);
	return 0;
}
