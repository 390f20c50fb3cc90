/*
 * readexec_plan.c - read a find / count / distinct / aggregate command
 * (untrusted), type-check its fields as mongod's IDL does, decide whether
 * tandem can compute mongod's answer, and compile filter checks, sort and
 * projection once.
 *
 * Each command has a table of the fields it knows; generic arguments
 * (lsid, $db, readPreference, comment, maxTimeMS, hint, ...) are accepted
 * and ignored; a field tandem does not know is READEXEC_SKIP_UNKNOWN_FIELD
 * (never a guess).  The first reason found wins.
 */
#include <string.h>

#include "match.h"
#include "readexec.h"

#define X_LABEL(name, label) label,
static const char *const skip_labels[] = {READEXEC_SKIP_REASONS(X_LABEL)};
#undef X_LABEL

const char *readexec_skip_str(enum readexec_skip r)
{
	return (unsigned)r < READEXEC_SKIP_COUNT ? skip_labels[r] : "unknown";
}

struct readexec_limits readexec_default_limits(void)
{
	return (struct readexec_limits){1000000, 64u << 20, 100u << 20};
}

static bool skip_with(struct readexec_plan *p, enum readexec_skip r, bson_error_t *err, uint32_t code,
		      const char *msg)
{
	if (p->skip_reason == READEXEC_SKIP_NONE) {
		p->skip_reason = r;
		bson_set_error(err, READEXEC_ERROR_DOMAIN, code, "%s", msg);
	}
	return false;
}

static bool invalid(struct readexec_plan *p, bson_error_t *err, uint32_t code, const char *fmt, const char *arg)
{
	char msg[256];

	snprintf(msg, sizeof msg, fmt, arg);
	return skip_with(p, READEXEC_SKIP_INVALID, err, code, msg);
}

static const char *type_name(bson_type_t t)
{
	switch (t) {
	case BSON_TYPE_DOUBLE: return "double";
	case BSON_TYPE_UTF8: return "string";
	case BSON_TYPE_DOCUMENT: return "object";
	case BSON_TYPE_ARRAY: return "array";
	case BSON_TYPE_BINARY: return "binData";
	case BSON_TYPE_OID: return "objectId";
	case BSON_TYPE_BOOL: return "bool";
	case BSON_TYPE_DATE_TIME: return "date";
	case BSON_TYPE_NULL: return "null";
	case BSON_TYPE_INT32: return "int";
	case BSON_TYPE_INT64: return "long";
	case BSON_TYPE_DECIMAL128: return "decimal";
	default: return "other";
	}
}

static bool view_doc(const bson_iter_t *it, bson_t *out)
{
	uint32_t len;
	const uint8_t *data;

	if (BSON_ITER_HOLDS_DOCUMENT(it))
		bson_iter_document(it, &len, &data);
	else
		bson_iter_array(it, &len, &data);
	return bson_init_static(out, data, len);
}

/* An object-valued field into a view; TypeMismatch (14) like mongod. */
static bool get_doc(struct readexec_plan *p, const bson_iter_t *it, bson_t *out, bool array, bson_error_t *err)
{
	char msg[256];

	if ((array ? BSON_ITER_HOLDS_ARRAY(it) : BSON_ITER_HOLDS_DOCUMENT(it)) && view_doc(it, out))
		return true;
	snprintf(msg, sizeof msg, "BSON field '%s' is the wrong type '%s', expected type '%s'", bson_iter_key(it),
		 type_name(bson_iter_type(it)), array ? "array" : "object");
	return skip_with(p, READEXEC_SKIP_INVALID, err, 14, msg);
}

