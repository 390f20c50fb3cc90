/*
 * fuzz_rowcodec.c - libFuzzer target for the jsonb row codec.
 *
 * The codec reads back what PostgreSQL returns, so its parser is fed
 * untrusted bytes: whatever rowcodec_from_json accepts must be valid BSON
 * that encodes and decodes again to the same bytes.  The same input is
 * also tried as a BSON document: a valid one must survive
 * to_json -> from_json unchanged (the codec's lossless promise).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>

#include "rowcodec.h"

static bool same_doc(const bson_t *a, const bson_t *b);

/* Element by element: same keys, types and value bytes; documents and
 * arrays compared recursively.  (libbson accepts bytes between a
 * document's terminator and its declared end; the codec rightly drops
 * them, so whole-buffer equality is only required for canonical input.) */
static bool same_iter(bson_iter_t *x, bson_iter_t *y)
{
	for (;;) {
		bool nx = bson_iter_next(x), ny = bson_iter_next(y);
		if (nx != ny)
			return false;
		if (!nx)
			return true;
		if (strcmp(bson_iter_key(x), bson_iter_key(y)) != 0 ||
		    bson_iter_type(x) != bson_iter_type(y))
			return false;
		bson_type_t t = bson_iter_type(x);
		if (t == BSON_TYPE_DOCUMENT || t == BSON_TYPE_ARRAY) {
			bson_iter_t cx, cy;
			if (!bson_iter_recurse(x, &cx) || !bson_iter_recurse(y, &cy) || !same_iter(&cx, &cy))
				return false;
		} else if (t == BSON_TYPE_CODEWSCOPE) {
			uint32_t lx, ly, sx, sy;
			const uint8_t *dx, *dy;
			const char *cx = bson_iter_codewscope(x, &lx, &sx, &dx);
			const char *cy = bson_iter_codewscope(y, &ly, &sy, &dy);
			bson_t scx, scy;
			if (lx != ly || memcmp(cx, cy, lx) != 0 || !bson_init_static(&scx, dx, sx) ||
			    !bson_init_static(&scy, dy, sy) || !same_doc(&scx, &scy))
				return false;
		} else {
			uint32_t vx = x->next_off - x->d1, vy = y->next_off - y->d1;
			if (vx != vy || memcmp(x->raw + x->d1, y->raw + y->d1, vx) != 0)
				return false;
		}
	}
}

static bool same_doc(const bson_t *a, const bson_t *b)
{
	bson_iter_t x, y;

	return bson_iter_init(&x, a) && bson_iter_init(&y, b) && same_iter(&x, &y);
}

/* to_json -> from_json of doc must give doc back. */
static void round_trip(const bson_t *doc)
{
	char *json = NULL;
	size_t len = 0;
	bson_error_t err;
	bson_t back;

	if (!rowcodec_to_json(doc, &json, &len, &err))
		return; /* refused (e.g. a key that is not UTF-8): allowed */
	if (!rowcodec_from_json(json, len, &back, &err))
		abort(); /* the codec cannot read its own output */
	if (!same_doc(&back, doc))
		abort(); /* lossy */
	bson_destroy(&back);
	bson_free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bson_t doc, raw;
	bson_error_t err;

	if (rowcodec_from_json((const char *)data, size, &doc, &err)) {
		if (!bson_validate(&doc, BSON_VALIDATE_NONE, NULL))
			abort(); /* accepted input must give valid BSON */
		round_trip(&doc);
	}
	bson_destroy(&doc); /* initialised either way */
	if (size >= 5 && bson_init_static(&raw, data, size) &&
	    bson_validate(&raw, BSON_VALIDATE_NONE, NULL))
		round_trip(&raw);
	return 0;
}
