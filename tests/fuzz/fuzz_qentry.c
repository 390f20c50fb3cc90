/*
 * fuzz_qentry.c - libFuzzer target for the durable queue's entry decoder.
 *
 * Entries come back from Redis and from the spool file, both of which can
 * be damaged; whatever qentry_decode accepts must encode again and decode
 * to an entry that encodes to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qentry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qentry e, again;
	char err[256];
	uint8_t *enc = NULL, *enc2 = NULL;
	size_t len = 0, len2 = 0;

	if (!qentry_decode(data, size, &e, err, sizeof(err)))
		return 0;
	if (!qentry_encode(&e, &enc, &len, err, sizeof(err)))
		abort(); /* a decoded entry must encode */
	if (!qentry_decode(enc, len, &again, err, sizeof(err)))
		abort(); /* and its encoding must decode */
	if (!qentry_encode(&again, &enc2, &len2, err, sizeof(err)) || len2 != len ||
	    memcmp(enc, enc2, len) != 0)
		abort(); /* encoding is a fixed point after one round */
	free(enc);
	free(enc2);
	qentry_free(&e);
	qentry_free(&again);
	return 0;
}
