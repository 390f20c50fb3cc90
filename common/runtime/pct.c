/*
 * pct.c - strict percentages and NAME=PCT lists (grammar in pct.h).
 *
 * A list is parsed in one pass over comma-separated views of the spec;
 * accepted names are copied into an arena, and the items are sorted by name
 * so lookups are a bsearch and duplicates sit next to each other.  The list,
 * its items and its arena are one allocation.
 */
#include "pct.h"

#include <stdlib.h>
#include <string.h>

#include "errbuf.h"

struct pct_item {
	const char *name; /* in arena */
	double pct;
};

struct pct_list {
	size_t n;
	struct pct_item *item; /* sorted by name; right after the struct */
	char *arena;           /* the names; after the items */
};

bool pct_parse(const char *s, size_t len, double *out)
{
	char buf[PCT_MAX_LEN + 1];
	size_t digits = 0, dots = 0;

	if (len == 0 || len > PCT_MAX_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			digits++;
		else if (s[i] == '.')
			dots++;
		else
			return false;
	}
	if (digits == 0 || dots > 1)
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	double d = strtod(buf, NULL);
	if (!(d >= 0.0 && d <= 100.0))
		return false;
	*out = d;
	return true;
}

/* Narrow [*p, *p + *n) past leading and trailing spaces and tabs. */
static void pct_trim(const char **p, size_t *n)
{
	while (*n && (**p == ' ' || **p == '\t'))
		(*p)++, (*n)--;
	while (*n && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
		(*n)--;
}

static int pct_item_cmp(const void *a, const void *b)
{
	return strcmp(((const struct pct_item *)a)->name, ((const struct pct_item *)b)->name);
}

/* Item k, the n bytes at it: append it to l, its name to the arena at *used. */
static bool pct_list_add(struct pct_list *l, size_t *used, size_t k, const char *it, size_t n, char *err,
			 size_t errlen)
{
	pct_trim(&it, &n);
	if (!n)
		return errbuf_fail(err, errlen, "item %zu is empty (stray comma?)", k);
	const char *eq = memchr(it, '=', n);
	if (!eq)
		return errbuf_fail(err, errlen, "item %zu '%.*s': expected NAME=PERCENT", k, (int)n, it);
	const char *name = it, *val = eq + 1;
	size_t nl = (size_t)(eq - it), vl = n - nl - 1;

	pct_trim(&name, &nl);
	pct_trim(&val, &vl);
	if (!nl)
		return errbuf_fail(err, errlen, "item %zu '%.*s': the name is empty", k, (int)n, it);
	if (!pct_parse(val, vl, &l->item[l->n].pct))
		return errbuf_fail(err, errlen, "item %zu '%.*s': '%.*s' is not a percentage from 0 to 100",
				   k, (int)n, it, (int)vl, val);
	memcpy(l->arena + *used, name, nl);
	l->arena[*used + nl] = '\0';
	l->item[l->n++].name = l->arena + *used;
	*used += nl + 1;
	return true;
}

/* Every item of spec (which has items of them) into l, sorted, no name twice. */
static bool pct_list_fill(struct pct_list *l, const char *spec, size_t items, char *err, size_t errlen)
{
	size_t used = 0;
	const char *it = spec;

	for (size_t k = 1; k <= items; k++) {
		size_t n = strcspn(it, ",");
		if (!pct_list_add(l, &used, k, it, n, err, errlen))
			return false;
		it += n + 1;
	}
	qsort(l->item, l->n, sizeof(l->item[0]), pct_item_cmp);
	for (size_t i = 1; i < l->n; i++)
		if (!strcmp(l->item[i - 1].name, l->item[i].name))
			return errbuf_fail(err, errlen, "'%s' is given twice", l->item[i].name);
	return true;
}

bool pct_list_parse(const char *spec, size_t max_items, struct pct_list **out, char *err, size_t errlen)
{
	const char *s = spec ? spec : "", *t = s;
	size_t len = strlen(s), tl = len, items = 0;

	*out = NULL;
	pct_trim(&t, &tl);
	for (size_t i = 0; tl && i <= len; i++)
		items += s[i] == ',' || s[i] == '\0'; /* a blank spec has no items */
	if (items > max_items)
		return errbuf_fail(err, errlen, "%zu items, at most %zu allowed", items, max_items);
	/* One block: the list, then its items, then the arena. */
	struct pct_list *l = calloc(1, sizeof(*l) + items * sizeof(struct pct_item) + len + 1);
	if (!l)
		return errbuf_fail(err, errlen, "out of memory");
	l->item = (struct pct_item *)(l + 1);
	l->arena = (char *)(l->item + items);
	if (items && !pct_list_fill(l, s, items, err, errlen)) {
		free(l);
		return false;
	}
	*out = l;
	return true;
}

bool pct_list_get(const struct pct_list *l, const char *name, double *out)
{
	struct pct_item key = {name, 0};

	if (!l || !l->n || !name)
		return false;
	const struct pct_item *hit = bsearch(&key, l->item, l->n, sizeof(key), pct_item_cmp);
	if (hit)
		*out = hit->pct;
	return hit != NULL;
}

void pct_list_free(struct pct_list *l)
{
	free(l);
}
