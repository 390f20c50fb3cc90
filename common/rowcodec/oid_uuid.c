/*
 * oid_uuid.c - ObjectId <-> UUIDv8 (layout in oid_uuid.h) and uuid text.
 *
 * Why reversible rather than UUIDv5 (a hash): legacy_id keeps the original
 * anyway, but a bijection needs no namespace, cannot collide, and lets tools
 * turn a row's key back into the ObjectId without reading legacy_id.
 */
#include "oid_uuid.h"

#include <string.h>

void oid_to_uuid(const bson_oid_t *oid, uint8_t uuid[16])
{
	const uint8_t *b = oid->bytes;

	memcpy(uuid, b, 6);
	uuid[6] = 0x80;
	uuid[7] = b[6];
	uuid[8] = 0x80;
	memcpy(uuid + 9, b + 7, 5);
	uuid[14] = 0;
	uuid[15] = 0;
}

bool uuid_to_oid(const uint8_t uuid[16], bson_oid_t *oid)
{
	if (uuid[6] != 0x80 || uuid[8] != 0x80 || uuid[14] != 0 || uuid[15] != 0)
		return false;
	memcpy(oid->bytes, uuid, 6);
	oid->bytes[6] = uuid[7];
	memcpy(oid->bytes + 7, uuid + 9, 5);
	return true;
}

void uuid_format(const uint8_t uuid[16], char out[37])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[uuid[i] >> 4];
		out[o++] = hex[uuid[i] & 0x0f];
	}
	out[o] = '\0';
}
