/*
 * Policy parameters: an ordered map of text values and nested sets, read by
 * typed getters that remember what was asked for and collect every error
 * with its location, so one `tether check` run reports all problems at once.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "params-int.h"

static uint64_t error_seq;

/* ------------------------------------------------------------- helpers */

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

int tth_edit_distance(const char *a, const char *b, int cap)
{
	size_t la = strlen(a), lb = strlen(b);
	int d[33][33];

	if (la > 32 || lb > 32)
		return cap + 1;
	if ((la > lb ? la - lb : lb - la) > (size_t)cap)
		return cap + 1;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (int)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (int)j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			int cost = a[i - 1] != b[j - 1];
			int best = d[i - 1][j] + 1;

			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < best)
				best = d[i - 1][j - 1] + cost;
			/* a swap of two neighbours is one typo, not two */
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

TETHER_EXPORT int tether_duration_format(uint64_t ms, char *buf, size_t len)
{
	if (ms == 0)
		return snprintf(buf, len, "0");
	if (ms % 3600000 == 0)
		return snprintf(buf, len, "%lluh",
				(unsigned long long)(ms / 3600000));
	if (ms % 60000 == 0)
		return snprintf(buf, len, "%llum",
				(unsigned long long)(ms / 60000));
	if (ms % 1000 == 0)
		return snprintf(buf, len, "%llus",
				(unsigned long long)(ms / 1000));
	return snprintf(buf, len, "%llums", (unsigned long long)ms);
}

/* ------------------------------------------------------- the index */

/*
 * Keys are found through an open-addressing table of positions (linear
 * probing, at most half full), so loading a mapping or a sequence of n
 * entries costs O(n), not the O(n^2) of checking each key against every
 * earlier one. Entries are never removed, so the table only grows. A table
 * that cannot be allocated is dropped: lookups then scan, slower but right.
 */

static size_t key_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return (size_t)(h ^ (h >> 32));
}

/* Position of key among the strings that key_at() gives, through the
 * table (cap slots), or SIZE_MAX when absent. A slot keeps the key's hash
 * beside its position, so a probe rarely reads a key that does not match
 * and growing the table reads no key at all. */
static size_t index_find(const struct tth_param_slot *tab, size_t cap,
			 const char *key,
			 const char *(*key_at)(const void *, size_t),
			 const void *ctx)
{
	size_t mask = cap - 1, hash = key_hash(key);

	for (size_t h = hash & mask, k = 0; k < cap; h = (h + 1) & mask, k++) {
		if (!tab[h].pos)
			break;
		if (tab[h].hash == hash &&
		    strcmp(key_at(ctx, tab[h].pos - 1), key) == 0)
			return tab[h].pos - 1;
	}
	return SIZE_MAX;
}

static void index_put(struct tth_param_slot *tab, size_t cap, size_t hash,
		      size_t pos)
{
	size_t h = hash & (cap - 1);

	while (tab[h].pos)
		h = (h + 1) & (cap - 1);
	tab[h].pos = pos + 1;
	tab[h].hash = hash;
}

/* Make room for the n-th string (n counted before it) and index it; on
 * failure the table is freed (*tab NULL: scan). */
static void index_add(struct tth_param_slot **tab, size_t *cap, size_t n,
		      const char *(*key_at)(const void *, size_t),
		      const void *ctx)
{
	if (n + 1 < TTH_PARAMS_INDEX_MIN)
		return;
	if (!*tab || 2 * (n + 1) > *cap) {
		size_t ncap = *cap ? *cap : 2 * TTH_PARAMS_INDEX_MIN;
		struct tth_param_slot *t, *old = *tab;
		size_t ocap = *cap;

		while (2 * (n + 1) > ncap)
			ncap *= 2;
		t = calloc(ncap, sizeof(*t));
		if (t && old) {
			for (size_t i = 0; i < ocap; i++)
				if (old[i].pos)
					index_put(t, ncap, old[i].hash,
						  old[i].pos - 1);
		} else if (t) {
			for (size_t i = 0; i < n; i++)
				index_put(t, ncap, key_hash(key_at(ctx, i)),
					  i);
		}
		free(old);
		*tab = t;
		*cap = t ? ncap : 0;
		if (!t)
			return;
	}
	index_put(*tab, *cap, key_hash(key_at(ctx, n)), n);
}

static const char *entry_key(const void *ctx, size_t i)
{
	return ((const tether_params *)ctx)->v[i].key;
}

static const char *asked_key(const void *ctx, size_t i)
{
	return ((const tether_params *)ctx)->asked[i];
}

static struct tth_param *find(const tether_params *p, const char *key)
{
	size_t i;

