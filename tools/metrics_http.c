/*
 * tether run --metrics: a small HTTP/1.0 server for Prometheus.
 *
 * One thread of its own, event-driven with poll(): every client socket is
 * non-blocking and is served as far as its bytes allow, so no client can
 * hold up another (a scrape beside 20 idle sockets and a client sending a
 * byte a second is answered at once). Each client has a deadline for the
 * whole exchange (METRICS_DEADLINE_MS from accept: request, response and
 * the wait for its close), a bounded request (METRICS_MAX_REQUEST, else
 * 431) and a slot among METRICS_MAX_CLIENTS. When every slot is taken, a
 * new client takes the slot of the oldest one still sending its request
 * (that one is closed); when every client is being answered, the new one
 * gets 503 and is closed. One request per connection: GET or HEAD
 * /metrics, anything else 404/405/400. The thread only reads the
 * manager's metrics text (tether_mgr_metrics_text(), any thread).
 */
#define _GNU_SOURCE /* accept4, asprintf */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <tether/tether.h>

#include "cli-int.h"

#define METRICS_MAX_REQUEST 4096
#define METRICS_DEADLINE_MS 2000
#define METRICS_MAX_CLIENTS 64
#define METRICS_POLL_MS 200
/* bytes read and dropped after the response, before the close */
#define METRICS_DRAIN_MAX 65536

enum client_phase { CL_FREE = 0, CL_READ, CL_WRITE, CL_DRAIN };

struct client {
	enum client_phase phase;
	int fd;
	uint64_t accepted_ms, deadline_ms;
	size_t rlen;
	char req[METRICS_MAX_REQUEST];
	char *out; /* head and body, malloc'ed */
	size_t olen, off, drained;
};