/* A whole number (int, long, integral double); negative allowed or 51024. */
static bool get_int(struct readexec_plan *p, const bson_iter_t *it, bool negative_ok, int64_t *out, bson_error_t *err)
{
	char msg[256];
	double d;

	switch (bson_iter_type(it)) {
	case BSON_TYPE_INT32: *out = bson_iter_int32(it); break;
	case BSON_TYPE_INT64: *out = bson_iter_int64(it); break;
	case BSON_TYPE_DOUBLE:
		d = bson_iter_double(it);
		if (!(d >= -9.2e18 && d <= 9.2e18) || d != (double)(int64_t)d) {
			snprintf(msg, sizeof msg, "Expected field %s to have a value exactly representable as a 64-bit integer",
				 bson_iter_key(it));
			return skip_with(p, READEXEC_SKIP_INVALID, err, 2, msg);
		}
		*out = (int64_t)d;
		break;
	default:
		snprintf(msg, sizeof msg, "BSON field '%s' is the wrong type '%s', expected types '[long, int, decimal, double]'",
			 bson_iter_key(it), type_name(bson_iter_type(it)));
		return skip_with(p, READEXEC_SKIP_INVALID, err, 14, msg);
	}
	if (*out < 0 && !negative_ok) {
		snprintf(msg, sizeof msg, "BSON field '%s' value must be >= 0, actual value '%lld'", bson_iter_key(it),
			 (long long)*out);
		return skip_with(p, READEXEC_SKIP_INVALID, err, 51024, msg);
	}
	return true;
}

/* ---- generic arguments -------------------------------------------------- */

static const char *const ignored[] = {
	"$db", "lsid", "$clusterTime", "$readPreference", "readPreference", "comment", "maxTimeMS",
	"apiVersion", "apiStrict", "apiDeprecationErrors", "$audit", "mayBypassWriteBlocking", "hint",
	"allowPartialResults", "noCursorTimeout", "oplogReplay", "$client", "$configServerState",
	"$gleStats", "$topologyTime", "$configTime", "$replData", "signature", "readOnce", "maxAwaitTimeMS",
	"bypassDocumentValidation", "writeConcern", "fields", NULL,
};

static bool is_simple_collation(const bson_iter_t *it)
{
	bson_iter_t c;

	if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &c) || !bson_iter_next(&c))
		return false;
	return strcmp(bson_iter_key(&c), "locale") == 0 && BSON_ITER_HOLDS_UTF8(&c) &&
	       strcmp(bson_iter_utf8(&c, NULL), "simple") == 0 && !bson_iter_next(&c);
}

static bool read_concern(struct readexec_plan *p, const bson_iter_t *it, bson_error_t *err)
{
	bson_iter_t rc;

	if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &rc))
		return invalid(p, err, 14, "BSON field 'readConcern' is the wrong type, expected type 'object'%s", "");
	while (bson_iter_next(&rc)) {
		if (strcmp(bson_iter_key(&rc), "atClusterTime") == 0)
			return skip_with(p, READEXEC_SKIP_AT_CLUSTER_TIME, err, 0, "readConcern atClusterTime");
		if (strcmp(bson_iter_key(&rc), "level") == 0 && BSON_ITER_HOLDS_UTF8(&rc) &&
		    strcmp(bson_iter_utf8(&rc, NULL), "snapshot") == 0)
			return skip_with(p, READEXEC_SKIP_READ_CONCERN_SNAPSHOT, err, 0, "readConcern snapshot");
	}
	return true;
}

/* Fields every read command may carry.  1: handled, 0: not generic,
 * -1: a reason was set. */
static int generic_field(struct readexec_plan *p, const bson_iter_t *it, bson_error_t *err)
{
	const char *k = bson_iter_key(it);

	for (size_t i = 0; ignored[i]; i++)
		if (strcmp(k, ignored[i]) == 0)
			return 1;
	if (strcmp(k, "collation") == 0)
		return is_simple_collation(it) ? 1
					       : (skip_with(p, READEXEC_SKIP_COLLATION, err, 0, "collation"), -1);
	if (strcmp(k, "let") == 0)
		return skip_with(p, READEXEC_SKIP_LET, err, 0, "let variables"), -1;
	if (strcmp(k, "readConcern") == 0)
		return read_concern(p, it, err) ? 1 : -1;
	if (strcmp(k, "txnNumber") == 0 || strcmp(k, "autocommit") == 0 || strcmp(k, "startTransaction") == 0)
		return skip_with(p, READEXEC_SKIP_TRANSACTION, err, 0, "inside a transaction"), -1;
	return 0;
}

/* ---- per command -------------------------------------------------------- */

