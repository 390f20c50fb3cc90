/*
 * log.h - JSON-lines logging.
 *
 * Every line is one JSON object: {"ts":..., "level":..., "event":..., "conn":N, ...}.
 * A line is built field by field in a thread-local buffer and written with a
 * single write(2), so lines from different threads never interleave:
 *
 *   struct log_line *l = log_begin(LOG_WARN, "client_closed", conn_id);
 *   if (l) {
 *           log_str(l, "reason", "bad_checksum");
 *           log_int(l, "bytes", n);
 *           log_end(l);
 *   }
 *
 * log_begin returns NULL when the level is filtered out, so the fields of a
 * suppressed line cost nothing.  conn 0 means "no connection" and is omitted.
 */
#ifndef TANDEM_LOG_H
#define TANDEM_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jsonesc.h"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

struct log_line;

/* Parse "debug" | "info" | "warn" | "error". */
bool log_level_parse(const char *s, enum log_level *out) __attribute__((warn_unused_result));
const char *log_level_to_str(enum log_level lvl);

/* Set the minimum level (atomic; safe from any thread, e.g. on reload). */
void log_set_level(enum log_level lvl);

/* Send lines to path (appended), or to stderr when path is NULL or "".
 * Returns false (errno set) if the file cannot be opened; the old target stays. */
bool log_open(const char *path) __attribute__((warn_unused_result));

struct log_line *log_begin(enum log_level lvl, const char *event, uint64_t conn);
void log_str(struct log_line *l, const char *key, const char *val);
void log_strn(struct log_line *l, const char *key, const char *val, size_t len);
void log_int(struct log_line *l, const char *key, int64_t val);
void log_dbl(struct log_line *l, const char *key, double val);
void log_bool(struct log_line *l, const char *key, bool val);
void log_end(struct log_line *l);

/* A whole JSON object built elsewhere (one line, no newline: added here),
 * written at once when lvl passes the level. */
void log_line_raw(enum log_level lvl, const char *line, size_t len);

/* String values are escaped by jsonesc_str (jsonesc.h, rules there).  This
 * is the log's name for it, kept because tests/unit/test_log.c pins a log
 * value's bytes through it; new code calls jsonesc_str. */
static inline size_t log_json_escape(char *dst, size_t cap, const char *s, size_t len)
{
	return jsonesc_str(dst, cap, s, len);
}

#endif
