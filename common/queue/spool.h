/*
 * spool.h - the local append-only spool file: where queued writes go when
 * Redis is unreachable too.  Records are opaque bytes (qentry encodings).
 *
 *   file   = magic "TNDSPL01" (8 bytes) | record*
 *   record = u32 length (LE) | u32 crc32c(payload) (LE) | payload[length]
 *
 * Invariants:
 * - One writer per file: spool_open takes flock(LOCK_EX|LOCK_NB) on it and
 *   fails if another process (or another open in this process) holds it.
 *   A struct spool is not thread-safe; one thread appends, the same one
 *   replays.
 * - Everything before the first torn or corrupt record is valid.  Open
 *   scans the file, cuts the tail from the first bad record (a crash in the
 *   middle of an append) and reports what it kept and cut.  A record whose
 *   CRC fails is never returned.
 * - Durability follows the fsync policy: ALWAYS fdatasyncs every append
 *   before it returns; BATCH syncs when batch_records are pending, and the
 *   caller calls spool_sync when spool_sync_due says batch_ms have passed;
 *   NEVER leaves it to the kernel (a power loss may lose recent records;
 *   a process crash does not).
 * - Replay is at least once: records are read with a cursor and removed
 *   only by spool_truncate_all once all of them are applied, so a crash
 *   during replay replays them again (the applier must be idempotent).
 */
#ifndef TANDEM_SPOOL_H
#define TANDEM_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPOOL_MAGIC "TNDSPL01"
#define SPOOL_MAGIC_LEN 8u
#define SPOOL_REC_HEADER 8u
#define SPOOL_RECORD_MAX (128u * 1024 * 1024) /* > QENTRY_ENCODED_MAX */

enum spool_fsync {
	SPOOL_FSYNC_ALWAYS,
	SPOOL_FSYNC_BATCH,
	SPOOL_FSYNC_NEVER,
};

struct spool_opts {
	enum spool_fsync policy;
	uint32_t batch_records; /* BATCH: sync once this many are pending (>= 1) */
	uint32_t batch_ms;	/* BATCH: spool_sync_due after this long */
};

/* What spool_open found in an existing file. */
struct spool_open_info {
	uint64_t records;    /* valid records kept */
	uint64_t valid_bytes; /* file size after the cut */
	uint64_t cut_bytes;  /* torn/corrupt tail removed */
};

/* A read position; start from spool_cursor_init. */
struct spool_cursor {
	uint64_t off;
	uint64_t index;
};

enum spool_read_status {
	SPOOL_READ_OK,	/* a record was returned */
	SPOOL_READ_END, /* no more records */
	SPOOL_READ_ERR, /* I/O error, or corruption appeared after open */
};

struct spool;

/* "always" | "batch" | "never" -> *out; false for anything else. */
bool spool_fsync_parse(const char *s, enum spool_fsync *out) __attribute__((warn_unused_result));
const char *spool_fsync_name(enum spool_fsync p);

/*
 * Open (creating, mode 0600) and lock the spool at path, scan it and cut a
 * torn tail.  Refuses a non-empty file without the magic (never truncates
 * a file that is not a spool); a file holding only a prefix of the magic (a
 * crash during creation) is started afresh.  Returns NULL with err set on failure.
 */
struct spool *spool_open(const char *path, const struct spool_opts *opts,
			 struct spool_open_info *info, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Sync what is pending (per policy) and close; releases the lock. */
void spool_close(struct spool *s);

/*
 * Append one record of len bytes (1 .. SPOOL_RECORD_MAX).  On a write
 * error the file is cut back to where it was, so no half record stays.
 */
bool spool_append(struct spool *s, const void *data, size_t len, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* fdatasync now if records are pending. */
bool spool_sync(struct spool *s, char *err, size_t errlen) __attribute__((warn_unused_result));

/* BATCH: whether the oldest pending record was appended >= batch_ms ago
 * (CLOCK_MONOTONIC).  The caller polls it from a timer and calls spool_sync. */
bool spool_sync_due(const struct spool *s);

uint64_t spool_records(const struct spool *s);
uint64_t spool_pending(const struct spool *s);

void spool_cursor_init(struct spool_cursor *c);

/* Read the record at c into *out (malloc'd, caller frees), advance c. */
enum spool_read_status spool_read_next(struct spool *s, struct spool_cursor *c, uint8_t **out,
				       size_t *out_len, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * After a replay that read every record (c is at the end): empty the file
 * (keeps the magic) and sync.  Fails, removing nothing, if records were
 * appended after c.  Done in place, not by rename, so the lock stays on
 * the one inode every process opens.
 */
bool spool_truncate_all(struct spool *s, const struct spool_cursor *c, char *err, size_t errlen)
	__attribute__((warn_unused_result));

#endif
