/*
 * Typed getters for policy parameters: each reads one key, marks it asked
 * for, and records a located error when the value does not fit.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "params-int.h"
#include "registry-int.h"

/* ------------------------------------------------------------ getters */

static int parse_duration(const char *s, double *ms)
{
	double n = 0, scale = 1, factor;
	const char *q = s;

	if (!isdigit((unsigned char)*q))
		return -1;
	while (isdigit((unsigned char)*q))
		n = n * 10 + (*q++ - '0');
	if (*q == '.') {
		q++;
		if (!isdigit((unsigned char)*q))
			return -1;
		while (isdigit((unsigned char)*q)) {
			scale /= 10;
			n += (*q++ - '0') * scale;
		}
	}
	if (*q == '\0') {
		if (n != 0) /* a bare number has no unit to mean */
			return -1;
		factor = 0;
	} else if (strcmp(q, "ms") == 0) {
		factor = 1;
	} else if (strcmp(q, "s") == 0) {
		factor = 1000;
	} else if (strcmp(q, "m") == 0) {
		factor = 60000;
	} else if (strcmp(q, "h") == 0) {
		factor = 3600000;
	} else {
		return -1;
	}
	*ms = round(n * factor);
	return 0;
}

static void range_text(char *buf, size_t len, const char *noun, const char *lo,
		       const char *hi, int has_lo, int has_hi)
{
	if (has_lo && has_hi)
		snprintf(buf, len, "%s between %s and %s", noun, lo, hi);
	else if (has_hi)
		snprintf(buf, len, "%s of at most %s", noun, hi);
	else
		snprintf(buf, len, "%s of at least %s", noun, lo);
}

TETHER_EXPORT int tether_params_duration(tether_params *p, const char *key,
					 uint64_t def_ms, uint64_t min_ms,
					 uint64_t max_ms, uint64_t *out_ms)
{
	struct tth_param *e;
	char fb[300], lo[32], hi[32], what[96];
	double ms;

	*out_ms = def_ms;
	e = tth_params_ask(p, key);
	if (!e)
		return 0;
	if (!e->value || parse_duration(e->value, &ms) < 0) {
		tth_params_add_error(
		    p, key,
		    "expected a duration such as 250ms, 10s, 5m or 1h, "
		    "found %s",
		    tth_params_found(e, fb, sizeof(fb)));
		return TETHER_ECONFIG;
	}
	if (ms < (double)min_ms || ms > (double)max_ms) {
		tether_duration_format(min_ms, lo, sizeof(lo));
		tether_duration_format(max_ms, hi, sizeof(hi));
		range_text(what, sizeof(what), "a duration", lo, hi, min_ms > 0,
			   max_ms < UINT64_MAX);
		tth_params_add_error(p, key, "expected %s, found %s", what,
				     tth_params_found(e, fb, sizeof(fb)));
		return TETHER_ECONFIG;
	}
	*out_ms = (uint64_t)ms;
	return 0;
}

TETHER_EXPORT int tether_params_string(tether_params *p, const char *key,
				       const char *what, const char *def,
				       const char **out)
{
	struct tth_param *e;

	*out = def;
	e = tth_params_ask(p, key);
	if (!e)
		return 0;
	if (!e->value) {
		tth_params_add_error(p, key, "expected %s, found a mapping",
				     what ? what : "a text value");
		return TETHER_ECONFIG;
	}
	*out = e->value;
	return 0;
}

