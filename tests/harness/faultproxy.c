/* faultproxy: the test harness's fault proxy as a program, driven by
 * commands on stdin (for the demo and for poking at things by hand). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

static const char usage[] =
    "usage: faultproxy --target PORT [--port-file FILE]\n"
    "\n"
    "Relays 127.0.0.1:<ephemeral> to 127.0.0.1:PORT and prints\n"
    "'listening on 127.0.0.1:<port>'. Commands on stdin, one per line:\n"
    "  pass              relay both ways\n"
    "  delay MS          hold every chunk MS milliseconds\n"
    "  refuse            refuse new connections (ECONNREFUSED)\n"
    "  reset             reset current and new connections (RST)\n"
    "  blackhole         accept and hold connections, relay nothing\n"
    "  bandwidth BYTES   at most BYTES per second per direction\n"
    "  cut | cut rst     drop current connections with FIN | RST\n"
    "  target PORT       send new connections to 127.0.0.1:PORT\n"
    "  stats             print 'attempts N open M'\n"
    "  quit              exit (so does end of input)\n";

/* A decimal number in [min, max], the whole of s. */
static int parse_num(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int write_port_file(const char *path, uint16_t port)
{
	char tmp[4096];
	FILE *f;

	/* Readers poll for the file: let it appear complete, via rename. */
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -1;
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f, "%u\n", (unsigned)port);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		remove(tmp);
		return -1;
	}
	return 0;
}

/* Run one command line; returns 1 to quit, 0 otherwise. */
static int command(struct th_proxy *p, char *line)
{
	char *verb = strtok(line, " \t\r\n");
	char *arg = strtok(NULL, " \t\r\n");
	char *extra = strtok(NULL, " \t\r\n");
	uint64_t n = 0;

	if (!verb)
		return 0;
	if (extra)
		goto bad_args;
	if (!strcmp(verb, "quit")) {
		return 1;
	} else if (!strcmp(verb, "pass") && !arg) {
		th_proxy_set_mode(p, TH_PROXY_PASS, 0);
	} else if (!strcmp(verb, "refuse") && !arg) {
		th_proxy_set_mode(p, TH_PROXY_REFUSE, 0);
	} else if (!strcmp(verb, "reset") && !arg) {
		th_proxy_set_mode(p, TH_PROXY_RESET, 0);
	} else if (!strcmp(verb, "blackhole") && !arg) {
		th_proxy_set_mode(p, TH_PROXY_BLACKHOLE, 0);
	} else if (!strcmp(verb, "delay")) {
		if (parse_num(arg, 0, 3600000, &n) != 0)
			goto bad_args;
		th_proxy_set_mode(p, TH_PROXY_DELAY, n);
	} else if (!strcmp(verb, "bandwidth")) {
		if (parse_num(arg, 1, UINT64_MAX, &n) != 0)
			goto bad_args;
		th_proxy_set_mode(p, TH_PROXY_BANDWIDTH, n);
	} else if (!strcmp(verb, "cut")) {
		if (arg && strcmp(arg, "rst") != 0)
			goto bad_args;
		th_proxy_cut(p, arg != NULL);
	} else if (!strcmp(verb, "target")) {
		if (parse_num(arg, 1, 65535, &n) != 0)
			goto bad_args;
		th_proxy_set_target(p, (uint16_t)n);
	} else if (!strcmp(verb, "stats") && !arg) {
		printf("attempts %" PRIu64 " open %zu\n", th_proxy_attempts(p),
		       th_proxy_open(p));
		fflush(stdout);
	} else if (!strcmp(verb, "pass") || !strcmp(verb, "refuse") ||
		   !strcmp(verb, "reset") || !strcmp(verb, "blackhole") ||
		   !strcmp(verb, "stats")) {
		goto bad_args;
	} else {
		fprintf(stderr,
			"faultproxy: unknown command '%s' (commands: pass, "
			"delay MS, refuse, reset, blackhole, bandwidth BYTES, "
			"cut, cut rst, target PORT, stats, quit)\n",
			verb);
	}
	return 0;

bad_args:
	fprintf(stderr, "faultproxy: bad arguments for '%s' (see --help)\n",
		verb);
	return 0;
}

int main(int argc, char **argv)
{
	const char *port_file = NULL;
	uint64_t target = 0;
	struct th_proxy *p;
	char line[512];
	int rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--target") && i + 1 < argc) {
			if (parse_num(argv[++i], 1, 65535, &target) != 0) {
				fprintf(stderr, "faultproxy: bad port '%s'\n",
					argv[i]);
				return 2;
			}
		} else if (!strcmp(argv[i], "--port-file") && i + 1 < argc) {
			port_file = argv[++i];
		} else {
			fprintf(stderr, "faultproxy: unexpected '%s'\n%s",
				argv[i], usage);
			return 2;
		}
	}
	if (!target) {
		fprintf(stderr, "faultproxy: --target PORT is required\n%s",
			usage);
		return 2;
	}
	rc = th_proxy_start((uint16_t)target, &p);
	if (rc != 0) {
		fprintf(stderr, "faultproxy: cannot start: %s\n",
			strerror(-rc));
		return 1;
	}
	if (port_file && write_port_file(port_file, th_proxy_port(p)) != 0) {
		fprintf(stderr, "faultproxy: cannot write %s: %s\n", port_file,
			strerror(errno));
		th_proxy_free(p);
		return 1;
	}
	printf("listening on 127.0.0.1:%u\n", (unsigned)th_proxy_port(p));
	fflush(stdout);

	while (fgets(line, sizeof(line), stdin))
		if (command(p, line))
			break;
	th_proxy_free(p);
	return 0;
}
