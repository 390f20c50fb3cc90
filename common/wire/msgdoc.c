/*
 * msgdoc.c - a whole OP_MSG (compressed or not) as one BSON document (see
 * msgdoc.h).  Pure: reads only the bytes it is given, never past len.
 */
#include "msgdoc.h"

#include <stdlib.h>

#include "opcomp.h"
#include "opmsg.h"

/* body + sequences -> one document. */
static bool merge_command(const struct opmsg_view *v, bson_t *out)
{
	bson_t body;

	if (!bson_init_static(&body, v->body, v->body_len))
		return false;
	bson_init(out);
	bson_copy_to_excluding_noinit(&body, out, "$db", NULL);
	for (unsigned i = 0; i < v->nseq; i++) {
		const struct opmsg_sequence *s = &v->seq[i];
		bson_t arr;
		char key[16];
		const char *k;
		size_t off = 0;

		bson_append_array_begin(out, s->identifier, -1, &arr);
		for (uint32_t n = 0; off + 4 <= s->docs_len; n++) {
			uint32_t dlen = (uint32_t)wire_load_i32(s->docs + off);
			bson_t d;

			if (dlen < 5 || dlen > s->docs_len - off ||
			    !bson_init_static(&d, s->docs + off, dlen))
				break;   /* inspect validated it; never happens */
			bson_uint32_to_string(n, &k, key, sizeof(key));
			bson_append_document(&arr, k, -1, &d);
			off += dlen;
		}
		bson_append_array_end(out, &arr);
	}
	return true;
}

bool msgdoc_command(const struct msg_info *info, const uint8_t *msg, size_t len, bson_t *cmd)
{
	uint8_t *plain = NULL;
	size_t plain_len;
	struct opmsg_view v;
	bool ok;

	if (info->compressed) {
		struct opcomp_view cv;
		if (opcomp_parse(msg, len, WIRE_MAX_MESSAGE_DEFAULT, &cv) != WIRE_OK ||
		    opcomp_decompress(&cv, &plain, &plain_len) != WIRE_OK)
			return false;
		msg = plain;
		len = plain_len;
	}
	ok = opmsg_parse(msg, len, &v) == WIRE_OK && merge_command(&v, cmd);
	free(plain);
	return ok;
}

bool msgdoc_reply_body(const uint8_t *msg, size_t len, bson_t *out)
{
	uint8_t *plain = NULL;
	size_t plain_len;
	struct wire_header h;
	struct opmsg_view v;
	bson_t body;
	bool ok = false;

	wire_header_read(msg, &h);
	if (h.opcode == WIRE_OP_COMPRESSED) {
		struct opcomp_view cv;
		if (opcomp_parse(msg, len, WIRE_MAX_MESSAGE_DEFAULT, &cv) != WIRE_OK ||
		    opcomp_decompress(&cv, &plain, &plain_len) != WIRE_OK)
			return false;
		msg = plain;
		len = plain_len;
	}
	if (opmsg_parse(msg, len, &v) == WIRE_OK && bson_init_static(&body, v.body, v.body_len) &&
	    bson_validate(&body, BSON_VALIDATE_NONE, NULL)) {
		bson_copy_to(&body, out);
		ok = true;
	}
	free(plain);
	return ok;
}
