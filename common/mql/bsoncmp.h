/*
 * bsoncmp.h - MongoDB's comparison order for BSON values and documents.
 *
 * Values compare first by type bracket, then by value within the bracket
 * (https://www.mongodb.com/docs/manual/reference/bson-type-comparison-order/):
 *
 *   MinKey < Null/Undefined < Numbers < Symbol/String < Object < Array
 *   < BinData < ObjectId < Boolean < Date < Timestamp < Regex
 *   < DBPointer < Code < CodeWScope < MaxKey
 *
 * Numbers (int32, int64, double, decimal128) compare by value across types
 * (int64 against double exactly, not through a lossy cast); NaN equals NaN
 * and is below every other number.  Strings compare by bytes (no collation).
 * Objects compare element by element (type bracket, then field name, then
 * value), a shorter prefix first; arrays likewise without the names.
 *
 * Pure functions: no allocation, no global state; inputs are trusted to be
 * valid BSON (callers validated them).
 */
#ifndef TANDEM_BSONCMP_H
#define TANDEM_BSONCMP_H

#include <stdbool.h>

#include <bson/bson.h>

/* The bracket of a type in the order above (MinKey 0 ... MaxKey highest). */
int bsoncmp_bracket(bson_type_t t);

/* <0, 0, >0 as a sorts before, equal to, after b in MongoDB's order. */
int bsoncmp_value(const bson_value_t *a, const bson_value_t *b);

/* Same for the values two iterators point at. */
int bsoncmp_iter(const bson_iter_t *a, const bson_iter_t *b);

/* Whole documents (as an embedded document would compare). */
int bsoncmp_doc(const bson_t *a, const bson_t *b);

/* MongoDB equality for $eq, $in, $addToSet, $pull: same bracket and
 * bsoncmp_value == 0 (so 1 == 1.0 == NumberLong(1), {a:1,b:2} != {b:2,a:1}). */
bool bsoncmp_equal(const bson_value_t *a, const bson_value_t *b);

/* MongoDB's $type name of t ("double", "string", "object", "objectId",
 * "int", "long", "decimal", ...); NULL for EOD and unknown codes. */
const char *bsoncmp_type_name(bson_type_t t);

#endif
