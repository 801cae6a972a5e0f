/*
 * Live reload (issue 4): tether_mgr_reload against a real libwebsockets
 * server behind the fault proxy, on loopback and real time.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tether/config.h>
#include <tether/tether.h>

#include "check-int.h"
#include "itest.h"
#include "proxy.h"
#include "ws_server.h"

static struct th_ws_server *srv, *srv2;
static struct th_proxy *px;
static char dir[64], path[128];

static void setup(void)
{
	it_setup(0);
	ck_assert_int_eq(th_ws_server_start(NULL, &srv), 0);
	ck_assert_int_eq(th_ws_server_start(NULL, &srv2), 0);
	ck_assert_int_eq(th_proxy_start(th_ws_server_port(srv), &px), 0);
	snprintf(dir, sizeof dir, "/tmp/tether-reload-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/gw.yaml", dir);
}

static void teardown(void)
{
	int wrong = it_wrong_thread();
	it_teardown();
	th_proxy_free(px);
	th_ws_server_free(srv);
	th_ws_server_free(srv2);
	unlink(path);
	rmdir(dir);
	ck_assert_int_eq(wrong, 0);
}

/* One ws connection entry: name, port, fixed interval, heartbeat interval. */
static void conn_yaml(char *buf, size_t len, const char *name, unsigned port,
		      const char *interval)
{
	snprintf(buf, len,
		 "  - name: %s\n"
		 "    transport: ws\n"
		 "    endpoints: [ \"ws://127.0.0.1:%u/\" ]\n"
		 "    ws: { subprotocol: tether-test }\n"
		 "    policy: { type: fixed, interval: %s }\n",
		 name, port, interval);
}

/* Write the file from whole connection entries (NULL-terminated). */
static void write_cfg(const char *first, ...)
{
	FILE *f = fopen(path, "w");
	va_list ap;

	ck_assert_ptr_nonnull(f);
	fputs("version: 1\nconnections:\n", f);
	va_start(ap, first);
	for (const char *s = first; s; s = va_arg(ap, const char *))
		fputs(s, f);
	va_end(ap);
	ck_assert_int_eq(fclose(f), 0);
}

static tether_conn *load_and_start(void)
{
	tether_config *cfg = NULL;
	char *err = NULL;

	ck_assert_msg(tether_config_load_file(path, &cfg, &err) == 0, "%s",
		      err ? err : "");
	ck_assert_int_eq(tether_config_apply(cfg, it_mgr, NULL), 0);
	for (size_t i = 0; i < tether_config_count(cfg); i++)
		it_start(tether_conn_find(it_mgr, tether_config_name(cfg, i)));
	tether_config_free(cfg);
	return tether_conn_find(it_mgr, "a");
}

/* The detail of the nth RELOAD event of c, or "". */
static const char *reload_detail(const tether_conn *c, int nth)
{
	static char buf[128];
	int i = it_find(c, TETHER_EV_RELOAD, nth);
	struct it_ev e;

	if (i < 0)
		return "";
	e = it_get(i);
	snprintf(buf, sizeof buf, "%s", e.text);
	return buf;
}

