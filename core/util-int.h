/* Internal helpers shared by the core modules (not installed). */
#ifndef TETHER_UTIL_INT_H
#define TETHER_UTIL_INT_H

#include <stddef.h>
#include <stdint.h>

#define TTH_CONTAINER_OF(ptr, type, member)                                    \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#define TTH_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define TTH_NEVER UINT64_MAX /* "no deadline" in millisecond clocks */

#endif
