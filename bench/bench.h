/* Shared pieces of the benchmarks (bench/): clock, resource usage, the
 * figures computed from timestamps, and small option parsing helpers.
 * Benchmarks only; not part of libtether. */
#ifndef TETHER_BENCH_H
#define TETHER_BENCH_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic milliseconds (the same clock in every process). */
uint64_t bench_now_ms(void);

/* Raise RLIMIT_NOFILE: both limits to 65536 when allowed (root), else
 * the soft limit to the hard one; returns the new soft limit. Children
 * started afterwards (mosquitto, the fleets) inherit it. */
uint64_t bench_raise_nofile(void);

/* User + system CPU seconds of this process so far. */
double bench_cpu_s(void);

/* Peak resident set size of this process, KiB. */
long bench_maxrss_kib(void);

/* Current resident set size of this process, KiB (from /proc/self/statm),
 * or -1. */
long bench_rss_kib(void);

/* The largest number of sorted timestamps t[] (ms) inside any window of
 * width window_ms: [x, x + window_ms). */
size_t bench_max_in_window(const uint64_t *t, size_t n, uint64_t window_ms);

/* Sort ascending. */
void bench_sort_u64(uint64_t *v, size_t n);

/* Parse "1000,2000,5000" into out (at most max values); returns the count,
 * or -1 on a malformed list. */
int bench_parse_list(const char *s, long *out, int max);

/* Sleep ms milliseconds. */
void bench_sleep_ms(uint64_t ms);

#endif
