/*
 * tenant_field.c - field mode: find the tenant in a command's filters and
 * documents (tenant_internal.h).
 *
 *   find                   filter          count, distinct   query
 *   findAndModify          query           aggregate         pipeline[0].$match
 *   insert                 documents[]     (the field itself, dotted paths descend)
 *   update / delete        updates[].q / deletes[].q
 *   bulkWrite              ops[].document, else ops[].filter
 *
 * A filter names the tenant by equality: {f: v}, {f: {$eq: v}} (other
 * operators beside $eq allowed), at its top level or inside $and (nested up
 * to TENANT_AND_DEPTH).  $or, $in and the rest name nothing.  v is a
 * string (1..FLAGS_TENANT_NAME_MAX bytes, no NUL), an int32/int64 (its
 * decimal digits: 42 and "42" are one tenant) or an ObjectId (24 lowercase
 * hex digits); anything else is invalid.
 *
 * Invariants: every statement must name the tenant, all by the same value;
 * the first failure is final and stops the scan.  Reads only (views over
 * the caller's validated bytes, no allocation); at most TENANT_SCAN_MAX
 * statements.
 */
#include "tenant_internal.h"

#include <stdio.h>
#include <string.h>

#include "flags.h"
#include "wire.h"

struct acc {
	const char *field;
	char name[FLAGS_TENANT_NAME_MAX + 1];
	size_t len;
	bool found;   /* name holds the tenant seen so far */
	bool stop;    /* why is final */
	enum tenant_reason why;
	uint32_t stmts;
};

enum stmt_kind {
	STMT_DOC,   /* an inserted document */
	STMT_Q,     /* an update/delete statement: its q */
	STMT_OP,    /* a bulkWrite op: its document, else its filter */
};

static void acc_fail(struct acc *a, enum tenant_reason why)
{
	if (!a->stop) {
		a->stop = true;
		a->why = why;
	}
}

/* One value that names the tenant. */
static void acc_value(struct acc *a, const bson_iter_t *it)
{
	char buf[32];
	const char *v = buf;
	size_t n;
	uint32_t l;

	switch (bson_iter_type(it)) {
	case BSON_TYPE_UTF8:
		v = bson_iter_utf8(it, &l);
		n = l;
		if (n == 0 || n > FLAGS_TENANT_NAME_MAX || memchr(v, '\0', n)) {
			acc_fail(a, TENANT_R_INVALID);
			return;
		}
		break;
	case BSON_TYPE_INT32:
		n = (size_t)snprintf(buf, sizeof(buf), "%d", (int)bson_iter_int32(it));
		break;
	case BSON_TYPE_INT64:
		n = (size_t)snprintf(buf, sizeof(buf), "%lld", (long long)bson_iter_int64(it));
		break;
	case BSON_TYPE_OID:
		bson_oid_to_string(bson_iter_oid(it), buf);
		n = 24;
		break;
	default:
		acc_fail(a, TENANT_R_INVALID);
		return;
	}
	if (!a->found) {
		memcpy(a->name, v, n);
		a->name[n] = '\0';
		a->len = n;
		a->found = true;
	} else if (a->len != n || memcmp(a->name, v, n) != 0) {
		acc_fail(a, TENANT_R_SEVERAL);
	}
}

/* The value under an operator document {$eq: v, ...}: true when $eq is there. */
static bool scan_ops(struct acc *a, bson_iter_t *op)
{
	bool named = false;

	do {
		if (strcmp(bson_iter_key(op), "$eq") == 0) {
			acc_value(a, op);
			named = true;
		}
	} while (!a->stop && bson_iter_next(op));
	return named;
}

/* A filter (it at its start): whether it names the tenant by equality. */
static bool scan_filter(struct acc *a, bson_iter_t *it, unsigned depth)
{
	bool named = false;

	while (!a->stop && bson_iter_next(it)) {
		const char *k = bson_iter_key(it);
		bson_iter_t sub, elem;

		if (strcmp(k, a->field) == 0) {
			if (!BSON_ITER_HOLDS_DOCUMENT(it)) {
				acc_value(a, it);
				named = true;
			} else if (bson_iter_recurse(it, &sub) && bson_iter_next(&sub) &&
				   bson_iter_key(&sub)[0] == '$') {
				named |= scan_ops(a, &sub);
			} else {
				acc_fail(a, TENANT_R_INVALID); /* equality with a document */
			}
		} else if (strcmp(k, "$and") == 0 && BSON_ITER_HOLDS_ARRAY(it) &&
			   depth < TENANT_AND_DEPTH && bson_iter_recurse(it, &elem)) {
			while (!a->stop && bson_iter_next(&elem))
				if (BSON_ITER_HOLDS_DOCUMENT(&elem) && bson_iter_recurse(&elem, &sub))
					named |= scan_filter(a, &sub, depth + 1);
		}
	}
	return named;
}

/* The filter under key in the document at it. */
static bool scan_filter_at(struct acc *a, bson_iter_t *it, const char *key)
{
	bson_iter_t f;

	return bson_iter_find(it, key) && BSON_ITER_HOLDS_DOCUMENT(it) && bson_iter_recurse(it, &f) &&
	       scan_filter(a, &f, 0);
}

