/*
 * log.c - JSON-lines logging (see log.h).
 *
 * Each thread owns one line buffer; a line longer than the buffer is cut at a
 * field boundary and marked "truncated":true, never split across writes.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/uio.h>
#include <unistd.h>

#include "clock.h"
#include "jsonesc.h"

#define LOG_LINE_MAX 4096

struct log_line {
	char buf[LOG_LINE_MAX];
	size_t len;
	bool truncated;
};

static _Atomic int log_min_level = LOG_INFO;
static _Atomic int log_fd = STDERR_FILENO;
static _Thread_local struct log_line log_tls;

static const char *const log_level_names[] = {"debug", "info", "warn", "error"};

bool log_level_parse(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(log_level_names) / sizeof(log_level_names[0]); i++) {
		if (strcmp(s, log_level_names[i]) == 0) {
			*out = (enum log_level)i;
			return true;
		}
	}
	return false;
}

const char *log_level_to_str(enum log_level lvl)
{
	return lvl <= LOG_ERROR ? log_level_names[lvl] : "unknown";
}

void log_set_level(enum log_level lvl)
{
	atomic_store(&log_min_level, (int)lvl);
}

bool log_open(const char *path)
{
	int fd = STDERR_FILENO;

	if (path && *path) {
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		if (fd < 0)
			return false;
	}
	int old = atomic_exchange(&log_fd, fd);
	if (old != STDERR_FILENO)
		close(old);
	return true;
}

/* Append raw text; on overflow mark the line truncated and drop the text. */
static void log_raw(struct log_line *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void log_raw(struct log_line *l, const char *fmt, ...)
{
	va_list ap;
	size_t room = sizeof(l->buf) - l->len - 32; /* keep room for the tail */

	if (l->truncated)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(l->buf + l->len, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room) {
		l->buf[l->len] = '\0';
		l->truncated = true;
		return;
	}
	l->len += (size_t)n;
}

static void log_key(struct log_line *l, const char *key)
{
	log_raw(l, ",\"%s\":", key);
}

struct log_line *log_begin(enum log_level lvl, const char *event, uint64_t conn)
{
	struct log_line *l = &log_tls;
	uint64_t now_ms;
	time_t sec;
	struct tm tm;

	if ((int)lvl < atomic_load(&log_min_level))
		return NULL;
	now_ms = clock_wall_ms();
	sec = (time_t)(now_ms / 1000);
	gmtime_r(&sec, &tm);
	l->len = 0;
	l->truncated = false;
	log_raw(l, "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\",\"level\":\"%s\",\"event\":\"%s\"",
		tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		(int)(now_ms % 1000), log_level_to_str(lvl), event);
	if (conn)
		log_raw(l, ",\"conn\":%llu", (unsigned long long)conn);
	return l;
}

void log_strn(struct log_line *l, const char *key, const char *val, size_t len)
{
	char esc[1024];

	jsonesc_str(esc, sizeof(esc), val ? val : "", val ? len : 0);
	log_key(l, key);
	log_raw(l, "\"%s\"", esc);
}

void log_str(struct log_line *l, const char *key, const char *val)
{
	log_strn(l, key, val, val ? strlen(val) : 0);
}

void log_int(struct log_line *l, const char *key, int64_t val)
{
	log_key(l, key);
	log_raw(l, "%lld", (long long)val);
}

void log_dbl(struct log_line *l, const char *key, double val)
{
	log_key(l, key);
	log_raw(l, "%.3f", val);
}

void log_bool(struct log_line *l, const char *key, bool val)
{
	log_key(l, key);
	log_raw(l, "%s", val ? "true" : "false");
}

static void write_all(const char *buf, size_t len)
{
	int fd = atomic_load(&log_fd);
	size_t off = 0;

	while (off < len) {
		ssize_t n = write(fd, buf + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* nowhere left to report a logging failure */
		off += (size_t)n;
	}
}

void log_end(struct log_line *l)
{
	if (l->truncated)
		l->len += (size_t)snprintf(l->buf + l->len, sizeof(l->buf) - l->len,
					   ",\"truncated\":true");
	l->buf[l->len++] = '}';
	l->buf[l->len++] = '\n';
	write_all(l->buf, l->len);
}

void log_line_raw(enum log_level lvl, const char *line, size_t len)
{
	struct iovec iov[2] = {{(void *)line, len}, {(void *)"\n", 1}};

	if ((int)lvl < atomic_load(&log_min_level))
		return;
	/* One writev: lines from several threads never interleave (O_APPEND). */
	ssize_t n;
	do
		n = writev(atomic_load(&log_fd), iov, 2);
	while (n < 0 && errno == EINTR);
}
