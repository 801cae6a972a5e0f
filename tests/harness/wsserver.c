/* wsserver: the harness's WebSocket test server as a program, for shell
 * and Python tests: echo, or reject upgrades, driven by stdin. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws_server.h"

static const char usage[] =
    "usage: wsserver [--reject STATUS]\n"
    "\n"
    "Serves WebSocket (subprotocol tether-test) on a free 127.0.0.1 port\n"
    "and prints 'listening on 127.0.0.1:<port>'. Commands on stdin:\n"
    "  echo              accept upgrades and echo messages (the default)\n"
    "  reject STATUS     refuse upgrades with HTTP STATUS (401, 403...)\n"
    "  close CODE        close every open connection with CODE\n"
    "  stats             print 'upgrades N open M'\n"
    "  quit              exit (so does end of input)\n";

static int status_of(const char *s)
{
	char *end;
	long v = s ? strtol(s, &end, 10) : 0;

	return s && *s && !*end && v >= 100 && v <= 599 ? (int)v : -1;
}

int main(int argc, char **argv)
{
	struct th_ws_server_opts o = {.behaviour = TH_WS_ECHO};
	struct th_ws_server *s;
	char line[128];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--reject") && i + 1 < argc &&
		    status_of(argv[i + 1]) > 0) {
			o.behaviour = TH_WS_REJECT;
			o.reject_status = status_of(argv[++i]);
		} else {
			fputs(usage, strcmp(argv[i], "--help") ? stderr : stdout);
			return strcmp(argv[i], "--help") ? 2 : 0;
		}
	}
	if (th_ws_server_start(&o, &s) != 0) {
		fprintf(stderr, "wsserver: cannot start\n");
		return 1;
	}
	printf("listening on 127.0.0.1:%u\n", (unsigned)th_ws_server_port(s));
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		char *arg = strchr(line, ' ');

		line[strcspn(line, "\r\n")] = '\0';
		if (arg)
			*arg++ = '\0';
		if (!strcmp(line, "quit"))
			break;
		if (!strcmp(line, "echo")) {
			o.behaviour = TH_WS_ECHO;
			th_ws_server_set(s, &o);
		} else if (!strcmp(line, "reject") && status_of(arg) > 0) {
			o.behaviour = TH_WS_REJECT;
			o.reject_status = status_of(arg);
			th_ws_server_set(s, &o);
		} else if (!strcmp(line, "close") && arg && atoi(arg) >= 1000 &&
			   atoi(arg) <= 4999) {
			th_ws_server_close_all(s, atoi(arg), "wsserver");
		} else if (!strcmp(line, "stats")) {
			printf("upgrades %u open %u\n", th_ws_server_upgrades(s),
			       th_ws_server_open(s));
		} else {
			printf("? %s\n", line);
		}
		fflush(stdout);
	}
	th_ws_server_free(s);
	return 0;
}
