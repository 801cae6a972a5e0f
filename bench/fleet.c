/* The fleets' shared record of when each client was last up. */
#include "config.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench.h"
#include "fleet.h"

const struct fleet_kind *const fleet_kinds[] = {
    &fleet_tether_mqtt, &fleet_paho, &fleet_mosq, &fleet_tether_ws,
    &fleet_lws,	       &fleet_lws_uv,	 &fleet_tether_solo, &fleet_ws_floor,
    NULL,
};

struct fleet_tuning fleet_tuning;

static _Atomic uint64_t *last_up, *last_down;
static int nrec;

const struct fleet_kind *fleet_find(const char *name)
{
	for (int i = 0; fleet_kinds[i]; i++)
		if (strcmp(fleet_kinds[i]->name, name) == 0)
			return fleet_kinds[i];
	return NULL;
}

int fleet_record_init(int n)
{
	/* Shared: a fleet may run its clients in worker processes. */
	size_t len = 2 * (size_t)n * sizeof(*last_up);
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return -1;
	last_up = p;
	last_down = last_up + n;
	nrec = n;
	return 0;
}

void fleet_record_free(void)
{
	if (last_up)
		munmap((void *)last_up, 2 * (size_t)nrec * sizeof(*last_up));
	last_up = last_down = NULL;
	nrec = 0;
}

void fleet_up(int i)
{
	if (i >= 0 && i < nrec)
		atomic_store(&last_up[i], bench_now_ms());
}

void fleet_down(int i)
{
	if (i >= 0 && i < nrec)
		atomic_store(&last_down[i], bench_now_ms());
}

uint64_t fleet_last_down(int i)
{
	return i >= 0 && i < nrec ? atomic_load(&last_down[i]) : 0;
}

uint64_t fleet_last_up(int i)
{
	return i >= 0 && i < nrec ? atomic_load(&last_up[i]) : 0;
}

int fleet_up_after(uint64_t t)
{
	int k = 0;

	for (int i = 0; i < nrec; i++)
		if (atomic_load(&last_up[i]) > t)
			k++;
	return k;
}

static const struct {
	const char *key;
	size_t off;
	int is64, is32;
} tkeys[] = {
    {"ka", offsetof(struct fleet_tuning, keepalive_s), 0, 0},
    {"hbi", offsetof(struct fleet_tuning, hb_interval_ms), 1, 0},
    {"hbt", offsetof(struct fleet_tuning, hb_timeout_ms), 1, 0},
    {"hbm", offsetof(struct fleet_tuning, hb_misses), 0, 1},
    {"lping", offsetof(struct fleet_tuning, lws_ping_s), 0, 0},
    {"lhang", offsetof(struct fleet_tuning, lws_hangup_s), 0, 0},
    {"ldef", offsetof(struct fleet_tuning, lws_default_policy), 0, 0},
    {"port2", offsetof(struct fleet_tuning, port2), 0, 0},
};

int fleet_tuning_parse(const char *s)
{
	char buf[256], *save = NULL;

	memset(&fleet_tuning, 0, sizeof(fleet_tuning));
	if (!s || !*s || strcmp(s, "-") == 0)
		return 0;
	snprintf(buf, sizeof(buf), "%s", s);
	for (char *tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		size_t i;
		if (!eq)
			return -1;
		*eq = 0;
		for (i = 0; i < sizeof(tkeys) / sizeof(tkeys[0]); i++)
			if (strcmp(tkeys[i].key, tok) == 0)
				break;
		if (i == sizeof(tkeys) / sizeof(tkeys[0]))
			return -1;
		unsigned long long v = strtoull(eq + 1, NULL, 10);
		char *f = (char *)&fleet_tuning + tkeys[i].off;
		if (tkeys[i].is64)
			*(uint64_t *)(void *)f = v;
		else if (tkeys[i].is32)
			*(uint32_t *)(void *)f = (uint32_t)v;
		else
			*(int *)(void *)f = (int)v;
	}
	return 0;
}

void fleet_tuning_format(char *buf, size_t n)
{
	const struct fleet_tuning *t = &fleet_tuning;

	snprintf(buf, n,
		 "ka=%d,hbi=%llu,hbt=%llu,hbm=%u,lping=%d,lhang=%d,ldef=%d,"
		 "port2=%d",
		 t->keepalive_s, (unsigned long long)t->hb_interval_ms,
		 (unsigned long long)t->hb_timeout_ms, (unsigned)t->hb_misses,
		 t->lws_ping_s, t->lws_hangup_s, t->lws_default_policy,
		 t->port2);
}
