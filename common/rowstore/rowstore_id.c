/*
 * rowstore_id.c - the `id` and `legacy_id` columns of a document.
 *
 *   kind objectid, any   ObjectId -> oid_to_uuid (reversible, oid_uuid.h);
 *                        any other _id -> "hashed" UUIDv8: the first 16
 *                        bytes of SHA-256(normalised _id) with byte 6 =
 *                        0x81 and the variant bits set.  oid_to_uuid always
 *                        writes 0x80 at byte 6, so the two never collide.
 *   kind uuid            binary subtype 4 (or 3) of 16 bytes, as a uuid
 *   kind text            the string (valid UTF-8, no NUL)
 *   kind int8            int32, int64 or an integral double, as an integer
 *
 * Normalisation follows MongoDB's _id equality for numbers: 1, 1L, 1.0 and
 * decimal 1 are the same _id, so every integral number in the int64 range
 * hashes as that integer.  (Known gap: a non-integral double and a
 * decimal128 of the same value, e.g. 1.5, get different keys.)
 *
 * legacy_id: kind objectid -> the 24 hex digits (the rowcodec JSON of the
 * value when _id is not an ObjectId); kind any -> the rowcodec JSON of the
 * value (type-preserving jsonb); other kinds have no legacy_id.
 */
#include "rowstore_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "oid_uuid.h"
#include "rowcodec.h"
#include "rowcodec_hooks.h"
#include "utf8.h"

const char *rs_id_sql_type(enum mapping_id_kind k)
{
	return k == MAPPING_ID_TEXT ? "text" : k == MAPPING_ID_INT8 ? "int8" : "uuid";
}

/* Integral value of a number element in the int64 range. */
static bool id_integer(const bson_iter_t *it, int64_t *v)
{
	double d;
	bson_decimal128_t dec;
	char *txt, *end;

	switch (bson_iter_type(it)) {
	case BSON_TYPE_INT32: *v = bson_iter_int32(it); return true;
	case BSON_TYPE_INT64: *v = bson_iter_int64(it); return true;
	case BSON_TYPE_DOUBLE:
		d = bson_iter_double(it);
		if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != (double)(int64_t)d)
			return false;
		*v = (int64_t)d;
		return true;
	case BSON_TYPE_DECIMAL128:
		bson_iter_decimal128(it, &dec);
		if (!(txt = rs_numeric_of_decimal(&dec, 0, 0)))
			return false;
		errno = 0;
		long long x = strtoll(txt, &end, 10);
		bool ok = !errno && (!*end || (*end == '.' && strspn(end + 1, "0") == strlen(end + 1)));
		free(txt);
		*v = x;
		return ok;
	default: return false;
	}
}

static void hashed_uuid(const bson_iter_t *it, uint8_t u[16])
{
	uint8_t md[EVP_MAX_MD_SIZE], buf[16];
	unsigned int mdlen = 0;
	const uint8_t *data;
	size_t len;
	int64_t iv;
	const char *k = bson_iter_key(it);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	if (id_integer(it, &iv)) {
		buf[0] = 'N';
		for (int i = 0; i < 8; i++)
			buf[1 + i] = (uint8_t)((uint64_t)iv >> (56 - 8 * i));
		EVP_DigestUpdate(ctx, buf, 9);
	} else {
		buf[0] = (uint8_t)bson_iter_type(it);
		data = (const uint8_t *)k + strlen(k) + 1;
		len = (size_t)(it->raw + it->next_off - data);
		EVP_DigestUpdate(ctx, buf, 1);
		EVP_DigestUpdate(ctx, data, len);
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	memcpy(u, md, 16);
	u[6] = 0x81;
	u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
}

static bool key_of_iter(const struct mapping_collection *mc, const bson_iter_t *it, char *buf,
			size_t len, bson_error_t *err)
{
	uint8_t u[16];
	char txt[37];
	bson_subtype_t st;
	uint32_t blen;
	const uint8_t *data;
	const char *s;
	int64_t v;

	switch (mc->id_kind) {
	case MAPPING_ID_OBJECTID:
	case MAPPING_ID_ANY:
		if (BSON_ITER_HOLDS_OID(it))
			oid_to_uuid(bson_iter_oid(it), u);
		else
			hashed_uuid(it, u);
		uuid_format(u, txt);
		s = txt;
		break;
	case MAPPING_ID_UUID:
		if (!BSON_ITER_HOLDS_BINARY(it))
			goto bad;
		bson_iter_binary(it, &st, &blen, &data);
		if (blen != 16 || (st != BSON_SUBTYPE_UUID && st != BSON_SUBTYPE_UUID_DEPRECATED))
			goto bad;
		uuid_format(data, txt);
		s = txt;
		break;
	case MAPPING_ID_TEXT:
		if (!BSON_ITER_HOLDS_UTF8(it))
			goto bad;
		s = bson_iter_utf8(it, &blen);
		if (memchr(s, 0, blen) || !utf8_valid(s, blen))
			goto bad;
		break;
	case MAPPING_ID_INT8:
		if (!id_integer(it, &v))
			goto bad;
		snprintf(txt, sizeof txt, "%" PRId64, v);
		s = txt;
		break;
	default:
		goto bad;
	}
	if (strlen(s) >= len) {
		RS_ERR(err, ROWSTORE_ERR_ID, "_id too long for a key");
		return false;
	}
	memcpy(buf, s, strlen(s) + 1);
	return true;
bad:
	RS_ERR(err, ROWSTORE_ERR_ID, "_id of type 0x%02x does not fit id kind '%s'",
	       (unsigned)bson_iter_type(it), mapping_id_kind_to_str(mc->id_kind));
	return false;
}

bool rs_id_key_iter(const struct mapping_collection *mc, const bson_iter_t *it, char *buf,
		    size_t len, bson_error_t *err)
{
	return key_of_iter(mc, it, buf, len, err);
}

bool rowstore_id_key(const struct mapping_collection *mc, const bson_value_t *id, char *buf,
		     size_t len, bson_error_t *err)
{
	bson_t tmp = BSON_INITIALIZER;
	bson_iter_t it;
	bool ok;

	if (!bson_append_value(&tmp, "_id", 3, id) || !bson_iter_init_find(&it, &tmp, "_id")) {
		bson_destroy(&tmp);
		RS_ERR(err, ROWSTORE_ERR_ID, "cannot read _id");
		return false;
	}
	ok = key_of_iter(mc, &it, buf, len, err);
	bson_destroy(&tmp);
	return ok;
}

bool rs_legacy_id(const struct mapping_collection *mc, const bson_iter_t *id, char **out,
		  bson_error_t *err)
{
	size_t len;
	char *json;

	*out = NULL;
	if (mc->id_kind != MAPPING_ID_OBJECTID && mc->id_kind != MAPPING_ID_ANY)
		return true;
	if (mc->id_kind == MAPPING_ID_OBJECTID && BSON_ITER_HOLDS_OID(id)) {
		*out = malloc(25);
		if (*out)
			bson_oid_to_string(bson_iter_oid(id), *out);
		return *out ? true : (RS_ERR(err, ROWSTORE_ERR_NOMEM, "out of memory"), false);
	}
	if (!rowcodec_value_to_json(id, &json, &len, err))
		return false;
	*out = strdup(json);
	bson_free(json);
	return *out ? true : (RS_ERR(err, ROWSTORE_ERR_NOMEM, "out of memory"), false);
}
