/*
 * Link awareness (docs/architecture.md): watch the routing netlink for links
 * and default routes, so that connections can pause while the network is
 * gone and try once at once when it comes back. Linux only.
 *
 * "Usable" means: some default route (IPv4 0.0.0.0/0 or IPv6 ::/0, main
 * table) goes out through an interface that is administratively up and
 * has carrier (IFF_UP and IFF_RUNNING / IFF_LOWER_UP). Connections to
 * loopback endpoints do not depend on it (the manager checks that).
 *
 * Single-threaded: used from the manager's loop only.
 */
#ifndef TETHER_LINKMON_INT_H
#define TETHER_LINKMON_INT_H

struct tth_linkmon;

/* Open a non-blocking NETLINK_ROUTE socket subscribed to link, address and
 * route changes, and compute the initial state with a dump. 0, or a
 * negative errno (-EPERM in a sandbox without netlink...). */
int tth_linkmon_open(struct tth_linkmon **out);

/* The fd to watch for reading. */
int tth_linkmon_fd(const struct tth_linkmon *lm);

/* Read every pending notification (never blocks); when any concerned links
 * or routes, recompute the state with a fresh dump. Returns a bit set:
 * TTH_LINK_CHANGED when "usable" flipped (read it with tth_linkmon_usable),
 * TTH_LINK_NEW_ROUTE when a default route was added while usable (a new
 * path is worth one immediate attempt); 0 when nothing relevant happened. */
#define TTH_LINK_CHANGED 1
#define TTH_LINK_NEW_ROUTE 2
int tth_linkmon_poll(struct tth_linkmon *lm);

/* 1 when the network is usable, 0 when not. */
int tth_linkmon_usable(const struct tth_linkmon *lm);

void tth_linkmon_close(struct tth_linkmon *lm);

#endif
