/* A message generator for the WebSocket test server's resume protocol:
 * a thread that publishes "gen 1", "gen 2"... to one session at a fixed
 * interval (ws_server.h). */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net.h"
#include "ws_history.h"
#include "ws_server.h"

struct th_ws_gen {
	struct th_ws_server *srv;
	pthread_t thread;
	atomic_int stop;
	atomic_uint done;
	unsigned count, interval_ms;
	char session[TH_WS_SESSION_MAX + 1];
};

static void *gen_main(void *arg)
{
	struct th_ws_gen *g = arg;

	for (unsigned k = 1; k <= g->count && !atomic_load(&g->stop); k++) {
		char msg[32];

		snprintf(msg, sizeof(msg), "gen %u", k);
		if (!th_ws_server_publish(g->srv, g->session, msg))
			break;
		atomic_store(&g->done, k);
		/* sleep in slices of at most 10 ms so that free() is quick */
		uint64_t until = th_now_ms() + g->interval_ms;
		while (k < g->count && !atomic_load(&g->stop) &&
		       th_now_ms() < until)
			usleep(g->interval_ms < 10 ? g->interval_ms * 1000
						   : 10 * 1000);
	}
	return NULL;
}

struct th_ws_gen *th_ws_gen_start(struct th_ws_server *s, const char *session,
				  unsigned count, unsigned interval_ms)
{
	size_t n = session ? strlen(session) : 0;
	struct th_ws_gen *g;

	if (!th_ws_session_valid(session, n) || !count)
		return NULL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->srv = s;
	g->count = count;
	g->interval_ms = interval_ms;
	memcpy(g->session, session, n + 1);
	if (pthread_create(&g->thread, NULL, gen_main, g) != 0) {
		free(g);
		return NULL;
	}
	return g;
}

unsigned th_ws_gen_published(const struct th_ws_gen *g)
{
	return atomic_load(&((struct th_ws_gen *)g)->done);
}

int th_ws_gen_wait(struct th_ws_gen *g, int timeout_ms)
{
	uint64_t end =
		th_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);

	while (atomic_load(&g->done) < g->count && th_now_ms() < end)
		usleep(5 * 1000);
	return atomic_load(&g->done) == g->count ? 0 : -1;
}

void th_ws_gen_free(struct th_ws_gen *g)
{
	if (!g)
		return;
	atomic_store(&g->stop, 1);
	pthread_join(g->thread, NULL);
	free(g);
}
