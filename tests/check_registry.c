/* The policy registry and the instance API. */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tether/policy.h>
#include <tether/transport.h>

#include "check-int.h"
#include "policy-test.h"
#include "../policies/builtin.h"

/* A third-party policy: always `delay`. */
static int konst_create(tether_params *p, void **state)
{
	uint64_t *d = malloc(sizeof(*d));

	if (!d)
		return TETHER_ENOMEM;
	if (tether_params_duration(p, "delay", 1000, 1, 3600000, d)) {
		free(d);
		return TETHER_ECONFIG;
	}
	*state = d;
	return 0;
}

static void konst_destroy(void *state)
{
	free(state);
}

static void konst_next(void *state, const struct tether_policy_input *in,
		       struct tether_rng *rng,
		       struct tether_policy_decision *out)
{
	(void)in;
	(void)rng;
	out->verdict = TETHER_VERDICT_RETRY;
	out->delay_ms = *(uint64_t *)state;
}

static void konst_on_success(void *state, uint64_t now_ms)
{
	(void)state;
	(void)now_ms;
}

static const struct tether_policy_ops konst_ops = {
    .abi = TETHER_POLICY_ABI,
    .name = "konst",
    .summary = "a constant delay (test)",
    .create = konst_create,
    .destroy = konst_destroy,
    .next = konst_next,
    .on_success = konst_on_success,
};

START_TEST(test_registry_builtins_present)
{
	static const char *const names[] = {"fixed", "exponential", "adaptive",
					    "breaker"};

	ck_assert_uint_ge(tether_policy_count(), 4);
	for (size_t i = 0; i < 4; i++) {
		const struct tether_policy_ops *ops =
		    tether_policy_lookup(names[i]);

		ck_assert_ptr_nonnull(ops);
		ck_assert_ptr_eq(tether_policy_at(i), ops);
		ck_assert_str_eq(ops->name, names[i]);
		ck_assert_int_eq(ops->abi, TETHER_POLICY_ABI);
		ck_assert_ptr_nonnull(ops->summary);
		ck_assert_ptr_nonnull(ops->describe);
	}
	ck_assert_ptr_null(tether_policy_lookup("nope"));
	ck_assert_ptr_null(tether_policy_lookup(NULL));
	ck_assert_ptr_null(tether_policy_at(tether_policy_count()));
}
END_TEST

START_TEST(test_registry_third_party_selected_by_yaml)
{
	struct tether_reason r = {.cls = TETHER_CLASS_TRANSIENT};
	struct tether_policy_input in = {.attempt = 1, .reason = &r};
	struct tether_policy_decision d;
	struct tether_rng rng;
	tether_params *y;
	tether_policy *pol;
	char err[256];
	size_t before = tether_policy_count();

	ck_assert_int_eq(tether_policy_register(&konst_ops), 0);
	ck_assert_uint_eq(tether_policy_count(), before + 1);
	ck_assert_ptr_eq(tether_policy_lookup("konst"), &konst_ops);
	y = pt_params("t.yaml", "type: konst\ndelay: 7s\n");
	ck_assert_int_eq(tether_policy_new(y, &pol, err, sizeof(err)), 0);
	ck_assert_str_eq(err, "");
	ck_assert_str_eq(tether_policy_name(pol), "konst");
	tether_rng_seed(&rng, 1);
	tether_policy_next(pol, &in, &rng, &d);
	ck_assert_int_eq(d.verdict, TETHER_VERDICT_RETRY);
	ck_assert_uint_eq(d.delay_ms, 7000);
	/* no describe: the type name alone */
	ck_assert_int_eq(tether_policy_describe(pol, err, sizeof(err)), 5);
	ck_assert_str_eq(err, "konst");
	tether_policy_free(pol);
	tether_params_free(y);
	ck_assert_int_eq(tether_policy_register(&konst_ops), TETHER_EEXIST);
	/* it is also a valid breaker inner now */
	ck_assert_int_eq(pt_try_new("t.yaml", "{type: breaker, inner: konst}",
				    err, sizeof(err)),
			 0);
}
END_TEST

