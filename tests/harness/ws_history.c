/* Per-session message history (ws_history.h). A session is a ring of its
 * newest `cap` messages; sessions live in a list (tests use a handful). */
#include "config.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws_history.h"

struct entry {
	uint64_t seq;
	size_t len;
	char *payload;
};

struct session {
	struct session *next;
	char id[TH_WS_SESSION_MAX + 1];
	uint64_t newest; /* seq of the newest message; 0 = none yet */
	unsigned head;   /* ring index of the oldest kept message */
	unsigned count;
	struct entry *ring; /* cap entries */
};

struct th_ws_history {
	pthread_mutex_t mu;
	unsigned cap;
	struct session *sessions;
};

struct th_ws_history *th_ws_history_new(unsigned cap)
{
	struct th_ws_history *h;

	if (!cap)
		return NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	pthread_mutex_init(&h->mu, NULL);
	h->cap = cap;
	return h;
}

static void session_free(struct th_ws_history *h, struct session *s)
{
	for (unsigned i = 0; i < s->count; i++)
		free(s->ring[(s->head + i) % h->cap].payload);
	free(s->ring);
	free(s);
}

void th_ws_history_free(struct th_ws_history *h)
{
	if (!h)
		return;
	while (h->sessions) {
		struct session *s = h->sessions;
		h->sessions = s->next;
		session_free(h, s);
	}
	pthread_mutex_destroy(&h->mu);
	free(h);
}

int th_ws_session_valid(const char *id, size_t len)
{
	if (!id || len == 0 || len > TH_WS_SESSION_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (id[i] == ' ' || id[i] == '\t' || id[i] == '\r' ||
		    id[i] == '\n' || id[i] == '\0')
			return 0;
	return 1;
}

static struct session *find(struct th_ws_history *h, const char *id)
{
	for (struct session *s = h->sessions; s; s = s->next)
		if (!strcmp(s->id, id))
			return s;
	return NULL;
}

static struct session *find_or_add(struct th_ws_history *h, const char *id)
{
	struct session *s = find(h, id);

	if (s)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->ring = calloc(h->cap, sizeof(*s->ring));
	if (!s->ring) {
		free(s);
		return NULL;
	}
	memcpy(s->id, id, strlen(id) + 1);
	s->next = h->sessions;
	h->sessions = s;
	return s;
}

uint64_t th_ws_history_add(struct th_ws_history *h, const char *id,
			   const void *payload, size_t len)
{
	struct session *s;
	struct entry *e;
	char *copy;
	uint64_t seq = 0;

	if (!id || !th_ws_session_valid(id, strlen(id)))
		return 0;
	copy = malloc(len + 1);
	if (!copy)
		return 0;
	if (len)
		memcpy(copy, payload, len);
	copy[len] = '\0';
	pthread_mutex_lock(&h->mu);
	s = find_or_add(h, id);
	if (!s) {
		pthread_mutex_unlock(&h->mu);
		free(copy);
		return 0;
	}
	if (s->count == h->cap) { /* full: the oldest goes */
		free(s->ring[s->head].payload);
		s->head = (s->head + 1) % h->cap;
		s->count--;
	}
	e = &s->ring[(s->head + s->count) % h->cap];
	e->seq = seq = ++s->newest;
	e->len = len;
	e->payload = copy;
	s->count++;
	pthread_mutex_unlock(&h->mu);
	return seq;
}

uint64_t th_ws_history_newest(struct th_ws_history *h, const char *id)
{
	struct session *s;
	uint64_t n;

	pthread_mutex_lock(&h->mu);
	s = find(h, id);
	n = s ? s->newest : 0;
	pthread_mutex_unlock(&h->mu);
	return n;
}

uint64_t th_ws_history_replay(struct th_ws_history *h, const char *id,
			      uint64_t after, th_ws_history_emit_fn fn,
			      void *arg)
{
	struct session *s;
	char small[64];
	uint64_t done = after;

	pthread_mutex_lock(&h->mu);
	s = find(h, id);
	if (!s || s->newest <= after)
		goto out;
	uint64_t oldest = s->ring[s->head].seq; /* count > 0 here */
	if (oldest > after + 1) {
		int n = snprintf(small, sizeof(small),
				 "gap %" PRIu64 " %" PRIu64, after + 1,
				 oldest - 1);
		if (fn(arg, oldest - 1, small, (size_t)n))
			goto out;
		done = oldest - 1;
	}
	for (unsigned i = 0; i < s->count; i++) {
		const struct entry *e = &s->ring[(s->head + i) % h->cap];
		char *text;
		int n, stop;

		if (e->seq <= done)
			continue;
		n = snprintf(small, sizeof(small), "seq %" PRIu64 " ", e->seq);
		text = malloc((size_t)n + e->len + 1);
		if (!text)
			break;
		memcpy(text, small, (size_t)n);
		memcpy(text + n, e->payload, e->len + 1);
		stop = fn(arg, e->seq, text, (size_t)n + e->len);
		free(text);
		if (stop)
			break;
		done = e->seq;
	}
out:
	pthread_mutex_unlock(&h->mu);
	return done;
}
