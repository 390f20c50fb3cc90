/*
 * ryw.h - read-your-writes per database: the highest dual-write job number
 * handed to the applier for each database's writes, so that a served read
 * of database D waits only for D's writes (dualwrite_settled of that
 * number), not for every tenant's.
 *
 *   worker, a write's reply captured:  ryw_note(db, dualwrite_submitted())
 *   worker, a read to serve:           ryw_seq(db) -> settled? serve : wait / MongoDB
 *
 * Bounded: RYW_SLOTS databases; a slot whose number is settled is reused.
 * When no slot is free, or the write names no one database (commands on
 * "admin": commitTransaction, bulkWrite), the number goes to a shared
 * floor that every database's reads wait for (conservative, never wrong).
 * Thread-safe (one mutex; a probe of at most RYW_PROBE slots).
 */
#ifndef TANDEM_RYW_H
#define TANDEM_RYW_H

#include <stdbool.h>
#include <stdint.h>

#define RYW_SLOTS 1024
#define RYW_PROBE 16

/* settled(n): whether the first n jobs are applied (NULL: always). */
void ryw_init(bool (*settled)(uint64_t seq));

/* Writes of db up to job number seq were handed to the applier. */
void ryw_note(const char *db, uint64_t seq);

/* The job number a read of db must see settled. */
uint64_t ryw_seq(const char *db);

/* Forget everything (tests). */
void ryw_reset(void);

#endif