START_TEST(test_registry_rejects_bad_ops)
{
	struct tether_policy_ops ops = konst_ops;

	ck_assert_int_eq(tether_policy_register(NULL), TETHER_EINVAL);
	ops.abi = TETHER_POLICY_ABI + 1;
	ck_assert_int_eq(tether_policy_register(&ops), TETHER_EABI);
	ops = konst_ops;
	ops.name = "";
	ck_assert_int_eq(tether_policy_register(&ops), TETHER_EINVAL);
	ops = konst_ops;
	ops.next = NULL;
	ck_assert_int_eq(tether_policy_register(&ops), TETHER_EINVAL);
	ops = konst_ops;
	ops.name = "exponential";
	ck_assert_int_eq(tether_policy_register(&ops), TETHER_EEXIST);
}
END_TEST

START_TEST(test_registry_grows_past_fixed_slots)
{
	static struct tether_policy_ops many[40];
	static char names[40][16];
	size_t before = tether_policy_count();

	for (int i = 0; i < 40; i++) {
		many[i] = konst_ops;
		snprintf(names[i], sizeof(names[i]), "many%d", i);
		many[i].name = names[i];
		ck_assert_int_eq(tether_policy_register(&many[i]), 0);
	}
	ck_assert_uint_eq(tether_policy_count(), before + 40);
	for (int i = 0; i < 40; i++)
		ck_assert_ptr_eq(tether_policy_lookup(names[i]), &many[i]);
	ck_assert_ptr_eq(tether_policy_at(1), &tth_policy_exponential);
}
END_TEST

START_TEST(test_registry_unknown_type_suggests)
{
	char err[512];

	ck_assert_int_eq(
	    pt_try_new("t.yaml", "type: exponentail\n", err, sizeof(err)),
	    TETHER_ENOENT);
	ck_assert_str_eq(err, "t.yaml:1:7: type: expected a policy type (one "
			      "of: fixed, exponential, adaptive, breaker), "
			      "found 'exponentail' (did you mean "
			      "'exponential'?)");
}
END_TEST

START_TEST(test_registry_missing_type)
{
	char err[512];

	ck_assert_int_eq(
	    pt_try_new("t.yaml", "initial: 1s\n", err, sizeof(err)),
	    TETHER_ECONFIG);
	ck_assert_str_eq(err, "t.yaml: type: expected a policy type (one of: "
			      "fixed, exponential, adaptive, breaker)");
}
END_TEST

START_TEST(test_registry_reports_values_then_unknown_keys)
{
	char err[1024];

	ck_assert_int_eq(pt_try_new("t.yaml",
				    "type: exponential\n"
				    "intial: 2s\n"
				    "initial: 1x\n"
				    "multiplier: 0.5\n",
				    err, sizeof(err)),
			 TETHER_ECONFIG);
	ck_assert_str_eq(err,
			 "t.yaml:3:10: initial: expected a duration such as "
			 "250ms, 10s, 5m or 1h, found '1x'\n"
			 "t.yaml:4:13: multiplier: expected a number between 1 "
			 "and 100, found '0.5'\n"
			 "t.yaml:2:9: unknown key 'intial' for policy "
			 "'exponential' (did you mean 'initial'?)");
}
END_TEST

START_TEST(test_registry_err_truncated_safely)
{
	char err[16];

	memset(err, 'x', sizeof(err));
	ck_assert_int_eq(
	    pt_try_new("t.yaml", "type: exponentail\n", err, sizeof(err)),
	    TETHER_ENOENT);
	ck_assert_uint_eq(strlen(err), sizeof(err) - 1);
	ck_assert_int_eq(pt_try_new("t.yaml", "type: exponentail\n", NULL, 0),
			 TETHER_ENOENT);
}
END_TEST