/* An inserted document: the field, dotted paths descending. */
static bool scan_doc(struct acc *a, bson_iter_t *it)
{
	bson_iter_t v;

	if (!bson_iter_find_descendant(it, a->field, &v))
		return false;
	acc_value(a, &v);
	return true;
}

static void scan_stmt(struct acc *a, enum stmt_kind kind, bson_iter_t *doc)
{
	bool named = false;
	bson_iter_t probe = *doc, sub;

	if (++a->stmts > TENANT_SCAN_MAX) {
		acc_fail(a, TENANT_R_TOO_LARGE);
		return;
	}
	switch (kind) {
	case STMT_DOC:
		named = scan_doc(a, doc);
		break;
	case STMT_Q:
		named = scan_filter_at(a, doc, "q");
		break;
	case STMT_OP:
		if (bson_iter_find(&probe, "document") && BSON_ITER_HOLDS_DOCUMENT(&probe) &&
		    bson_iter_recurse(&probe, &sub))
			named = scan_doc(a, &sub);
		else
			named = scan_filter_at(a, doc, "filter");
		break;
	}
	if (!named)
		acc_fail(a, TENANT_R_NONE);
}

/* The statements named id: an array in the body and/or kind-1 sequences. */
static void scan_stmts(struct acc *a, const bson_t *body, const struct tenant_seq *seq, size_t nseq,
		       const char *id, enum stmt_kind kind)
{
	bson_iter_t it, arr, d;
	bool any = false;

	if (bson_iter_init_find(&it, body, id) && BSON_ITER_HOLDS_ARRAY(&it) &&
	    bson_iter_recurse(&it, &arr)) {
		while (!a->stop && bson_iter_next(&arr)) {
			if (!BSON_ITER_HOLDS_DOCUMENT(&arr) || !bson_iter_recurse(&arr, &d)) {
				acc_fail(a, TENANT_R_NONE);
				return;
			}
			scan_stmt(a, kind, &d);
			any = true;
		}
	}
	for (size_t i = 0; i < nseq && !a->stop; i++) {
		const uint8_t *p = seq[i].docs, *end = p + seq[i].len;
		if (strcmp(seq[i].id, id) != 0)
			continue;
		while (!a->stop && end - p >= 5) {
			uint32_t n = (uint32_t)wire_load_i32(p);
			bson_t doc;
			if (n < 5 || n > (size_t)(end - p) || !bson_init_static(&doc, p, n) ||
			    !bson_iter_init(&d, &doc)) {
				acc_fail(a, TENANT_R_NONE);
				return;
			}
			scan_stmt(a, kind, &d);
			any = true;
			p += n;
		}
	}
	if (!any)
		acc_fail(a, TENANT_R_NONE);
}

/* The filter under key of the body. */
static void scan_body_filter(struct acc *a, const bson_t *body, const char *key)
{
	bson_iter_t it;

	if (!bson_iter_init(&it, body) || !scan_filter_at(a, &it, key))
		acc_fail(a, TENANT_R_NONE);
}

/* aggregate: the first stage, when it is a $match. */
static void scan_pipeline(struct acc *a, const bson_t *body)
{
	bson_iter_t it, stages, stage;

	if (bson_iter_init_find(&it, body, "pipeline") && BSON_ITER_HOLDS_ARRAY(&it) &&
	    bson_iter_recurse(&it, &stages) && bson_iter_next(&stages) &&
	    BSON_ITER_HOLDS_DOCUMENT(&stages) && bson_iter_recurse(&stages, &stage) &&
	    scan_filter_at(a, &stage, "$match"))
		return;
	acc_fail(a, TENANT_R_NONE);
}

enum tenant_status tenant_field_scan(const char *field, const bson_t *body,
				     const struct tenant_seq *seq, size_t nseq, char *out,
				     size_t outlen, enum tenant_reason *why)
{
	struct acc a = {.field = field};
	bson_iter_t it;
	const char *name = "";

	if (bson_iter_init(&it, body) && bson_iter_next(&it))
		name = bson_iter_key(&it);
	if (strcmp(name, "find") == 0)
		scan_body_filter(&a, body, "filter");
	else if (strcmp(name, "count") == 0 || strcmp(name, "distinct") == 0 ||
		 strcmp(name, "findAndModify") == 0 || strcmp(name, "findandmodify") == 0)
		scan_body_filter(&a, body, "query");
	else if (strcmp(name, "aggregate") == 0)
		scan_pipeline(&a, body);
	else if (strcmp(name, "insert") == 0)
		scan_stmts(&a, body, seq, nseq, "documents", STMT_DOC);
	else if (strcmp(name, "update") == 0)
		scan_stmts(&a, body, seq, nseq, "updates", STMT_Q);
	else if (strcmp(name, "delete") == 0)
		scan_stmts(&a, body, seq, nseq, "deletes", STMT_Q);
	else if (strcmp(name, "bulkWrite") == 0)
		scan_stmts(&a, body, seq, nseq, "ops", STMT_OP);
	else
		acc_fail(&a, TENANT_R_NONE);
	if (!a.stop && (!a.found || a.len >= outlen))
		acc_fail(&a, a.found ? TENANT_R_INVALID : TENANT_R_NONE);
	if (a.stop) {
		*why = a.why;
		return TENANT_UNRESOLVED;
	}
	memcpy(out, a.name, a.len + 1);
	return TENANT_MATCHED;
}