static bool find_field(struct readexec_plan *p, const bson_iter_t *it, bson_error_t *err)
{
	const char *k = bson_iter_key(it);

	if (strcmp(k, "filter") == 0)
		return get_doc(p, it, &p->filter, false, err);
	if (strcmp(k, "projection") == 0)
		return get_doc(p, it, &p->projection, false, err);
	if (strcmp(k, "sort") == 0)
		return get_doc(p, it, &p->sort, false, err);
	if (strcmp(k, "skip") == 0)
		return get_int(p, it, false, &p->skip, err);
	if (strcmp(k, "limit") == 0)
		return get_int(p, it, false, &p->limit, err);
	if (strcmp(k, "batchSize") == 0)
		return get_int(p, it, false, &p->batch_size, err);
	if (strcmp(k, "singleBatch") == 0) {
		p->single_batch = bson_iter_as_bool(it);
		return true;
	}
	if (strcmp(k, "allowDiskUse") == 0) {
		p->allow_disk_use = bson_iter_as_bool(it);
		return true;
	}
	if ((strcmp(k, "tailable") == 0 || strcmp(k, "awaitData") == 0) && bson_iter_as_bool(it))
		return skip_with(p, READEXEC_SKIP_TAILABLE, err, 0, "tailable cursor");
	if (strcmp(k, "tailable") == 0 || strcmp(k, "awaitData") == 0)
		return true;
	if (strcmp(k, "min") == 0 || strcmp(k, "max") == 0)
		return skip_with(p, READEXEC_SKIP_MIN_MAX, err, 0, "min/max index bounds");
	if (strcmp(k, "returnKey") == 0)
		return !bson_iter_as_bool(it) || skip_with(p, READEXEC_SKIP_RETURN_KEY, err, 0, "returnKey");
	if (strcmp(k, "showRecordId") == 0)
		return !bson_iter_as_bool(it) || skip_with(p, READEXEC_SKIP_SHOW_RECORD_ID, err, 0, "showRecordId");
	return skip_with(p, READEXEC_SKIP_UNKNOWN_FIELD, err, 0, k);
}

static bool count_field(struct readexec_plan *p, const bson_iter_t *it, bool *has_query, bson_error_t *err)
{
	const char *k = bson_iter_key(it);

	if (strcmp(k, "query") == 0) {
		*has_query = true;
		if (BSON_ITER_HOLDS_NULL(it))
			return true;
		return get_doc(p, it, &p->filter, false, err);
	}
	if (strcmp(k, "skip") == 0) {
		*has_query = true;
		return get_int(p, it, false, &p->skip, err);
	}
	if (strcmp(k, "limit") == 0) {
		*has_query = true;
		if (!get_int(p, it, true, &p->limit, err))
			return false;
		if (p->limit < 0)
			p->limit = p->limit == INT64_MIN ? INT64_MAX : -p->limit; /* count takes |limit| */
		return true;
	}
	if (strcmp(k, "key") == 0 && p->kind == READEXEC_DISTINCT) {
		if (!BSON_ITER_HOLDS_UTF8(it))
			return invalid(p, err, 14, "BSON field 'key' is the wrong type, expected type 'string'%s", "");
		p->key = bson_iter_utf8(it, NULL);
		return true;
	}
	return skip_with(p, READEXEC_SKIP_UNKNOWN_FIELD, err, 0, k);
}

static bool agg_field(struct readexec_plan *p, const bson_iter_t *it, bool *has_pipeline, bson_error_t *err)
{
	const char *k = bson_iter_key(it);

	if (strcmp(k, "pipeline") == 0) {
		*has_pipeline = true;
		return get_doc(p, it, &p->pipeline, true, err);
	}
	if (strcmp(k, "cursor") == 0) {
		bson_t c;
		bson_iter_t bi;
		if (!get_doc(p, it, &c, false, err))
			return false;
		if (bson_iter_init_find(&bi, &c, "batchSize"))
			return get_int(p, &bi, false, &p->batch_size, err);
		return true;
	}
	if (strcmp(k, "allowDiskUse") == 0) {
		p->allow_disk_use = bson_iter_as_bool(it);
		return true;
	}
	if (strcmp(k, "explain") == 0)
		return !bson_iter_as_bool(it) || skip_with(p, READEXEC_SKIP_NOT_A_READ, err, 0, "explain");
	return skip_with(p, READEXEC_SKIP_UNKNOWN_FIELD, err, 0, k);
}

