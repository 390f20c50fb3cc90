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

/* Length of the valid UTF-8 sequence at s[0..len) (2-4 bytes), else 0:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
	size_t n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;

	if (n == 0 || n > len || s[0] > 0xf4)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((n == 3 && s[0] == 0xe0 && s[1] < 0xa0) || (n == 3 && s[0] == 0xed && s[1] >= 0xa0) ||
	    (n == 4 && s[0] == 0xf0 && s[1] < 0x90) || (n == 4 && s[0] == 0xf4 && s[1] >= 0x90))
		return 0;
	return n;
}

size_t log_json_escape(char *dst, size_t cap, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (cap == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[7];
		size_t n = 0;

		if (c == '"' || c == '\\') {
			esc[n++] = '\\';
			esc[n++] = (char)c;
		} else if (c == '\n') {
			esc[n++] = '\\';
			esc[n++] = 'n';
		} else if (c >= 0x80 && (n = utf8_seq((const unsigned char *)s + i, len - i))) {
			memcpy(esc, s + i, n);   /* valid UTF-8 passes through */
			i += n - 1;
		} else if (c < 0x20 || c >= 0x7f) {
			/* Control bytes and bytes that are not UTF-8: \u00XX keeps the
			 * line valid JSON whatever bytes a client sent. */
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			n = 6;
		} else {
			esc[n++] = (char)c;
		}
		if (o + n >= cap)
			break;
		memcpy(dst + o, esc, n);
		o += n;
	}
	dst[o] = '\0';
	return o;
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
	struct timespec ts;
	struct tm tm;

	if ((int)lvl < atomic_load(&log_min_level))
		return NULL;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	l->len = 0;
	l->truncated = false;
	log_raw(l, "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\",\"event\":\"%s\"",
		tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		ts.tv_nsec / 1000000, log_level_to_str(lvl), event);
	if (conn)
		log_raw(l, ",\"conn\":%llu", (unsigned long long)conn);
	return l;
}

void log_strn(struct log_line *l, const char *key, const char *val, size_t len)
{
	char esc[1024];

	log_json_escape(esc, sizeof(esc), val ? val : "", val ? len : 0);
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