	if (p->idx) {
		i = index_find(p->idx, p->idxcap, key, entry_key, p);
		return i == SIZE_MAX ? NULL : &p->v[i];
	}
	for (i = 0; i < p->n; i++)
		if (strcmp(p->v[i].key, key) == 0)
			return &p->v[i];
	return NULL;
}

static int was_asked(const tether_params *p, const char *key)
{
	if (p->askidx)
		return index_find(p->askidx, p->askidxcap, key, asked_key,
				  p) != SIZE_MAX;
	for (size_t i = 0; i < p->nasked; i++)
		if (strcmp(p->asked[i], key) == 0)
			return 1;
	return 0;
}

/* The dotted path of the set itself ("", "inner", "policy.inner"). */
static void set_path(const tether_params *p, char *buf, size_t len)
{
	size_t used;

	buf[0] = '\0';
	if (!p)
		return;
	if (p->parent)
		set_path(p->parent, buf, len);
	if (!p->pkey)
		return;
	used = strlen(buf);
	if (used >= len - 1)
		return;
	snprintf(buf + used, len - used, "%s%s", used ? "." : "", p->pkey);
}

static void key_path(const tether_params *p, const char *key, char *buf,
		     size_t len)
{
	size_t used;

	set_path(p, buf, len);
	if (!key)
		return;
	used = strlen(buf);
	if (used >= len - 1)
		return;
	snprintf(buf + used, len - used, "%s%s", used ? "." : "", key);
}

static const char *set_where(const tether_params *p)
{
	for (; p; p = p->parent)
		if (p->where && *p->where)
			return p->where;
	return NULL;
}

static const char *entry_where(const tether_params *p,
			       const struct tth_param *e)
{
	if (e && e->where && *e->where)
		return e->where;
	if (e && e->child && e->child->where && *e->child->where)
		return e->child->where;
	return set_where(p);
}

int tth_params_has(const tether_params *p, const char *key)
{
	return p && key && find(p, key) != NULL;
}

const char *tth_params_where(const tether_params *p, const char *key)
{
	if (!p)
		return NULL;
	return entry_where(p, key ? find(p, key) : NULL);
}

static void drop_joined(tether_params *p)
{
	free(p->joined);
	p->joined = NULL;
}

void tth_escape_controls(char *s, size_t cap)
{
	char tmp[1024];
	size_t o = 0;

	if (!cap)
		return;
	for (const char *q = s; *q && o + 5 < sizeof(tmp); q++) {
		unsigned char ch = (unsigned char)*q;

		if (ch == '\n' || ch == '\r' || ch == '\t') {
			tmp[o++] = '\\';
			tmp[o++] = ch == '\n' ? 'n' : ch == '\r' ? 'r' : 't';
		} else if (ch < 0x20 || ch == 0x7f) {
			o += (size_t)snprintf(tmp + o, sizeof(tmp) - o,
					      "\\x%02x", ch);
		} else {
			tmp[o++] = (char)ch;
		}
	}
	tmp[o] = '\0';
	snprintf(s, cap, "%s", tmp);
}

/* Append one line "<where>: <path>: <message>" to p's errors. */
static void push_error(tether_params *p, const char *where, const char *path,
		       const char *msg)
{
	char *line, epath[512], emsg[1024];
	int n;

	/* one error per line: a key or a value quoted in the message may
	 * hold a newline (a quoted YAML scalar) */
	snprintf(epath, sizeof(epath), "%s", path);
	snprintf(emsg, sizeof(emsg), "%s", msg);
	tth_escape_controls(epath, sizeof(epath));
	tth_escape_controls(emsg, sizeof(emsg));
	n = asprintf(&line, "%s%s%s%s%s", where ? where : "", where ? ": " : "",
		     epath, epath[0] ? ": " : "", emsg);
	if (n < 0)
		return;
	if (p->nerrs == p->errcap) {
		size_t cap = p->errcap ? 2 * p->errcap : 4;
		struct tth_perr *e = realloc(p->errs, cap * sizeof(*e));

		if (!e) {
			free(line);
			return;
		}
		p->errs = e;
		p->errcap = cap;
	}
	p->errs[p->nerrs].seq =
	    __atomic_add_fetch(&error_seq, 1, __ATOMIC_RELAXED);
	p->errs[p->nerrs++].text = line;
	drop_joined(p);
}

static void add_error_v(tether_params *p, const char *key, const char *fmt,
			va_list ap)
{
	char path[256], msg[512];
	struct tth_param *e = key ? find(p, key) : NULL;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (e && e->path)
		snprintf(path, sizeof(path), "%s", e->path);
	else
		key_path(p, key, path, sizeof(path));
	push_error(p, entry_where(p, e), path, msg);
}