/* ---- checks once the fields are read ------------------------------------- */

/* Which reason explains a filter that match_check did not accept. */
static enum readexec_skip classify(const bson_t *filter, int depth)
{
	static const char *const geo[] = {"$near", "$nearSphere", "$geoWithin", "$geoIntersects", "$within",
					  "$box", "$center", "$centerSphere", "$polygon", "$geometry", NULL};
	enum readexec_skip r = READEXEC_SKIP_UNSUPPORTED_OPERATOR, sub;
	bson_iter_t it;
	bson_t child;

	if (depth > 100 || !bson_iter_init(&it, filter))
		return r;
	while (bson_iter_next(&it)) {
		const char *k = bson_iter_key(&it);
		if (strcmp(k, "$where") == 0)
			return READEXEC_SKIP_WHERE;
		if (strcmp(k, "$text") == 0)
			return READEXEC_SKIP_TEXT;
		for (size_t i = 0; geo[i]; i++)
			if (strcmp(k, geo[i]) == 0)
				return READEXEC_SKIP_GEO;
		if (strcmp(k, "$expr") == 0)
			r = READEXEC_SKIP_EXPR_UNSUPPORTED;
		if ((BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)) && view_doc(&it, &child)) {
			sub = classify(&child, depth + 1);
			if (sub != READEXEC_SKIP_UNSUPPORTED_OPERATOR && sub != READEXEC_SKIP_EXPR_UNSUPPORTED)
				return sub;
			if (sub == READEXEC_SKIP_EXPR_UNSUPPORTED)
				r = sub;
		}
	}
	return r;
}

static bool check_filter(struct readexec_plan *p, bson_error_t *err)
{
	bson_error_t e;

	switch (match_check(&p->filter, &e)) {
	case MATCH_YES: return true;
	case MATCH_UNSUPPORTED: return skip_with(p, classify(&p->filter, 0), err, 0, e.message);
	default: return skip_with(p, READEXEC_SKIP_INVALID, err, 2, e.message);
	}
}

static bool compile_sort(struct readexec_plan *p, bson_error_t *err)
{
	bson_error_t e;
	bson_iter_t it;

	if (bson_empty(&p->sort))
		return true;
	if (bson_iter_init_find(&it, &p->sort, "$natural"))
		return skip_with(p, READEXEC_SKIP_NATURAL_ORDER, err, 0, "$natural sort");
	if (sortspec_compile(&p->sort, &p->sortc, &e))
		return true;
	if (e.code == SORTSPEC_CODE_UNSUPPORTED)
		return skip_with(p, READEXEC_SKIP_SORT_META, err, 0, e.message);
	return skip_with(p, READEXEC_SKIP_INVALID, err, e.code, e.message);
}

static bool compile_projection(struct readexec_plan *p, bson_error_t *err)
{
	bson_error_t e;

	switch (project_compile(&p->projection, &p->filter, &p->projc, &e)) {
	case PROJECT_OK: return true;
	case PROJECT_UNSUPPORTED: return skip_with(p, READEXEC_SKIP_PROJECTION_UNSUPPORTED, err, 0, e.message);
	default: return skip_with(p, READEXEC_SKIP_INVALID, err, e.code, e.message);
	}
}

/* [{$collStats: {count: {}}}, {$group: {_id: 1, n: {$sum: "$count"}}}] */
static bool is_collstats_count(const bson_t *pipeline)
{
	bson_t *want = BCON_NEW("0", "{", "$collStats", "{", "count", "{", "}", "}", "}", "1", "{", "$group", "{",
				"_id", BCON_INT32(1), "n", "{", "$sum", BCON_UTF8("$count"), "}", "}", "}");
	bool same = want && bson_equal(want, pipeline);

	bson_destroy(want);
	return same;
}

