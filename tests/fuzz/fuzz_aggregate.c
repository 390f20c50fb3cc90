/*
 * fuzz_aggregate.c - libFuzzer target for the pipeline runner
 * (aggregate.h) and the expression evaluator under it.
 *
 * Input: BSON documents back to back (each starts with its int32 length):
 * the first is the pipeline (an array, or a document used as one), the
 * others the input documents (also the $lookup collection "f").  Whatever
 * agg_run returns must hold: AGG_OK -> a valid BSON array with one tie
 * class per document; otherwise no output and a message.  Small limits
 * keep each run bounded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>

#include "aggregate.h"

#define MAX_DOCS 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bson_t *docs[MAX_DOCS + 1];
	size_t n = 0, off = 0;
	struct agg_input in[2];
	struct agg_limits lim = { .max_docs = 2000, .max_bytes = 1 << 20 };
	bson_t out = BSON_INITIALIZER, filter = BSON_INITIALIZER;
	bson_error_t err;
	uint32_t *ties = NULL;
	struct agg_info info;
	enum agg_status st;
	bool clean = true;

	while (n <= MAX_DOCS && size - off >= 5) {
		uint32_t len;
		memcpy(&len, data + off, 4);
		len = BSON_UINT32_FROM_LE(len);
		if (len < 5 || len > size - off)
			break;
		if (!(docs[n] = bson_new_from_data(data + off, len)))
			break;
		n++;
		off += len;
	}
	if (n == 0)
		return 0;
	in[0] = (struct agg_input){ "c", docs + 1, n - 1 };
	in[1] = (struct agg_input){ "f", docs + 1, n - 1 };
	(void)agg_check(docs[0], &info, &err);
	(void)agg_pushdown(docs[0], &filter);
	st = agg_run(docs[0], in, 2, &lim, &out, &ties, &err);
	for (size_t i = 0; i < n; i++)
		clean = clean && bson_validate(docs[i], BSON_VALIDATE_UTF8, NULL);
	if (st == AGG_OK) {
		/* invalid input keys are copied as they are; otherwise the output is valid */
		if ((clean && !bson_validate(&out, BSON_VALIDATE_NONE, NULL)) || !ties)
			abort();
	} else if (out.len != 5 || ties || !err.message[0]) {
		abort();
	}
	free(ties);
	bson_destroy(&out);
	bson_destroy(&filter);
	for (size_t i = 0; i < n; i++)
		bson_destroy(docs[i]);
	return 0;
}