__attribute__((format(printf, 3, 4))) void
tth_params_add_error(tether_params *p, const char *key, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add_error_v(p, key, fmt, ap);
	va_end(ap);
}

/* Mark key known and remember that some getter asked for its name. */
struct tth_param *tth_params_ask(tether_params *p, const char *key)
{
	struct tth_param *e = find(p, key);

	if (e)
		e->known = 1;
	if (was_asked(p, key))
		return e;
	if (p->nasked == p->askcap) {
		size_t cap = p->askcap ? 2 * p->askcap : 8;
		char **a = realloc(p->asked, cap * sizeof(*a));

		if (!a)
			return e; /* only the suggestions suffer */
		p->asked = a;
		p->askcap = cap;
	}
	p->asked[p->nasked] = strdup(key);
	if (p->asked[p->nasked]) {
		index_add(&p->askidx, &p->askidxcap, p->nasked, asked_key, p);
		p->nasked++;
	}
	return e;
}

/* "'1x'" or "a mapping": what the user wrote, for "found ..." */
const char *tth_params_found(const struct tth_param *e, char *buf, size_t len)
{
	if (!e->value)
		return "a mapping";
	snprintf(buf, len, "'%s'", e->value);
	return buf;
}

static void entry_clear(struct tth_param *e)
{
	free(e->key);
	free(e->value);
	free(e->where);
	free(e->path);
	tether_params_free(e->child);
	tether_params_free(e->derived);
	memset(e, 0, sizeof(*e));
}

/* ---------------------------------------------------------- the set */

TETHER_EXPORT tether_params *tether_params_new(const char *where)
{
	tether_params *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	if (where) {
		p->where = strdup(where);
		if (!p->where) {
			free(p);
			return NULL;
		}
	}
	return p;
}

static void clear_usage(tether_params *p)
{
	for (size_t i = 0; i < p->nasked; i++)
		free(p->asked[i]);
	p->nasked = 0;
	free(p->askidx);
	p->askidx = NULL;
	p->askidxcap = 0;
	for (size_t i = 0; i < p->nerrs; i++)
		free(p->errs[i].text);
	p->nerrs = 0;
	drop_joined(p);
	p->checked = 0;
}

void tth_params_wipe(tether_params *p)
{
	for (size_t i = 0; p && i < p->n; i++) {
		if (p->v[i].value)
			explicit_bzero(p->v[i].value, strlen(p->v[i].value));
		tth_params_wipe(p->v[i].child);
	}
}

TETHER_EXPORT void tether_params_free(tether_params *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		entry_clear(&p->v[i]);
	clear_usage(p);
	free(p->v);
	free(p->idx);
	free(p->asked);
	free(p->errs);
	free(p->where);
	free(p->pkey);
	free(p);
}

static struct tth_param *slot(tether_params *p, const char *key)
{
	struct tth_param *e = find(p, key);

	if (e) {
		/* replacing keeps the key's first position */
		free(e->value);
		free(e->where);
		free(e->path);
		tether_params_free(e->child);
		tether_params_free(e->derived);
		e->value = e->where = e->path = NULL;
		e->child = e->derived = NULL;
		return e;
	}
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 8;
		struct tth_param *v = realloc(p->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		p->v = v;
		p->cap = cap;
	}
	e = &p->v[p->n];
	memset(e, 0, sizeof(*e));
	e->key = strdup(key);
	if (!e->key)
		return NULL;
	index_add(&p->idx, &p->idxcap, p->n, entry_key, p);
	p->n++;
	return e;
}

TETHER_EXPORT int tether_params_set(tether_params *p, const char *key,
				    const char *value, const char *where)
{
	struct tth_param *e;
	char *v, *w = NULL;

	if (!p || !key || !*key || !value)
		return TETHER_EINVAL;
	v = strdup(value);
	if (where)
		w = strdup(where);
	if (!v || (where && !w))
		goto nomem;
	e = slot(p, key);
	if (!e)
		goto nomem;
	e->value = v;
	e->where = w;
	drop_joined(p);
	return 0;
nomem:
	free(v);
	free(w);
	return TETHER_ENOMEM;
}

TETHER_EXPORT int tether_params_set_child(tether_params *p, const char *key,
					  tether_params *child)
{
	struct tth_param *e;
	char *pkey;

	if (!p || !key || !*key || !child || child == p) {
		if (child != p)
			tether_params_free(child);
		return TETHER_EINVAL;
	}
	pkey = strdup(key);
	e = pkey ? slot(p, key) : NULL;
	if (!e) {
		free(pkey);
		tether_params_free(child);
		return TETHER_ENOMEM;
	}
	free(child->pkey);
	child->pkey = pkey;
	child->parent = p;
	e->child = child;
	drop_joined(p);
	return 0;
}