START_TEST(test_registry_describe_defaults)
{
	tether_params *y = pt_params("t.yaml", "type: exponential\n");
	tether_policy *pol;
	char buf[256];
	int n;

	ck_assert_int_eq(tether_policy_new(y, &pol, NULL, 0), 0);
	n = tether_policy_describe(pol, buf, sizeof(buf));
	ck_assert_str_eq(buf, "exponential initial=1s multiplier=2 max=1m "
			      "jitter=full max_attempts=0 max_elapsed=0");
	ck_assert_int_eq(n, (int)strlen(buf));
	/* snprintf semantics on a short buffer */
	ck_assert_int_eq(tether_policy_describe(pol, buf, 8), n);
	ck_assert_str_eq(buf, "exponen");
	ck_assert_int_eq(tether_policy_describe(pol, buf, 13), n);
	ck_assert_str_eq(buf, "exponential ");
	tether_policy_free(pol);
	tether_policy_free(NULL);
	tether_params_free(y);
}
END_TEST

START_TEST(test_registry_new_rejects_null)
{
	tether_policy *pol;

	ck_assert_int_eq(tether_policy_new(NULL, &pol, NULL, 0), TETHER_EINVAL);
}
END_TEST

/* A third-party transport that never connects; it reads its options with
 * the public getters only: `greeting` (text) and `token` (a secret). */
static int acme_check(tether_conn *conn, tether_params *opts)
{
	const char *greeting;
	char *token = NULL;
	int rc = 0, r;

	(void)conn;
	if (tether_params_string(opts, "greeting", "a greeting", "hello",
				 &greeting))
		rc = TETHER_ECONFIG;
	r = tether_params_secret(opts, "token", "a token", &token);
	if (r)
		rc = r;
	else if (token && strcmp(token, "t0k") != 0)
		rc = tether_params_fail(opts, "token", "not the test token");
	tether_secret_free(token);
	return rc;
}

static int acme_ctx_new(tether_mgr *mgr, void **ctx)
{
	(void)mgr;
	*ctx = NULL;
	return 0;
}

static void acme_ctx_free(void *ctx)
{
	(void)ctx;
}

static int acme_link_new(void *ctx, tether_conn *conn, tether_params *opts,
			 void **link)
{
	(void)ctx;
	*link = NULL;
	return acme_check(conn, opts);
}

static void acme_link_free(void *link)
{
	(void)link;
}

static int acme_connect(void *link, uint32_t attempt, const char *uri)
{
	(void)link;
	(void)attempt;
	(void)uri;
	return TETHER_EINVAL;
}

static void acme_stop(void *link, uint32_t attempt)
{
	(void)link;
	(void)attempt;
}

static int acme_send(void *link, uint32_t attempt, uint64_t msg_id,
		     const struct tether_message *msg)
{
	(void)link;
	(void)attempt;
	(void)msg_id;
	(void)msg;
	return TETHER_EINVAL;
}

static const char *const acme_schemes[] = {"acme", NULL};

static const struct tether_transport_ops acme_ops = {
    .abi = TETHER_TRANSPORT_ABI,
    .name = "acme",
    .schemes = acme_schemes,
    .ctx_new = acme_ctx_new,
    .ctx_free = acme_ctx_free,
    .link_new = acme_link_new,
    .link_free = acme_link_free,
    .connect = acme_connect,
    .abort = acme_stop,
    .close = acme_stop,
    .send = acme_send,
    .check = acme_check,
};

START_TEST(test_registry_transport_builtins_present)
{
	struct tether_transport_ops ops = acme_ops;

	ck_assert_ptr_nonnull(tether_transport_lookup("mqtt"));
	ck_assert_str_eq(tether_transport_lookup("mqtt")->name, "mqtt");
	ck_assert_ptr_nonnull(tether_transport_lookup("ws"));
	ck_assert_ptr_null(tether_transport_lookup("acme"));
	ck_assert_ptr_null(tether_transport_lookup(NULL));
	ck_assert_int_eq(tether_transport_register(NULL), TETHER_EINVAL);
	ops.abi = TETHER_TRANSPORT_ABI + 1;
	ck_assert_int_eq(tether_transport_register(&ops), TETHER_EABI);
	ops = acme_ops;
	ops.send = NULL;
	ck_assert_int_eq(tether_transport_register(&ops), TETHER_EINVAL);
	ops = acme_ops;
	ops.name = "ws";
	ck_assert_int_eq(tether_transport_register(&ops), TETHER_EEXIST);
}
END_TEST