START_TEST(test_reload_bad_file_changes_nothing)
{
	char a[512];
	tether_conn *c;
	char *err = NULL;
	int states;

	conn_yaml(a, sizeof a, "a", th_proxy_port(px), "5s");
	write_cfg(a, NULL);
	c = load_and_start();
	ck_assert(it_wait(c, TETHER_EV_UP, 1, 5000));
	states = it_count(c, TETHER_EV_STATE);
	/* a typo in the new file: nothing changes, the error says where */
	conn_yaml(a, sizeof a, "a", th_proxy_port(px), "300ms");
	strcat(a, "    heartbaet: { interval: 1s }\n");
	write_cfg(a, NULL);
	ck_assert_int_eq(tether_mgr_reload(it_mgr, path, &err), TETHER_ECONFIG);
	ck_assert_ptr_nonnull(err);
	ck_assert_msg(strstr(err, "gw.yaml:8:16: unknown key "
				  "'connections.0.heartbaet' for a connection "
				  "(did you mean 'connections.0.heartbeat'?)") !=
			      NULL,
		      "%s", err);
	free(err);
	it_run(300);
	ck_assert_int_eq(it_count(c, TETHER_EV_RELOAD), 0);
	ck_assert_int_eq(it_count(c, TETHER_EV_STATE), states);
	/* the old policy still rules: a cut is retried after 5 s, not 300 ms */
	th_proxy_cut(px, 1);
	ck_assert(it_wait(c, TETHER_EV_RETRY, 1, 5000));
	ck_assert_uint_eq(it_get(it_find(c, TETHER_EV_RETRY, 0)).delay_ms, 5000);
	/* and a file that cannot be read says so */
	ck_assert_int_eq(tether_mgr_reload(it_mgr, "/nonexistent/x.yaml", &err),
			 TETHER_EIO);
	ck_assert_ptr_nonnull(err);
	free(err);
}
END_TEST

START_TEST(test_reload_swaps_policy_of_online_conn_live)
{
	char a[512], b[512];
	tether_conn *c, *cb;
	char *err = NULL;
	int states_a, states_b;

	conn_yaml(a, sizeof a, "a", th_proxy_port(px), "5s");
	conn_yaml(b, sizeof b, "b", th_ws_server_port(srv), "5s");
	write_cfg(a, b, NULL);
	c = load_and_start();
	cb = tether_conn_find(it_mgr, "b");
	ck_assert(it_wait(c, TETHER_EV_UP, 1, 5000));
	ck_assert(it_wait(cb, TETHER_EV_UP, 1, 5000));
	states_a = it_count(c, TETHER_EV_STATE);
	states_b = it_count(cb, TETHER_EV_STATE);
	/* new policy for a only, plus a heartbeat */
	conn_yaml(a, sizeof a, "a", th_proxy_port(px), "300ms");
	strcat(a, "    heartbeat: { interval: 2s, timeout: 1s, misses: 1 }\n");
	write_cfg(a, b, NULL);
	ck_assert_msg(tether_mgr_reload(it_mgr, path, &err) == 0, "%s",
		      err ? err : "");
	ck_assert(it_wait(c, TETHER_EV_RELOAD, 1, 2000));
	ck_assert_str_eq(reload_detail(c, 0), "live");
	it_run(300);
	/* a never left ONLINE; b was not touched at all */
	ck_assert_int_eq(it_count(c, TETHER_EV_STATE), states_a);
	ck_assert_int_eq(tether_conn_state(c), TETHER_STATE_ONLINE);
	ck_assert_int_eq(it_count(cb, TETHER_EV_RELOAD), 0);
	ck_assert_int_eq(it_count(cb, TETHER_EV_STATE), states_b);
	/* the next failure follows the new policy */
	th_proxy_cut(px, 1);
	ck_assert(it_wait(c, TETHER_EV_RETRY, 1, 5000));
	ck_assert_uint_eq(it_get(it_find(c, TETHER_EV_RETRY, 0)).delay_ms, 300);
	ck_assert(it_wait(c, TETHER_EV_UP, 2, 5000));
	/* reloading the same file again changes nothing */
	ck_assert_int_eq(tether_mgr_reload(it_mgr, path, NULL), 0);
	it_run(300);
	ck_assert_int_eq(it_count(c, TETHER_EV_RELOAD), 1);
}
END_TEST

