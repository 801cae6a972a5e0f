/* Link awareness: routing netlink notifications plus a dump on change. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <linux/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "linkmon-int.h"

#define TTH_NL_BUF 32768 /* the largest skb a dump comes in */
#define TTH_NL_GROUPS                                                          \
	(RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR |               \
	 RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE)
#define TTH_DUMP_TRIES 3 /* a dump interrupted by changes is redone */
#define TTH_POLL_MAX 256 /* datagrams read per poll */

/* fd: notifications; req: requests, their replies; seq: of the last one;
 * stale: a recompute failed, retry at the next poll; up: the ifindexes up
 * with carrier in the last link dump. */
struct tth_linkmon {
	int fd, req, usable, stale;
	uint32_t seq;
	int *up;
	size_t n_up, cap_up;
	union {
		struct nlmsghdr align;
		char bytes[TTH_NL_BUF];
	} buf;
};

/* The notification socket (groups, non-blocking) or the request socket
 * (no groups, blocking with a 1 s receive timeout): an fd or -errno. */
static int open_socket(unsigned int groups)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = groups};
	struct timeval tv = {.tv_sec = 1};
	int fd = socket(AF_NETLINK,
			SOCK_RAW | SOCK_CLOEXEC | (groups ? SOCK_NONBLOCK : 0),
			NETLINK_ROUTE);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    (!groups &&
	     setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

/* Receive one datagram from the kernel into lm->buf: its length, or a
 * negative errno (-EMSGSIZE when it did not fit). Only the kernel speaks
 * for the kernel: datagrams from other ports are dropped. */
static ssize_t recv_kernel(struct tth_linkmon *lm, int fd, int flags)
{
	struct sockaddr_nl from;
	socklen_t fl = sizeof(from);
	ssize_t n;

	do
		n = recvfrom(fd, lm->buf.bytes, sizeof(lm->buf.bytes),
			     flags | MSG_TRUNC, (struct sockaddr *)&from, &fl);
	while (n < 0 ? errno == EINTR : from.nl_pid != 0);
	if (n < 0)
		return -errno;
	return (size_t)n > sizeof(lm->buf.bytes) ? -EMSGSIZE : n;
}

/* Send a dump request (RTM_GETLINK or RTM_GETROUTE) and feed every reply
 * (RTM_NEWLINK or RTM_NEWROUTE) to fn. */
static int dump(struct tth_linkmon *lm, int type, int family,
		int (*fn)(struct tth_linkmon *, const struct nlmsghdr *))
{
	struct {
		struct nlmsghdr h;
		union {
			struct ifinfomsg ifi;
			struct rtmsg rt;
		} u;
	} rq = {.h = {.nlmsg_type = (uint16_t)type,
		      .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
		      .nlmsg_seq = ++lm->seq}};
	int link = type == RTM_GETLINK, intr = 0;
	int want = link ? RTM_NEWLINK : RTM_NEWROUTE;

	rq.h.nlmsg_len =
	    NLMSG_LENGTH(link ? sizeof(rq.u.ifi) : sizeof(rq.u.rt));
	if (link)
		rq.u.ifi.ifi_family = (unsigned char)family;
	else
		rq.u.rt.rtm_family = (unsigned char)family;
	if (send(lm->req, &rq, rq.h.nlmsg_len, 0) < 0)
		return -errno;
	for (;;) {
		ssize_t n = recv_kernel(lm, lm->req, 0);
		const struct nlmsghdr *h = &lm->buf.align;
		int len;

		if (n < 0)
			return n == -EAGAIN ? -ETIMEDOUT : (int)n;
		for (len = (int)n; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
			const struct nlmsgerr *e = NLMSG_DATA(h);

			if (h->nlmsg_seq != lm->seq)
				continue; /* late reply to an abandoned dump */
			intr |= (h->nlmsg_flags & NLM_F_DUMP_INTR) != 0;
			if (h->nlmsg_type == NLMSG_DONE)
				return intr ? -EINTR : 0;
			if (h->nlmsg_type == NLMSG_ERROR)
				return h->nlmsg_len < NLMSG_LENGTH(sizeof(*e))
					   ? -EPROTO
					   : e->error;
			if (h->nlmsg_type == want && fn(lm, h) < 0)
				return -ENOMEM;
		}
	}
}

static int on_link(struct tth_linkmon *lm, const struct nlmsghdr *h)
{
	const struct ifinfomsg *ifi = NLMSG_DATA(h);

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)) ||
	    !(ifi->ifi_flags & IFF_UP) ||
	    !(ifi->ifi_flags & (IFF_RUNNING | IFF_LOWER_UP)))
		return 0;
	if (lm->n_up == lm->cap_up) {
		size_t cap = lm->cap_up ? lm->cap_up * 2 : 16;
		int *n = realloc(lm->up, cap * sizeof(*n));
		if (!n)
			return -1;
		lm->up = n;
		lm->cap_up = cap;
	}
	lm->up[lm->n_up++] = ifi->ifi_index;
	return 0;
}

static int link_is_up(const struct tth_linkmon *lm, int ifindex)
{
	for (size_t i = 0; i < lm->n_up; i++)
		if (lm->up[i] == ifindex)
			return 1;
	return 0;
}