START_TEST(test_registry_transport_reads_options_with_public_getters)
{
	tether_mgr *m;
	tether_conn *c;

	ck_assert_int_eq(tether_transport_register(&acme_ops), 0);
	ck_assert_ptr_eq(tether_transport_lookup("acme"), &acme_ops);
	ck_assert_int_eq(tether_transport_register(&acme_ops), TETHER_EEXIST);
	setenv("TETHER_TEST_TOKEN", "t0k", 1);
	ck_assert_int_eq(tether_mgr_new(&m), 0);
	ck_assert_int_eq(tether_conn_new(m, "x", "acme", &c), 0);
	ck_assert_int_eq(tether_conn_set_option(c, "greeting", "hi"), 0);
	ck_assert_int_eq(
	    tether_conn_set_option(c, "token_env", "TETHER_TEST_TOKEN"), 0);
	/* both read with the getters: neither is an unknown key */
	ck_assert_int_eq(tether_conn_check(c), 0);
	ck_assert_str_eq(tether_conn_error(c), "");
	ck_assert_int_eq(tether_conn_set_option(c, "greting", "hi"), 0);
	ck_assert_int_eq(tether_conn_set_option(c, "token", "t0k"), 0);
	ck_assert_int_eq(tether_conn_check(c), TETHER_ECONFIG);
	ck_assert_str_eq(tether_conn_error(c),
			 "token: give only one of token, token_env, "
			 "token_file\n"
			 "unknown key 'greting' for transport 'acme' (did you "
			 "mean 'greeting'?)");
	tether_mgr_free(m);
}
END_TEST

START_TEST(test_registry_transport_tables_of_builtins)
{
	const struct tether_transport_ops *mq = tether_transport_lookup("mqtt");
	const struct tether_transport_ops *ws = tether_transport_lookup("ws");
	const struct tether_option *o;
	int found = 0;

	ck_assert_str_eq(tether_transport_section(mq), "mqtt");
	ck_assert_str_eq(tether_transport_section(ws), "ws");
	ck_assert_uint_eq(tether_transport_default_port(mq, "TCP", 3), 1883);
	ck_assert_uint_eq(tether_transport_default_port(mq, "mqtts", 5), 8883);
	ck_assert_uint_eq(tether_transport_default_port(ws, "wss", 3), 443);
	ck_assert_uint_eq(tether_transport_default_port(ws, "tcp", 3), 0);
	for (o = tether_transport_options(mq); o && o->name; o++)
		if (strcmp(o->name, "password") == 0)
			found = o->secret;
	ck_assert_int_eq(found, 1);
	ck_assert_ptr_eq(tether_transport_at(0), mq);
	ck_assert_ptr_eq(tether_transport_at(1), ws);
}
END_TEST

/* A vtable built for ABI 1 ends before the option table: it registers,
 * and the ABI 2 fields read as absent (the copy is exactly v1's size, so
 * ASan catches a read past it). */
START_TEST(test_registry_transport_abi1_accepted)
{
	size_t v1 = offsetof(struct tether_transport_ops, options);
	struct tether_transport_ops full = acme_ops;
	const struct tether_transport_ops *ops;
	void *mem = malloc(v1);

	ck_assert_ptr_nonnull(mem);
	full.abi = 1;
	full.name = "acme1";
	memcpy(mem, &full, v1);
	ops = mem;
	ck_assert_int_eq(tether_transport_register(ops), 0);
	ck_assert_ptr_eq(tether_transport_lookup("acme1"), ops);
	ck_assert_ptr_null(tether_transport_options(ops));
	ck_assert_str_eq(tether_transport_section(ops), "acme1");
	ck_assert_uint_eq(tether_transport_default_port(ops, "acme", 4), 0);
	/* registered for good: the registry borrows it */
}
END_TEST

/* Every built-in policy declares its options: each default reads as its
 * type says (a table bug would make create() fail with no message). */
