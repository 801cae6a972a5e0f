/*
 * "echo": a transport for the tests, built against include/ alone (its own
 * library, tests/libecho-transport.la, has no core/ on its include path;
 * tests/plugins_include_only.sh checks its includes). It proves the
 * transport ABI from outside the core: its option table and YAML section
 * (`echo:`) are all the configuration file knows of it.
 *
 * It talks to nobody. connect() starts a thread that reports the attempt
 * up; close() one that reports it closed; send() one that reports the
 * message delivered and, in mode "echo", hands it back as inbound. Each
 * op joins the previous thread first, and abort and link_free join it,
 * so no report outlives its link.
 */
#ifndef TETHER_TESTS_ECHO_TRANSPORT_H
#define TETHER_TESTS_ECHO_TRANSPORT_H

#include <tether/transport.h>

/* Its vtable (name "echo", schemes echo://, default port 7). */
extern const struct tether_transport_ops th_echo_transport;

/* Links created since the process started (a restart makes a new one). */
unsigned th_echo_links_made(void);

/* The greeting the newest link read, copied into buf. */
void th_echo_greeting(char *buf, size_t len);

#endif