TETHER_EXPORT int tether_params_set_kv(tether_params *p, const char *kv,
				       const char *where)
{
	const char *eq;
	char *key;
	int rc;

	if (!p || !kv)
		return TETHER_EINVAL;
	eq = strchr(kv, '=');
	if (!eq || eq == kv)
		return TETHER_EINVAL;
	key = strndup(kv, (size_t)(eq - kv));
	if (!key)
		return TETHER_ENOMEM;
	rc = tether_params_set(p, key, eq + 1, where);
	free(key);
	return rc;
}

TETHER_EXPORT const char *tether_params_get(const tether_params *p,
					    const char *key)
{
	const struct tth_param *e;

	if (!p || !key)
		return NULL;
	e = find(p, key);
	return e ? e->value : NULL;
}

TETHER_EXPORT size_t tether_params_count(const tether_params *p)
{
	return p ? p->n : 0;
}

TETHER_EXPORT const char *tether_params_key(const tether_params *p, size_t i)
{
	return p && i < p->n ? p->v[i].key : NULL;
}

static tether_params *dup_into(const tether_params *p, tether_params *parent,
			       const char *pkey)
{
	tether_params *c = tether_params_new(p->where);

	if (!c)
		return NULL;
	c->parent = parent;
	if (pkey) {
		c->pkey = strdup(pkey);
		if (!c->pkey)
			goto fail;
	}
	if (p->n) {
		c->v = calloc(p->n, sizeof(*c->v));
		if (!c->v)
			goto fail;
		c->cap = p->n;
	}
	for (size_t i = 0; i < p->n; i++) {
		const struct tth_param *s = &p->v[i];
		struct tth_param *d = &c->v[i];

		d->key = strdup(s->key);
		if (d->key)
			index_add(&c->idx, &c->idxcap, c->n, entry_key, c);
		c->n++;
		d->value = xstrdup(s->value);
		d->where = xstrdup(s->where);
		if (!d->key || (s->value && !d->value) ||
		    (s->where && !d->where))
			goto fail;
		if (s->child) {
			d->child = dup_into(s->child, c, s->key);
			if (!d->child)
				goto fail;
		}
	}
	return c;
fail:
	tether_params_free(c);
	return NULL;
}

TETHER_EXPORT tether_params *tether_params_dup(const tether_params *p)
{
	char path[256];
	tether_params *c;
	const char *where;

	if (!p)
		return NULL;
	/* a detached copy keeps its path and location for its messages */
	set_path(p, path, sizeof(path));
	c = dup_into(p, NULL, path[0] ? path : NULL);
	where = set_where(p);
	if (c && !c->where && where) {
		c->where = strdup(where);
		if (!c->where) {
			tether_params_free(c);
			return NULL;
		}
	}
	return c;
}

TETHER_EXPORT int tether_params_fail(tether_params *p, const char *key,
				     const char *fmt, ...)
{
	va_list ap;

	if (!p)
		return TETHER_ECONFIG;
	va_start(ap, fmt);
	add_error_v(p, key, fmt, ap);
	va_end(ap);
	return TETHER_ECONFIG;
}

/* ------------------------------------------------------------- errors */

int tth_params_set_from(tether_params *p, const char *key, const char *value,
			const tether_params *from, const char *from_key)
{
	char path[256];
	struct tth_param *e;
	int rc = tether_params_set(p, key, value,
				   tth_params_where(from, from_key));

	if (rc != 0)
		return rc;
	e = find(p, key);
	key_path(from, from_key, path, sizeof(path));
	e->path = strdup(path);
	return e->path ? 0 : TETHER_ENOMEM;
}

void tth_params_move_errors(tether_params *to, tether_params *from)
{
	if (!to || !from)
		return;
	for (size_t i = 0; i < from->nerrs; i++) {
		if (to->nerrs == to->errcap) {
			size_t cap = to->errcap ? 2 * to->errcap : 4;
			struct tth_perr *e = realloc(to->errs, cap * sizeof(*e));

			if (!e)
				break; /* the rest are freed with from */
			to->errs = e;
			to->errcap = cap;
		}
		to->errs[to->nerrs++] = from->errs[i];
		from->errs[i].text = NULL;
	}
	drop_joined(to);
	drop_joined(from);
}

struct errv {
	const struct tth_perr **v;
	size_t n, cap;
};

