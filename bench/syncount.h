/* Count TCP connection attempts to a loopback port, refused ones included.
 *
 * The fault proxy counts only the connections it accepts; while it
 * refuses (listening socket closed) the kernel answers SYNs with RST and
 * nothing reaches user space. A storm benchmark needs exactly those
 * attempts, so this watches the loopback interface with a packet socket
 * (AF_PACKET, needs CAP_NET_RAW) and a BPF filter that keeps only
 * SYN-without-ACK segments to the port, and records when each arrived.
 * Benchmarks only. */
#ifndef TETHER_BENCH_SYNCOUNT_H
#define TETHER_BENCH_SYNCOUNT_H

#include <stddef.h>
#include <stdint.h>

struct syncount;

/* Start counting SYNs to 127.0.0.0/8:port on "lo". Returns 0 or -errno
 * (-EPERM without CAP_NET_RAW). */
int syncount_start(uint16_t port, struct syncount **out);

/* Copy the arrival times (bench_now_ms clock), oldest first, of the SYNs
 * seen so far; returns how many there are (may exceed max). */
size_t syncount_times(struct syncount *s, uint64_t *out, size_t max);

/* Forget what was counted. */
void syncount_reset(struct syncount *s);

/* Stop and free; NULL is a no-op. */
void syncount_free(struct syncount *s);

#endif
