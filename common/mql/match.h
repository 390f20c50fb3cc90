/*
 * match.h - evaluate a MongoDB query filter against one document, with
 * MongoDB's semantics, in C (no database involved).
 *
 * tandem uses it wherever it must know exactly which documents a filter
 * selects: the dual-write applier (which rows an update/delete touches),
 * and later the shadow comparator and the read router.  SQL generated from
 * a filter is only ever a pre-filter (a superset); this module decides.
 *
 * Semantics (MongoDB 7/8 for find):
 *  - dotted paths traverse embedded documents and arrays: {"a.b": 1}
 *    matches {a: [{b: 1}]}; a numeric path segment is an array index or a
 *    field name; an array matches when the array itself or any element
 *    matches (implicit $elemMatch of one condition), except where MongoDB
 *    says otherwise ($size, $type: "array", $exists);
 *  - comparisons only within a type bracket (bsoncmp.h): {a: {$gt: 1}}
 *    never matches a string; {a: null} matches null, undefined and missing;
 *  - operators: $eq $ne $gt $gte $lt $lte $in $nin $and $or $nor $not
 *    $exists $type $mod $regex (+$options; also a BSON regex value) $all
 *    $elemMatch $size $bitsAllSet $bitsAnySet $bitsAllClear $bitsAnyClear
 *    $comment $alwaysTrue $alwaysFalse; $expr with a documented subset.
 *  - anything else ($where, $text, geo, $jsonSchema, an unknown operator)
 *    is MATCH_UNSUPPORTED or MATCH_ERROR with a message: never a guess.
 */
#ifndef TANDEM_MATCH_H
#define TANDEM_MATCH_H

#include <stdbool.h>
#include <stdint.h>

#include <bson/bson.h>

#define MATCH_ERROR_DOMAIN 7302

enum match_status {
	MATCH_NO = 0,
	MATCH_YES = 1,
	MATCH_ERROR = -1,       /* the filter is invalid (MongoDB would reject it too) */
	MATCH_UNSUPPORTED = -2, /* valid for MongoDB, not evaluated here */
};

struct match_result {
	/* For the positional update operator `$`: the index of the array
	 * element that matched on the first array traversed by the filter's
	 * paths, or -1 when no array was traversed.  As in MongoDB, only
	 * implicit traversal counts: {"a.1": 5} and a whole-array match
	 * ({a: [1, 2]} on a: [1, 2]) leave -1; $elemMatch records its element;
	 * negations ($ne, $nin, $not, $nor) never set it.  When several
	 * predicates traverse arrays, the first one evaluated (filter order)
	 * that set it wins. */
	int32_t pos;
};

/* Check a filter once (operators known, arguments of the right shape,
 * regexes compile).  MATCH_YES when usable, else ERROR/UNSUPPORTED with
 * err->message like MongoDB's ("unknown operator: $foo"). */
enum match_status match_check(const bson_t *filter, bson_error_t *err)
	__attribute__((warn_unused_result));

/* Does doc match filter?  res may be NULL.  Errors as match_check. */
enum match_status match_doc(const bson_t *filter, const bson_t *doc, struct match_result *res,
			    bson_error_t *err) __attribute__((warn_unused_result));

#endif
