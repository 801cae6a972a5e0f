/* Internal helpers shared by the core modules (not installed). */
#ifndef TETHER_UTIL_INT_H
#define TETHER_UTIL_INT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define TTH_CONTAINER_OF(ptr, type, member)                                    \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#define TTH_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define TTH_NEVER UINT64_MAX /* "no deadline" in millisecond clocks */

/* The runtime's clock: CLOCK_MONOTONIC in milliseconds. */
static inline uint64_t tth_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif
