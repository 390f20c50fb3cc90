/*
 * compare_internal.h - what compare.c (result sets), compare_walk.c
 * (values, field by field) and compare_hash.c (hashes that agree with the
 * walk's equality) share.  Not for use outside shadow/compare*.c.
 *
 * One walk serves two purposes: with emit set it records every difference
 * in the result and keeps going; without, it stops at the first difference
 * and only answers "equal?".  The hash of a value is equal for values the
 * walk calls equal (under the same options), so result sets can be matched
 * by sorting on hashes instead of comparing every pair.
 */
#ifndef TANDEM_SHADOW_COMPARE_INTERNAL_H
#define TANDEM_SHADOW_COMPARE_INTERNAL_H

#include "compare.h"

struct cmp_ctx {
	const struct compare_opts *o;
	struct compare_result *res;
	size_t max_diffs;
	bool emit;			/* record diffs (else stop at the first) */
	int depth;
	char field[COMPARE_FIELD_MAX];	/* rendered path inside the document */
	size_t flen;
	char dotted[COMPARE_FIELD_MAX];	/* field names only, for ignore paths */
	size_t dlen;
	bool dotted_cut;		/* dotted overflowed: ignore nothing below */
	char loc[COMPARE_LOC_MAX];	/* current document locator */
	char loc_red[COMPARE_LOC_MAX];
};

/* A document/array value libbson may be handed: its iterator and
 * bson_init_static assert on NULL data, which a zero-length embedded
 * document that bson_validate let through yields. */
static inline bool cmp_doc_ok(const bson_value_t *v)
{
	return v->value.v_doc.data && v->value.v_doc.data_len >= 5;
}

/* Compare two values at the current path; true when equal. */
bool cmp_walk_value(struct cmp_ctx *c, const bson_value_t *a, const bson_value_t *b);

/* Record one difference (a or b NULL when absent on that side). */
void cmp_emit(struct cmp_ctx *c, enum compare_kind kind, const bson_value_t *a,
	      const bson_value_t *b, const char *note);

/* Path stack: push returns the lengths to restore with cmp_path_pop. */
struct cmp_mark {
	size_t flen, dlen;
	bool dotted_cut;
};
struct cmp_mark cmp_path_key(struct cmp_ctx *c, const char *key);
struct cmp_mark cmp_path_index(struct cmp_ctx *c, size_t i);
void cmp_path_pop(struct cmp_ctx *c, struct cmp_mark m);

/* True when the current dotted path is covered by an ignore entry. */
bool cmp_ignored(const struct cmp_ctx *c);

/* Hash consistent with cmp_walk_value's equality under c->o (c's dotted
 * path is used and restored for ignore paths; nothing is emitted). */
uint64_t cmp_hash_value(struct cmp_ctx *c, const bson_value_t *v);

/* Numbers: bracket test and by-value equality (epsilon honoured). */
bool cmp_is_number(bson_type_t t);
bool cmp_numbers_equal(const struct compare_opts *o, const bson_value_t *a,
		       const bson_value_t *b);

/* ObjectId vs its 24-hex-digit string (either case). */
bool cmp_oid_matches_string(const bson_oid_t *oid, const char *s, size_t len);

#endif