/* The command name and collection; false with a reason otherwise. */
static bool command_name(struct readexec_plan *p, bson_iter_t *it, bson_error_t *err)
{
	static const struct {
		const char *name;
		enum readexec_kind kind;
	} cmds[] = {{"find", READEXEC_FIND}, {"count", READEXEC_COUNT}, {"distinct", READEXEC_DISTINCT},
		    {"aggregate", READEXEC_AGGREGATE}};
	const char *name = bson_iter_key(it);
	uint32_t len;
	size_t i = 0;

	while (i < sizeof cmds / sizeof cmds[0] && strcmp(cmds[i].name, name) != 0)
		i++;
	if (i == sizeof cmds / sizeof cmds[0])
		return skip_with(p, READEXEC_SKIP_NOT_A_READ, err, 0, name);
	p->kind = cmds[i].kind;
	if (BSON_ITER_HOLDS_BINARY(it))
		return skip_with(p, READEXEC_SKIP_COLLECTION_UUID, err, 0, "collection named by UUID");
	if (p->kind == READEXEC_AGGREGATE && (BSON_ITER_HOLDS_INT32(it) || BSON_ITER_HOLDS_DOUBLE(it) || BSON_ITER_HOLDS_INT64(it)))
		return true; /* {aggregate: 1}: collectionless, coll stays NULL */
	if (!BSON_ITER_HOLDS_UTF8(it))
		return invalid(p, err, 73, "collection name has invalid type %s", type_name(bson_iter_type(it)));
	p->coll = bson_iter_utf8(it, &len);
	if (len == 0 || strlen(p->coll) != len)
		return invalid(p, err, 73, "Invalid namespace specified '%s'", p->coll);
	return true;
}

static bool read_fields(struct readexec_plan *p, bson_iter_t *it, bool *has_query, bson_error_t *err)
{
	while (bson_iter_next(it)) {
		int g = generic_field(p, it, err);
		bool ok = true;
		if (g < 0)
			return false;
		if (g > 0)
			continue;
		if (p->kind == READEXEC_FIND)
			ok = find_field(p, it, err);
		else if (p->kind == READEXEC_AGGREGATE)
			ok = agg_field(p, it, has_query, err);
		else
			ok = count_field(p, it, has_query, err);
		if (!ok)
			return false;
	}
	return true;
}

bool readexec_plan(const bson_t *cmd, const char *db, struct readexec_plan *out, bson_error_t *err)
{
	bson_iter_t it;
	bool has_query = false;

	memset(out, 0, sizeof *out);
	bson_init(&out->filter);
	bson_init(&out->projection);
	bson_init(&out->sort);
	bson_init(&out->pipeline);
	out->db = db;
	out->batch_size = -1;
	if (!bson_iter_init(&it, cmd) || !bson_iter_next(&it))
		return skip_with(out, READEXEC_SKIP_NOT_A_READ, err, 0, "empty command");
	if (!command_name(out, &it, err) || !read_fields(out, &it, &has_query, err))
		return false;
	switch (out->kind) {
	case READEXEC_FIND:
		return check_filter(out, err) && compile_sort(out, err) && compile_projection(out, err);
	case READEXEC_COUNT:
		if (!has_query)
			out->kind = READEXEC_ESTIMATED_COUNT;
		return check_filter(out, err);
	case READEXEC_DISTINCT:
		if (!out->key)
			return invalid(out, err, 40414, "BSON field 'distinct.key' is missing but a required field%s", "");
		if (!out->key[0])
			return invalid(out, err, 40352, "FieldPath cannot be constructed with empty string%s", "");
		return check_filter(out, err);
	default:
		if (!has_query)
			return invalid(out, err, 40414, "BSON field 'aggregate.pipeline' is missing but a required field%s", "");
		if (out->coll && is_collstats_count(&out->pipeline))
			out->kind = READEXEC_COLLSTATS_COUNT;
		return true;
	}
}

void readexec_plan_free(struct readexec_plan *plan)
{
	if (!plan)
		return;
	sortspec_free(plan->sortc);
	project_free(plan->projc);
	plan->sortc = NULL;
	plan->projc = NULL;
}
