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

/* to_json -> from_json of doc must give doc back, byte for byte. */
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
	if (back.len != doc->len || memcmp(bson_get_data(&back), bson_get_data(doc), doc->len) != 0)
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