START_TEST(test_reload_endpoint_change_restarts_only_that_conn)
{
	char a[512], b[512];
	tether_conn *c, *cb;
	int states_b, up2;

	conn_yaml(a, sizeof a, "a", th_ws_server_port(srv), "300ms");
	conn_yaml(b, sizeof b, "b", th_ws_server_port(srv), "300ms");
	write_cfg(a, b, NULL);
	c = load_and_start();
	cb = tether_conn_find(it_mgr, "b");
	ck_assert(it_wait(c, TETHER_EV_UP, 1, 5000));
	ck_assert(it_wait(cb, TETHER_EV_UP, 1, 5000));
	states_b = it_count(cb, TETHER_EV_STATE);
	up2 = (int)th_ws_server_upgrades(srv2);
	/* a moves to the second server */
	conn_yaml(a, sizeof a, "a", th_ws_server_port(srv2), "300ms");
	write_cfg(a, b, NULL);
	ck_assert_int_eq(tether_mgr_reload(it_mgr, path, NULL), 0);
	ck_assert(it_wait(c, TETHER_EV_UP, 2, 5000));
	ck_assert_str_eq(reload_detail(c, 0), "restart");
	ck_assert_int_eq((int)th_ws_server_upgrades(srv2), up2 + 1);
	ck_assert_int_eq(it_count(cb, TETHER_EV_STATE), states_b);
	ck_assert_int_eq(it_count(cb, TETHER_EV_RELOAD), 0);
	/* the close was orderly, not a failure */
	ck_assert_int_eq(it_count(c, TETHER_EV_DOWN), 0);
}
END_TEST

START_TEST(test_reload_adds_and_removes_connections)
{
	char a[512], b[512], n[512];
	tether_conn *c, *cb, *cn, *old_b;
	int ups, reloads;

	conn_yaml(a, sizeof a, "a", th_ws_server_port(srv), "300ms");
	conn_yaml(b, sizeof b, "b", th_ws_server_port(srv), "300ms");
	write_cfg(a, b, NULL);
	c = load_and_start();
	cb = tether_conn_find(it_mgr, "b");
	ck_assert(it_wait(cb, TETHER_EV_UP, 1, 5000));
	/* b goes, n comes */
	conn_yaml(n, sizeof n, "n", th_ws_server_port(srv2), "300ms");
	write_cfg(a, n, NULL);
	ck_assert_int_eq(tether_mgr_reload(it_mgr, path, NULL), 0);
	cn = tether_conn_find(it_mgr, "n");
	ck_assert_ptr_nonnull(cn);
	ck_assert(it_wait(cn, TETHER_EV_UP, 1, 5000));
	ck_assert_str_eq(reload_detail(cn, 0), "added");
	/* b is removed: closed, then freed (REMOVED is its last event);
	   the manager no longer knows the name */
	ck_assert(it_wait(cb, TETHER_EV_REMOVED, 1, 5000));
	ck_assert_int_ge(it_find(cb, TETHER_EV_CLOSED, 0), 0);
	ck_assert_str_eq(reload_detail(cb, 0), "removed");
	ck_assert_ptr_null(tether_conn_find(it_mgr, "b"));
	ck_assert_int_eq(tether_conn_state(c), TETHER_STATE_ONLINE);
	ck_assert_int_eq(it_count(c, TETHER_EV_RELOAD), 0);
	/* named again: a new b starts (the recorder keys events by
	   address, which the new b may reuse: count past the old ones) */
	old_b = cb;
	ups = it_count(old_b, TETHER_EV_UP);
	reloads = it_count(old_b, TETHER_EV_RELOAD);
	write_cfg(a, b, n, NULL);
	ck_assert_int_eq(tether_mgr_reload(it_mgr, path, NULL), 0);
	cb = tether_conn_find(it_mgr, "b");
	ck_assert_ptr_nonnull(cb);
	if (cb != old_b)
		ups = reloads = 0;
	ck_assert(it_wait(cb, TETHER_EV_UP, ups + 1, 5000));
	ck_assert_str_eq(reload_detail(cb, reloads), "added");
}
END_TEST

static Suite *reload_suite(void)
{
	Suite *s = suite_create("reload");
	TCase *tc = it_tcase(s, "reload", setup, teardown, 60);
	tcase_add_test(tc, test_reload_bad_file_changes_nothing);
	tcase_add_test(tc, test_reload_swaps_policy_of_online_conn_live);
	tcase_add_test(tc, test_reload_endpoint_change_restarts_only_that_conn);
	tcase_add_test(tc, test_reload_adds_and_removes_connections);
	return s;
}

TTH_CHECK_MAIN(reload_suite)
