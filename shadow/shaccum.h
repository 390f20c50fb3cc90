/*
 * shaccum.h - the tolerance for $sum / $avg outputs (shadow_accum.c).
 */
#ifndef TANDEM_SHACCUM_H
#define TANDEM_SHACCUM_H

#include <stdint.h>

#include <bson/bson.h>

/* In pg (an aggregate reply computed from PostgreSQL's rows), replace each
 * double output of a $sum/$avg of pipeline's last $group that is within a
 * few units in the last place of MongoDB's value for the same group by
 * MongoDB's value.  Returns how many were replaced (counted in
 * tandem_shadow_tolerated_total); 0 leaves pg as it was. */
uint64_t shaccum_tolerate(const bson_t *pipeline, const bson_t *mongo, bson_t *pg);

#endif