/* Whether h is a unicast default route of the main table (whose id, below
 * 256, is always in rtm_table). */
static int is_default(const struct nlmsghdr *h)
{
	const struct rtmsg *rt = NLMSG_DATA(h);

	return h->nlmsg_len >= NLMSG_LENGTH(sizeof(*rt)) &&
	       rt->rtm_dst_len == 0 && rt->rtm_type == RTN_UNICAST &&
	       rt->rtm_table == RT_TABLE_MAIN &&
	       (rt->rtm_family == AF_INET || rt->rtm_family == AF_INET6);
}

/* A default route through a link that is up makes the network usable;
 * multipath routes count when any hop's link is up. */
static int on_route(struct tth_linkmon *lm, const struct nlmsghdr *h)
{
	const struct rtattr *a = RTM_RTA(NLMSG_DATA(h));
	const struct rtnexthop *nh;
	int len, left, oif;

	if (lm->usable || !is_default(h))
		return 0;
	for (len = RTM_PAYLOAD(h); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == RTA_OIF && RTA_PAYLOAD(a) >= sizeof(oif)) {
			memcpy(&oif, RTA_DATA(a), sizeof(oif));
			lm->usable |= link_is_up(lm, oif);
		} else if (a->rta_type == RTA_MULTIPATH) {
			for (nh = RTA_DATA(a), left = (int)RTA_PAYLOAD(a);
			     RTNH_OK(nh, left);
			     left -= RTNH_ALIGN(nh->rtnh_len),
			    nh = RTNH_NEXT(nh))
				lm->usable |= link_is_up(lm, nh->rtnh_ifindex);
		}
	}
	return 0;
}

/* A fresh view: links first, then the default routes of both families.
 * On failure the previous state stands. */
static int recompute(struct tth_linkmon *lm)
{
	int was = lm->usable, r = -EINTR;

	for (int i = 0; i < TTH_DUMP_TRIES && r == -EINTR; i++) {
		lm->n_up = 0;
		lm->usable = 0;
		if ((r = dump(lm, RTM_GETLINK, AF_UNSPEC, on_link)) == 0 &&
		    (r = dump(lm, RTM_GETROUTE, AF_INET, on_route)) == 0)
			r = dump(lm, RTM_GETROUTE, AF_INET6, on_route);
	}
	if (r < 0)
		lm->usable = was;
	lm->stale = r < 0;
	return r;
}

int tth_linkmon_open(struct tth_linkmon **out)
{
	struct tth_linkmon *lm = calloc(1, sizeof(*lm));
	int r;

	*out = NULL;
	if (!lm)
		return -ENOMEM;
	lm->req = -1;
	/* Subscribe before the dump, so no change falls between the two. */
	r = lm->fd = open_socket(TTH_NL_GROUPS);
	if (r >= 0)
		r = lm->req = open_socket(0);
	if (r >= 0)
		r = recompute(lm);
	if (r < 0) {
		tth_linkmon_close(lm);
		return r;
	}
	*out = lm;
	return 0;
}

int tth_linkmon_fd(const struct tth_linkmon *lm)
{
	return lm->fd;
}

/* What one notification means: 1 worth a recompute, 2 also a new default
 * route, 0 nothing. Addresses count: IPv4 drops the routes that depend on
 * an address with it, without a word. */
static int classify(const struct nlmsghdr *h)
{
	if (h->nlmsg_type == RTM_NEWROUTE)
		return is_default(h) ? 3 : 1;
	return h->nlmsg_type >= RTM_NEWLINK && h->nlmsg_type <= RTM_DELROUTE;
}

int tth_linkmon_poll(struct tth_linkmon *lm)
{
	int dirty = lm->stale, new_route = 0, was = lm->usable;

	/* Bounded, so a storm of changes cannot hold the loop; what is left
	 * keeps the fd readable for the next round. */
	for (int i = 0; i < TTH_POLL_MAX; i++) {
		ssize_t n = recv_kernel(lm, lm->fd, MSG_DONTWAIT);
		const struct nlmsghdr *h = &lm->buf.align;
		int len;

		if (n == -EAGAIN || n == 0)
			break;
		/* ENOBUFS: notifications were lost; EMSGSIZE: one was cut.
		 * Either way only a dump tells the truth. */
		dirty |= n < 0;
		if (n < 0 && n != -ENOBUFS && n != -EMSGSIZE)
			break;
		for (len = n > 0 ? (int)n : 0; NLMSG_OK(h, len);
		     h = NLMSG_NEXT(h, len)) {
			int c = classify(h);
			dirty |= c & 1;
			new_route |= c & 2;
		}
	}
	if (dirty && recompute(lm) < 0)
		return 0;
	return (lm->usable != was ? TTH_LINK_CHANGED : 0) |
	       (new_route && lm->usable ? TTH_LINK_NEW_ROUTE : 0);
}

int tth_linkmon_usable(const struct tth_linkmon *lm)
{
	return lm->usable;
}

void tth_linkmon_close(struct tth_linkmon *lm)
{
	if (!lm)
		return;
	if (lm->fd >= 0)
		close(lm->fd);
	if (lm->req >= 0)
		close(lm->req);
	free(lm->up);
	free(lm);
}
