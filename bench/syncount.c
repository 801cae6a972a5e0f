/* SYN counter on the loopback interface (see syncount.h). */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "syncount.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

struct syncount {
	int fd;
	pthread_t thread;
	atomic_int stop;
	pthread_mutex_t mu;
	uint64_t *times;
	size_t n, cap;
};

static void record(struct syncount *s, uint64_t t)
{
	pthread_mutex_lock(&s->mu);
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 4096;
		uint64_t *v = realloc(s->times, cap * sizeof(*v));
		if (v) {
			s->times = v;
			s->cap = cap;
		}
	}
	if (s->n < s->cap)
		s->times[s->n++] = t;
	pthread_mutex_unlock(&s->mu);
}

static void *run(void *arg)
{
	struct syncount *s = arg;
	unsigned char buf[256];

	while (!atomic_load(&s->stop)) {
		struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		for (int i = 0; i < 4096; i++) {
			struct sockaddr_ll from;
			socklen_t len = sizeof(from);
			ssize_t r = recvfrom(s->fd, buf, sizeof(buf),
					     MSG_DONTWAIT,
					     (struct sockaddr *)&from, &len);
			if (r < 0)
				break;
			/* On lo every packet is seen leaving and arriving;
			 * count it once (older kernels ignore the option). */
			if (from.sll_pkttype == PACKET_OUTGOING)
				continue;
			record(s, bench_now_ms());
		}
	}
	return NULL;
}

int syncount_start(uint16_t port, struct syncount **out)
{
	/* Data starts at the IP header (SOCK_DGRAM). Keep TCP, first
	 * fragment, destination port `port`, flags SYN set and ACK clear. */
	struct sock_filter code[] = {
	    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, 0, 8),
	    BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6),
	    BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 6, 0),
	    BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),
	    BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, 0, 3),
	    BPF_STMT(BPF_LD | BPF_B | BPF_IND, 13),
	    BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0x12),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x02, 1, 0),
	    BPF_STMT(BPF_RET | BPF_K, 0),
	    BPF_STMT(BPF_RET | BPF_K, 256),
	};
	struct sock_fprog prog = {.len = sizeof(code) / sizeof(code[0]),
				  .filter = code};
	struct sockaddr_ll sll;
	struct syncount *s;
	int one = 1, rcvbuf = 4 << 20, err;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->mu, NULL);
	/* Protocol 0 until the filter is on: no unfiltered packet queues. */
	s->fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		goto fail;
	if (setsockopt(s->fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog,
		       sizeof(prog)) != 0)
		goto fail;
	setsockopt(s->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one,
		   sizeof(one));
	setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_IP);
	sll.sll_ifindex = (int)if_nametoindex("lo");
	if (sll.sll_ifindex == 0 ||
	    bind(s->fd, (struct sockaddr *)&sll, sizeof(sll)) != 0)
		goto fail;
	err = pthread_create(&s->thread, NULL, run, s);
	if (err) {
		errno = err;
		goto fail;
	}
	*out = s;
	return 0;
fail:
	err = errno ? errno : EIO;
	if (s->fd >= 0)
		close(s->fd);
	pthread_mutex_destroy(&s->mu);
	free(s);
	return -err;
}

size_t syncount_times(struct syncount *s, uint64_t *out, size_t max)
{
	size_t n;

	pthread_mutex_lock(&s->mu);
	n = s->n;
	if (max > n)
		max = n;
	if (max)
		memcpy(out, s->times, max * sizeof(*out));
	pthread_mutex_unlock(&s->mu);
	return n;
}

void syncount_reset(struct syncount *s)
{
	pthread_mutex_lock(&s->mu);
	s->n = 0;
	pthread_mutex_unlock(&s->mu);
}

void syncount_free(struct syncount *s)
{
	if (!s)
		return;
	atomic_store(&s->stop, 1);
	pthread_join(s->thread, NULL);
	close(s->fd);
	pthread_mutex_destroy(&s->mu);
	free(s->times);
	free(s);
}
