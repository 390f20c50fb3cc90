/*
 * oid_uuid.h - the deterministic, reversible ObjectId -> uuid mapping that
 * gives a default or mapped table its uuid primary key (BRIEF: "_id: an
 * ObjectId becomes a uuid primary key derived deterministically from it").
 *
 * Layout (RFC 9562 UUIDv8, "custom"): all 12 ObjectId bytes are kept, so the
 * mapping is a bijection between ObjectIds and tandem uuids:
 *
 *   uuid byte  0..5   = oid 0..5   (4-byte timestamp first: keys stay
 *                                   roughly time-ordered, good for btrees)
 *   uuid byte  6      = 0x80       (version 8, low nibble 0)
 *   uuid byte  7      = oid 6
 *   uuid byte  8      = 0x80       (variant 10, low bits 0)
 *   uuid byte  9..13  = oid 7..11
 *   uuid byte 14..15  = 0x00 0x00
 */
#ifndef TANDEM_OID_UUID_H
#define TANDEM_OID_UUID_H

#include <stdbool.h>
#include <stdint.h>

#include <bson/bson.h>

/* Derive the uuid of oid (pure, deterministic). */
void oid_to_uuid(const bson_oid_t *oid, uint8_t uuid[16]);

/* Inverse of oid_to_uuid; false (oid untouched) if uuid is not in the
 * layout above, i.e. was not produced by oid_to_uuid. */
bool uuid_to_oid(const uint8_t uuid[16], bson_oid_t *oid)
	__attribute__((warn_unused_result));

/* Canonical lowercase text form "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
 * NUL-terminated (37 bytes). */
void uuid_format(const uint8_t uuid[16], char out[37]);

#endif