START_TEST(test_registry_policy_tables_of_builtins)
{
	static const char *const names[] = {"fixed", "exponential", "adaptive",
					    "breaker"};
	union tether_option_value v;

	for (size_t i = 0; i < 4; i++) {
		const struct tether_policy_ops *ops =
		    tether_policy_lookup(names[i]);
		const struct tether_option *t = tether_policy_options(ops);
		tether_params *p = tether_params_new(NULL);
		size_t n = 0;

		ck_assert_ptr_nonnull(t);
		for (const struct tether_option *o = t; o->name; o++, n++) {
			ck_assert_ptr_nonnull(o->doc);
			ck_assert_ptr_nonnull(o->def);
			ck_assert_msg(tether_params_option(p, t, o->name, &v) ==
					  0,
				      "%s.%s: default '%s' does not read",
				      names[i], o->name, o->def);
			ck_assert_int_eq(o->reload, TETHER_OPTION_LIVE);
		}
		ck_assert_uint_ge(n, 4);
		ck_assert_ptr_null(tether_params_errors(p));
		tether_params_free(p);
	}
	/* the defaults are the values: exponential's max is 1m */
	{
		tether_params *p = tether_params_new(NULL);
		const struct tether_option *t =
		    tether_policy_options(tether_policy_lookup("exponential"));

		ck_assert_int_eq(tether_params_option(p, t, "max", &v), 0);
		ck_assert_uint_eq(v.u, 60000);
		ck_assert_int_eq(tether_params_option(p, t, "jitter", &v), 0);
		ck_assert_int_eq(v.choice.index, 1); /* full */
		ck_assert_int_eq(tether_params_option(p, t, "nope", &v),
				 TETHER_EINVAL);
		tether_params_free(p);
	}
	/* a policy without a table has none */
	ck_assert_ptr_null(tether_policy_options(&konst_ops));
}
END_TEST

/* A policy built for ABI 1 ends before the option table: it registers,
 * without one (the copy is exactly v1's size, so ASan catches a read past
 * it). */
START_TEST(test_registry_policy_abi1_accepted)
{
	size_t v1 = offsetof(struct tether_policy_ops, options);
	struct tether_policy_ops full = konst_ops;
	const struct tether_policy_ops *ops;
	void *mem = malloc(v1);

	ck_assert_ptr_nonnull(mem);
	full.abi = 1;
	full.name = "konst1";
	memcpy(mem, &full, v1);
	ops = mem;
	ck_assert_int_eq(tether_policy_register(ops), 0);
	ck_assert_ptr_eq(tether_policy_lookup("konst1"), ops);
	ck_assert_ptr_null(tether_policy_options(ops));
	/* registered for good: the registry borrows it */
}
END_TEST

static Suite *registry_suite(void)
{
	Suite *s = suite_create("registry");
	TCase *tc = tcase_create("instances");

	/* first: the registry tests below add types for good under CK_FORK=no
	 */
	tcase_add_test(tc, test_registry_unknown_type_suggests);
	tcase_add_test(tc, test_registry_missing_type);
	tcase_add_test(tc, test_registry_reports_values_then_unknown_keys);
	tcase_add_test(tc, test_registry_err_truncated_safely);
	tcase_add_test(tc, test_registry_describe_defaults);
	tcase_add_test(tc, test_registry_new_rejects_null);
	suite_add_tcase(s, tc);

	tc = tcase_create("registry");
	tcase_add_test(tc, test_registry_builtins_present);
	tcase_add_test(tc, test_registry_third_party_selected_by_yaml);
	tcase_add_test(tc, test_registry_rejects_bad_ops);
	tcase_add_test(tc, test_registry_grows_past_fixed_slots);
	suite_add_tcase(s, tc);

	tc = tcase_create("transports");
	tcase_add_test(tc, test_registry_transport_builtins_present);
	tcase_add_test(tc, test_registry_transport_reads_options_with_public_getters);
	tcase_add_test(tc, test_registry_transport_tables_of_builtins);
	tcase_add_test(tc, test_registry_transport_abi1_accepted);
	tcase_add_test(tc, test_registry_policy_tables_of_builtins);
	tcase_add_test(tc, test_registry_policy_abi1_accepted);
	suite_add_tcase(s, tc);
	return s;
}

TTH_CHECK_MAIN(registry_suite)