static int collect(const tether_params *p, struct errv *ev)
{
	for (size_t i = 0; i < p->nerrs; i++) {
		if (ev->n == ev->cap) {
			size_t cap = ev->cap ? 2 * ev->cap : 16;
			const struct tth_perr **v =
			    realloc(ev->v, cap * sizeof(*v));

			if (!v)
				return -1;
			ev->v = v;
			ev->cap = cap;
		}
		ev->v[ev->n++] = &p->errs[i];
	}
	for (size_t i = 0; i < p->n; i++) {
		if (p->v[i].child && collect(p->v[i].child, ev) < 0)
			return -1;
		if (p->v[i].derived && collect(p->v[i].derived, ev) < 0)
			return -1;
	}
	return 0;
}

static int by_seq(const void *a, const void *b)
{
	const struct tth_perr *x = *(const struct tth_perr *const *)a;
	const struct tth_perr *y = *(const struct tth_perr *const *)b;

	return (x->seq > y->seq) - (x->seq < y->seq);
}

size_t tth_params_error_count(const tether_params *p)
{
	size_t n;

	if (!p)
		return 0;
	n = p->nerrs;
	for (size_t i = 0; i < p->n; i++) {
		n += tth_params_error_count(p->v[i].child);
		n += tth_params_error_count(p->v[i].derived);
	}
	return n;
}

TETHER_EXPORT const char *tether_params_errors(const tether_params *p)
{
	/* the cache is the only thing a const call writes */
	tether_params *mp = (tether_params *)p;
	struct errv ev = {0};
	size_t len = 0;
	char *s;

	if (!p)
		return NULL;
	drop_joined(mp);
	if (collect(p, &ev) < 0 || ev.n == 0) {
		free(ev.v);
		return ev.n ? "out of memory" : NULL;
	}
	qsort(ev.v, ev.n, sizeof(*ev.v), by_seq);
	for (size_t i = 0; i < ev.n; i++)
		len += strlen(ev.v[i]->text) + 1;
	s = malloc(len);
	if (!s) {
		free(ev.v);
		return "out of memory";
	}
	len = 0;
	for (size_t i = 0; i < ev.n; i++) {
		size_t l = strlen(ev.v[i]->text);

		memcpy(s + len, ev.v[i]->text, l);
		len += l;
		s[len++] = i + 1 < ev.n ? '\n' : '\0';
	}
	free(ev.v);
	mp->joined = s;
	return s;
}

/* -------------------------------------------------------------- usage */

void tth_params_reset_usage(tether_params *p)
{
	if (!p)
		return;
	clear_usage(p);
	for (size_t i = 0; i < p->n; i++) {
		p->v[i].known = 0;
		tth_params_reset_usage(p->v[i].child);
		tth_params_reset_usage(p->v[i].derived);
	}
}

void tth_params_mark_checked(tether_params *p)
{
	if (p)
		p->checked = 1;
}

int tth_params_check_unknown(tether_params *p, const char *what)
{
	int rc = 0;

	if (!p)
		return 0;
	p->checked = 1;
	for (size_t i = 0; i < p->n; i++) {
		struct tth_param *e = &p->v[i];
		const char *best = NULL;
		char path[256], fix[256], msg[600];
		int bestd = 3;

		if (e->known) {
			if (e->child && !e->child->checked &&
			    tth_params_check_unknown(e->child, what))
				rc = TETHER_ECONFIG;
			continue;
		}
		rc = TETHER_ECONFIG;
		for (size_t j = 0; j < p->nasked; j++) {
			int d = tth_edit_distance(e->key, p->asked[j], 2);

			if (d < bestd) {
				bestd = d;
				best = p->asked[j];
			}
		}
		key_path(p, e->key, path, sizeof(path));
		/* the suggestion is the flagged key as it should be */
		if (best) {
			key_path(p, best, fix, sizeof(fix));
			snprintf(
			    msg, sizeof(msg),
			    "unknown key '%s' for %s (did you mean "
			    "'%s'?)",
			    path, what, fix);
		} else {
			snprintf(msg, sizeof(msg),
				 "unknown key '%s' for %s", path,
				 what);
		}
		push_error(p, entry_where(p, e), "", msg);
	}
	return rc;
}

int tth_params_equal(const tether_params *a, const tether_params *b)
{
	if (!a || !b)
		return a == b;
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++) {
		const struct tth_param *x = &a->v[i];
		const struct tth_param *y = find(b, x->key);

		if (!y || !x->value != !y->value)
			return 0;
		if (x->value ? strcmp(x->value, y->value) != 0
			     : !tth_params_equal(x->child, y->child))
			return 0;
	}
	return 1;
}
