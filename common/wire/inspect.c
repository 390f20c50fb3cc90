/*
 * inspect.c - validate and describe one client message (see inspect.h).
 */
#include "inspect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opcomp.h"
#include "opmsg.h"
#include "opquery.h"

/* Why MongoDB would refuse db[0..len) as a database name (mongod's
 * DatabaseName and validDBName, commands' rules: '$' allowed). */
static enum inspect_db db_check(const char *db, size_t len)
{
	if (len > INSPECT_DB_MAX)
		return INSPECT_DB_TOO_LONG;
	if (memchr(db, '.', len))
		return INSPECT_DB_DOT;
	if (memchr(db, '\0', len))
		return INSPECT_DB_NUL;
	for (size_t i = 0; i < len; i++)
		if (db[i] == '/' || db[i] == '\\' || db[i] == ' ' || db[i] == '"')
			return INSPECT_DB_CHAR;
	return INSPECT_DB_OK;
}

/* The database of cmd into out, whole or not at all. */
static void set_db(struct msg_info *out, const struct wire_command *cmd)
{
	out->db_len = cmd->db_len;
	out->db_status = db_check(cmd->db, cmd->db_len);
	if (out->db_status == INSPECT_DB_TOO_LONG) {
		out->db[0] = '\0';
		return;
	}
	memcpy(out->db, cmd->db, cmd->db_len);
	out->db[cmd->db_len] = '\0';
}

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
		set_db(out, &cmd);
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
		set_db(out, &cmd);
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

uint8_t *inspect_db_refusal(const struct msg_info *info, int32_t request_id, size_t *len)
{
	char msg[160];
	bson_t doc;
	uint8_t *out = NULL;

	if (!info->expects_reply)
		return NULL;
	switch (info->db_status) {
	case INSPECT_DB_TOO_LONG:
		snprintf(msg, sizeof(msg), "db name must be at most %d characters, found: %zu",
			 INSPECT_DB_MAX, info->db_len);
		break;
	case INSPECT_DB_DOT:
		snprintf(msg, sizeof(msg), "'.' is an invalid character in a db name: %s", info->db);
		break;
	case INSPECT_DB_NUL:
		snprintf(msg, sizeof(msg), "database names cannot have embedded null characters");
		break;
	default:
		snprintf(msg, sizeof(msg), "Invalid database name: '%s'", info->db);
		break;
	}
	opmsg_error_doc(&doc, 73, "InvalidNamespace", msg);
	if (info->opcode == WIRE_OP_MSG)
		out = opmsg_encode(request_id, info->header.request_id, 0, &doc, len);
	else if (info->opcode == WIRE_OP_QUERY)
		out = opreply_encode(request_id, info->header.request_id, 0, 0, &doc, len);
	bson_destroy(&doc);
	return out;
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
