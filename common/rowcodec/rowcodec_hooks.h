/*
 * rowcodec_hooks.h - the codec for mapped tables (common/rowstore): a
 * mapped table's `extras` column is the rowcodec encoding of the document
 * with every value that lives in a typed column replaced by a marker
 * {"~t":"c","c":NAME,"y":TYPE[,"st":SUBTYPE]} (docs/storage.md, "Mapped
 * tables"); without hooks a marker is refused.  Also single values (a jsonb
 * column, legacy_id) in the same text a value has inside a document.
 */
#ifndef TANDEM_ROWCODEC_HOOKS_H
#define TANDEM_ROWCODEC_HOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

struct rowcodec_hooks {
	/* Encoder: the marker JSON text to write in place of the element `it`
	 * points at (identified by bson_iter_key(it)'s address inside the
	 * document being encoded), or NULL to encode the value normally. */
	const char *(*enc_marker)(void *ctx, const bson_iter_t *it);
	/* Decoder: append the value a marker stands for under key.  c is the
	 * marker's "c", y its "y", st its "st" (-1 when absent).  Sets err
	 * and returns false when the row cannot give the value. */
	bool (*dec_marker)(void *ctx, const char *c, int64_t y, int64_t st,
			   bson_t *out, const char *key, size_t klen,
			   bson_error_t *err);
	void *ctx;
};

/* rowcodec_to_json / rowcodec_from_json with marker hooks (h may be NULL). */
bool rowcodec_to_json_hooked(const bson_t *doc, const struct rowcodec_hooks *h,
			     char **json, size_t *len, bson_error_t *err)
	__attribute__((warn_unused_result));
bool rowcodec_from_json_hooked(const char *json, size_t len,
			       const struct rowcodec_hooks *h, bson_t *out,
			       bson_error_t *err) __attribute__((warn_unused_result));

/* One value (not a document) as rowcodec JSON, e.g. for a jsonb column or
 * legacy_id: the same text the value would have inside a document.  *json
 * is bson_malloc'd. */
bool rowcodec_value_to_json(const bson_iter_t *it, char **json, size_t *len,
			    bson_error_t *err) __attribute__((warn_unused_result));

/* Inverse: parse json (untrusted) and append the value under key. */
bool rowcodec_value_from_json(const char *json, size_t len, bson_t *out,
			      const char *key, size_t klen, bson_error_t *err)
	__attribute__((warn_unused_result));

#endif