struct cli_metrics {
	tether_mgr *m;
	int fd;
	atomic_int quit;
	pthread_t thread;
	struct client c[METRICS_MAX_CLIENTS];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
	}
	return IN6_IS_ADDR_LOOPBACK(
		&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

/* "PORT", "HOST:PORT" or "[V6]:PORT", HOST an IP address or localhost;
 * prints why not and returns -1. */
static int metrics_addr(const char *text, int any, struct sockaddr_storage *ss,
			socklen_t *len)
{
	char host[64] = "127.0.0.1";
	const char *port = text, *colon = strrchr(text, ':');
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	char *end;
	long p;

	memset(ss, 0, sizeof(*ss));
	if (colon) {
		size_t n = (size_t)(colon - text);
		const char *h = text;

		if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
			h++;
			n -= 2;
		} else if (memchr(h, ':', n)) {
			fprintf(stderr, "tether: --metrics %s: write an IPv6 "
					"address in brackets: [::1]:9464\n",
				text);
			return -1;
		}
		if (n == 0 || n >= sizeof(host)) {
			fprintf(stderr, "tether: --metrics %s: expected "
					"ADDRESS:PORT or PORT\n", text);
			return -1;
		}
		memcpy(host, h, n);
		host[n] = '\0';
		port = colon + 1;
	}
	errno = 0;
	p = strtol(port, &end, 10);
	if (!*port || *end || errno || p < 0 || p > 65535) {
		fprintf(stderr, "tether: --metrics %s: expected a port number "
				"(0-65535), found '%s'\n", text, port);
		return -1;
	}
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)p);
		*len = sizeof(*a4);
	} else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)p);
		*len = sizeof(*a6);
	} else {
		fprintf(stderr, "tether: --metrics %s: expected an IP address "
				"or localhost, found '%s'\n", text, host);
		return -1;
	}
	if (!any && !is_loopback(ss)) {
		fprintf(stderr,
			"tether: --metrics %s: %s is not a loopback address; "
			"metrics would be open to the network (add "
			"--metrics-any to allow it)\n", text, host);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ clients */

static void client_close(struct client *cl)
{
	if (cl->phase == CL_FREE)
		return;
	close(cl->fd);
	free(cl->out);
	cl->out = NULL;
	cl->phase = CL_FREE;
}

/* Queue a response (status, body) for cl; the body is not sent for HEAD. */
static void respond(struct client *cl, const char *status, const char *body,
		    int head)
{
	size_t blen = strlen(body);
	int n;

	free(cl->out);
	n = asprintf(&cl->out,
		     "HTTP/1.0 %s\r\n"
		     "Content-Type: text/plain; version=0.0.4\r\n"
		     "Content-Length: %zu\r\n"
		     "Connection: close\r\n\r\n%s",
		     status, blen, head ? "" : body);
	if (n < 0) {
		cl->out = NULL;
		client_close(cl);
		return;
	}
	cl->olen = (size_t)n;
	cl->off = 0;
	cl->phase = CL_WRITE;
}

/* The request head is complete in cl->req: decide the response. */
static void answer(struct cli_metrics *ms, struct client *cl)
{
	char method[8], path[256], *text;
	int head;

	if (sscanf(cl->req, "%7s %255s HTTP/1.%*c", method, path) != 2) {
		respond(cl, "400 Bad Request", "bad request\n", 0);
		return;
	}
	head = strcmp(method, "HEAD") == 0;
	if (!head && strcmp(method, "GET") != 0) {
		respond(cl, "405 Method Not Allowed", "use GET\n", 0);
		return;
	}
	path[strcspn(path, "?")] = '\0';
	if (strcmp(path, "/metrics") != 0) {
		respond(cl, "404 Not Found", "not found: try /metrics\n", head);
		return;
	}
	text = tether_mgr_metrics_text(ms->m);
	if (!text) {
		respond(cl, "500 Internal Server Error", "out of memory\n",
			head);
		return;
	}
	respond(cl, "200 OK", text, head);
	free(text);
}

static void on_writable(struct client *cl)
{
	ssize_t w = send(cl->fd, cl->out + cl->off, cl->olen - cl->off,
			 MSG_NOSIGNAL);

	if (w < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (w <= 0) {
		client_close(cl);
		return;
	}
	cl->off += (size_t)w;
	if (cl->off < cl->olen)
		return;
	free(cl->out);
	cl->out = NULL;
	shutdown(cl->fd, SHUT_WR);
	cl->phase = CL_DRAIN;
}

static void on_readable(struct cli_metrics *ms, struct client *cl)
{
	char junk[4096];
	ssize_t r;

	if (cl->phase == CL_DRAIN) {
		/* FIN was sent; what the client still sends is dropped, so
		   the close does not reset the response away */
		r = recv(cl->fd, junk, sizeof(junk), 0);
		if (r > 0 && (cl->drained += (size_t)r) < METRICS_DRAIN_MAX)
			return;
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		client_close(cl);
		return;
	}
	r = recv(cl->fd, cl->req + cl->rlen, sizeof(cl->req) - 1 - cl->rlen,
		 0);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		client_close(cl);
		return;
	}
	cl->rlen += (size_t)r;
	cl->req[cl->rlen] = '\0';
	if (strstr(cl->req, "\r\n\r\n") || strstr(cl->req, "\n\n"))
		answer(ms, cl);
	else if (cl->rlen == sizeof(cl->req) - 1)
		respond(cl, "431 Request Header Fields Too Large",
			"request too large\n", 0);
	if (cl->phase == CL_WRITE)
		on_writable(cl); /* most responses fit the socket at once */
}

/* A slot for a new client: a free one, else the oldest still sending its
 * request (closed to make room), else none. */
static struct client *slot_for_new(struct cli_metrics *ms)
{
	struct client *oldest = NULL;

	for (size_t i = 0; i < METRICS_MAX_CLIENTS; i++) {
		struct client *cl = &ms->c[i];

		if (cl->phase == CL_FREE)
			return cl;
		if (cl->phase == CL_READ &&
		    (!oldest || cl->accepted_ms < oldest->accepted_ms))
			oldest = cl;
	}
	if (oldest)
		client_close(oldest);
	return oldest;
}

static void on_accept(struct cli_metrics *ms, uint64_t now)
{
	/* a bounded number per wakeup, so the clients are served too */
	for (int k = 0; k < METRICS_MAX_CLIENTS; k++) {
		int fd = accept4(ms->fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct client *cl;

		if (fd < 0)
			return;
		cl = slot_for_new(ms);
		if (!cl) {
			static const char busy[] =
			    "HTTP/1.0 503 Service Unavailable\r\n"
			    "Content-Type: text/plain; version=0.0.4\r\n"
			    "Content-Length: 5\r\n"
			    "Connection: close\r\n\r\nbusy\n";

			/* best effort: a fresh socket's buffer takes it */
			(void)!send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL);
			close(fd);
			continue;
		}
		memset(cl, 0, sizeof(*cl));
		cl->fd = fd;
		cl->phase = CL_READ;
		cl->accepted_ms = now;
		cl->deadline_ms = now + METRICS_DEADLINE_MS;
	}
}

static void *metrics_main(void *arg)
{
	struct cli_metrics *ms = arg;
	struct pollfd pfd[METRICS_MAX_CLIENTS + 1];
	struct client *who[METRICS_MAX_CLIENTS + 1];

	while (!atomic_load(&ms->quit)) {
		uint64_t now = now_ms(), next = now + METRICS_POLL_MS;
		nfds_t n = 1;
		int ready;

		pfd[0] = (struct pollfd){.fd = ms->fd, .events = POLLIN};
		who[0] = NULL;
		for (size_t i = 0; i < METRICS_MAX_CLIENTS; i++) {
			struct client *cl = &ms->c[i];

			if (cl->phase == CL_FREE)
				continue;
			if (now >= cl->deadline_ms) {
				client_close(cl); /* too slow: no answer */
				continue;
			}
			if (cl->deadline_ms < next)
				next = cl->deadline_ms;
			pfd[n] = (struct pollfd){
			    .fd = cl->fd,
			    .events = cl->phase == CL_WRITE ? POLLOUT
							    : POLLIN};
			who[n++] = cl;
		}
		ready = poll(pfd, n, (int)(next - now));
		if (ready <= 0)
			continue;
		now = now_ms();
		for (nfds_t i = 1; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			if (who[i]->phase == CL_WRITE)
				on_writable(who[i]);
			else
				on_readable(ms, who[i]);
		}
		if (pfd[0].revents & POLLIN)
			on_accept(ms, now);
	}
	for (size_t i = 0; i < METRICS_MAX_CLIENTS; i++)
		client_close(&ms->c[i]);
	return NULL;
}

/* ---------------------------------------------------------- the server */

int cli_metrics_start(struct cli_metrics **out, tether_mgr *m,
		      const char *text, int any)
{
	struct sockaddr_storage ss, got;
	socklen_t len, glen = sizeof(got);
	char host[INET6_ADDRSTRLEN] = "?";
	struct cli_metrics *ms;
	int one = 1;

	*out = NULL;
	if (metrics_addr(text, any, &ss, &len) != 0)
		return CLI_EXIT_USAGE;
	ms = calloc(1, sizeof(*ms));
	if (!ms) {
		fprintf(stderr, "tether: --metrics: out of memory\n");
		return CLI_EXIT_FAIL;
	}
	ms->m = m;
	atomic_store(&ms->quit, 0);
	ms->fd = socket(ss.ss_family,
			SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ms->fd < 0 ||
	    setsockopt(ms->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(ms->fd, (struct sockaddr *)&ss, len) != 0 ||
	    listen(ms->fd, 64) != 0 ||
	    getsockname(ms->fd, (struct sockaddr *)&got, &glen) != 0) {
		fprintf(stderr, "tether: --metrics %s: %s\n", text,
			strerror(errno));
		if (ms->fd >= 0)
			close(ms->fd);
		free(ms);
		return CLI_EXIT_FAIL;
	}
	if (pthread_create(&ms->thread, NULL, metrics_main, ms) != 0) {
		fprintf(stderr, "tether: --metrics: cannot start a thread\n");
		close(ms->fd);
		free(ms);
		return CLI_EXIT_FAIL;
	}
	if (got.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&got)->sin_addr,
			  host, sizeof(host));
	else
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&got)->sin6_addr,
			  host, sizeof(host));
	fprintf(stderr, "tether: metrics on http://%s%s%s:%u/metrics\n",
		got.ss_family == AF_INET6 ? "[" : "", host,
		got.ss_family == AF_INET6 ? "]" : "",
		ntohs(got.ss_family == AF_INET
			      ? ((struct sockaddr_in *)&got)->sin_port
			      : ((struct sockaddr_in6 *)&got)->sin6_port));
	*out = ms;
	return CLI_EXIT_OK;
}

void cli_metrics_stop(struct cli_metrics *ms)
{
	if (!ms)
		return;
	atomic_store(&ms->quit, 1);
	pthread_join(ms->thread, NULL);
	close(ms->fd);
	free(ms);
}
