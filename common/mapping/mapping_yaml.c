/*
 * mapping_yaml.c - the mapping loader's diagnostics and YAML access helpers.
 *
 * Diagnostics: every problem goes through mapping_lerr_at (or the lerr macro,
 * which takes the line from a node) and becomes one message
 *   "mapping.yaml:12: collection 'users' column 'email': reason"
 * in struct mapping_errors; at most MAPPING_MAX_ERRORS are kept, the rest
 * are only counted (L->n_errors) so the load still fails.
 *
 * YAML access: typed getters over libyaml's document tree that report a
 * wrong shape instead of failing the walk, plus the per-value checks of
 * identifiers and source paths.  Nothing here frees the document.
 *
 * Memory: allocation failure aborts (a config loader has no useful fallback).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapping_internal.h"

/* ------------------------------------------------------------ utilities */

void *mapping_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p)
		abort();
	return p;
}

char *mapping_xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		abort();
	return p;
}

void mapping_errors_init(struct mapping_errors *errs)
{
	memset(errs, 0, sizeof(*errs));
}

void mapping_errors_free(struct mapping_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++)
		free(errs->msgs[i]);
	free(errs->msgs);
	mapping_errors_init(errs);
}

static void errs_push(struct mapping_errors *errs, char *msg)
{
	if (errs->n == errs->cap) {
		size_t cap = errs->cap ? errs->cap * 2 : 8;
		char **m = realloc(errs->msgs, cap * sizeof(*m));

		if (!m)
			abort();
		errs->msgs = m;
		errs->cap = cap;
	}
	errs->msgs[errs->n++] = msg;
}

void mapping_errs_addf(struct mapping_errors *errs, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	errs_push(errs, mapping_xstrdup(buf));
}

/* Report one problem at a YAML line (1-based; 0 when unknown). */
void mapping_lerr_at(struct loader *L, size_t line, const struct where *w, const char *fmt, ...)
{
	char ctx[512] = "", reason[512];
	va_list ap;

	L->n_errors++;
	if (L->errs->n >= MAPPING_MAX_ERRORS)
		return;
	if (w && w->coll) {
		int k = snprintf(ctx, sizeof(ctx), "collection '%s'", w->coll);
		if (w->kind && k > 0 && (size_t)k < sizeof(ctx))
			k += snprintf(ctx + k, sizeof(ctx) - (size_t)k, " %s '%s'", w->kind, w->sub);
		if (w->col && k > 0 && (size_t)k < sizeof(ctx))
			snprintf(ctx + k, sizeof(ctx) - (size_t)k, " column '%s'", w->col);
	}
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	mapping_errs_addf(L->errs, "%s:%zu: %s%s%s", L->name, line, ctx, *ctx ? ": " : "", reason);
}

yaml_node_t *mapping_node_at(struct loader *L, int id)
{
	return yaml_document_get_node(&L->doc, id);
}

const char *mapping_scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

size_t mapping_n_pairs(const yaml_node_t *n)
{
	return (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
}

size_t mapping_n_items(const yaml_node_t *n)
{
	return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

/*
 * Check that n (the value of key node owner, used for the line of
 * whole-mapping errors; NULL = n itself) is a mapping whose keys are scalars from allowed (NULL-ended),
 * each once, and that every key in required is present.  Returns false only
 * when n is not a mapping at all (the caller then skips it).
 */
bool mapping_check_keys(struct loader *L, const yaml_node_t *owner, yaml_node_t *n, const struct where *w,
			const char *what, const char *const *allowed, const char *const *required)
{
	if (!owner)
		owner = n;
	if (!n || n->type != YAML_MAPPING_NODE) {
		lerr(L, owner, w, "%s must be a mapping of keys", what);
		return false;
	}
	FOR_PAIRS(p, n) {
		yaml_node_t *k = mapping_node_at(L, p->key);
		const char *ks = mapping_scalar(k);
		bool known = false;

		for (size_t i = 0; ks && allowed[i]; i++)
			known |= strcmp(ks, allowed[i]) == 0;
		if (!known) {
			lerr(L, k, w, "unknown key '%s' in %s", ks ? ks : "?", what);
			continue;
		}
		for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++)
			if (mapping_scalar(mapping_node_at(L, q->key)) && strcmp(mapping_scalar(mapping_node_at(L, q->key)), ks) == 0)
				lerr(L, k, w, "duplicate key '%s'", ks);
	}
	for (size_t i = 0; required && required[i]; i++) {
		bool found = false;
		FOR_PAIRS(p, n)
			found |= mapping_scalar(mapping_node_at(L, p->key)) && strcmp(mapping_scalar(mapping_node_at(L, p->key)), required[i]) == 0;
		if (!found)
			lerr(L, owner, w, "missing required key '%s'", required[i]);
	}
	return true;
}

/* The value of key in mapping n (first occurrence), or NULL. */
yaml_node_t *mapping_get(struct loader *L, yaml_node_t *n, const char *key)
{
	FOR_PAIRS(p, n) {
		const char *ks = mapping_scalar(mapping_node_at(L, p->key));
		if (ks && strcmp(ks, key) == 0)
			return mapping_node_at(L, p->value);
	}
	return NULL;
}

/* A scalar value of key (copied), def when absent, NULL (+ error) when not a scalar. */
char *mapping_get_str(struct loader *L, yaml_node_t *n, const char *key, const char *def,
		      const struct where *w)
{
	yaml_node_t *v = mapping_get(L, n, key);

	if (!v)
		return def ? mapping_xstrdup(def) : NULL;
	if (!mapping_scalar(v)) {
		lerr(L, v, w, "key '%s' must be a single value", key);
		return NULL;
	}
	return mapping_xstrdup(mapping_scalar(v));
}

bool mapping_get_bool(struct loader *L, yaml_node_t *n, const char *key, bool def, const struct where *w)
{
	yaml_node_t *v = mapping_get(L, n, key);
	const char *s = mapping_scalar(v);

	if (!v)
		return def;
	if (s && (!strcmp(s, "true") || !strcmp(s, "yes")))
		return true;
	if (s && (!strcmp(s, "false") || !strcmp(s, "no")))
		return false;
	lerr(L, v, w, "key '%s' must be true or false", key);
	return def;
}

/* A plain SQL identifier: [a-z_][a-z0-9_]*, at most 63 bytes (no quoting needed). */
static bool is_ident(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > MAPPING_IDENT_MAX || !(islower((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_'))
			return false;
	return true;
}

void mapping_check_ident(struct loader *L, const yaml_node_t *n, const struct where *w,
			 const char *what, const char *s)
{
	if (s && !is_ident(s))
		lerr(L, n, w, "%s '%s' is not a valid SQL identifier "
		     "(lowercase letters, digits, '_', not starting with a digit, at most 63 bytes)", what, s);
}

/* A dotted path with no empty segment; "_id" and "$" segments are refused. */
void mapping_check_source(struct loader *L, const yaml_node_t *n, const struct where *w, const char *s)
{
	if (!s)
		return;
	if (!*s) {
		lerr(L, n, w, "source path is empty");
		return;
	}
	if (s[0] == '.' || s[strlen(s) - 1] == '.' || strstr(s, ".."))
		lerr(L, n, w, "source path '%s' has an empty segment", s);
	else if (!strcmp(s, "_id") || !strncmp(s, "_id.", 4))
		lerr(L, n, w, "source path '%s': _id is mapped by the collection's 'id' key", s);
	else if (s[0] == '$' || strstr(s, ".$"))
		lerr(L, n, w, "source path '%s': a segment starts with '$'", s);
}