TETHER_EXPORT int tether_params_double(tether_params *p, const char *key,
				       double def, double min, double max,
				       double *out)
{
	struct tth_param *e;
	char fb[300], lo[32], hi[32], what[96];
	char *end;
	double d;

	*out = def;
	e = tth_params_ask(p, key);
	if (!e)
		return 0;
	if (e->value && *e->value && !isspace((unsigned char)*e->value)) {
		d = strtod(e->value, &end);
		if (*end == '\0' && isfinite(d)) {
			if (d >= min && d <= max) {
				*out = d;
				return 0;
			}
		}
	}
	snprintf(lo, sizeof(lo), "%g", min);
	snprintf(hi, sizeof(hi), "%g", max);
	range_text(what, sizeof(what), "a number", lo, hi, isfinite(min),
		   isfinite(max));
	tth_params_add_error(p, key, "expected %s, found %s", what,
			     tth_params_found(e, fb, sizeof(fb)));
	return TETHER_ECONFIG;
}

TETHER_EXPORT int tether_params_uint(tether_params *p, const char *key,
				     uint64_t def, uint64_t min, uint64_t max,
				     uint64_t *out)
{
	struct tth_param *e;
	char fb[300], lo[32], hi[32], what[96];
	uint64_t v = 0;
	const char *q;

	*out = def;
	e = tth_params_ask(p, key);
	if (!e)
		return 0;
	q = e->value;
	if (q && isdigit((unsigned char)*q)) {
		for (; isdigit((unsigned char)*q); q++) {
			unsigned d = (unsigned)(*q - '0');

			if (v > (UINT64_MAX - d) / 10)
				break;
			v = v * 10 + d;
		}
		if (*q == '\0' && v >= min && v <= max) {
			*out = v;
			return 0;
		}
	}
	snprintf(lo, sizeof(lo), "%llu", (unsigned long long)min);
	snprintf(hi, sizeof(hi), "%llu", (unsigned long long)max);
	range_text(what, sizeof(what), "a whole number", lo, hi, 1,
		   max < UINT64_MAX);
	tth_params_add_error(p, key, "expected %s, found %s", what,
			     tth_params_found(e, fb, sizeof(fb)));
	return TETHER_ECONFIG;
}

/* "1048576", "64KiB", "1MiB", "16k", "8M" */
int tth_parse_size(const char *s, uint64_t *out)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
	} units[] = {{"", 1},	    {"B", 1},	     {"k", 1000},
		     {"K", 1024},   {"KB", 1000},    {"KiB", 1024},
		     {"M", 1 << 20}, {"MB", 1000000}, {"MiB", 1 << 20},
		     {"G", 1 << 30}, {"GB", 1000000000}, {"GiB", 1 << 30}};
	char *end;
	unsigned long long n;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].suffix) == 0) {
			if (n > UINT64_MAX / units[i].mult)
				return -1;
			*out = n * units[i].mult;
			return 0;
		}
	return -1;
}

void tth_fmt_size(char *buf, size_t len, uint64_t v)
{
	static const char *const u[] = {"B", "KiB", "MiB", "GiB"};
	int i = 0;

	while (i < 3 && v >= 1024 && v % 1024 == 0) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, "%llu%s", (unsigned long long)v, i ? u[i] : "");
}

TETHER_EXPORT int tether_params_size(tether_params *p, const char *key,
				     uint64_t def, uint64_t min, uint64_t max,
				     uint64_t *out)
{
	struct tth_param *e;
	char fb[300], lo[32], hi[32];
	uint64_t v;

	*out = def;
	e = tth_params_ask(p, key);
	if (!e)
		return 0;
	if (e->value && tth_parse_size(e->value, &v) == 0 && v >= min &&
	    v <= max) {
		*out = v;
		return 0;
	}
	tth_fmt_size(lo, sizeof(lo), min);
	tth_fmt_size(hi, sizeof(hi), max);
	tth_params_add_error(p, key,
			     "expected a size between %s and %s (\"64KiB\", "
			     "\"8MiB\"), found %s",
			     lo, hi, tth_params_found(e, fb, sizeof(fb)));
	return TETHER_ECONFIG;
}

