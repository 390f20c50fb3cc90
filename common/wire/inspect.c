/*
 * inspect.c - validate and describe one client message (see inspect.h).
 */
#include "inspect.h"

#include <stdlib.h>
#include <string.h>

#include "opcomp.h"
#include "opmsg.h"
#include "opquery.h"

static void copy_name(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Inspect an uncompressed message of a known or unknown opcode. */
static enum wire_status inspect_plain(const uint8_t *msg, size_t len, struct msg_info *out)
{
	enum wire_status st;

	switch (out->opcode) {
	case WIRE_OP_MSG: {
		struct opmsg_view v;
		struct wire_command cmd;
		if ((st = opmsg_parse(msg, len, &v)) != WIRE_OK)
			return st;
		opmsg_command(&v, &cmd);
		out->known = true;
		out->msg_flags = v.flags;
		out->expects_reply = !(v.flags & OPMSG_MORE_TO_COME);
		copy_name(out->command, sizeof(out->command), cmd.name);
		copy_name(out->db, sizeof(out->db), cmd.db);
		return WIRE_OK;
	}
	case WIRE_OP_QUERY: {
		struct opquery_view v;
		struct wire_command cmd;
		if ((st = opquery_parse(msg, len, &v)) != WIRE_OK)
			return st;
		out->known = true;
		out->expects_reply = true;
		if (opquery_command(&v, &cmd, out->db, sizeof(out->db)))
			copy_name(out->command, sizeof(out->command), cmd.name);
		return WIRE_OK;
	}
	case WIRE_OP_GET_MORE:
		out->expects_reply = true; /* legacy; forwarded as is */
		return WIRE_OK;
	default:
		return WIRE_OK;          /* forwarded untouched, no reply assumed */
	}
}

enum wire_status inspect_request(const uint8_t *msg, size_t len, int32_t max_len,
				 struct msg_info *out)
{
	enum wire_status st;

	memset(out, 0, sizeof(*out));
	if (len < WIRE_HEADER_LEN)
		return WIRE_ERR_SHORT;
	wire_header_read(msg, &out->header);
	if ((st = wire_header_check(&out->header, max_len)) != WIRE_OK)
		return st;
	if ((size_t)out->header.length != len)
		return WIRE_ERR_LENGTH;
	out->opcode = out->header.opcode;
	if (out->opcode != WIRE_OP_COMPRESSED)
		return inspect_plain(msg, len, out);

	struct opcomp_view cv;
	uint8_t *plain;
	size_t plain_len;
	if ((st = opcomp_parse(msg, len, max_len, &cv)) != WIRE_OK)
		return st;
	if ((st = opcomp_decompress(&cv, &plain, &plain_len)) != WIRE_OK)
		return st;
	out->compressed = true;
	out->compressor = cv.compressor;
	out->opcode = cv.original_opcode;
	st = inspect_plain(plain, plain_len, out);
	free(plain);
	return st;
}

void inspect_error_code(enum wire_status st, int32_t *code, const char **code_name)
{
	switch (st) {
	case WIRE_ERR_BSON:
		*code = 22;
		*code_name = "InvalidBSON";
		break;
	case WIRE_ERR_LENGTH:
		*code = 10334;
		*code_name = "BSONObjectTooLarge";
		break;
	default:
		*code = 17;
		*code_name = "ProtocolError";
		break;
	}
}
