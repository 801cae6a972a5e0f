/* The fleets' shared record of when each client was last up. */
#include "config.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "fleet.h"

const struct fleet_kind *const fleet_kinds[] = {
    &fleet_tether_mqtt, &fleet_paho, &fleet_mosq,
    &fleet_tether_ws,   &fleet_lws,  NULL,
};

static _Atomic uint64_t *last_up;
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
	last_up = calloc((size_t)n, sizeof(*last_up));
	nrec = last_up ? n : 0;
	return last_up ? 0 : -1;
}

void fleet_record_free(void)
{
	free((void *)last_up);
	last_up = NULL;
	nrec = 0;
}

void fleet_up(int i)
{
	if (i >= 0 && i < nrec)
		atomic_store(&last_up[i], bench_now_ms());
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