TETHER_EXPORT int tether_params_bool(tether_params *p, const char *key, int def,
				     int *out)
{
	static const char *const yes[] = {"true", "yes", "on"};
	static const char *const no[] = {"false", "no", "off"};
	struct tth_param *e;
	char fb[300];

	*out = def;
	e = tth_params_ask(p, key);
	if (!e)
		return 0;
	for (size_t i = 0; e->value && i < 3; i++) {
		if (strcmp(e->value, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcmp(e->value, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	tth_params_add_error(
	    p, key, "expected true or false (or yes/no, on/off), found %s",
	    tth_params_found(e, fb, sizeof(fb)));
	return TETHER_ECONFIG;
}

TETHER_EXPORT int tether_params_choice(tether_params *p, const char *key,
				       const char *const *choices, int def,
				       int *out, const char **arg)
{
	struct tth_param *e;
	char fb[300], list[400], word[64];
	const char *best = NULL;
	size_t used = 0, wl;
	int bestd = 3;

	*out = def;
	if (arg)
		*arg = NULL;
	e = tth_params_ask(p, key);
	if (!e)
		return 0;
	for (int i = 0; e->value && choices[i]; i++) {
		size_t cl = strlen(choices[i]);

		if (cl && choices[i][cl - 1] == ':') {
			if (strncmp(e->value, choices[i], cl) == 0 &&
			    e->value[cl]) {
				*out = i;
				if (arg)
					*arg = e->value + cl;
				return 0;
			}
		} else if (strcmp(e->value, choices[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	/* suggest on the word before any ':' argument */
	wl = e->value ? strcspn(e->value, ":") : 0;
	snprintf(word, sizeof(word), "%.*s", (int)wl, e->value ? e->value : "");
	list[0] = '\0';
	for (int i = 0; choices[i]; i++) {
		size_t cl = strlen(choices[i]);
		char name[64];
		int d;

		snprintf(name, sizeof(name), "%.*s",
			 (int)(cl && choices[i][cl - 1] == ':' ? cl - 1 : cl),
			 choices[i]);
		if (used < sizeof(list))
			used += (size_t)snprintf(
			    list + used, sizeof(list) - used, "%s%s%s",
			    i ? ", " : "", name,
			    strlen(name) < cl ? ":<value>" : "");
		if (!e->value)
			continue;
		d = tth_edit_distance(word, name, 2);
		if (d < bestd) {
			bestd = d;
			best = choices[i];
		}
	}
	if (best && e->value && strcmp(best, e->value) != 0)
		tth_params_add_error(
		    p, key, "expected one of %s, found %s (did you mean '%s'?)",
		    list, tth_params_found(e, fb, sizeof(fb)), best);
	else
		tth_params_add_error(p, key, "expected one of %s, found %s",
				     list, tth_params_found(e, fb, sizeof(fb)));
	return TETHER_ECONFIG;
}

TETHER_EXPORT int tether_params_child(tether_params *p, const char *key,
				      tether_params **out)
{
	struct tth_param *e;
	tether_params *c;
	char names[256], fb[300];
	const char *near;

	*out = NULL;
	e = tth_params_ask(p, key);
	if (!e)
		return 0;
	if (e->child) {
		*out = e->child;
		return 0;
	}
	if (e->derived) {
		*out = e->derived;
		return 0;
	}
	if (tether_policy_lookup(e->value)) {
		c = tether_params_new(e->where);
		if (!c || tether_params_set(c, "type", e->value, e->where)) {
			tether_params_free(c);
			tth_params_add_error(p, key, "out of memory");
			return TETHER_ECONFIG;
		}
		c->parent = p;
		c->pkey = strdup(key);
		e->derived = c;
		*out = c;
		return 0;
	}
	tth_policy_names(names, sizeof(names));
	near = tth_policy_suggest(e->value);
	if (near)
		tth_params_add_error(
		    p, key,
		    "expected a mapping or a policy type (one of: %s), "
		    "found %s (did you mean '%s'?)",
		    names, tth_params_found(e, fb, sizeof(fb)), near);
	else
		tth_params_add_error(
		    p, key,
		    "expected a mapping or a policy type (one of: %s), "
		    "found %s",
		    names, tth_params_found(e, fb, sizeof(fb)));
	return TETHER_ECONFIG;
}

/* ------------------------------------------------------ option tables */

/* t read from p by its type; an absent key gives zeros. */
static int read_typed(tether_params *p, const struct tether_option *t,
		      union tether_option_value *out)
{
	uint64_t lo = t->min, hi = t->max ? t->max : UINT64_MAX;
	int any = !t->min && !t->max;

	switch (t->type) {
	case TETHER_OPTION_BOOL:
		return tether_params_bool(p, t->name, 0, &out->b);
	case TETHER_OPTION_UINT:
		return tether_params_uint(p, t->name, 0, lo, hi, &out->u);
	case TETHER_OPTION_SIZE:
		return tether_params_size(p, t->name, 0, lo, hi, &out->u);
	case TETHER_OPTION_DURATION:
		return tether_params_duration(p, t->name, 0, lo, hi, &out->u);
	case TETHER_OPTION_DOUBLE:
		return tether_params_double(p, t->name, 0,
					    any ? -HUGE_VAL : (double)lo,
					    t->max ? (double)hi : HUGE_VAL,
					    &out->d);
	case TETHER_OPTION_CHOICE:
		out->choice.arg = NULL;
		return tether_params_choice(p, t->name, t->choices, 0,
					    &out->choice.index,
					    &out->choice.arg);
	case TETHER_OPTION_POLICY:
		return tether_params_child(p, t->name, &out->child);
	case TETHER_OPTION_TEXT:
		return tether_params_string(p, t->name, NULL, NULL,
					    &out->text);
	default: /* MAP: entries of their own */
		return TETHER_EINVAL;
	}
}

/* t's default: its `def` read as a value would be (text and choices
 * point into the table, which outlives the process). */
static int read_default(const struct tether_option *t,
			union tether_option_value *out)
{
	tether_params *tmp;
	int rc;

	memset(out, 0, sizeof(*out));
	if (t->type == TETHER_OPTION_TEXT) {
		out->text = t->def;
		return 0;
	}
	if (!t->def || t->type == TETHER_OPTION_POLICY)
		return 0;
	if (t->type == TETHER_OPTION_CHOICE) {
		for (int i = 0; t->choices && t->choices[i]; i++) {
			size_t n = strlen(t->choices[i]);
			int colon = n && t->choices[i][n - 1] == ':';

			if (colon ? strncmp(t->def, t->choices[i], n) == 0
				  : strcmp(t->def, t->choices[i]) == 0) {
				out->choice.index = i;
				out->choice.arg = colon ? t->def + n : NULL;
				return 0;
			}
		}
		return TETHER_EINVAL;
	}
	tmp = tether_params_new(NULL);
	if (!tmp || tether_params_set(tmp, t->name, t->def, NULL) != 0) {
		tether_params_free(tmp);
		return TETHER_ENOMEM;
	}
	rc = read_typed(tmp, t, out);
	tether_params_free(tmp);
	return rc ? TETHER_EINVAL : 0;
}

TETHER_EXPORT int tether_params_option(tether_params *p,
				       const struct tether_option *table,
				       const char *name,
				       union tether_option_value *out)
{
	const struct tether_option *t = table;
	union tether_option_value def;
	int rc;

	if (!p || !table || !name || !out)
		return TETHER_EINVAL;
	while (t->name && strcmp(t->name, name) != 0)
		t++;
	if (!t->name || t->type == TETHER_OPTION_MAP)
		return TETHER_EINVAL;
	rc = read_default(t, &def);
	if (rc != 0)
		return rc;
	*out = def;
	if (!tth_params_ask(p, t->name))
		return 0; /* absent: the default */
	rc = read_typed(p, t, out);
	if (rc != 0)
		*out = def;
	return rc;
}
