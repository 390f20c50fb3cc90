/*
 * shadow_batch.c - the first batch of a find / aggregate reply, read and
 * rebuilt: what the race guard (shadow_race.c) and the accumulator
 * tolerance (shadow_accum.c) both do to a reply before it is compared.
 */
#include "shadow_internal.h"

#include <string.h>

bool shbatch_first(const bson_t *reply, bson_iter_t *batch)
{
	bson_iter_t it, c;

	return bson_iter_init_find(&it, reply, "cursor") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
	       bson_iter_recurse(&it, &c) && bson_iter_find(&c, "firstBatch") &&
	       BSON_ITER_HOLDS_ARRAY(&c) && bson_iter_recurse(&c, batch);
}

uint32_t shbatch_map(const bson_t *reply, shbatch_fn fn, void *arg, bson_t *out)
{
	bson_iter_t it, c, b;
	bson_t cursor, batch;
	uint32_t n = 0;

	bson_init(out);
	if (!bson_iter_init(&it, reply))
		return 0;
	while (bson_iter_next(&it)) {
		if (strcmp(bson_iter_key(&it), "cursor") || !bson_iter_recurse(&it, &c)) {
			bson_append_iter(out, NULL, 0, &it);
			continue;
		}
		BSON_APPEND_DOCUMENT_BEGIN(out, "cursor", &cursor);
		while (bson_iter_next(&c)) {
			if (strcmp(bson_iter_key(&c), "firstBatch") || !bson_iter_recurse(&c, &b)) {
				bson_append_iter(&cursor, NULL, 0, &c);
				continue;
			}
			BSON_APPEND_ARRAY_BEGIN(&cursor, "firstBatch", &batch);
			while (bson_iter_next(&b)) {
				char key[16];
				const char *k;
				bson_uint32_to_string(n, &k, key, sizeof(key));
				if (fn(&b, &batch, k, arg))
					n++;
			}
			bson_append_array_end(&cursor, &batch);
		}
		bson_append_document_end(out, &cursor);
	}
	return n;
}
