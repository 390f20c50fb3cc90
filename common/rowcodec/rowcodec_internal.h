/*
 * rowcodec_internal.h - declarations shared by the rowcodec_*.c files only
 * (not part of the public API in rowcodec.h; include nowhere else).
 *
 *   rowcodec_text.c    output buffer, UTF-8, base64, hex
 *   rowcodec_enc.c     bson_t -> JSON text          (rowcodec_to_json)
 *   rowcodec_json.c    strict JSON text -> jnode tree
 *   rowcodec_dec.c     jnode tree -> bson_t         (rowcodec_from_json)
 *
 * The row store (common/rowstore) uses the public rowcodec_hooks.h (mapped
 * tables' markers, single values) and rowcodec_text.h (buffer, hex).
 *
 * Invariants: every function here that reads input is bounds-checked by
 * the lengths it is given; the jnode tree owns all its memory and is freed
 * with rowcodec_jnode_free.
 */
#ifndef TANDEM_ROWCODEC_INTERNAL_H
#define TANDEM_ROWCODEC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "rowcodec.h"
#include "rowcodec_hooks.h"
#include "rowcodec_text.h"

#define ERR(e, code, ...) \
	bson_set_error((e), ROWCODEC_ERROR_DOMAIN, (code), __VA_ARGS__)

/* ---- parsed JSON tree (rowcodec_json.c) -------------------------------- */

enum jtype { J_NULL, J_FALSE, J_TRUE, J_NUM, J_STR, J_ARR, J_OBJ };

struct jmember;

struct jnode {
	enum jtype t;
	size_t n;		/* string bytes, number chars, items, members */
	char *s;		/* J_STR: decoded bytes (NUL-terminated); J_NUM: token */
	struct jnode *items;	/* J_ARR */
	struct jmember *mem;	/* J_OBJ */
};

struct jmember {
	char *key;
	size_t klen;
	struct jnode val;
};

/* Free everything n owns and zero it (n itself is not freed). */
void rowcodec_jnode_free(struct jnode *n);

/* Parse json[0..len) as one JSON value with nothing but whitespace after
 * it, nesting at most ROWCODEC_MAX_JSON_DEPTH. *root must be zeroed; it is
 * filled (possibly partly, on failure) and must be freed with
 * rowcodec_jnode_free either way. Errors are ROWCODEC_ERR_SYNTAX. */
bool rowcodec_json_parse(const char *json, size_t len, struct jnode *root,
			 bson_error_t *err) __attribute__((warn_unused_result));

#endif
